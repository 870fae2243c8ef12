import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiClient, refreshDelayMs } from './client.js';

const BASE = 'http://api.test';

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

function problem(status, code, headers = {}) {
  return new Response(
    JSON.stringify({
      type: `urn:revenue-api:problem:${code}`,
      title: code,
      status,
      detail: `${code} detail`,
      code,
    }),
    { status, headers: { 'Content-Type': 'application/problem+json', ...headers } },
  );
}

function tokens(name, expiresIn = 900) {
  return json(200, { access_token: name, token_type: 'Bearer', expires_in: expiresIn });
}

const ME = { sub: 'u1', email: 'alice@example.com', roles: ['finance'] };

// The server's 401 for a valid-looking access token that it turned down, as in
// internal/httpapi/middleware.go: the reason is in the challenge and the detail.
function invalidToken(description) {
  return new Response(
    JSON.stringify({
      type: 'urn:revenue-api:problem:invalid_token',
      title: 'Invalid token',
      status: 401,
      detail: description,
      code: 'invalid_token',
    }),
    {
      status: 401,
      headers: {
        'Content-Type': 'application/problem+json',
        'WWW-Authenticate': `Bearer realm="revenue-api", error="invalid_token", error_description="${description}"`,
      },
    },
  );
}
const revoked = () => invalidToken('the access token was revoked');
const expired = () => invalidToken('the access token expired');

// A fetch that answers each "METHOD /path" from a queue of responders, in
// order, and records every request it saw.
function fakeServer(routes) {
  const requests = [];
  const fetch = async (url, init) => {
    const { pathname, search } = new URL(url);
    const request = { url, path: pathname + search, ...init };
    requests.push(request);
    const responder = routes[`${init.method} ${pathname}`]?.shift();
    if (!responder) throw new Error(`unexpected request ${init.method} ${pathname}`);
    return responder(request);
  };
  return { fetch, requests };
}

function client(server, options = {}) {
  return createApiClient({ baseUrl: BASE, fetch: server.fetch, locks: null, ...options });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('login', () => {
  it('asks for the refresh token as a cookie and keeps the access token in memory', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /me': [() => json(200, ME)],
    });
    const api = client(server);

    await api.login('alice@example.com', 'alice-password-1');
    await expect(api.getMe()).resolves.toEqual(ME);

    const [login, me] = server.requests;
    expect(login.url).toBe(`${BASE}/login`);
    expect(login.credentials).toBe('include');
    expect(login.headers).toMatchObject({
      'X-Refresh-Token-Delivery': 'cookie',
      'Content-Type': 'application/json',
    });
    expect(JSON.parse(login.body)).toEqual({ email: 'alice@example.com', password: 'alice-password-1' });
    expect(me.headers.Authorization).toBe('Bearer access-1');
    expect(localStorage.length).toBe(0);
    expect(sessionStorage.length).toBe(0);
    expect(document.cookie).toBe('');
  });

  it('rejects with the problem code', async () => {
    const server = fakeServer({ 'POST /login': [() => problem(401, 'invalid_credentials')] });
    await expect(client(server).login('alice@example.com', 'wrong')).rejects.toMatchObject({
      status: 401,
      code: 'invalid_credentials',
      detail: 'invalid_credentials detail',
    });
  });

  it('reads Retry-After on 429', async () => {
    const server = fakeServer({
      'POST /login': [() => problem(429, 'rate_limited', { 'Retry-After': '17' })],
    });
    await expect(client(server).login('a@example.com', 'p')).rejects.toMatchObject({
      code: 'rate_limited',
      retryAfterSeconds: 17,
    });
  });

  it('copes with an error that is not a problem body', async () => {
    const server = fakeServer({
      'POST /login': [() => new Response('<h1>Bad gateway</h1>', { status: 502 })],
    });
    await expect(client(server).login('a@example.com', 'p')).rejects.toMatchObject({
      status: 502,
      code: 'http_502',
    });
  });

  it('reports an unreachable server as a network error', async () => {
    const api = createApiClient({
      baseUrl: BASE,
      locks: null,
      fetch: async () => {
        throw new TypeError('Failed to fetch');
      },
    });
    await expect(api.login('a@example.com', 'p')).rejects.toMatchObject({ status: 0, code: 'network_error' });
  });

  it('gives up on a silent server after the timeout', async () => {
    vi.useFakeTimers();
    const api = createApiClient({
      baseUrl: BASE,
      locks: null,
      timeoutMs: 10_000,
      fetch: (url, init) =>
        new Promise((resolve, reject) => {
          init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    });
    const outcome = expect(api.login('a@example.com', 'p')).rejects.toMatchObject({
      status: 0,
      code: 'timeout',
    });
    await vi.advanceTimersByTimeAsync(10_000);
    await outcome;
  });
});

