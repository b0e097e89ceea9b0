/**
 * Placeholder bookkeeping on a real filesystem: created for a run, shared by
 * parallel runs, removed only when no live run holds them, swept after a run
 * that died, and never removed when the host put something inside.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const base = realpathSync(mkdtempSync('/var/tmp/cordon-ph-'));
process.env.XDG_STATE_HOME = join(base, 'state');
process.on('exit', () => rmSync(base, { recursive: true, force: true }));
const { acquirePlaceholders, boundCache, cacheDir, releasePlaceholders, runtimeDir, sweepStale } = await import('../../../src/platform/linux/placeholders.js');

test('the state directory is private', () => {
  const d = runtimeDir(process.env);
  assert.equal(d, join(base, 'state', 'cordon'));
  assert.equal(statSync(d).mode & 0o777, 0o700);
});

test("start predictions and scan caches live in the state directory's cache/, bounded; an older cordon's at the top are removed", () => {
  const state = join(base, 'state-cache');
  mkdirSync(state, { mode: 0o700 });
  const made = runtimeDir({ XDG_STATE_HOME: state });
  assert.equal(cacheDir(made), join(made, 'cache'));
  assert.equal(statSync(cacheDir(made)).mode & 0o777, 0o700);
  // An older cordon kept them beside the holds and journals that every start lists: removed when cache/ is made.
  rmSync(cacheDir(made), { recursive: true });
  const legacy = ['launch-0123456789abcdef.json', 'roots-0123456789abcdef.json', 'scan-0123456789abcdef.cache'];
  for (const n of [...legacy, 'hold-1-x.json', 'landlock-abi']) writeFileSync(join(made, n), '');
  runtimeDir({ XDG_STATE_HOME: state });
  assert.deepEqual(readdirSync(made).sort(), ['.cordon-state', 'cache', 'hold-1-x.json', 'landlock-abi']);
  // Past the bound, the least recently written go, down to what it keeps; other names are never touched.
  const cache = cacheDir(made);
  for (let i = 0; i < 12; i++) {
    const f = join(cache, `launch-${i.toString(16).padStart(16, '0')}.json`);
    writeFileSync(f, '');
    utimesSync(f, 1000 + i, 1000 + i);
  }
  writeFileSync(join(cache, 'scan-0000000000000001.cache.tmp.99'), '');
  boundCache(made, 12, 8);
  assert.equal(readdirSync(cache).length, 13, 'at the bound: nothing removed');
  writeFileSync(join(cache, 'scan-00000000000000ff.cache'), '');
  writeFileSync(join(made, 'launch-00000000000000ff.json'), ''); // an older cordon, run since, kept it at the top
  boundCache(made, 12, 8);
  assert.ok(!existsSync(join(made, 'launch-00000000000000ff.json')));
  assert.deepEqual(readdirSync(cache).sort(), [
    ...[5, 6, 7, 8, 9, 10, 11].map((i) => `launch-${i.toString(16).padStart(16, '0')}.json`),
    'scan-0000000000000001.cache.tmp.99', 'scan-00000000000000ff.cache',
  ].sort(), 'the 5 oldest removed, the newest kept, a half-written file left alone');
});

test('acquire creates missing placeholders (and parents); release removes exactly those', () => {
  const proj = join(base, 'p1');
  mkdirSync(join(proj, 'keep'), { recursive: true });
  const h = acquirePlaceholders(runtimeDir(process.env), [join(proj, '.envrc'), join(proj, 'a', 'b', '.vscode')], [join(proj, 'keep')]);
  assert.ok(existsSync(join(proj, '.envrc')) && existsSync(join(proj, 'a', 'b', '.vscode')));
  assert.deepEqual(readdirSync(runtimeDir(process.env)).filter((n) => n.startsWith('hold-')).length, 1);
  releasePlaceholders(h);
  assert.deepEqual(readdirSync(proj).sort(), ['keep'], 'parents created for a placeholder go too; existing dirs stay');
  assert.deepEqual(readdirSync(runtimeDir(process.env)).filter((n) => n.startsWith('hold-')), []);
});

test('a placeholder shared with another live run survives until the last one releases', () => {
  const proj = join(base, 'p2');
  mkdirSync(proj);
  const a = acquirePlaceholders(runtimeDir(process.env), [join(proj, '.envrc')], []);
  // The second run's policy sees the placeholder as an existing directory it mounts read-only.
  const b = acquirePlaceholders(runtimeDir(process.env), [], [join(proj, '.envrc')]);
  assert.deepEqual(b.paths, [join(proj, '.envrc')]);
  releasePlaceholders(a);
  assert.ok(existsSync(join(proj, '.envrc')), 'still held by b');
  releasePlaceholders(b);
  assert.ok(!existsSync(join(proj, '.envrc')));
});

test("a placeholder released between another run's plan and its launch is put back and held", () => {
  const proj = join(base, 'p5');
  mkdirSync(proj);
  const a = acquirePlaceholders(runtimeDir(process.env), [join(proj, '.idea')], []);
  // b's plan was made while a's placeholder existed, so b mounts it as an existing directory...
  releasePlaceholders(a);
  assert.ok(!existsSync(join(proj, '.idea')));
  // ...and a released it before b launched: b must recreate its mount point, not fail.
  const b = acquirePlaceholders(runtimeDir(process.env), [], [join(proj, '.idea')], [proj]);
  assert.ok(statSync(join(proj, '.idea')).isDirectory());
  assert.deepEqual(b.paths, [join(proj, '.idea')]);
  releasePlaceholders(b);
  assert.deepEqual(readdirSync(proj), []);
  // Outside every writable root, nothing is created (the mount then fails the run).
  const c = acquirePlaceholders(runtimeDir(process.env), [], [join(proj, '.idea')], [join(base, 'elsewhere')]);
  assert.deepEqual(c.paths, []);
  assert.deepEqual(readdirSync(proj), []);
  releasePlaceholders(c);

test("a pinned directory that is another live run's placeholder is held; a pinned one that is gone is not re-created", () => {
  const proj = join(base, 'p6');
  mkdirSync(proj);
  const a = acquirePlaceholders(runtimeDir(process.env), [join(proj, '.claude')], []);
  // b pins a's placeholder (its plan protects a path beneath it) and another directory that has since gone.
  const b = acquirePlaceholders(runtimeDir(process.env), [], [], [proj], [join(proj, '.claude'), join(proj, 'gone')]);
  assert.deepEqual(b.paths, [join(proj, '.claude')]);
  releasePlaceholders(a);
  assert.ok(existsSync(join(proj, '.claude')), 'still a mount point of b');
  assert.ok(!existsSync(join(proj, 'gone')), 'a vanished pin fails the mount, closed; it is not made up');
  releasePlaceholders(b);
  assert.deepEqual(readdirSync(proj), []);
});
});

test('holds of a dead run are swept; a placeholder the host wrote into is left alone', () => {
  const proj = join(base, 'p3');
  mkdirSync(join(proj, '.envrc'), { recursive: true });
  mkdirSync(join(proj, '.vscode'));
  writeFileSync(join(proj, '.vscode', 'user-file'), 'written on the host during the run');
  // A run that was SIGKILLed: pid 2^22+1 cannot exist (pid_max is at most 2^22).
  writeFileSync(join(runtimeDir(process.env), 'hold-4194305-dead.json'), JSON.stringify({ pid: 4194305, paths: [join(proj, '.envrc'), join(proj, '.vscode')] }));
  sweepStale(runtimeDir(process.env));
  assert.ok(!existsSync(join(proj, '.envrc')));
  assert.ok(existsSync(join(proj, '.vscode', 'user-file')));
  assert.deepEqual(readdirSync(runtimeDir(process.env)).filter((n) => n.startsWith('hold-')), []);
});

test('a stale lock of a dead process is taken over', () => {
  writeFileSync(join(runtimeDir(process.env), 'placeholders.lock'), '4194305');
  const proj = join(base, 'p4');
  mkdirSync(proj);
  const h = acquirePlaceholders(runtimeDir(process.env), [join(proj, '.mcp.json')], []);
  releasePlaceholders(h);
  assert.ok(!existsSync(join(runtimeDir(process.env), 'placeholders.lock')));
  assert.ok(!existsSync(join(proj, '.mcp.json')));
});

test('a directory on the way renamed and replaced by a link (by a second run): no placeholder is made where the link leads, and none removed there', () => {
  const root = join(base, 'swap');
  const proj = join(root, 'w', 'proj');
  const victim = join(root, 'victim');
  mkdirSync(proj, { recursive: true });
  mkdirSync(join(victim, '.vscode'), { recursive: true });
  const dir = runtimeDir(process.env);
  const swap = () => { renameSync(proj, `${proj}.orig`); symlinkSync(victim, proj); };
  const back = () => { rmSync(proj); renameSync(`${proj}.orig`, proj); };

  // Made while the project is a link: refused, closed, and nothing made in the victim.
  swap();
  assert.throws(() => acquirePlaceholders(dir, [join(proj, '.envrc'), join(proj, 'sub', '.idea')], []), /cannot create placeholder .*\.envrc for a protected path: a directory on its way is a symbolic link now/);
  assert.deepEqual(readdirSync(victim), ['.vscode'], 'nothing made where the link leads');
  back();

  // Made in the real project, swapped before the release: the victim's empty directories stay; the placeholders stay
  // in the renamed project (empty: nothing of the command's), and the run's check after it fails (launch.ts).
  const h = acquirePlaceholders(dir, [join(proj, '.vscode'), join(proj, '.idea')], []);
  mkdirSync(join(victim, '.idea'));
  swap();
  releasePlaceholders(h);
  assert.deepEqual(readdirSync(victim).sort(), ['.idea', '.vscode'], 'the victim\'s empty directories are not removed');
  assert.deepEqual(readdirSync(`${proj}.orig`).sort(), ['.idea', '.vscode']);
  back();
});
