import { act } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/problem.js';
import { formatAmount } from '../format.js';
import { monthsBetween } from '../months.js';
import { choose, click, render, settle, typeInto } from '../test/dom.js';
import RevenuePanel from './RevenuePanel.jsx';

const TODAY = '2026-11';

// An API whose revenue is 2024-01..2026-10 at 1000 cents × the month's
// position, answering each range as the server does.
function fakeApi(overrides = {}) {
  const all = monthsBetween('2024-01', '2026-10').map((month, i) => ({ month, amount_cents: (i + 1) * 1000 }));
  return {
    getRevenue: vi.fn(async ({ from, to }) => {
      const months = all.filter((m) => m.month >= from && m.month <= to);
      return {
        organization: { id: 'o1', name: 'Acme Corp' },
        currency: 'USD',
        from,
        to,
        months,
        total_cents: months.reduce((sum, m) => sum + m.amount_cents, 0),
      };
    }),
    ...overrides,
  };
}

async function renderPanel(api, props = {}) {
  const page = await render(<RevenuePanel api={api} today={TODAY} {...props} />);
  await settle();
  return page;
}

const shownMonths = (page) => page.allByTestId('revenue-row').map((row) => row.dataset.month);

beforeEach(() => {
  window.history.replaceState(null, '', '/');
});

afterEach(() => {
  document.title = '';
});

describe('RevenuePanel range', () => {
  it('starts with the last 12 whole months, in the pickers and written into the address in place', async () => {
    const before = window.history.length;
    const api = fakeApi();
    const page = await renderPanel(api);

    expect(window.location.search).toBe('?from=2025-11&to=2026-10');
    expect(window.history.length).toBe(before);
    expect(page.byTestId('revenue-from').value).toBe('2025-11');
    expect(page.byTestId('revenue-to').value).toBe('2026-10');
    expect(page.byTestId('quick-range').value).toBe('last-12');
    expect(shownMonths(page)).toEqual(monthsBetween('2025-11', '2026-10'));
    // Asked once, reaching back a year for the comparisons.
    expect(api.getRevenue).toHaveBeenCalledTimes(1);
    expect(api.getRevenue).toHaveBeenCalledWith({ from: '2024-11', to: '2026-10' });
    expect(document.title).toBe('Acme Corp revenue, Nov 2025 – Oct 2026 · Revenue dashboard');
  });

  it('opens the range in the address', async () => {
    window.history.replaceState(null, '', '/?from=2026-01&to=2026-06');
    const page = await renderPanel(fakeApi());
    expect(shownMonths(page)).toEqual(monthsBetween('2026-01', '2026-06'));
    expect(page.byTestId('quick-range').value).toBe('custom');
    expect(page.byTestId('shown-range').textContent).toBe('Jan – Jun 2026');
  });

  it('puts a quick range or picked months in the address, and Back returns to the previous range', async () => {
    const page = await renderPanel(fakeApi());
    const before = window.history.length;

    await choose(page.byTestId('quick-range'), 'last-year');
    await settle();
    expect(window.location.search).toBe('?from=2025-01&to=2025-12');
    expect(window.history.length).toBe(before + 1);
    expect(page.byTestId('revenue-from').value).toBe('2025-01');
    expect(shownMonths(page)).toEqual(monthsBetween('2025-01', '2025-12'));

    await choose(page.byTestId('quick-range'), 'q3-2026');
    await settle();
    expect(window.location.search).toBe('?from=2026-07&to=2026-09');

    await typeInto(page.byTestId('revenue-to'), '2026-10');
    await settle();
    expect(window.location.search).toBe('?from=2026-07&to=2026-10');
    expect(shownMonths(page)).toEqual(['2026-07', '2026-08', '2026-09', '2026-10']);

    // Back, as the browser does it: the address changes, then popstate.
    window.history.replaceState(null, '', '/?from=2025-01&to=2025-12');
    await act(async () => window.dispatchEvent(new PopStateEvent('popstate')));
    await settle();
    expect(page.byTestId('revenue-from').value).toBe('2025-01');
    expect(page.byTestId('quick-range').value).toBe('last-year');
    expect(shownMonths(page)).toEqual(monthsBetween('2025-01', '2025-12'));
  });

  it('folds quick steps of a month picker into one history entry', async () => {
    const page = await renderPanel(fakeApi());
    const before = window.history.length;
    await typeInto(page.byTestId('revenue-from'), '2025-12');
    await typeInto(page.byTestId('revenue-from'), '2026-01');
    await typeInto(page.byTestId('revenue-from'), '2026-02');
    await settle();
    expect(window.history.length).toBe(before + 1);
    expect(window.location.search).toBe('?from=2026-02&to=2026-10');
  });

  it('keeps a cleared or reversed pair in the pickers with a message, and the figures shown', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);
    await typeInto(page.byTestId('revenue-to'), '');
    expect(page.byTestId('range-error').textContent).toBe('Choose both a “From” and a “To” month.');
    expect(window.location.search).toBe('?from=2025-11&to=2026-10');
    expect(api.getRevenue).toHaveBeenCalledTimes(1);
    expect(shownMonths(page)).toHaveLength(12);
  });
});

