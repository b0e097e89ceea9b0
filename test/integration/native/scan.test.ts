/**
 * The scanner (`cordon-helper scan`) on trees a confined command shaped:
 * depth beyond any path, git dirs that are not called .git, worktrees,
 * symbolic links, too few descriptors, directories renamed while it walks.
 * It must never crash, never follow a link, never name a path outside its
 * roots, and say where it could not look (`I` records) instead of pretending
 * it looked everywhere. Where git itself can tell (is this a git dir?), git
 * is the oracle.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, realpathSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildHelper, run, scan, scanRecords } from '../../helpers/native.js';

const helper = buildHelper();
const T = { timeout: 120_000 };
const PATH_MAX = 4096;

const temps: string[] = [];
function tempDir(prefix: string): string {
  const d = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  temps.push(d);
  return d;
}
// rm -rf (fts, openat) removes a chain deeper than PATH_MAX; fs.rmSync does not.
after(() => { for (const d of temps) spawnSync('rm', ['-rf', '--', d]); });

/**
 * `n` directories named `name` nested below dir, built by chdir one level at
 * a time (their paths exceed PATH_MAX), with a .git directory at each depth in `gitAt`.
 */
function chain(dir: string, n: number, name = 'd', gitAt: readonly number[] = []): void {
  const code = `const fs = require('fs'); const [dir, n, name, at] = process.argv.slice(1); const git = new Set(JSON.parse(at));
process.chdir(dir); for (let i = 1; i <= Number(n); i++) { fs.mkdirSync(name); process.chdir(name); if (git.has(i)) fs.mkdirSync('.git'); }`;
  const r = spawnSync(process.execPath, ['-e', code, dir, String(n), name, JSON.stringify(gitAt)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

/** Runs the helper's scan under `ulimit -n FDS` (a shell only sets the limit, then execs the helper). */
async function scanWithFds(fds: number, roots: readonly string[], extra: readonly string[] = []): Promise<{ code: number | null; records: string[]; stderr: string }> {
  const r = await run('/bin/sh', ['-c', `ulimit -n ${fds} && exec "$0" "$@"`, helper, 'scan', ...extra, '--', ...roots]);
  return { code: r.code, records: scanRecords(r.stdout), stderr: r.stderr };
}

/** git's own answer: is dir a git dir that git discovers when run in it (and no higher)? */
function gitSaysGitDir(dir: string): boolean {
  const r = spawnSync('git', ['rev-parse', '--absolute-git-dir'], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: dir, GIT_CONFIG_NOSYSTEM: '1', GIT_CEILING_DIRECTORIES: dirname(dir) } });
  return r.status === 0 && r.stdout.trim() === dir;
}

describe('scan: depth', () => {
  it('a 20 000-deep chain: exit 0, one I record short enough to name, repositories above it found, cache agrees and is reused', T, async () => {
    const root = tempDir('cordon-scan-deep-');
    chain(root, 20_000, 'd', [100, 1500]);
    const plain = await scan([root]);
    assert.equal(plain.code, 0, plain.stderr);
    const inc = plain.records.filter((r) => r.startsWith('I\t'));
    assert.equal(inc.length, 1, plain.records.join('\n').slice(0, 2000));
    const cut = inc[0]!.slice(2);
    assert.ok(cut.startsWith(`${root}/d/d/`) && Buffer.byteLength(cut) < PATH_MAX && Buffer.byteLength(cut) > PATH_MAX - 10, `${Buffer.byteLength(cut)} bytes`);
    assert.ok(plain.records.includes(`G\t${root}${'/d'.repeat(100)}`) && plain.records.includes(`G\t${root}${'/d'.repeat(1500)}`));
    const cacheDir = tempDir('cordon-scan-cache-');
    const cache = join(cacheDir, 'scan.cache');
    for (let i = 0; i < 2; i++) assert.deepEqual((await scan([root], { cache })).records, plain.records, `cached scan ${i}`);
    // Long names reach the limit in fewer levels; a chain under .git/modules is bounded the same way.
    const wide = tempDir('cordon-scan-deep-');
    chain(wide, 100, 'x'.repeat(255));
    mkdirSync(join(wide, '.git', 'modules'), { recursive: true });
    chain(join(wide, '.git', 'modules'), 20_000, 'm');
    const r = await scan([wide], { match: ['.env'] });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.records.filter((x) => x.startsWith('I\t')).length, 2, r.records.join('\n').slice(0, 500));
    assert.ok(r.records.every((x) => Buffer.byteLength(x) - 2 < PATH_MAX));
  });

  it('--max-dirs: stops looking, says where, exits 0', T, async () => {
    const root = tempDir('cordon-scan-max-');
    for (let i = 0; i < 30; i++) mkdirSync(join(root, `d${i}`, 'x'), { recursive: true });
    const r = await scan([root], {}, {});
    assert.deepEqual(r.records, []);
    const limited = await run(helper, ['scan', '--max-dirs', '10', '--', root]);
    assert.equal(limited.code, 0, limited.stderr);
    assert.ok(scanRecords(limited.stdout).some((x) => x.startsWith('I\t')));
    for (const bad of ['0', '-1', 'x', '']) assert.equal((await run(helper, ['scan', '--max-dirs', bad, '--', root])).code, 125, bad);
  });
});

