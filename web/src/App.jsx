import { useCallback, useEffect, useState } from 'react';
import { SESSION_ENDED } from './api/problem.js';
import ErrorNotice from './components/ErrorNotice.jsx';
import LoginForm from './components/LoginForm.jsx';
import RevenuePanel from './components/RevenuePanel.jsx';
import UserBar from './components/UserBar.jsx';

const SIGNED_OUT = { status: 'signed-out' };
const SESSION_OVER = { status: 'signed-out', sessionEnded: true };

// The session decides the page: checking it (on load), server unreachable,
// signed out (the login form) or signed in (user, logout and revenue).
export default function App({ api }) {
  const [session, setSession] = useState({ status: 'checking' });

  const restore = useCallback(async () => {
    setSession({ status: 'checking' });
    try {
      const restored = await api.restoreSession();
      setSession(restored ? { status: 'signed-in', user: await api.getMe() } : SIGNED_OUT);
    } catch (error) {
      setSession(error.code === SESSION_ENDED ? SESSION_OVER : { status: 'unavailable', error });
    }
  }, [api]);

  useEffect(() => {
    restore();
  }, [restore]);

  // Any data call that finds the session over (refresh turned down) lands here.
  useEffect(() => api.onSessionEnded(() => setSession(SESSION_OVER)), [api]);

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
        {session.status === 'signed-in' && <UserBar user={session.user} onLogout={logout} />}
      </header>
      {session.status === 'checking' && (
        <p className="card" role="status" data-testid="session-loading">
          Loading…
        </p>
      )}
      {session.status === 'unavailable' && (
        <ErrorNotice error={session.error} onRetry={restore} testId="session-error" />
      )}
      {session.status === 'signed-out' && <LoginForm onSignIn={signIn} sessionEnded={session.sessionEnded} />}
      {session.status === 'signed-in' && <RevenuePanel api={api} />}
    </main>
  );
}