describe('data calls', () => {
  it('sends the month range as query parameters', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /revenue': [() => json(200, { months: [] }), () => json(200, { months: [] })],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    await api.getRevenue({ from: '2025-01', to: '2025-06' });
    await api.getRevenue({ from: '', to: '' });

    expect(server.requests[1].path).toBe('/revenue?from=2025-01&to=2025-06');
    expect(server.requests[2].path).toBe('/revenue');
  });

  it('on 401 refreshes once through the cookie and retries with the new token', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /revenue': [() => problem(401, 'invalid_token'), () => json(200, { months: [] })],
      'POST /token/refresh': [() => tokens('access-2')],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    await expect(api.getRevenue()).resolves.toEqual({ months: [], etag: null });

    const [, first, refresh, retry] = server.requests;
    expect(first.headers.Authorization).toBe('Bearer access-1');
    expect(refresh.credentials).toBe('include');
    expect(refresh.headers['X-Refresh-Token-Delivery']).toBe('cookie');
    expect(refresh.body).toBeUndefined();
    expect(retry.headers.Authorization).toBe('Bearer access-2');
  });

  it('shares one refresh between parallel calls (refresh tokens are single-use)', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /me': [() => problem(401, 'invalid_token'), () => json(200, ME)],
      'GET /revenue': [() => problem(401, 'invalid_token'), () => json(200, { months: [] })],
      'POST /token/refresh': [() => tokens('access-2')],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    await Promise.all([api.getMe(), api.getRevenue()]);

    expect(server.requests.filter((r) => r.path === '/token/refresh')).toHaveLength(1);
  });

  it('ends the session when the refresh is turned down', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /me': [() => problem(401, 'invalid_token'), () => problem(401, 'missing_token')],
      'POST /token/refresh': [() => problem(401, 'invalid_refresh_token')],
    });
    const api = client(server);
    const ended = vi.fn();
    api.onSessionEnded(ended);
    await api.login('a@example.com', 'p');

    await expect(api.getMe()).rejects.toMatchObject({ code: 'session_ended' });
    expect(ended).toHaveBeenCalledTimes(1);

    // The old token is forgotten, not sent again.
    await api.getMe().catch(() => {});
    expect(server.requests.at(-1).headers.Authorization).toBeUndefined();
  });

  it('keeps the session when the refresh fails for a network reason', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /me': [() => problem(401, 'invalid_token')],
      'POST /token/refresh': [() => Promise.reject(new TypeError('Failed to fetch'))],
    });
    const api = client(server);
    const ended = vi.fn();
    api.onSessionEnded(ended);
    await api.login('a@example.com', 'p');

    await expect(api.getMe()).rejects.toMatchObject({ code: 'network_error' });
    expect(ended).not.toHaveBeenCalled();
  });

  it('does not refresh on 403 insufficient_scope', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /revenue': [() => problem(403, 'insufficient_scope')],
    });
    const api = client(server);
    await api.login('bob@example.com', 'p');

    await expect(api.getRevenue()).rejects.toMatchObject({ status: 403, code: 'insufficient_scope' });
    expect(server.requests).toHaveLength(2);
  });
});

