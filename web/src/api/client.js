import {
  ApiError,
  errorFromResponse,
  NETWORK_ERROR,
  SESSION_ENDED,
  SESSION_REVOKED,
  SIGNED_IN_ELSEWHERE,
  SIGNED_OUT_ELSEWHERE,
  TIMEOUT,
} from './problem.js';

// A request that has not finished by then fails with a message instead of
// leaving a spinner on screen forever.
export const REQUEST_TIMEOUT_MS = 10_000;

// A 503 on POST /logout is tried once more after its Retry-After (1 s
// without one) when that is at most this long; a longer wait is the user's
// to choose ("Try again"), rather than a "Signing out…" that does not end.
export const LOGOUT_RETRY_MAX_SECONDS = 5;

// Asks the server to put the refresh token in an HttpOnly cookie instead of the
// JSON body, so page scripts never see it. The server requires this header on
// cookie-based refreshes: a cross-site form cannot set it, which stops CSRF.
const COOKIE_DELIVERY = { 'X-Refresh-Token-Delivery': 'cookie' };

// Refresh at about 80% of the token's life, at least one second before it
// expires, but never sooner than half its life so a tiny lifetime cannot turn
// into a refresh loop.
export function refreshDelayMs(expiresInSeconds) {
  const lead = Math.max(expiresInSeconds * 0.2, 1);
  return Math.max(expiresInSeconds - lead, expiresInSeconds / 2) * 1000;
}

// The `sub` claim of an access token (a JWT), or null when it cannot be read.
// It only tells whether a refresh brought another user's token: every tab
// refreshes through the same cookie, and whoever signed in last owns it. The
// page trusts the claim for nothing else; the server verifies tokens.
export function subjectOf(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const { sub } = JSON.parse(atob(payload));
    return typeof sub === 'string' && sub !== '' ? sub : null;
  } catch {
    return null;
  }
}

