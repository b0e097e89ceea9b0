/**
 * Parked placeholders (src/platform/linux/placeholder-park.ts) on a real
 * filesystem: a released placeholder waits in the state directory and goes
 * back only to the path it stood at; one that was touched during its run, or
 * written into, is not parked; what a writer puts into a parked directory
 * (as a second run that kept it as its working directory) is never put back
 * in a tree; the parked directories are hidden in every sandbox; a tree on
 * another filesystem gets made and removed placeholders; the parking is
 * bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, realpathSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cordonAsync, own, runners, sh } from '../../helpers/cordon.js';

const base = realpathSync(mkdtempSync('/var/tmp/cordon-park-'));
process.env.XDG_STATE_HOME = join(base, 'state');
process.on('exit', () => rmSync(base, { recursive: true, force: true }));
const { acquirePlaceholders, releasePlaceholders, runtimeDir } = await import('../../../src/platform/linux/placeholders.js');
const { PARK_DIR, PARK_MAX, parkedName } = await import('../../../src/platform/linux/placeholder-park.js');

const state = () => runtimeDir(process.env);
const parked = (path: string) => join(state(), PARK_DIR, parkedName(path));
const ino = (p: string) => statSync(p).ino;
/** One run's placeholders at `paths`: made (or unparked), then released. */
const run = (paths: string[], during: () => void = () => {}) => {
  const h = acquirePlaceholders(state(), paths, []);
  try { during(); } finally { releasePlaceholders(h); }
};
const project = (name: string) => {
  const p = join(base, name);
  mkdirSync(p);
  return p;
};

test('a released placeholder is parked, and the next run at that path gets that directory back; a run at another path does not', () => {
  const p = project('same');
  const q = project('other');
  const envrc = join(p, '.envrc');
  let first = 0;
  run([envrc], () => { first = ino(envrc); });
  assert.deepEqual(readdirSync(p), [], 'the tree keeps nothing between runs');
  assert.equal(ino(parked(envrc)), first, 'parked in the state directory');
  run([envrc], () => {
    assert.equal(ino(envrc), first, 'renamed back into place, not made');
    assert.ok(!existsSync(parked(envrc)));
  });
  run([join(q, '.envrc')], () => assert.notEqual(ino(join(q, '.envrc')), first, 'another path gets a directory of its own'));
  assert.equal(ino(parked(envrc)), first);
  assert.deepEqual(readdirSync(q), []);
});

test('a placeholder touched during its run (its mode, or an entry made and removed in it) is removed, not parked', () => {
  const p = project('touched');
  const idea = join(p, '.idea');
  const vscode = join(p, '.vscode');
  run([idea, vscode], () => {
    chmodSync(idea, 0o777);
    writeFileSync(join(vscode, 'x'), '');
    rmSync(join(vscode, 'x'));
  });
  assert.deepEqual(readdirSync(p), []);
  assert.ok(!existsSync(parked(idea)), 'a chmod during the run: not parked');
  assert.ok(!existsSync(parked(vscode)), 'an entry made and removed: not parked');
  run([idea], () => assert.equal(statSync(idea).mode & 0o777, 0o755, 'the next run makes a fresh one'));
});

test('a placeholder the host wrote into stays where it is, and is not parked', () => {
  const p = project('written');
  const claude = join(p, '.claude');
  run([claude], () => writeFileSync(join(claude, 'settings.json'), '{}'));
  assert.deepEqual(readdirSync(claude), ['settings.json']);
  assert.ok(!existsSync(parked(claude)));
});

test('what a writer puts into a parked directory (it kept it open) is never put back in a tree: the next run at that path makes a fresh one', () => {
  const p = project('kept');
  const q = project('elsewhere');
  const hooks = join(p, '.git', 'hooks');
  mkdirSync(join(p, '.git'));
  let fd = -1;
  let first = 0;
  // A process of another run (or of the host) that holds the placeholder as its working directory.
  run([hooks], () => { first = ino(hooks); fd = openSync(hooks, constants.O_RDONLY | constants.O_DIRECTORY); });
  try {
    writeFileSync(`/proc/self/fd/${fd}/pre-commit`, 'written after the run released it');
  } finally {
    closeSync(fd);
  }
  assert.deepEqual(readdirSync(join(p, '.git')), [], 'nothing in the tree');
  mkdirSync(join(q, '.git'));
  run([join(q, '.git', 'hooks')], () => assert.deepEqual(readdirSync(join(q, '.git', 'hooks')), [], 'another path gets an empty one'));
  run([hooks], () => {
    assert.deepEqual(readdirSync(hooks), [], 'its own path gets an empty one too');
    assert.notEqual(ino(hooks), first, 'made afresh');
  });
  assert.deepEqual(readdirSync(join(p, '.git')), []);
  assert.deepEqual(readdirSync(parked(hooks)), ['pre-commit'], 'what was written stays parked');
});

