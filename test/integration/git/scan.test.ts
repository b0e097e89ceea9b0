/**
 * The background scan (scanRoots/startScan) against the real native scanner:
 * an early scan reused only when it asked the same question, and otherwise
 * waited out (never killed mid-write). And, through the real CLI, names that
 * are not valid UTF-8 (the scan's and a shallow glob's): closed where they
 * are, or the rule refused, never passed over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { helperPath } from '../../../src/platform/linux/helper-path.js';
import { scanRoots, scanTrees, startScan, type PendingScan, type ScanResult } from '../../../src/platform/linux/scan.js';
import { tempDir } from '../../helpers/tmp.js';
import { chownSync, makeWorld, sh, testUser } from '../../helpers/cordon.js';

const helper = helperPath(process.env);
const NONE: ScanResult = { repos: [], submoduleGitDirs: [], bareGitDirs: [], worktreeGitDirs: [], matches: [], links: [], linkedMatches: [], incomplete: [], linkedIncomplete: [], unreadable: 0, unreadablePaths: [], ids: {} };

function tree(): { a: string; b: string } {
  const d = realpathSync(tempDir(join(tmpdir(), 'cordon-scan-')));
  for (const p of ['a/.git', 'a/deep/x/.git', 'a/env/.env', 'b/.git', 'b/.git/modules/m', 'b/sub/.env']) mkdirSync(join(d, p), { recursive: true });
  return { a: join(d, 'a'), b: join(d, 'b') };
}

const sorted = (r: ScanResult) => ({ repos: [...r.repos].sort(), submoduleGitDirs: [...r.submoduleGitDirs].sort(), matches: [...r.matches].sort(), unreadable: r.unreadable });

test('scanRoots gives what a blocking scan of the same roots gives, in any order', async () => {
  const { a, b } = tree();
  const both = await scanRoots(helper, [b, a], ['.env'], undefined);
  assert.deepEqual(sorted(both), sorted(scanTrees(helper, [a, b], ['.env'])));
  assert.deepEqual(sorted(both).repos, [a, join(a, 'deep', 'x'), b]);
  assert.equal(both.matches.length, 2);
});

test('an early scan is used when it asked the same, and waited out (not used) when it did not', async () => {
  const { a, b } = tree();
  let settled = false;
  const sentinel: PendingScan = {
    roots: [a, b].sort(),
    patterns: [],
    result: new Promise((r) => setTimeout(() => { settled = true; r({ ...NONE, repos: ['/from/early'] }); }, 50)),
  };
  const used = await scanRoots(helper, [b, a], [], undefined, [sentinel]);
  assert.deepEqual(used.repos, ['/from/early']);
  // Other roots: not used either.
  assert.ok(!(await scanRoots(helper, [a], [], undefined, [sentinel])).repos.includes('/from/early'));
  // Different patterns: the early answer is not used, but the call returns only after it settled.
  settled = false;
  const unused = await scanRoots(helper, [a, b], ['.env'], undefined, [{ ...sentinel, result: new Promise((r) => setTimeout(() => { settled = true; r({ ...NONE, repos: ['/from/early'] }); }, 50)) }]);
  assert.ok(settled);
  assert.ok(!unused.repos.includes('/from/early'));
  assert.deepEqual(sorted(unused).repos, [a, join(a, 'deep', 'x'), b]);
});

test('startScan of a real root runs in the background; a scanner that cannot run rejects with the root named', async () => {
  const { a } = tree();
  const p = startScan(helper, [a], []);
  assert.deepEqual(sorted(await p.result).repos, [a, join(a, 'deep', 'x')]);
  await assert.rejects(startScan('/nonexistent/cordon-helper', [a], []).result, (e: Error) => e.message.includes(`scanning ${a} for git repositories failed`));
});

/** `PROJ/<0xff>/REST` as bytes: a path no JavaScript string can name. */
const badPath = (proj: string, rest = '') => Buffer.concat([Buffer.from(`${proj}/`), Buffer.from([0xff]), Buffer.from(rest)]);

/** A repository in a directory named by the byte 0xff, whose config runs `touch $MARK` on `git status`. */
const PLANT = `d=$(printf '\\377') && git init -q "$d" && printf '[core]\\n\\tfsmonitor = "touch %s; false"\\n' "$MARK" >> "$d/.git/config"`;