// A refresh the server turned down (spent, revoked or expired token; or an
// origin it does not accept): no new access token will come from it.
function isRefreshRejected(error) {
  return error.status === 401 || error.status === 403;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// `channel` (a BroadcastChannel shared by this app's tabs, or null) tells the
// other tabs of a sign-in and a sign-out: they share the refresh cookie.
export function createApiClient({
  baseUrl = '',
  fetch: fetchImpl = (...args) => globalThis.fetch(...args),
  timeoutMs = REQUEST_TIMEOUT_MS,
  locks = globalThis.navigator?.locks,
  channel = null,
} = {}) {
  // The access token lives only in this closure: not in localStorage or
  // sessionStorage, where any injected script could read it. A reload loses it
  // and restoreSession() gets a new one through the refresh cookie.
  let accessToken = null;
  // Whose session this tab holds (the token's `sub`), null when unknown.
  let subject = null;
  let refreshTimer = null;
  // When the scheduled refresh is due, so that a failed sign-out can put it back.
  let refreshDueAt = null;
  let refreshInFlight = null;
  // The sign-out under way: while it lasts nothing refreshes, since a refresh
  // would rotate the cookie of the session being ended and keep it alive.
  let signingOut = null;
  // Counts sign-ins and sign-outs, so a call that fails after the user has
  // left (or signed in afresh) neither refreshes nor ends the new session.
  let generation = 0;
  const sessionEndedListeners = new Set();

  // `body` is sent as JSON; `csv` as a text/csv file. With `withETag` the
  // answer is {data, etag} (the response's ETag header) instead of the data.
  async function send(
    path,
    { method = 'GET', headers = {}, body, csv, credentials = 'same-origin', withETag = false } = {},
  ) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const contentType =
      csv !== undefined ? { 'Content-Type': 'text/csv' } : body !== undefined ? { 'Content-Type': 'application/json' } : {};
    try {
      const response = await fetchImpl(baseUrl + path, {
        method,
        headers: { Accept: 'application/json', ...contentType, ...headers },
        body: csv ?? (body === undefined ? undefined : JSON.stringify(body)),
        credentials,
        signal: controller.signal,
      });
      const data = await readJson(response);
      if (!response.ok) throw errorFromResponse(response, data);
      return withETag ? { data, etag: response.headers.get('ETag') } : data;
    } catch (error) {
      if (error instanceof ApiError) throw error;
      if (controller.signal.aborted) throw new ApiError({ status: 0, code: TIMEOUT });
      throw new ApiError({ status: 0, code: NETWORK_ERROR, detail: error.message });
    } finally {
      clearTimeout(timer);
    }
  }

  function bearer(token = accessToken) {
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  function scheduleRefresh(delayMs) {
    clearTimeout(refreshTimer);
    refreshDueAt = Date.now() + delayMs;
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      // A failure here is left to the next data call: its 401 tries the refresh
      // again and ends the session only if the server really turned it down.
      // Ending it here would sign out someone whose network just blinked.
      refresh().catch(() => {});
    }, delayMs);
  }

  function pauseRefreshes() {
    clearTimeout(refreshTimer);
    refreshTimer = null;
  }

  function acceptTokens(tokens) {
    accessToken = tokens.access_token;
    subject = subjectOf(accessToken);
    pauseRefreshes();
    refreshDueAt = null;
    // Without a lifetime there is nothing to schedule (and NaN would mean "now",
    // in a loop); the 401 path still refreshes when the token runs out.
    if (tokens.expires_in > 0) scheduleRefresh(refreshDelayMs(tokens.expires_in));
  }

  function forgetTokens() {
    accessToken = null;
    subject = null;
    pauseRefreshes();
    refreshDueAt = null;
  }

  // Parallel calls that find the same session over tell the listeners once.
  function endSession(session, code) {
    const error = new ApiError({ status: 401, code });
    if (session === generation) {
      generation += 1;
      forgetTokens();
      for (const listener of sessionEndedListeners) listener(error);
    }
    return error;
  }

  // Tabs share the refresh cookie. The Web Locks API lets one tab refresh at a
  // time, so each presents the cookie the previous one received instead of the
  // spent one (which the server treats as theft and revokes the session). A
  // sign-in takes it too: its cookie must not be overwritten by the answer to
  // a refresh another tab sent just before.
  function withCookieLock(task) {
    return locks ? locks.request('revenue-api-token-refresh', task) : task();
  }

  // Refresh tokens are single-use, so parallel callers share one refresh rather
  // than each presenting the same cookie.
  function refresh() {
    refreshInFlight ??= refreshTokens().finally(() => {
      refreshInFlight = null;
    });
    return refreshInFlight;
  }

  async function refreshTokens() {
    const session = generation;
    const tokens = await withCookieLock(() =>
      send('/token/refresh', { method: 'POST', headers: COOKIE_DELIVERY, credentials: 'include' }),
    );
    // Signed out (here or in another tab) while it was under way: the tokens
    // are no one's here, and must not start the refresh timer again.
    if (session !== generation) throw new ApiError({ status: 401, code: SESSION_ENDED });
    // Another tab signed out and someone else signed in: the cookie, and so
    // this token, are theirs. Going on would show their figures under the
    // name on this screen (or ours under theirs).
    const next = subjectOf(tokens.access_token);
    if (subject !== null && next !== null && next !== subject) throw endSession(session, SIGNED_IN_ELSEWHERE);
    acceptTokens(tokens);
  }

  // A request with the access token. On a 401 the token may just have expired (a
  // sleeping laptop misses the scheduled refresh) or been revoked while the
  // session lives on (an operator changed the user's roles): refresh once and
  // retry once (a 401 means nothing was done, so a write may be sent again).
  // If the refresh is turned down the session is over, and the first answer
  // tells whether it was ended on purpose or ran out.
  async function authorized(path, options = {}) {
    const session = generation;
    const sent = accessToken;
    const attempt = (token) => send(path, { ...options, headers: { ...options.headers, ...bearer(token) } });
    let denied;
    try {
      return await attempt(sent);
    } catch (error) {
      if (error.status !== 401) throw error;
      denied = error;
    }
    // Sent signed out: there is no session to refresh.
    if (sent === null) throw denied;
    // A sign-out under way decides first: if it ends the session there is
    // nothing to refresh, if it fails the session goes on as before.
    await signingOut?.catch(() => {});
    if (session !== generation) throw denied;
    const ended = (error) =>
      endSession(session, error.tokenRevoked || denied.tokenRevoked ? SESSION_REVOKED : SESSION_ENDED);
    // A refresh for another call replaced the token this one carried while it
    // was under way: the new one needs no refresh of its own.
    if (accessToken === sent) {
      try {
        await refresh();
      } catch (error) {
        if (error.code === SIGNED_IN_ELSEWHERE) throw error;
        throw isRefreshRejected(error) ? ended(denied) : error;
      }
    }
    try {
      return await attempt(accessToken);
    } catch (error) {
      throw error.status === 401 ? ended(error) : error;
    }
  }

  // POST /logout until the server has ended the session: true when it did,
  // false when the session turned out to be over already. A 401 says the
  // access token is no good (expired while a scheduled refresh failed, or
  // replaced after a roles change), not that the session is: the cookie could
  // still sign the user back in, so a new token is fetched to end it with.
  async function endOnServer() {
    let refreshed = false;
    let retried = false;
    for (;;) {
      try {
        await send('/logout', { method: 'POST', headers: bearer(), credentials: 'include' });
        return true;
      } catch (error) {
        const waitSeconds = error.retryAfterSeconds ?? 1;
        if (error.status === 401 && !refreshed) {
          refreshed = true;
          try {
            await refresh();
          } catch (refreshError) {
            // Turned down: the cookie cannot sign anyone in again.
            if (isRefreshRejected(refreshError)) return false;
            throw refreshError;
          }
        } else if (error.status === 401) {
          // Refused with a token just issued: the session was ended meanwhile.
          return false;
        } else if (error.status === 503 && !retried && waitSeconds <= LOGOUT_RETRY_MAX_SECONDS) {
          retried = true;
          await sleep(waitSeconds * 1000);
        } else {
          throw error;
        }
      }
    }
  }

  async function signOut() {
    pauseRefreshes();
    // A refresh under way finishes first, so that the Bearer is the newest token.
    await refreshInFlight?.catch(() => {});
    // No session here (it just ended, maybe because the cookie is someone
    // else's now): nothing to end, and the cookie is not this tab's to use.
    if (accessToken === null) return;
    const session = generation;
    let ended;
    try {
      ended = await endOnServer();
    } catch (error) {
      // Still signed in: the scheduled refresh goes back on.
      if (session === generation && refreshDueAt !== null) {
        scheduleRefresh(Math.max(0, refreshDueAt - Date.now()));
      }
      throw error;
    }
    if (session === generation) {
      generation += 1;
      forgetTokens();
    }
    if (ended) channel?.postMessage({ type: 'signed-out' });
  }

  // Another tab signed out (the cookie is gone, and the session this tab
  // shares with it is ended), or signed in as someone else (the cookie is
  // theirs now): a tab that holds a session leaves it at once.
  channel?.addEventListener('message', ({ data }) => {
    if (accessToken === null) return;
    if (data?.type === 'signed-out') endSession(generation, SIGNED_OUT_ELSEWHERE);
    else if (data?.type === 'signed-in' && data.subject && subject && data.subject !== subject)
      endSession(generation, SIGNED_IN_ELSEWHERE);
  });

  // The figures' version, for If-Match; none (a client that read no ETag)
  // means the write applies whatever changed meanwhile.
  function ifMatch(etag) {
    return etag ? { 'If-Match': etag } : {};
  }

  return {
    async login(email, password) {
      // A refresh under way finishes first: answered after the sign-in, it
      // would put back the cookie of the session that was there before.
      await refreshInFlight?.catch(() => {});
      generation += 1;
      forgetTokens();
      const tokens = await withCookieLock(() =>
        send('/login', {
          method: 'POST',
          headers: COOKIE_DELIVERY,
          credentials: 'include',
          body: { email, password },
        }),
      );
      acceptTokens(tokens);
      channel?.postMessage({ type: 'signed-in', subject });
    },

    // The access token died with the previous page; the refresh cookie may still
    // be valid. Resolves false when there is no session to restore; other
    // failures (server down, timeout) reject so the page can offer a retry.
    async restoreSession() {
      try {
        await refresh();
        return true;
      } catch (error) {
        if (isRefreshRejected(error)) return false;
        throw error;
      }
    },

    // Resolves once the session is over: the server ended it (204; the other
    // tabs are told) or it had ended already. Rejects with the error when the
    // server could not end it (503, network, timeout): the user is still
    // signed in, here and by the cookie on every reload, and must be told so.
    // A second call while one is under way waits for the same outcome.
    logout() {
      signingOut ??= signOut().finally(() => {
        signingOut = null;
      });
      return signingOut;
    },

    getMe() {
      return authorized('/me');
    },

    // The revenue, with `etag`: the version of the organization's figures.
    async getRevenue({ from, to } = {}) {
      const query = new URLSearchParams();
      if (from) query.set('from', from);
      if (to) query.set('to', to);
      const search = query.toString();
      const { data, etag } = await authorized(search ? `/revenue?${search}` : '/revenue', { withETag: true });
      return { ...data, etag };
    },

    // PUT /revenue/months/{month} (revenue:write): {month, amount_cents, etag}.
    async setMonth(month, amountCents, { etag } = {}) {
      const answer = await authorized(`/revenue/months/${encodeURIComponent(month)}`, {
        method: 'PUT',
        headers: ifMatch(etag),
        body: { amount_cents: amountCents },
        withETag: true,
      });
      return { ...answer.data, etag: answer.etag };
    },

    // POST /revenue/imports (revenue:write): the counts, and `etag`. With
    // dryRun nothing is written; a bad file rejects with code invalid_csv
    // and the mistakes in `errors`.
    async importCsv(text, { dryRun = false, etag } = {}) {
      const answer = await authorized(`/revenue/imports${dryRun ? '?dry_run=true' : ''}`, {
        method: 'POST',
        headers: ifMatch(etag),
        csv: text,
        withETag: true,
      });
      return { ...answer.data, etag: answer.etag };
    },

    // DELETE /revenue/months/{month} (revenue:write): `etag`, the figures'
    // new version. 404 not_found when the month has no figure; 412 when the
    // figures are no longer at `etag`.
    async deleteMonth(month, { etag } = {}) {
      const answer = await authorized(`/revenue/months/${encodeURIComponent(month)}`, {
        method: 'DELETE',
        headers: ifMatch(etag),
        withETag: true,
      });
      return { etag: answer.etag };
    },

    // GET /revenue/changes (revenue:write): {changes, next_cursor}, newest
    // first; `cursor` is the previous page's next_cursor.
    getRevenueChanges({ cursor, limit } = {}) {
      const query = new URLSearchParams();
      if (cursor) query.set('cursor', cursor);
      if (limit) query.set('limit', String(limit));
      const search = query.toString();
      return authorized(search ? `/revenue/changes?${search}` : '/revenue/changes');
    },

    // GET /sessions: the caller's active sessions, the current one `current`.
    async listSessions() {
      const { sessions } = await authorized('/sessions');
      return sessions;
    },

    // DELETE /sessions/{id}: ends one of the caller's sessions (404
    // not_found when it has ended already). For this browser's own session
    // use logout(), which also clears the refresh cookie.
    async deleteSession(id) {
      await authorized(`/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
    },

    // Called with the SESSION_ENDED or SESSION_REVOKED error when a data call
    // finds the session over; returns an unsubscribe.
    onSessionEnded(listener) {
      sessionEndedListeners.add(listener);
      return () => sessionEndedListeners.delete(listener);
    },
  };
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
