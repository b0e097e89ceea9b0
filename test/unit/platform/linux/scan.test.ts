import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { followLinks, insideBareGitDirs, INSIDE_BARE_MAX, LINK_TARGETS_MAX, parseScan, type ScanResult } from '../../../../src/platform/linux/scan.js';
import { tempDir } from '../../../helpers/tmp.js';
import { GIT_DIR_ENTRIES } from '../../../../src/policy/protected.js';

const NONE: ScanResult = { repos: [], submoduleGitDirs: [], bareGitDirs: [], worktreeGitDirs: [], moduleLinks: [], matches: [], links: [], newLinks: [], linkedMatches: [], incomplete: [], linkedIncomplete: [], unreadable: 0, unreadablePaths: [], ids: {}, gitFacts: {} };

test('parseScan reads NUL-separated K<TAB>value records and ignores junk', () => {
  const out = ['G\t/p', 'S\t/p/.git/modules/a/b', 'B\t/p/vendor/x.git', 'W\t/p/.git/worktrees/wt', 'Y\t/p/.git/modules/ln', 'D\t1:2:0', 'M\t/p/x/.env', 'L\t/p/link', 'N\t/p/m/new-link', 'I\t/p/deep/d/d', 'G\t/p/with\ttab', 'E\t3', 'X\t/ignored', 'garbage', ''].join('\0');
  assert.deepEqual(parseScan(out), {
    ...NONE,
    repos: ['/p', '/p/with\ttab'],
    submoduleGitDirs: ['/p/.git/modules/a/b'],
    bareGitDirs: ['/p/vendor/x.git'],
    worktreeGitDirs: ['/p/.git/worktrees/wt'],
    moduleLinks: ['/p/.git/modules/ln'],
    ids: { '/p/.git/modules/ln': '1:2:0' },
    matches: ['/p/x/.env'],
    links: ['/p/link'],
    newLinks: ['/p/m/new-link'],
    incomplete: ['/p/deep/d/d'],
    unreadable: 3,
  });
  assert.deepEqual(parseScan(''), NONE);
});

test('parseScan: a D record is the identity of the git dir of the G, S or B record right before it, and of no other', () => {
  const out = [
    'G\t/p', 'D\t1:2:3', // the work tree's .git
    'B\t/p/x.git', 'D\t1:4:0', // a filesystem that keeps no birth time
    'S\t/p/.git/modules/s', 'D\t1:5:6',
    'G\t/p/both', 'D\t1:7:8', 'B\t/p/both', 'D\t1:9:10', // a work tree that is a git dir too: two git dirs
    'G\t/p/noid', // could not be looked at: none
    'M\t/p/.env', 'D\t9:9:9', // after anything else: ignored
    'W\t/p/.git/worktrees/w', 'D\t9:9:9',
    'G\t/p/twice', 'D\t1:11:12', 'D\t9:9:9', // only the first
    'G\t/p/bad', 'D\t1:x:2', // not an identity
  ].join('\0');
  assert.deepEqual(parseScan(out).ids, { '/p/.git': '1:2:3', '/p/x.git': '1:4:0', '/p/.git/modules/s': '1:5:6', '/p/both/.git': '1:7:8', '/p/both': '1:9:10', '/p/twice/.git': '1:11:12' });
  const rec = (kind: string, ...parts: (string | number[])[]) => Buffer.concat([Buffer.from(`${kind}\t`), ...parts.map((x) => Buffer.from(x))]);
  const unnamed = Buffer.concat([rec('G', '/p/', [0xff]), rec('D', '1:2:3'), rec('G', '/q'), rec('D', '1:3:4')].flatMap((b) => [b, Buffer.from([0])]));
  assert.deepEqual(parseScan(unnamed).ids, { '/q/.git': '1:3:4' }, 'a record that is not used gives its D to nobody');
});

test('parseScan: a K record is what the git dir of the G, S or B record before it holds (after its D, if any), one letter per GIT_DIR_ENTRIES name', () => {
  assert.equal(GIT_DIR_ENTRIES.length, 5, 'the letters below are for config, hooks, config.worktree, commondir, info/attributes');
  const out = [
    'G\t/p', 'D\t1:2:3', 'K\tpd---', // after the D
    'B\t/p/x.git', 'K\tmd-f?', // no D: right after its record
    'S\t/p/.git/modules/s', 'D\t1:5:6', 'K\tld--d',
    'M\t/p/.env', 'K\tpd---', // after anything else: ignored
    'G\t/p/short', 'K\tpd--', // not one letter per name
    'G\t/p/odd', 'K\tpd--x', // not a letter the scan writes
    'G\t/p/twice', 'K\tpd---', 'K\tmd---', // only the first
  ].join('\0');
  assert.deepEqual(parseScan(out).gitFacts, { '/p/.git': 'pd---', '/p/x.git': 'md-f?', '/p/.git/modules/s': 'ld--d', '/p/twice/.git': 'pd---' });
});

