import { act, useState } from 'react';
import { describe, expect, it } from 'vitest';
import { formatAmount } from '../format.js';
import { click, render } from '../test/dom.js';
import Headline from './Headline.jsx';
import RevenueChart from './RevenueChart.jsx';
import RevenueTable from './RevenueTable.jsx';
import { summarize } from '../figures.js';

const MONTHS = [
  { month: '2025-01', amount_cents: 100_000 },
  { month: '2025-02', amount_cents: 250_000 },
  { month: '2025-03', amount_cents: 0 },
  { month: '2025-04', amount_cents: -5_000 },
];
const RANGE = { from: '2025-01', to: '2025-05' };

async function key(element, name) {
  await act(async () => element.dispatchEvent(new KeyboardEvent('keydown', { key: name, bubbles: true })));
}

async function focus(element) {
  await act(async () => element.focus());
}

describe('RevenueChart', () => {
  it('draws a bar per month with revenue on a labelled currency axis with gridlines', async () => {
    const { byTestId, allByTestId } = await render(<RevenueChart months={MONTHS} range={RANGE} currency="USD" />);

    const chart = byTestId('revenue-chart');
    expect(chart.getAttribute('role')).toBe('group');
    const caption = byTestId('revenue-chart-figure').querySelector('figcaption');
    expect(chart.getAttribute('aria-describedby')).toBe(caption.id);
    expect(caption.textContent).toContain('4 of 5 months with revenue');
    expect(caption.textContent).toContain(`highest February 2025 at ${formatAmount(250_000, 'USD')}`);
    expect(caption.textContent).toContain(`lowest April 2025 at ${formatAmount(-5_000, 'USD')}`);

    // Ticks from below the loss to above the best month, compact currency labels.
    const ticks = allByTestId('chart-tick').map((tick) => tick.textContent);
    expect(ticks).toEqual(['-$1K', '$0', '$1K', '$2K', '$3K']);
    expect(chart.querySelectorAll('.chart-grid line')).toHaveLength(4);
    expect(chart.querySelectorAll('.chart-zero line')).toHaveLength(1);

    const bars = allByTestId('revenue-bar');
    expect(bars.map((bar) => bar.dataset.month)).toEqual(['2025-01', '2025-02', '2025-03', '2025-04']);
    const heights = bars.map((bar) => Number(bar.getAttribute('height')));
    expect(heights[0]).toBeCloseTo(heights[1] * 0.4);
    expect(heights[2]).toBe(0);
    // The loss goes below the zero line.
    const zeroY = Number(chart.querySelector('.chart-zero line').getAttribute('y1'));
    expect(Number(bars[3].getAttribute('y'))).toBeCloseTo(zeroY);
    expect(heights[3]).toBeCloseTo(heights[1] * 0.02);

    // Every month of the range is a stop, with or without revenue.
    const slots = allByTestId('chart-slot');
    expect(slots.map((slot) => slot.getAttribute('aria-label'))).toEqual([
      `January 2025: ${formatAmount(100_000, 'USD')}`,
      `February 2025: ${formatAmount(250_000, 'USD')}`,
      `March 2025: ${formatAmount(0, 'USD')}`,
      `April 2025: ${formatAmount(-5_000, 'USD')}`,
      'May 2025: no revenue recorded',
    ]);
  });

  it('has one Tab stop, moves with the arrow keys, Home and End, and shows the value of the month in focus', async () => {
    const { byTestId, allByTestId } = await render(<RevenueChart months={MONTHS} range={RANGE} currency="USD" />);
    const slots = allByTestId('chart-slot');
    // The latest month with revenue takes the Tab stop.
    expect(slots.map((slot) => slot.getAttribute('tabindex'))).toEqual(['-1', '-1', '-1', '0', '-1']);
    expect(byTestId('chart-tooltip')).toBeNull();

    await focus(slots[3]);
    expect(byTestId('chart-tooltip').textContent).toBe(`April 2025${formatAmount(-5_000, 'USD')}`);
    await key(slots[3], 'ArrowLeft');
    expect(document.activeElement).toBe(slots[2]);
    expect(byTestId('chart-tooltip').textContent).toContain('March 2025');
    await key(slots[2], 'Home');
    expect(document.activeElement).toBe(slots[0]);
    await key(slots[0], 'ArrowLeft');
    expect(document.activeElement).toBe(slots[0]);
    await key(slots[0], 'End');
    expect(document.activeElement).toBe(slots[4]);
    expect(byTestId('chart-tooltip').textContent).toBe('May 2025no revenue recorded');
    expect(slots[4].getAttribute('tabindex')).toBe('0');
    expect(slots[3].getAttribute('tabindex')).toBe('-1');
  });

  it('shows a month’s value on hover', async () => {
    const { byTestId, allByTestId } = await render(<RevenueChart months={MONTHS} range={RANGE} currency="USD" />);
    await act(async () => allByTestId('chart-slot')[1].dispatchEvent(new MouseEvent('mouseover', { bubbles: true })));
    expect(byTestId('chart-tooltip').textContent).toBe(`February 2025${formatAmount(250_000, 'USD')}`);
  });

  it('copes with a period of nothing but zeros', async () => {
    const { allByTestId } = await render(
      <RevenueChart months={[{ month: '2025-01', amount_cents: 0 }]} range={{ from: '2025-01', to: '2025-01' }} currency="USD" />,
    );
    expect(allByTestId('revenue-bar').map((bar) => bar.getAttribute('height'))).toEqual(['0']);
    expect(allByTestId('chart-tick').length).toBeGreaterThan(1);
  });
});

