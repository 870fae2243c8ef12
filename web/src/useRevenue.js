import { useCallback, useEffect, useState } from 'react';
import { isTemporarilyUnavailable, retryDelayMs } from './messages.js';

// Loads GET /revenue for a month range (widened by `widen`, so that what the
// range is compared with comes along) and again on reload(). The last good
// answer (`revenue`, and `loadedRange`, the range it was loaded for) stays while
// a reload or another range is under way so the page does not jump, and after
// a failure, so that the figures already shown stay; a 503 (temporarily
// unavailable) loads again by itself after Retry-After.
const asIs = (range) => range;

export function useRevenue(api, { from, to }, { skip = false, widen = asIs } = {}) {
  const [loaded, setLoaded] = useState({ revenue: null, range: null });
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    if (skip) return undefined;
    // Set to false when the range changes or the panel goes away, so a late
    // answer for an old range never overwrites a newer one.
    let current = true;
    setLoading(true);
    api.getRevenue(widen({ from, to })).then(
      (data) => {
        if (!current) return;
        setLoaded({ revenue: data, range: { from, to } });
        setError(null);
        setLoading(false);
      },
      (loadError) => {
        if (!current) return;
        setError(loadError);
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [api, from, to, skip, widen, reloads]);

  const reload = useCallback(() => setReloads((count) => count + 1), []);

  useEffect(() => {
    if (skip || !isTemporarilyUnavailable(error)) return undefined;
    const timer = setTimeout(reload, retryDelayMs(error));
    return () => clearTimeout(timer);
  }, [error, skip, reload]);
  // A skipped load is not loading, even if the one it replaced never finished.
  return { revenue: loaded.revenue, loadedRange: loaded.range, error, loading: loading && !skip, reload };
}
