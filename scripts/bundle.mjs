// Bundles the CLI (tsc output in dist/src) into CommonJS files loaded by
// bin/cordon.cjs: dist/bundle/early.cjs (the scan started first) and
// dist/bundle/main.cjs (everything). CommonJS because Node's ESM
// loader adds ~5-10 ms to every start; one file because each module costs a
// lookup and a compile. import.meta.url (used to find the package root) is
// rewritten to the bundle's own file URL.
//
// The library (`import 'cordon'`) is one ES module too, dist/bundle/sandbox.mjs:
// importing the ~40 files of dist/src costs ~50 ms here, one file a fraction.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bundle');
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: join(root, 'dist', 'src', 'cli', 'main.js'), early: join(root, 'dist', 'src', 'cli', 'early.js') },
  outdir,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  banner: { js: 'var __cordon_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': '__cordon_import_meta_url' },
});
await build({
  entryPoints: { sandbox: join(root, 'dist', 'src', 'sandbox.js') },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
});
