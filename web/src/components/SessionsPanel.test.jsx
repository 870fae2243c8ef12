import { act } from 'react';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/problem.js';
import { formatDateTime } from '../format.js';
import { click, render, settle } from '../test/dom.js';
import SessionsPanel from './SessionsPanel.jsx';

const CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';

const THIS = {
  id: 's-this',
  created_at: '2026-11-27T09:00:00Z',
  last_used_at: '2026-11-27T16:00:00Z',
  idle_expires_at: '2026-12-11T16:00:00Z',
  expires_at: '2026-12-27T09:00:00Z',
  client_ip: '203.0.113.7',
  user_agent: CHROME,
  current: true,
};
const LAPTOP = {
  ...THIS,
  id: 's-laptop',
  created_at: '2026-11-20T08:00:00Z',
  last_used_at: '2026-11-26T18:30:00Z',
  client_ip: '198.51.100.23',
  user_agent: FIREFOX,
  current: false,
};
const SCRIPT = {
  ...THIS,
  id: 's-script',
  created_at: '2026-11-01T08:00:00Z',
  last_used_at: '2026-11-02T08:00:00Z',
  client_ip: '',
  user_agent: 'curl/8.5.0',
  current: false,
};

// GET /sessions and DELETE /sessions/{id} as the server answers them: an
// ended session is gone from the list, a second DELETE of it is a 404.
function fakeApi(sessions = [SCRIPT, THIS, LAPTOP]) {
  const active = new Map(sessions.map((session) => [session.id, session]));
  return {
    active,
    listSessions: vi.fn(async () => [...active.values()]),
    deleteSession: vi.fn(async (id) => {
      if (!active.delete(id))
        throw new ApiError({ status: 404, code: 'not_found', detail: 'No such resource.' });
    }),
  };
}

async function renderPanel(api, props = {}) {
  // The app's sign-out resolves once signed out (the panel then goes).
  const handlers = { onSignOut: vi.fn(() => new Promise(() => {})), onClose: vi.fn() };
  const page = await render(<SessionsPanel api={api} id="sessions" {...handlers} {...props} />);
  await settle();
  return { page, ...handlers };
}

const rows = (page) => page.allByTestId('session');

