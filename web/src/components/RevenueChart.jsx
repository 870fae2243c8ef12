import { useId, useLayoutEffect, useRef, useState } from 'react';
import { niceTicks } from '../figures.js';
import { formatAmount, formatCompactAmount, formatMonth } from '../format.js';
import { monthsBetween } from '../months.js';
import { describeRange } from '../ranges.js';

const HEIGHT = 260;
const PAD = { top: 14, right: 8, bottom: 26 };
const FONT_PX = 12;
// Roughly what a "Jan 26" axis label needs.
const LABEL_PX = 52;
const DEFAULT_WIDTH = 640;

// The chart is drawn at the width it is given, in pixels, so that its text
// stays 12 px on a phone instead of shrinking with the drawing.
function useWidth() {
  const ref = useRef(null);
  const [width, setWidth] = useState(DEFAULT_WIDTH);
  useLayoutEffect(() => {
    const element = ref.current;
    const measure = () => {
      const measured = Math.floor(element.getBoundingClientRect().width);
      if (measured > 0) setWidth(measured);
    };
    measure();
    if (typeof ResizeObserver === 'undefined') return undefined;
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

const longMonth = (month) => formatMonth(month, undefined, { month: 'long', year: 'numeric' });

// One bar per month of the range, on a labelled currency axis with
// gridlines. Each month is a stop for the keyboard (arrow keys, Home, End;
// one Tab stop for the whole chart) and shows its value on hover and on
// focus; the caption sums the chart up in words, the table has every figure.
export default function RevenueChart({ months, range, currency }) {
  const [containerRef, width] = useWidth();
  const [active, setActive] = useState(null);
  const [focused, setFocused] = useState(false);
  const slotRefs = useRef([]);
  const captionId = useId();

  const amounts = new Map(months.map((entry) => [entry.month, entry.amount_cents]));
  const slots = monthsBetween(range.from, range.to).map((month) => ({ month, amount: amounts.get(month) ?? null }));
  const values = months.map((entry) => entry.amount_cents);
  const ticks = niceTicks(Math.min(0, ...values), Math.max(0, ...values), 4);
  const tickLabels = ticks.map((tick) => formatCompactAmount(tick, currency));
  const left = 10 + Math.max(...tickLabels.map((label) => label.length)) * FONT_PX * 0.62;
  const plotWidth = Math.max(width - left - PAD.right, 1);
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const top = ticks.at(-1);
  const bottom = ticks[0];
  const y = (value) => PAD.top + ((top - value) / (top - bottom)) * plotHeight;
  const slotWidth = plotWidth / slots.length;
  const barWidth = Math.max(slotWidth * 0.7, 1);
  const labelEvery = Math.ceil(slots.length / Math.max(1, Math.floor(plotWidth / LABEL_PX)));

  const best = months.reduce((a, b) => (b.amount_cents > a.amount_cents ? b : a));
  const worst = months.reduce((a, b) => (b.amount_cents < a.amount_cents ? b : a));
  const summary =
    `Bar chart of monthly revenue, ${describeRange(range)}: ${months.length} of ${slots.length} months ` +
    `with revenue; highest ${longMonth(best.month)} at ${formatAmount(best.amount_cents, currency)}, ` +
    `lowest ${longMonth(worst.month)} at ${formatAmount(worst.amount_cents, currency)}.`;

  // The one Tab stop: the month last looked at, else the latest with revenue.
  const lastWithRevenue = slots.findLastIndex((slot) => slot.amount !== null);
  const tabStop = active ?? Math.max(lastWithRevenue, 0);

  function moveTo(index) {
    const next = Math.min(Math.max(index, 0), slots.length - 1);
    setActive(next);
    slotRefs.current[next]?.focus();
  }

  function handleKeyDown(event) {
    const moves = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (event.key in moves) moveTo(tabStop + moves[event.key]);
    else if (event.key === 'Home') moveTo(0);
    else if (event.key === 'End') moveTo(slots.length - 1);
    else return;
    event.preventDefault();
  }

  const shown = active === null ? null : slots[active];
  const tipX = shown && Math.min(Math.max(left + (active + 0.5) * slotWidth, 70), width - 70);
  const tipY = shown && y(Math.max(shown.amount ?? 0, 0));

  return (
    <figure className="chart" data-testid="revenue-chart-figure">
      <div className="chart-area" ref={containerRef}>
        <svg
          className="revenue-chart"
          width={width}
          height={HEIGHT}
          viewBox={`0 0 ${width} ${HEIGHT}`}
          role="group"
          aria-label="Monthly revenue chart"
          aria-describedby={captionId}
          data-testid="revenue-chart"
          onKeyDown={handleKeyDown}
          onMouseLeave={() => {
            if (!focused) setActive(null);
          }}
        >
          {ticks.map((tick, index) => (
            <g key={tick} className={tick === 0 ? 'chart-zero' : 'chart-grid'} aria-hidden="true">
              <line x1={left} x2={width - PAD.right} y1={y(tick)} y2={y(tick)} />
              <text x={left - 6} y={y(tick)} dy="0.32em" textAnchor="end" data-testid="chart-tick">
                {tickLabels[index]}
              </text>
            </g>
          ))}
          {slots.map((slot, index) => {
            const x = left + index * slotWidth;
            const label =
              slot.amount === null
                ? `${longMonth(slot.month)}: no revenue recorded`
                : `${longMonth(slot.month)}: ${formatAmount(slot.amount, currency)}`;
            return (
              <g key={slot.month}>
                {slot.amount !== null && (
                  <rect
                    className="chart-bar"
                    x={x + (slotWidth - barWidth) / 2}
                    y={Math.min(y(slot.amount), y(0))}
                    width={barWidth}
                    height={Math.abs(y(slot.amount) - y(0))}
                    data-testid="revenue-bar"
                    data-month={slot.month}
                  />
                )}
                <rect
                  ref={(element) => {
                    slotRefs.current[index] = element;
                  }}
                  className={`chart-slot${index === active ? ' active' : ''}${index === active && focused ? ' focused' : ''}`}
                  x={x}
                  y={PAD.top}
                  width={slotWidth}
                  height={plotHeight}
                  role="img"
                  aria-label={label}
                  tabIndex={index === tabStop ? 0 : -1}
                  onMouseEnter={() => setActive(index)}
                  onFocus={() => {
                    setActive(index);
                    setFocused(true);
                  }}
                  onBlur={() => {
                    setFocused(false);
                    setActive(null);
                  }}
                  data-testid="chart-slot"
                />
                {index % labelEvery === 0 && (
                  <text
                    className="chart-label"
                    x={x + slotWidth / 2}
                    y={HEIGHT - 8}
                    textAnchor="middle"
                    aria-hidden="true"
                  >
                    {formatMonth(slot.month, undefined, { month: 'short', year: '2-digit' })}
                  </text>
                )}
              </g>
            );
          })}
        </svg>
        {shown && (
          <div
            className="chart-tooltip"
            style={{ left: `${tipX}px`, top: `${tipY}px` }}
            aria-hidden="true"
            data-testid="chart-tooltip"
          >
            <span>{longMonth(shown.month)}</span>
            <strong>{shown.amount === null ? 'no revenue recorded' : formatAmount(shown.amount, currency)}</strong>
          </div>
        )}
      </div>
      <figcaption className="chart-caption" id={captionId}>
        {summary} Use the arrow keys on the chart to read each month; the table lists every figure.
      </figcaption>
    </figure>
  );
}
