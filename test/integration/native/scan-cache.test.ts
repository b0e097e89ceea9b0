/**
 * The scanner's incremental cache (`cordon-helper scan --cache FILE`). The
 * property everything rests on: a cached scan prints exactly what an uncached
 * scan of the same tree prints, after any change to the tree, with any cache
 * file (damaged, foreign, stale). Then: the cache is really used (an unchanged
 * directory is not opened again), it is not rewritten when nothing changed,
 * and a cache file or directory another user could write is never trusted.
 *
 * A directory whose stamps are less than 2 s older than the scan that recorded
 * it is never reused (racy), so trees that should be served from the cache are
 * built first and aged once (AGE_MS) before the tests run.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync,
  statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildHelper, killAll, run, scan, type ScanOptions } from '../../helpers/native.js';

const helper = buildHelper();
const isRoot = process.getuid?.() === 0;
const T = { timeout: 60_000 };
/** Longer than the helper's 2 s racy window. */
const AGE_MS = 2_300;
const MATCH = ['.env', '*.pem'];

const temps: string[] = [];
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}
after(() => {
  killAll();
  for (const d of temps) {
    spawnSync('chmod', ['-R', 'u+rwx', d]);
    rmSync(d, { recursive: true, force: true });
  }
});

function file(p: string, content = ''): void {
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, content);
}
/** A git dir's marks (HEAD and config) in dir. */
function gitFiles(dir: string): void {
  file(join(dir, 'HEAD'), 'ref: refs/heads/main\n');
  file(join(dir, 'config'), '');
}
/** A work tree: dir/.git as a directory. */
function gitDir(dir: string): void {
  gitFiles(join(dir, '.git'));
}

/** Deterministic PRNG (mulberry32), so a failing tree can be rebuilt. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random directories under root with files, repositories (.git dirs and gitfiles), matches and symlink loops. */
function fill(root: string, seed: number, dirs: number): string[] {
  const rnd = prng(seed);
  const all = [root];
  mkdirSync(root, { recursive: true });
  for (let i = 0; i < dirs; i++) {
    const d = join(all[Math.floor(rnd() * all.length)]!, `d${i}`);
    mkdirSync(d);
    all.push(d);
    for (let f = Math.floor(rnd() * 4); f > 0; f--) writeFileSync(join(d, `f${f}.txt`), '');
    const r = rnd();
    if (r < 0.06) gitDir(d);
    else if (r < 0.08) writeFileSync(join(d, '.git'), 'gitdir: /elsewhere\n');
    else if (r < 0.12) writeFileSync(join(d, '.env'), '');
    else if (r < 0.14) mkdirSync(join(d, 'x.pem'));
    else if (r < 0.16) symlinkSync('..', join(d, 'up'));
  }
  return all;
}

/** The skeleton the mutation sequence works on, plus random filler. */
function buildTree(root: string, outside: string): string[] {
  gitDir(root);
  mkdirSync(join(root, 'a/b/c/d'), { recursive: true });
  gitDir(join(root, 'r1'));
  mkdirSync(join(root, 'r1/x/y'), { recursive: true });
  gitDir(join(root, 'r2/inner'));
  gitDir(join(root, 'm/holder/repo'));
  gitDir(join(root, 'sym/victim/repo'));
  mkdirSync(join(root, 'quiet/one/two'), { recursive: true });
  file(join(root, 'quiet/one/two/file.txt'));
  file(join(root, 'turn/thing'));
  mkdirSync(join(root, 'turn/dir'));
  gitDir(outside);
  // Deeper than the helper's re-anchoring points (8 names, 1024 bytes below an open directory).
  mkdirSync(deepChain(root, 20), { recursive: true });
  gitDir(deepChain(root, 11));
  return fill(join(root, 'filler'), 7, 150);
}
/** deep/l1/l2/.../lN, every third name 150 bytes long. */
function deepChain(root: string, n: number): string {
  let p = join(root, 'deep');
  for (let i = 1; i <= n; i++) p = join(p, i % 3 === 0 ? `l${i}-${'x'.repeat(150)}` : `l${i}`);
  return p;
}

