import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, rmdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FsRule, Policy } from '../../../../src/policy/policy.js';
import { planLinux } from '../../../../src/platform/linux/plan.js';
import { CACHE_MOUNT, cacheEnv, cacheKey, offlineEnv, preparePackageCache, projectRoot } from '../../../../src/platform/linux/package-cache.js';
import { tempDir } from '../../../helpers/tmp.js';

const facts = { helper: '/opt/cordon/helper', bwrap: '/usr/bin/bwrap', helperMounts: false, landlockAbi: 7 };
const fds = { info: 4, seccomp: 5, ready: 6, block: 7 };
const r = (path: string, access: FsRule['access'], kind: FsRule['kind'] = 'dir'): FsRule => ({ path, access, kind, source: 'test' });
function policy(rules: FsRule[], mode: Policy['network']['mode'] = 'none'): Policy {
  return { cwd: '/p', home: '/h', rules, sources: [], warnings: [], network: { mode, modeSource: 'test', allow: [], deny: [], deniedRanges: [], denyPrivateAddresses: false, unixSockets: [] }, watch: [] };
}
const cache = { dir: '/h/.cache/cordon/packages/p-0123', project: '/p', made: false };

test('plan: the project\'s cache is bound writable at /tmp/.cache, after the private /tmp, and the tools are pointed into it', () => {
  const plan = planLinux(policy([r('/p', 'read-write')]), { ...facts, packageCache: cache }, ['true'], fds);
  const a = plan.bwrapArgs.join(' ');
  assert.ok(a.includes(`--bind ${cache.dir} ${CACHE_MOUNT}`), a);
  assert.ok(a.indexOf('--tmpfs /tmp') < a.indexOf(`--bind ${cache.dir}`), 'mounted on the private /tmp, not under it');
  assert.deepEqual(plan.packageCache, cache);
  // Writable through the private /tmp's Landlock rule: no rule of its own, nothing else of the host made writable.
  assert.deepEqual(plan.landlock.rw, ['/dev', '/tmp', '/p']);
  assert.equal(plan.env.npm_config_cache, '/tmp/.cache/npm');
  assert.equal(plan.env.GOMODCACHE, '/tmp/.cache/go-mod');
});

test('plan: no persistent cache without facts.packageCache (turned off), without the private /tmp, or with a rule at /tmp or under /tmp/.cache', () => {
  const bound = (rules: FsRule[], withCache = true) => planLinux(policy(rules), { ...facts, ...(withCache ? { packageCache: cache } : {}) }, ['true'], fds).bwrapArgs.join(' ').includes(CACHE_MOUNT);
  assert.equal(bound([r('/p', 'read-write')], false), false);
  assert.equal(bound([r('/p', 'read-write'), r('/tmp', 'read-write')]), false, 'the host /tmp: never');
  assert.equal(bound([r('/p', 'read-write'), r('/tmp', 'deny-read')]), false, 'a rule at /tmp itself');
  const under = planLinux(policy([r('/p', 'read-write'), r('/tmp/.cache/x', 'read-only')]), { ...facts, packageCache: cache }, ['true'], fds);
  assert.ok(!under.bwrapArgs.join(' ').includes(`${cache.dir}`));
  assert.equal(under.packageCache, undefined);
  assert.ok(under.notes.some((n) => n.includes('package cache is not used')), under.notes.join('\n'));
  // A project under /tmp shows its /tmp/<x> from the host: the cache still goes to /tmp/.cache.
  assert.equal(bound([r('/tmp/work/p', 'read-write')]), true);
});

