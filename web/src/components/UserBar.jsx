import { useState } from 'react';

// Who is signed in, and the way out.
export default function UserBar({ user, onLogout }) {
  const [pending, setPending] = useState(false);

  function handleLogout() {
    setPending(true);
    onLogout();
  }

  return (
    <div className="user-bar">
      <p data-testid="current-user">
        <span className="signed-in-label">Signed in as </span>
        <strong>{user.email}</strong>{' '}
        <span className="roles">({user.roles?.length ? user.roles.join(', ') : 'no roles'})</span>
      </p>
      <button type="button" onClick={handleLogout} disabled={pending} data-testid="logout">
        {pending ? 'Signing out…' : 'Log out'}
      </button>
    </div>
  );
}
