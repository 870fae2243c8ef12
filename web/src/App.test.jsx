import { describe, expect, it, vi } from 'vitest';
import { ApiError, SESSION_ENDED } from './api/problem.js';
import App from './App.jsx';
import { click, render, settle, submit, typeInto } from './test/dom.js';

const ALICE = { email: 'alice@example.com', roles: ['finance'] };
const REVENUE = {
  organization: { id: 'o1', name: 'Acme Corp' },
  currency: 'USD',
  from: '2025-01',
  to: '2025-02',
  months: [
    { month: '2025-01', amount_cents: 100_000 },
    { month: '2025-02', amount_cents: 200_000 },
  ],
  total_cents: 300_000,
};

// Stands in for createApiClient(); each test overrides what it needs.
function fakeApi(overrides = {}) {
  const listeners = new Set();
  return {
    restoreSession: vi.fn(async () => false),
    login: vi.fn(async () => {}),
    logout: vi.fn(async () => {}),
    getMe: vi.fn(async () => ALICE),
    getRevenue: vi.fn(async () => REVENUE),
    onSessionEnded: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    endSession: () => listeners.forEach((listener) => listener()),
    ...overrides,
  };
}

async function signIn(page, email, password) {
  await typeInto(page.byTestId('login-email'), email);
  await typeInto(page.byTestId('login-password'), password);
  await submit(page.byTestId('login-form'));
  await settle();
}

describe('App', () => {
  it('shows a neutral loading state while it checks for a session', async () => {
    const api = fakeApi({ restoreSession: () => new Promise(() => {}) });
    const page = await render(<App api={api} />);
    expect(page.byTestId('session-loading').textContent).toBe('Loading…');
  });

  it('signs in and shows the user, the chart and the table', async () => {
    const api = fakeApi();
    const page = await render(<App api={api} />);
    await settle();

    await signIn(page, 'alice@example.com', 'alice-password-1');

    expect(api.login).toHaveBeenCalledWith('alice@example.com', 'alice-password-1');
    expect(page.byTestId('current-user').textContent).toContain('alice@example.com');
    expect(page.byTestId('current-user').textContent).toContain('finance');
    expect(page.byTestId('logout')).not.toBeNull();
    expect(page.byTestId('revenue-chart')).not.toBeNull();
    expect(page.allByTestId('revenue-row')).toHaveLength(2);
  });

  it('keeps the user signed in across a reload when the refresh cookie works', async () => {
    const page = await render(<App api={fakeApi({ restoreSession: vi.fn(async () => true) })} />);
    await settle();
    expect(page.byTestId('current-user').textContent).toContain('alice@example.com');
  });

  it('says when email or password is wrong', async () => {
    const api = fakeApi({
      login: vi.fn(async () => {
        throw new ApiError({ status: 401, code: 'invalid_credentials' });
      }),
    });
    const page = await render(<App api={api} />);
    await settle();

    await signIn(page, 'alice@example.com', 'nope');

    expect(page.byTestId('login-error').textContent).toBe('Email or password is incorrect.');
    expect(page.byTestId('login-form')).not.toBeNull();
  });

  it('shows no-access for a user without the revenue scope, with user and logout', async () => {
    const api = fakeApi({
      restoreSession: vi.fn(async () => true),
      getMe: vi.fn(async () => ({ email: 'bob@example.com', roles: ['member'] })),
      getRevenue: vi.fn(async () => {
        throw new ApiError({ status: 403, code: 'insufficient_scope' });
      }),
    });
    const page = await render(<App api={api} />);
    await settle();

    expect(page.byTestId('no-access').textContent).toContain('You do not have access to revenue');
    expect(page.byTestId('current-user').textContent).toContain('bob@example.com');
    expect(page.byTestId('logout')).not.toBeNull();
  });

  it('goes back to the login form with a message when the session ends', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    const page = await render(<App api={api} />);
    await settle();

    // As the real client does: tell the listeners, then reject the call.
    api.getRevenue.mockImplementationOnce(async () => {
      api.endSession();
      throw new ApiError({ status: 401, code: SESSION_ENDED });
    });
    await click(page.byTestId('revenue-reload'));
    await settle();

    expect(page.byTestId('login-form')).not.toBeNull();
    expect(page.byTestId('session-ended').textContent).toBe('Your session has ended. Please sign in again.');
  });

  it('offers a retry when the server cannot be reached on load', async () => {
    const api = fakeApi({
      restoreSession: vi
        .fn()
        .mockRejectedValueOnce(new ApiError({ status: 0, code: 'network_error' }))
        .mockResolvedValueOnce(false),
    });
    const page = await render(<App api={api} />);
    await settle();
    expect(page.byTestId('session-error').textContent).toContain('Could not reach the server');

    await click(page.byTestId('retry'));
    await settle();

    expect(page.byTestId('login-form')).not.toBeNull();
  });

  it('offers a retry when revenue fails with a server error', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    api.getRevenue.mockRejectedValueOnce(new ApiError({ status: 503, code: 'unavailable' }));
    const page = await render(<App api={api} />);
    await settle();
    expect(page.byTestId('revenue-error').textContent).toContain('Something went wrong on our side');

    await click(page.byTestId('retry'));
    await settle();

    expect(page.allByTestId('revenue-row')).toHaveLength(2);
  });

  it('refuses a reversed month range without asking the server', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    const page = await render(<App api={api} />);
    await settle();

    await typeInto(page.byTestId('revenue-from'), '2025-06');
    await settle();
    await typeInto(page.byTestId('revenue-to'), '2025-01');
    await settle();

    expect(page.byTestId('range-error')).not.toBeNull();
    expect(api.getRevenue).toHaveBeenLastCalledWith({ from: '2025-06', to: '' });
  });

  it('logs out to the login form', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    const page = await render(<App api={api} />);
    await settle();

    await click(page.byTestId('logout'));
    await settle();

    expect(api.logout).toHaveBeenCalled();
    expect(page.byTestId('login-form')).not.toBeNull();
    expect(page.byTestId('session-ended')).toBeNull();
  });
});