test('cacheEnv: the caller\'s own place stands when the sandbox can write it; an unwritable one is replaced under every spelling set, with a note', () => {
  const writable = (p: string) => p.startsWith('/p') || p.startsWith('/tmp');
  const ctx = (caller: Record<string, string>) => ({ home: '/h', caller });
  const notes: string[] = [];
  const none = cacheEnv(ctx({}), writable, notes);
  assert.deepEqual(none, { npm_config_cache: '/tmp/.cache/npm', GOCACHE: '/tmp/.cache/go-build', GOMODCACHE: '/tmp/.cache/go-mod', PIP_CACHE_DIR: '/tmp/.cache/pip', UV_CACHE_DIR: '/tmp/.cache/uv', YARN_CACHE_FOLDER: '/tmp/.cache/yarn' });
  assert.deepEqual(notes, []);
  // Writable: left alone (sandboxEnv then keeps the caller's value).
  assert.equal(cacheEnv(ctx({ NPM_CONFIG_CACHE: '/p/.npm-cache' }), writable, []).npm_config_cache, undefined);
  // `npx cordon` hands down npm_config_cache=~/.npm, read-only inside: npm would fail there.
  const n: string[] = [];
  const e = cacheEnv(ctx({ NPM_CONFIG_CACHE: '/h/.npm', GOCACHE: 'relative/go' }), writable, n);
  assert.equal(e.npm_config_cache, '/tmp/.cache/npm');
  assert.equal(e.NPM_CONFIG_CACHE, '/tmp/.cache/npm');
  assert.equal(e.GOCACHE, '/tmp/.cache/go-build');
  assert.equal(n.length, 2);
  assert.match(n[0]!, /NPM_CONFIG_CACHE=\/h\/\.npm: the sandbox cannot write there, so npm uses \/tmp\/\.cache\/npm/);
  // The usual place writable (cordon run in $HOME): nothing set. GOPATH and XDG_CACHE_HOME move the usual places.
  assert.deepEqual(cacheEnv({ home: '/p', caller: {} }, writable, []), {});
  assert.equal(cacheEnv({ home: '/h', gopath: '/p/go', caller: {} }, writable, []).GOMODCACHE, undefined);
  assert.equal(cacheEnv({ home: '/h', xdgCacheHome: '/p/.cache', caller: {} }, writable, []).PIP_CACHE_DIR, undefined);
});

test('offlineEnv: with no network npm is told it is offline, unless the caller said otherwise', () => {
  assert.deepEqual(offlineEnv({}), { npm_config_offline: 'true' });
  assert.deepEqual(offlineEnv({ NPM_CONFIG_OFFLINE: 'false' }), {});
  assert.equal(planLinux(policy([r('/p', 'read-write')], 'filtered'), facts, ['true'], fds).env.npm_config_offline, undefined);
  assert.equal(planLinux(policy([r('/p', 'read-write')], 'none'), facts, ['true'], fds).env.npm_config_offline, 'true');
});

test('projectRoot: the nearest directory holding .git, never $HOME or above it; else the working directory', () => {
  const t = tempDir('/var/tmp/cordon-pc-');
  const home = join(t, 'home');
  mkdirSync(join(home, 'repo', '.git'), { recursive: true });
  mkdirSync(join(home, 'repo', 'a', 'b'), { recursive: true });
  mkdirSync(join(home, '.git'), { recursive: true }); // a dotfiles repository in $HOME
  mkdirSync(join(home, 'loose', 'x'), { recursive: true });
  writeFileSync(join(home, 'repo', 'a', '.git'), 'gitdir: ../.git/worktrees/a\n'); // a worktree: .git is a file
  assert.equal(projectRoot(join(home, 'repo', 'a', 'b'), home), join(home, 'repo', 'a'));
  assert.equal(projectRoot(join(home, 'repo'), home), join(home, 'repo'));
  assert.equal(projectRoot(join(home, 'loose', 'x'), home), join(home, 'loose', 'x'), 'not $HOME\'s dotfiles repository');
  assert.equal(projectRoot(t, home), t);
});

test('cacheKey: readable, and different for another path or another directory at the same path', () => {
  const a = cacheKey('/w/proj', { dev: 1, ino: 2 });
  assert.match(a, /^proj-[0-9a-f]{24}$/);
  assert.notEqual(cacheKey('/x/proj', { dev: 1, ino: 2 }), a);
  assert.notEqual(cacheKey('/w/proj', { dev: 1, ino: 3 }), a);
  assert.match(cacheKey('/w/../..x y', { dev: 1, ino: 2 }), /^x_y-/);
  assert.match(cacheKey('/', { dev: 1, ino: 2 }), /^root-/);
});

