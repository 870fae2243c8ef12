import { useEffect, useState } from 'react';
import { currentMonth } from './months.js';

// How often an open page checks whether the month has changed.
export const MONTH_CHECK_MS = 60_000;

// The month the user's calendar shows, kept current: a page left open across
// the end of a month moves on to the new one (checked every MONTH_CHECK_MS,
// and at once when the page is shown or focused again), so that the quick
// ranges and the default range are the new month's. With `fixed` (tests,
// screenshots) it is that month and never changes.
export function useCurrentMonth(fixed) {
  const [month, setMonth] = useState(() => fixed ?? currentMonth());
  useEffect(() => {
    if (fixed) return undefined;
    // The same string again is no change: React skips the render.
    const update = () => setMonth(currentMonth());
    const timer = setInterval(update, MONTH_CHECK_MS);
    document.addEventListener('visibilitychange', update);
    window.addEventListener('focus', update);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', update);
      window.removeEventListener('focus', update);
    };
  }, [fixed]);
  return month;
}
