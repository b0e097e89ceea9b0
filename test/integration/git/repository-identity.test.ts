/**
 * A repository counts as one from before the run only while its git dir is
 * the same one (after-run.ts newRepositories compares identities: device,
 * inode, birth time). From inside, the command cannot even make it another
 * one at the same path: every git dir the scan found in a writable root, and
 * every directory above it, is pinned (a mount point cannot be renamed,
 * removed or replaced). These tests try it, as root and as an unprivileged
 * user, for each kind of git dir: rename it away, remove it and make it
 * again, rename another git dir onto it, exchange the two (renameat2
 * RENAME_EXCHANGE), rename its work tree away. A control run of the same
 * script without cordon shows each attempt replaces the git dir there. The
 * identity check stays as the part that does not depend on the pins
 * (test/unit/platform/linux/after-run.test.ts; after a SIGKILL:
 * test/integration/after-run/after-run-signals.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, own, runners, sh, type World } from '../../helpers/cordon.js';

/** Every kind of git dir the scan finds, relative to the project. */
const GIT_DIRS = ['deep/a/b/c/.git', 'vendor/lib.git', '.git/modules/s', 'g/.git', '.git'];

/** A bare repository, a submodule git dir and a work tree whose .git is a file, beside makeWorld's two repositories. */
function addGitDirs(w: World): void {
  git(w.proj, 'init', '-q', '--bare', 'vendor/lib.git');
  const mod = join(w.proj, '.git', 'modules', 's');
  mkdirSync(join(mod, 'refs'), { recursive: true });
  mkdirSync(join(mod, 'objects'));
  writeFileSync(join(mod, 'HEAD'), 'ref: refs/heads/main\n');
  writeFileSync(join(mod, 'config'), '[core]\n\tbare = false\n');
  mkdirSync(join(w.proj, 'elsewhere'));
  git(join(w.proj, 'elsewhere'), 'init', '-q');
  mkdirSync(join(w.proj, 'g'));
  writeFileSync(join(w.proj, 'g', '.git'), 'gitdir: ../elsewhere/.git\n');
}

function identity(p: string): string {
  const s = lstatSync(p, { bigint: true });
  return `${s.dev}:${s.ino}:${s.birthtimeNs}`;
}

const EXCHANGE = `import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
sys.exit(0 if libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2) == 0 else 1)`;

/** Prints a line for each attempt that went through, and CONTROL lines for the same moves on paths nothing protects. */
const ATTACK = [
  `xchg() { python3 -c '${EXCHANGE}' "$1" "$2"; }`,
  'mkdir c1 c2 && mv c1 c3 && echo CONTROL-MOVE; xchg c2 c3 && echo CONTROL-EXCHANGE',
  `for d in ${GIT_DIRS.join(' ')}; do`,
  '  mv "$d" "$d.away" 2>/dev/null && echo "MOVED $d"',
  '  rm -rf "$d" 2>/dev/null; [ -e "$d" ] || echo "REMOVED $d"',
  '  rm -rf decoy; mkdir decoy && git init -q decoy 2>/dev/null',
  '  mv -T decoy/.git "$d" 2>/dev/null && echo "RENAMED ONTO $d"',
  '  xchg decoy/.git "$d" 2>/dev/null && echo "EXCHANGED $d"',
  'done',
  'for d in deep vendor g; do mv "$d" "$d.away" 2>/dev/null && echo "MOVED $d"; done',
  'true',
].join('\n');

test('control: without cordon, the script replaces every git dir at its path', () => {
  const w = runners()[0]!.world();
  addGitDirs(w);
  const before = GIT_DIRS.map((d) => identity(join(w.proj, d)));
  const r = spawnSync('/bin/sh', ['-c', ATTACK], { cwd: w.proj, env: w.env, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^CONTROL-MOVE\nCONTROL-EXCHANGE\n/);
  for (const d of GIT_DIRS) assert.match(r.stdout, new RegExp(`(MOVED|REMOVED) ${d.replace(/\./g, '\\.')}\n`), d);
  GIT_DIRS.forEach((d, i) => {
    let now: string | undefined;
    try { now = identity(join(w.proj, d)); } catch { /* gone with its work tree */ }
    assert.notEqual(now, before[i], d);
  });
});

for (const { who, world, opts } of runners()) {
  test(`a git dir found before the run cannot be replaced at its path from inside, and keeps its identity (${who})`, () => {
    const w = world();
    addGitDirs(w);
    own(w, opts);
    const before = GIT_DIRS.map((d) => identity(join(w.proj, d)));
    const configs = ['deep/a/b/c/.git/config', 'vendor/lib.git/config', '.git/modules/s/config', 'g/.git', '.git/config'].map((f) => readFileSync(join(w.proj, f), 'utf8'));
    const r = sh(w, ATTACK, [], opts);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'CONTROL-MOVE\nCONTROL-EXCHANGE\n', 'only the moves of paths nothing protects go through');
    assert.deepEqual(GIT_DIRS.map((d) => identity(join(w.proj, d))), before);
    assert.deepEqual(['deep/a/b/c/.git/config', 'vendor/lib.git/config', '.git/modules/s/config', 'g/.git', '.git/config'].map((f) => readFileSync(join(w.proj, f), 'utf8')), configs);
    assert.doesNotMatch(r.stderr, /created a git repository|moved aside/, 'the after-run step found nothing new');
  });
}
