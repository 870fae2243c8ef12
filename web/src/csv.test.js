import { describe, expect, it } from 'vitest';
import { csvField, csvFileName, majorUnits, parseCsvLines, parseMajorUnits, revenueCsv, toCsv } from './csv.js';

describe('csvField', () => {
  it('leaves plain fields alone', () => {
    expect(csvField('2026-01')).toBe('2026-01');
    expect(csvField('1234.56')).toBe('1234.56');
    expect(csvField('-1234.56')).toBe('-1234.56');
  });

  it('quotes commas, quotes, line breaks and edge spaces, doubling quotes', () => {
    expect(csvField('Acme, Inc.')).toBe('"Acme, Inc."');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('a\r\nb')).toBe('"a\r\nb"');
    expect(csvField(' padded')).toBe('" padded"');
  });

  it('keeps a spreadsheet from running a text field as a formula', () => {
    expect(csvField('=SUM(A1:A9)')).toBe("'=SUM(A1:A9)");
    expect(csvField('+cmd')).toBe("'+cmd");
    expect(csvField('@x')).toBe("'@x");
    expect(csvField('-1+2')).toBe("'-1+2");
    expect(csvField('=1,2')).toBe(`"'=1,2"`);
  });

  it('writes empty for null', () => {
    expect(toCsv([['a', null, undefined]])).toBe('a,,\r\n');
  });
});

describe('majorUnits', () => {
  it('is exact, with the currency’s decimals and no grouping', () => {
    expect(majorUnits(123456789, 'USD')).toBe('1234567.89');
    expect(majorUnits(5, 'USD')).toBe('0.05');
    expect(majorUnits(-2500, 'USD')).toBe('-25.00');
    expect(majorUnits(0, 'USD')).toBe('0.00');
    expect(majorUnits(1234, 'JPY')).toBe('1234');
    expect(majorUnits(1234, 'BHD')).toBe('1.234');
    // 0.1 + 0.2 style float error would show here.
    expect(majorUnits(900719925474099, 'USD')).toBe('9007199254740.99');
  });
});

describe('revenueCsv', () => {
  it('has a header and one line per month, in the order given', () => {
    const csv = revenueCsv(
      [
        { month: '2026-02', amount_cents: 250_000 },
        { month: '2026-01', amount_cents: -1_050 },
      ],
      'USD',
    );
    expect(csv).toBe('month,amount,currency\r\n2026-02,2500.00,USD\r\n2026-01,-10.50,USD\r\n');
  });
});

describe('csvFileName', () => {
  it('names the organization and the range', () => {
    expect(csvFileName('Acme Corp', { from: '2025-12', to: '2026-11' })).toBe('revenue-acme-corp-2025-12-to-2026-11.csv');
    expect(csvFileName('Société Générale / R&D', { from: '2026-03', to: '2026-03' })).toBe(
      'revenue-societe-generale-r-d-2026-03.csv',
    );
    expect(csvFileName('***', { from: '2026-01', to: '2026-02' })).toBe('revenue-2026-01-to-2026-02.csv');
  });
});

describe('parseMajorUnits', () => {
  it('turns a typed amount into exact minor units', () => {
    expect(parseMajorUnits('12345.67', 'USD')).toBe(1234567);
    expect(parseMajorUnits(' -80 ', 'USD')).toBe(-8000);
    expect(parseMajorUnits('0.5', 'USD')).toBe(50);
    expect(parseMajorUnits('1,234,567.8', 'USD')).toBe(123456780);
    expect(parseMajorUnits('1234', 'JPY')).toBe(1234);
    expect(parseMajorUnits('-0', 'USD')).toBe(0);
  });

  it('refuses what is not a number with at most the currency’s decimals', () => {
    for (const text of ['', 'abc', '12,5', '1.234', '1e5', '12.5.1', '1,23', '--1', '$5']) {
      expect(parseMajorUnits(text, 'USD'), text).toBeNull();
    }
    expect(parseMajorUnits('1.5', 'JPY')).toBeNull();
  });
});

describe('parseCsvLines', () => {
  it('numbers lines as an editor does, skipping blank ones', () => {
    expect(parseCsvLines('\uFEFFmonth,amount\r\n2026-01,10\r\n\r\n2026-02,"1,5"\n')).toEqual([
      { line: 1, fields: ['month', 'amount'] },
      { line: 2, fields: ['2026-01', '10'] },
      { line: 4, fields: ['2026-02', '1,5'] },
    ]);
  });

  it('reads quotes doubled inside quoted fields and a last line without a line end', () => {
    expect(parseCsvLines('a,"say ""hi"""\nb,2')).toEqual([
      { line: 1, fields: ['a', 'say "hi"'] },
      { line: 2, fields: ['b', '2'] },
    ]);
  });
});
