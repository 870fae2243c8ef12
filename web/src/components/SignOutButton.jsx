import { useState } from 'react';

// A button that signs out: disabled and "Signing out…" while `onSignOut()`
// is under way, usable again if it fails (the app says why: the user is then
// still signed in). `children`: its label otherwise.
export default function SignOutButton({ onSignOut, className, testId, children }) {
  const [pending, setPending] = useState(false);

  async function signOut() {
    setPending(true);
    try {
      await onSignOut();
    } finally {
      setPending(false);
    }
  }

  return (
    <button type="button" className={className} onClick={signOut} disabled={pending} data-testid={testId}>
      {pending ? 'Signing out…' : children}
    </button>
  );
}
