// @vitest-environment node
//
// The production build as the server delivers it: two pages, the
// dashboard within its first-load budget and without the docs renderer,
// and a gzip and a brotli copy beside each compressible file.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import react from '@vitejs/plugin-react';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleBudget, checkInitialJS, INITIAL_JS_BUDGET, scriptsOf } from './bundle-budget.js';
import { COMPRESSIBLE, MIN_BYTES } from './precompress.js';

const WEB_DIR = fileURLToPath(new URL('..', import.meta.url));
const BUILD_TIMEOUT_MS = 120_000;

async function listFiles(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(dir, join(entry.parentPath, entry.name)));
  }
  return out.sort();
}

// A build's output as the plugins see it: file name → chunk or asset.
function bundleOf(result) {
  const outputs = Array.isArray(result) ? result.flatMap((r) => r.output) : result.output;
  return Object.fromEntries(outputs.map((o) => [o.fileName, o]));
}

// Builds as `npm run build` does: Vitest's NODE_ENV=test would otherwise
// give React's development build.
async function buildInto(outDir, config = {}) {
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    return await build({ root: WEB_DIR, mode: 'production', logLevel: 'silent', build: { outDir, emptyOutDir: true }, ...config });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
}

describe('the production build', () => {
  let outDir;
  let bundle;
  let files;

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'revenue-web-build-'));
    bundle = bundleOf(await buildInto(outDir, { configFile: join(WEB_DIR, 'vite.config.js') }));
    files = await listFiles(outDir);
  }, BUILD_TIMEOUT_MS);

  afterAll(() => rm(outDir, { recursive: true, force: true }));

  const html = (page) => readFile(join(outDir, page), 'utf8');

  it('has the dashboard and the API reference as two pages', async () => {
    expect(files).toContain('index.html');
    expect(files).toContain('docs.html');
    expect(await html('docs.html')).toContain('id="docs"');
  });

  it('keeps the dashboard’s initial JavaScript within budget and free of the docs renderer', async () => {
    const { problems, gzipped, files: initial } = checkInitialJS(await html('index.html'), bundle);
    expect(problems).toEqual([]);
    expect(initial.length).toBeGreaterThan(0);
    expect(gzipped).toBeLessThanOrEqual(INITIAL_JS_BUDGET);
  });

  it('loads the renderer on /docs, where the same check would refuse it', async () => {
    const { problems } = checkInitialJS(await html('docs.html'), bundle, { budget: Infinity });
    expect(problems.join('\n')).toMatch(/swagger-ui-dist/);
  });

  it('writes a gzip and a brotli copy of each compressible file that decode to it', async () => {
    const compressible = files.filter((f) => COMPRESSIBLE.test(f));
    const big = [];
    for (const name of compressible) {
      const original = await readFile(join(outDir, name));
      if (original.length < MIN_BYTES) {
        expect(files, `${name} is too small to compress`).not.toContain(`${name}.gz`);
        continue;
      }
      big.push(name);
      expect(gunzipSync(await readFile(join(outDir, `${name}.gz`))).equals(original), `${name}.gz`).toBe(true);
      expect(brotliDecompressSync(await readFile(join(outDir, `${name}.br`))).equals(original), `${name}.br`).toBe(true);
      const [plain, gz, br] = await Promise.all(['', '.gz', '.br'].map((ext) => stat(join(outDir, name + ext))));
      expect(gz.mtimeMs, `${name}.gz is not older than ${name}`).toBeGreaterThanOrEqual(plain.mtimeMs);
      expect(br.mtimeMs, `${name}.br is not older than ${name}`).toBeGreaterThanOrEqual(plain.mtimeMs);
    }
    expect(big.some((f) => f.endsWith('.js'))).toBe(true);
    expect(big.some((f) => f.endsWith('.css'))).toBe(true);
  });

  it(
    'fails when the dashboard grows past its budget',
    async () => {
      const small = await mkdtemp(join(tmpdir(), 'revenue-web-budget-'));
      try {
        await expect(
          buildInto(small, {
            configFile: false,
            plugins: [react(), bundleBudget({ budget: 1024 })],
          }),
        ).rejects.toThrow(/over its budget of 1 KiB/);
      } finally {
        await rm(small, { recursive: true, force: true });
      }
    },
    BUILD_TIMEOUT_MS,
  );
});

describe('the budget check', () => {
  const chunk = (fileName, code, { imports = [], moduleIds = [] } = {}) => ({ type: 'chunk', fileName, code, imports, moduleIds });

  it('reads the module scripts and preloads a page loads', () => {
    const page = `<script type="module" crossorigin src="/assets/a.js"></script>
      <link rel="modulepreload" crossorigin href="/assets/b.js">
      <link rel="stylesheet" href="/assets/c.css"><script src="/assets/a.js"></script>`;
    expect(scriptsOf(page)).toEqual(['assets/a.js', 'assets/b.js']);
  });

  it('counts static imports, not dynamic ones', () => {
    const bundle = {
      'assets/a.js': chunk('assets/a.js', 'a', { imports: ['assets/shared.js'] }),
      'assets/shared.js': chunk('assets/shared.js', 'shared'),
      'assets/lazy.js': chunk('assets/lazy.js', 'x'.repeat(10), { moduleIds: ['/w/node_modules/swagger-ui-dist/x.js'] }),
    };
    const result = checkInitialJS('<script type="module" src="/assets/a.js"></script>', bundle);
    expect(result.problems).toEqual([]);
    expect(result.files).toEqual(['assets/a.js', 'assets/shared.js']);
  });

  it('refuses a renderer pulled in by a static import', () => {
    const bundle = {
      'assets/a.js': chunk('assets/a.js', 'a', { imports: ['assets/docs.js'] }),
      'assets/docs.js': chunk('assets/docs.js', 'd', { moduleIds: ['/w/node_modules/swagger-ui-dist/swagger-ui-es-bundle.js'] }),
    };
    const { problems } = checkInitialJS('<script type="module" src="/assets/a.js"></script>', bundle);
    expect(problems).toEqual([expect.stringMatching(/assets\/docs\.js holds swagger-ui-dist/)]);
  });

  it('refuses a page that loads nothing of the build', () => {
    expect(checkInitialJS('<p>no script</p>', {}).problems).toEqual(['index.html loads no JavaScript chunk of this build']);
  });
});