/** Runs the uncached and the cached scan; they must agree. Returns the records. */
async function same(roots: readonly string[], cache: string, opts: ScanOptions = {}, label = ''): Promise<string[]> {
  const plain = await scan(roots, opts);
  const cached = await scan(roots, { ...opts, cache });
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(cached.code, 0, cached.stderr);
  assert.equal(cached.stderr, '', label);
  assert.deepEqual(cached.records, plain.records, `cached scan differs from an uncached one ${label}`);
  return cached.records;
}

function fileId(p: string): string {
  const s = statSync(p, { bigint: true });
  return `${s.ino}:${s.mtimeNs}`;
}

/** Aged fixtures: built once, then AGE_MS waited, so the first cached scan records them as reusable. */
const fx = { seq: '', seqOut: '', stable: '', stableOut: '', corrupt: '', other: '', strace: '' };
/** The random directories of each tree, by index: existing directories to change. */
const dirs = { seq: [] as string[], stable: [] as string[], strace: [] as string[] };
before(async () => {
  fx.seq = tempDir('cordon-cache-seq-');
  fx.seqOut = tempDir('cordon-cache-out-');
  dirs.seq = buildTree(fx.seq, fx.seqOut);
  fx.stable = tempDir('cordon-cache-stable-');
  fx.stableOut = tempDir('cordon-cache-out-');
  dirs.stable = buildTree(fx.stable, fx.stableOut);
  fx.corrupt = tempDir('cordon-cache-corrupt-');
  fill(fx.corrupt, 11, 60);
  gitDir(join(fx.corrupt, 'top'));
  file(join(fx.corrupt, 'top/.env'));
  fx.other = tempDir('cordon-cache-other-');
  fill(fx.other, 12, 40);
  fx.strace = tempDir('cordon-cache-strace-');
  dirs.strace = fill(fx.strace, 13, 80);
  gitDir(join(fx.strace, 'repo')); // a .git dir without modules/: still no directory listing needed
  await sleep(AGE_MS);
});

