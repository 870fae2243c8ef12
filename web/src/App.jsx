import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { isSessionOver, SESSION_ENDED } from './api/problem.js';
import ErrorNotice from './components/ErrorNotice.jsx';
import LoginForm from './components/LoginForm.jsx';
import RevenuePanel from './components/RevenuePanel.jsx';
import SessionsPanel from './components/SessionsPanel.jsx';
import SignOutButton from './components/SignOutButton.jsx';
import UserBar from './components/UserBar.jsx';
import { describeError, isTemporarilyUnavailable, retryDelayMs } from './messages.js';
import { useSessionCheck } from './useSessionCheck.js';

const SIGNED_OUT = { status: 'signed-out' };

// The login form, saying why: the code of the error that ended the session
// (ended on purpose, ran out, or another tab signed out or in as someone else).
function sessionOver(error) {
  return { status: 'signed-out', sessionEnded: isSessionOver(error) ? error.code : SESSION_ENDED };
}

// `holdsSession`: the client has a session (signed in, or restored through the
// cookie) and only GET /me failed; trying again asks /me, not for a new one.
function failed(error, holdsSession) {
  return isSessionOver(error) ? sessionOver(error) : { status: 'unavailable', error, holdsSession };
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

  // Who holds the session the client has. A failure that does not end it
  // (503, timeout) keeps it: the page says so and asks /me again, so that a
  // user whose sign-in the server accepted is not sent back to the form to
  // start a second session.
  const loadUser = useCallback(async () => {
    try {
      setSession({ status: 'signed-in', user: await api.getMe() });
    } catch (error) {
      setSession(failed(error, true));
    }
  }, [api]);

  const restore = useCallback(async () => {
    setSession({ status: 'checking' });
    let restored;
    try {
      restored = await api.restoreSession();
    } catch (error) {
      setSession(failed(error, false));
      return;
    }
    if (restored) await loadUser();
    else setSession(SIGNED_OUT);
  }, [api, loadUser]);

  useEffect(() => {
    restore();
  }, [restore]);

  const retrySession = session.holdsSession ? loadUser : restore;

  // A 503 on load or right after the sign-in (the service cannot vouch for
  // tokens right now) is retried after Retry-After.
  const loadUnavailable = session.status === 'unavailable' && isTemporarilyUnavailable(session.error);
  useEffect(() => {
    if (!loadUnavailable) return undefined;
    const timer = setTimeout(retrySession, retryDelayMs(session.error));
    return () => clearTimeout(timer);
  }, [loadUnavailable, session.error, retrySession]);

  // Any data call that finds the session over (refresh turned down, another
  // tab signed out or in as someone else) lands here. Leaving the signed-in
  // state unmounts the revenue panel, so no figure stays on screen.
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

  // A failed login rejects, for the form to say why; once the server has
  // accepted it, what follows is the session's (loadUser).
  async function signIn(email, password) {
    await api.login(email, password);
    await loadUser();
  }

  // The login form only once the server has ended the session (or it was
  // over already): else the refresh cookie would sign the user back in on
  // the next visit, maybe someone else's on a shared computer. A failure
  // keeps the page as it is and says so (`logoutError`).
  async function logout() {
    setSession((current) => ({ ...current, logoutError: null }));
    try {
      await api.logout();
    } catch (error) {
      setSession((current) =>
        current.status === 'signed-out' ? current : { ...current, logoutError: error },
      );
      return;
    }
    // A reason the client gave meanwhile (another tab signed in as someone
    // else) stays on the form.
    setSession((current) => (current.status === 'signed-out' ? current : SIGNED_OUT));
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
      {session.logoutError && (
        <ErrorNotice
          error={session.logoutError}
          onRetry={logout}
          testId="logout-error"
          context="Could not sign out; you are still signed in."
        />
      )}
      {session.status === 'unavailable' && (
        <ErrorNotice
          error={session.error}
          onRetry={retrySession}
          testId="session-error"
          retrying={loadUnavailable}
        />
      )}
      {session.status === 'unavailable' && session.holdsSession && (
        <div className="actions">
          <SignOutButton onSignOut={logout} className="secondary" testId="unavailable-sign-out">
            Sign out
          </SignOutButton>
        </div>
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
