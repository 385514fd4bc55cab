// Bundles the extension (node_modules included, so the vsix needs no dependencies) and,
// with --tests, the unit tests of the vscode-free modules into dist/test-unit.
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode'],
  sourcemap: true,
  logLevel: 'warning',
};

if (process.argv.includes('--tests')) {
  const testDir = 'tests/extension';
  const outdir = 'dist/test-unit';
  rmSync(outdir, { recursive: true, force: true });
  const entryPoints = readdirSync(testDir)
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => join(testDir, name));
  await build({ ...common, entryPoints, outdir });
} else {
  await build({
    ...common,
    entryPoints: ['extension/extension.ts'],
    outfile: 'dist/extension.js',
  });
}
