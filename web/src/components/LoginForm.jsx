import { useState } from 'react';
import { describeError } from '../messages.js';
import ErrorNotice from './ErrorNotice.jsx';

// `onSignIn(email, password)` resolves once signed in (the form then goes away)
// or rejects with the error to show. `sessionEnded`: the code (SESSION_ENDED or
// SESSION_REVOKED) of the session that just ended, to say why the form is back.
export default function LoginForm({ onSignIn, sessionEnded = null }) {
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
          {describeError({ code: sessionEnded })}
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