test('an empty directory already at the name is not replaced by a parked one', () => {
  const p = project('taken');
  const mcp = join(p, '.mcp.json');
  run([mcp]);
  const slot = ino(parked(mcp));
  mkdirSync(mcp);
  const mine = ino(mcp);
  run([mcp]);
  assert.equal(ino(mcp), mine, 'the directory that was there is still there (not held by the run, not removed)');
  assert.equal(ino(parked(mcp)), slot, 'the parked one waits');
  rmdirSync(mcp);
});

test('a tree on another filesystem than the state directory gets placeholders made and removed', () => {
  // /dev/shm is a tmpfs; the state directory is under /var/tmp.
  assert.notEqual(statSync('/dev/shm').dev, statSync(state()).dev, 'this test needs /dev/shm on a filesystem of its own');
  const p = realpathSync(mkdtempSync('/dev/shm/cordon-park-'));
  try {
    const gemini = join(p, '.gemini');
    run([gemini], () => assert.ok(statSync(gemini).isDirectory()));
    assert.deepEqual(readdirSync(p), []);
    assert.ok(!existsSync(parked(gemini)));
    run([gemini], () => assert.ok(statSync(gemini).isDirectory()));
    assert.deepEqual(readdirSync(p), []);
  } finally {
    rmSync(p, { recursive: true, force: true });
  }
});

test('the parking is bounded: when full, a released placeholder is removed and a few parked ones go', () => {
  const dir = join(state(), PARK_DIR);
  const before = readdirSync(dir).length;
  for (let i = before; i < PARK_MAX; i++) mkdirSync(join(dir, `filler-${i}`));
  const p = project('full');
  const zed = join(p, '.zed');
  run([zed]);
  assert.deepEqual(readdirSync(p), [], 'removed');
  assert.ok(!existsSync(parked(zed)), 'not parked');
  assert.ok(readdirSync(dir).length < PARK_MAX, 'room made for the next');
  for (const n of readdirSync(dir)) if (n.startsWith('filler-')) rmdirSync(join(dir, n));
});

/** Output of a cordon started in the background, when it ends. */
function ended(child: ReturnType<typeof cordonAsync>): Promise<string> {
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve) => child.on('close', () => resolve(out)));
}

for (const { who, world, opts } of runners()) {
  test(`as ${who}: a second run that keeps a placeholder as its working directory past its run gets nothing it writes there into any tree`, async () => {
    const w = world();
    // B protects no ./foo: it may write there, and keeps A's placeholder as its working directory until A has released it.
    const b = ended(cordonAsync(w, ['--', '/bin/sh', '-c', [
      'i=0; while [ ! -d foo ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done',
      'cd foo || exit 3',
      'i=0; while [ -d ../foo ] && [ $i -lt 500 ]; do sleep 0.02; i=$((i+1)); done',
      'sleep 0.3; (echo planted > planted) 2>/dev/null && echo B-WROTE; echo B-done',
    ].join('\n')], opts));
    const a = sh(w, 'sleep 1.5', ['--read-only', './foo'], opts);
    assert.equal(a.status, 0, a.stderr);
    const out = await b;
    assert.match(out, /B-done/);
    assert.ok(!existsSync(join(w.proj, 'foo')), 'the placeholder is gone from the tree');
    assert.equal(spawnSync('find', [w.root, '-name', 'planted'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.includes('/proj/')).length, 0, 'nothing in the tree');
    // A run with a placeholder at another path gets an empty one.
    const c = sh(w, 'ls -A bar', ['--read-only', './bar'], opts);
    assert.equal(c.status, 0, c.stderr);
    assert.equal(c.stdout, '');
    // Nor to ./foo: what B wrote (where this kernel lets it, into a directory moved out of B's root) stays parked.
    const again = sh(w, 'ls -A foo', ['--read-only', './foo'], opts);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stdout, '');
    assert.ok(!existsSync(join(w.proj, 'foo')));
  });
}

for (const { who, world, opts } of runners()) {
  test(`as ${who}: the parked placeholders cannot be read, listed or entered inside a sandbox`, () => {
    const w = world();
    // Parked by a run in another project: this run does not take them back.
    const other = join(w.root, 'other');
    mkdirSync(other);
    own(w, opts);
    const first = sh(w, 'true', [], { ...opts, cwd: other });
    assert.equal(first.status, 0, first.stderr);
    const dir = join(w.home, '.local', 'state', 'cordon', PARK_DIR);
    const slots = readdirSync(dir);
    assert.ok(slots.length > 0, 'the first run parked its placeholders');
    const r = sh(w, `ls -A ${dir}; cd ${join(dir, slots[0]!)} && echo ENTERED`, [], opts);
    assert.equal(r.stdout, '', 'nothing listed, nothing entered');
  });
}