for (const who of ['root', 'an unprivileged user'] as const) {
  test(`a repository the command creates under a name that is not valid UTF-8 fails the run, and later runs close that directory (${who})`, { skip: who !== 'root' && process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
    const u = who === 'root' ? undefined : testUser()!;
    const w = makeWorld(u ? { owner: { uid: u.uid, gid: u.gid } } : {});
    const mark = join(w.outside, 'MARK');
    const opts = { env: { MARK: mark }, ...(u ? { asUser: u.name } : {}) };
    const first = sh(w, PLANT, [], opts);
    // The scan after the run cannot name the repository: it fails closed, naming the directory holding it.
    assert.equal(first.status, 125, first.stderr);
    assert.match(first.stderr, new RegExp(`the check after the run could not look at everything below ${w.proj} .*read its \\.git/config and \\.git/hooks`));
    assert.match(readFileSync(badPath(w.proj, '/.git/config'), 'utf8'), /fsmonitor/, 'control: the plant is there');

    // Every later run (the second from a fresh scan, the third from the scan cache) closes that
    // directory read-only, says so, and runs the command.
    for (const run of ['the next run', 'the run after it']) {
      const r = sh(w, `echo ran; d=$(printf '\\377'); printf x >> "$d/.git/config" 2>/dev/null && echo wrote || echo refused; touch new 2>/dev/null && echo wrote || echo refused`, [], opts);
      assert.equal(r.status, 0, `${run}: ${r.stderr}`);
      assert.equal(r.stdout, 'ran\nrefused\nrefused\n', run);
      assert.match(r.stderr, new RegExp(`warning: cordon could not look at everything below ${w.proj} \\(.*a name that is not valid UTF-8.*\\): .*${w.proj} is read-only in this run`), run);
      assert.doesNotMatch(readFileSync(badPath(w.proj, '/.git/config'), 'utf8'), /x$/, `${run}: the repository's config is unchanged`);
    }

    // A ** read deny whose match cannot be named hides the directory that holds it.
    writeFileSync(badPath(w.proj, '/.env'), 'SECRET');
    if (u) chownSync(badPath(w.proj, '/.env'), u.uid, u.gid);
    const denied = sh(w, `cat "$(printf '\\377')/.env" 2>/dev/null || echo hidden`, ['--deny-read', '**/.env'], opts);
    assert.equal(denied.status, 0, denied.stderr);
    assert.equal(denied.stdout, 'hidden\n');
    assert.match(denied.stderr, new RegExp(`${w.proj} is closed \\(read-only, or hidden where a \\*\\* read deny reaches\\)`));

    // A shallow-glob read deny that matches such a name cannot hide it: refused, nothing run.
    writeFileSync(badPath(w.proj, '.pem'), 'SECRET');
    if (u) chownSync(badPath(w.proj, '.pem'), u.uid, u.gid);
    const glob = sh(w, `cat "$(printf '\\377').pem"`, ['--deny-read', './*.pem'], opts);
    assert.equal(glob.status, 125, glob.stderr);
    assert.doesNotMatch(glob.stdout, /SECRET/);
    assert.match(glob.stderr, new RegExp(`\\./\\*\\.pem \\(--deny-read\\) matches a name in ${w.proj} that is not valid UTF-8.*nothing was run`));
  });
}

test('under .git/modules, a submodule git dir is what git takes for one: HEAD with config, with commondir, or with objects/ and refs/; a HEAD directory is a module name', () => {
  const d = realpathSync(tempDir(join(tmpdir(), 'cordon-scan-')));
  const modules = join(d, '.git', 'modules');
  const make = (dir: string, files: readonly string[], dirs: readonly string[]) => {
    mkdirSync(join(modules, dir), { recursive: true });
    for (const f of files) writeFileSync(join(modules, dir, f), 'x');
    for (const s of dirs) mkdirSync(join(modules, dir, s), { recursive: true });
  };
  make('configured', ['HEAD', 'config'], []);
  make('redirected', ['HEAD', 'commondir'], []);
  make('bare', ['HEAD'], ['objects', 'refs']);
  make('name/inner', ['HEAD', 'commondir'], []);
  make('head-only', ['HEAD'], ['objects']);
  make('dir-head', [], ['HEAD/objects', 'HEAD/refs', 'objects', 'refs']);
  // A link where a module's git dir goes: reported as one, never followed.
  symlinkSync('../elsewhere', join(modules, 'linked'));
  symlinkSync('../../elsewhere', join(modules, 'name', 'deep'));
  const r = scanTrees(helper, [d], []);
  assert.deepEqual([...r.submoduleGitDirs].sort(), ['bare', 'configured', 'name/inner', 'redirected'].map((m) => join(modules, m)));
  assert.deepEqual([...(r.moduleLinks ?? [])].sort(), [join(modules, 'linked'), join(modules, 'name', 'deep')]);
  // modules/ itself a link: reported, not followed.
  const e = realpathSync(tempDir(join(tmpdir(), 'cordon-scan-')));
  mkdirSync(join(e, '.git', 'objects', 'ev', 'sub'), { recursive: true });
  writeFileSync(join(e, '.git', 'objects', 'ev', 'sub', 'HEAD'), 'ref: refs/heads/main\n');
  symlinkSync('objects/ev', join(e, '.git', 'modules'));
  const linked = scanTrees(helper, [e], []);
  assert.deepEqual(linked.moduleLinks, [join(e, '.git', 'modules')]);
  assert.deepEqual(linked.submoduleGitDirs, []);
});
