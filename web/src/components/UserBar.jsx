import SignOutButton from './SignOutButton.jsx';

// Who is signed in, their sessions (the panel opens below the header) and
// the way out (`onLogout` returns a promise: the button waits for it).
export default function UserBar({
  user,
  onLogout,
  sessionsOpen = false,
  sessionsPanelId,
  onToggleSessions,
  sessionsButton,
}) {
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
      <SignOutButton onSignOut={onLogout} testId="logout">
        Log out
      </SignOutButton>
    </div>
  );
}