describe('scan: descriptors', () => {
  it('a deep tree with a repository beside every level is walked whole with 12 descriptors (only a window stays open)', T, async () => {
    const root = tempDir('cordon-scan-fds-');
    const code = `const fs = require('fs'); process.chdir(process.argv[1]);
for (let i = 0; i < 300; i++) { fs.mkdirSync('z/.git', { recursive: true }); fs.mkdirSync('c'); process.chdir('c'); }`;
    assert.equal(spawnSync(process.execPath, ['-e', code, root]).status, 0);
    const all = await scan([root]);
    assert.equal(all.records.filter((r) => r.startsWith('G\t')).length, 300);
    const few = await scanWithFds(12, [root]);
    assert.equal(few.code, 0, few.stderr);
    assert.deepEqual(few.records, all.records);
    const cacheDir = tempDir('cordon-scan-cache-');
    for (let i = 0; i < 2; i++) assert.deepEqual((await scanWithFds(12, [root], ['--cache', join(cacheDir, 'c')])).records, all.records);
  });

  it('out of descriptors: exit 0 and an I record, never a silent gap', T, async () => {
    const root = tempDir('cordon-scan-fds-');
    for (let i = 0; i < 20; i++) mkdirSync(join(root, `d${i}`, 'x', '.git'), { recursive: true });
    const r = await scanWithFds(5, [root]);
    assert.equal(r.code, 0, r.stderr);
    const found = r.records.filter((x) => x.startsWith('G\t')).length;
    assert.ok(found === 20 || r.records.some((x) => x.startsWith('I\t')), r.records.join('\n'));
  });
});

