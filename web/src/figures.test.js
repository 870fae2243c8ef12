import { describe, expect, it } from 'vitest';
import { compareEarlier, loadRangeFor, niceTicks, sortMonths, summarize, tableRows } from './figures.js';
import { monthsBetween } from './months.js';

// One entry per month from `from` to `to`, amounts from `amount(index)`.
function series(from, to, amount = (i) => (i + 1) * 100) {
  return monthsBetween(from, to).map((month, i) => ({ month, amount_cents: amount(i) }));
}

describe('loadRangeFor', () => {
  it('reaches back far enough for the previous period and the year before', () => {
    expect(loadRangeFor({ from: '2026-01', to: '2026-06' })).toEqual({ from: '2025-01', to: '2026-06' });
    // 24 months: the previous period reaches further back than a year.
    expect(loadRangeFor({ from: '2025-01', to: '2026-12' })).toEqual({ from: '2023-01', to: '2026-12' });
  });

  it('includes the year to date a year earlier', () => {
    // One month in June: the year to date a year before starts in January 2025.
    expect(loadRangeFor({ from: '2026-06', to: '2026-06' })).toEqual({ from: '2025-01', to: '2026-06' });
  });
});

describe('summarize', () => {
  it('totals and averages the months in the range, comparing with the previous period and a year earlier', () => {
    const loaded = series('2025-01', '2026-06');
    const summary = summarize(loaded, { from: '2026-04', to: '2026-06' });

    // 2026-04..06 are the 16th..18th months: 1600 + 1700 + 1800.
    expect(summary.months.map((m) => m.month)).toEqual(['2026-04', '2026-05', '2026-06']);
    expect(summary.total).toBe(5100);
    expect(summary.average).toBe(1700);
    // Previous period: 2026-01..03 = 1300 + 1400 + 1500 = 4200.
    expect(summary.previous).toEqual({
      period: { from: '2026-01', to: '2026-03' },
      missing: [],
      base: 4200,
      change: 900,
      percent: 900 / 4200,
    });
    // A year earlier: 2025-04..06 = 400 + 500 + 600 = 1500.
    expect(summary.yearAgo.change).toBe(3600);
    expect(summary.yearAgo.percent).toBeCloseTo(2.4);
    // Year to date 2026: January to June.
    expect(summary.ytd.year).toBe('2026');
    expect(summary.ytd.total).toBe(1300 + 1400 + 1500 + 1600 + 1700 + 1800);
    expect(summary.ytd.yearAgo.base).toBe(100 + 200 + 300 + 400 + 500 + 600);
  });

  it('cannot compare with months that have no revenue, and says which, instead of counting them as 0', () => {
    // Data starts in 2026-01: nothing a year earlier, and the previous period
    // of 2026-02..03 (2025-12..2026-01) lacks December.
    const loaded = series('2026-01', '2026-03');
    const summary = summarize(loaded, { from: '2026-02', to: '2026-03' });

    expect(summary.previous).toEqual({
      period: { from: '2025-12', to: '2026-01' },
      missing: ['2025-12'],
      base: null,
      change: null,
      percent: null,
    });
    expect(summary.yearAgo.missing).toEqual(['2025-02', '2025-03']);
    expect(summary.yearAgo.change).toBeNull();
    expect(summary.ytd.yearAgo.change).toBeNull();
  });

  it('compares month for month, leaving out a month the range has no revenue for', () => {
    // 2026-02 has no revenue: it is left out of both sides.
    const loaded = series('2025-01', '2026-03').filter((m) => m.month !== '2026-02');
    const summary = summarize(loaded, { from: '2026-01', to: '2026-03' });

    expect(summary.months).toHaveLength(2);
    expect(summary.average).toBe(summary.total / 2);
    expect(summary.yearAgo.period).toEqual({ from: '2025-01', to: '2025-03' });
    expect(summary.yearAgo.base).toBe(100 + 300);
  });

  it('gives no percentage against a base of 0 and measures a change from a loss on its size', () => {
    const amounts = new Map([
      ['2025-01', 0],
      ['2025-02', -500],
    ]);
    const zero = compareEarlier(amounts, [{ month: '2026-01', amount_cents: 700 }], 12);
    expect(zero.change).toBe(700);
    expect(zero.percent).toBeNull();
    const loss = compareEarlier(amounts, [{ month: '2026-02', amount_cents: 500 }], 12);
    expect(loss.change).toBe(1000);
    expect(loss.percent).toBe(2);
  });

  it('has no average and no comparisons for a range without revenue', () => {
    const summary = summarize(series('2025-01', '2025-03'), { from: '2030-01', to: '2030-06' });
    expect(summary.months).toEqual([]);
    expect(summary.total).toBe(0);
    expect(summary.average).toBeNull();
    expect(summary.previous).toBeNull();
    expect(summary.yearAgo).toBeNull();
  });
});

