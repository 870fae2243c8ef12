// The API reference at /docs: Swagger UI rendering the running service's
// own /openapi.yaml, so the page always matches the binary that serves it.
// Its own entry, so the dashboard (index.html) never loads the renderer.
import SwaggerUI from 'swagger-ui-dist/swagger-ui-es-bundle.js';
import 'swagger-ui-dist/swagger-ui.css';
import './docs.css';

SwaggerUI({
  url: '/openapi.yaml',
  domNode: document.getElementById('docs'),
  deepLinking: true,
  // Swagger UI would otherwise send the spec to an outside validator and
  // show its badge; the page talks to its own origin only.
  validatorUrl: null,
});