describe('revoked access tokens', () => {
  it('ends the session as revoked when the refresh is turned down too', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /revenue': [() => revoked()],
      'POST /token/refresh': [() => problem(401, 'invalid_refresh_token')],
    });
    const api = client(server);
    const ended = vi.fn();
    api.onSessionEnded(ended);
    await api.login('a@example.com', 'p');

    await expect(api.getRevenue()).rejects.toMatchObject({ status: 401, code: 'session_revoked' });
    expect(ended).toHaveBeenCalledTimes(1);
    expect(ended).toHaveBeenCalledWith(expect.objectContaining({ code: 'session_revoked' }));
    expect(server.requests.map((r) => r.path)).toEqual(['/login', '/revenue', '/token/refresh']);
  });

  it('tells an expired session from a revoked one', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /me': [() => expired()],
      'POST /token/refresh': [() => problem(401, 'invalid_refresh_token')],
    });
    const api = client(server);
    const ended = vi.fn();
    api.onSessionEnded(ended);
    await api.login('a@example.com', 'p');

    await expect(api.getMe()).rejects.toMatchObject({ code: 'session_ended' });
    expect(ended).toHaveBeenCalledWith(expect.objectContaining({ code: 'session_ended' }));
  });

  it('knows a revocation from the problem detail when the challenge header is not exposed', async () => {
    const body = { code: 'invalid_token', status: 401, detail: 'the access token was revoked' };
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /me': [() => json(401, body)],
      'POST /token/refresh': [() => problem(401, 'invalid_refresh_token')],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    await expect(api.getMe()).rejects.toMatchObject({ code: 'session_revoked' });
  });

  it('keeps a session whose token was revoked but whose refresh works (roles changed)', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /me': [() => revoked(), () => json(200, { ...ME, roles: [] })],
      'POST /token/refresh': [() => tokens('access-2')],
    });
    const api = client(server);
    const ended = vi.fn();
    api.onSessionEnded(ended);
    await api.login('a@example.com', 'p');

    await expect(api.getMe()).resolves.toEqual({ ...ME, roles: [] });
    expect(ended).not.toHaveBeenCalled();
    expect(server.requests.at(-1).headers.Authorization).toBe('Bearer access-2');
  });

  it('tells the app once when parallel calls find the session revoked', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /me': [() => revoked()],
      'GET /revenue': [() => revoked()],
      'POST /token/refresh': [() => problem(401, 'invalid_refresh_token')],
    });
    const api = client(server);
    const ended = vi.fn();
    api.onSessionEnded(ended);
    await api.login('a@example.com', 'p');

    const outcomes = await Promise.allSettled([api.getMe(), api.getRevenue()]);

    expect(outcomes.map((o) => o.reason?.code)).toEqual(['session_revoked', 'session_revoked']);
    expect(ended).toHaveBeenCalledTimes(1);
  });

  it('neither refreshes nor ends anything for a call that fails after logout', async () => {
    let answerMe;
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /me': [() => new Promise((resolve) => (answerMe = resolve))],
      'POST /logout': [() => new Response(null, { status: 204 })],
    });
    const api = client(server);
    const ended = vi.fn();
    api.onSessionEnded(ended);
    await api.login('a@example.com', 'p');

    const me = api.getMe();
    await api.logout();
    answerMe(revoked());

    await expect(me).rejects.toMatchObject({ status: 401, code: 'invalid_token' });
    expect(server.requests.map((r) => r.path)).toEqual(['/login', '/me', '/logout']);
    expect(ended).not.toHaveBeenCalled();
  });

  it('keeps the session on 503 revocations_unavailable and passes on Retry-After', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /revenue': [
        () => problem(503, 'revocations_unavailable', { 'Retry-After': '5' }),
        () => json(200, { months: [] }),
      ],
    });
    const api = client(server);
    const ended = vi.fn();
    api.onSessionEnded(ended);
    await api.login('a@example.com', 'p');

    await expect(api.getRevenue()).rejects.toMatchObject({
      status: 503,
      code: 'revocations_unavailable',
      retryAfterSeconds: 5,
    });
    expect(ended).not.toHaveBeenCalled();
    await expect(api.getRevenue()).resolves.toEqual({ months: [], etag: null });
    expect(server.requests.at(-1).headers.Authorization).toBe('Bearer access-1');
  });
});

