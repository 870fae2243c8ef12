import { act } from 'react';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/problem.js';
import { formatAmount } from '../format.js';
import { click, render, settle, submit, typeInto } from '../test/dom.js';
import { canWriteRevenue } from './AdminTools.jsx';
import RevenuePanel from './RevenuePanel.jsx';

const CAROL = { email: 'carol@example.com', roles: ['admin'], scope: 'revenue:read revenue:write' };
const ALICE = { email: 'alice@example.com', roles: ['finance'], scope: 'revenue:read' };

function fakeApi(overrides = {}) {
  let version = 1;
  const months = new Map([
    ['2025-01', 100_000],
    ['2025-02', 200_000],
  ]);
  return {
    months,
    getRevenue: vi.fn(async () => ({
      organization: { id: 'o1', name: 'Acme Corp' },
      currency: 'USD',
      from: '2025-01',
      to: '2025-02',
      months: [...months].map(([month, amount_cents]) => ({ month, amount_cents })),
      total_cents: [...months.values()].reduce((a, b) => a + b, 0),
      etag: `"rev-${version}"`,
    })),
    setMonth: vi.fn(async (month, cents) => {
      months.set(month, cents);
      version += 1;
      return { month, amount_cents: cents, etag: `"rev-${version}"` };
    }),
    importCsv: vi.fn(async () => ({ dry_run: true, months: 2, inserted: 1, updated: 1, unchanged: 0, etag: '"rev-9"' })),
    deleteMonth: vi.fn(async (month) => {
      if (!months.has(month))
        throw new ApiError({ status: 404, code: 'not_found', detail: 'No such resource.' });
      months.delete(month);
      version += 1;
      return { etag: `"rev-${version}"` };
    }),
    getRevenueChanges: vi.fn(async () => ({ changes: [], next_cursor: null })),
    // Another admin's write, between two requests of this page.
    writeElsewhere: () => {
      version += 1;
    },
    ...overrides,
  };
}

async function renderPanel(api, user = CAROL) {
  const page = await render(<RevenuePanel api={api} user={user} today="2025-03" />);
  await settle();
  return page;
}

async function pickFile(input, name, text) {
  Object.defineProperty(input, 'files', { configurable: true, value: [new File([text], name, { type: 'text/csv' })] });
  await act(async () => input.dispatchEvent(new Event('change', { bubbles: true })));
  await settle();
}

const amountOf = (page, month) =>
  page.allByTestId('revenue-row').find((row) => row.dataset.month === month).querySelector('td');

beforeEach(() => {
  window.history.replaceState(null, '', '/?from=2025-01&to=2025-02');
});

describe('canWriteRevenue', () => {
  it('reads the revenue:write scope from /me', () => {
    expect(canWriteRevenue(CAROL)).toBe(true);
    expect(canWriteRevenue({ scopes: ['revenue:write'] })).toBe(true);
    expect(canWriteRevenue(ALICE)).toBe(false);
    expect(canWriteRevenue({ scope: '' })).toBe(false);
    expect(canWriteRevenue(undefined)).toBe(false);
  });
});

