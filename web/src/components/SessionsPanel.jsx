import { useCallback, useEffect, useId, useRef, useState } from 'react';
import { formatDateTime } from '../format.js';
import { describeError } from '../messages.js';
import { describeClient, sortSessions } from '../sessions.js';
import { settle, useLatest } from '../useLatest.js';
import ErrorNotice from './ErrorNotice.jsx';
import SignOutButton from './SignOutButton.jsx';

// "Your sessions", opened from the user bar: every browser or device signed
// in as this user (GET /sessions), this one first. Another one can be ended
// (DELETE /sessions/{id}: its tokens stop working at once); this one is left
// through the ordinary sign-out, which also clears its refresh cookie.
// Escape or Close shuts the panel.
export default function SessionsPanel({ api, id, onSignOut, onClose }) {
  const [sessions, setSessions] = useState(null);
  const [loadError, setLoadError] = useState(null);
  const [loading, setLoading] = useState(true);
  // {error, text}: what the last End did.
  const [message, setMessage] = useState(null);
  const [ending, setEnding] = useState(null);
  const heading = useRef(null);
  // Only the latest load's answer is shown, and none after the panel closed.
  const { begin } = useLatest();
  const titleId = useId();

  const load = useCallback(async () => {
    const isLatest = begin();
    setLoading(true);
    await settle(isLatest, api.listSessions(), {
      onValue: (list) => {
        setSessions(sortSessions(list));
        setLoadError(null);
      },
      onError: setLoadError,
      onDone: () => setLoading(false),
    });
  }, [api, begin]);

  useEffect(() => {
    load();
  }, [load]);

  // Opening moves the keyboard into the panel.
  useEffect(() => {
    heading.current?.focus();
  }, []);

  async function end(session) {
    const name = describeClient(session.user_agent);
    setEnding(session.id);
    setMessage(null);
    try {
      await api.deleteSession(session.id);
      setMessage({ error: false, text: `Ended the session on ${name}: it is signed out there.` });
    } catch (error) {
      if (error.status !== 404) {
        setMessage({ error: true, text: `Could not end the session on ${name}. ${describeError(error)}` });
        setEnding(null);
        return;
      }
      setMessage({ error: false, text: `The session on ${name} had already ended.` });
    }
    setEnding(null);
    // Its row (and the button that had the focus) goes; the keyboard stays
    // in the panel, and the message above is read out.
    heading.current?.focus();
    await load();
  }

  return (
    <section
      className="card sessions-panel"
      id={id}
      aria-labelledby={titleId}
      onKeyDown={(event) => {
        if (event.key === 'Escape') onClose();
      }}
      data-testid="sessions-panel"
    >
      <div className="panel-heading">
        <h2 id={titleId} ref={heading} tabIndex={-1}>
          Your sessions
        </h2>
        <button type="button" className="secondary" onClick={onClose} data-testid="sessions-close">
          Close
        </button>
      </div>
      <p className="hint">
        The browsers and devices signed in as you. Ending a session signs it out there at once; use it for a
        device you no longer have or a sign-in you do not recognise.
      </p>
      {loading && (
        <p className="updating" role="status" data-testid="sessions-loading">
          {sessions ? 'Updating…' : 'Loading your sessions…'}
        </p>
      )}
      {loadError && (
        <ErrorNotice
          error={loadError}
          onRetry={load}
          testId="sessions-error"
          context="Could not load your sessions."
        />
      )}
      {message && (
        <p
          className={`notice${message.error ? ' notice-error' : ''}`}
          role={message.error ? 'alert' : 'status'}
          data-testid="sessions-message"
        >
          {message.text}
        </p>
      )}
      {sessions && (
        <ul className="session-list" data-testid="session-list">
          {sessions.map((session) => {
            const name = describeClient(session.user_agent);
            const lastUsed = formatDateTime(session.last_used_at);
            return (
              <li
                key={session.id}
                className={`session${session.current ? ' session-current' : ''}`}
                data-testid="session"
                data-current={session.current ? 'true' : undefined}
              >
                <div className="session-about">
                  <p className="session-client">
                    <strong>{name}</strong>
                    {session.current && (
                      <span className="badge" data-testid="session-this">
                        this browser
                      </span>
                    )}
                  </p>
                  <p className="session-times">
                    Signed in <time dateTime={session.created_at}>{formatDateTime(session.created_at)}</time>{' '}
                    · last used <time dateTime={session.last_used_at}>{lastUsed}</time>
                    {session.client_ip && <> · from {session.client_ip}</>}
                  </p>
                  {session.user_agent && name !== session.user_agent && (
                    <p className="session-agent" data-testid="session-agent">
                      {session.user_agent}
                    </p>
                  )}
                </div>
                {session.current ? (
                  <SignOutButton onSignOut={onSignOut} className="secondary" testId="session-sign-out">
                    Sign out
                  </SignOutButton>
                ) : (
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => end(session)}
                    disabled={ending !== null}
                    aria-label={`End the session on ${name}, last used ${lastUsed}`}
                    data-testid="session-end"
                  >
                    {ending === session.id ? 'Ending…' : 'End'}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {sessions?.length === 1 && sessions[0].current && (
        <p className="hint" data-testid="sessions-only-this">
          You are signed in on this browser only.
        </p>
      )}
    </section>
  );
}