describe('silent refresh', () => {
  it('refreshes at about 80% of the lifetime, at least a second early', () => {
    expect(refreshDelayMs(900)).toBe(720_000);
    expect(refreshDelayMs(4)).toBe(3_000);
    expect(refreshDelayMs(1)).toBe(500);
  });

  it('keeps refreshing before each token expires', async () => {
    vi.useFakeTimers();
    const server = fakeServer({
      'POST /login': [() => tokens('access-1', 4)],
      'POST /token/refresh': [() => tokens('access-2', 4), () => tokens('access-3', 4)],
      'GET /me': [() => json(200, ME)],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');
    const refreshes = () => server.requests.filter((r) => r.path === '/token/refresh').length;

    await vi.advanceTimersByTimeAsync(2_999);
    expect(refreshes()).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(refreshes()).toBe(1);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(refreshes()).toBe(2);

    await api.getMe();
    expect(server.requests.at(-1).headers.Authorization).toBe('Bearer access-3');
  });

  it('schedules nothing when the answer has no lifetime', async () => {
    vi.useFakeTimers();
    const server = fakeServer({ 'POST /login': [() => json(200, { access_token: 'access-1' })] });
    await client(server).login('a@example.com', 'p');

    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.requests).toHaveLength(1);
  });

  it('takes the cross-tab lock around each refresh', async () => {
    const locks = { request: vi.fn((name, task) => task()) };
    const server = fakeServer({ 'POST /token/refresh': [() => tokens('access-1')] });

    await expect(client(server, { locks }).restoreSession()).resolves.toBe(true);
    expect(locks.request).toHaveBeenCalledWith('revenue-api-token-refresh', expect.any(Function));
  });
});

describe('restoreSession', () => {
  it('is false when there is no valid refresh cookie', async () => {
    const server = fakeServer({ 'POST /token/refresh': [() => problem(401, 'invalid_refresh_token')] });
    await expect(client(server).restoreSession()).resolves.toBe(false);
  });

  it('rejects when the server cannot answer, so the page can offer a retry', async () => {
    const server = fakeServer({ 'POST /token/refresh': [() => problem(503, 'unavailable')] });
    await expect(client(server).restoreSession()).rejects.toMatchObject({ status: 503, code: 'unavailable' });
  });
});

describe('logout', () => {
  it('sends the token and the cookie, then forgets the token', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'POST /logout': [() => new Response(null, { status: 204 })],
      'GET /me': [() => problem(401, 'missing_token')],
      'POST /token/refresh': [() => problem(401, 'invalid_refresh_token')],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    await api.logout();
    await api.getMe().catch(() => {});

    const [, logout, me] = server.requests;
    expect(logout.headers.Authorization).toBe('Bearer access-1');
    expect(logout.credentials).toBe('include');
    expect(me.headers.Authorization).toBeUndefined();
  });

  it('rejects and keeps the session when the server is unreachable', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'POST /logout': [() => Promise.reject(new TypeError('Failed to fetch'))],
      'GET /me': [() => json(200, ME)],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    await expect(api.logout()).rejects.toMatchObject({ status: 0, code: 'network_error' });
    await expect(api.getMe()).resolves.toEqual(ME);
    expect(server.requests.at(-1).headers.Authorization).toBe('Bearer access-1');
  });

  it('rejects on 503 and keeps the session, refreshing on time as before', async () => {
    vi.useFakeTimers();
    const server = fakeServer({
      'POST /login': [() => tokens('access-1', 60)],
      'POST /logout': [() => problem(503, 'revocations_unavailable', { 'Retry-After': '30' })],
      'POST /token/refresh': [() => tokens('access-2', 60)],
      'GET /me': [() => json(200, ME)],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    await expect(api.logout()).rejects.toMatchObject({ status: 503, code: 'revocations_unavailable' });
    await vi.advanceTimersByTimeAsync(48_000);
    await api.getMe();

    expect(server.requests.map((r) => r.path)).toEqual(['/login', '/logout', '/token/refresh', '/me']);
    expect(server.requests.at(-1).headers.Authorization).toBe('Bearer access-2');
  });

  it('tries once more after a short Retry-After on 503', async () => {
    vi.useFakeTimers();
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'POST /logout': [
        () => problem(503, 'revocations_unavailable', { 'Retry-After': '2' }),
        () => new Response(null, { status: 204 }),
      ],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    const out = api.logout();
    await vi.advanceTimersByTimeAsync(1_999);
    expect(server.requests.filter((r) => r.path === '/logout')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(out).resolves.toBeUndefined();
    expect(server.requests.filter((r) => r.path === '/logout')).toHaveLength(2);
  });

  it('refreshes and signs out with the new token when the access token had expired', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'POST /logout': [() => expired(), () => new Response(null, { status: 204 })],
      'POST /token/refresh': [() => tokens('access-2')],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    await expect(api.logout()).resolves.toBeUndefined();

    expect(server.requests.map((r) => [r.path, r.headers.Authorization])).toEqual([
      ['/login', undefined],
      ['/logout', 'Bearer access-1'],
      ['/token/refresh', undefined],
      ['/logout', 'Bearer access-2'],
    ]);
  });

  it('counts a 401 whose refresh is turned down as signed out already', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'POST /logout': [() => revoked()],
      'POST /token/refresh': [() => problem(401, 'invalid_refresh_token')],
      'GET /me': [() => problem(401, 'missing_token')],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    await expect(api.logout()).resolves.toBeUndefined();
    await api.getMe().catch(() => {});
    expect(server.requests.at(-1).headers.Authorization).toBeUndefined();
  });

  it('sends one POST /logout for a second click while the first is under way', async () => {
    let answer;
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'POST /logout': [() => new Promise((resolve) => (answer = resolve))],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    const first = api.logout();
    const second = api.logout();
    await new Promise((resolve) => setTimeout(resolve, 0));
    answer(new Response(null, { status: 204 }));

    await Promise.all([first, second]);
    expect(server.requests.filter((r) => r.path === '/logout')).toHaveLength(1);
  });
});