test('parseScan: a path that is not valid UTF-8 is never used; its deepest valid ancestor is reported incomplete instead', () => {
  const rec = (kind: string, ...parts: (string | number[])[]) => Buffer.concat([Buffer.from(`${kind}\t`), ...parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : Buffer.from(x)))]);
  const out = Buffer.concat([
    rec('G', '/p'),
    rec('G', '/p/', [0xff]), // git init $'\xff'
    rec('B', '/p/a/', [0x62, 0xfe, 0x63], '/x.git'), // an invalid component deeper: closed at its parent
    rec('S', '/p/.git/modules/', [0xc0, 0xaf]), // overlong encoding of "/"
    rec('W', '/p/.git/worktrees/', [0xed, 0xa0, 0x80]), // a surrogate, encoded
    rec('M', '/p/m/', [0x80], '/.env'),
    rec('L', '/p/l/', [0xe2, 0x82]), // truncated sequence
    rec('I', '/p/i/', [0xff], '/deep'),
    rec('G', '/p/ok-\uFFFD-\u00e9'), // U+FFFD and é written as valid UTF-8 are ordinary names
    rec('I', '/p/a'), // already incomplete: not repeated
    rec('E', '2'),
  ].flatMap((b) => [b, Buffer.from([0])]));
  assert.deepEqual(parseScan(out), {
    ...NONE,
    repos: ['/p', '/p/ok-\uFFFD-\u00e9'],
    incomplete: ['/p/a', '/p', '/p/.git/modules', '/p/.git/worktrees', '/p/m', '/p/l', '/p/i'],
    unreadable: 2,
  });
  // Under the root itself, the ancestor is "/".
  assert.deepEqual(parseScan(Buffer.concat([Buffer.from('G\t/'), Buffer.from([0xff])])).incomplete, ['/']);
});

/** A fake scanner over a fixed map: root -> what a scan of it finds. */
function fakeScan(found: Record<string, Partial<ScanResult>>, calls: string[][]) {
  return async (targets: string[]): Promise<ScanResult> => {
    calls.push([...targets]);
    const r = { ...NONE, matches: [] as string[], links: [] as string[], incomplete: [] as string[] };
    for (const t of targets) {
      r.matches.push(...(found[t]?.matches ?? []));
      r.links.push(...(found[t]?.links ?? []));
      r.incomplete.push(...(found[t]?.incomplete ?? []));
    }
    return r;
  };
}

test('followLinks: matches under a link target are spelled through the link; targets are scanned once; cycles end', async () => {
  const d = realpathSync(tempDir(join(tmpdir(), 'cordon-links-')));
  const [proj, out, out2] = [join(d, 'proj'), join(d, 'out'), join(d, 'out2')];
  for (const p of [join(proj, 'a'), join(proj, 'b'), join(out, 'sub'), out2]) mkdirSync(p, { recursive: true });
  symlinkSync(out, join(proj, 'a', 'ext'));
  symlinkSync(out, join(proj, 'ext-again'));
  symlinkSync(join(proj, 'b'), join(proj, 'a', 'inside'));
  symlinkSync('..', join(out, 'sub', 'up')); // a cycle: out/sub/up -> out
  symlinkSync(out2, join(out, 'sub', 'next'));
  symlinkSync(join(d, 'missing'), join(proj, 'dangling'));
  const main: ScanResult = {
    ...NONE,
    matches: [join(proj, 'b', '.env')],
    links: [join(proj, 'a', 'ext'), join(proj, 'ext-again'), join(proj, 'a', 'inside'), join(proj, 'dangling')],
  };
  const calls: string[][] = [];
  const scan = fakeScan({
    [out]: { matches: [join(out, '.env'), join(out, 'sub', '.env')], links: [join(out, 'sub', 'up'), join(out, 'sub', 'next')] },
    [out2]: { matches: [join(out2, '.env')] },
  }, calls);
  const r = await followLinks(main, [proj], scan);
  assert.deepEqual(calls, [[out], [out2]], 'each outside target scanned once; the in-root target not at all');
  assert.deepEqual([...r.linkedMatches].sort(), [
    join(proj, 'a', 'ext', '.env'),
    join(proj, 'a', 'ext', 'sub', '.env'),
    join(proj, 'a', 'ext', 'sub', 'next', '.env'),
    join(proj, 'a', 'ext', 'sub', 'up', '.env'),
    join(proj, 'a', 'ext', 'sub', 'up', 'sub', '.env'),
    join(proj, 'a', 'inside', '.env'),
    join(proj, 'ext-again', '.env'),
    join(proj, 'ext-again', 'sub', '.env'),
  ].sort());
  assert.deepEqual(r.linkedIncomplete, []);
  assert.deepEqual(r.matches, main.matches, 'the scan of the roots is kept as it was');
});