describe('scan --cache: same output as an uncached scan', () => {
  it('after each of a sequence of changes to the tree', T, async () => {
    const root = fx.seq;
    const cache = join(tempDir('cordon-cache-dir-'), 'scan.cache');
    // With the git dirs' identities: a replayed record looks its git dir up again.
    const opts = { match: MATCH, ids: true };
    const step = (label: string) => same([root], cache, opts, label);

    let recs = await step('first scan, no cache file');
    assert.ok(existsSync(cache));
    assert.equal(statSync(cache).mode & 0o777, 0o600);
    assert.ok(recs.includes(`G\t${root}/r1`) && recs.includes(`G\t${root}/m/holder/repo`) && recs.includes(`G\t${root}/sym/victim/repo`));
    assert.ok(recs.includes(`G\t${deepChain(root, 11)}`));
    assert.deepEqual(await step('unchanged'), recs);

    file(join(dirs.seq[30]!, 'new-file.txt'));
    assert.deepEqual(await step('a file created'), recs);

    const deep = join(root, 'a/b/c/d/e');
    mkdirSync(deep);
    if (spawnSync('git', ['init', '-q', deep]).status !== 0) gitDir(deep);
    recs = await step('a nested repository at depth 5');
    assert.ok(recs.includes(`G\t${deep}`));

    rmSync(join(root, 'r1/.git'), { recursive: true });
    recs = await step("a repository's .git deleted");
    assert.ok(!recs.includes(`G\t${root}/r1`));

    renameSync(join(root, 'm/holder'), join(root, 'm/moved'));
    recs = await step('a directory holding a repository renamed');
    assert.ok(recs.includes(`G\t${root}/m/moved/repo`) && !recs.includes(`G\t${root}/m/holder/repo`));

    rmSync(join(root, 'sym/victim'), { recursive: true });
    symlinkSync(fx.seqOut, join(root, 'sym/victim'));
    recs = await step('a directory replaced by a symlink to a repository elsewhere');
    // Reported as a link (for a ** read deny to follow), never walked.
    assert.ok(recs.includes(`L\t${root}/sym/victim`), recs.join('\n'));
    assert.ok(!recs.some((r) => !r.startsWith('L\t') && (r.includes('/sym/victim') || r.includes(fx.seqOut))), recs.join('\n'));

    // Inside .git: neither the work tree's directory nor anything recorded changes.
    gitFiles(join(root, '.git/modules/a/b'));
    gitFiles(join(root, 'r2/inner/.git/modules/sub'));
    recs = await step('submodule git dirs added under .git/modules');
    assert.ok(recs.includes(`S\t${root}/.git/modules/a/b`) && recs.includes(`S\t${root}/r2/inner/.git/modules/sub`));

    file(join(dirs.seq[90]!, '.env'));
    recs = await step('a matching .env added');
    assert.ok(recs.includes(`M\t${dirs.seq[90]}/.env`));

    // Racy: changed at once after the scan that recorded it, in the same second.
    gitDir(join(root, 'quiet/one'));
    recs = await step('a repository added in the same second as the previous scan');
    assert.ok(recs.includes(`G\t${root}/quiet/one`));

    // A directory's mtime set back after a change (a sandboxed command can do
    // that); its ctime still moves, and must be checked.
    const forged = join(root, 'quiet/one/two');
    const mtime = statSync(forged, { bigint: true }).mtimeNs;
    gitDir(forged);
    const stamp = `@${mtime / 1_000_000_000n}.${String(mtime % 1_000_000_000n).padStart(9, '0')}`;
    assert.equal(spawnSync('touch', ['-m', '-d', stamp, forged]).status, 0); // to the nanosecond, which utimes() in node cannot
    assert.equal(statSync(forged, { bigint: true }).mtimeNs, mtime);
    recs = await step('a repository added, then the mtime set back');
    assert.ok(recs.includes(`G\t${forged}`));

    file(join(deepChain(root, 19), '.env'));
    gitDir(deepChain(root, 17));
    rmSync(join(deepChain(root, 11), '.git'), { recursive: true });
    recs = await step('changes 11 to 20 levels deep');
    assert.ok(recs.includes(`M\t${deepChain(root, 19)}/.env`) && recs.includes(`G\t${deepChain(root, 17)}`));
    assert.ok(!recs.includes(`G\t${deepChain(root, 11)}`));

    rmSync(join(root, 'r2/inner/.git'), { recursive: true });
    writeFileSync(join(root, 'r2/inner/.git'), 'gitdir: ../../.git/modules/a/b\n');
    recs = await step('a .git directory replaced by a gitfile');
    assert.ok(recs.includes(`G\t${root}/r2/inner`) && !recs.some((r) => r.startsWith(`S\t${root}/r2/inner/`)));

    rmSync(join(root, 'turn/thing'));
    mkdirSync(join(root, 'turn/thing'));
    gitDir(join(root, 'turn/thing'));
    rmSync(join(root, 'turn/dir'), { recursive: true });
    writeFileSync(join(root, 'turn/dir'), '');
    recs = await step('a file turned into a repository, a directory into a file');
    assert.ok(recs.includes(`G\t${root}/turn/thing`));

    rmSync(dirs.seq[2]!, { recursive: true, force: true });
    fill(join(root, 'fresh'), 99, 30);
    await step('a subtree removed, a new one created');

    // A directory that is itself a git dir: its objects/ is not walked, the rest is; its worktrees/ are reported.
    const bare = join(root, 'bare.git');
    for (const d of ['objects/ab', 'refs/heads', 'worktrees/w1']) mkdirSync(join(bare, d), { recursive: true });
    file(join(bare, 'HEAD'), 'ref: refs/heads/main\n');
    gitDir(join(bare, 'objects/ab/planted'));
    gitDir(join(bare, 'refs/x'));
    gitFiles(join(root, '.git/worktrees/wt1'));
    recs = await step('a bare git dir and worktrees added');
    assert.ok(recs.includes(`B\t${bare}`) && recs.includes(`G\t${bare}/refs/x`) && !recs.includes(`G\t${bare}/objects/ab/planted`), recs.join('\n'));
    assert.ok(recs.includes(`W\t${bare}/worktrees/w1`) && recs.includes(`W\t${root}/.git/worktrees/wt1`), recs.join('\n'));
    // Recorded, aged, then changed only inside: the replayed records must still walk worktrees/ again.
    await sleep(AGE_MS);
    await step('recorded once they are old enough');
    mkdirSync(join(bare, 'worktrees/w2'));
    gitFiles(join(root, '.git/worktrees/wt2'));
    recs = await step('worktrees added inside recorded git dirs');
    assert.ok(recs.includes(`W\t${bare}/worktrees/w2`) && recs.includes(`W\t${root}/.git/worktrees/wt2`), recs.join('\n'));

    chmodSync(join(root, 'a/b'), 0o000);
    await step('a directory made unreadable');
    chmodSync(join(root, 'a/b'), 0o755);
    recs = await step('and readable again');
    assert.ok(recs.includes(`G\t${deep}`));
  });

  it('with --max-depth, several roots (overlapping, missing, a symlink) and relative roots', T, async () => {
    const dir = tempDir('cordon-cache-dir-');
    const link = join(tempDir('cordon-cache-link-'), 'link');
    symlinkSync(fx.stable, link);
    const roots = [fx.stable, join(fx.stable, 'filler'), '/nonexistent/cordon', link];
    for (const [i, opts] of [{ match: MATCH }, { match: MATCH, maxDepth: 2 }, { maxDepth: 0 }, {}].entries()) {
      const cache = join(dir, `c${i}`);
      const first = await same(roots, cache, opts, `first, ${JSON.stringify(opts)}`);
      assert.ok(first.length > 0);
      assert.deepEqual(await same(roots, cache, opts, `second, ${JSON.stringify(opts)}`), first);
    }
    const rel = await run(helper, ['scan', '--cache', join(dir, 'rel'), '--', './filler'], { cwd: fx.stable });
    const abs = await scan([join(fx.stable, 'filler')]);
    assert.deepEqual(rel.stdout.split('\0').filter(Boolean).sort(), abs.records);
  });
});

