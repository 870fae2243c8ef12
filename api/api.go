// Package api holds the service's HTTP contract (openapi.yaml), embedded so
// the server can serve it and tests can check responses against it.
package api

import _ "embed"

// OpenAPI is the OpenAPI 3.1 description of the HTTP surface.
//
//go:embed openapi.yaml
var OpenAPI []byte