describe('calls while signing out or signing in', () => {
  it('a call answered 401 while POST /logout is under way does not refresh, nor is a refresh scheduled after', async () => {
    vi.useFakeTimers();
    let answerLogout;
    const server = fakeServer({
      'POST /login': [() => tokens('access-1', 60)],
      'POST /logout': [() => new Promise((resolve) => (answerLogout = resolve))],
      // The session check, as the server revokes the token of the session being ended.
      'GET /me': [() => revoked()],
    });
    const api = client(server);
    const ended = vi.fn();
    api.onSessionEnded(ended);
    await api.login('a@example.com', 'p');

    const out = api.logout();
    await vi.advanceTimersByTimeAsync(0);
    const me = api.getMe();
    await vi.advanceTimersByTimeAsync(0);
    answerLogout(new Response(null, { status: 204 }));
    await out;
    await expect(me).rejects.toMatchObject({ status: 401 });
    await vi.advanceTimersByTimeAsync(120_000);

    expect(server.requests.map((r) => r.path)).toEqual(['/login', '/logout', '/me']);
    expect(ended).not.toHaveBeenCalled();
  });

  it('a call that failed while the sign-out failed refreshes as usual afterwards', async () => {
    let answerLogout;
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'POST /logout': [() => new Promise((resolve) => (answerLogout = resolve))],
      'GET /me': [() => expired(), () => json(200, ME)],
      'POST /token/refresh': [() => tokens('access-2')],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    const out = api.logout().catch((error) => error);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const me = api.getMe();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(server.requests.map((r) => r.path)).toEqual(['/login', '/logout', '/me']);
    answerLogout(problem(500, 'internal'));

    await expect(out).resolves.toMatchObject({ status: 500 });
    await expect(me).resolves.toEqual(ME);
    expect(server.requests.map((r) => r.path)).toEqual(['/login', '/logout', '/me', '/token/refresh', '/me']);
  });

  it('a 401 for a call sent without a token does not refresh', async () => {
    const server = fakeServer({ 'GET /me': [() => problem(401, 'missing_token')] });
    const api = client(server);

    await expect(api.getMe()).rejects.toMatchObject({ status: 401, code: 'missing_token' });
    expect(server.requests.map((r) => r.path)).toEqual(['/me']);
  });

  it('a sign-in waits for a refresh under way, whose answer then cannot replace its tokens or cookie', async () => {
    let answerRefresh;
    const server = fakeServer({
      'POST /token/refresh': [() => new Promise((resolve) => (answerRefresh = resolve))],
      'POST /login': [() => tokens('access-login')],
      'GET /me': [() => json(200, ME)],
    });
    const api = client(server);

    const restored = api.restoreSession();
    await new Promise((resolve) => setTimeout(resolve, 0));
    const signedIn = api.login('a@example.com', 'p');
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(server.requests.map((r) => r.path)).toEqual(['/token/refresh']);
    answerRefresh(tokens('access-refresh'));
    await restored;
    await signedIn;
    await api.getMe();

    expect(server.requests.map((r) => r.path)).toEqual(['/token/refresh', '/login', '/me']);
    expect(server.requests.at(-1).headers.Authorization).toBe('Bearer access-login');
  });

  it('a refresh answered after the session ended (another tab signed out) keeps no token and schedules nothing', async () => {
    vi.useFakeTimers();
    const newTab = browserTabs();
    let answerRefresh;
    const server = fakeServer({
      'POST /login': [() => tokens(accessToken('alice'), 60)],
      'POST /token/refresh': [() => new Promise((resolve) => (answerRefresh = resolve))],
      'GET /me': [() => expired(), () => problem(401, 'missing_token')],
    });
    const here = client(server, { channel: newTab() });
    const other = newTab();
    await here.login('alice@example.com', 'p');

    const me = here.getMe();
    await vi.advanceTimersByTimeAsync(0);
    other.postMessage({ type: 'signed-out' });
    await vi.advanceTimersByTimeAsync(0);
    answerRefresh(tokens(accessToken('alice', 2), 60));
    await expect(me).rejects.toMatchObject({ status: 401 });
    await vi.advanceTimersByTimeAsync(120_000);
    await here.getMe().catch(() => {});

    expect(server.requests.map((r) => [r.path, r.headers.Authorization])).toEqual([
      ['/login', undefined],
      ['/me', `Bearer ${accessToken('alice')}`],
      ['/token/refresh', undefined],
      ['/me', undefined],
    ]);
  });
});

