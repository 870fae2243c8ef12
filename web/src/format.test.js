import { describe, expect, it } from 'vitest';
import {
  formatAmount,
  formatChangePercent,
  formatCompactAmount,
  formatDateTime,
  formatMonth,
  formatSignedAmount,
} from './format.js';

describe('formatAmount', () => {
  it('turns cents into dollars', () => {
    expect(formatAmount(123456789, 'USD', 'en-US')).toBe('$1,234,567.89');
    expect(formatAmount(5, 'USD', 'en-US')).toBe('$0.05');
    expect(formatAmount(0, 'USD', 'en-US')).toBe('$0.00');
  });

  it('shows negative amounts', () => {
    expect(formatAmount(-2500, 'USD', 'en-US')).toBe('-$25.00');
  });

  it('follows the currency’s own minor unit', () => {
    expect(formatAmount(1234, 'JPY', 'en-US')).toBe('¥1,234');
    expect(formatAmount(123456, 'EUR', 'de-DE')).toBe('1.234,56\u00a0€');
  });

  it('has a compact form for the chart axis', () => {
    expect(formatCompactAmount(123456789, 'USD', 'en-US')).toBe('$1.2M');
  });
});

describe('formatMonth', () => {
  it('formats a YYYY-MM month without time zone drift', () => {
    expect(formatMonth('2024-12', 'en-US')).toBe('Dec 2024');
    expect(formatMonth('2025-01', 'en-US', { month: 'long', year: 'numeric' })).toBe('January 2025');
  });
});

describe('axis and change formats', () => {
  it('drops needless decimals on the axis', () => {
    expect(formatCompactAmount(100_000, 'USD', 'en-US')).toBe('$1K');
    expect(formatCompactAmount(250_000, 'USD', 'en-US')).toBe('$2.5K');
    expect(formatCompactAmount(0, 'USD', 'en-US')).toBe('$0');
  });

  it('always signs a change', () => {
    expect(formatSignedAmount(120_000, 'USD', 'en-US')).toBe('+$1,200.00');
    expect(formatSignedAmount(-5_000, 'USD', 'en-US')).toBe('-$50.00');
    expect(formatSignedAmount(0, 'USD', 'en-US')).toBe('$0.00');
    expect(formatChangePercent(0.1234, 'en-US')).toBe('+12.3%');
    expect(formatChangePercent(-0.5, 'en-US')).toBe('-50%');
  });
});

describe('formatDateTime', () => {
  it('formats an API instant in the given time zone, and nothing for a missing one', () => {
    // Intl may put a narrow no-break space before AM/PM.
    const shown = (text) => text.replace(/\u202f/g, ' ');
    expect(shown(formatDateTime('2026-11-27T16:05:09Z', 'en-US', { timeZone: 'UTC' }))).toBe(
      'Nov 27, 2026, 4:05 PM',
    );
    expect(shown(formatDateTime('2026-11-27T16:05:09Z', 'en-US', { timeZone: 'America/New_York' }))).toBe(
      'Nov 27, 2026, 11:05 AM',
    );
    expect(formatDateTime(null, 'en-US')).toBe('');
    expect(formatDateTime('not a date', 'en-US')).toBe('');
  });
});
