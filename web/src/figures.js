import { addMonths, monthCount, quarterOf, yearOf } from './months.js';

// The dashboard's arithmetic, on the API's months ({month, amount_cents},
// ascending, one per month that has revenue). Amounts stay in minor units.

function sum(entries) {
  return entries.reduce((total, entry) => total + entry.amount_cents, 0);
}

export function monthsInRange(months, { from, to }) {
  return months.filter((entry) => entry.month >= from && entry.month <= to);
}

// The range to ask the API for so that every comparison of `range` can be
// made: the previous period of the same length, the same months a year
// earlier, and the year to date and its year-earlier twin.
export function loadRangeFor({ from, to }) {
  const back = Math.max(monthCount(from, to), 12);
  const earliest = [addMonths(from, -back), addMonths(`${yearOf(to)}-01`, -12)].sort()[0];
  return { from: earliest, to };
}

// Compares the months shown with the same months `shift` months earlier,
// month for month: a month without revenue is left out of both sides. If
// any earlier month has no revenue the comparison cannot be made (change
// null, `missing` lists them) rather than count it as 0.
export function compareEarlier(amounts, shown, shift) {
  if (shown.length === 0) return null;
  const earlier = shown.map((entry) => addMonths(entry.month, -shift));
  const period = { from: earlier[0], to: earlier.at(-1) };
  const missing = earlier.filter((month) => !amounts.has(month));
  if (missing.length > 0) return { period, missing, base: null, change: null, percent: null };
  const base = earlier.reduce((total, month) => total + amounts.get(month), 0);
  const change = sum(shown) - base;
  // A change from nothing (or from a loss) has no meaningful percentage sign
  // when the base is 0; against a negative base it is measured on its size.
  const percent = base === 0 ? null : change / Math.abs(base);
  return { period, missing: [], base, change, percent };
}

// The headline figures for `range` out of the loaded months (which must
// cover loadRangeFor(range)).
export function summarize(loaded, range) {
  const amounts = new Map(loaded.map((entry) => [entry.month, entry.amount_cents]));
  const shown = monthsInRange(loaded, range);
  const total = sum(shown);
  const ytdMonths = monthsInRange(loaded, { from: `${yearOf(range.to)}-01`, to: range.to });
  return {
    months: shown,
    total,
    average: shown.length > 0 ? total / shown.length : null,
    previous: compareEarlier(amounts, shown, monthCount(range.from, range.to)),
    yearAgo: compareEarlier(amounts, shown, 12),
    ytd: {
      year: yearOf(range.to),
      months: ytdMonths,
      total: sum(ytdMonths),
      yearAgo: compareEarlier(amounts, ytdMonths, 12),
    },
  };
}

const BY = {
  month: (a, b) => (a.month < b.month ? -1 : a.month > b.month ? 1 : 0),
  amount: (a, b) => a.amount_cents - b.amount_cents || BY.month(a, b),
};

export function sortMonths(months, { key, direction }) {
  const sorted = [...months].sort(BY[key]);
  return direction === 'desc' ? sorted.reverse() : sorted;
}

// The table's rows: months in the chosen order; in month order each quarter
// and each year is followed by its subtotal (when the months span more than
// one), with how many months it adds up.
export function tableRows(months, sort) {
  const sorted = sortMonths(months, sort);
  const rows = sorted.map((entry) => ({ type: 'month', key: entry.month, ...entry }));
  if (sort.key !== 'month' || sorted.length === 0) return rows;
  const quarterKey = (entry) => `Q${quarterOf(entry.month)} ${yearOf(entry.month)}`;
  const levels = [
    { type: 'quarter', key: quarterKey, full: 3 },
    { type: 'year', key: (entry) => yearOf(entry.month), full: 12 },
  ].filter((level) => new Set(sorted.map(level.key)).size > 1);

  const result = [];
  const open = levels.map(() => []);
  const close = (depth) => {
    const level = levels[depth];
    const group = open[depth];
    result.push({
      type: level.type,
      key: `${level.type}-${level.key(group[0])}`,
      label: level.key(group[0]),
      amount_cents: sum(group),
      months: group.length,
      partial: group.length < level.full,
    });
    open[depth] = [];
  };
  sorted.forEach((entry, index) => {
    result.push(rows[index]);
    levels.forEach((_, depth) => open[depth].push(entry));
    const next = sorted[index + 1];
    levels.forEach((level, depth) => {
      if (!next || level.key(next) !== level.key(entry)) close(depth);
    });
  });
  return result;
}

// Round steps for an axis: 1, 2, 2.5 or 5 times a power of ten, about
// `count` of them from at most `low` to at least `high`. Always includes 0
// when the range does (callers pass min(0, …) and max(0, …)).
export function niceTicks(low, high, count = 5) {
  if (high === low) high = low + 1;
  const raw = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].find((factor) => factor * magnitude >= raw) * magnitude;
  const first = Math.floor(low / step);
  const last = Math.ceil(high / step);
  return Array.from({ length: last - first + 1 }, (_, i) => (first + i) * step);
}