describe('scan: git dirs the way git finds them', () => {
  it('a directory that is itself a git dir (B), as git discovers it; its objects/ unwalked, its modules/ and worktrees/ reported', T, async () => {
    const root = tempDir('cordon-scan-bare-');
    assert.equal(spawnSync('git', ['init', '-q', '--bare', join(root, 'real.git')]).status, 0);
    const made = (d: string, files: Record<string, string>, dirs: string[]) => {
      mkdirSync(join(root, d), { recursive: true });
      for (const x of dirs) mkdirSync(join(root, d, x), { recursive: true });
      for (const [f, c] of Object.entries(files)) writeFileSync(join(root, d, f), c);
    };
    made('handmade', { HEAD: 'ref: refs/heads/main\n' }, ['objects', 'refs']);
    mkdirSync(join(root, 'common', 'objects'), { recursive: true });
    mkdirSync(join(root, 'common', 'refs'));
    made('via-commondir', { HEAD: 'ref: refs/heads/main\n', commondir: '../common\n' }, []);
    made('head-only', { HEAD: 'ref: refs/heads/main\n' }, []);
    made('head-is-dir', {}, ['HEAD', 'objects', 'refs']);
    made('handmade/objects/ab/planted/.git', {}, []);
    made('handmade/refs/heads/walked/.git', {}, []);
    made('handmade/modules/sub', { HEAD: 'ref: refs/heads/main\n', config: '' }, []);
    made('handmade/worktrees/wt', { HEAD: 'ref: refs/heads/main\n', commondir: '../..\n' }, []);
    const r = await scan([root]);
    assert.equal(r.code, 0, r.stderr);
    const bare = r.records.filter((x) => x.startsWith('B\t')).map((x) => x.slice(2)).sort();
    assert.deepEqual(bare, ['handmade', 'real.git', 'via-commondir'].map((d) => join(root, d)));
    // git agrees, for each candidate (the planted one below objects/ is a .git, not a bare dir).
    for (const d of ['real.git', 'handmade', 'via-commondir', 'common', 'head-only', 'head-is-dir']) {
      assert.equal(gitSaysGitDir(join(root, d)), bare.includes(join(root, d)), `git and the scanner disagree on ${d}`);
    }
    assert.ok(r.records.includes(`G\t${root}/handmade/refs/heads/walked`), 'the rest of a bare git dir is walked');
    assert.ok(!r.records.some((x) => x.includes('/objects/')), 'objects/ is not');
    assert.ok(r.records.includes(`S\t${root}/handmade/modules/sub`) && r.records.includes(`W\t${root}/handmade/worktrees/wt`));
  });

  it('linked worktrees, of a repository and of a submodule git dir (W), from real git', T, async () => {
    const root = tempDir('cordon-scan-wt-');
    const repo = join(root, 'repo');
    const git = (cwd: string, ...args: string[]) => assert.equal(spawnSync('git', ['-c', 'user.email=t@x', '-c', 'user.name=t', '-c', 'init.defaultBranch=main', ...args], { cwd }).status, 0, args.join(' '));
    mkdirSync(repo);
    git(repo, 'init', '-q');
    git(repo, 'commit', '-q', '--allow-empty', '-m', 'x');
    git(repo, 'worktree', 'add', '-q', join(root, 'outside-wt'));
    git(repo, 'worktree', 'add', '-q', join(repo, 'inside-wt'));
    const mod = join(repo, '.git', 'modules', 'm');
    mkdirSync(join(mod, 'worktrees', 'mwt'), { recursive: true });
    writeFileSync(join(mod, 'HEAD'), 'ref: refs/heads/main\n');
    writeFileSync(join(mod, 'config'), '');
    const r = await scan([repo]);
    const w = r.records.filter((x) => x.startsWith('W\t')).map((x) => x.slice(2)).sort();
    assert.deepEqual(w, [join(repo, '.git', 'worktrees', 'inside-wt'), join(repo, '.git', 'worktrees', 'outside-wt'), join(mod, 'worktrees', 'mwt')].sort());
    assert.ok(r.records.includes(`G\t${join(repo, 'inside-wt')}`));
  });
});

describe('scan --ids: the identity of every git dir found', () => {
  /** The raw records in the scanner's order, a D paired with the record before it. */
  async function idsOf(roots: readonly string[], extra: readonly string[] = []): Promise<Map<string, string>> {
    const r = await run(helper, ['scan', '--ids', ...extra, '--', ...roots]);
    assert.equal(r.code, 0, r.stderr);
    const recs = r.stdout.split('\0').filter(Boolean);
    const out = new Map<string, string>();
    recs.forEach((rec, i) => {
      if (!rec.startsWith('D\t')) return;
      const prev = recs[i - 1]!;
      assert.match(prev, /^[GBS]\t/, `a D record after ${prev}`);
      out.set(prev, rec.slice(2));
    });
    return out;
  }
  const idOf = (p: string) => { const s = lstatSync(p, { bigint: true }); return `${s.dev}:${s.ino}:${s.birthtimeNs}`; };

  it('G: PATH/.git as it is (directory, gitfile or link, never followed); B and S: the git dir itself', T, async () => {
    const root = tempDir('cordon-scan-ids-');
    for (const d of ['dir', 'file', 'link', 'elsewhere']) mkdirSync(join(root, d));
    assert.equal(spawnSync('git', ['init', '-q', join(root, 'dir')]).status, 0);
    assert.equal(spawnSync('git', ['init', '-q', join(root, 'elsewhere')]).status, 0);
    writeFileSync(join(root, 'file', '.git'), 'gitdir: ../elsewhere/.git\n');
    symlinkSync('../elsewhere/.git', join(root, 'link', '.git'));
    assert.equal(spawnSync('git', ['init', '-q', '--bare', join(root, 'bare.git')]).status, 0);
    mkdirSync(join(root, 'dir', '.git', 'modules', 's'), { recursive: true });
    writeFileSync(join(root, 'dir', '.git', 'modules', 's', 'HEAD'), 'ref: refs/heads/main\n');
    writeFileSync(join(root, 'dir', '.git', 'modules', 's', 'config'), '');
    const want = new Map([
      ...['dir', 'file', 'link', 'elsewhere'].map((d) => [`G\t${join(root, d)}`, idOf(join(root, d, '.git'))] as const),
      [`B\t${join(root, 'bare.git')}`, idOf(join(root, 'bare.git'))],
      [`S\t${join(root, 'dir', '.git', 'modules', 's')}`, idOf(join(root, 'dir', '.git', 'modules', 's'))],
    ]);
    assert.deepEqual(await idsOf([root]), want);
    assert.notEqual(idOf(join(root, 'link', '.git')), idOf(join(root, 'elsewhere', '.git')), 'the link is not its target');
    // From the cache too (aged past the 2 s racy window, so the records are replayed).
    const cache = join(tempDir('cordon-scan-ids-cache-'), 'scan.cache');
    await idsOf([root], ['--cache', cache]);
    await new Promise((r) => setTimeout(r, 2_300));
    await idsOf([root], ['--cache', cache]);
    assert.deepEqual(await idsOf([root], ['--cache', cache]), want);
  });

  it('a .git removed and made again has another identity, though the filesystem may give it the same inode number', T, async () => {
    const root = tempDir('cordon-scan-ids-again-');
    const repo = join(root, 'r');
    mkdirSync(repo);
    assert.equal(spawnSync('git', ['init', '-q', repo]).status, 0);
    const before = (await idsOf([root])).get(`G\t${repo}`);
    const ino = lstatSync(join(repo, '.git')).ino;
    spawnSync('rm', ['-rf', join(repo, '.git')]);
    await new Promise((r) => setTimeout(r, 20)); // past the clock's tick: the birth time is all that differs when the number is reused
    assert.equal(spawnSync('git', ['init', '-q', repo]).status, 0);
    const after = (await idsOf([root])).get(`G\t${repo}`);
    assert.ok(before && after);
    assert.notEqual(after, before, `inode ${ino} then ${lstatSync(join(repo, '.git')).ino}`);
    assert.equal(after, idOf(join(repo, '.git')));
  });
});

