// Writes name.gz and name.br next to each compressible file of the build,
// so the server sends them as they are (Content-Encoding) instead of
// compressing on every request.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

// Text formats; images and fonts the build emits are compressed already.
export const COMPRESSIBLE = /\.(html|js|mjs|css|svg|json|yaml|yml|txt|map|xml|webmanifest)$/;

// Below this, a header costs about what compression saves.
export const MIN_BYTES = 1024;

/** The encodings written, with the file extension each variant gets. */
export const ENCODINGS = [
  { ext: '.gz', compress: (data) => gzipAsync(data, { level: 9 }) },
  {
    ext: '.br',
    compress: (data) =>
      brotliAsync(data, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
          [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
        },
      }),
  },
];

async function* files(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile()) yield path;
  }
}

/**
 * Compresses every file under dir that is worth it, and returns the names
 * of the variants written. A variant that would not be smaller is not
 * written: the server then sends the original.
 */
export async function precompressDir(dir) {
  const written = [];
  const jobs = [];
  for await (const path of files(dir)) {
    if (!COMPRESSIBLE.test(path)) continue;
    jobs.push(
      readFile(path).then(async (data) => {
        if (data.length < MIN_BYTES) return;
        for (const { ext, compress } of ENCODINGS) {
          const packed = await compress(data);
          if (packed.length >= data.length) continue;
          await writeFile(path + ext, packed);
          written.push(path + ext);
        }
      }),
    );
  }
  await Promise.all(jobs);
  return written.sort();
}

/** A Vite plugin running precompressDir on the output once it is written. */
export function precompress() {
  let outDir;
  return {
    name: 'revenue:precompress',
    apply: 'build',
    configResolved(config) {
      outDir = resolve(config.root, config.build.outDir);
    },
    async closeBundle() {
      await precompressDir(outDir);
    },
  };
}
