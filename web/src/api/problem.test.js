import { describe, expect, it } from 'vitest';
import { errorFromResponse, parseRetryAfter } from './problem.js';

describe('parseRetryAfter', () => {
  it('reads delay seconds', () => {
    expect(parseRetryAfter('120')).toBe(120);
    expect(parseRetryAfter(' 7 ')).toBe(7);
  });

  it('never says zero seconds', () => {
    expect(parseRetryAfter('0')).toBe(1);
  });

  it('reads an HTTP date relative to now, rounding up', () => {
    const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:30 GMT', now + 29_500)).toBe(1);
  });

  it('gives null when absent or unreadable', () => {
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter('')).toBeNull();
    expect(parseRetryAfter('soon')).toBeNull();
    expect(parseRetryAfter('-5')).toBeNull();
  });
});

describe('errorFromResponse', () => {
  it('takes the code from the problem body', () => {
    const response = new Response(null, { status: 429, headers: { 'Retry-After': '30' } });
    const error = errorFromResponse(response, {
      type: 'urn:revenue-api:problem:rate_limited',
      title: 'Too Many Requests',
      status: 429,
      detail: 'slow down',
      code: 'rate_limited',
    });
    expect(error).toMatchObject({
      status: 429,
      code: 'rate_limited',
      detail: 'slow down',
      retryAfterSeconds: 30,
    });
  });

  it('falls back to the status when there is no problem body', () => {
    const error = errorFromResponse(new Response(null, { status: 502 }), null);
    expect(error).toMatchObject({ status: 502, code: 'http_502', retryAfterSeconds: null });
  });

  it('marks a 401 whose challenge says the access token was revoked', () => {
    const challenge = (description) =>
      new Response(null, {
        status: 401,
        headers: {
          'WWW-Authenticate': `Bearer realm="revenue-api", error="invalid_token", error_description="${description}"`,
        },
      });
    const body = { code: 'invalid_token', detail: 'whatever' };
    expect(errorFromResponse(challenge('the access token was revoked'), body).tokenRevoked).toBe(true);
    expect(errorFromResponse(challenge('the access token expired'), body).tokenRevoked).toBe(false);
  });

  it('falls back to the problem detail without a challenge, and only on 401', () => {
    const body = { code: 'invalid_token', detail: 'the access token was revoked' };
    expect(errorFromResponse(new Response(null, { status: 401 }), body).tokenRevoked).toBe(true);
    expect(errorFromResponse(new Response(null, { status: 400 }), body).tokenRevoked).toBe(false);
    expect(errorFromResponse(new Response(null, { status: 401 }), null).tokenRevoked).toBe(false);
  });
});
