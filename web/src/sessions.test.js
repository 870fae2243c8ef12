import { describe, expect, it } from 'vitest';
import { describeClient, sortSessions } from './sessions.js';

describe('describeClient', () => {
  it('names the browser and the system of common user agents', () => {
    const cases = [
      [
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
        'Chrome on Windows',
      ],
      [
        'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
        'Edge on Windows',
      ],
      ['Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', 'Firefox on Linux'],
      [
        'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
        'Safari on macOS',
      ],
      [
        'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
        'Safari on iOS',
      ],
      [
        'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
        'Chrome on Android',
      ],
      [
        'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36',
        'Headless Chrome on Linux',
      ],
    ];
    for (const [userAgent, name] of cases) expect(describeClient(userAgent), userAgent).toBe(name);
  });

  it('names another client by its product, and says when there was none', () => {
    expect(describeClient('curl/8.5.0')).toBe('curl/8.5.0');
    expect(describeClient('node')).toBe('node');
    expect(describeClient(`x${'y'.repeat(60)} (z)`)).toBe(`x${'y'.repeat(38)}…`);
    expect(describeClient('')).toBe('Unknown client');
    expect(describeClient(undefined)).toBe('Unknown client');
  });
});

describe('sortSessions', () => {
  it('puts this browser first, then the most recently used, and leaves the list as it was', () => {
    const list = [
      { id: 'a', current: false, last_used_at: '2026-11-01T10:00:00Z' },
      { id: 'b', current: true, last_used_at: '2026-10-01T10:00:00Z' },
      { id: 'c', current: false, last_used_at: '2026-11-20T10:00:00Z' },
    ];
    expect(sortSessions(list).map((s) => s.id)).toEqual(['b', 'c', 'a']);
    expect(list.map((s) => s.id)).toEqual(['a', 'b', 'c']);
  });
});
