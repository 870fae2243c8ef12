import { useCallback, useEffect, useState } from 'react';
import { isTemporarilyUnavailable, retryDelayMs } from './messages.js';

// Loads GET /revenue for a month range and again on reload(). The last good
// answer stays on screen while a reload is under way so the page does not jump,
// and while the service is temporarily unavailable (503), when it loads again
// by itself after Retry-After.
export function useRevenue(api, { from, to }, { skip = false } = {}) {
  const [revenue, setRevenue] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(false);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    if (skip) return undefined;
    // Set to false when the range changes or the panel goes away, so a late
    // answer for an old range never overwrites a newer one.
    let current = true;
    setLoading(true);
    api.getRevenue({ from, to }).then(
      (data) => {
        if (!current) return;
        setRevenue(data);
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
  }, [api, from, to, skip, reloads]);

  const reload = useCallback(() => setReloads((count) => count + 1), []);

  useEffect(() => {
    if (skip || !isTemporarilyUnavailable(error)) return undefined;
    const timer = setTimeout(reload, retryDelayMs(error));
    return () => clearTimeout(timer);
  }, [error, skip, reload]);
  // A skipped load is not loading, even if the one it replaced never finished.
  return { revenue, error, loading: loading && !skip, reload };
}