function SortableTable({ months }) {
  const [sort, setSort] = useState({ key: 'month', direction: 'asc' });
  return <RevenueTable months={months} currency="USD" totalCents={345_000} sort={sort} onSort={setSort} />;
}

describe('RevenueTable', () => {
  it('lists each month with its formatted amount, and the total', async () => {
    const { byTestId, allByTestId } = await render(<SortableTable months={MONTHS} />);

    const rows = allByTestId('revenue-row');
    expect(rows).toHaveLength(4);
    expect(rows[0].querySelector('th').textContent).toBe('January 2025');
    expect(rows[0].querySelector('td').textContent).toBe(formatAmount(100_000, 'USD'));
    expect(rows[3].querySelector('td').textContent).toBe(formatAmount(-5_000, 'USD'));
    expect(byTestId('revenue-table').querySelector('tfoot td').textContent).toBe(formatAmount(345_000, 'USD'));
  });

  it('sorts by amount and by month, saying so to assistive technology', async () => {
    const { byTestId, allByTestId } = await render(<SortableTable months={MONTHS} />);
    const months = () => allByTestId('revenue-row').map((row) => row.dataset.month);
    const sortOf = (key) => byTestId(`sort-${key}`).closest('th').getAttribute('aria-sort');
    expect(sortOf('month')).toBe('ascending');
    expect(sortOf('amount')).toBe('none');

    await click(byTestId('sort-amount'));
    expect(months()).toEqual(['2025-04', '2025-03', '2025-01', '2025-02']);
    expect(sortOf('amount')).toBe('ascending');
    expect(sortOf('month')).toBe('none');

    await click(byTestId('sort-amount'));
    expect(months()).toEqual(['2025-02', '2025-01', '2025-03', '2025-04']);
    expect(sortOf('amount')).toBe('descending');

    await click(byTestId('sort-month'));
    expect(months()).toEqual(['2025-01', '2025-02', '2025-03', '2025-04']);
    await click(byTestId('sort-month'));
    expect(months()).toEqual(['2025-04', '2025-03', '2025-02', '2025-01']);
  });

  it('closes quarters and years with subtotals in month order, and drops them when sorted by amount', async () => {
    const months = [
      { month: '2024-11', amount_cents: 1_000 },
      { month: '2024-12', amount_cents: 2_000 },
      { month: '2025-01', amount_cents: 4_000 },
    ];
    const { byTestId, allByTestId } = await render(<SortableTable months={months} />);
    const quarters = allByTestId('subtotal-quarter');
    expect(quarters.map((row) => row.textContent)).toEqual([
      `Q4 2024 subtotal (2 months)${formatAmount(3_000, 'USD')}`,
      `Q1 2025 subtotal (1 month)${formatAmount(4_000, 'USD')}`,
    ]);
    expect(allByTestId('subtotal-year').map((row) => row.querySelector('td').textContent)).toEqual([
      formatAmount(3_000, 'USD'),
      formatAmount(4_000, 'USD'),
    ]);

    await click(byTestId('sort-amount'));
    expect(allByTestId('subtotal-quarter')).toHaveLength(0);
    expect(byTestId('revenue-table').querySelector('caption').textContent).toContain('subtotals appear when sorted by month');
  });
});

describe('Headline', () => {
  const loaded = [
    { month: '2025-01', amount_cents: 100_000 },
    { month: '2025-02', amount_cents: 200_000 },
    { month: '2025-03', amount_cents: 300_000 },
    { month: '2025-04', amount_cents: 600_000 },
  ];

  it('shows total, average, the change on the previous period and year to date', async () => {
    const range = { from: '2025-03', to: '2025-04' };
    const { byTestId } = await render(
      <Headline summary={summarize(loaded, range)} range={range} currency="USD" />,
    );
    expect(byTestId('revenue-total').textContent).toBe(formatAmount(900_000, 'USD'));
    expect(byTestId('revenue-average').textContent).toBe(formatAmount(450_000, 'USD'));
    // 900 000 against 300 000 two months earlier: +200 %.
    expect(byTestId('change-previous').textContent).toBe('▲ +200%');
    expect(byTestId('change-previous').nextSibling.textContent).toContain(`+${formatAmount(600_000, 'USD')} vs Jan – Feb 2025`);
    expect(byTestId('revenue-ytd').textContent).toBe(formatAmount(1_200_000, 'USD'));
  });

  it('shows – and which month is missing rather than compare with a made-up 0', async () => {
    const range = { from: '2025-03', to: '2025-04' };
    const { byTestId } = await render(
      <Headline summary={summarize(loaded, range)} range={range} currency="USD" />,
    );
    expect(byTestId('change-year').textContent).toBe('–');
    expect(byTestId('change-year').nextSibling.textContent).toBe(
      'Mar – Apr 2024: no revenue recorded for Mar 2024 and 1 more month',
    );
  });

  it('marks a fall', async () => {
    const range = { from: '2025-02', to: '2025-02' };
    const falling = [
      { month: '2025-01', amount_cents: 400_000 },
      { month: '2025-02', amount_cents: 300_000 },
    ];
    const { byTestId } = await render(
      <Headline summary={summarize(falling, range)} range={range} currency="USD" />,
    );
    expect(byTestId('change-previous').textContent).toBe('▼ -25%');
    expect(byTestId('change-previous').closest('.figure').className).toContain('figure-down');
  });
});
