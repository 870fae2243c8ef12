import { act } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, render } from './test/dom.js';
import { MONTH_CHECK_MS, useCurrentMonth } from './useCurrentMonth.js';

function Month({ fixed }) {
  return <span data-testid="month">{useCurrentMonth(fixed)}</span>;
}

describe('useCurrentMonth', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    // Half a minute before the end of November, on the user's calendar.
    vi.setSystemTime(new Date(2026, 10, 30, 23, 59, 30));
  });
  afterEach(() => {
    cleanup();
    vi.useRealTimers();
  });

  it('moves on to the new month in a page left open', async () => {
    const { byTestId } = await render(<Month />);
    expect(byTestId('month').textContent).toBe('2026-11');
    await act(async () => vi.advanceTimersByTimeAsync(MONTH_CHECK_MS));
    expect(byTestId('month').textContent).toBe('2026-12');
  });

  it('notices at once when the page is shown again', async () => {
    const { byTestId } = await render(<Month />);
    vi.setSystemTime(new Date(2027, 0, 2, 9, 0, 0)); // the laptop slept over New Year
    await act(async () => document.dispatchEvent(new Event('visibilitychange')));
    expect(byTestId('month').textContent).toBe('2027-01');
  });

  it('keeps a fixed month', async () => {
    const { byTestId } = await render(<Month fixed="2025-06" />);
    await act(async () => vi.advanceTimersByTimeAsync(3 * MONTH_CHECK_MS));
    expect(byTestId('month').textContent).toBe('2025-06');
  });
});
