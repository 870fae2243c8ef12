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
});
