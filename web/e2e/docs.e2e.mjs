// End-to-end: the API reference at /docs, rendered by the bundled Swagger
// UI from the running service's own /openapi.yaml, in the system Chromium
// and under the page's Content-Security-Policy (a violation is a console
// error, and any console error fails the test). Run like spa.e2e.mjs:
//
//   REVENUE_TEST_URL=http://127.0.0.1:8080 npm run e2e
//
// A screenshot goes to web/test-results/docs.png.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './chromium.mjs';

const BASE_URL = process.env.REVENUE_TEST_URL;
const RESULTS_DIR = fileURLToPath(new URL('../test-results/', import.meta.url));
// Generous, so a slow CI machine (password hashing, a cold database) is not a failure.
const STEP_TIMEOUT_MS = 15_000;

const ALICE = { email: 'alice@example.com', password: 'alice-password-1' };

let browser;
let page;
const consoleErrors = [];
// Every URL the page asked for, to tell which scripts each page loads.
const requested = [];

before(async () => {
  assert.ok(BASE_URL, 'Set REVENUE_TEST_URL to the URL of a running revenue-api that serves web/dist.');
  await mkdir(RESULTS_DIR, { recursive: true });
  browser = await launchChromium();
  page = await browser.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
  page.on('request', (request) => requested.push(new URL(request.url()).pathname));
});

after(async () => {
  await browser?.close();
});

function get(path, headers = {}) {
  return fetch(new URL(path, BASE_URL), { headers, signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
}

// The operations the page shows, as "METHOD /path".
function shownOperations() {
  return page.$$eval('.opblock-summary', (summaries) =>
    summaries.map((s) => {
      const method = s.querySelector('.opblock-summary-method')?.textContent.trim();
      const path = s.querySelector('[data-path]')?.getAttribute('data-path');
      return `${method} ${path}`;
    }),
  );
}

// The operation block of path's first operation.
function operation(path) {
  return page.locator('.opblock').filter({ has: page.locator(`[data-path="${path}"]`) }).first();
}

// The status of the answer "Try it out" got in an operation block.
async function answerStatus(block) {
  const status = block.locator('.live-responses-table tbody .response-col_status').first();
  await status.waitFor();
  return (await status.innerText()).trim();
}

// The JavaScript files an HTML page references.
function scriptsIn(html) {
  return [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="(\/assets\/[^"]+\.js)"/g)].map((m) => m[1]);
}

test('the API reference at /docs', async (t) => {
  let docsScripts = [];

  await t.test('curl gets the page as HTML, without a redirect', async () => {
    const response = await get('/docs', { Accept: '*/*' });
    assert.equal(response.status, 200);
    assert.equal(response.redirected, false);
    assert.match(response.headers.get('content-type'), /^text\/html/);
    const html = await response.text();
    docsScripts = scriptsIn(html);
    assert.ok(docsScripts.length > 0, `the page loads its renderer: ${html}`);
  });

  await t.test('a browser sees the operations of the running service', async () => {
    const response = await page.goto(new URL('/docs', BASE_URL).href);
    assert.equal(response.status(), 200);
    const csp = response.headers()['content-security-policy'];
    // The page renders under the policy it is served with, which allows
    // neither eval nor inline script or style.
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-/);
    await page.locator('[data-path="/revenue"]').first().waitFor();
    const operations = await shownOperations();
    for (const op of ['POST /login', 'POST /token/refresh', 'GET /me', 'GET /revenue', 'GET /.well-known/jwks.json']) {
      assert.ok(operations.includes(op), `${op} is shown; the page shows ${operations.join(', ')}`);
    }
    assert.ok(requested.includes('/openapi.yaml'), 'the spec comes from the service itself');
    await page.screenshot({ path: `${RESULTS_DIR}docs.png`, fullPage: false });
  });

  await t.test('"Try it out" signs in and reads revenue with the token, from the page', async () => {
    const login = operation('/login');
    await login.locator('.opblock-summary-control').click();
    await login.locator('.try-out__btn').click();
    await login.locator('textarea.body-param__text').fill(JSON.stringify(ALICE));
    await login.locator('.execute').click();
    assert.equal(await answerStatus(login), '200');
    const { access_token: token } = JSON.parse(await login.locator('.live-responses-table .response-col_description pre').first().innerText());
    assert.ok(token, 'POST /login answered an access token');

    await page.locator('.scheme-container button.authorize').click();
    await page.locator('.modal-ux input[type=text]').first().fill(token);
    await page.locator('.modal-ux button.authorize').first().click();
    await page.locator('.modal-ux .close-modal').click();

    const revenue = operation('/revenue');
    await revenue.locator('.opblock-summary-control').click();
    await revenue.locator('.try-out__btn').click();
    await revenue.locator('.execute').click();
    assert.equal(await answerStatus(revenue), '200');
    await revenue.screenshot({ path: `${RESULTS_DIR}docs-try-revenue.png` });
  });

  await t.test('the docs page logged no console error (a CSP violation is one)', () => {
    assert.deepEqual(consoleErrors, []);
  });

  await t.test('assets are sent compressed to a client that accepts it', async () => {
    const [script] = docsScripts;
    for (const [accept, coding] of [
      ['br, gzip', 'br'],
      ['gzip', 'gzip'],
    ]) {
      const response = await get(script, { 'Accept-Encoding': accept });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-encoding'), coding, `Accept-Encoding: ${accept}`);
      assert.match(response.headers.get('vary'), /Accept-Encoding/i);
      assert.match(response.headers.get('content-type'), /javascript/);
      assert.match(await response.text(), /\S/); // fetch decodes it
    }
  });

  await t.test('the dashboard does not load the renderer', async () => {
    requested.length = 0;
    await page.goto(BASE_URL);
    await page.waitForLoadState('networkidle');
    const loaded = requested.filter((p) => p.endsWith('.js'));
    assert.ok(loaded.length > 0, 'the dashboard loads its own scripts');
    for (const script of docsScripts) {
      if (script.includes('modulepreload-polyfill')) continue; // shared by both pages, a few hundred bytes
      assert.ok(!loaded.includes(script), `the dashboard loads ${script}, a script of /docs`);
    }
  });

  await t.test("the dashboard's footer links to the reference", async () => {
    await page.goto(BASE_URL);
    await Promise.all([page.waitForURL((url) => url.pathname === '/docs'), page.getByTestId('api-docs-link').click()]);
    await page.locator('[data-path="/revenue"]').first().waitFor();
  });
});
