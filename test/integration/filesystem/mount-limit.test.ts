/**
 * The helper's mounts under a low descriptor limit: each mount source is an
 * open descriptor until it is mounted, and a project with a hundred nested
 * repositories needs several hundred mounts (a pin for each repository and its
 * git dir, its config and hooks read-only). Under a hard `ulimit -n 256` the
 * sandbox must still start with every one of them in place, as root and as
 * an unprivileged user: a protected file is read-only inside, a pinned
 * directory cannot be renamed away, and the rest of the project is writable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, git, own, runners, type World } from '../../helpers/cordon.js';

const LIMIT = 256;
const REPOS = 100;

/** cordon ARGS in the project, started under a hard and soft RLIMIT_NOFILE of LIMIT. */
function cordonLimited(w: World, args: readonly string[], asUser?: string) {
  const limited = ['/bin/sh', '-c', `ulimit -n ${LIMIT} && exec "$@"`, 'sh'];
  const node = [process.execPath, CLI, ...args];
  const argv = asUser ? ['runuser', '-u', asUser, '--', ...limited, 'env', ...Object.entries(w.env).map(([k, v]) => `${k}=${v}`), ...node] : [...limited, ...node];
  return spawnSync(argv[0]!, argv.slice(1), { cwd: w.proj, env: w.env, encoding: 'utf8', timeout: 120_000 });
}

/** Tries every repository's protected paths from inside; prints what got through. */
const ATTACK = [
  'ulimit -n',
  'wc -l < /proc/self/mountinfo',
  'for d in r*; do',
  '  printf "[core]\\n\\tfsmonitor = touch /tmp/pwned\\n" >> $d/.git/config 2>/dev/null && echo "WROTE $d/.git/config"',
  '  touch $d/.git/hooks/pre-commit 2>/dev/null && echo "WROTE $d/.git/hooks"',
  '  mv $d/.git $d/.git.moved 2>/dev/null && echo "MOVED $d/.git"',
  '  mv $d $d.moved 2>/dev/null && echo "MOVED $d"',
  'done',
  'echo made > made.txt && cat made.txt',
].join('\n');

for (const { who, world, opts } of runners()) {
  test(`a hundred nested repositories under ulimit -n ${LIMIT}: every mount is made and holds (${who})`, () => {
    const w = world();
    for (let i = 0; i < REPOS; i++) {
      mkdirSync(join(w.proj, `r${i}`));
      git(join(w.proj, `r${i}`), 'init', '-q');
    }
    own(w, opts);
    const before = readFileSync(join(w.proj, `r${REPOS - 1}`, '.git', 'config'), 'utf8');
    const r = cordonLimited(w, ['--', '/bin/sh', '-c', ATTACK], opts.asUser);
    assert.equal(r.status, 0, r.stderr);
    const [limit, mounts, ...rest] = r.stdout.trim().split('\n');
    assert.equal(limit, String(LIMIT), 'the command runs under the limit it was given');
    assert.ok(Number(mounts) > LIMIT, `more mounts than descriptors (${mounts})`);
    assert.deepEqual(rest, ['made'], 'no protected path gave way, the project stays writable');
    for (let i = 0; i < REPOS; i++) assert.equal(readFileSync(join(w.proj, `r${i}`, '.git', 'config'), 'utf8'), before, `r${i}`);
  });
}
