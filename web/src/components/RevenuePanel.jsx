import { useState } from 'react';
import { formatAmount, formatMonth } from '../format.js';
import { describeError, isTemporarilyUnavailable } from '../messages.js';
import { useRevenue } from '../useRevenue.js';
import ErrorNotice from './ErrorNotice.jsx';
import RevenueChart from './RevenueChart.jsx';
import RevenueTable from './RevenueTable.jsx';

// The organization's revenue: month filters, a reload button, then the data
// (or why there is none).
export default function RevenuePanel({ api }) {
  const [range, setRange] = useState({ from: '', to: '' });
  // The server would answer 400; saying so here is quicker and clearer.
  const rangeReversed = Boolean(range.from && range.to && range.from > range.to);
  const { revenue, error, loading, reload } = useRevenue(api, range, { skip: rangeReversed });

  if (error?.code === 'insufficient_scope') {
    return (
      <section className="card" data-testid="no-access">
        <h2>Revenue</h2>
        <p>{describeError(error)} Ask an administrator for the finance role if you need it.</p>
      </section>
    );
  }

  return (
    <section className="card revenue-panel" aria-busy={loading}>
      <div className="revenue-controls">
        <MonthInput
          label="From"
          value={range.from}
          onChange={(from) => setRange({ ...range, from })}
          testId="revenue-from"
        />
        <MonthInput
          label="To"
          value={range.to}
          onChange={(to) => setRange({ ...range, to })}
          testId="revenue-to"
        />
        <button
          type="button"
          onClick={reload}
          disabled={loading || rangeReversed}
          data-testid="revenue-reload"
        >
          Reload
        </button>
        {loading && (
          <span role="status" data-testid="revenue-loading">
            Loading revenue…
          </span>
        )}
      </div>
      {rangeReversed ? (
        <p className="notice notice-error" role="alert" data-testid="range-error">
          The “From” month must not be after the “To” month.
        </p>
      ) : isTemporarilyUnavailable(error) ? (
        // Retried by itself; what was loaded before stays (it was valid).
        <>
          <ErrorNotice error={error} onRetry={reload} testId="revenue-error" retrying />
          {revenue && <RevenueReport revenue={revenue} />}
        </>
      ) : error ? (
        <ErrorNotice error={error} onRetry={reload} testId="revenue-error" />
      ) : (
        revenue && <RevenueReport revenue={revenue} />
      )}
    </section>
  );
}

function MonthInput({ label, value, onChange, testId }) {
  return (
    <label>
      {label}
      <input
        type="month"
        value={value}
        onChange={(event) => onChange(event.target.value)}
        data-testid={testId}
      />
    </label>
  );
}

function RevenueReport({ revenue }) {
  const { organization, currency, from, to, months, total_cents: totalCents } = revenue;
  return (
    <>
      <h2>
        {organization.name} revenue
        {from && to && (
          <small>
            {' '}
            {formatMonth(from)} – {formatMonth(to)}
          </small>
        )}
      </h2>
      {months.length === 0 ? (
        <p data-testid="revenue-empty">No revenue recorded for these months.</p>
      ) : (
        <>
          <p className="revenue-total">
            Total <strong data-testid="revenue-total">{formatAmount(totalCents, currency)}</strong>
          </p>
          <RevenueChart months={months} currency={currency} />
          <RevenueTable months={months} currency={currency} totalCents={totalCents} />
        </>
      )}
    </>
  );
}