describe('scan --cache: the cache is used, and kept only when it changes', () => {
  it('an unchanged tree rewrites nothing; a changed one rewrites the file (mode 0600), leaving no temporary file', T, async () => {
    const dir = tempDir('cordon-cache-dir-');
    const cache = join(dir, 'scan.cache');
    const root = join(fx.stable, 'filler');
    await same([root], cache, { match: MATCH });
    const id = fileId(cache);
    for (let i = 0; i < 3; i++) await same([root], cache, { match: MATCH });
    assert.equal(fileId(cache), id, 'rewritten although nothing changed');

    file(join(dirs.stable[50]!, 'newly-added.txt'));
    await same([root], cache, { match: MATCH });
    assert.notEqual(fileId(cache), id, 'not rewritten after a change');
    assert.equal(statSync(cache).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(dir), ['scan.cache']);
  });

  it('an unchanged directory is not read again (strace: no getdents64 at all)', T, async (t) => {
    if (spawnSync('strace', ['-o', '/dev/null', 'true']).status !== 0) return t.skip('strace is not available (or ptrace is not allowed)');
    const cache = join(tempDir('cordon-cache-dir-'), 'scan.cache');
    const trace = (extra: string[]) => {
      const out = join(tempDir('cordon-cache-trace-'), 'trace');
      const r = spawnSync('strace', ['-f', '-e', 'trace=getdents64', '-o', out, helper, 'scan', ...extra, '--match', '.env', '--', fx.strace]);
      assert.equal(r.status, 0, r.stderr.toString());
      return readFileSync(out, 'utf8').split('\n').filter((l) => l.includes('getdents64(')).length;
    };
    assert.ok(trace([]) > 80, 'the uncached control should list every directory');
    assert.ok(trace(['--cache', cache]) > 80, 'the first cached scan lists every directory');
    assert.equal(trace(['--cache', cache]), 0, 'an unchanged tree must be served from the cache');
    file(join(dirs.strace[40]!, 'new.txt'));
    assert.equal(trace(['--cache', cache]), 2, 'one changed directory: listed once (getdents64 until it returns 0)');
  });

  // Black-box, no tracing: a directory this caller can no longer list (group
  // access dropped, which changes nothing on disk) is still reported from the
  // cache, while an uncached scan reports it unreadable. Needs root to pick uid/gid.
  it('a recorded directory is reported without being opened, unless its record is racy', { ...T, skip: isRoot ? false : 'needs root to run the scans under another uid/gid' }, async () => {
    const [uid, group, nogroup] = [65534, 4242, 65534];
    const root = tempDir('cordon-cache-perm-');
    chmodSync(root, 0o755);
    const cacheDir = tempDir('cordon-cache-dir-');
    chownSync(cacheDir, uid, nogroup);
    const cache = join(cacheDir, 'scan.cache');
    const locked = join(root, 'locked');
    gitDir(locked);
    gitDir(join(locked, 'inner/repo'));
    spawnSync('chmod', ['-R', 'go+rX', locked]);
    chownSync(locked, 0, group);
    chmodSync(locked, 0o750);

    const withGroup = { uid, gid: group };
    const without = { uid, gid: nogroup };
    const listed = await scan([root], { cache }, withGroup);
    assert.ok(listed.records.includes(`G\t${locked}`) && listed.records.includes(`G\t${locked}/inner/repo`), listed.records.join('\n'));
    const unreadable = await scan([root], {}, without);
    assert.ok(unreadable.records.includes('E\t1') && !unreadable.records.includes(`G\t${locked}`), unreadable.records.join('\n'));

    // Just created: racy, so it must be listed again, and that fails like an uncached scan.
    assert.deepEqual((await scan([root], { cache }, without)).records, unreadable.records);

    await sleep(AGE_MS);
    await scan([root], { cache }, withGroup); // recorded now, 2 s after its last change
    const cached = await scan([root], { cache }, without);
    assert.equal(cached.code, 0, cached.stderr);
    assert.ok(cached.records.includes(`G\t${locked}`), `the cached scan did not reuse the record:\n${cached.records.join('\n')}`);
    assert.deepEqual((await scan([root], {}, without)).records, unreadable.records, 'control: still unreadable uncached');
  });
});