describe('admin tools', () => {
  it('are offered to an admin only', async () => {
    const finance = await renderPanel(fakeApi(), ALICE);
    expect(finance.allByTestId('edit-month')).toHaveLength(0);
    expect(finance.byTestId('admin-tools')).toBeNull();

    const admin = await renderPanel(fakeApi());
    expect(admin.allByTestId('edit-month')).toHaveLength(2);
    expect(admin.byTestId('admin-tools')).not.toBeNull();
  });

  it('edit a month in place, If-Match the figures shown, and show the new figures', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);

    await click(page.allByTestId('edit-month')[0]);
    const field = page.byTestId('edit-amount');
    expect(field.value).toBe('1000.00');
    expect(field.getAttribute('aria-label')).toBe('Revenue for January 2025 in USD');
    await typeInto(field, '1,234.5');
    await submit(field.form);
    await settle();

    expect(api.setMonth).toHaveBeenCalledWith('2025-01', 123_450, { etag: '"rev-1"' });
    expect(api.getRevenue).toHaveBeenCalledTimes(2);
    expect(page.byTestId('edit-amount')).toBeNull();
    expect(amountOf(page, '2025-01').textContent).toContain(formatAmount(123_450, 'USD'));
    expect(page.byTestId('revenue-total').textContent).toBe(formatAmount(323_450, 'USD'));
  });

  it('refuses an amount it cannot read without asking the server, and Escape leaves the field', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);
    await click(page.allByTestId('edit-month')[1]);
    await typeInto(page.byTestId('edit-amount'), '12,5');
    await submit(page.byTestId('edit-amount').form);
    expect(page.byTestId('edit-error').textContent).toContain('Enter an amount like 12345.67');
    expect(page.byTestId('edit-amount').getAttribute('aria-invalid')).toBe('true');
    expect(api.setMonth).not.toHaveBeenCalled();

    await act(async () =>
      page.byTestId('edit-amount').dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true })),
    );
    expect(page.byTestId('edit-amount')).toBeNull();
    expect(amountOf(page, '2025-02').textContent).toContain(formatAmount(200_000, 'USD'));
  });

  it('says the figures changed meanwhile on a 412 and reloads them', async () => {
    const api = fakeApi({
      setMonth: vi.fn(async () => {
        throw new ApiError({ status: 412, code: 'precondition_failed' });
      }),
    });
    const page = await renderPanel(api);
    await click(page.allByTestId('edit-month')[0]);
    await typeInto(page.byTestId('edit-amount'), '5');
    await submit(page.byTestId('edit-amount').form);
    await settle();

    expect(page.byTestId('edit-error').textContent).toContain('The figures changed since you loaded them');
    expect(api.getRevenue).toHaveBeenCalledTimes(2);
  });

  it('set a month that is not in the table', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);
    await typeInto(page.byTestId('set-month'), '2024-12');
    await typeInto(page.byTestId('set-amount'), '-80');
    await submit(page.byTestId('set-save').form);
    await settle();
    expect(api.setMonth).toHaveBeenCalledWith('2024-12', -8_000, { etag: '"rev-1"' });
    expect(page.byTestId('set-message').textContent).toBe(`Saved December 2024: ${formatAmount(-8_000, 'USD')}.`);
  });

  it('previews an import with the server’s per-line mistakes and writes nothing', async () => {
    const api = fakeApi({
      importCsv: vi.fn(async () => {
        throw new ApiError({
          status: 400,
          code: 'invalid_csv',
          detail: 'The file has mistakes; nothing was written.',
          errors: [{ line: 3, column: 9, message: 'line 3: amount "12,5": not a number with at most two decimals' }],
        });
      }),
    });
    const page = await renderPanel(api);
    await pickFile(page.byTestId('import-file'), 'bad.csv', 'month,amount\n2025-03,10\n2025-04,"12,5"\n');

    expect(api.importCsv).toHaveBeenCalledTimes(1);
    expect(api.importCsv).toHaveBeenCalledWith('month,amount\n2025-03,10\n2025-04,"12,5"\n', { dryRun: true });
    expect(page.allByTestId('import-error').map((item) => item.textContent)).toEqual([
      'line 3: amount "12,5": not a number with at most two decimals',
    ]);
    const rows = page.allByTestId('preview-row');
    expect(rows.map((row) => row.querySelector('td').textContent)).toEqual(['2', '3']);
    expect(rows[1].className).toBe('preview-bad');
    expect(rows[1].textContent).toContain('not a number with at most two decimals');
    expect(rows[0].className).toBe('');
    expect(page.byTestId('import-confirm')).toBeNull();
  });

  it('imports a checked file If-Match the version it was checked against, then reloads', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);
    const text = 'month,amount\n2025-02,2500\n2025-03,10.5\n';
    await pickFile(page.byTestId('import-file'), 'good.csv', text);

    expect(page.byTestId('import-summary').textContent).toBe(
      'good.csv: 2 months: 1 new, 1 changed, 0 unchanged. Nothing is written until you import.',
    );
    expect(page.allByTestId('preview-row').map((row) => row.querySelectorAll('td')[2].textContent)).toEqual([
      formatAmount(250_000, 'USD'),
      formatAmount(1_050, 'USD'),
    ]);

    api.importCsv.mockResolvedValueOnce({ dry_run: false, months: 2, inserted: 1, updated: 1, unchanged: 0, etag: '"rev-10"' });
    await click(page.byTestId('import-confirm'));
    await settle();

    expect(api.importCsv).toHaveBeenLastCalledWith(text, { etag: '"rev-9"' });
    expect(page.byTestId('import-done').textContent).toBe('Imported good.csv: 2 months (1 new, 1 changed, 0 unchanged).');
    expect(page.byTestId('import-preview')).toBeNull();
    expect(api.getRevenue).toHaveBeenCalledTimes(2);
  });

  it('checks the file again when the figures changed after the preview', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);
    const text = 'month,amount\n2025-02,2500\n';
    await pickFile(page.byTestId('import-file'), 'good.csv', text);

    api.importCsv.mockRejectedValueOnce(new ApiError({ status: 412, code: 'precondition_failed' }));
    await click(page.byTestId('import-confirm'));
    await settle();

    // The import, then a new dry run; nothing else.
    expect(api.importCsv.mock.calls.map(([, options]) => options)).toEqual([
      { dryRun: true },
      { etag: '"rev-9"' },
      { dryRun: true },
    ]);
    expect(page.byTestId('import-preview').textContent).toContain('The figures changed since you loaded them');
    expect(page.byTestId('import-confirm')).not.toBeNull();
  });
});

