import { minorUnitDigits } from './format.js';

// CSV as RFC 4180 writes it: CRLF line ends, a field quoted when it holds a
// comma, a quote, a line break or edge spaces, quotes doubled inside.
// A text field that a spreadsheet would run as a formula (=, +, -, @, tab or
// CR first) gets a leading apostrophe; a number (-12.50) stays a number.
export function csvField(value) {
  let text = String(value ?? '');
  if (/^[=+\-@\t\r]/.test(text) && !/^[+-]?\d+(\.\d+)?$/.test(text)) text = `'${text}`;
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function toCsv(rows) {
  return rows.map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

// 123456 cents → "1234.56"; exact (integer arithmetic, no float rounding),
// with the currency's own number of decimals, no grouping, "." as separator.
export function majorUnits(minorUnits, currency) {
  const digits = minorUnitDigits(currency);
  const sign = minorUnits < 0 ? '-' : '';
  const size = Math.abs(minorUnits);
  const scale = 10 ** digits;
  const whole = Math.floor(size / scale);
  if (digits === 0) return `${sign}${whole}`;
  return `${sign}${whole}.${String(size % scale).padStart(digits, '0')}`;
}

// The rows as shown (month rows, in the table's order), with a header.
export function revenueCsv(months, currency) {
  return toCsv([
    ['month', 'amount', 'currency'],
    ...months.map((entry) => [entry.month, majorUnits(entry.amount_cents, currency), currency]),
  ]);
}

// "revenue-acme-corp-2025-12-to-2026-11.csv".
export function csvFileName(organizationName, { from, to }) {
  const slug = organizationName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  return ['revenue', slug, from === to ? from : `${from}-to-${to}`].filter(Boolean).join('-') + '.csv';
}

// Hands the text to the browser as a file download.
export function downloadText(text, fileName, type = 'text/csv;charset=utf-8') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked later: some browsers read the blob after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

// An amount typed in major units ("12345.67", "-80", "1,234.5") → minor
// units, exactly; null when it is not a number with at most the currency's
// decimals. Thousands commas are allowed only in their places.
export function parseMajorUnits(text, currency) {
  const digits = minorUnitDigits(currency);
  const match = /^([+-]?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d*))?$/.exec(String(text).trim());
  if (!match) return null;
  const [, sign, whole, fraction = ''] = match;
  if (fraction.length > digits) return null;
  const minor = Number(whole.replaceAll(',', '')) * 10 ** digits + Number(fraction.padEnd(digits, '0') || 0);
  if (!Number.isSafeInteger(minor)) return null;
  return sign === '-' && minor !== 0 ? -minor : minor;
}

// The lines of a CSV file for a preview: [{line, fields}], blank lines left
// out, quoted fields (with "" inside) understood. Line numbers count from 1
// as in a text editor, header included, as the server's messages do.
export function parseCsvLines(text) {
  const rows = [];
  let fields = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let startLine = 1;
  const endRow = () => {
    fields.push(field);
    if (fields.length > 1 || fields[0].trim() !== '') rows.push({ line: startLine, fields });
    fields = [];
    field = '';
  };
  const source = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < source.length; i += 1) {
    const char = source[i];
    if (quoted) {
      if (char === '"' && source[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (char === '"') quoted = false;
      else {
        if (char === '\n') line += 1;
        field += char;
      }
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      fields.push(field);
      field = '';
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && source[i + 1] === '\n') i += 1;
      endRow();
      line += 1;
      startLine = line;
    } else field += char;
  }
  if (field !== '' || fields.length > 0) endRow();
  return rows;
}