function world() {
  const t = tempDir('/var/tmp/cordon-pc-');
  const home = join(t, 'home');
  const proj = join(t, 'proj');
  const state = join(home, '.local', 'state', 'cordon');
  mkdirSync(join(proj, '.git'), { recursive: true });
  mkdirSync(state, { recursive: true });
  return { t, home, proj, state, root: join(home, '.cache', 'cordon') };
}

test('preparePackageCache: makes cordon/packages/<key> as private directories, once; the same directory for every run of the project', () => {
  const w = world();
  const first = preparePackageCache(w.root, join(w.proj), w.home, w.state);
  assert.equal(first.made, true);
  assert.equal(first.project, w.proj);
  assert.ok(first.dir.startsWith(join(w.root, 'packages') + '/'));
  for (const d of [w.root, join(w.root, 'packages'), first.dir]) {
    const st = lstatSync(d);
    assert.ok(st.isDirectory() && (st.mode & 0o777) === 0o700, `${d}: ${(st.mode & 0o777).toString(8)}`);
  }
  mkdirSync(join(w.proj, 'sub'));
  const again = preparePackageCache(w.root, join(w.proj, 'sub'), w.home, w.state);
  assert.deepEqual(again, { ...first, made: false });
  const other = join(w.t, 'other');
  mkdirSync(other);
  assert.notEqual(preparePackageCache(w.root, other, w.home, w.state).dir, first.dir);
});

test('preparePackageCache: a link planted at any step is refused, never followed; nothing is made where it points', () => {
  for (const at of ['cordon', 'packages', 'key'] as const) {
    const w = world();
    const target = join(w.t, 'elsewhere');
    mkdirSync(target, { mode: 0o700 });
    let planted: string;
    if (at === 'cordon') planted = w.root;
    else {
      const made = preparePackageCache(w.root, w.proj, w.home, w.state);
      planted = at === 'packages' ? join(w.root, 'packages') : made.dir;
      // Replaced by a link to a directory the attacker chose.
      if (at === 'packages') rmdirSync(made.dir);
      rmdirSync(planted);
    }
    mkdirSync(join(planted, '..'), { recursive: true });
    symlinkSync(target, planted);
    assert.throws(() => preparePackageCache(w.root, w.proj, w.home, w.state), (e: Error & { code?: string }) => e.code === 'CORDON_ERR_LAUNCH' && /not a directory \(a symbolic link or a file\)/.test(e.message), at);
    assert.deepEqual(readdirSync(target), [], `${at}: nothing made through the link`);
  }
});

test('preparePackageCache: a file, a directory open to others, or a place inside the state directory is refused', () => {
  const w = world();
  mkdirSync(w.root, { recursive: true, mode: 0o700 });
  writeFileSync(join(w.root, 'packages'), 'not a directory');
  assert.throws(() => preparePackageCache(w.root, w.proj, w.home, w.state), /packages: is not a directory/);
  const w2 = world();
  mkdirSync(join(w2.root, 'packages'), { recursive: true, mode: 0o700 });
  chmodSync(join(w2.root, 'packages'), 0o755);
  assert.throws(() => preparePackageCache(w2.root, w2.proj, w2.home, w2.state), /is not a private \(0700\) directory/);
  const w3 = world();
  assert.throws(() => preparePackageCache(join(w3.state, 'cache'), w3.proj, w3.home, w3.state), /cordon's state directory/);
  assert.ok(!existsSync(join(w3.state, 'cache', 'packages')));
});

test('preparePackageCache: runs of one project starting at the same moment all get the one directory', async () => {
  const w = world();
  const mod = fileURLToPath(new URL('../../../../src/platform/linux/package-cache.js', import.meta.url));
  const script = `import(${JSON.stringify(mod)}).then((m) => process.stdout.write(m.preparePackageCache(...JSON.parse(process.argv[1])).dir))`;
  const runs = await Promise.all(Array.from({ length: 6 }, () => new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const c = spawn(process.execPath, ['-e', script, JSON.stringify([w.root, w.proj, w.home, w.state])]);
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('close', (code) => resolve({ code, out, err }));
  })));
  for (const x of runs) assert.equal(x.code, 0, x.err);
  assert.equal(new Set(runs.map((x) => x.out)).size, 1);
  assert.ok(statSync(runs[0]!.out).isDirectory());
});
