// Months as the API writes them ("2026-01"), and arithmetic on them. A month
// is turned into a count of months since year 0 so that adding, subtracting
// and comparing never goes through Date (and its time zones).

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function isMonth(value) {
  return typeof value === 'string' && MONTH.test(value);
}

function toIndex(month) {
  const [, year, monthNumber] = MONTH.exec(month);
  return Number(year) * 12 + Number(monthNumber) - 1;
}

function fromIndex(index) {
  const year = Math.floor(index / 12);
  const monthNumber = index - year * 12 + 1;
  return `${String(year).padStart(4, '0')}-${String(monthNumber).padStart(2, '0')}`;
}

export function addMonths(month, count) {
  return fromIndex(toIndex(month) + count);
}

// How many months from `from` to `to`, both included (1 for the same month).
export function monthCount(from, to) {
  return toIndex(to) - toIndex(from) + 1;
}

// Every month from `from` to `to`, both included, ascending.
export function monthsBetween(from, to) {
  return Array.from({ length: Math.max(0, monthCount(from, to)) }, (_, i) => addMonths(from, i));
}

// The month the user's calendar shows today.
export function currentMonth(now = new Date()) {
  return fromIndex(now.getFullYear() * 12 + now.getMonth());
}

export function yearOf(month) {
  return month.slice(0, 4);
}

// 1 to 4.
export function quarterOf(month) {
  return Math.floor((Number(month.slice(5, 7)) - 1) / 3) + 1;
}

// The first month of the month's quarter.
export function quarterStart(month) {
  return `${yearOf(month)}-${String((quarterOf(month) - 1) * 3 + 1).padStart(2, '0')}`;
}
