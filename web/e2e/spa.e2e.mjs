// End-to-end: the built SPA against a running revenue-api, in the system
// Chromium. The server (started by a wrapper with a short access-token
// lifetime, e.g. REVENUE_ACCESS_TOKEN_TTL=4s) serves the SPA at / and the API on
// the same origin.
//
//   REVENUE_TEST_URL=http://127.0.0.1:8080 REVENUE_E2E_TTL_SECONDS=4 npm run e2e
//
// Screenshots of each state (light, dark, a 390 px phone) go to
// web/test-results/. axe-core checks the login page, the dashboard (light and
// dark) and the no-access page: no serious or critical violation.
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './chromium.mjs';

const BASE_URL = process.env.REVENUE_TEST_URL;
const TTL_SECONDS = Number(process.env.REVENUE_E2E_TTL_SECONDS || 4);
const RESULTS_DIR = fileURLToPath(new URL('../test-results/', import.meta.url));
// Generous, so a slow CI machine (password hashing, a cold database) is not a failure.
const STEP_TIMEOUT_MS = 15_000;

const ALICE = { email: 'alice@example.com', password: 'alice-password-1' };
const BOB = { email: 'bob@example.com', password: 'bob-password-1' };
const CAROL = { email: 'carol@example.com', password: 'carol-password-1' };

const AXE_SOURCE = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let browser;
let page;
// Console errors and uncaught exceptions of every page, checked at the end.
const consoleErrors = [];

function watchConsole(watched, errors = consoleErrors) {
  watched.setDefaultTimeout(STEP_TIMEOUT_MS);
  watched.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  watched.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
}

// Chromium logs every 4xx answer (wrong password, revoked token, refused
// refresh, bob's 403) as "Failed to load resource"; those are no app errors.
// Going offline on purpose (the failed-load step) logs
// ERR_INTERNET_DISCONNECTED the same way.
function unexpectedConsoleErrors(errors) {
  return errors.filter(
    (text) =>
      !/^Failed to load resource: (the server responded with a status of 4\d\d\b|net::ERR_INTERNET_DISCONNECTED$)/.test(
        text,
      ),
  );
}

before(async () => {
  assert.ok(BASE_URL, 'Set REVENUE_TEST_URL to the URL of a running revenue-api that serves web/dist.');
  await mkdir(RESULTS_DIR, { recursive: true });
  browser = await launchChromium();
  page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1100, height: 900 } });
  watchConsole(page);
});

after(async () => {
  await browser?.close();
});

const byTestId = (id) => page.getByTestId(id);

function screenshot(name, on = page) {
  return on.screenshot({ path: `${RESULTS_DIR}${name}.png`, fullPage: true });
}

const afterLayout = (on = page) =>
  on.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));

// The state on screen once more: dark (`name-dark`) and on a 390 px wide
// screen (`name-phone`), then back to light at the desktop width.
async function screenshotDarkAndPhone(name, on = page) {
  await on.emulateMedia({ colorScheme: 'dark' });
  await screenshot(`${name}-dark`, on);
  await on.emulateMedia({ colorScheme: 'light' });
  const desktop = on.viewportSize();
  await on.setViewportSize({ width: 390, height: 844 });
  await afterLayout(on);
  await screenshot(`${name}-phone`, on);
  await on.setViewportSize(desktop);
  await afterLayout(on);
}

// At 390 px wide the page must not scroll sideways.
async function expectFitsPhone(what, on = page) {
  const desktop = on.viewportSize();
  await on.setViewportSize({ width: 390, height: 844 });
  await afterLayout(on);
  const width = await on.evaluate(() => document.documentElement.scrollWidth);
  await on.setViewportSize(desktop);
  await afterLayout(on);
  assert.ok(width <= 390, `${what} on a 390 px phone: ${width} px wide, it scrolls sideways`);
}

const focusedTestId = () => page.evaluate(() => document.activeElement?.dataset.testid);

// Tab, as a keyboard user would, from wherever the focus is until the control
// `id` has it (Tab order wraps round the page).
async function tabTo(id, limit = 80) {
  for (let i = 0; i < limit; i += 1) {
    await page.keyboard.press('Tab');
    if ((await focusedTestId()) === id) return;
  }
  assert.fail(`Tab never reaches ${id}`);
}

// axe-core, evaluated in the page through the DevTools protocol (the page's
// CSP forbids inline scripts, and rightly): no serious or critical violation.
async function expectAccessible(what, on = page) {
  await on.evaluate(AXE_SOURCE);
  const violations = await on.evaluate(async () => {
    const result = await globalThis.axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => `${violation.id} (${violation.impact}): ${violation.nodes.map((n) => n.target.join(' ')).join(' | ')}`);
  });
  assert.deepEqual(violations, [], `axe on ${what}`);
}

// The month rows of the table, as [month, amount text].
function tableMonths(on = page) {
  return on
    .getByTestId('revenue-row')
    .evaluateAll((rows) => rows.map((row) => [row.dataset.month, row.querySelector('td').innerText]));
}

function searchOf(on = page) {
  return new URL(on.url()).search;
}

