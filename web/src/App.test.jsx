import { act } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, SESSION_ENDED, SESSION_REVOKED } from './api/problem.js';
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
    // As the real client does: the listeners get the error the calls reject with.
    endSession: (code = SESSION_ENDED) => {
      const error = new ApiError({ status: 401, code });
      listeners.forEach((listener) => listener(error));
      return error;
    },
    ...overrides,
  };
}

async function signIn(page, email, password) {
  await typeInto(page.byTestId('login-email'), email);
  await typeInto(page.byTestId('login-password'), password);
  await submit(page.byTestId('login-form'));
  await settle();
}

function expectNoRevenueShown(page) {
  for (const id of [
    'revenue-row',
    'revenue-bar',
    'revenue-chart',
    'revenue-total',
    'revenue-table',
    'current-user',
  ]) {
    expect(page.allByTestId(id), id).toHaveLength(0);
  }
  expect(page.container.textContent).not.toMatch(/Acme|\$|3,000/);
}

// The dashboard reads its range from the address; these tests look at the
// two months of REVENUE.
beforeEach(() => {
  window.history.replaceState(null, '', '/?from=2025-01&to=2025-02');
});

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
      throw api.endSession(SESSION_ENDED);
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

  it('goes back to the login form, every figure gone, when the session was revoked', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    const page = await render(<App api={api} />);
    await settle();
    expect(page.allByTestId('revenue-row')).toHaveLength(2);

    api.getRevenue.mockImplementationOnce(async () => {
      throw api.endSession(SESSION_REVOKED);
    });
    await click(page.byTestId('revenue-reload'));
    await settle();

    expect(page.byTestId('login-form')).not.toBeNull();
    expect(page.byTestId('session-ended').textContent).toBe('This session was ended. Log in again.');
    expectNoRevenueShown(page);
  });

  it('offers a retry when revenue fails with a server error', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    api.getRevenue.mockRejectedValueOnce(new ApiError({ status: 500, code: 'internal' }));
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

    const asked = api.getRevenue.mock.calls.length;
    await typeInto(page.byTestId('revenue-from'), '2025-06');
    await settle();

    expect(page.byTestId('range-error').textContent).toBe('The “From” month must not be after the “To” month.');
    expect(api.getRevenue).toHaveBeenCalledTimes(asked);
    expect(window.location.search).toBe('?from=2025-01&to=2025-02');
    // The figures already shown stay.
    expect(page.allByTestId('revenue-row')).toHaveLength(2);
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

describe('App signing out', () => {
  it('keeps the user signed in when the sign-out fails, says so, and signs out on "Try again"', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    api.logout.mockRejectedValueOnce(
      new ApiError({ status: 503, code: 'revocations_unavailable', retryAfterSeconds: 5 }),
    );
    const page = await render(<App api={api} />);
    await settle();

    await click(page.byTestId('logout'));
    await settle();

    expect(page.byTestId('login-form')).toBeNull();
    expect(page.byTestId('current-user').textContent).toContain('alice@example.com');
    expect(page.allByTestId('revenue-row')).toHaveLength(2);
    const notice = page.byTestId('logout-error');
    expect(notice.getAttribute('role')).toBe('alert');
    expect(notice.textContent).toContain('Could not sign out; you are still signed in.');
    expect(notice.textContent).toContain('The service is temporarily unavailable. Try again in 5 seconds.');
    expect(page.byTestId('logout').disabled).toBe(false);
    expect(page.byTestId('logout').textContent).toBe('Log out');

    await click(notice.querySelector('[data-testid="retry"]'));
    await settle();

    expect(api.logout).toHaveBeenCalledTimes(2);
    expect(page.byTestId('login-form')).not.toBeNull();
    expect(page.byTestId('logout-error')).toBeNull();
    expect(page.byTestId('session-ended')).toBeNull();
  });

  it('keeps the user signed in when the sign-out from the sessions panel fails, and lets it be tried again', async () => {
    const api = fakeApi({
      restoreSession: vi.fn(async () => true),
      listSessions: vi.fn(async () => [
        { id: 's1', current: true, created_at: '2026-11-27T09:00:00Z', last_used_at: '2026-11-27T09:00:00Z' },
      ]),
    });
    api.logout.mockRejectedValueOnce(new ApiError({ status: 0, code: 'network_error' }));
    const page = await render(<App api={api} />);
    await settle();
    await click(page.byTestId('sessions-toggle'));
    await settle();

    await click(page.byTestId('session-sign-out'));
    await settle();

    expect(page.byTestId('current-user')).not.toBeNull();
    expect(page.byTestId('logout-error').textContent).toContain('Could not sign out');
    expect(page.byTestId('session-sign-out').disabled).toBe(false);
    expect(page.byTestId('session-sign-out').textContent).toBe('Sign out');
  });

  it('says so when another tab signed out, or signed in as someone else', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    const page = await render(<App api={api} />);
    await settle();

    await act(async () => api.endSession('signed_out_elsewhere'));
    expect(page.byTestId('session-ended').textContent).toBe('You signed out in another tab.');
    expectNoRevenueShown(page);

    await signIn(page, 'alice@example.com', 'alice-password-1');
    expect(page.byTestId('current-user')).not.toBeNull();
    await act(async () => api.endSession('signed_in_elsewhere'));
    expect(page.byTestId('session-ended').textContent).toBe(
      'You signed in as someone else in another tab, so this tab was signed out. Sign in again to go on here.',
    );
    expectNoRevenueShown(page);
  });
});