describe('one refresh for many 401s', () => {
  it('retries at once, without refreshing, a call whose token was replaced while it was under way', async () => {
    const answers = [];
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /me': [() => new Promise((resolve) => answers.push(resolve)), () => json(200, ME)],
      'GET /sessions': [
        () => new Promise((resolve) => answers.push(resolve)),
        () => json(200, { sessions: [] }),
      ],
      'POST /token/refresh': [() => tokens('access-2')],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    const me = api.getMe();
    const sessions = api.listSessions();
    await new Promise((resolve) => setTimeout(resolve, 0));
    answers[0](expired());
    await me;
    answers[1](expired());
    await sessions;

    expect(server.requests.filter((r) => r.path === '/token/refresh')).toHaveLength(1);
    expect(server.requests.at(-1)).toMatchObject({
      path: '/sessions',
      headers: { Authorization: 'Bearer access-2' },
    });
  });
});

// An access token as the server signs it (RS256, here unsigned): the client
// reads only its `sub`.
function accessToken(sub, n = 1) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'RS256', typ: 'at+jwt' })}.${part({ sub, sid: `s-${sub}`, n })}.signature`;
}

// BroadcastChannels of one browser: what one tab posts, the others get.
function browserTabs() {
  const tabs = [];
  return () => {
    const listeners = new Set();
    const tab = {
      postMessage(data) {
        for (const other of tabs) {
          if (other !== tab) queueMicrotask(() => other.listeners.forEach((listener) => listener({ data })));
        }
      },
      addEventListener: (type, listener) => type === 'message' && listeners.add(listener),
      listeners,
    };
    tabs.push(tab);
    return tab;
  };
}

describe('another user in another tab', () => {
  it('ends the session when a refresh brings another user’s token (the shared cookie changed hands)', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens(accessToken('alice'))],
      'GET /revenue': [() => revoked()],
      'GET /me': [() => problem(401, 'missing_token')],
      'POST /token/refresh': [() => tokens(accessToken('carol'))],
    });
    const api = client(server);
    const ended = vi.fn();
    api.onSessionEnded(ended);
    await api.login('alice@example.com', 'p');

    await expect(api.getRevenue()).rejects.toMatchObject({ status: 401, code: 'signed_in_elsewhere' });
    expect(ended).toHaveBeenCalledTimes(1);
    expect(ended).toHaveBeenCalledWith(expect.objectContaining({ code: 'signed_in_elsewhere' }));
    // Nothing was asked with carol's token, and it is not kept.
    await api.getMe().catch(() => {});
    expect(server.requests.map((r) => [r.path, r.headers.Authorization])).toEqual([
      ['/login', undefined],
      ['/revenue', `Bearer ${accessToken('alice')}`],
      ['/token/refresh', undefined],
      ['/me', undefined],
    ]);
  });

  it('goes on when a refresh brings the same user’s new token', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens(accessToken('alice', 1))],
      'GET /me': [() => revoked(), () => json(200, ME)],
      'POST /token/refresh': [() => tokens(accessToken('alice', 2))],
    });
    const api = client(server);
    await api.login('alice@example.com', 'p');

    await expect(api.getMe()).resolves.toEqual(ME);
    expect(server.requests.at(-1).headers.Authorization).toBe(`Bearer ${accessToken('alice', 2)}`);
  });

  it('a sign-out that finds the cookie someone else’s ends no one’s session', async () => {
    let answerRefresh;
    const server = fakeServer({
      'POST /login': [() => tokens(accessToken('alice'))],
      'GET /me': [() => expired()],
      'POST /token/refresh': [() => new Promise((resolve) => (answerRefresh = resolve))],
      'POST /logout': [() => new Response(null, { status: 204 })],
    });
    const api = client(server);
    const ended = vi.fn();
    api.onSessionEnded(ended);
    await api.login('alice@example.com', 'p');

    const me = api.getMe().catch((error) => error);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const out = api.logout();
    answerRefresh(tokens(accessToken('carol')));

    await expect(out).resolves.toBeUndefined();
    await expect(me).resolves.toMatchObject({ code: 'signed_in_elsewhere' });
    expect(ended).toHaveBeenCalledWith(expect.objectContaining({ code: 'signed_in_elsewhere' }));
    expect(server.requests.map((r) => r.path)).toEqual(['/login', '/me', '/token/refresh']);
  });

  it('tells the other tabs of a sign-out: they leave too', async () => {
    const newTab = browserTabs();
    const server = fakeServer({
      'POST /login': [() => tokens(accessToken('alice'))],
      'POST /token/refresh': [() => tokens(accessToken('alice', 2))],
      'POST /logout': [() => new Response(null, { status: 204 })],
    });
    const here = client(server, { channel: newTab() });
    const there = client(server, { channel: newTab() });
    const ended = vi.fn();
    there.onSessionEnded(ended);
    await here.login('alice@example.com', 'p');
    await there.restoreSession();

    await here.logout();
    await new Promise((resolve) => setTimeout(resolve, 0));

    expect(ended).toHaveBeenCalledWith(
      expect.objectContaining({ status: 401, code: 'signed_out_elsewhere' }),
    );
  });

  it('tells the other tabs who signed in: a tab signed in as someone else leaves, one of the same user stays', async () => {
    const newTab = browserTabs();
    const server = fakeServer({
      'POST /login': [() => tokens(accessToken('alice')), () => tokens(accessToken('carol'))],
      'POST /token/refresh': [() => tokens(accessToken('alice', 2)), () => tokens(accessToken('alice', 3))],
    });
    const first = client(server, { channel: newTab() });
    const alice = client(server, { channel: newTab() });
    const aliceToo = client(server, { channel: newTab() });
    const ended = { alice: vi.fn(), aliceToo: vi.fn() };
    alice.onSessionEnded(ended.alice);
    aliceToo.onSessionEnded(ended.aliceToo);
    await alice.restoreSession();
    await aliceToo.restoreSession();

    await first.login('alice@example.com', 'p');
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(ended.alice).not.toHaveBeenCalled();

    await first.login('carol@example.com', 'p');
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(ended.alice).toHaveBeenCalledWith(expect.objectContaining({ code: 'signed_in_elsewhere' }));
    expect(ended.aliceToo).toHaveBeenCalledWith(expect.objectContaining({ code: 'signed_in_elsewhere' }));
  });
});

describe('revenue writes', () => {
  it('reads the figures’ ETag and sends it back as If-Match when setting a month', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /revenue': [() => json(200, { months: [] }, { ETag: '"rev-7"' })],
      'PUT /revenue/months/2026-03': [
        () => json(200, { month: '2026-03', amount_cents: 123456 }, { ETag: '"rev-8"' }),
      ],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    const revenue = await api.getRevenue();
    expect(revenue.etag).toBe('"rev-7"');
    await expect(api.setMonth('2026-03', 123456, { etag: revenue.etag })).resolves.toEqual({
      month: '2026-03',
      amount_cents: 123456,
      etag: '"rev-8"',
    });

    const put = server.requests.at(-1);
    expect(put.headers).toMatchObject({
      Authorization: 'Bearer access-1',
      'If-Match': '"rev-7"',
      'Content-Type': 'application/json',
    });
    expect(JSON.parse(put.body)).toEqual({ amount_cents: 123456 });
  });

  it('passes on a 412 when the figures changed meanwhile', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'PUT /revenue/months/2026-03': [() => problem(412, 'precondition_failed')],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');
    await expect(api.setMonth('2026-03', 1, { etag: '"rev-1"' })).rejects.toMatchObject({
      status: 412,
      code: 'precondition_failed',
    });
  });

  it('sends a CSV file as text/csv, as a dry run or for real, and passes on its mistakes', async () => {
    const mistakes = [{ line: 3, column: 9, message: 'line 3: amount "12,5": not a number with at most two decimals' }];
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'POST /revenue/imports': [
        () =>
          new Response(JSON.stringify({ status: 400, code: 'invalid_csv', detail: 'The file has mistakes.', errors: mistakes }), {
            status: 400,
            headers: { 'Content-Type': 'application/problem+json' },
          }),
        () => json(200, { dry_run: true, months: 2, inserted: 1, updated: 1, unchanged: 0 }, { ETag: '"rev-3"' }),
        () => json(200, { dry_run: false, months: 2, inserted: 1, updated: 1, unchanged: 0 }, { ETag: '"rev-4"' }),
      ],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    const refused = await api.importCsv('month,amount\n2026-01,1\n2026-02,12,5\n', { dryRun: true }).catch((e) => e);
    expect(refused).toMatchObject({ status: 400, code: 'invalid_csv', errors: mistakes });

    const file = 'month,amount\n2026-01,1\n2026-02,2\n';
    await expect(api.importCsv(file, { dryRun: true, etag: '"rev-3"' })).resolves.toMatchObject({ dry_run: true, inserted: 1 });
    await expect(api.importCsv(file, { etag: '"rev-3"' })).resolves.toMatchObject({ dry_run: false, etag: '"rev-4"' });

    const [, , dryRun, real] = server.requests;
    expect(dryRun.path).toBe('/revenue/imports?dry_run=true');
    expect(dryRun.headers).toMatchObject({ 'Content-Type': 'text/csv', 'If-Match': '"rev-3"' });
    expect(dryRun.body).toBe(file);
    expect(real.path).toBe('/revenue/imports');
    expect(real.method).toBe('POST');
  });
});

describe('removing a month and the changes', () => {
  it('sends DELETE If-Match the figures shown and reads the new ETag', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'DELETE /revenue/months/2026-03': [
        () => new Response(null, { status: 204, headers: { ETag: '"rev-9"' } }),
      ],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    await expect(api.deleteMonth('2026-03', { etag: '"rev-8"' })).resolves.toEqual({ etag: '"rev-9"' });

    const removal = server.requests.at(-1);
    expect(removal.method).toBe('DELETE');
    expect(removal.body).toBeUndefined();
    expect(removal.headers).toMatchObject({ Authorization: 'Bearer access-1', 'If-Match': '"rev-8"' });
    expect(removal.headers['Content-Type']).toBeUndefined();
  });

  it('passes on a 404 (no figure) and a 412 (figures changed)', async () => {
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'DELETE /revenue/months/2026-03': [
        () => problem(404, 'not_found'),
        () => problem(412, 'precondition_failed'),
      ],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');
    await expect(api.deleteMonth('2026-03', { etag: '"rev-8"' })).rejects.toMatchObject({
      status: 404,
      code: 'not_found',
    });
    await expect(api.deleteMonth('2026-03', { etag: '"rev-8"' })).rejects.toMatchObject({
      status: 412,
      code: 'precondition_failed',
    });
  });

  it('asks for a page of changes, the next one with the cursor given', async () => {
    const page = { changes: [{ id: '7', month: '2026-03' }], next_cursor: '7' };
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /revenue/changes': [() => json(200, page), () => json(200, { changes: [], next_cursor: null })],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    await expect(api.getRevenueChanges({ limit: 20 })).resolves.toEqual(page);
    await expect(api.getRevenueChanges({ cursor: '7', limit: 20 })).resolves.toEqual({
      changes: [],
      next_cursor: null,
    });

    const [, first, next] = server.requests;
    expect(first.path).toBe('/revenue/changes?limit=20');
    expect(next.path).toBe('/revenue/changes?cursor=7&limit=20');
    expect(next.headers.Authorization).toBe('Bearer access-1');
  });
});

describe('sessions', () => {
  it('lists the caller’s sessions and ends one by id', async () => {
    const sessions = [
      { id: 'a1', current: true },
      { id: 'b 2', current: false },
    ];
    const server = fakeServer({
      'POST /login': [() => tokens('access-1')],
      'GET /sessions': [() => json(200, { sessions })],
      'DELETE /sessions/b%202': [() => new Response(null, { status: 204 }), () => problem(404, 'not_found')],
    });
    const api = client(server);
    await api.login('a@example.com', 'p');

    await expect(api.listSessions()).resolves.toEqual(sessions);
    await expect(api.deleteSession('b 2')).resolves.toBeUndefined();
    await expect(api.deleteSession('b 2')).rejects.toMatchObject({ status: 404, code: 'not_found' });

    const [, list, end] = server.requests;
    expect(list.headers.Authorization).toBe('Bearer access-1');
    expect(end.method).toBe('DELETE');
    expect(end.headers.Authorization).toBe('Bearer access-1');
  });
});
