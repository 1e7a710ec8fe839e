// Builds dist/ deterministically (same sources, same esbuild version: same bytes):
//   dist/sockhop.min.js (+ .map)  IIFE exposing window.sockhop, served by the Go server
//   dist/sockhop.mjs              ES module
//   dist/sockhop.d.ts             the public types (src/api.ts)
// and test/.build/internal.mjs (not committed) for the node unit tests.
import { build } from 'esbuild';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
process.chdir(root);
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const banner = `/*! sockhop ${version} | MIT */`;
const common = {
  bundle: true,
  target: 'es2017',
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
  banner: { js: banner },
};

await build({
  ...common,
  entryPoints: ['src/index.ts'],
  outfile: 'dist/sockhop.min.js',
  format: 'iife',
  globalName: 'sockhop',
  minify: true,
  sourcemap: true,
  sourcesContent: true,
});
await build({
  ...common,
  entryPoints: ['src/index.ts'],
  outfile: 'dist/sockhop.mjs',
  format: 'esm',
});
await build({
  ...common,
  banner: undefined,
  entryPoints: ['src/internal.ts'],
  outfile: 'test/.build/internal.mjs',
  format: 'esm',
  platform: 'neutral',
});

const api = readFileSync('src/api.ts', 'utf8').replace(/^\/\/ The public types[^\n]*\n\/\/[^\n]*\n/, '');
mkdirSync('dist', { recursive: true });
writeFileSync('dist/sockhop.d.ts', `// Type definitions for sockhop ${version} (generated from src/api.ts by build.mjs)\n` + api);

const min = readFileSync(join('dist', 'sockhop.min.js'));
const gz = gzipSync(min, { level: 9 }).length;
console.log(`sockhop.min.js: ${min.length} bytes, ${gz} bytes gzipped (${(gz / 1024).toFixed(1)} KiB)`);
if (gz > 12 * 1024) {
  console.error('build: sockhop.min.js is over the 12 KiB gzipped budget');
  process.exit(1);
}
