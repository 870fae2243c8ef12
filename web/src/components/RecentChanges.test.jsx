import { useState } from 'react';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/problem.js';
import { formatAmount, formatDateTime } from '../format.js';
import { click, render, settle } from '../test/dom.js';
import RecentChanges, { CHANGES_PAGE_SIZE, describeActor, describeChange } from './RecentChanges.jsx';

const CAROL = { type: 'user', user_id: 'u3', email: 'carol@example.com' };

function change(id, month, before, after, { actor = CAROL, source = 'api' } = {}) {
  return {
    id: String(id),
    month,
    old_amount_cents: before,
    new_amount_cents: after,
    actor,
    source,
    request_id: source === 'cli' ? null : `req-${id}`,
    changed_at: `2026-11-${String(id).padStart(2, '0')}T10:00:00Z`,
  };
}

// Changes `total` down to 1 (change n: from n - 1 to n × $10), newest first, a page of `limit` at a time; the
// cursor is the id the next page starts below, as the server's is opaque.
function fakeApi(total = 25) {
  let all = Array.from({ length: total }, (_, i) => {
    const id = total - i;
    return change(id, '2026-01', (id - 1) * 1000, id * 1000);
  });
  return {
    add(entry) {
      all = [entry, ...all];
    },
    getRevenueChanges: vi.fn(async ({ cursor, limit = 50 } = {}) => {
      const start = cursor ? all.findIndex((c) => Number(c.id) < Number(cursor)) : 0;
      const changes = start < 0 ? [] : all.slice(start, start + limit);
      const more = start >= 0 && start + limit < all.length;
      return { changes, next_cursor: more ? changes.at(-1).id : null };
    }),
  };
}

// The section as the dashboard has it, with a way to give it a new version
// of the figures (a write, or a reload that found one).
function Harness({ api }) {
  const [version, setVersion] = useState('"rev-1"');
  return (
    <>
      <button type="button" data-testid="new-version" onClick={() => setVersion((v) => `${v}+`)}>
        new version
      </button>
      <RecentChanges api={api} currency="USD" version={version} />
    </>
  );
}

async function renderChanges(api) {
  const page = await render(<Harness api={api} />);
  await settle();
  return page;
}

const rowsText = (page) => page.allByTestId('change-row').map((row) => row.textContent);

describe('describeChange', () => {
  it('says added, removed, or from → to', () => {
    expect(describeChange(change(1, '2026-01', null, 123_456), 'USD')).toBe(
      `Added ${formatAmount(123_456, 'USD')}`,
    );
    expect(describeChange(change(2, '2026-01', 50_000, null), 'USD')).toBe(
      `Removed ${formatAmount(50_000, 'USD')}`,
    );
    expect(describeChange(change(3, '2026-01', 100, -250), 'USD')).toBe(
      `${formatAmount(100, 'USD')} → ${formatAmount(-250, 'USD')}`,
    );
  });

  it('names a user by email and an operator by account', () => {
    expect(describeActor(CAROL)).toBe('carol@example.com');
    expect(describeActor({ type: 'cli', os_user: 'deploy' })).toBe('deploy (operator)');
  });
});

