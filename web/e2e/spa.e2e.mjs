// End-to-end: the built SPA against a running revenue-api, in the system
// Chromium. The server (started by a wrapper with a short access-token
// lifetime, e.g. REVENUE_ACCESS_TOKEN_TTL=4s) serves the SPA at / and the API on
// the same origin.
//
//   REVENUE_TEST_URL=http://127.0.0.1:8080 REVENUE_E2E_TTL_SECONDS=4 npm run e2e
//
// Screenshots of each state go to web/test-results/.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const BASE_URL = process.env.REVENUE_TEST_URL;
const TTL_SECONDS = Number(process.env.REVENUE_E2E_TTL_SECONDS || 4);
const RESULTS_DIR = fileURLToPath(new URL('../test-results/', import.meta.url));
// Generous, so a slow CI machine (password hashing, a cold database) is not a failure.
const STEP_TIMEOUT_MS = 15_000;

const ALICE = { email: 'alice@example.com', password: 'alice-password-1' };
const BOB = { email: 'bob@example.com', password: 'bob-password-1' };

let browser;
let page;
// Console errors and uncaught exceptions of the page, checked at the end.
const consoleErrors = [];

before(async () => {
  assert.ok(BASE_URL, 'Set REVENUE_TEST_URL to the URL of a running revenue-api that serves web/dist.');
  await mkdir(RESULTS_DIR, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));
});

after(async () => {
  await browser?.close();
});

const byTestId = (id) => page.getByTestId(id);

function screenshot(name) {
  return page.screenshot({ path: `${RESULTS_DIR}${name}.png`, fullPage: true });
}

async function signIn({ email, password }) {
  await byTestId('login-email').fill(email);
  await byTestId('login-password').fill(password);
  await byTestId('login-submit').click();
}

async function expectRevenueShown() {
  await byTestId('revenue-chart').waitFor();
  assert.ok((await byTestId('revenue-row').count()) > 0, 'the revenue table has rows');
  assert.ok((await byTestId('revenue-bar').count()) > 0, 'the chart has bars');
}

async function expectSignedInAs(email) {
  await byTestId('current-user').waitFor();
  const shown = await byTestId('current-user').innerText();
  assert.ok(shown.includes(email), `signed in as ${email}, page says "${shown}"`);
}

