import {
  ApiError,
  errorFromResponse,
  NETWORK_ERROR,
  SESSION_ENDED,
  SESSION_REVOKED,
  TIMEOUT,
} from './problem.js';

// A request that has not finished by then fails with a message instead of
// leaving a spinner on screen forever.
export const REQUEST_TIMEOUT_MS = 10_000;

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

// A refresh the server turned down (spent, revoked or expired token; or an
// origin it does not accept): no new access token will come from it.
function isRefreshRejected(error) {
  return error.status === 401 || error.status === 403;
}

export function createApiClient({
  baseUrl = '',
  fetch: fetchImpl = (...args) => globalThis.fetch(...args),
  timeoutMs = REQUEST_TIMEOUT_MS,
  locks = globalThis.navigator?.locks,
} = {}) {
  // The access token lives only in this closure: not in localStorage or
  // sessionStorage, where any injected script could read it. A reload loses it
  // and restoreSession() gets a new one through the refresh cookie.
  let accessToken = null;
  let refreshTimer = null;
  let refreshInFlight = null;
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

  function acceptTokens(tokens) {
    accessToken = tokens.access_token;
    clearTimeout(refreshTimer);
    // Without a lifetime there is nothing to schedule (and NaN would mean "now",
    // in a loop); the 401 path still refreshes when the token runs out.
    if (!(tokens.expires_in > 0)) return;
    refreshTimer = setTimeout(() => {
      // A failure here is left to the next data call: its 401 tries the refresh
      // again and ends the session only if the server really turned it down.
      // Ending it here would sign out someone whose network just blinked.
      refresh().catch(() => {});
    }, refreshDelayMs(tokens.expires_in));
  }

  function forgetTokens() {
    accessToken = null;
    clearTimeout(refreshTimer);
    refreshTimer = null;
  }

  // Parallel calls that find the same session over tell the listeners once.
  function endSession(session, revoked) {
    const error = new ApiError({ status: 401, code: revoked ? SESSION_REVOKED : SESSION_ENDED });
    if (session === generation) {
      generation += 1;
      forgetTokens();
      for (const listener of sessionEndedListeners) listener(error);
    }
    return error;
  }

  // Tabs share the refresh cookie. The Web Locks API lets one tab refresh at a
  // time, so each presents the cookie the previous one received instead of the
  // spent one (which the server treats as theft and revokes the session).
  function withRefreshLock(task) {
    return locks ? locks.request('revenue-api-token-refresh', task) : task();
  }

  // Refresh tokens are single-use, so parallel callers share one refresh rather
  // than each presenting the same cookie.
  function refresh() {
    refreshInFlight ??= withRefreshLock(() =>
      send('/token/refresh', { method: 'POST', headers: COOKIE_DELIVERY, credentials: 'include' }),
    )
      .then(acceptTokens)
      .finally(() => {
        refreshInFlight = null;
      });
    return refreshInFlight;
  }

  // A request with the access token. On a 401 the token may just have expired (a
  // sleeping laptop misses the scheduled refresh) or been revoked while the
  // session lives on (an operator changed the user's roles): refresh once and
  // retry once (a 401 means nothing was done, so a write may be sent again).
  // If the refresh is turned down the session is over, and the first answer
  // tells whether it was ended on purpose or ran out.
  async function authorized(path, options = {}) {
    const session = generation;
    const attempt = () => send(path, { ...options, headers: { ...options.headers, ...bearer() } });
    let denied;
    try {
      return await attempt();
    } catch (error) {
      if (error.status !== 401) throw error;
      denied = error;
    }
    if (session !== generation) throw denied;
    try {
      await refresh();
    } catch (error) {
      throw isRefreshRejected(error) ? endSession(session, denied.tokenRevoked) : error;
    }
    try {
      return await attempt();
    } catch (error) {
      throw error.status === 401 ? endSession(session, error.tokenRevoked || denied.tokenRevoked) : error;
    }
  }

  // The figures' version, for If-Match; none (a client that read no ETag)
  // means the write applies whatever changed meanwhile.
  function ifMatch(etag) {
    return etag ? { 'If-Match': etag } : {};
  }

  return {
    async login(email, password) {
      generation += 1;
      const tokens = await send('/login', {
        method: 'POST',
        headers: COOKIE_DELIVERY,
        credentials: 'include',
        body: { email, password },
      });
      acceptTokens(tokens);
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

    // Always resolves: the user asked to leave, and the login form is shown
    // whether or not the server heard about it.
    async logout() {
      // Let a refresh under way finish first, so the Bearer is the newest token
      // and the refresh cannot re-arm the timer after we are done.
      await refreshInFlight?.catch(() => {});
      const token = accessToken;
      generation += 1;
      forgetTokens();
      try {
        await send('/logout', { method: 'POST', headers: bearer(token), credentials: 'include' });
      } catch {
        // Nothing to tell the user: the session then ends at its own expiry.
      }
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