const rowOf = (page, month) => page.allByTestId('revenue-row').find((row) => row.dataset.month === month);
const inRow = (page, month, id) => rowOf(page, month)?.querySelector(`[data-testid="${id}"]`);

async function pressEscape(element) {
  await act(async () =>
    element.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true })),
  );
}

describe('removing a month', () => {
  it('is offered to an admin only, next to Edit', async () => {
    const finance = await renderPanel(fakeApi(), ALICE);
    expect(finance.allByTestId('remove-month')).toHaveLength(0);

    const admin = await renderPanel(fakeApi());
    expect(admin.allByTestId('remove-month')).toHaveLength(2);
    expect(inRow(admin, '2025-02', 'remove-month').getAttribute('aria-label')).toBe('Remove February 2025');
  });

  it('asks first, with the focus on Cancel; Cancel or Escape sends nothing and goes back to Remove', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);

    await click(inRow(page, '2025-01', 'remove-month'));
    const confirmation = page.byTestId('remove-confirmation');
    expect(confirmation.textContent).toContain(`Remove January 2025 (${formatAmount(100_000, 'USD')})?`);
    expect(confirmation.getAttribute('role')).toBe('group');
    expect(document.activeElement).toBe(page.byTestId('remove-cancel'));

    await click(page.byTestId('remove-cancel'));
    await settle();
    expect(page.byTestId('remove-confirmation')).toBeNull();
    expect(document.activeElement).toBe(inRow(page, '2025-01', 'remove-month'));

    await click(inRow(page, '2025-01', 'remove-month'));
    await pressEscape(page.byTestId('remove-cancel'));
    await settle();
    expect(page.byTestId('remove-confirmation')).toBeNull();
    expect(document.activeElement).toBe(inRow(page, '2025-01', 'remove-month'));

    expect(api.deleteMonth).not.toHaveBeenCalled();
    expect(api.getRevenue).toHaveBeenCalledTimes(1);
    expect(page.allByTestId('revenue-row')).toHaveLength(2);
  });

  it('removes the month If-Match the figures shown, reloads them and says so, with the focus there', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);

    await click(inRow(page, '2025-01', 'remove-month'));
    await click(page.byTestId('remove-confirm'));
    await settle();

    expect(api.deleteMonth).toHaveBeenCalledWith('2025-01', { etag: '"rev-1"' });
    expect(api.getRevenue).toHaveBeenCalledTimes(2);
    expect(page.allByTestId('revenue-row').map((row) => row.dataset.month)).toEqual(['2025-02']);
    expect(page.byTestId('revenue-total').textContent).toBe(formatAmount(200_000, 'USD'));
    const message = page.byTestId('remove-message');
    expect(message.textContent).toBe(`Removed January 2025 (${formatAmount(100_000, 'USD')}).`);
    expect(message.getAttribute('role')).toBe('status');
    expect(document.activeElement).toBe(message);
  });

  it('says the figures changed meanwhile on a 412, reloads them and removes nothing', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);
    api.writeElsewhere();
    api.deleteMonth.mockRejectedValueOnce(new ApiError({ status: 412, code: 'precondition_failed' }));

    await click(inRow(page, '2025-02', 'remove-month'));
    await click(page.byTestId('remove-confirm'));
    await settle();

    expect(api.deleteMonth).toHaveBeenCalledWith('2025-02', { etag: '"rev-1"' });
    const message = page.byTestId('remove-message');
    expect(message.textContent).toContain('The figures changed since you loaded them');
    expect(message.getAttribute('role')).toBe('alert');
    expect(document.activeElement).toBe(message);
    expect(api.getRevenue).toHaveBeenCalledTimes(2);
    expect(page.allByTestId('revenue-row')).toHaveLength(2);
    expect(page.byTestId('remove-confirmation')).toBeNull();

    // The next try goes If-Match the figures now shown.
    await click(inRow(page, '2025-02', 'remove-month'));
    await click(page.byTestId('remove-confirm'));
    await settle();
    expect(api.deleteMonth).toHaveBeenLastCalledWith('2025-02', { etag: '"rev-2"' });
    expect(page.allByTestId('revenue-row').map((row) => row.dataset.month)).toEqual(['2025-01']);
  });

  it('reloads and says the month had no figure on a 404', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);
    // Removed elsewhere after this page loaded the figures.
    api.months.delete('2025-01');

    await click(inRow(page, '2025-01', 'remove-month'));
    await click(page.byTestId('remove-confirm'));
    await settle();

    expect(page.byTestId('remove-message').textContent).toBe(
      'January 2025 had no figure to remove; it may have been removed meanwhile. The figures are reloaded.',
    );
    expect(api.getRevenue).toHaveBeenCalledTimes(2);
    expect(page.allByTestId('revenue-row').map((row) => row.dataset.month)).toEqual(['2025-02']);
  });

  it('says why when the removal fails otherwise, keeps the figures and can be tried again', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);
    api.deleteMonth.mockRejectedValueOnce(new ApiError({ status: 0, code: 'network_error' }));

    await click(inRow(page, '2025-01', 'remove-month'));
    await click(page.byTestId('remove-confirm'));
    await settle();

    const message = page.byTestId('remove-message');
    expect(message.textContent).toBe(
      'Could not remove January 2025. Could not reach the server. Check your connection and try again.',
    );
    expect(message.getAttribute('role')).toBe('alert');
    expect(api.getRevenue).toHaveBeenCalledTimes(1);
    expect(page.allByTestId('revenue-row')).toHaveLength(2);

    await click(inRow(page, '2025-01', 'remove-month'));
    await click(page.byTestId('remove-confirm'));
    await settle();
    expect(page.byTestId('remove-message').textContent).toContain('Removed January 2025');
    expect(page.allByTestId('revenue-row')).toHaveLength(1);
  });
});

