import { formatMonth } from './format.js';
import { addMonths, isMonth, quarterOf, quarterStart, yearOf } from './months.js';

// Quick ranges, relative to the current month. Nothing reaches into the
// future: "This year" and the current quarter end with the current month,
// and "Last 12 months" is the twelve whole months before it.
export function quickRanges(today) {
  const year = Number(yearOf(today));
  const ranges = [
    { id: 'last-12', label: 'Last 12 months', from: addMonths(today, -12), to: addMonths(today, -1) },
    { id: 'this-year', label: 'This year', from: `${year}-01`, to: today },
    { id: 'last-year', label: 'Last year', from: `${year - 1}-01`, to: `${year - 1}-12` },
    { id: 'last-36', label: 'Last 3 years', from: addMonths(today, -36), to: addMonths(today, -1) },
  ];
  // The current quarter (to date) and the seven before it.
  const current = quarterStart(today);
  for (let back = 0; back < 8; back += 1) {
    const from = addMonths(current, -3 * back);
    const label = `Q${quarterOf(from)} ${yearOf(from)}`;
    ranges.push({
      id: `q${quarterOf(from)}-${yearOf(from)}`,
      label: back === 0 ? `${label} (to date)` : label,
      from,
      to: back === 0 ? today : addMonths(from, 2),
      quarter: true,
    });
  }
  return ranges;
}

// What the dashboard shows when the address names no range.
export function defaultRange(today) {
  const { from, to } = quickRanges(today)[0];
  return { from, to };
}

// The quick range that is exactly `range`, if any.
export function matchQuickRange(range, today) {
  return quickRanges(today).find((quick) => quick.from === range.from && quick.to === range.to) ?? null;
}

// Why a range cannot be asked for, or null when it can.
export function rangeProblem({ from, to }) {
  if (!isMonth(from) || !isMonth(to)) return 'Choose both a “From” and a “To” month.';
  if (from > to) return 'The “From” month must not be after the “To” month.';
  return null;
}

// The range in a query string (`?from=2026-01&to=2026-06`), or null when it
// names none or a range that cannot be asked for.
export function rangeFromSearch(search) {
  const params = new URLSearchParams(search);
  const range = { from: params.get('from'), to: params.get('to') };
  return rangeProblem(range) ? null : range;
}

// `search` with the range in it, every other parameter kept.
export function searchWithRange(search, { from, to }) {
  const params = new URLSearchParams(search);
  params.set('from', from);
  params.set('to', to);
  return `?${params}`;
}

// "Jan – Jun 2026", "Nov 2025 – Feb 2026", "Mar 2026".
export function describeRange({ from, to }) {
  if (from === to) return formatMonth(from);
  if (yearOf(from) === yearOf(to)) return `${formatMonth(from, undefined, { month: 'short' })} – ${formatMonth(to)}`;
  return `${formatMonth(from)} – ${formatMonth(to)}`;
}