describe('SessionsPanel', () => {
  it('lists the sessions, this browser first and marked, then the most recently used', async () => {
    const api = fakeApi();
    const { page } = await renderPanel(api);

    expect(api.listSessions).toHaveBeenCalledTimes(1);
    const [first, second, third] = rows(page);
    expect(rows(page)).toHaveLength(3);
    expect(first.dataset.current).toBe('true');
    expect(first.querySelector('.session-client').textContent).toBe('Chrome on Linuxthis browser');
    expect(first.querySelector('[data-testid="session-this"]').textContent).toBe('this browser');
    expect(first.querySelector('[data-testid="session-end"]')).toBeNull();
    expect(first.querySelector('[data-testid="session-sign-out"]').textContent).toBe('Sign out');

    expect(second.querySelector('strong').textContent).toBe('Firefox on Windows');
    expect(second.dataset.current).toBeUndefined();
    const times = second.querySelectorAll('time');
    expect(times[0].getAttribute('datetime')).toBe(LAPTOP.created_at);
    expect(times[0].textContent).toBe(formatDateTime(LAPTOP.created_at));
    expect(times[1].getAttribute('datetime')).toBe(LAPTOP.last_used_at);
    expect(second.querySelector('.session-times').textContent).toContain('from 198.51.100.23');
    expect(second.querySelector('[data-testid="session-agent"]').textContent).toBe(FIREFOX);
    const end = second.querySelector('[data-testid="session-end"]');
    expect(end.textContent).toBe('End');
    expect(end.getAttribute('aria-label')).toBe(
      `End the session on Firefox on Windows, last used ${formatDateTime(LAPTOP.last_used_at)}`,
    );

    // No address known: none shown; a client named by its product only.
    expect(third.querySelector('strong').textContent).toBe('curl/8.5.0');
    expect(third.querySelector('.session-times').textContent).not.toContain('from');
    expect(third.querySelector('[data-testid="session-agent"]')).toBeNull();
  });

  it('moves the focus to its heading when it opens', async () => {
    const { page } = await renderPanel(fakeApi());
    expect(document.activeElement).toBe(page.container.querySelector('h2'));
    expect(page.byTestId('sessions-panel').getAttribute('aria-labelledby')).toBe(document.activeElement.id);
  });

  it('ends another session, says so and shows the list without it', async () => {
    const api = fakeApi();
    const { page } = await renderPanel(api);

    await click(rows(page)[1].querySelector('[data-testid="session-end"]'));
    await settle();

    expect(api.deleteSession).toHaveBeenCalledWith('s-laptop');
    expect(api.listSessions).toHaveBeenCalledTimes(2);
    const message = page.byTestId('sessions-message');
    expect(message.textContent).toBe('Ended the session on Firefox on Windows: it is signed out there.');
    expect(message.getAttribute('role')).toBe('status');
    expect(rows(page).map((row) => row.querySelector('strong').textContent)).toEqual([
      'Chrome on Linux',
      'curl/8.5.0',
    ]);
    // The button pressed is gone: the keyboard stays in the panel.
    expect(document.activeElement).toBe(page.container.querySelector('h2'));
  });

  it('says a session had already ended (404) and refreshes the list', async () => {
    const api = fakeApi();
    const { page } = await renderPanel(api);
    // Signed out there meanwhile.
    api.active.delete('s-laptop');

    await click(rows(page)[1].querySelector('[data-testid="session-end"]'));
    await settle();

    expect(api.deleteSession).toHaveBeenCalledWith('s-laptop');
    expect(page.byTestId('sessions-message').textContent).toBe(
      'The session on Firefox on Windows had already ended.',
    );
    expect(api.listSessions).toHaveBeenCalledTimes(2);
    expect(rows(page)).toHaveLength(2);
  });

  it('says why ending failed and keeps the session listed', async () => {
    const api = fakeApi();
    api.deleteSession.mockRejectedValueOnce(
      new ApiError({ status: 503, code: 'unavailable', retryAfterSeconds: 3 }),
    );
    const { page } = await renderPanel(api);

    await click(rows(page)[1].querySelector('[data-testid="session-end"]'));
    await settle();

    const message = page.byTestId('sessions-message');
    expect(message.textContent).toBe(
      'Could not end the session on Firefox on Windows. The service is temporarily unavailable. Try again in 3 seconds.',
    );
    expect(message.getAttribute('role')).toBe('alert');
    expect(rows(page)).toHaveLength(3);
    expect(api.listSessions).toHaveBeenCalledTimes(1);
    expect(rows(page)[1].querySelector('[data-testid="session-end"]').disabled).toBe(false);
  });

  it('disables the End buttons while one session is being ended', async () => {
    const api = fakeApi();
    let finish;
    api.deleteSession.mockImplementationOnce(
      () =>
        new Promise((resolve) => {
          finish = () => {
            api.active.delete('s-laptop');
            resolve();
          };
        }),
    );
    const { page } = await renderPanel(api);
    await click(rows(page)[1].querySelector('[data-testid="session-end"]'));
    const ends = page.allByTestId('session-end');
    expect(ends.map((button) => button.disabled)).toEqual([true, true]);
    expect(ends[0].textContent).toBe('Ending…');
    await act(async () => finish());
    await settle();
    expect(page.allByTestId('session-end').map((button) => button.disabled)).toEqual([false]);
  });

  it('signs this browser out through the ordinary sign-out, not a DELETE', async () => {
    const api = fakeApi();
    const { page, onSignOut } = await renderPanel(api);

    await click(page.byTestId('session-sign-out'));

    expect(onSignOut).toHaveBeenCalledTimes(1);
    expect(api.deleteSession).not.toHaveBeenCalled();
    expect(page.byTestId('session-sign-out').textContent).toBe('Signing out…');
    expect(page.byTestId('session-sign-out').disabled).toBe(true);
  });

  it('says when this is the only session', async () => {
    const { page } = await renderPanel(fakeApi([THIS]));
    expect(page.byTestId('sessions-only-this').textContent).toBe('You are signed in on this browser only.');
  });

  it('says why the list could not be loaded and tries again', async () => {
    const api = fakeApi();
    api.listSessions.mockRejectedValueOnce(new ApiError({ status: 0, code: 'timeout' }));
    const { page } = await renderPanel(api);
    expect(page.byTestId('sessions-error').textContent).toContain(
      'Could not load your sessions. The server took too long to answer.',
    );
    expect(page.byTestId('session-list')).toBeNull();

    await click(page.byTestId('retry'));
    await settle();
    expect(page.byTestId('sessions-error')).toBeNull();
    expect(rows(page)).toHaveLength(3);
  });

  it('closes with Close or Escape', async () => {
    const { page, onClose } = await renderPanel(fakeApi());
    await click(page.byTestId('sessions-close'));
    expect(onClose).toHaveBeenCalledTimes(1);
    await act(async () =>
      page
        .byTestId('session-list')
        .dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true })),
    );
    expect(onClose).toHaveBeenCalledTimes(2);
  });
});