describe('recent changes on the admin dashboard', () => {
  it('are shown to an admin only', async () => {
    const finance = fakeApi();
    const alice = await renderPanel(finance, ALICE);
    expect(alice.byTestId('recent-changes')).toBeNull();
    expect(finance.getRevenueChanges).not.toHaveBeenCalled();

    const api = fakeApi();
    const carol = await renderPanel(api);
    expect(carol.byTestId('changes-empty').textContent).toContain('No change recorded yet');
    expect(api.getRevenueChanges).toHaveBeenCalledTimes(1);
  });

  it('load the newest again after the admin edits, removes or imports', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);
    expect(api.getRevenueChanges).toHaveBeenCalledTimes(1);

    await click(inRow(page, '2025-01', 'edit-month'));
    await typeInto(page.byTestId('edit-amount'), '5');
    await submit(page.byTestId('edit-amount').form);
    await settle();
    expect(api.getRevenueChanges).toHaveBeenCalledTimes(2);

    await click(inRow(page, '2025-02', 'remove-month'));
    await click(page.byTestId('remove-confirm'));
    await settle();
    expect(api.getRevenueChanges).toHaveBeenCalledTimes(3);

    await pickFile(page.byTestId('import-file'), 'good.csv', 'month,amount\n2025-02,2500\n');
    expect(api.getRevenueChanges).toHaveBeenCalledTimes(3);
    api.importCsv.mockImplementationOnce(async () => {
      api.writeElsewhere();
      return { dry_run: false, months: 1, inserted: 1, updated: 0, unchanged: 0, etag: '"rev-x"' };
    });
    await click(page.byTestId('import-confirm'));
    await settle();
    expect(api.getRevenueChanges).toHaveBeenCalledTimes(4);
    // Each time the newest page, not one after a cursor.
    expect(api.getRevenueChanges.mock.calls.every(([options]) => !options.cursor)).toBe(true);
  });

  it('stay as they are when a reload finds the same figures', async () => {
    const api = fakeApi();
    const page = await renderPanel(api);
    await click(page.byTestId('revenue-reload'));
    await settle();
    expect(api.getRevenue).toHaveBeenCalledTimes(2);
    expect(api.getRevenueChanges).toHaveBeenCalledTimes(1);
  });
});