// Another device of the same user, through the API itself (refresh token in
// the JSON body, as curl or Postman get it).
async function apiCall(path, { method = 'GET', token, body } = {}) {
  const response = await fetch(new URL(path, BASE_URL), {
    method,
    headers: {
      Accept: 'application/json',
      ...(body ? { 'Content-Type': 'application/json' } : {}),
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

// The steps build on each other: one browser page goes through a whole visit.
test('single-page app against the real API', async (t) => {
  await t.test('a first visit shows the login form', async () => {
    await page.goto(BASE_URL);
    await byTestId('login-form').waitFor();
    await screenshot('01-login-form');
  });

  await t.test('alice signs in and sees revenue as chart and table', async () => {
    await signIn(ALICE);
    await expectSignedInAs(ALICE.email);
    await expectRevenueShown();
    assert.match(await byTestId('revenue-total').innerText(), /\d/);
    await screenshot('02-alice-revenue');
  });

  await t.test('tokens stay out of page-readable storage', async () => {
    const exposed = await page.evaluate(() => ({
      storage: localStorage.length + sessionStorage.length,
      cookie: document.cookie,
    }));
    assert.equal(exposed.storage, 0, 'nothing in localStorage or sessionStorage');
    assert.doesNotMatch(exposed.cookie, /revenue_refresh/, 'the refresh cookie is HttpOnly');
  });

  await t.test('data still loads after the access token lifetime has passed', async () => {
    let refreshes = 0;
    const countRefresh = (response) => {
      if (new URL(response.url()).pathname === '/token/refresh' && response.ok()) refreshes += 1;
    };
    page.on('response', countRefresh);
    await page.waitForTimeout(TTL_SECONDS * 2.5 * 1000);

    const reloaded = page.waitForResponse(
      (response) => new URL(response.url()).pathname === '/revenue' && response.ok(),
    );
    await byTestId('revenue-reload').click();
    await reloaded;
    page.off('response', countRefresh);

    assert.ok(refreshes >= 1, `the token was refreshed silently (${refreshes} refreshes)`);
    await expectSignedInAs(ALICE.email);
    await expectRevenueShown();
    await screenshot('03-after-silent-refresh');
  });

  await t.test('a page reload keeps alice signed in', async () => {
    await page.reload();
    await expectSignedInAs(ALICE.email);
    await expectRevenueShown();
    await screenshot('04-after-page-reload');
  });

  await t.test('logout returns to the login form, also after a reload', async () => {
    await byTestId('logout').click();
    await byTestId('login-form').waitFor();
    await screenshot('05-logged-out');
    await page.reload();
    await byTestId('login-form').waitFor();
  });

  await t.test('bob is signed in but has no access to revenue', async () => {
    await signIn(BOB);
    await expectSignedInAs(BOB.email);
    await byTestId('no-access').waitFor();
    assert.equal(await byTestId('revenue-table').count(), 0);
    await screenshot('06-bob-no-access');
    await byTestId('logout').click();
    await byTestId('login-form').waitFor();
  });

  await t.test('a wrong password is refused with a clear message', async () => {
    await signIn({ email: ALICE.email, password: 'not-the-password' });
    await byTestId('login-error').waitFor();
    assert.equal(await byTestId('login-error').innerText(), 'Email or password is incorrect.');
    await screenshot('07-wrong-password');
  });

  await t.test('a session ended from another device leaves the screen at once on focus', async () => {
    await signIn(ALICE);
    await expectSignedInAs(ALICE.email);
    await expectRevenueShown();
    const signedInAt = Date.now();
    const total = await byTestId('revenue-total').innerText();
    assert.equal(await page.evaluate(() => document.visibilityState), 'visible');

    // Alice, elsewhere, logs out everywhere: every token issued to her before
    // now is revoked, this page's access token and refresh cookie included.
    const login = await apiCall('/login', { method: 'POST', body: ALICE });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const logoutAll = await apiCall('/logout/all', { method: 'POST', token: login.body.access_token });
    assert.equal(logoutAll.status, 204, JSON.stringify(logoutAll.body));

    // The page checks on focus, except within 2 s of its last check (then
    // within 30 s): make sure this focus counts.
    await page.waitForTimeout(Math.max(0, signedInAt + 2_500 - Date.now()));
    const startedAt = Date.now();
    const checked = page.waitForResponse((response) => new URL(response.url()).pathname === '/me');
    await page.evaluate(() => window.dispatchEvent(new Event('focus')));
    const me = await checked;
    assert.equal(me.status(), 401);
    assert.match(me.headers()['www-authenticate'] ?? '', /revoked/);

    await byTestId('login-form').waitFor();
    assert.equal(await byTestId('session-ended').innerText(), 'This session was ended. Log in again.');
    assert.ok(Date.now() - startedAt < 5_000, `left within ${Date.now() - startedAt} ms of the focus`);
    for (const id of ['revenue-row', 'revenue-bar', 'revenue-chart', 'revenue-total', 'current-user']) {
      assert.equal(await byTestId(id).count(), 0, `no ${id} on screen`);
    }
    assert.ok(!(await page.locator('body').innerText()).includes(total), `the total ${total} is gone`);
    await screenshot('08-session-ended-elsewhere');
  });

  await t.test('the console has no errors but the failed requests the steps expect', async () => {
    // Chromium logs every 4xx answer (wrong password, revoked token, refused
    // refresh, bob's 403) as "Failed to load resource"; those are no app errors.
    const unexpected = consoleErrors.filter(
      (text) => !/^Failed to load resource: the server responded with a status of 4\d\d\b/.test(text),
    );
    assert.deepEqual(unexpected, []);
  });
});
