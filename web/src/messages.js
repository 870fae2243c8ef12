import { NETWORK_ERROR, SESSION_ENDED, TIMEOUT } from './api/problem.js';

// What the user reads for an error, chosen by the problem `code`.
export function describeError(error) {
  switch (error.code) {
    case 'invalid_credentials':
      return 'Email or password is incorrect.';
    case 'rate_limited':
      return `Too many attempts. ${tryAgainIn(error.retryAfterSeconds)}`;
    case 'overloaded':
      return `The server is busy. ${tryAgainIn(error.retryAfterSeconds)}`;
    case SESSION_ENDED:
      return 'Your session has ended. Please sign in again.';
    case 'insufficient_scope':
      return 'You do not have access to revenue.';
    case TIMEOUT:
      return 'The server took too long to answer. Please try again.';
    case NETWORK_ERROR:
      return 'Could not reach the server. Check your connection and try again.';
  }
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