describe('scan --cache: damaged or foreign cache files', () => {
  let dir = '';
  let cache = '';
  let valid: Buffer = Buffer.alloc(0);
  before(async () => {
    dir = tempDir('cordon-cache-dir-');
    cache = join(dir, 'scan.cache');
    await same([fx.corrupt], cache, { match: MATCH });
    valid = readFileSync(cache);
    assert.ok(valid.length > 1000);
  });

  /** Writes bytes as the cache file; the cached scan must match an uncached one and leave a valid cache. */
  async function withCacheBytes(bytes: Buffer, label: string, opts: ScanOptions = { match: MATCH }): Promise<void> {
    writeFileSync(cache, bytes, { mode: 0o600 });
    await same([fx.corrupt], cache, opts, label);
    assert.equal(readFileSync(cache).length, valid.length, `${label}: the cache was not rebuilt`);
  }

  it('truncated at any point', T, async () => {
    const cuts = [0, 1, 8, 20, 39, 40, 41, 60, 100, valid.length >> 1, valid.length - 5, valid.length - 1];
    for (const n of cuts) await withCacheBytes(valid.subarray(0, n), `truncated to ${n} bytes`);
  });

  it('random bytes, also behind a valid header', T, async () => {
    const rnd = prng(5);
    const noise = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
    for (const n of [1, 40, 500, valid.length]) await withCacheBytes(noise(n), `${n} random bytes`);
    const headerLen = valid.indexOf(Buffer.from(`R${fx.corrupt}\0`)) + fx.corrupt.length + 2 + Buffer.from(MATCH.map((m) => `P${m}\0`).join('')).length;
    await withCacheBytes(Buffer.concat([valid.subarray(0, headerLen), noise(valid.length - headerLen)]), 'valid header, random body');
  });

  it('any single damaged byte (names, lengths, stamps, header) is detected', T, async () => {
    // Without the hash, a flipped byte in a recorded name would print a wrong path.
    const positions = new Set<number>();
    for (let i = 0; i < 120; i++) positions.add(Math.floor((i * valid.length) / 120));
    for (const s of [`R${fx.corrupt}`, 'top', '.env']) {
      const at = valid.indexOf(Buffer.from(s));
      if (at >= 0) positions.add(at + s.length - 1);
    }
    for (const p of positions) {
      const bad = Buffer.from(valid);
      bad[p] = bad[p]! ^ 0x20;
      await withCacheBytes(bad, `byte ${p} of ${valid.length} flipped`);
    }
  });

  it('a cache made for other roots, other patterns or another --max-depth is ignored and replaced', T, async () => {
    const foreign = join(dir, 'foreign');
    await same([fx.other], foreign, { match: MATCH });
    await withCacheBytes(readFileSync(foreign), 'cache of other roots');
    // Same roots, other patterns: reusing it would report the old pattern's matches.
    await same([fx.corrupt], foreign, { match: ['*.txt'] });
    const txt = readFileSync(foreign);
    writeFileSync(cache, txt);
    const recs = await same([fx.corrupt], cache, { match: MATCH }, 'cache of other patterns');
    assert.ok(recs.some((r) => r.endsWith('/.env')) && !recs.some((r) => r.endsWith('.txt')));
    await same([fx.corrupt], foreign, { match: MATCH, maxDepth: 1 });
    await withCacheBytes(readFileSync(foreign), 'cache of another --max-depth');
  });
});

