import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { SESSION_ENDED, SESSION_REVOKED } from './api/problem.js';
import ErrorNotice from './components/ErrorNotice.jsx';
import LoginForm from './components/LoginForm.jsx';
import RevenuePanel from './components/RevenuePanel.jsx';
import SessionsPanel from './components/SessionsPanel.jsx';
import UserBar from './components/UserBar.jsx';
import { describeError, isTemporarilyUnavailable, retryDelayMs } from './messages.js';
import { useSessionCheck } from './useSessionCheck.js';

const SIGNED_OUT = { status: 'signed-out' };

// The login form, saying why: SESSION_REVOKED (ended on purpose, from here or
// elsewhere) or SESSION_ENDED (ran out).
function sessionOver(error) {
  const why = error?.code === SESSION_REVOKED ? SESSION_REVOKED : SESSION_ENDED;
  return { status: 'signed-out', sessionEnded: why };
}

// Changes to a signed-in session that come from the periodic check; they leave
// any other state (signed out meanwhile, say) alone.
function withUser(user) {
  return (session) => (session.status === 'signed-in' ? { ...session, user, unavailable: null } : session);
}

function withUnavailable(error) {
  return (session) => (session.status === 'signed-in' ? { ...session, unavailable: error } : session);
}

// The session decides the page: checking it (on load), server unreachable,
// signed out (the login form) or signed in (user, logout and revenue).
export default function App({ api }) {
  const [session, setSession] = useState({ status: 'checking' });
  // "Your sessions", opened from the user bar; closing it gives the focus
  // back to the button that opened it.
  const [sessionsOpen, setSessionsOpen] = useState(false);
  const sessionsButton = useRef(null);
  const sessionsPanelId = useId();
  const signedIn = session.status === 'signed-in';

  const restore = useCallback(async () => {
    setSession({ status: 'checking' });
    try {
      const restored = await api.restoreSession();
      setSession(restored ? { status: 'signed-in', user: await api.getMe() } : SIGNED_OUT);
    } catch (error) {
      setSession(
        error.code === SESSION_ENDED || error.code === SESSION_REVOKED
          ? sessionOver(error)
          : { status: 'unavailable', error },
      );
    }
  }, [api]);

  useEffect(() => {
    restore();
  }, [restore]);

  // A 503 on load (the service cannot vouch for tokens right now) is retried
  // after Retry-After.
  const loadUnavailable = session.status === 'unavailable' && isTemporarilyUnavailable(session.error);
  useEffect(() => {
    if (!loadUnavailable) return undefined;
    const timer = setTimeout(restore, retryDelayMs(session.error));
    return () => clearTimeout(timer);
  }, [loadUnavailable, session.error, restore]);

  // Any data call that finds the session over (refresh turned down) lands
  // here. Leaving the signed-in state unmounts the revenue panel, so no figure
  // stays on screen.
  useEffect(() => api.onSessionEnded((error) => setSession(sessionOver(error))), [api]);

  // Whoever signs in next starts with the panel closed.
  useEffect(() => {
    if (!signedIn) setSessionsOpen(false);
  }, [signedIn]);

  function closeSessions() {
    setSessionsOpen(false);
    sessionsButton.current?.focus();
  }

  // Notices a session ended elsewhere even when the user does nothing.
  useSessionCheck(api, {
    enabled: session.status === 'signed-in',
    onUser: (user) => setSession(withUser(user)),
    onUnavailable: (error) => setSession(withUnavailable(error)),
  });

  async function signIn(email, password) {
    await api.login(email, password);
    setSession({ status: 'signed-in', user: await api.getMe() });
  }

  async function logout() {
    await api.logout();
    setSession(SIGNED_OUT);
  }

  return (
    <main className="app">
      <header className="app-header">
        <h1>Revenue</h1>
        {signedIn && (
          <UserBar
            user={session.user}
            onLogout={logout}
            sessionsOpen={sessionsOpen}
            sessionsPanelId={sessionsPanelId}
            onToggleSessions={() => (sessionsOpen ? closeSessions() : setSessionsOpen(true))}
            sessionsButton={sessionsButton}
          />
        )}
      </header>
      {signedIn && sessionsOpen && (
        <SessionsPanel api={api} id={sessionsPanelId} onSignOut={logout} onClose={closeSessions} />
      )}
      {session.status === 'checking' && (
        <p className="card" role="status" data-testid="session-loading">
          Loading…
        </p>
      )}
      {session.status === 'unavailable' && (
        <ErrorNotice
          error={session.error}
          onRetry={restore}
          testId="session-error"
          retrying={loadUnavailable}
        />
      )}
      {session.status === 'signed-out' && <LoginForm onSignIn={signIn} sessionEnded={session.sessionEnded} />}
      {session.status === 'signed-in' && session.unavailable && (
        <p className="notice notice-error" role="status" data-testid="service-unavailable">
          {describeError(session.unavailable, { retrying: true })}
        </p>
      )}
      {session.status === 'signed-in' && (
        // New roles (the check found them) may grant or withdraw revenue: the
        // panel starts over rather than keep figures loaded under the old ones.
        <RevenuePanel api={api} key={accessKey(session.user)} user={session.user} onSignOut={logout} />
      )}
      <footer className="app-footer">
        <a href="/docs" data-testid="api-docs-link">
          API reference
        </a>
      </footer>
    </main>
  );
}

function accessKey(user) {
  return `${user.roles?.join(' ') ?? ''}|${user.scope ?? ''}`;
}