describe('tableRows', () => {
  const byMonth = { key: 'month', direction: 'asc' };

  it('closes each quarter and each year with its subtotal, in month order', () => {
    const rows = tableRows(series('2025-11', '2026-04'), byMonth);
    expect(rows.map((row) => (row.type === 'month' ? row.month : `${row.label}=${row.amount_cents}`))).toEqual([
      '2025-11',
      '2025-12',
      'Q4 2025=300',
      '2025=300',
      '2026-01',
      '2026-02',
      '2026-03',
      'Q1 2026=1200',
      '2026-04',
      'Q2 2026=600',
      '2026=1800',
    ]);
    const q4 = rows.find((row) => row.label === 'Q4 2025');
    expect(q4).toMatchObject({ type: 'quarter', months: 2, partial: true });
    expect(rows.find((row) => row.label === 'Q1 2026').partial).toBe(false);
  });

  it('puts subtotals after their months when the months run backwards', () => {
    const rows = tableRows(series('2025-12', '2026-01'), { key: 'month', direction: 'desc' });
    expect(rows.map((row) => row.month ?? row.label)).toEqual(['2026-01', 'Q1 2026', '2026', '2025-12', 'Q4 2025', '2025']);
  });

  it('adds no subtotal that would only repeat the total', () => {
    expect(tableRows(series('2026-01', '2026-03'), byMonth).every((row) => row.type === 'month')).toBe(true);
    // Two quarters of one year: quarter subtotals, no year subtotal.
    const types = tableRows(series('2026-02', '2026-05'), byMonth).map((row) => row.type);
    expect(types.filter((type) => type === 'quarter')).toHaveLength(2);
    expect(types).not.toContain('year');
  });

  it('sorts by amount, ties by month, without subtotals', () => {
    const months = [
      { month: '2026-01', amount_cents: 300 },
      { month: '2026-02', amount_cents: -50 },
      { month: '2026-03', amount_cents: 300 },
      { month: '2026-04', amount_cents: 1000 },
    ];
    expect(tableRows(months, { key: 'amount', direction: 'asc' }).map((row) => row.month)).toEqual([
      '2026-02',
      '2026-01',
      '2026-03',
      '2026-04',
    ]);
    expect(sortMonths(months, { key: 'amount', direction: 'desc' }).map((row) => row.month)).toEqual([
      '2026-04',
      '2026-03',
      '2026-01',
      '2026-02',
    ]);
  });
});

describe('niceTicks', () => {
  it('steps by 1, 2, 2.5 or 5 times a power of ten from 0 past the top', () => {
    expect(niceTicks(0, 100_000_000, 4)).toEqual([0, 25_000_000, 50_000_000, 75_000_000, 100_000_000]);
    expect(niceTicks(0, 103_000_000, 4)).toEqual([0, 50_000_000, 100_000_000, 150_000_000]);
    expect(niceTicks(0, 900, 4)).toEqual([0, 250, 500, 750, 1000]);
  });

  it('reaches below 0 for losses, with 0 among the ticks', () => {
    const ticks = niceTicks(-300, 900, 4);
    expect(ticks[0]).toBeLessThanOrEqual(-300);
    expect(ticks).toContain(0);
    expect(ticks.at(-1)).toBeGreaterThanOrEqual(900);
  });

  it('copes with nothing but zeros', () => {
    expect(niceTicks(0, 0)).toEqual([0, 0.2, 0.4, 0.6000000000000001, 0.8, 1]);
  });
});
