import { useState } from 'react';
import { SESSION_ENDED } from '../api/problem.js';
import { describeError } from '../messages.js';
import ErrorNotice from './ErrorNotice.jsx';

// `onSignIn(email, password)` resolves once signed in (the form then goes away)
// or rejects with the error to show.
export default function LoginForm({ onSignIn, sessionEnded = false }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [pending, setPending] = useState(false);
  const [error, setError] = useState(null);

  async function signIn() {
    setPending(true);
    setError(null);
    try {
      await onSignIn(email, password);
    } catch (signInError) {
      setError(signInError);
      setPending(false);
    }
  }

  function handleSubmit(event) {
    event.preventDefault();
    signIn();
  }

  return (
    <form
      className="card login-form"
      onSubmit={handleSubmit}
      data-testid="login-form"
      aria-labelledby="login-title"
    >
      <h2 id="login-title">Sign in</h2>
      {sessionEnded && !error && (
        <p className="notice" role="status" data-testid="session-ended">
          {describeError({ code: SESSION_ENDED })}
        </p>
      )}
      <label>
        Email
        <input
          type="email"
          name="email"
          autoComplete="username"
          required
          value={email}
          onChange={(event) => setEmail(event.target.value)}
          data-testid="login-email"
        />
      </label>
      <label>
        Password
        <input
          type="password"
          name="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(event) => setPassword(event.target.value)}
          data-testid="login-password"
        />
      </label>
      <button type="submit" disabled={pending} data-testid="login-submit">
        {pending ? 'Signing in…' : 'Sign in'}
      </button>
      {error && <ErrorNotice error={error} onRetry={signIn} testId="login-error" />}
    </form>
  );
}