describe('scan --git-entry: what each git dir holds, never followed', () => {
  const ENTRY_ARGS = ['--git-entry', 'config', '--git-entry', 'hooks', '--git-entry', 'config.worktree', '--git-entry', 'commondir', '--git-entry', 'info/attributes', '--git-read', 'config', '--git-needle', 'HooksPath', '--git-needle', 'include'];
  /** The K record after each G, B or S record (after its D), by that record. */
  async function factsOf(roots: readonly string[], extra: readonly string[] = []): Promise<Map<string, string>> {
    const r = await run(helper, ['scan', '--ids', ...ENTRY_ARGS, ...extra, '--', ...roots]);
    assert.equal(r.code, 0, r.stderr);
    const recs = r.stdout.split('\0').filter(Boolean);
    const out = new Map<string, string>();
    recs.forEach((rec, i) => {
      if (!rec.startsWith('K\t')) return;
      const owner = recs[i - 1]!.startsWith('D\t') ? recs[i - 2]! : recs[i - 1]!;
      assert.match(owner, /^[GBS]\t/, `a K record after ${owner}`);
      out.set(owner, rec.slice(2));
    });
    return out;
  }

  it('one letter per entry: missing, directory, file, link; the config read and judged case-insensitively; a name of two components never through a link', T, async () => {
    const root = tempDir('cordon-scan-facts-');
    const init = (p: string, ...a: string[]) => assert.equal(spawnSync('git', ['init', '-q', ...a, p]).status, 0);
    init(join(root, 'plain'));
    init(join(root, 'hooked'));
    writeFileSync(join(root, 'hooked', '.git', 'config'), '[core]\n\tHOOKSPATH = x\n');
    init(join(root, 'included'));
    writeFileSync(join(root, 'included', '.git', 'config'), '[InClUdE]\n\tpath = ../x\n');
    init(join(root, 'odd'));
    const odd = join(root, 'odd', '.git');
    spawnSync('rm', ['-rf', join(odd, 'hooks'), join(odd, 'config'), join(odd, 'info')]);
    symlinkSync('/etc/passwd', join(odd, 'config')); // never read through
    writeFileSync(join(odd, 'hooks'), 'not a directory');
    mkdirSync(join(odd, 'config.worktree'));
    writeFileSync(join(odd, 'commondir'), '.\n');
    symlinkSync(join(root, 'plain', '.git', 'info'), join(odd, 'info')); // info/attributes only through a link: not known
    init(join(root, 'attrs'));
    writeFileSync(join(root, 'attrs', '.git', 'info', 'attributes'), '* filter=x\n');
    spawnSync('mkfifo', [join(root, 'attrs', '.git', 'config.worktree')]);
    init(join(root, 'fifo'));
    spawnSync('rm', ['-f', join(root, 'fifo', '.git', 'config')]);
    spawnSync('mkfifo', [join(root, 'fifo', '.git', 'config')]); // never opened for reading: it would block
    init(join(root, 'bare.git'), '--bare');
    init(join(root, 'elsewhere'));
    mkdirSync(join(root, 'gitfile'));
    writeFileSync(join(root, 'gitfile', '.git'), 'gitdir: ../elsewhere/.git\n');
    mkdirSync(join(root, 'gitlink'));
    symlinkSync('../elsewhere/.git', join(root, 'gitlink', '.git'));
    const want = new Map([
      [`G\t${join(root, 'plain')}`, 'pd---'],
      [`G\t${join(root, 'hooked')}`, 'md---'],
      [`G\t${join(root, 'included')}`, 'md---'],
      [`G\t${join(root, 'odd')}`, 'lfdf?'],
      [`G\t${join(root, 'attrs')}`, 'pdf-f'],
      [`G\t${join(root, 'fifo')}`, 'fd---'],
      [`G\t${join(root, 'elsewhere')}`, 'pd---'],
      [`B\t${join(root, 'bare.git')}`, 'pd---'],
      // gitfile and gitlink: their .git is no directory of their own, so no K record
    ]);
    assert.deepEqual(await factsOf([root]), want);
    // Replayed from the cache (aged past the racy window): read again, so a config changed in place is seen.
    const cache = join(tempDir('cordon-scan-facts-cache-'), 'scan.cache');
    await factsOf([root], ['--cache', cache]);
    await new Promise((r) => setTimeout(r, 2_300));
    await factsOf([root], ['--cache', cache]);
    writeFileSync(join(root, 'plain', '.git', 'config'), '[core]\n\thooksPath = y\n');
    want.set(`G\t${join(root, 'plain')}`, 'md---');
    assert.deepEqual(await factsOf([root], ['--cache', cache]), want);
    // Without --git-entry: no K record at all.
    const r = await run(helper, ['scan', '--ids', '--', root]);
    assert.equal(r.stdout.split('\0').filter((x) => x.startsWith('K\t')).length, 0);
  });
});

