import { useEffect, useRef, useState } from 'react';
import { csvFileName, downloadText, revenueCsv } from '../csv.js';
import { loadRangeFor, sortMonths, summarize } from '../figures.js';
import { formatAmount, formatMonth } from '../format.js';
import { describeError, isTemporarilyUnavailable } from '../messages.js';
import { defaultRange, describeRange } from '../ranges.js';
import { useCurrentMonth } from '../useCurrentMonth.js';
import { useRevenue } from '../useRevenue.js';
import { useUrlRange } from '../useUrlRange.js';
import AdminTools, { canWriteRevenue, EditableAmount } from './AdminTools.jsx';
import ErrorNotice from './ErrorNotice.jsx';
import Headline from './Headline.jsx';
import RangeControls from './RangeControls.jsx';
import RecentChanges from './RecentChanges.jsx';
import RevenueChart from './RevenueChart.jsx';
import RevenueTable from './RevenueTable.jsx';
import SignOutButton from './SignOutButton.jsx';

export const BASE_TITLE = 'Revenue dashboard';

const longMonth = (month) => formatMonth(month, undefined, { month: 'long', year: 'numeric' });

// The organization's revenue for the range in the address: range controls,
// then the figures (or why there are none). Figures once shown stay through
// a reload, another range being loaded, or a failure, which is said above
// them with a way to try again.
// Admins (revenue:write) also edit and remove months in the table, import CSV
// files and see the recent changes.
export default function RevenuePanel({ api, user, onSignOut, today: fixedToday }) {
  const today = useCurrentMonth(fixedToday);
  const [range, setRange] = useUrlRange(today);
  const { revenue, loadedRange, error, loading, reload } = useRevenue(api, range, { widen: loadRangeFor });
  const [sort, setSort] = useState({ key: 'month', direction: 'asc' });
  // {error, text}: how the last removal of a month went.
  const [removal, setRemoval] = useState(null);
  const removalNotice = useRef(null);
  // The version of the figures (ETag) the next write is sent If-Match: the
  // latest load's, or the one the admin's own last write returned, whichever
  // came last. The reload after a write may fail and leave the figures on
  // screen one write behind, and they are the admin's own: the loaded
  // version would then earn a 412 that blames someone else.
  const baseVersion = useRef(null);
  useEffect(() => {
    baseVersion.current = revenue?.etag ?? null;
  }, [revenue]);
  // A write without an ETag in its answer leaves the version as it was: a
  // false 412 reloads, where no If-Match at all would overwrite others' work.
  function wrote(etag) {
    if (etag) baseVersion.current = etag;
  }

  // The focus goes to what a removal says: the month's row, and the button
  // that was pressed, may be gone.
  useEffect(() => {
    if (removal) removalNotice.current?.focus();
  }, [removal]);

  // Another range starts without it.
  useEffect(() => {
    setRemoval(null);
  }, [range.from, range.to]);

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
  // Written If-Match the figures on screen (baseVersion); a 412 (changed
  // meanwhile) reloads them so that the user sees what is there now before
  // trying again.
  async function saveMonth(month, cents) {
    try {
      const saved = await api.setMonth(month, cents, { etag: baseVersion.current });
      wrote(saved?.etag);
    } catch (saveError) {
      if (saveError.code === 'precondition_failed') reload();
      throw saveError;
    }
    reload();
  }

  // Removed If-Match the figures on screen too; a 412 and a 404 (no figure
  // to remove: gone meanwhile) reload them as well.
  async function removeMonth(month, cents) {
    const name = longMonth(month);
    try {
      const removed = await api.deleteMonth(month, { etag: baseVersion.current });
      wrote(removed?.etag);
      setRemoval({ error: false, text: `Removed ${name} (${formatAmount(cents, revenue.currency)}).` });
    } catch (removeError) {
      if (removeError.status === 404) {
        setRemoval({
          error: false,
          text: `${name} had no figure to remove; it may have been removed meanwhile. The figures are reloaded.`,
        });
      } else if (removeError.code === 'precondition_failed') {
        setRemoval({ error: true, text: describeError(removeError) });
      } else {
        setRemoval({ error: true, text: `Could not remove ${name}. ${describeError(removeError)}` });
        return;
      }
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
          notice={
            removal && (
              <p
                ref={removalNotice}
                tabIndex={-1}
                className={`notice removal-notice${removal.error ? ' notice-error' : ''}`}
                role={removal.error ? 'alert' : 'status'}
                data-testid="remove-message"
              >
                {removal.text}
              </p>
            )
          }
          renderAmount={
            canWrite
              ? (entry) => (
                  <EditableAmount
                    entry={entry}
                    currency={revenue.currency}
                    onSave={saveMonth}
                    onRemove={removeMonth}
                  />
                )
              : undefined
          }
        />
      )}
      {revenue && canWrite && (
        <AdminTools
          api={api}
          currency={revenue.currency}
          onSave={saveMonth}
          onChanged={(etag) => {
            wrote(etag);
            reload();
          }}
        />
      )}
      {revenue && canWrite && <RecentChanges api={api} currency={revenue.currency} version={revenue.etag} />}
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
          <SignOutButton onSignOut={onSignOut} className="secondary" testId="no-access-switch">
            Sign in as someone else
          </SignOutButton>
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

function RevenueReport({ revenue, range, stale, sort, onSort, onShowDefault, renderAmount, notice }) {
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
      {notice}
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
