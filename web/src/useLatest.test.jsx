import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, render } from './test/dom.js';
import { settle, useLatest } from './useLatest.js';

// A deferred promise, settled by the test.
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

async function mountLatest() {
  let latest;
  function Probe() {
    latest = useLatest();
    return null;
  }
  await render(<Probe />);
  return latest;
}

describe('useLatest and settle', () => {
  afterEach(cleanup);

  it('passes on only the latest load’s outcome', async () => {
    const { begin } = await mountLatest();
    const seen = [];
    const first = deferred();
    const second = deferred();
    const a = settle(begin(), first.promise, { onValue: (v) => seen.push(v), onError: () => seen.push('error'), onDone: () => seen.push('done a') });
    const b = settle(begin(), second.promise, { onValue: (v) => seen.push(v), onError: () => seen.push('error'), onDone: () => seen.push('done b') });
    second.resolve('second');
    first.resolve('first'); // answers last, but began first: dropped
    await Promise.all([a, b]);
    expect(seen).toEqual(['second', 'done b']);
  });

  it('passes a failure on to onError, and a page of the latest load too', async () => {
    const { begin, current } = await mountLatest();
    const seen = [];
    await settle(begin(), Promise.reject(new Error('down')), { onValue: () => seen.push('value'), onError: (e) => seen.push(e.message) });
    await settle(current(), Promise.resolve('next page'), { onValue: (v) => seen.push(v), onError: () => seen.push('error') });
    expect(seen).toEqual(['down', 'next page']);
  });

  it('drops what arrives after the component is gone', async () => {
    const { begin } = await mountLatest();
    const seen = [];
    const pending = deferred();
    const done = settle(begin(), pending.promise, { onValue: (v) => seen.push(v), onError: () => seen.push('error'), onDone: () => seen.push('done') });
    cleanup();
    pending.resolve('late');
    await done;
    expect(seen).toEqual([]);
  });
});
