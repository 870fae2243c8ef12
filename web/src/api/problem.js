// Errors from the API are RFC 9457 problem bodies with a stable `code` (see
// docs/contract.md). Everything the UI decides is based on that code, never on
// the human-readable title or detail, which may change.

export class ApiError extends Error {
  constructor({ status, code, title, detail, retryAfterSeconds = null, tokenRevoked = false, errors = [] }) {
    super(detail || title || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.title = title;
    this.detail = detail;
    this.retryAfterSeconds = retryAfterSeconds;
    // A 401 for an access token the server revoked (logout elsewhere, session
    // deleted, account changed by an operator), not one that merely expired.
    this.tokenRevoked = tokenRevoked;
    // Per-item mistakes some problems list (invalid_csv: {line, column, message}).
    this.errors = errors;
  }
}

// Codes for failures that never produced an HTTP response (status 0), and for
// the end of a session, which the client decides itself.
export const NETWORK_ERROR = 'network_error';
export const TIMEOUT = 'timeout';
export const SESSION_ENDED = 'session_ended';
// The session was ended on purpose (its access token was revoked and the
// refresh was turned down), as opposed to running out.
export const SESSION_REVOKED = 'session_revoked';
// Another tab of this browser signed out (the refresh cookie all tabs share
// is gone), or signed in as another user (the cookie is now theirs).
export const SIGNED_OUT_ELSEWHERE = 'signed_out_elsewhere';
export const SIGNED_IN_ELSEWHERE = 'signed_in_elsewhere';

// Whether `error` is the end of the session (the client has dropped its
// tokens and told onSessionEnded), rather than a call that failed.
export function isSessionOver(error) {
  return [SESSION_ENDED, SESSION_REVOKED, SIGNED_OUT_ELSEWHERE, SIGNED_IN_ELSEWHERE].includes(error?.code);
}

// Retry-After is either a number of seconds or an HTTP date (RFC 9110 §10.2.3).
// Returns whole seconds to wait (at least 1 so a message never says "0
// seconds"), or null when the header is absent or unreadable.
export function parseRetryAfter(value, now = Date.now()) {
  if (value == null || value.trim() === '') return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.max(1, Number(text));
  // Every HTTP date format starts with the day name; without this check
  // Date.parse would also accept things like "-5".
  if (!/^[A-Za-z]/.test(text)) return null;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  return Math.max(1, Math.ceil((date - now) / 1000));
}

// Builds an ApiError from a non-2xx response whose body has already been parsed
// (null if it was not JSON). A proxy or a crash may answer without a problem
// body; the status then stands in for the code.
export function errorFromResponse(response, body) {
  const problem = body && typeof body === 'object' ? body : {};
  return new ApiError({
    status: response.status,
    code: typeof problem.code === 'string' ? problem.code : `http_${response.status}`,
    title: problem.title,
    detail: problem.detail,
    retryAfterSeconds: parseRetryAfter(response.headers.get('Retry-After')),
    tokenRevoked: response.status === 401 && saysRevoked(response, problem),
    errors: Array.isArray(problem.errors) ? problem.errors : [],
  });
}

// An invalid_token 401 shares its code with an expired or forged token; only
// the RFC 6750 error_description (or the same words in the problem detail,
// for a cross-origin page the header is not exposed to) tells a revocation.
function saysRevoked(response, problem) {
  const challenge = response.headers.get('WWW-Authenticate') ?? '';
  const description = /error_description="([^"]*)"/.exec(challenge)?.[1] ?? problem.detail;
  return typeof description === 'string' && /\brevoked\b/.test(description);
}
