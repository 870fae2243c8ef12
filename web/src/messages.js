import {
  NETWORK_ERROR,
  SESSION_ENDED,
  SESSION_REVOKED,
  SIGNED_IN_ELSEWHERE,
  SIGNED_OUT_ELSEWHERE,
  TIMEOUT,
} from './api/problem.js';

// What the user reads for an error, chosen by the problem `code`. With
// `retrying`, the page tries again by itself after a 503 (see retryDelayMs).
export function describeError(error, { retrying = false } = {}) {
  if (retrying && error.status === 503) return 'The service is temporarily unavailable; retrying…';
  switch (error.code) {
    case 'invalid_credentials':
      return 'Email or password is incorrect.';
    case 'rate_limited':
      return `Too many attempts. ${tryAgainIn(error.retryAfterSeconds)}`;
    case 'overloaded':
      return `The server is busy. ${tryAgainIn(error.retryAfterSeconds)}`;
    case SESSION_ENDED:
      return 'Your session has ended. Please sign in again.';
    case SESSION_REVOKED:
      return 'This session was ended. Log in again.';
    case SIGNED_OUT_ELSEWHERE:
      return 'You signed out in another tab.';
    case SIGNED_IN_ELSEWHERE:
      return 'You signed in as someone else in another tab, so this tab was signed out. Sign in again to go on here.';
    case 'insufficient_scope':
      return 'You do not have access to revenue.';
    case 'precondition_failed':
      return 'The figures changed since you loaded them (someone else saved meanwhile); nothing was written. Check the figures now shown and try again.';
    case 'invalid_csv':
      return 'The file has mistakes; nothing was written.';
    case TIMEOUT:
      return 'The server took too long to answer. Please try again.';
    case NETWORK_ERROR:
      return 'Could not reach the server. Check your connection and try again.';
  }
  if (error.status === 503)
    return `The service is temporarily unavailable. ${tryAgainIn(error.retryAfterSeconds)}`;
  if (error.status >= 500) return 'Something went wrong on our side. Please try again.';
  // Other client errors (a bad month filter, say) carry a detail meant for people.
  return error.detail || 'Something went wrong. Please try again.';
}

function tryAgainIn(seconds) {
  if (!seconds) return 'Try again in a moment.';
  return `Try again in ${seconds} ${seconds === 1 ? 'second' : 'seconds'}.`;
}

// Worth a "Try again" button: the server was unreachable, slow or broken, so the
// same request may well succeed later. A 4xx would fail the same way again.
export function isRetryable(error) {
  return error.status === 0 || error.status >= 500;
}

// A 503 (overloaded, or revocations_unavailable: the server cannot tell right
// now whether tokens were revoked) is temporary: the page keeps what it shows
// and tries again after Retry-After, or after a few seconds without one.
export const DEFAULT_RETRY_SECONDS = 5;

export function isTemporarilyUnavailable(error) {
  return error?.status === 503;
}

export function retryDelayMs(error) {
  return (error.retryAfterSeconds ?? DEFAULT_RETRY_SECONDS) * 1000;
}