describe('App right after signing in', () => {
  it('stays signed in when GET /me times out after the sign-in, and asks /me again (not a new sign-in)', async () => {
    const api = fakeApi();
    api.getMe.mockRejectedValueOnce(new ApiError({ status: 0, code: 'timeout' }));
    const page = await render(<App api={api} />);
    await settle();

    await signIn(page, 'alice@example.com', 'alice-password-1');

    expect(page.byTestId('login-form')).toBeNull();
    expect(page.byTestId('session-error').textContent).toContain('The server took too long to answer.');
    expect(page.byTestId('unavailable-sign-out')).not.toBeNull();

    await click(page.byTestId('retry'));
    await settle();

    expect(page.byTestId('current-user').textContent).toContain('alice@example.com');
    expect(api.login).toHaveBeenCalledTimes(1);
    expect(api.getMe).toHaveBeenCalledTimes(2);
    expect(api.restoreSession).toHaveBeenCalledTimes(1);
  });

  it('offers to sign out while GET /me fails, and then shows the login form', async () => {
    const api = fakeApi();
    api.getMe.mockRejectedValueOnce(new ApiError({ status: 0, code: 'network_error' }));
    const page = await render(<App api={api} />);
    await settle();
    await signIn(page, 'alice@example.com', 'alice-password-1');

    await click(page.byTestId('unavailable-sign-out'));
    await settle();

    expect(api.logout).toHaveBeenCalledTimes(1);
    expect(page.byTestId('login-form')).not.toBeNull();
  });
});

describe('App: your sessions', () => {
  const THIS = {
    id: 's1',
    created_at: '2026-11-27T09:00:00Z',
    last_used_at: '2026-11-27T16:00:00Z',
    idle_expires_at: '2026-12-11T16:00:00Z',
    expires_at: '2026-12-27T09:00:00Z',
    client_ip: '127.0.0.1',
    user_agent:
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    current: true,
  };
  const OTHER = { ...THIS, id: 's2', user_agent: 'curl/8.5.0', current: false };

  function sessionsApi(overrides = {}) {
    return fakeApi({
      restoreSession: vi.fn(async () => true),
      listSessions: vi.fn(async () => [THIS, OTHER]),
      deleteSession: vi.fn(async () => {}),
      ...overrides,
    });
  }

  it('opens from the user bar, and closing gives the focus back to its button', async () => {
    const api = sessionsApi();
    const page = await render(<App api={api} />);
    await settle();
    const toggle = page.byTestId('sessions-toggle');
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    expect(toggle.hasAttribute('aria-controls')).toBe(false);
    expect(page.byTestId('sessions-panel')).toBeNull();

    await click(toggle);
    await settle();
    const panel = page.byTestId('sessions-panel');
    expect(toggle.getAttribute('aria-expanded')).toBe('true');
    expect(toggle.getAttribute('aria-controls')).toBe(panel.id);
    expect(page.allByTestId('session')).toHaveLength(2);
    expect(page.byTestId('session-this')).not.toBeNull();
    // The dashboard stays under it.
    expect(page.allByTestId('revenue-row')).toHaveLength(2);

    await click(page.byTestId('sessions-close'));
    expect(page.byTestId('sessions-panel')).toBeNull();
    expect(toggle.getAttribute('aria-expanded')).toBe('false');
    expect(document.activeElement).toBe(toggle);

    // The button closes it too, and each opening asks for the list afresh.
    await click(toggle);
    await settle();
    expect(api.listSessions).toHaveBeenCalledTimes(2);
    await click(toggle);
    expect(page.byTestId('sessions-panel')).toBeNull();
  });

  it('"Sign out" on this browser’s session is the ordinary logout', async () => {
    const api = sessionsApi();
    const page = await render(<App api={api} />);
    await settle();
    await click(page.byTestId('sessions-toggle'));
    await settle();

    await click(page.byTestId('session-sign-out'));
    await settle();

    expect(api.logout).toHaveBeenCalledTimes(1);
    expect(api.deleteSession).not.toHaveBeenCalled();
    expect(page.byTestId('login-form')).not.toBeNull();
    expect(page.byTestId('sessions-panel')).toBeNull();

    // Whoever signs in next finds it closed.
    await signIn(page, 'alice@example.com', 'alice-password-1');
    expect(page.byTestId('current-user')).not.toBeNull();
    expect(page.byTestId('sessions-panel')).toBeNull();
    expect(page.byTestId('sessions-toggle').getAttribute('aria-expanded')).toBe('false');
  });

  it('leaves for the login form when this session turns out to be over', async () => {
    const api = sessionsApi();
    api.deleteSession = vi.fn(async () => {
      throw api.endSession(SESSION_REVOKED);
    });
    const page = await render(<App api={api} />);
    await settle();
    await click(page.byTestId('sessions-toggle'));
    await settle();

    await click(page.byTestId('session-end'));
    await settle();

    expect(api.deleteSession).toHaveBeenCalledWith('s2');
    expect(page.byTestId('sessions-panel')).toBeNull();
    expect(page.byTestId('session-ended').textContent).toBe('This session was ended. Log in again.');
    expectNoRevenueShown(page);
  });
});

