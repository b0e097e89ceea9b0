// Builds cordon's two tiny native programs with the system C compiler:
// native/cordon-helper.c (Landlock, PID 1 signal relay, repository scan) and
// native/cordon-relay.c (the TCP→Unix bridge into a sandbox's network
// namespace). It runs as the package's install step; it never downloads
// anything. Why native at all: these need syscalls Node cannot make (Landlock,
// setns, splice). Neither decides anything: they apply what TypeScript computed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, existsSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'native', 'build');
const programs = [
  { src: join(root, 'native', 'cordon-helper.c'), out: join(outDir, 'cordon-helper'), extra: ['-pthread'] },
  { src: join(root, 'native', 'cordon-relay.c'), out: join(outDir, 'cordon-relay'), extra: ['-pthread'] },
];

if (process.platform !== 'linux') process.exit(0);
mkdirSync(outDir, { recursive: true });
const cc = process.env.CC || 'cc';
for (const { src, out, extra } of programs) {
  if (!existsSync(src)) {
    console.error(`cordon: ${src} is missing; the package is incomplete`);
    process.exit(1);
  }
  // Build beside the target, then rename: a sandbox starting meanwhile (tests run
  // concurrently) executes the old binary or the new one, never a half-written one.
  const tmp = `${out}.tmp-${process.pid}`;
  const args = ['-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11', '-D_FORTIFY_SOURCE=2', '-fstack-protector-strong', ...extra, '-o', tmp, src];
  const r = spawnSync(cc, args, { stdio: 'inherit' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    console.error(`cordon: building ${src} failed (${cc} ${args.join(' ')}). Install a C compiler (Debian: apt-get install -y gcc libc6-dev) and run npm rebuild.`);
    process.exit(1);
  }
  renameSync(tmp, out);
}