describe('RecentChanges', () => {
  it('shows the newest changes: month, old → new, who, how and when', async () => {
    const api = {
      getRevenueChanges: vi.fn(async () => ({
        changes: [
          change(3, '2026-10', 120_000, null),
          change(2, '2026-09', null, 80_000, { source: 'import' }),
          change(1, '2026-08', 1_000, 2_000, { actor: { type: 'cli', os_user: 'ops' }, source: 'cli' }),
        ],
        next_cursor: null,
      })),
    };
    const page = await renderChanges(api);

    expect(api.getRevenueChanges).toHaveBeenCalledWith({ limit: CHANGES_PAGE_SIZE });
    const rows = page.allByTestId('change-row');
    expect(rows.map((row) => row.dataset.month)).toEqual(['2026-10', '2026-09', '2026-08']);
    expect(rows[0].querySelector('th').textContent).toBe('Oct 2026');
    expect(page.allByTestId('change-amounts').map((cell) => cell.textContent)).toEqual([
      `Removed ${formatAmount(120_000, 'USD')}`,
      `Added ${formatAmount(80_000, 'USD')}`,
      `${formatAmount(1_000, 'USD')} → ${formatAmount(2_000, 'USD')}`,
    ]);
    expect(page.allByTestId('change-actor').map((cell) => cell.textContent)).toEqual([
      'carol@example.com',
      'carol@example.com',
      'ops (operator)',
    ]);
    expect(page.allByTestId('change-source').map((cell) => cell.textContent)).toEqual([
      'API',
      'CSV import',
      'command line',
    ]);
    const when = rows[0].querySelector('time');
    expect(when.getAttribute('datetime')).toBe('2026-11-03T10:00:00Z');
    expect(when.textContent).toBe(formatDateTime('2026-11-03T10:00:00Z'));
    expect(page.byTestId('changes-more')).toBeNull();
  });

  it('says when there is none yet', async () => {
    const page = await renderChanges(fakeApi(0));
    expect(page.byTestId('changes-empty').textContent).toContain('No change recorded yet');
    expect(page.byTestId('changes-table')).toBeNull();
    expect(page.byTestId('changes-more')).toBeNull();
  });

  it('"Show more" follows next_cursor to the end, the focus on the first row that came in', async () => {
    const api = fakeApi(45);
    const page = await renderChanges(api);
    expect(page.allByTestId('change-row')).toHaveLength(20);
    expect(rowsText(page)[0]).toContain(formatAmount(45_000, 'USD'));

    await click(page.byTestId('changes-more'));
    await settle();
    expect(api.getRevenueChanges).toHaveBeenLastCalledWith({ cursor: '26', limit: CHANGES_PAGE_SIZE });
    const rows = page.allByTestId('change-row');
    expect(rows).toHaveLength(40);
    expect(document.activeElement).toBe(rows[20]);
    expect(rows[20].textContent).toContain(`${formatAmount(24_000, 'USD')} → ${formatAmount(25_000, 'USD')}`);

    await click(page.byTestId('changes-more'));
    await settle();
    expect(api.getRevenueChanges).toHaveBeenLastCalledWith({ cursor: '6', limit: CHANGES_PAGE_SIZE });
    expect(page.allByTestId('change-row')).toHaveLength(45);
    // The last page: no more button, and the keyboard is not left on nothing.
    expect(page.byTestId('changes-more')).toBeNull();
    expect(document.activeElement).toBe(page.allByTestId('change-row')[40]);
    expect(new Set(rowsText(page)).size).toBe(45);
  });

  it('keeps what it shows when "Show more" fails, says why, and can try again', async () => {
    const api = fakeApi(30);
    const page = await renderChanges(api);
    api.getRevenueChanges.mockRejectedValueOnce(new ApiError({ status: 0, code: 'network_error' }));

    await click(page.byTestId('changes-more'));
    await settle();
    expect(page.byTestId('changes-more-error').textContent).toBe(
      'Could not load more changes. Could not reach the server. Check your connection and try again.',
    );
    expect(page.allByTestId('change-row')).toHaveLength(20);

    await click(page.byTestId('changes-more'));
    await settle();
    expect(page.byTestId('changes-more-error')).toBeNull();
    expect(page.allByTestId('change-row')).toHaveLength(30);
  });

  it('says why the first page failed and offers to try again', async () => {
    const api = fakeApi(3);
    api.getRevenueChanges.mockRejectedValueOnce(new ApiError({ status: 500, code: 'internal' }));
    const page = await renderChanges(api);
    expect(page.byTestId('changes-error').textContent).toContain(
      'Could not load the recent changes. Something went wrong on our side.',
    );
    expect(page.byTestId('changes-table')).toBeNull();

    await click(page.byTestId('retry'));
    await settle();
    expect(page.byTestId('changes-error')).toBeNull();
    expect(page.allByTestId('change-row')).toHaveLength(3);
  });

  it('loads the newest page again for a new version of the figures', async () => {
    const api = fakeApi(30);
    const page = await renderChanges(api);
    await click(page.byTestId('changes-more'));
    await settle();
    expect(page.allByTestId('change-row')).toHaveLength(30);

    api.add(change(31, '2026-02', 5_000, null));
    await click(page.byTestId('new-version'));
    await settle();
    expect(api.getRevenueChanges).toHaveBeenLastCalledWith({ limit: CHANGES_PAGE_SIZE });
    const rows = page.allByTestId('change-row');
    expect(rows).toHaveLength(20);
    expect(rows[0].dataset.month).toBe('2026-02');
    expect(page.byTestId('changes-more')).not.toBeNull();
  });

  it('drops a "Show more" answer that comes after a newer first page', async () => {
    const api = fakeApi(30);
    const page = await renderChanges(api);
    let answer;
    api.getRevenueChanges.mockImplementationOnce(
      () =>
        new Promise((resolve) => {
          answer = resolve;
        }),
    );
    await click(page.byTestId('changes-more'));
    api.add(change(31, '2026-02', 5_000, null));
    await click(page.byTestId('new-version'));
    await settle();
    answer({ changes: [change(99, '1999-01', 1, 2)], next_cursor: null });
    await settle();

    const months = page.allByTestId('change-row').map((row) => row.dataset.month);
    expect(months).toHaveLength(20);
    expect(months).not.toContain('1999-01');
    expect(page.byTestId('changes-more').disabled).toBe(false);
  });
});
