// Fails the build when the dashboard's first load grows past its budget,
// or when it would load the API docs' renderer (which belongs to /docs
// only).
import { gzipSync } from 'node:zlib';

/** The dashboard's initial JavaScript, gzipped, at most (120 KiB). */
export const INITIAL_JS_BUDGET = 120 * 1024;

/** Packages that only the docs page may load. */
export const DOCS_ONLY_PACKAGES = ['swagger-ui-dist'];

/** The JavaScript files an HTML page loads itself: module scripts and their preloads. */
export function scriptsOf(html) {
  const out = new Set();
  for (const tag of html.match(/<(script|link)\b[^>]*>/g) ?? []) {
    const attr = (name) => tag.match(new RegExp(`\\b${name}="([^"]*)"`))?.[1];
    const url = tag.startsWith('<script') ? attr('src') : attr('rel') === 'modulepreload' ? attr('href') : undefined;
    if (url) out.add(url.replace(/^\//, ''));
  }
  return [...out];
}

/**
 * The chunks the page html loads before the app runs: its scripts and
 * everything they import statically (dynamic imports load later, on use).
 */
export function initialChunks(html, bundle) {
  const seen = new Map();
  const visit = (fileName) => {
    const chunk = bundle[fileName];
    if (seen.has(fileName) || chunk?.type !== 'chunk') return;
    seen.set(fileName, chunk);
    chunk.imports.forEach(visit);
  };
  scriptsOf(html).forEach(visit);
  return [...seen.values()];
}

/**
 * What is wrong with the page's initial JavaScript, if anything, and its
 * gzipped size.
 */
export function checkInitialJS(html, bundle, { budget = INITIAL_JS_BUDGET, forbidden = DOCS_ONLY_PACKAGES } = {}) {
  const chunks = initialChunks(html, bundle);
  const problems = [];
  if (chunks.length === 0) problems.push('index.html loads no JavaScript chunk of this build');
  let gzipped = 0;
  for (const chunk of chunks) {
    gzipped += gzipSync(chunk.code, { level: 9 }).length;
    for (const pkg of forbidden) {
      const id = chunk.moduleIds.find((m) => m.includes(`/node_modules/${pkg}/`));
      if (id) problems.push(`${chunk.fileName} holds ${pkg} (${id}), which only /docs may load`);
    }
  }
  if (gzipped > budget) {
    problems.push(
      `the initial JavaScript is ${(gzipped / 1024).toFixed(1)} KiB gzipped, over its budget of ${budget / 1024} KiB ` +
        `(${chunks.map((c) => c.fileName).join(', ')}): load the rest with import()`,
    );
  }
  return { problems, gzipped, files: chunks.map((c) => c.fileName) };
}

/** A Vite plugin running checkInitialJS on a page of each build (the dashboard's index.html). */
export function bundleBudget({ page = 'index.html', ...limits } = {}) {
  return {
    name: 'revenue:bundle-budget',
    apply: 'build',
    writeBundle(_, bundle) {
      const html = bundle[page];
      if (html?.type !== 'asset') this.error(`bundle budget: the build has no ${page}`);
      const { problems, gzipped } = checkInitialJS(String(html.source), bundle, limits);
      if (problems.length > 0) this.error(`bundle budget of ${page}: ${problems.join('; ')}`);
      this.info(`${page} loads ${(gzipped / 1024).toFixed(1)} KiB of JavaScript gzipped (budget ${(limits.budget ?? INITIAL_JS_BUDGET) / 1024} KiB)`);
    },
  };
}
