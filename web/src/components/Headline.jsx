import { formatAmount, formatChangePercent, formatMonth, formatSignedAmount } from '../format.js';
import { describeRange } from '../ranges.js';

// The figures a finance reader looks at first, for the range shown: total,
// average per month, change against the previous period of the same length
// and against a year earlier, and the year to date.
export default function Headline({ summary, range, currency }) {
  const { months, total, average, previous, yearAgo, ytd } = summary;
  const count = (n) => `${n} ${n === 1 ? 'month' : 'months'}`;
  return (
    <dl className="headline" data-testid="headline">
      <Figure label="Total" testId="revenue-total" value={formatAmount(total, currency)}>
        {describeRange(range)} · {count(months.length)} with revenue
      </Figure>
      <Figure label="Average per month" testId="revenue-average" value={formatAmount(average, currency)}>
        over {count(months.length)}
      </Figure>
      <Change label="vs previous period" testId="change-previous" comparison={previous} currency={currency} />
      <Change label="vs a year earlier" testId="change-year" comparison={yearAgo} currency={currency} />
      <Figure label={`Year to date ${ytd.year}`} testId="revenue-ytd" value={formatAmount(ytd.total, currency)}>
        {ytd.months.length > 0
          ? `${describeRange({ from: ytd.months[0].month, to: ytd.months.at(-1).month })}`
          : 'no revenue yet this year'}
        {ytd.yearAgo?.percent != null && ` · ${formatChangePercent(ytd.yearAgo.percent)} on ${ytd.year - 1}`}
      </Figure>
    </dl>
  );
}

function Figure({ label, value, testId, children, tone }) {
  return (
    <div className={`figure${tone ? ` figure-${tone}` : ''}`}>
      <dt>{label}</dt>
      <dd className="figure-value" data-testid={testId}>
        {value}
      </dd>
      <dd className="figure-note">{children}</dd>
    </div>
  );
}

// A change, or "–" and why when the earlier months have no revenue: a missing
// month is not a 0.
function Change({ label, testId, comparison, currency }) {
  if (!comparison) return null;
  const period = describeRange(comparison.period);
  if (comparison.change === null) {
    const [first] = comparison.missing;
    const more = comparison.missing.length - 1;
    return (
      <Figure label={label} testId={testId} value="–">
        {period}: no revenue recorded for {formatMonth(first)}
        {more > 0 && ` and ${more} more ${more === 1 ? 'month' : 'months'}`}
      </Figure>
    );
  }
  const { change, percent } = comparison;
  const tone = change > 0 ? 'up' : change < 0 ? 'down' : undefined;
  const arrow = change > 0 ? '▲ ' : change < 0 ? '▼ ' : '';
  return (
    <Figure
      label={label}
      testId={testId}
      tone={tone}
      value={
        <>
          <span aria-hidden="true">{arrow}</span>
          {percent === null ? formatSignedAmount(change, currency) : formatChangePercent(percent)}
        </>
      }
    >
      {percent === null ? `from ${formatAmount(0, currency)} in ${period}` : `${formatSignedAmount(change, currency)} vs ${period}`}
    </Figure>
  );
}
