import { describe, expect, it } from 'vitest';
import { formatAmount } from '../format.js';
import { render } from '../test/dom.js';
import RevenueChart from './RevenueChart.jsx';
import RevenueTable from './RevenueTable.jsx';

const MONTHS = [
  { month: '2025-01', amount_cents: 100_000 },
  { month: '2025-02', amount_cents: 250_000 },
  { month: '2025-03', amount_cents: 0 },
  { month: '2025-04', amount_cents: -5_000 },
];

describe('RevenueChart', () => {
  it('draws one bar per month, the best month full height', async () => {
    const { byTestId, allByTestId } = await render(<RevenueChart months={MONTHS} currency="USD" />);

    const chart = byTestId('revenue-chart');
    expect(chart.getAttribute('role')).toBe('img');
    expect(chart.getAttribute('aria-label')).toContain('4 months');
    expect(chart.getAttribute('aria-label')).toContain(formatAmount(250_000, 'USD'));

    const bars = allByTestId('revenue-bar');
    expect(bars).toHaveLength(4);
    const heights = bars.map((bar) => Number(bar.getAttribute('height')));
    expect(heights[1]).toBeGreaterThan(heights[0]);
    expect(heights[0]).toBeCloseTo(heights[1] * 0.4);
    expect(heights[2]).toBe(0);
    expect(heights[3]).toBe(0);
    expect(bars[1].querySelector('title').textContent).toBe(`Feb 2025: ${formatAmount(250_000, 'USD')}`);
  });

  it('copes with a period of nothing but zeros', async () => {
    const { allByTestId } = await render(
      <RevenueChart months={[{ month: '2025-01', amount_cents: 0 }]} currency="USD" />,
    );
    expect(allByTestId('revenue-bar').map((bar) => bar.getAttribute('height'))).toEqual(['0']);
  });
});

describe('RevenueTable', () => {
  it('lists each month with its formatted amount, and the total', async () => {
    const { byTestId, allByTestId } = await render(
      <RevenueTable months={MONTHS} currency="USD" totalCents={345_000} />,
    );

    const rows = allByTestId('revenue-row');
    expect(rows).toHaveLength(4);
    expect(rows[0].querySelector('th').textContent).toBe('January 2025');
    expect(rows[0].querySelector('td').textContent).toBe(formatAmount(100_000, 'USD'));
    expect(rows[3].querySelector('td').textContent).toBe(formatAmount(-5_000, 'USD'));
    expect(byTestId('revenue-table').querySelector('tfoot td').textContent).toBe(
      formatAmount(345_000, 'USD'),
    );
  });
});