// With a fake clock: runs the timers due within `ms`, then the promise
// callbacks and renders they cause.
async function advance(ms) {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(ms);
  });
}

function setVisibility(state) {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
  document.dispatchEvent(new Event('visibilitychange'));
}

const unavailable = (retryAfterSeconds) =>
  new ApiError({ status: 503, code: 'revocations_unavailable', retryAfterSeconds });

describe('App noticing a session ended elsewhere', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });

  afterEach(() => {
    vi.useRealTimers();
    delete document.visibilityState;
  });

  async function signedIn(api) {
    const page = await render(<App api={api} />);
    await advance(0);
    expect(page.allByTestId('revenue-row')).toHaveLength(2);
    expect(api.getMe).toHaveBeenCalledTimes(1);
    return page;
  }

  it('asks GET /me every 30 s while signed in', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    await signedIn(api);

    await advance(29_999);
    expect(api.getMe).toHaveBeenCalledTimes(1);
    await advance(1);
    expect(api.getMe).toHaveBeenCalledTimes(2);
    await advance(30_000);
    expect(api.getMe).toHaveBeenCalledTimes(3);
    expect(api.getRevenue).toHaveBeenCalledTimes(1);
  });

  it('leaves the screen within 30 s when the check finds the session revoked', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    const page = await signedIn(api);

    api.getMe.mockImplementationOnce(async () => {
      throw api.endSession(SESSION_REVOKED);
    });
    await advance(30_000);

    expect(page.byTestId('login-form')).not.toBeNull();
    expect(page.byTestId('session-ended').textContent).toBe('This session was ended. Log in again.');
    expectNoRevenueShown(page);

    // And checks no more.
    await advance(120_000);
    expect(api.getMe).toHaveBeenCalledTimes(2);
  });

  it('checks at once when the window gets the focus or the page becomes visible', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    const page = await signedIn(api);
    await advance(5_000);

    await act(async () => window.dispatchEvent(new Event('focus')));
    await advance(0);
    expect(api.getMe).toHaveBeenCalledTimes(2);

    // A focus hard on the heels of the last check sends nothing more.
    await act(async () => window.dispatchEvent(new Event('focus')));
    await advance(0);
    expect(api.getMe).toHaveBeenCalledTimes(2);

    api.getMe.mockImplementationOnce(async () => {
      throw api.endSession(SESSION_REVOKED);
    });
    await advance(5_000);
    await act(async () => setVisibility('visible'));
    await advance(0);
    expect(api.getMe).toHaveBeenCalledTimes(3);
    expect(page.byTestId('session-ended').textContent).toBe('This session was ended. Log in again.');
    expectNoRevenueShown(page);
  });

  it('does not check while the page is hidden', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    await signedIn(api);

    await act(async () => setVisibility('hidden'));
    await advance(120_000);
    expect(api.getMe).toHaveBeenCalledTimes(1);

    await act(async () => setVisibility('visible'));
    await advance(0);
    expect(api.getMe).toHaveBeenCalledTimes(2);
  });

  it('does not check a page signed in while hidden until it is shown', async () => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    await signedIn(api);

    await advance(120_000);
    expect(api.getMe).toHaveBeenCalledTimes(1);

    await act(async () => setVisibility('visible'));
    await advance(0);
    expect(api.getMe).toHaveBeenCalledTimes(2);
  });

  it('stops checking on logout', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    const page = await signedIn(api);

    await click(page.byTestId('logout'));
    await advance(0);
    expect(page.byTestId('login-form')).not.toBeNull();

    await act(async () => window.dispatchEvent(new Event('focus')));
    await advance(120_000);
    expect(api.getMe).toHaveBeenCalledTimes(1);
  });

  it('shows new roles the check finds, and loads revenue again under them', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    const page = await signedIn(api);

    // An operator took the finance role away: the client refreshed, /me says so.
    api.getMe.mockResolvedValueOnce({ email: 'alice@example.com', roles: ['member'] });
    api.getRevenue.mockRejectedValueOnce(new ApiError({ status: 403, code: 'insufficient_scope' }));
    await advance(30_000);

    expect(page.byTestId('current-user').textContent).toContain('member');
    expect(api.getRevenue).toHaveBeenCalledTimes(2);
    expect(page.byTestId('no-access')).not.toBeNull();
    expect(page.allByTestId('revenue-row')).toHaveLength(0);
  });

  it('keeps the user and the figures on a 503 and checks again after Retry-After', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    const page = await signedIn(api);

    api.getMe.mockRejectedValueOnce(unavailable(7));
    await advance(30_000);

    expect(page.byTestId('service-unavailable').textContent).toBe(
      'The service is temporarily unavailable; retrying…',
    );
    expect(page.byTestId('current-user').textContent).toContain('alice@example.com');
    expect(page.allByTestId('revenue-row')).toHaveLength(2);

    await advance(6_999);
    expect(api.getMe).toHaveBeenCalledTimes(2);
    await advance(1);
    expect(api.getMe).toHaveBeenCalledTimes(3);
    expect(page.byTestId('service-unavailable')).toBeNull();
    expect(page.allByTestId('revenue-row')).toHaveLength(2);
  });

  it('keeps the figures when revenue answers 503 and loads them again after Retry-After', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    const page = await signedIn(api);

    api.getRevenue.mockRejectedValueOnce(unavailable(3));
    await click(page.byTestId('revenue-reload'));
    await advance(0);

    expect(page.byTestId('revenue-error').textContent).toContain(
      'The service is temporarily unavailable; retrying…',
    );
    expect(page.allByTestId('revenue-row')).toHaveLength(2);
    expect(page.byTestId('current-user')).not.toBeNull();

    await advance(2_999);
    expect(api.getRevenue).toHaveBeenCalledTimes(2);
    await advance(1);
    expect(api.getRevenue).toHaveBeenCalledTimes(3);
    expect(page.byTestId('revenue-error')).toBeNull();
    expect(page.allByTestId('revenue-row')).toHaveLength(2);
  });

  it('stays signed in when GET /me answers 503 right after the sign-in, and asks /me again after Retry-After', async () => {
    const api = fakeApi();
    api.getMe.mockRejectedValueOnce(unavailable(2));
    const page = await render(<App api={api} />);
    await advance(0);
    await typeInto(page.byTestId('login-email'), 'alice@example.com');
    await typeInto(page.byTestId('login-password'), 'alice-password-1');
    await submit(page.byTestId('login-form'));
    await advance(0);

    expect(page.byTestId('login-form')).toBeNull();
    expect(page.byTestId('session-error').textContent).toContain(
      'The service is temporarily unavailable; retrying…',
    );
    await advance(2_000);

    expect(page.byTestId('current-user').textContent).toContain('alice@example.com');
    expect(page.allByTestId('revenue-row')).toHaveLength(2);
    expect(api.login).toHaveBeenCalledTimes(1);
    expect(api.restoreSession).toHaveBeenCalledTimes(1);
  });

  it('retries the session on load after Retry-After when the service answers 503', async () => {
    const api = fakeApi({ restoreSession: vi.fn(async () => true) });
    api.getMe.mockRejectedValueOnce(unavailable(2));
    const page = await render(<App api={api} />);
    await advance(0);

    expect(page.byTestId('session-error').textContent).toContain(
      'The service is temporarily unavailable; retrying…',
    );
    await advance(2_000);

    expect(page.byTestId('current-user').textContent).toContain('alice@example.com');
    expect(page.allByTestId('revenue-row')).toHaveLength(2);
  });
});
