import { useEffect, useState } from 'react';
import { csvFileName, downloadText, revenueCsv } from '../csv.js';
import { loadRangeFor, sortMonths, summarize } from '../figures.js';
import { describeError, isTemporarilyUnavailable } from '../messages.js';
import { defaultRange, describeRange } from '../ranges.js';
import { useCurrentMonth } from '../useCurrentMonth.js';
import { useRevenue } from '../useRevenue.js';
import { useUrlRange } from '../useUrlRange.js';
import AdminTools, { canWriteRevenue, EditableAmount } from './AdminTools.jsx';
import ErrorNotice from './ErrorNotice.jsx';
import Headline from './Headline.jsx';
import RangeControls from './RangeControls.jsx';
import RevenueChart from './RevenueChart.jsx';
import RevenueTable from './RevenueTable.jsx';

export const BASE_TITLE = 'Revenue dashboard';

// The organization's revenue for the range in the address: range controls,
// then the figures (or why there are none). Figures once shown stay through
// a reload, another range being loaded, or a failure, which is said above
// them with a way to try again.
// Admins (revenue:write) also edit months in the table and import CSV files.
export default function RevenuePanel({ api, user, onSignOut, today: fixedToday }) {
  const today = useCurrentMonth(fixedToday);
  const [range, setRange] = useUrlRange(today);
  const { revenue, loadedRange, error, loading, reload } = useRevenue(api, range, { widen: loadRangeFor });
  const [sort, setSort] = useState({ key: 'month', direction: 'asc' });

  useEffect(() => {
    if (revenue) document.title = `${revenue.organization.name} revenue, ${describeRange(loadedRange)} · ${BASE_TITLE}`;
    return () => {
      document.title = BASE_TITLE;
    };
  }, [revenue, loadedRange]);

  if (error?.code === 'insufficient_scope') {
    return <NoAccess error={error} onRetry={reload} onSignOut={onSignOut} loading={loading} />;
  }

  const canWrite = canWriteRevenue(user);
  // Written If-Match the figures on screen; a 412 (changed meanwhile) reloads
  // them so that the user sees what is there now before trying again.
  async function saveMonth(month, cents) {
    try {
      await api.setMonth(month, cents, { etag: revenue?.etag });
    } catch (saveError) {
      if (saveError.code === 'precondition_failed') reload();
      throw saveError;
    }
    reload();
  }

  const stale = revenue && (loadedRange.from !== range.from || loadedRange.to !== range.to);
  return (
    <section className="card revenue-panel" aria-busy={loading} aria-label="Revenue">
      <RangeControls range={range} today={today} onChange={setRange} onReload={reload} loading={loading} />
      {error && (
        <ErrorNotice
          error={error}
          onRetry={reload}
          testId="revenue-error"
          retrying={isTemporarilyUnavailable(error)}
          context={`Could not load the revenue for ${describeRange(range)}.`}
        />
      )}
      {loading && (
        <p className="updating" role="status" data-testid="revenue-loading">
          {revenue ? 'Updating…' : 'Loading revenue…'}
        </p>
      )}
      {!revenue && loading && <ReportSkeleton />}
      {revenue && (
        <RevenueReport
          revenue={revenue}
          range={loadedRange}
          stale={stale}
          sort={sort}
          onSort={setSort}
          onShowDefault={
            rangeIs(loadedRange, defaultRange(today)) ? null : () => setRange(defaultRange(today))
          }
          renderAmount={
            canWrite
              ? (entry) => <EditableAmount entry={entry} currency={revenue.currency} onSave={saveMonth} />
              : undefined
          }
        />
      )}
      {revenue && canWrite && (
        <AdminTools api={api} currency={revenue.currency} onSave={saveMonth} onChanged={reload} />
      )}
    </section>
  );
}

function rangeIs(a, b) {
  return a.from === b.from && a.to === b.to;
}

function NoAccess({ error, onRetry, onSignOut, loading }) {
  return (
    <section className="card" data-testid="no-access">
      <h2>Revenue</h2>
      <p>{describeError(error)} Ask an administrator for the finance role if you need it.</p>
      <div className="actions">
        <button type="button" onClick={onRetry} disabled={loading} data-testid="no-access-retry">
          Check again
        </button>
        {onSignOut && (
          <button type="button" className="secondary" onClick={onSignOut} data-testid="no-access-switch">
            Sign in as someone else
          </button>
        )}
      </div>
    </section>
  );
}

// Grey shapes where the figures, the chart and the table will be.
function ReportSkeleton() {
  return (
    <div className="skeleton" aria-hidden="true" data-testid="revenue-skeleton">
      <div className="skeleton-line skeleton-title" />
      <div className="headline">
        {[1, 2, 3, 4, 5].map((n) => (
          <div key={n} className="figure skeleton-block" />
        ))}
      </div>
      <div className="skeleton-block skeleton-chart" />
      {[1, 2, 3, 4].map((n) => (
        <div key={n} className="skeleton-line" />
      ))}
    </div>
  );
}

function RevenueReport({ revenue, range, stale, sort, onSort, onShowDefault, renderAmount }) {
  const { organization, currency } = revenue;
  const summary = summarize(revenue.months, range);
  const shown = summary.months;

  function exportCsv() {
    downloadText(revenueCsv(sortMonths(shown, sort), currency), csvFileName(organization.name, range));
  }

  return (
    <div className="revenue-report">
      <div className="report-heading">
        <h2>
          {organization.name} revenue <small data-testid="shown-range">{describeRange(range)}</small>
        </h2>
        {shown.length > 0 && (
          <div className="actions report-actions">
            <button type="button" className="secondary" onClick={exportCsv} data-testid="export-csv">
              Export CSV
            </button>
            <button type="button" className="secondary" onClick={() => window.print()} data-testid="print">
              Print
            </button>
          </div>
        )}
      </div>
      {stale && (
        <p className="notice" data-testid="stale-notice">
          Showing {describeRange(range)}, the last figures loaded.
        </p>
      )}
      {shown.length === 0 ? (
        <div className="empty" data-testid="revenue-empty">
          <p>No revenue recorded for {describeRange(range)}.</p>
          {onShowDefault ? (
            <button type="button" onClick={onShowDefault} data-testid="show-default-range">
              Show the last 12 months
            </button>
          ) : (
            <p>Months appear here once their revenue is recorded.</p>
          )}
        </div>
      ) : (
        <>
          <Headline summary={summary} range={range} currency={currency} />
          <RevenueChart months={shown} range={range} currency={currency} />
          <RevenueTable
            months={shown}
            currency={currency}
            totalCents={summary.total}
            sort={sort}
            onSort={onSort}
            renderAmount={renderAmount}
          />
        </>
      )}
    </div>
  );
}
