import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';
import { bundleBudget } from './build/bundle-budget.js';
import { precompress } from './build/precompress.js';

export default defineConfig({
  plugins: [react(), bundleBudget(), precompress()],
  build: {
    // The docs renderer is one large chunk that only /docs loads; the
    // dashboard's own first load is held to bundleBudget's limit instead.
    chunkSizeWarningLimit: 2000,
    rolldownOptions: {
      // Two pages: the dashboard, and the API reference served at /docs
      // (its renderer is loaded by that page only).
      input: {
        index: fileURLToPath(new URL('index.html', import.meta.url)),
        docs: fileURLToPath(new URL('docs.html', import.meta.url)),
      },
    },
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.{js,jsx}', 'build/**/*.test.js'],
    setupFiles: ['src/test/setup.js'],
  },
});