// The month `offset` months from the current one, as the page's calendar has it.
function monthFromNow(offset) {
  const now = new Date();
  const date = new Date(now.getFullYear(), now.getMonth() + offset, 1);
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}`;
}

const LAST_12 = `?from=${monthFromNow(-12)}&to=${monthFromNow(-1)}`;

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

async function expectSignedInOn(on, email) {
  await on.getByTestId('current-user').waitFor();
  const shown = await on.getByTestId('current-user').innerText();
  assert.ok(shown.includes(email), `signed in as ${email}, page says "${shown}"`);
}

const expectSignedInAs = (email) => expectSignedInOn(page, email);

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
    assert.equal(await page.title(), 'Revenue dashboard');
    const icon = await page.locator('link[rel="icon"]').getAttribute('href');
    const iconResponse = await fetch(new URL(icon, BASE_URL));
    assert.equal(iconResponse.status, 200, `the favicon ${icon} is served`);
    assert.match(iconResponse.headers.get('content-type') ?? '', /^image\/svg\+xml/);
    await screenshot('01-login-form');
  });

  await t.test('the login page passes axe, light and dark', async () => {
    await expectAccessible('the login page (light)');
    await page.emulateMedia({ colorScheme: 'dark' });
    await expectAccessible('the login page (dark)');
    await screenshot('01-login-form-dark');
    await page.emulateMedia({ colorScheme: 'light' });
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

  await t.test('the dashboard opens on the last 12 months: pickers, address, headline, chart and table', async () => {
    assert.equal(searchOf(), LAST_12);
    assert.equal(await byTestId('revenue-from').inputValue(), monthFromNow(-12));
    assert.equal(await byTestId('revenue-to').inputValue(), monthFromNow(-1));
    assert.equal(await byTestId('quick-range').inputValue(), 'last-12');
    // The demo data has 36 months up to last month: every comparison can be made.
    assert.equal((await tableMonths()).length, 12);
    for (const id of ['revenue-total', 'revenue-average', 'revenue-ytd']) {
      assert.match(await byTestId(id).innerText(), /^\$[\d,]+\.\d\d$/, id);
    }
    for (const id of ['change-previous', 'change-year']) {
      assert.match(await byTestId(id).innerText(), /^[▲▼]?\s?[+-]?\d+(\.\d)?%$/, id);
    }
    assert.match(await page.title(), /^Acme Corp revenue, .+ · Revenue dashboard$/);

    // A labelled currency axis with gridlines.
    const ticks = await byTestId('chart-tick').allTextContents();
    assert.ok(ticks.length >= 3, `axis ticks: ${ticks}`);
    assert.equal(ticks[0], '$0');
    assert.match(ticks.at(-1), /^\$\d+(\.\d)?[KM]$/);
    assert.ok((await page.locator('.chart-grid line').count()) >= 2, 'gridlines');
    // Hover shows a month's value.
    const rows = await tableMonths();
    await byTestId('chart-slot').nth(11).hover();
    const tooltip = await byTestId('chart-tooltip').innerText();
    assert.ok(tooltip.includes(rows[11][1]), `the tooltip "${tooltip}" shows ${rows[11][1]}`);
    await screenshot('09-dashboard-light');
  });

  await t.test('the dashboard passes axe, light and dark', async () => {
    await expectAccessible('the dashboard (light)');
    await page.emulateMedia({ colorScheme: 'dark' });
    const background = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    assert.equal(background, 'rgb(17, 20, 24)', 'dark colours follow prefers-color-scheme');
    await expectAccessible('the dashboard (dark)');
    await screenshot('10-dashboard-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  await t.test('quick ranges and picked months go into the address, and Back returns to each', async () => {
    await byTestId('quick-range').selectOption('last-year');
    const lastYear = new Date().getFullYear() - 1;
    await page.waitForURL((url) => url.search === `?from=${lastYear}-01&to=${lastYear}-12`);
    await page.waitForFunction(
      (year) => document.querySelector('[data-testid="revenue-row"]')?.dataset.month === `${year}-01`,
      lastYear,
    );
    assert.equal((await tableMonths()).length, 12);
    assert.equal(await byTestId('subtotal-quarter').count(), 4);

    await byTestId('revenue-from').fill(`${lastYear}-04`);
    await page.waitForURL((url) => url.search === `?from=${lastYear}-04&to=${lastYear}-12`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="revenue-row"]').length === 9);
    assert.equal(await byTestId('quick-range').inputValue(), 'custom');

    await page.goBack();
    await page.waitForURL((url) => url.search === `?from=${lastYear}-01&to=${lastYear}-12`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="revenue-row"]').length === 12);
    assert.equal(await byTestId('revenue-from').inputValue(), `${lastYear}-01`);
    await page.goBack();
    await page.waitForURL((url) => url.search === LAST_12);
    assert.equal(await byTestId('quick-range').inputValue(), 'last-12');

    // A shared or bookmarked address opens on its range.
    await page.goto(new URL(`/?from=${lastYear}-07&to=${lastYear}-09`, BASE_URL).href);
    await expectSignedInAs(ALICE.email);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="revenue-row"]').length === 3);
    assert.equal(await byTestId('quick-range').inputValue(), `q3-${lastYear}`);
    assert.equal(await byTestId('revenue-to').inputValue(), `${lastYear}-09`);
  });

  await t.test('Export CSV downloads exactly the rows shown, in their order', async () => {
    await byTestId('quick-range').selectOption('last-12');
    await page.waitForURL((url) => url.search === LAST_12);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="revenue-row"]').length === 12);
    await byTestId('sort-amount').click();
    await byTestId('sort-amount').click();
    const shown = await tableMonths();
    const [download] = await Promise.all([page.waitForEvent('download'), byTestId('export-csv').click()]);
    assert.equal(download.suggestedFilename(), `revenue-acme-corp-${monthFromNow(-12)}-to-${monthFromNow(-1)}.csv`);
    const lines = (await readFile(await download.path(), 'utf8')).split('\r\n');
    assert.equal(lines[0], 'month,amount,currency');
    assert.equal(lines.at(-1), '', 'ends with a line break');
    const rows = lines.slice(1, -1).map((line) => line.split(','));
    assert.deepEqual(
      rows.map(([month]) => month),
      shown.map(([month]) => month),
    );
    for (const [index, [, amount, currency]] of rows.entries()) {
      assert.equal(currency, 'USD');
      const asShown = shown[index][1].replace(/[$,]/g, '');
      assert.equal(amount, asShown, `row ${index + 1}`);
    }
    // Amounts sorted high to low, as on screen.
    const amounts = rows.map(([, amount]) => Number(amount));
    assert.deepEqual(amounts, [...amounts].sort((a, b) => b - a));
    await byTestId('sort-month').click();
  });

  await t.test('print shows the figures, chart and table without the controls', async () => {
    // Print, reached with Tab and pressed with Enter, opens the browser's print
    // dialog (window.print, counted here instead of opening it).
    await page.evaluate(() => {
      window.printCalls = 0;
      window.print = () => {
        window.printCalls += 1;
      };
    });
    await tabTo('print');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => window.printCalls), 1, 'Enter on Print calls window.print');

    await page.emulateMedia({ media: 'print' });
    for (const id of ['quick-range', 'revenue-from', 'revenue-reload', 'export-csv', 'print', 'logout']) {
      assert.equal(await byTestId(id).isVisible(), false, `${id} is hidden in print`);
    }
    for (const id of ['revenue-chart', 'revenue-table', 'revenue-total']) {
      assert.equal(await byTestId(id).isVisible(), true, `${id} is printed`);
    }
    await screenshot('11-dashboard-print');
    // A dark screen still prints dark on white.
    await page.emulateMedia({ media: 'print', colorScheme: 'dark' });
    const background = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    assert.equal(background, 'rgb(255, 255, 255)', 'print is white in dark mode too');
    await screenshot('11-dashboard-print-dark');
    await page.emulateMedia({ media: 'screen', colorScheme: 'light' });
  });

  await t.test('a failed load keeps the figures shown, says what failed and retries', async () => {
    const total = await byTestId('revenue-total').innerText();
    await page.context().setOffline(true);
    await byTestId('quick-range').selectOption('last-year');
    await byTestId('revenue-error').waitFor();
    assert.match(await byTestId('revenue-error').innerText(), /^Could not load the revenue for .+\. Could not reach the server/);
    assert.equal(await byTestId('revenue-total').innerText(), total, 'the figures already shown stay');
    await byTestId('stale-notice').waitFor();
    await screenshot('12-load-failed');
    await screenshotDarkAndPhone('12-load-failed');

    // "Try again", reached with Tab and pressed with Enter, loads the figures.
    await page.context().setOffline(false);
    await page.evaluate(() => document.activeElement?.blur());
    await tabTo('retry');
    const reloaded = page.waitForResponse(
      (response) => new URL(response.url()).pathname === '/revenue' && response.ok(),
    );
    await page.keyboard.press('Enter');
    await reloaded;
    await byTestId('revenue-error').waitFor({ state: 'detached' });
    await byTestId('stale-notice').waitFor({ state: 'detached' });
    assert.notEqual(await byTestId('revenue-total').innerText(), total);
  });

  await t.test('a slow first load shows a skeleton', async () => {
    // The server's answer with the figures is held back (the page's own
    // request, passed on unchanged) until the screenshots are taken; well
    // within the page's 10 s request timeout.
    let release;
    const held = new Promise((resolve) => {
      release = resolve;
    });
    const isRevenue = (url) => url.pathname === '/revenue';
    const holdBack = async (route) => {
      await held;
      await route.continue();
    };
    await page.route(isRevenue, holdBack);
    await page.reload();
    await byTestId('revenue-skeleton').waitFor();
    await screenshot('13-loading-skeleton');
    await screenshotDarkAndPhone('13-loading-skeleton');
    assert.equal(await byTestId('revenue-skeleton').count(), 1, 'still loading after the screenshots');
    release();
    await expectRevenueShown();
    await page.unroute(isRevenue, holdBack);
    assert.equal(await byTestId('revenue-skeleton').count(), 0);
  });

  await t.test('a range without revenue says so and offers the last 12 months', async () => {
    await page.goto(new URL('/?from=2099-01&to=2099-06', BASE_URL).href);
    await byTestId('revenue-empty').waitFor();
    assert.match(await byTestId('revenue-empty').innerText(), /No revenue recorded for Jan – Jun 2099/);
    await screenshot('14-empty-range');
    await screenshotDarkAndPhone('14-empty-range');
    // The next step, reached with Tab and pressed with Space.
    await page.evaluate(() => document.activeElement?.blur());
    await tabTo('show-default-range');
    await page.keyboard.press('Space');
    await page.waitForURL((url) => url.search === LAST_12);
    await expectRevenueShown();
  });

  await t.test('every dashboard control works from the keyboard alone', async () => {
    // Tab from the top of the page reaches every control, in order.
    await page.locator('body').focus();
    await page.evaluate(() => document.activeElement?.blur());
    const reached = [];
    // Tab order wraps (past the page into the browser and back), and the
    // browser may start after the last control it focused: Tab round the
    // whole cycle once, until the first stop comes back.
    for (let i = 0; i < 40; i += 1) {
      await page.keyboard.press('Tab');
      const id = await page.evaluate(() => document.activeElement?.dataset.testid ?? document.activeElement?.tagName);
      // (A month input is three stops, year and month fields, in a row.)
      if (reached.length > 0 && id === reached[0] && reached.at(-1) !== id) break;
      reached.push(id);
    }
    for (const id of ['logout', 'quick-range', 'revenue-from', 'revenue-to', 'revenue-reload', 'export-csv', 'print', 'chart-slot', 'sort-month', 'sort-amount', 'api-docs-link']) {
      assert.ok(reached.includes(id), `Tab reaches ${id}: ${reached.join(', ')}`);
    }
    assert.equal(reached.filter((id) => id === 'chart-slot').length, 1, 'the chart is one Tab stop');

    // The chart: arrow keys move between months and show each value.
    await byTestId('chart-slot').nth(11).focus();
    await page.keyboard.press('ArrowLeft');
    const rows = await tableMonths();
    const tooltip = await byTestId('chart-tooltip').innerText();
    assert.ok(tooltip.includes(rows[10][1]), `the tooltip "${tooltip}" shows ${rows[10][1]}`);
    const label = await page.evaluate(() => document.activeElement.getAttribute('aria-label'));
    assert.ok(label.endsWith(rows[10][1]), `the month in focus is announced as "${label}"`);
    await page.keyboard.press('Home');
    assert.ok((await byTestId('chart-tooltip').innerText()).includes(rows[0][1]));
    await screenshot('15-chart-keyboard');

    // Sorting with Enter and Space.
    await byTestId('sort-amount').focus();
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('th[aria-sort="ascending"]').innerText(), 'Revenue ▲');
    await page.keyboard.press('Space');
    assert.equal(await page.locator('th[aria-sort="descending"]').innerText(), 'Revenue ▼');
    await byTestId('sort-month').focus();
    await page.keyboard.press('Enter');

    // A quick range from the keyboard: the select steps with the arrow keys
    // (Last 12 months, This year, Last year).
    const lastYear = new Date().getFullYear() - 1;
    await byTestId('quick-range').focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await page.waitForURL((url) => url.search === `?from=${lastYear}-01&to=${lastYear}-12`);
    assert.equal(await byTestId('quick-range').inputValue(), 'last-year');
    // The month picker steps with the arrow keys too.
    await byTestId('revenue-from').focus();
    await page.keyboard.press('ArrowUp');
    await page.waitForURL((url) => url.search === `?from=${lastYear}-02&to=${lastYear}-12`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="revenue-row"]').length === 11);

    // Export and reload with Enter.
    await byTestId('export-csv').focus();
    const [download] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
    assert.match(download.suggestedFilename(), /^revenue-acme-corp-.+\.csv$/);
    const reloaded = page.waitForResponse((response) => new URL(response.url()).pathname === '/revenue');
    await byTestId('revenue-reload').focus();
    await page.keyboard.press('Enter');
    await reloaded;
    await page.goto(new URL('/', BASE_URL).href);
    await expectRevenueShown();
  });

  await t.test('logout returns to the login form, also after a reload', async () => {
    await byTestId('logout').click();
    await byTestId('login-form').waitFor();
    await screenshot('05-logged-out');
    await page.reload();
    await byTestId('login-form').waitFor();
  });

  await t.test('bob signs in with the keyboard alone and has no access to revenue, with a next step', async () => {
    await page.evaluate(() => document.activeElement?.blur());
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), 'login-email');
    await page.keyboard.type(BOB.email);
    await page.keyboard.press('Tab');
    await page.keyboard.type(BOB.password);
    await page.keyboard.press('Enter');
    await expectSignedInAs(BOB.email);
    await byTestId('no-access').waitFor();
    assert.equal(await byTestId('revenue-table').count(), 0);
    assert.equal(await byTestId('no-access-retry').isVisible(), true);
    assert.equal(await byTestId('no-access-switch').isVisible(), true);
    await screenshot('06-bob-no-access');
    await expectAccessible('the no-access page (light)');
    await page.emulateMedia({ colorScheme: 'dark' });
    await expectAccessible('the no-access page (dark)');
    await screenshot('06-bob-no-access-dark');
    await page.emulateMedia({ colorScheme: 'light' });

    // "Check again" asks once more; "Sign in as someone else" leaves, by keyboard.
    const asked = page.waitForResponse((response) => new URL(response.url()).pathname === '/revenue');
    await byTestId('no-access-retry').focus();
    await page.keyboard.press('Enter');
    assert.equal((await asked).status(), 403);
    await byTestId('no-access-switch').focus();
    await page.keyboard.press('Enter');
    await byTestId('login-form').waitFor();
  });

  await t.test('on a 390 px phone the controls do not wrap and the chart is readable', async () => {
    for (const colorScheme of ['light', 'dark']) {
      const phone = await browser.newContext({
        viewport: { width: 390, height: 844 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
        colorScheme,
      });
      const mobile = await phone.newPage();
      watchConsole(mobile);
      await mobile.goto(BASE_URL);
      await mobile.getByTestId('login-email').fill(ALICE.email);
      await mobile.getByTestId('login-password').fill(ALICE.password);
      await mobile.getByTestId('login-submit').click();
      await mobile.getByTestId('revenue-chart').waitFor();
      await screenshot(`16-phone-${colorScheme}`, mobile);

      const layout = await mobile.evaluate(() => {
        const lineHeight = (element) => parseFloat(getComputedStyle(element).lineHeight) || 24;
        const wrapped = [...document.querySelectorAll('button, select, input, .user-bar p')]
          .filter((element) => element.offsetParent !== null)
          .filter((element) => {
            const style = getComputedStyle(element);
            const inner = element.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
            return inner > lineHeight(element) * 1.5;
          })
          .map((element) => element.dataset.testid ?? element.tagName);
        const fontSizes = [...document.querySelectorAll('.revenue-chart text')].map((text) =>
          parseFloat(getComputedStyle(text).fontSize),
        );
        const chart = document.querySelector('[data-testid="revenue-chart"]').getBoundingClientRect();
        const overflowing = [...document.querySelectorAll('body *')]
          .filter((element) => element.getBoundingClientRect().right > 390.5)
          .map((element) => element.dataset.testid ?? element.className ?? element.tagName);
        return {
          overflowing,
          scrollWidth: document.documentElement.scrollWidth,
          wrapped,
          smallestChartText: Math.min(...fontSizes),
          chartRight: chart.right,
        };
      });
      assert.ok(layout.scrollWidth <= 390, `no sideways scrolling (${layout.scrollWidth} px wide: ${layout.overflowing})`);
      assert.deepEqual(layout.wrapped, [], 'no control wraps onto a second line');
      assert.ok(layout.smallestChartText >= 12, `chart text ${layout.smallestChartText} px`);
      assert.ok(layout.chartRight <= 390, 'the chart fits the screen');
      await mobile.getByTestId('chart-slot').nth(5).tap();
      await mobile.getByTestId('chart-tooltip').waitFor();
      await screenshot(`17-phone-chart-${colorScheme}`, mobile);
      await expectAccessible(`the dashboard on a phone (${colorScheme})`, mobile);
      await mobile.getByTestId('logout').click();
      await mobile.getByTestId('login-form').waitFor();
      await phone.close();
    }
  });

  await t.test('carol (admin) edits a month in place and previews an import with a bad line, by keyboard', async () => {
    await signIn(CAROL);
    await expectSignedInAs(CAROL.email);
    await expectRevenueShown();
    await byTestId('admin-tools').waitFor();
    const login = await apiCall('/login', { method: 'POST', body: CAROL });
    const amountOnServer = async (month) => {
      const answer = await apiCall(`/revenue?from=${month}&to=${month}`, { token: login.body.access_token });
      assert.equal(answer.status, 200);
      return answer.body.months[0]?.amount_cents ?? null;
    };
    const rowOf = (month) => page.locator(`[data-testid="revenue-row"][data-month="${month}"]`);

    // Edit the latest month: Enter on Edit, type, Enter to save.
    const month = monthFromNow(-1);
    const saved = page.waitForResponse(
      (response) => new URL(response.url()).pathname === `/revenue/months/${month}` && response.request().method() === 'PUT',
    );
    await rowOf(month).getByTestId('edit-month').focus();
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), 'edit-amount');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('123456.78');
    await page.keyboard.press('Enter');
    const put = await saved;
    assert.equal(put.status(), 200);
    assert.match(
      put.request().headers()['if-match'] ?? '',
      /^"rev-[0-9a-f]{16}-\d+"$/,
      'the write is If-Match the figures shown',
    );
    await page.waitForFunction(
      (m) => document.querySelector(`[data-testid="revenue-row"][data-month="${m}"] td`)?.innerText.startsWith('$123,456.78'),
      month,
    );
    assert.equal(await amountOnServer(month), 12_345_678);
    await screenshot('18-admin-edited');
    await screenshotDarkAndPhone('18-admin-edited');

    // Escape leaves a field without writing.
    await rowOf(month).getByTestId('edit-month').focus();
    await page.keyboard.press('Enter');
    await page.keyboard.type('9');
    // An open editor is no figure: print leaves it out. (Hiding the field
    // takes the focus from it; it is given back for Escape.)
    assert.equal(await page.locator('.amount-editor').isVisible(), true);
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('.amount-editor').isVisible(), false, 'an open amount editor is hidden in print');
    await page.emulateMedia({ media: 'screen' });
    await byTestId('edit-amount').focus();
    await page.keyboard.press('Escape');
    await byTestId('edit-amount').waitFor({ state: 'detached' });
    assert.equal(await amountOnServer(month), 12_345_678);

    // An import with a bad line: chosen from the keyboard, checked by the
    // server (dry run), every mistake on its line, nothing written.
    const earlier = monthFromNow(-2);
    const before = await amountOnServer(earlier);
    const bad = `month,amount\n${earlier},100\n${month},"12,5"\n`;
    // Waited for before the focus: Playwright turns the interception of file
    // choosers on (and off again after each) without waiting for it, and a
    // Space that outruns it opens a chooser that Playwright never sees.
    const chosen = page.waitForEvent('filechooser');
    await byTestId('import-file').focus();
    await page.keyboard.press('Space');
    const chooser = await chosen;
    await chooser.setFiles({ name: 'figures.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
    await byTestId('import-error').first().waitFor();
    assert.deepEqual(await byTestId('import-error').allInnerTexts(), [
      'line 3: amount "12,5": not a number with at most two decimals',
    ]);
    assert.equal(await byTestId('import-confirm').count(), 0, 'no import of a file with mistakes');
    assert.equal(await page.locator('.preview-bad').count(), 1);
    await screenshot('19-admin-import-mistakes');
    await screenshotDarkAndPhone('19-admin-import-mistakes');
    assert.equal(await amountOnServer(earlier), before, 'nothing written');

    // Cancel, a Tab or two after the file field, closes the preview.
    await byTestId('import-file').focus();
    await tabTo('import-cancel', 10);
    await page.keyboard.press('Enter');
    await byTestId('import-preview').waitFor({ state: 'detached' });
    assert.equal(await byTestId('import-file').inputValue(), '', 'the chosen file is let go');
    assert.equal(await amountOnServer(earlier), before, 'Cancel writes nothing');
    assert.equal(await amountOnServer(month), 12_345_678, 'Cancel writes nothing');

    // The corrected file: a preview with counts, then Import.
    const chosenAgain = page.waitForEvent('filechooser');
    await byTestId('import-file').focus();
    await page.keyboard.press('Space');
    const again = await chosenAgain;
    await again.setFiles({
      name: 'figures.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(`month,amount\n${earlier},100\n${month},12.5\n`),
    });
    await byTestId('import-summary').waitFor();
    assert.match(await byTestId('import-summary').innerText(), /2 months: 0 new, 2 changed, 0 unchanged/);
    assert.equal(await amountOnServer(earlier), before, 'a preview writes nothing');
    await byTestId('import-confirm').focus();
    await page.keyboard.press('Enter');
    await byTestId('import-done').waitFor();
    assert.equal(await amountOnServer(earlier), 10_000);
    assert.equal(await amountOnServer(month), 1_250);
    await page.waitForFunction(
      (m) => document.querySelector(`[data-testid="revenue-row"][data-month="${m}"] td`)?.innerText.startsWith('$12.50'),
      month,
    );
    await expectAccessible('the dashboard as an admin');
    await screenshot('20-admin-imported');
    await screenshotDarkAndPhone('20-admin-imported');

    // A month set from the keyboard: the picker's month and year stepped
    // with the arrow keys (Tab moves between them), Tab to the amount, Enter.
    await byTestId('set-month').focus();
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('Tab');
    await page.keyboard.press('ArrowUp');
    const picked = await byTestId('set-month').inputValue();
    assert.match(picked, /^\d{4}-\d{2}$/, 'the arrow keys chose a month');
    for (let i = 0; i < 3 && (await page.evaluate(() => document.activeElement.dataset.testid)) !== 'set-amount'; i += 1) {
      await page.keyboard.press('Tab');
    }
    assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), 'set-amount');
    await page.keyboard.type('-80');
    await page.keyboard.press('Enter');
    await byTestId('set-message').waitFor();
    assert.match(await byTestId('set-message').innerText(), /^Saved \w+ \d{4}: -\$80\.00\.$/);
    assert.equal(await amountOnServer(picked), -8_000);

    await byTestId('logout').focus();
    await page.keyboard.press('Enter');
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
    assert.deepEqual(unexpectedConsoleErrors(consoleErrors), []);
  });
});

// Stands apart from the visit above: its own browser contexts, users signed
// in afresh, and a month of its own (no other step reads 2001), created
// through the API and removed again, so the figures end as they began.
// Opens pages in browsers of their own (own cookies: other "devices"), their
// console errors into `errors`; close() closes them all.
function browsers(errors) {
  const contexts = [];
  return {
    async open(options = {}) {
      const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, ...options });
      contexts.push(context);
      const opened = await context.newPage();
      watchConsole(opened, errors);
      return opened;
    },
    // Another tab of the same browser as `on` (the same cookies).
    async openTab(on) {
      const opened = await on.context().newPage();
      watchConsole(opened, errors);
      return opened;
    },
    close: () => Promise.all(contexts.map((context) => context.close())),
  };
}

async function signInOn(on, { email, password }, path = '/') {
  await on.goto(new URL(path, BASE_URL).href);
  await on.getByTestId('login-email').fill(email);
  await on.getByTestId('login-password').fill(password);
  await on.getByTestId('login-submit').click();
  await on.getByTestId('current-user').waitFor();
}

const focusedOn = (on) => on.evaluate(() => document.activeElement?.dataset.testid);

test('removing a month, recent changes, and ending a session elsewhere', async (t) => {
  const errors = [];
  const opened = browsers(errors);
  const openBrowser = opened.open;
  t.after(opened.close);

  await t.test('carol (admin) removes a month, asked first, and sees it in Recent changes', async () => {
    const month = '2001-02';
    const login = await apiCall('/login', { method: 'POST', body: CAROL });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const token = login.body.access_token;
    const put = await apiCall(`/revenue/months/${month}`, {
      method: 'PUT',
      token,
      body: { amount_cents: 424_200 },
    });
    assert.ok([200, 201].includes(put.status), JSON.stringify(put.body));

    const admin = await openBrowser();
    await signInOn(admin, CAROL, `/?from=${month}&to=${month}`);
    const row = admin.locator(`[data-testid="revenue-row"][data-month="${month}"]`);
    await row.waitFor();
    await admin.getByTestId('recent-changes').waitFor();

    // Remove, by keyboard: the question comes with the focus on Cancel, and
    // Escape leaves it without a request.
    let deletes = 0;
    admin.on('request', (request) => {
      if (request.method() === 'DELETE') deletes += 1;
    });
    await row.getByTestId('remove-month').focus();
    await admin.keyboard.press('Enter');
    await admin.getByTestId('remove-confirmation').waitFor();
    assert.equal(
      await admin.getByTestId('remove-confirmation').locator('span').first().innerText(),
      'Remove February 2001 ($4,242.00)?',
    );
    assert.equal(await focusedOn(admin), 'remove-cancel');
    await admin.keyboard.press('Escape');
    await admin.getByTestId('remove-confirmation').waitFor({ state: 'detached' });
    assert.equal(await focusedOn(admin), 'remove-month');
    assert.equal(deletes, 0, 'nothing is sent before "Remove"');

    await admin.keyboard.press('Enter');
    await admin.getByTestId('remove-confirmation').waitFor();
    await expectAccessible('a removal asked for', admin);
    await screenshot('21-admin-remove-asked', admin);
    await screenshotDarkAndPhone('21-admin-remove-asked', admin);
    await expectFitsPhone('a removal asked for', admin);
    await admin.keyboard.press('Shift+Tab');
    assert.equal(await focusedOn(admin), 'remove-confirm');
    const removed = admin.waitForResponse(
      (response) =>
        new URL(response.url()).pathname === `/revenue/months/${month}` &&
        response.request().method() === 'DELETE',
    );
    await admin.keyboard.press('Enter');
    const answer = await removed;
    assert.equal(answer.status(), 204);
    assert.match(
      answer.request().headers()['if-match'] ?? '',
      /^"rev-[0-9a-f]{16}-\d+"$/,
      'the removal is If-Match the figures shown',
    );

    // The figures reloaded without it; what happened is said, and has the focus.
    await admin.getByTestId('revenue-empty').waitFor();
    assert.equal(await admin.getByTestId('remove-message').innerText(), 'Removed February 2001 ($4,242.00).');
    assert.equal(await focusedOn(admin), 'remove-message');
    const onServer = await apiCall(`/revenue?from=${month}&to=${month}`, { token });
    assert.equal(onServer.status, 200);
    assert.deepEqual(onServer.body.months, [], 'removed on the server');

    // Recent changes (loaded again for the figures' new version): the
    // month's newest change is this removal, by carol, through the API.
    await admin.waitForFunction(
      (m) =>
        document
          .querySelector(`[data-testid="change-row"][data-month="${m}"] [data-testid="change-amounts"]`)
          ?.textContent.startsWith('Removed'),
      month,
    );
    const change = admin.locator(`[data-testid="change-row"][data-month="${month}"]`).first();
    assert.equal(await change.getByTestId('change-amounts').innerText(), 'Removed $4,242.00');
    assert.equal(await change.getByTestId('change-actor').innerText(), CAROL.email);
    assert.equal(await change.getByTestId('change-source').innerText(), 'API');
    assert.equal(await change.locator('th').innerText(), 'Feb 2001');
    // The list is newest first, as the API gives it.
    const listed = await apiCall('/revenue/changes?limit=5', { token });
    assert.equal(listed.status, 200);
    const rows = await admin.getByTestId('change-row').evaluateAll((all) => all.map((r) => r.dataset.month));
    assert.deepEqual(
      rows.slice(0, listed.body.changes.length),
      listed.body.changes.map((c) => c.month),
    );
    assert.equal(listed.body.changes.find((c) => c.month === month)?.new_amount_cents, null);
    await expectAccessible('the dashboard with recent changes', admin);
    await screenshot('22-admin-removed', admin);
    await screenshotDarkAndPhone('22-admin-removed', admin);
    await expectFitsPhone('the recent changes', admin);

    await admin.getByTestId('logout').click();
    await admin.getByTestId('login-form').waitFor();
    await apiCall('/logout', { method: 'POST', token });
  });

  await t.test('alice, signed in on two browsers, ends the other one from the first', async () => {
    const firefox = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';
    const there = await openBrowser({ userAgent: firefox });
    await signInOn(there, ALICE);
    await there.getByTestId('revenue-chart').waitFor();
    const here = await openBrowser();
    await signInOn(here, ALICE);
    await here.getByTestId('revenue-chart').waitFor();

    // Sessions, from the user bar: this browser marked, the other listed.
    const toggle = here.getByTestId('sessions-toggle');
    assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
    await toggle.click();
    await here.getByTestId('session-list').waitFor();
    assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
    const current = here.locator('[data-testid="session"][data-current="true"]');
    assert.equal(await current.count(), 1);
    assert.match(await current.innerText(), /this browser/);
    assert.equal(
      await current.getByTestId('session-end').count(),
      0,
      'this browser is signed out, not ended',
    );
    assert.equal(await current.getByTestId('session-sign-out').count(), 1);
    const other = here.locator('[data-testid="session"]', { hasText: 'Firefox on Windows' });
    assert.equal(await other.count(), 1, 'the other browser is listed by its user agent');
    assert.match(await other.innerText(), /Signed in .+ · last used .+ · from 127\.0\.0\.1/);
    await expectAccessible('the sessions panel', here);
    await screenshot('23-sessions', here);
    await screenshotDarkAndPhone('23-sessions', here);
    await expectFitsPhone('the sessions panel', here);

    const ended = here.waitForResponse(
      (response) =>
        new URL(response.url()).pathname.startsWith('/sessions/') && response.request().method() === 'DELETE',
    );
    await other.getByTestId('session-end').click();
    assert.equal((await ended).status(), 204);
    assert.equal(
      await here.getByTestId('sessions-message').innerText(),
      'Ended the session on Firefox on Windows: it is signed out there.',
    );
    await other.waitFor({ state: 'detached' });
    assert.equal(await current.count(), 1, 'this browser stays listed');

    // The other browser's next request is refused: back to the login form,
    // every figure gone.
    const refused = there.waitForResponse((response) => new URL(response.url()).pathname === '/revenue');
    await there.getByTestId('revenue-reload').click();
    assert.equal((await refused).status(), 401);
    await there.getByTestId('login-form').waitFor();
    assert.match(await there.getByTestId('session-ended').innerText(), /session (was|has) ended/i);
    for (const id of ['revenue-row', 'revenue-chart', 'current-user']) {
      assert.equal(await there.getByTestId(id).count(), 0, `no ${id} on the other browser`);
    }
    await screenshot('24-session-ended-there', there);

    // This one goes on.
    const reloaded = here.waitForResponse(
      (response) => new URL(response.url()).pathname === '/revenue' && response.ok(),
    );
    await here.getByTestId('revenue-reload').click();
    await reloaded;
    assert.ok((await here.getByTestId('revenue-row').count()) > 0);

    // Close gives the focus back to the Sessions button; Sign out in the
    // panel is the ordinary logout (the refresh cookie goes too).
    await here.getByTestId('sessions-close').click();
    await here.getByTestId('sessions-panel').waitFor({ state: 'detached' });
    assert.equal(await focusedOn(here), 'sessions-toggle');
    await toggle.press('Enter');
    await here.getByTestId('session-sign-out').click();
    await here.getByTestId('login-form').waitFor();
    await here.reload();
    await here.getByTestId('login-form').waitFor();
  });

  await t.test('the console has no errors but the failed requests the steps expect', async () => {
    assert.deepEqual(unexpectedConsoleErrors(errors), []);
  });
});

// The login form comes back only once the server has ended the session, and
// the tabs of one browser share its refresh cookie. Each step uses browsers of
// its own; some answers are made to fail on purpose (a 503, a 401) through
// Playwright's routing, the real server gives the rest.
test('signing out, and the other tabs of one browser', async (t) => {
  const errors = [];
  const opened = browsers(errors);
  t.after(opened.close);
  const pathOf = (message) => new URL(message.url()).pathname;
  const hasRefreshCookie = async (on) =>
    (await on.context().cookies()).some((cookie) => cookie.name === 'revenue_refresh');
  const problem = (status, code, headers = {}, detail = undefined) => ({
    status,
    contentType: 'application/problem+json',
    headers,
    body: JSON.stringify({ status, code, title: code, detail }),
  });
  async function expectSignedOutForGood(on) {
    await on.getByTestId('login-form').waitFor();
    assert.equal(await hasRefreshCookie(on), false, 'the refresh cookie is gone');
    await on.reload();
    await on.getByTestId('login-form').waitFor();
  }
  async function expectNoFigures(on, total) {
    for (const id of ['revenue-row', 'revenue-chart', 'current-user']) {
      assert.equal(await on.getByTestId(id).count(), 0, `no ${id} on screen`);
    }
    assert.ok(!(await on.locator('body').innerText()).includes(total), `the total ${total} is gone`);
  }

  await t.test('a sign-out the server could not do keeps the user signed in and says so; "Try again" signs out', async () => {
    const tab = await opened.open();
    await signInOn(tab, ALICE);
    await tab.getByTestId('revenue-chart').waitFor();
    // Longer than the page waits by itself before trying once more.
    await tab.route('**/logout', (route) =>
      route.fulfill(problem(503, 'revocations_unavailable', { 'Retry-After': '30' })),
    );
    await tab.getByTestId('logout').click();
    await tab.getByTestId('logout-error').waitFor();
    assert.equal(
      (await tab.getByTestId('logout-error').locator('p').innerText()).trim(),
      'Could not sign out; you are still signed in. The service is temporarily unavailable. Try again in 30 seconds.',
    );
    assert.equal(await tab.getByTestId('login-form').count(), 0);
    await tab.getByTestId('current-user').waitFor();
    assert.ok((await tab.getByTestId('revenue-row').count()) > 0, 'the figures stay');
    assert.equal(await tab.getByTestId('logout').isEnabled(), true);
    assert.ok(await hasRefreshCookie(tab), 'still signed in by the cookie, as the page says');
    await expectAccessible('a sign-out that failed', tab);
    await screenshot('25-logout-failed', tab);
    await expectFitsPhone('a sign-out that failed', tab);

    await tab.unroute('**/logout');
    const loggedOut = tab.waitForResponse((response) => pathOf(response) === '/logout');
    await tab.getByTestId('logout-error').getByTestId('retry').click();
    assert.equal((await loggedOut).status(), 204);
    await expectSignedOutForGood(tab);
  });

  await t.test('a 503 with a short Retry-After is tried once more by itself', async () => {
    const tab = await opened.open();
    await signInOn(tab, ALICE);
    let answered = 0;
    await tab.route('**/logout', (route) =>
      (answered += 1) === 1
        ? route.fulfill(problem(503, 'revocations_unavailable', { 'Retry-After': '1' }))
        : route.continue(),
    );
    const statuses = [];
    tab.on('response', (response) => pathOf(response) === '/logout' && statuses.push(response.status()));
    await tab.getByTestId('logout').click();
    await tab.getByTestId('login-form').waitFor();
    assert.deepEqual(statuses, [503, 204]);
    await expectSignedOutForGood(tab);
  });

  await t.test('a sign-out refused with 401 (the access token had expired) refreshes, then ends the session', async () => {
    const tab = await opened.open();
    await signInOn(tab, ALICE);
    let answered = 0;
    await tab.route('**/logout', (route) =>
      (answered += 1) === 1
        ? route.fulfill(
            problem(
              401,
              'invalid_token',
              { 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="the access token expired"' },
              'the access token expired',
            ),
          )
        : route.continue(),
    );
    const seen = [];
    tab.on('response', (response) => {
      if (['/logout', '/token/refresh'].includes(pathOf(response))) seen.push(`${pathOf(response)} ${response.status()}`);
    });
    await tab.getByTestId('logout').click();
    await expectSignedOutForGood(tab);
    assert.deepEqual(seen.slice(0, 3), ['/logout 401', '/token/refresh 200', '/logout 204']);
  });

  await t.test('a request made during a slow sign-out does not refresh the session, nor does anything after', async () => {
    const tab = await opened.open();
    await signInOn(tab, ALICE);
    await tab.getByTestId('revenue-chart').waitFor();
    await tab.route('**/logout', async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await route.continue();
    });
    const refreshes = [];
    tab.on('request', (request) => pathOf(request) === '/token/refresh' && refreshes.push(request));
    await tab.getByTestId('logout').click();
    await tab.waitForTimeout(300);
    const loaded = tab.waitForResponse((response) => pathOf(response) === '/revenue');
    await tab.getByTestId('revenue-reload').click();
    assert.equal((await loaded).status(), 200, 'the session stands until the server has ended it');
    await tab.getByTestId('login-form').waitFor();
    // Long enough for a refresh timer the sign-out had left running.
    await tab.waitForTimeout((TTL_SECONDS + 1) * 1_000);
    assert.equal(refreshes.length, 0, 'no refresh from the click on');
    await expectSignedOutForGood(tab);
  });

  await t.test('another tab of the same browser leaves at once when one signs out', async () => {
    const first = await opened.open();
    await signInOn(first, ALICE);
    const second = await opened.openTab(first);
    await second.goto(BASE_URL);
    await second.getByTestId('revenue-chart').waitFor();
    const total = await second.getByTestId('revenue-total').innerText();

    await first.getByTestId('logout').click();
    await first.getByTestId('login-form').waitFor();
    await second.getByTestId('login-form').waitFor();
    assert.equal(await second.getByTestId('session-ended').innerText(), 'You signed out in another tab.');
    await expectNoFigures(second, total);
  });

  await t.test('a tab that missed the sign-out does not go on as the next user of the browser', async () => {
    const first = await opened.open();
    await signInOn(first, ALICE);
    // This tab is not told (no BroadcastChannel): its next refresh must notice.
    const second = await opened.openTab(first);
    await second.addInitScript(() => {
      delete window.BroadcastChannel;
    });
    await second.goto(BASE_URL);
    await second.getByTestId('revenue-chart').waitFor();
    await expectSignedInOn(second, ALICE.email);
    const total = await second.getByTestId('revenue-total').innerText();

    await first.getByTestId('logout').click();
    await first.getByTestId('login-form').waitFor();
    const refreshes = [];
    second.on('response', (response) => pathOf(response) === '/token/refresh' && refreshes.push(response.status()));
    await signInOn(first, CAROL);

    // Alice's token was revoked with her session, and the cookie is carol's
    // now: the next refresh brings carol's token. It comes from the reload
    // (a 401, then the refresh), or from the tab's refresh timer if that was
    // sooner (its 4 s lifetime), which leaves no reload button to press.
    await second
      .getByTestId('revenue-reload')
      .click({ timeout: 1_000 })
      .catch(() => {});
    await second.getByTestId('login-form').waitFor();
    assert.ok(refreshes.includes(200), `a refresh brought carol's token (refreshes: ${refreshes})`);
    assert.equal(
      await second.getByTestId('session-ended').innerText(),
      'You signed in as someone else in another tab, so this tab was signed out. Sign in again to go on here.',
    );
    await expectNoFigures(second, total);
    await screenshot('26-signed-in-elsewhere', second);

    // Carol goes on in the first tab, across a reload too: the second tab's
    // refresh rotated her cookie in the jar both share.
    await first.reload();
    await expectSignedInOn(first, CAROL.email);
    await first.getByTestId('revenue-chart').waitFor();
  });

  await t.test('a 503 on GET /me right after the sign-in keeps the user signed in, asking /me again', async () => {
    const tab = await opened.open();
    let answered = 0;
    await tab.route('**/me', (route) =>
      (answered += 1) === 1
        ? route.fulfill(problem(503, 'revocations_unavailable', { 'Retry-After': '1' }))
        : route.continue(),
    );
    const logins = [];
    tab.on('request', (request) => pathOf(request) === '/login' && logins.push(request));
    await tab.goto(BASE_URL);
    await tab.getByTestId('login-email').fill(ALICE.email);
    await tab.getByTestId('login-password').fill(ALICE.password);
    await tab.getByTestId('login-submit').click();
    await tab.getByTestId('session-error').waitFor();
    assert.equal(
      await tab.getByTestId('session-error').locator('p').innerText(),
      'The service is temporarily unavailable; retrying…',
    );
    assert.equal(await tab.getByTestId('login-form').count(), 0);
    await expectSignedInOn(tab, ALICE.email);
    await tab.getByTestId('revenue-chart').waitFor();
    assert.equal(logins.length, 1, 'one sign-in, one session');
    assert.equal(answered, 2);
  });

  await t.test('the console has no errors but the failed requests the steps expect', async () => {
    // And the 503s the steps answer on purpose.
    assert.deepEqual(
      unexpectedConsoleErrors(errors).filter(
        (text) => !/^Failed to load resource: the server responded with a status of 503\b/.test(text),
      ),
      [],
    );
  });
});