test('followLinks: too many targets, or a target the scanner could not finish, are named (the policy then refuses)', async () => {
  const d = realpathSync(tempDir(join(tmpdir(), 'cordon-links-')));
  const links: string[] = [];
  for (let i = 0; i <= LINK_TARGETS_MAX; i++) {
    mkdirSync(join(d, 'out', `t${i}`), { recursive: true });
    mkdirSync(join(d, 'proj'), { recursive: true });
    symlinkSync(join(d, 'out', `t${i}`), join(d, 'proj', `l${i}`));
    links.push(join(d, 'proj', `l${i}`));
  }
  const calls: string[][] = [];
  const r = await followLinks({ ...NONE, links }, [join(d, 'proj')], fakeScan({ [join(d, 'out', 't3')]: { incomplete: [join(d, 'out', 't3', 'deep')] } }, calls));
  assert.equal(calls.flat().length, LINK_TARGETS_MAX);
  assert.equal(r.linkedIncomplete.length, 2, r.linkedIncomplete.join('\n'));
  assert.ok(r.linkedIncomplete.includes(join(d, 'out', 't3', 'deep')));
});

test('insideBareGitDirs: every bare git dir in the writable paths is walked again below objects/, modules/ and worktrees/, round by round; past the bound the rest is incomplete', () => {
  const r = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-bare-')));
  const bare = (p: string) => { for (const d of ['objects', 'modules', 'worktrees']) mkdirSync(join(p, d), { recursive: true }); return p; };
  const result = (over: Partial<ScanResult>): ScanResult => ({ repos: [], submoduleGitDirs: [], bareGitDirs: [], worktreeGitDirs: [], moduleLinks: [], matches: [], links: [], linkedMatches: [], incomplete: [], linkedIncomplete: [], unreadable: 0, unreadablePaths: [], ids: {}, ...over });
  const one = bare(join(r, 'one'));
  const inner = bare(join(one, 'objects', 'inner'));
  const asked: string[][] = [];
  const scan = (roots: readonly string[]) => {
    asked.push([...roots]);
    if (roots.includes(join(one, 'modules'))) return result({ repos: [join(one, 'modules', 'net')], bareGitDirs: [inner], submoduleGitDirs: [join(one, 'worktrees', 'w', 'modules', 's')], unreadable: 1, unreadablePaths: [join(one, 'objects', 'zz')], ids: { [inner]: '1:2:3' } });
    return result({ repos: [join(inner, 'worktrees', 'x')] });
  };
  const inside = (b: string) => ['objects', 'modules', 'worktrees'].map((n) => join(b, n));
  const out = insideBareGitDirs(result({ bareGitDirs: [one, '/elsewhere'], unreadable: 2 }), [r], scan);
  assert.deepEqual(asked, [inside(one), inside(inner)], 'only those in the writable paths, each once');
  assert.deepEqual(out.repos, [join(one, 'modules', 'net'), join(inner, 'worktrees', 'x')]);
  assert.deepEqual(out.bareGitDirs, [one, '/elsewhere', inner]);
  assert.deepEqual(out.submoduleGitDirs, [join(one, 'worktrees', 'w', 'modules', 's')]);
  assert.deepEqual([out.unreadable, out.unreadablePaths, out.ids], [3, [join(one, 'objects', 'zz')], { [inner]: '1:2:3' }]);
  assert.deepEqual(out.incomplete, []);
  // Nothing bare: no walk at all.
  assert.deepEqual(insideBareGitDirs(result({}), [r], () => { throw new Error('walked'); }).repos, []);
  // Too many at once: not walked, and the walk is incomplete there.
  const many = Array.from({ length: INSIDE_BARE_MAX + 1 }, (_, i) => join(r, `b${i}`));
  const capped = insideBareGitDirs(result({ bareGitDirs: many }), [r], () => { throw new Error('not walked'); });
  assert.deepEqual(capped.incomplete, many);
  rmSync(r, { recursive: true, force: true });
});
