import { useEffect, useRef } from 'react';
import { isTemporarilyUnavailable, retryDelayMs } from './messages.js';

// How often a visible, signed-in page asks GET /me (cheap: no database) whether
// its session still stands, so one ended from another device leaves the screen
// within this time even if the user does nothing.
export const SESSION_CHECK_MS = 30_000;
// Focus and visibilitychange often come together, and a user switching
// windows back and forth need not send a request each time.
export const MIN_CHECK_GAP_MS = 2_000;

// While `enabled`, checks the session every SESSION_CHECK_MS while the page is
// visible, and at once when it becomes visible or gets the focus. A session
// found over reaches the app through api.onSessionEnded; a good answer goes to
// onUser (roles may have changed), a 503 to onUnavailable and the check runs
// again after Retry-After. Other failures (network) wait for the next check.
export function useSessionCheck(api, { enabled, onUser, onUnavailable }) {
  const callbacks = useRef({ onUser, onUnavailable });
  callbacks.current = { onUser, onUnavailable };

  useEffect(() => {
    if (!enabled) return undefined;
    let active = true;
    let timer = null;
    let inFlight = false;
    // The page was just signed in with a fresh GET /me.
    let lastCheck = Date.now();

    const visible = () => document.visibilityState !== 'hidden';

    function schedule(delay) {
      clearTimeout(timer);
      timer = setTimeout(check, delay);
    }

    async function check() {
      clearTimeout(timer);
      timer = null;
      if (inFlight || !visible()) return;
      inFlight = true;
      lastCheck = Date.now();
      let next = SESSION_CHECK_MS;
      try {
        const user = await api.getMe();
        if (active) callbacks.current.onUser(user);
      } catch (error) {
        if (active && isTemporarilyUnavailable(error)) {
          callbacks.current.onUnavailable(error);
          next = retryDelayMs(error);
        }
      } finally {
        inFlight = false;
      }
      if (active) schedule(next);
    }

    function wake() {
      if (!visible()) {
        // Nothing to check while nobody looks; becoming visible checks at once.
        clearTimeout(timer);
        timer = null;
      } else if (inFlight) {
        // The answer under way will do.
      } else if (Date.now() - lastCheck >= MIN_CHECK_GAP_MS) {
        check();
      } else if (timer === null) {
        schedule(SESSION_CHECK_MS);
      }
    }

    schedule(SESSION_CHECK_MS);
    window.addEventListener('focus', wake);
    document.addEventListener('visibilitychange', wake);
    return () => {
      active = false;
      clearTimeout(timer);
      window.removeEventListener('focus', wake);
      document.removeEventListener('visibilitychange', wake);
    };
  }, [api, enabled]);
}
