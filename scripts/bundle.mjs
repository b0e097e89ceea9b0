// Bundles the CLI (tsc output in dist/src) into one CommonJS file,
// dist/bundle/main.cjs, loaded by bin/cordon.cjs. CommonJS because Node's ESM
// loader adds ~5-10 ms to every start; one file because each module costs a
// lookup and a compile. import.meta.url (used to find the package root) is
// rewritten to the bundle's own file URL.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bundle');
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints: [join(root, 'dist', 'src', 'cli', 'main.js')],
  outfile: join(outdir, 'main.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  banner: { js: 'var __cordon_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
  define: { 'import.meta.url': '__cordon_import_meta_url' },
});
