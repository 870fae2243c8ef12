// `locale` is left undefined in the app so the browser's language decides;
// tests pass one to get stable output.

// amount_cents is in the currency's minor unit (cents for USD, whole yen for
// JPY); Intl knows how many digits each currency has.
export function minorUnitDigits(currency) {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
}

function toMajorUnits(minorUnits, currency) {
  return minorUnits / 10 ** minorUnitDigits(currency);
}

export function formatAmount(minorUnits, currency, locale) {
  return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(
    toMajorUnits(minorUnits, currency),
  );
}

// "+$1,200.00", "−$50.00", "$0.00": a change, its sign always shown.
export function formatSignedAmount(minorUnits, currency, locale) {
  return new Intl.NumberFormat(locale, { style: 'currency', currency, signDisplay: 'exceptZero' }).format(
    toMajorUnits(minorUnits, currency),
  );
}

// 0.1234 → "+12.3%".
export function formatChangePercent(ratio, locale) {
  return new Intl.NumberFormat(locale, {
    style: 'percent',
    maximumFractionDigits: 1,
    signDisplay: 'exceptZero',
  }).format(ratio);
}

// "$1.2M": short enough for a chart axis.
export function formatCompactAmount(minorUnits, currency, locale) {
  return new Intl.NumberFormat(locale, {
    style: 'currency',
    currency,
    notation: 'compact',
    minimumFractionDigits: 0,
    maximumFractionDigits: 1,
  }).format(toMajorUnits(minorUnits, currency));
}

// "2024-12" → "Dec 2024" (or another style via `options`). The month is built
// in UTC and formatted in UTC so no time zone can shift it into its neighbour.
export function formatMonth(month, locale, options = { month: 'short', year: 'numeric' }) {
  const [year, monthNumber] = month.split('-').map(Number);
  return new Intl.DateTimeFormat(locale, { ...options, timeZone: 'UTC' }).format(
    new Date(Date.UTC(year, monthNumber - 1, 1)),
  );
}

// An RFC 3339 instant from the API → "Nov 27, 2026, 4:05 PM", in the
// browser's time zone (tests pass `timeZone`); "" for a missing or unreadable
// one.
export function formatDateTime(instant, locale, { timeZone } = {}) {
  const date = new Date(instant ?? NaN);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(date);
}
