// Builds cordon's tiny native helper (native/cordon-helper.c) with the system C
// compiler. It runs as the package's install step; it never downloads anything.
// Why native at all: Landlock and the pid-1 signal relay need syscalls Node
// cannot make. The helper decides nothing: it applies what TypeScript computed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, existsSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'native', 'cordon-helper.c');
const outDir = join(root, 'native', 'build');
const out = join(outDir, 'cordon-helper');

if (process.platform !== 'linux') process.exit(0);
if (!existsSync(src)) {
  console.error(`cordon: ${src} is missing; the package is incomplete`);
  process.exit(1);
}
mkdirSync(outDir, { recursive: true });
const cc = process.env.CC || 'cc';
// Build beside the target, then rename: a sandbox starting meanwhile (tests run
// concurrently) executes the old binary or the new one, never a half-written one.
const tmp = `${out}.tmp-${process.pid}`;
const args = ['-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong', '-o', tmp, src];
const r = spawnSync(cc, args, { stdio: 'inherit' });
if (r.error || r.status !== 0) {
  rmSync(tmp, { force: true });
  console.error(`cordon: building the native helper failed (${cc} ${args.join(' ')}). Install a C compiler (Debian: apt-get install -y gcc libc6-dev) and run npm rebuild.`);
  process.exit(1);
}
renameSync(tmp, out);
