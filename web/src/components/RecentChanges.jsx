import { useCallback, useEffect, useRef, useState } from 'react';
import { formatAmount, formatDateTime, formatMonth } from '../format.js';
import { describeError } from '../messages.js';
import { settle, useLatest } from '../useLatest.js';
import ErrorNotice from './ErrorNotice.jsx';

// Changes a page asks for; "Show more" asks for the next as many.
export const CHANGES_PAGE_SIZE = 20;

const SOURCES = { api: 'API', import: 'CSV import', cli: 'command line' };

// "$1,000.00 → $1,234.00"; a month that had no figure was added, one that
// has none now was removed.
export function describeChange(change, currency) {
  const { old_amount_cents: before, new_amount_cents: after } = change;
  if (before === null && after === null) return '–';
  if (before === null) return `Added ${formatAmount(after, currency)}`;
  if (after === null) return `Removed ${formatAmount(before, currency)}`;
  return `${formatAmount(before, currency)} → ${formatAmount(after, currency)}`;
}

export function describeActor(actor) {
  if (actor?.type === 'user') return actor.email;
  if (actor?.type === 'cli') return `${actor.os_user} (operator)`;
  return 'unknown';
}

// For admins, under the figures: who changed which month, from what to what,
// how and when (GET /revenue/changes), newest first, a page at a time.
// `version` is the figures' ETag: a new one (the admin's own edit, removal or
// import, or another's change that a reload found) loads the newest again.
export default function RecentChanges({ api, currency, version }) {
  // {changes, next}: what is shown, and the cursor of the page after it.
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const [moreError, setMoreError] = useState(null);
  const [loadingMore, setLoadingMore] = useState(false);
  // Where the page "Show more" brought starts: that row gets the focus.
  const [firstNew, setFirstNew] = useState(null);
  const firstNewRow = useRef(null);
  const heading = useRef(null);
  // A page asked for before the latest first-page load is dropped (a "Show
  // more" too, which would continue an older list).
  const { begin, current } = useLatest();

  const load = useCallback(async () => {
    const isLatest = begin();
    setLoading(true);
    setLoadingMore(false);
    setMoreError(null);
    setFirstNew(null);
    await settle(isLatest, api.getRevenueChanges({ limit: CHANGES_PAGE_SIZE }), {
      onValue: (page) => {
        setList({ changes: page.changes, next: page.next_cursor });
        setError(null);
      },
      onError: setError,
      onDone: () => setLoading(false),
    });
  }, [api, begin]);

  useEffect(() => {
    load();
    // `version` is no input of load(); a new one is the reason to load again.
  }, [load, version]);

  useEffect(() => {
    if (firstNew === null) return;
    // The button that had the focus may be gone (no more pages): the
    // keyboard goes on from the first row that came in, or stays in the
    // section when the page was empty.
    (firstNewRow.current ?? heading.current)?.focus();
  }, [firstNew]);

  async function showMore() {
    setLoadingMore(true);
    setMoreError(null);
    await settle(current(), api.getRevenueChanges({ cursor: list.next, limit: CHANGES_PAGE_SIZE }), {
      onValue: (page) => {
        const seen = new Set(list.changes.map((change) => change.id));
        setFirstNew(list.changes.length);
        setList({
          changes: [...list.changes, ...page.changes.filter((change) => !seen.has(change.id))],
          next: page.next_cursor,
        });
      },
      onError: setMoreError,
      onDone: () => setLoadingMore(false),
    });
  }

  return (
    <section className="recent-changes" aria-labelledby="recent-changes-title" data-testid="recent-changes">
      <h3 id="recent-changes-title" ref={heading} tabIndex={-1}>
        Recent changes
      </h3>
      {loading && (
        <p className="updating" role="status" data-testid="changes-loading">
          {list ? 'Updating…' : 'Loading the changes…'}
        </p>
      )}
      {error && (
        <ErrorNotice
          error={error}
          onRetry={load}
          testId="changes-error"
          context="Could not load the recent changes."
        />
      )}
      {list && list.changes.length === 0 && (
        <p className="hint" data-testid="changes-empty">
          No change recorded yet: edits, removals and imports appear here.
        </p>
      )}
      {list && list.changes.length > 0 && (
        <table className="changes-table" data-testid="changes-table">
          <caption>Changes to the figures, newest first ({currency})</caption>
          <thead>
            <tr>
              <th scope="col">Month</th>
              <th scope="col">Change</th>
              <th scope="col">By</th>
              <th scope="col">How</th>
              <th scope="col">When</th>
            </tr>
          </thead>
          <tbody>
            {list.changes.map((change, index) => (
              <tr
                key={change.id}
                ref={index === firstNew ? firstNewRow : undefined}
                tabIndex={index === firstNew ? -1 : undefined}
                data-testid="change-row"
                data-month={change.month}
              >
                <th scope="row">{formatMonth(change.month)}</th>
                <td data-testid="change-amounts">{describeChange(change, currency)}</td>
                <td className="change-actor" data-testid="change-actor">
                  {describeActor(change.actor)}
                </td>
                <td data-testid="change-source">{SOURCES[change.source] ?? change.source}</td>
                <td>
                  <time dateTime={change.changed_at}>{formatDateTime(change.changed_at)}</time>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {moreError && (
        <p className="notice notice-error" role="alert" data-testid="changes-more-error">
          Could not load more changes. {describeError(moreError)}
        </p>
      )}
      {list?.next && (
        <button
          type="button"
          className="secondary"
          onClick={showMore}
          disabled={loadingMore}
          data-testid="changes-more"
        >
          {loadingMore ? 'Loading…' : 'Show more'}
        </button>
      )}
    </section>
  );
}
