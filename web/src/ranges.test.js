import { describe, expect, it } from 'vitest';
import { addMonths, currentMonth, monthCount, monthsBetween, quarterStart } from './months.js';
import {
  defaultRange,
  describeRange,
  matchQuickRange,
  quickRanges,
  rangeFromSearch,
  rangeProblem,
  searchWithRange,
} from './ranges.js';

describe('months', () => {
  it('adds, counts and lists months across year ends', () => {
    expect(addMonths('2026-01', -1)).toBe('2025-12');
    expect(addMonths('2025-11', 14)).toBe('2027-01');
    expect(monthCount('2025-11', '2026-02')).toBe(4);
    expect(monthsBetween('2025-11', '2026-02')).toEqual(['2025-11', '2025-12', '2026-01', '2026-02']);
    expect(monthsBetween('2026-02', '2026-01')).toEqual([]);
    expect(quarterStart('2026-08')).toBe('2026-07');
  });

  it('takes the current month from the local calendar', () => {
    expect(currentMonth(new Date(2026, 10, 27, 23, 59))).toBe('2026-11');
    expect(currentMonth(new Date(2027, 0, 1, 0, 0))).toBe('2027-01');
  });
});

describe('quick ranges', () => {
  const byId = (today) => Object.fromEntries(quickRanges(today).map((r) => [r.id, [r.from, r.to]]));

  it('end at the current month at the latest', () => {
    const ranges = byId('2026-11');
    expect(ranges['last-12']).toEqual(['2025-11', '2026-10']);
    expect(ranges['this-year']).toEqual(['2026-01', '2026-11']);
    expect(ranges['last-year']).toEqual(['2025-01', '2025-12']);
    expect(ranges['last-36']).toEqual(['2023-11', '2026-10']);
    expect(ranges['q4-2026']).toEqual(['2026-10', '2026-11']);
    expect(ranges['q3-2026']).toEqual(['2026-07', '2026-09']);
    expect(ranges['q1-2025']).toEqual(['2025-01', '2025-03']);
  });

  it('offers the current quarter to date and the seven before it', () => {
    const quarters = quickRanges('2026-01').filter((r) => r.quarter);
    expect(quarters.map((r) => r.label)).toEqual([
      'Q1 2026 (to date)',
      'Q4 2025',
      'Q3 2025',
      'Q2 2025',
      'Q1 2025',
      'Q4 2024',
      'Q3 2024',
      'Q2 2024',
    ]);
  });

  it('defaults to the last twelve whole months and recognises a range that is a quick one', () => {
    expect(defaultRange('2026-01')).toEqual({ from: '2025-01', to: '2025-12' });
    expect(matchQuickRange({ from: '2025-01', to: '2025-12' }, '2026-01').id).toBe('last-12');
    expect(matchQuickRange({ from: '2025-02', to: '2025-12' }, '2026-01')).toBeNull();
  });
});

describe('the range in the address', () => {
  it('reads a valid range', () => {
    expect(rangeFromSearch('?from=2026-01&to=2026-06')).toEqual({ from: '2026-01', to: '2026-06' });
    expect(rangeFromSearch('?to=2026-06&x=1&from=2026-06')).toEqual({ from: '2026-06', to: '2026-06' });
  });

  it('ignores a missing, malformed or reversed range', () => {
    for (const search of ['', '?from=2026-01', '?from=2026-13&to=2026-14', '?from=26-01&to=26-02', '?from=2026-06&to=2026-01']) {
      expect(rangeFromSearch(search), search).toBeNull();
    }
  });

  it('writes the range and keeps every other parameter', () => {
    expect(searchWithRange('', { from: '2026-01', to: '2026-06' })).toBe('?from=2026-01&to=2026-06');
    expect(searchWithRange('?view=x&from=2020-01', { from: '2026-01', to: '2026-06' })).toBe(
      '?view=x&from=2026-01&to=2026-06',
    );
  });

  it('explains a range that cannot be asked for', () => {
    expect(rangeProblem({ from: '2026-01', to: '' })).toBe('Choose both a “From” and a “To” month.');
    expect(rangeProblem({ from: '2026-02', to: '2026-01' })).toBe('The “From” month must not be after the “To” month.');
    expect(rangeProblem({ from: '2026-01', to: '2026-01' })).toBeNull();
  });
});

describe('describeRange', () => {
  it('names the year once when both ends share it', () => {
    expect(describeRange({ from: '2026-01', to: '2026-06' })).toMatch(/^Jan – Jun 2026$/);
    expect(describeRange({ from: '2025-11', to: '2026-02' })).toBe('Nov 2025 – Feb 2026');
    expect(describeRange({ from: '2026-03', to: '2026-03' })).toBe('Mar 2026');
  });
});