describe('scan --cache: a cache file others could write is never used', () => {
  const root = () => join(fx.stable, 'filler');
  /** The cached scan must ignore the cache: output as uncached, a one-line warning, nothing written. */
  async function refused(cache: string, why: RegExp, label: string): Promise<void> {
    const plain = await scan([root()], { match: MATCH });
    const r = await scan([root()], { match: MATCH, cache });
    assert.equal(r.code, 0);
    assert.deepEqual(r.records, plain.records, label);
    assert.match(r.stderr, why, label);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  /** A valid cache for root() in a fresh private directory, made stale by a change to the tree. */
  async function validCache(): Promise<{ dir: string; cache: string; bytes: Buffer }> {
    const dir = tempDir('cordon-cache-dir-');
    const cache = join(dir, 'scan.cache');
    await same([root()], cache, { match: MATCH });
    // A change, so that a trusted cache would be rewritten: a refused one must not be.
    file(join(dirs.stable[10]!, `touch-${Math.random()}.txt`));
    return { dir, cache, bytes: readFileSync(cache) };
  }

  it('group- or world-writable cache file: not used, not rewritten', T, async () => {
    for (const mode of [0o620, 0o602]) {
      const { dir, cache, bytes } = await validCache();
      chmodSync(cache, mode);
      await refused(cache, /not used: it is owned by uid \d+ with mode 0[0-7]+/, `mode ${mode.toString(8)}`);
      assert.deepEqual(readFileSync(cache), bytes);
      assert.equal(statSync(cache).mode & 0o777, mode);
      assert.deepEqual(readdirSync(dir), ['scan.cache']);
    }
  });

  it('cache file that is a symlink: not followed, not replaced', T, async () => {
    const { dir, cache, bytes } = await validCache();
    const real = join(dir, 'real');
    renameSync(cache, real);
    symlinkSync(real, cache);
    await refused(cache, /not used: it is a symbolic link/, 'symlink');
    assert.ok(lstatSync(cache).isSymbolicLink());
    assert.deepEqual(readFileSync(real), bytes);
    assert.deepEqual(readdirSync(dir).sort(), ['real', 'scan.cache']);
  });

  it('group-writable cache directory: no cache file is created', T, async () => {
    const dir = tempDir('cordon-cache-dir-');
    chmodSync(dir, 0o770);
    await refused(join(dir, 'scan.cache'), /not used: its directory is owned by uid \d+ with mode 0770/, 'dir 0770');
    assert.deepEqual(readdirSync(dir), []);
  });

  it('cache file or directory owned by another uid', { ...T, skip: isRoot ? false : 'needs root to chown' }, async () => {
    const a = await validCache();
    chownSync(a.cache, 65534, 65534);
    await refused(a.cache, /not used: it is owned by uid 65534/, 'file of uid 65534');
    assert.deepEqual(readFileSync(a.cache), a.bytes);
    const b = await validCache();
    chownSync(b.dir, 65534, 65534);
    await refused(b.cache, /not used: its directory is owned by uid 65534/, 'directory of uid 65534');
    assert.deepEqual(readFileSync(b.cache), b.bytes);
  });

  it('a directory or a FIFO in its place', T, async () => {
    const dir = tempDir('cordon-cache-dir-');
    mkdirSync(join(dir, 'scan.cache'));
    await refused(join(dir, 'scan.cache'), /not used: not a regular file/, 'directory');
    if (spawnSync('mkfifo', [join(dir, 'fifo')]).status === 0) await refused(join(dir, 'fifo'), /not used: not a regular file/, 'fifo');
  });

  it('rejects a missing, empty or repeated --cache with 125', T, async () => {
    for (const args of [['--cache'], ['--cache', '', '--', '/tmp'], ['--cache', '/tmp/a', '--cache', '/tmp/b', '--', '/tmp']]) {
      assert.equal((await run(helper, ['scan', ...args])).code, 125, args.join(' '));
    }
  });
});
