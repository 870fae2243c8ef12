import { formatAmount, formatCompactAmount, formatMonth } from '../format.js';

// Drawing units; the SVG scales to its container through viewBox.
const WIDTH = 640;
const HEIGHT = 240;
const PAD = { top: 20, right: 8, bottom: 24, left: 8 };
const PLOT_WIDTH = WIDTH - PAD.left - PAD.right;
const PLOT_HEIGHT = HEIGHT - PAD.top - PAD.bottom;
// About a dozen axis labels fit under the bars without overlapping.
const MAX_LABELS = 12;

// One bar per month, scaled to the best month. role="img" makes screen readers
// read the summary in aria-label; the table next to it has every number.
export default function RevenueChart({ months, currency }) {
  const peak = Math.max(0, ...months.map((m) => m.amount_cents));
  const slot = PLOT_WIDTH / months.length;
  const barWidth = slot * 0.7;
  const labelEvery = Math.ceil(months.length / MAX_LABELS);
  const baseline = PAD.top + PLOT_HEIGHT;

  const summary =
    `Bar chart of monthly revenue from ${formatMonth(months[0].month)} ` +
    `to ${formatMonth(months.at(-1).month)}, ${months.length} months; ` +
    `best month ${formatAmount(peak, currency)}.`;

  return (
    <svg
      className="revenue-chart"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      role="img"
      aria-label={summary}
      data-testid="revenue-chart"
    >
      <line className="chart-peak" x1={PAD.left} x2={WIDTH - PAD.right} y1={PAD.top} y2={PAD.top} />
      <text className="chart-peak-label" x={PAD.left} y={PAD.top - 6}>
        {formatCompactAmount(peak, currency)}
      </text>
      {months.map((entry, index) => {
        // Negative months (refunds) have no bar rather than one below the axis.
        const height = peak > 0 ? (Math.max(0, entry.amount_cents) / peak) * PLOT_HEIGHT : 0;
        const x = PAD.left + index * slot + (slot - barWidth) / 2;
        return (
          <g key={entry.month}>
            <rect
              className="chart-bar"
              x={x}
              y={baseline - height}
              width={barWidth}
              height={height}
              data-testid="revenue-bar"
            >
              <title>{`${formatMonth(entry.month)}: ${formatAmount(entry.amount_cents, currency)}`}</title>
            </rect>
            {index % labelEvery === 0 && (
              <text className="chart-label" x={x + barWidth / 2} y={HEIGHT - 8} textAnchor="middle">
                {formatMonth(entry.month, undefined, { month: 'short', year: '2-digit' })}
              </text>
            )}
          </g>
        );
      })}
      <line className="chart-axis" x1={PAD.left} x2={WIDTH - PAD.right} y1={baseline} y2={baseline} />
    </svg>
  );
}