describe('scan: symbolic links', () => {
  it('L for a link to a directory, with --match only; never walked; not for files, dangling links or .git', T, async () => {
    const root = tempDir('cordon-scan-links-');
    const out = tempDir('cordon-scan-out-');
    mkdirSync(join(out, 'repo', '.git'), { recursive: true });
    writeFileSync(join(out, '.env'), 'x');
    symlinkSync(out, join(root, 'to-dir'));
    symlinkSync(join(out, '.env'), join(root, 'to-file'));
    symlinkSync(join(out, 'missing'), join(root, 'dangling'));
    mkdirSync(join(root, 'w'));
    symlinkSync(join(out, 'repo', '.git'), join(root, 'w', '.git'));
    assert.deepEqual((await scan([root])).records, [`G\t${root}/w`]);
    const r = await scan([root], { match: ['.env'] });
    assert.deepEqual(r.records, [`G\t${root}/w`, `L\t${root}/to-dir`]);
  });

  it('--new-links SINCE: N for every link changed at or after SINCE, dangling or not, never followed; not for older links, files or .git; with a cache too', T, async () => {
    const root = tempDir('cordon-scan-new-links-');
    mkdirSync(join(root, 'w', '.git'), { recursive: true });
    mkdirSync(join(root, 'd'));
    symlinkSync('.', join(root, 'old'));
    const since = String(BigInt(Date.now() + 1000) * 1_000_000n);
    // A second on: the links below change after SINCE, the one above before it.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2100);
    symlinkSync('../.git/objects/x', join(root, 'd', 'into-git'));
    symlinkSync('/nowhere', join(root, 'd', 'dangling'));
    symlinkSync(root, join(root, 'up'));
    writeFileSync(join(root, 'file'), 'x');
    mkdirSync(join(root, 'v'));
    symlinkSync('../w/.git', join(root, 'v', '.git'));
    const want = [`G\t${root}/v`, `G\t${root}/w`, `N\t${root}/d/dangling`, `N\t${root}/d/into-git`, `N\t${root}/up`];
    assert.deepEqual((await scan([root], { newLinks: since })).records, want);
    assert.deepEqual((await scan([root])).records, want.filter((r) => !r.startsWith('N')), 'none without --new-links');
    // Recorded with its new link by another scan (a second run's, before this run ends), and no longer racy: read again all the same.
    const cache = join(tempDir('cordon-scan-new-links-cache-'), 'c');
    await scan([root], { cache });
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2100);
    await scan([root], { cache });
    assert.deepEqual((await scan([root], { cache, newLinks: since })).records, want, 'a directory changed since SINCE is not taken from the cache');
    assert.deepEqual((await scan([root], { cache })).records, want.filter((r) => !r.startsWith('N')), 'the cache still serves scans without --new-links');
    for (const bad of ['0', '-1', 'x', '01', '']) assert.equal((await scan([root], { newLinks: bad })).code, 125, bad);
  });

  it('--new-links: past 200 000 new links, their directory is one the scan could not look at whole (an I record), not a list without end', T, async () => {
    const root = tempDir('cordon-scan-many-links-');
    mkdirSync(join(root, 'many'));
    const since = String(BigInt(Date.now() - 1000) * 1_000_000n);
    const made = spawnSync('python3', ['-c', 'import os,sys\nfor i in range(200001): os.symlink("t", os.path.join(sys.argv[1], "l%d" % i))', join(root, 'many')], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const r = await scan([root], { newLinks: since });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.records.filter((x) => x.startsWith('N\t')).length, 200000);
    assert.ok(r.records.includes(`I\t${root}/many`), 'the directory is named as not looked at whole');
  });
});

