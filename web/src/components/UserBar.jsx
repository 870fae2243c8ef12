import { useState } from 'react';

// Who is signed in, their sessions (the panel opens below the header) and
// the way out.
export default function UserBar({
  user,
  onLogout,
  sessionsOpen = false,
  sessionsPanelId,
  onToggleSessions,
  sessionsButton,
}) {
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
      {onToggleSessions && (
        <button
          type="button"
          className="secondary"
          ref={sessionsButton}
          onClick={onToggleSessions}
          aria-expanded={sessionsOpen}
          aria-controls={sessionsOpen ? sessionsPanelId : undefined}
          data-testid="sessions-toggle"
        >
          Sessions
        </button>
      )}
      <button type="button" onClick={handleLogout} disabled={pending} data-testid="logout">
        {pending ? 'Signing out…' : 'Log out'}
      </button>
    </div>
  );
}