describe('the version a write is based on', () => {
  // A server that checks If-Match as the real one does; failNextLoad() makes
  // the next GET time out (the reload after a write, say).
  function strictApi() {
    let version = 1;
    let failLoad = false;
    const tag = () => `"rev-${version}"`;
    const months = new Map([
      ['2025-01', 100_000],
      ['2025-02', 200_000],
    ]);
    const write = (etag) => {
      if (etag && etag !== tag()) throw new ApiError({ status: 412, code: 'precondition_failed' });
      version += 1;
    };
    return {
      failNextLoad: () => {
        failLoad = true;
      },
      getRevenue: vi.fn(async () => {
        if (failLoad) {
          failLoad = false;
          throw new ApiError({ status: 0, code: 'timeout' });
        }
        return {
          organization: { id: 'o1', name: 'Acme Corp' },
          currency: 'USD',
          from: '2025-01',
          to: '2025-02',
          months: [...months].map(([month, amount_cents]) => ({ month, amount_cents })),
          etag: tag(),
        };
      }),
      setMonth: vi.fn(async (month, cents, { etag }) => {
        write(etag);
        months.set(month, cents);
        return { month, amount_cents: cents, etag: tag() };
      }),
      deleteMonth: vi.fn(async (month, { etag }) => {
        write(etag);
        months.delete(month);
        return { etag: tag() };
      }),
      importCsv: vi.fn(async (text, { dryRun, etag }) => {
        if (!dryRun) write(etag);
        return { dry_run: Boolean(dryRun), months: 1, inserted: 0, updated: 1, unchanged: 0, etag: tag() };
      }),
      getRevenueChanges: vi.fn(async () => ({ changes: [], next_cursor: null })),
    };
  }

  async function editMonth(page, month, amount) {
    await click(inRow(page, month, 'edit-month'));
    await typeInto(page.byTestId('edit-amount'), amount);
    await submit(page.byTestId('edit-amount').form);
    await settle();
  }

  it('is the one the admin’s own save returned, even when the reload after it failed', async () => {
    const api = strictApi();
    const page = await renderPanel(api);

    api.failNextLoad();
    await editMonth(page, '2025-01', '1500');
    expect(page.byTestId('revenue-error')).not.toBeNull();

    await typeInto(page.byTestId('set-month'), '2025-02');
    await typeInto(page.byTestId('set-amount'), '2500');
    await submit(page.byTestId('set-save').form);
    await settle();

    expect(api.setMonth.mock.calls.map(([, , options]) => options.etag)).toEqual(['"rev-1"', '"rev-2"']);
    expect(page.byTestId('set-message').textContent).toBe(
      `Saved February 2025: ${formatAmount(250_000, 'USD')}.`,
    );
  });

  it('is the one a removal or an import returned, even when the reload after it failed', async () => {
    const api = strictApi();
    const page = await renderPanel(api);

    api.failNextLoad();
    await click(inRow(page, '2025-01', 'remove-month'));
    await click(page.byTestId('remove-confirm'));
    await settle();
    expect(api.deleteMonth).toHaveBeenCalledWith('2025-01', { etag: '"rev-1"' });

    await editMonth(page, '2025-02', '2500');
    expect(api.setMonth).toHaveBeenLastCalledWith('2025-02', 250_000, { etag: '"rev-2"' });
    expect(page.byTestId('edit-amount')).toBeNull();

    await pickFile(page.byTestId('import-file'), 'good.csv', 'month,amount\n2025-02,3000\n');
    api.failNextLoad();
    await click(page.byTestId('import-confirm'));
    await settle();
    expect(page.byTestId('import-done')).not.toBeNull();

    await editMonth(page, '2025-02', '3500');
    expect(api.setMonth).toHaveBeenLastCalledWith('2025-02', 350_000, { etag: '"rev-4"' });
    expect(page.byTestId('edit-error')).toBeNull();
  });

  it('follows each load: another admin’s change, once shown, is what the next write is based on', async () => {
    const api = strictApi();
    const page = await renderPanel(api);
    await editMonth(page, '2025-01', '1500');
    await editMonth(page, '2025-02', '2500');

    expect(api.setMonth.mock.calls.map(([, , options]) => options.etag)).toEqual(['"rev-1"', '"rev-2"']);
    expect(page.byTestId('edit-error')).toBeNull();
  });
});
