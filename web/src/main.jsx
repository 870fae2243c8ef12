import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createApiClient } from './api/client.js';
import App from './App.jsx';
import './styles.css';

// Empty means the same origin: in production the API serves this app itself.
const api = createApiClient({ baseUrl: import.meta.env.VITE_API_URL ?? '' });

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App api={api} />
  </StrictMode>,
);
