import { describe, expect, it } from 'vitest';
import { ApiError } from './api/problem.js';
import { describeError, isRetryable, retryDelayMs } from './messages.js';

const error = (fields) => new ApiError(fields);

describe('describeError', () => {
  it('words a failed login the same for every cause', () => {
    expect(describeError(error({ status: 401, code: 'invalid_credentials' }))).toBe(
      'Email or password is incorrect.',
    );
  });

  it('says how long to wait when rate limited', () => {
    expect(describeError(error({ status: 429, code: 'rate_limited', retryAfterSeconds: 42 }))).toBe(
      'Too many attempts. Try again in 42 seconds.',
    );
    expect(describeError(error({ status: 429, code: 'rate_limited', retryAfterSeconds: 1 }))).toBe(
      'Too many attempts. Try again in 1 second.',
    );
    expect(describeError(error({ status: 429, code: 'rate_limited' }))).toBe(
      'Too many attempts. Try again in a moment.',
    );
  });

  it('hides server internals behind a human message', () => {
    expect(describeError(error({ status: 500, code: 'internal', detail: 'stack trace' }))).toBe(
      'Something went wrong on our side. Please try again.',
    );
  });

  it('tells a session ended on purpose from one that ran out', () => {
    expect(describeError(error({ status: 401, code: 'session_revoked' }))).toBe(
      'This session was ended. Log in again.',
    );
    expect(describeError(error({ status: 401, code: 'session_ended' }))).toBe(
      'Your session has ended. Please sign in again.',
    );
  });

  it('calls any 503 temporary, and says so when the page retries by itself', () => {
    const unavailable = error({ status: 503, code: 'revocations_unavailable', retryAfterSeconds: 5 });
    expect(describeError(unavailable, { retrying: true })).toBe(
      'The service is temporarily unavailable; retrying…',
    );
    expect(describeError(error({ status: 503, code: 'http_503' }), { retrying: true })).toBe(
      'The service is temporarily unavailable; retrying…',
    );
    expect(describeError(unavailable)).toBe(
      'The service is temporarily unavailable. Try again in 5 seconds.',
    );
  });

  it('passes on the detail of other client errors', () => {
    expect(
      describeError(error({ status: 400, code: 'invalid_parameter', detail: 'from must be YYYY-MM' })),
    ).toBe('from must be YYYY-MM');
  });
});

describe('isRetryable', () => {
  it('offers a retry for network failures and server errors only', () => {
    expect(isRetryable(error({ status: 0, code: 'network_error' }))).toBe(true);
    expect(isRetryable(error({ status: 503, code: 'unavailable' }))).toBe(true);
    expect(isRetryable(error({ status: 401, code: 'invalid_credentials' }))).toBe(false);
    expect(isRetryable(error({ status: 429, code: 'rate_limited' }))).toBe(false);
  });
});

describe('retryDelayMs', () => {
  it('waits for Retry-After, or five seconds without one', () => {
    expect(retryDelayMs(error({ status: 503, code: 'revocations_unavailable', retryAfterSeconds: 2 }))).toBe(
      2_000,
    );
    expect(retryDelayMs(error({ status: 503, code: 'http_503' }))).toBe(5_000);
  });
});
