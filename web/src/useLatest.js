import { useCallback, useEffect, useRef } from 'react';

// useLatest keeps overlapping loads from answering out of order: begin()
// starts a load and returns its isLatest(), true until another load begins
// or the component goes; current() returns the same for work that goes on
// with the latest load (its next page) without starting a new one.
export function useLatest() {
  const count = useRef(0);
  useEffect(
    () => () => {
      count.current += 1;
    },
    [],
  );
  const begin = useCallback(() => {
    const mine = (count.current += 1);
    return () => mine === count.current;
  }, []);
  const current = useCallback(() => {
    const mine = count.current;
    return () => mine === count.current;
  }, []);
  return { begin, current };
}

// settle awaits promise and passes its outcome on only while isLatest():
// its value to onValue or its failure to onError, then calls onDone.
export async function settle(isLatest, promise, { onValue, onError, onDone }) {
  try {
    const value = await promise;
    if (isLatest()) onValue(value);
  } catch (error) {
    if (isLatest()) onError(error);
  } finally {
    if (isLatest()) onDone?.();
  }
}