describe('scan: a tree renamed and re-linked while it is walked', () => {
  it('never crashes, never names a path outside its root or through a link, with and without the descriptor window', T, async () => {
    const root = tempDir('cordon-scan-race-');
    const out = tempDir('cordon-scan-out-');
    mkdirSync(join(out, 'victim', '.git'), { recursive: true });
    const code = `const fs = require('fs'); process.chdir(process.argv[1]);
for (let i = 0; i < 120; i++) { fs.mkdirSync('r' + i + '/.git', { recursive: true }); fs.mkdirSync('c'); process.chdir('c'); }`;
    mkdirSync(join(root, 'a'));
    assert.equal(spawnSync(process.execPath, ['-e', code, join(root, 'a')]).status, 0);
    // The attacker: swaps a/ for a link to a repository outside and back, and renames a deep level, as fast as it can.
    const churn = `const fs = require('fs'); const [root, out] = process.argv.slice(1);
const deep = root + '/a' + '/c'.repeat(70);
for (;;) { try { fs.renameSync(root + '/a', root + '/b'); fs.symlinkSync(out, root + '/a'); fs.unlinkSync(root + '/a'); fs.renameSync(root + '/b', root + '/a');
  fs.renameSync(deep, deep + 'x'); fs.renameSync(deep + 'x', deep); } catch {} }`;
    const attacker = spawn(process.execPath, ['-e', churn, root, out], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 40; i++) {
        const r = i % 2 ? await scanWithFds(12, [root], ['--match', '.env']) : await scan([root], { match: ['.env'] });
        assert.equal(r.code, 0, r.stderr);
        for (const rec of r.records) {
          const p = rec.slice(2);
          assert.ok(p.startsWith(root + '/'), rec);
          assert.ok(!p.includes('/victim') && !p.startsWith(out), rec);
        }
      }
    } finally {
      attacker.kill('SIGKILL');
    }
    // Settled (wherever the attacker was stopped): the whole tree again.
    await new Promise((r) => attacker.once('exit', r));
    if (lstatSync(join(root, 'a'), { throwIfNoEntry: false })?.isSymbolicLink()) unlinkSync(join(root, 'a'));
    if (existsSync(join(root, 'b'))) renameSync(join(root, 'b'), join(root, 'a'));
    const deep = join(root, 'a', ...Array(70).fill('c'));
    if (existsSync(`${deep}x`)) renameSync(`${deep}x`, deep);
    assert.equal((await scan([root])).records.filter((r) => r.startsWith('G\t')).length, 120);
  });
});
