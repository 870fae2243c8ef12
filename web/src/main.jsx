import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createApiClient } from './api/client.js';
import App from './App.jsx';
import './styles.css';

// Empty means the same origin: in production the API serves this app itself.
// The channel tells this app's other tabs of a sign-in or sign-out (they
// share the refresh cookie); a browser without BroadcastChannel still finds
// out at the next refresh.
const api = createApiClient({
  baseUrl: import.meta.env.VITE_API_URL ?? '',
  channel: typeof BroadcastChannel === 'function' ? new BroadcastChannel('revenue-api-session') : null,
});

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App api={api} />
  </StrictMode>,
);
