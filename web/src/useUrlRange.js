import { useCallback, useEffect, useRef, useState } from 'react';
import { defaultRange, rangeFromSearch, searchWithRange } from './ranges.js';

// Month-picker steps closer together than this replace the history entry
// instead of adding one, so Back skips the months passed on the way.
export const COALESCE_MS = 1_000;

function urlWith(range) {
  return `${window.location.pathname}${searchWithRange(window.location.search, range)}${window.location.hash}`;
}

// The selected month range, kept in the address (`?from=2026-01&to=2026-06`)
// so that a view can be bookmarked and shared and Back returns to the
// previous range. An address without a valid range gets `today`'s default,
// written into it in place (no extra history entry).
export function useUrlRange(today) {
  const [range, setRangeState] = useState(() => rangeFromSearch(window.location.search) ?? defaultRange(today));
  const lastStep = useRef({ at: 0, coalesce: false });
  // The current month moves on in a page left open (useCurrentMonth).
  const todayRef = useRef(today);
  todayRef.current = today;

  useEffect(() => {
    if (!rangeFromSearch(window.location.search)) window.history.replaceState(window.history.state, '', urlWith(range));
    const onPopState = () => setRangeState(rangeFromSearch(window.location.search) ?? defaultRange(todayRef.current));
    window.addEventListener('popstate', onPopState);
    return () => window.removeEventListener('popstate', onPopState);
    // Only on mount: later ranges are written by setRange, and `today` only
    // matters for an address that names none.
  }, []);

  // `coalesce`: a step of a control that moves one month at a time.
  const setRange = useCallback((next, { coalesce = false } = {}) => {
    const now = Date.now();
    const replace = coalesce && lastStep.current.coalesce && now - lastStep.current.at < COALESCE_MS;
    lastStep.current = { at: now, coalesce };
    const url = urlWith(next);
    if (replace) window.history.replaceState(window.history.state, '', url);
    else window.history.pushState(window.history.state, '', url);
    setRangeState({ from: next.from, to: next.to });
  }, []);

  return [range, setRange];
}
