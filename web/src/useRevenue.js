import { useCallback, useEffect, useState } from 'react';

// Loads GET /revenue for a month range and again on reload(). The last good
// answer stays on screen while a reload is under way so the page does not jump.
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
  // A skipped load is not loading, even if the one it replaced never finished.
  return { revenue, error, loading: loading && !skip, reload };
}