describe('RevenuePanel states', () => {
  it('shows a skeleton while the first figures load', async () => {
    const api = fakeApi({ getRevenue: vi.fn(() => new Promise(() => {})) });
    const page = await renderPanel(api);
    expect(page.byTestId('revenue-skeleton')).not.toBeNull();
    expect(page.byTestId('revenue-loading').textContent).toBe('Loading revenue…');
    expect(page.byTestId('revenue-table')).toBeNull();
  });

  it('keeps the figures shown when loading fails, says what failed and retries', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);
    const total = page.byTestId('revenue-total').textContent;

    api.getRevenue.mockRejectedValueOnce(new ApiError({ status: 0, code: 'network_error' }));
    await choose(page.byTestId('quick-range'), 'last-year');
    await settle();

    expect(page.byTestId('revenue-error').textContent).toContain(
      'Could not load the revenue for Jan – Dec 2025. Could not reach the server.',
    );
    expect(page.byTestId('revenue-total').textContent).toBe(total);
    expect(page.byTestId('stale-notice').textContent).toBe('Showing Nov 2025 – Oct 2026, the last figures loaded.');

    await click(page.byTestId('retry'));
    await settle();
    expect(page.byTestId('revenue-error')).toBeNull();
    expect(page.byTestId('stale-notice')).toBeNull();
    expect(shownMonths(page)).toEqual(monthsBetween('2025-01', '2025-12'));
  });

  it('offers the last 12 months for a range without revenue', async () => {
    window.history.replaceState(null, '', '/?from=2030-01&to=2030-06');
    const page = await renderPanel(fakeApi());
    expect(page.byTestId('revenue-empty').textContent).toContain('No revenue recorded for Jan – Jun 2030.');
    expect(page.byTestId('export-csv')).toBeNull();

    await click(page.byTestId('show-default-range'));
    await settle();
    expect(window.location.search).toBe('?from=2025-11&to=2026-10');
    expect(shownMonths(page)).toHaveLength(12);
  });

  it('offers to check again or to sign in as someone else without access', async () => {
    const onSignOut = vi.fn();
    const api = fakeApi({
      getRevenue: vi.fn(async () => {
        throw new ApiError({ status: 403, code: 'insufficient_scope' });
      }),
    });
    const page = await renderPanel(api, { onSignOut });
    expect(page.byTestId('no-access').textContent).toContain('You do not have access to revenue.');

    await click(page.byTestId('no-access-retry'));
    await settle();
    expect(api.getRevenue).toHaveBeenCalledTimes(2);
    await click(page.byTestId('no-access-switch'));
    expect(onSignOut).toHaveBeenCalled();
  });

  it('compares with the previous period and a year earlier, and shows – where revenue is missing', async () => {
    window.history.replaceState(null, '', '/?from=2024-07&to=2024-12');
    const page = await renderPanel(fakeApi());
    // 2024-07..12 are months 7..12 (×1000 cents); the previous period 1..6.
    expect(page.byTestId('revenue-total').textContent).toBe(formatAmount(57_000, 'USD'));
    expect(page.byTestId('change-previous').textContent).toBe('▲ +171.4%');
    // Nothing before 2024-01: no year-earlier figure, and not a 0.
    expect(page.byTestId('change-year').textContent).toBe('–');
  });
});
