/**
 * The step after the run, its pure parts: which repositories are new
 * (newRepositories), and protected names at the root of a nested work tree
 * (`sub/.envrc`, `sub/.vscode`, `sub/CLAUDE.md`): a missing one has no
 * placeholder, so the scan after the run looks for them. Which names the
 * policy holds (they existed), which matches after the run the command
 * created (createdNames), and what a run still going changes about both
 * (inheritNames). From inside, with real runs:
 * test/integration/after-run/after-run.test.ts and
 * test/integration/after-run/nested-names.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, mkdirSync, realpathSync, renameSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createdNames, newRepositories, refusedLater, replacedGuards, setAside, withoutWatched } from '../../../../src/platform/linux/after-run.js';
import { pathIdentities } from '../../../../src/platform/linux/no-follow.js';
import { inheritLiveRuns, inheritNames, type Journal } from '../../../../src/platform/linux/journal.js';
import { buildPolicy, type Policy, type Rescan } from '../../../../src/policy/policy.js';
import { AFTER_RUN_NAMES, PROTECTED_NAMES, SHELL_STARTUP } from '../../../../src/policy/protected.js';
import { tempDir } from '../../../helpers/tmp.js';

test('newRepositories: what the second scan found and the first did not, in a writable root, once', () => {
  const rescan = { roots: ['/p', '/g'], patterns: [], known: ['/p', '/p/old', '/p/.git/modules/a'], unreadable: 1, writable: ['/p'], keepConfig: false };
  const watch = [{ path: '/p/fresh/.git', kind: 'repository' as const, repo: '/p/fresh' }];
  const found = { repos: ['/p', '/p/old', '/p/a/b/new', '/g/host-made', '/p/fresh'], submoduleGitDirs: ['/p/.git/modules/a', '/p/.git/modules/b'] };
  assert.deepEqual(newRepositories(rescan, found, watch), [
    { path: '/p/a/b/new/.git', kind: 'repository', repo: '/p/a/b/new' },
    { path: '/p/.git/modules/b', kind: 'repository', repo: '/p/.git/modules/b' },
  ], 'known ones, one outside the writable roots (the host made it) and one already on the watch list are left out');
  assert.equal(newRepositories({ ...rescan, keepConfig: true }, found)[0]?.keepConfig, true, 'allowGitConfig carries over');
  assert.deepEqual(newRepositories(rescan, { repos: ['/p', '/p/old'], submoduleGitDirs: [] }), [], 'nothing new, nothing to do');
});

test('newRepositories: a known path counts as the repository from before the run only while its git dir has the same identity', () => {
  const ids = { '/p/.git': '1:10:100', '/p/old/.git': '1:11:110', '/p/gone/.git': '1:12:120', '/p/vendor/x.git': '1:13:130', '/p/.git/modules/a': '1:14:140', '/p/both/.git': '1:15:150', '/p/both': '1:16:160' };
  const rescan = { roots: ['/p'], patterns: [], known: ['/p', '/p/old', '/p/gone', '/p/noid', '/p/vendor/x.git', '/p/.git/modules/a', '/p/both'], ids, unreadable: 0, writable: ['/p'], keepConfig: false };
  const repos = ['/p', '/p/old', '/p/gone', '/p/noid', '/p/both'];
  const found = { repos, submoduleGitDirs: ['/p/.git/modules/a'], bareGitDirs: ['/p/vendor/x.git', '/p/both'] };
  assert.deepEqual(newRepositories(rescan, { ...found, ids: { ...ids } }).map((w) => w.path), ['/p/noid/.git'], 'every identity as before: only the one the first scan had none for (it could not be looked at) is new');
  const after = {
    ...ids,
    '/p/old/.git': '1:11:111', // the same inode number, born later: removed and made again (ext4 reuses the number at once)
    '/p/gone/.git': '1:99:120', // another directory renamed onto the path
    '/p/vendor/x.git': '2:13:130', // another device
    '/p/.git/modules/a': '1:14:141',
    '/p/both': '1:16:161', // a bare git dir that is also a work tree: each identity counts on its own
  };
  assert.deepEqual(newRepositories(rescan, { ...found, ids: after }), [
    { path: '/p/old/.git', kind: 'repository', repo: '/p/old' },
    { path: '/p/gone/.git', kind: 'repository', repo: '/p/gone' },
    { path: '/p/noid/.git', kind: 'repository', repo: '/p/noid' },
    { path: '/p/.git/modules/a', kind: 'repository', repo: '/p/.git/modules/a' },
    { path: '/p/vendor/x.git', kind: 'repository', repo: '/p/vendor/x.git' },
    { path: '/p/both', kind: 'repository', repo: '/p/both' },
  ]);
  const { '/p/old/.git': _unseen, ...withoutOld } = ids;
  assert.deepEqual(newRepositories(rescan, { ...found, ids: withoutOld }).map((w) => w.path), ['/p/old/.git', '/p/noid/.git'], 'a git dir the second scan could not look at is new (fail closed)');
  assert.deepEqual(newRepositories(rescan, found).map((w) => w.path), repos.map((r) => `${r}/.git`).concat('/p/.git/modules/a', '/p/vendor/x.git', '/p/both'), 'a second scan with no identities at all: everything is new');
  const watch = [{ path: '/p/old/.git', kind: 'link' as const, repo: '/p/old', target: '../elsewhere' }];
  assert.deepEqual(newRepositories(rescan, { ...found, ids: after }, watch).map((w) => w.path), ['/p/gone/.git', '/p/noid/.git', '/p/.git/modules/a', '/p/vendor/x.git', '/p/both'], 'a watched path stays its watch\'s (a .git link is made again)');
  const { ids: _none, ...pathsOnly } = rescan;
  assert.deepEqual(newRepositories(pathsOnly, { ...found, ids: after }), [], 'a scan before the run that reported no identities: paths alone decide');
});

// ---------------------------------------------------------------- protected names in nested work trees

const NAMES = ['.envrc', '.vscode', 'CLAUDE.md'];
const rescan = (over: Partial<Rescan> = {}): Rescan => ({ roots: ['/p'], patterns: [], known: ['/p', '/p/sub'], unreadable: 0, writable: ['/p'], keepConfig: false, names: NAMES, heldNames: [], ...over });
const journal = (r: Partial<Rescan>, writable = r.writable ?? ['/p']): Journal => ({ version: 1, pid: 1, start: '1', writable, readOnly: [], watch: [], rescan: rescan({ writable, ...r }) });
const policyOf = (r: Rescan): Policy => ({ watch: [], rescan: r }) as unknown as Policy;

test('the policy holds the protected names that exist at the root of a nested work tree, looks again at a writable root\'s placeholders, and asks the scan after the run for all names', () => {
  const root = realpathSync(tempDir(join(tmpdir(), 'cordon-names-')));
  const proj = join(root, 'proj');
  const sub = join(proj, 'sub');
  mkdirSync(join(sub, '.git'), { recursive: true });
  mkdirSync(join(proj, '.git'));
  writeFileSync(join(sub, 'CLAUDE.md'), 'mine');
  symlinkSync('../shared/claude', join(sub, '.claude')); // a dangling link is there too
  writeFileSync(join(sub, 'README.md'), 'not protected');
  writeFileSync(join(proj, 'AGENTS.md'), 'the root\'s: a read-only bind');
  const p = buildPolicy({
    cwd: proj, home: join(root, 'home'), settings: [], cli: { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [], allowWriteNoDelete: [] },
    scan: () => ({ repos: [proj, sub], submoduleGitDirs: [], matches: [] }),
  });
  assert.deepEqual(p.rescan?.names, [...[...PROTECTED_NAMES, ...AFTER_RUN_NAMES.filter((n) => !n.name.includes('/')), ...SHELL_STARTUP].map((n) => n.name), 'copilot-instructions.md', '.github'], 'and both names of a name of two components (.github/copilot-instructions.md), for refusedLater');
  assert.deepEqual([...(p.rescan?.heldNames ?? [])].sort(), [join(sub, '.claude'), join(sub, 'CLAUDE.md')]);
  assert.deepEqual(p.rescan?.patterns, [], 'the scan before the run is asked nothing new (its early start stays a hit)');
  assert.deepEqual(p.rescan?.recheckNames, PROTECTED_NAMES.filter((n) => n.name !== 'AGENTS.md').map((n) => join(proj, n.name)), 'the root\'s placeholders are looked at after the run too (another sandbox can write into one)');
  assert.ok(p.rules.some((r) => r.path === join(sub, 'CLAUDE.md') && r.access === 'read-only'), 'an existing one is read-only in the run');
  assert.ok(!p.rules.some((r) => r.path === join(sub, '.envrc')), 'a missing one gets no mount');
});

test('createdNames: a protected name directly in a nested work tree that was not there before; not in a writable root, deeper, closed, or held', () => {
  const r = rescan({ names: [...NAMES, 'copilot-instructions.md'], heldNames: ['/p/sub/CLAUDE.md'], closed: ['/p/big'], unchecked: ['/p/deep'] });
  const found = {
    repos: ['/p', '/p/sub', '/p/new', '/p/big/r', '/p/deep/r', '/g/r'],
    matches: [
      '/p/.envrc', // the writable root's: a placeholder held it
      '/p/sub/.envrc',
      '/p/sub/.envrc', // reported twice (overlapping roots): once
      '/p/sub/CLAUDE.md', // existed before: read-only in the run
      '/p/sub/pkg/.vscode', // not at the root of a work tree
      '/p/new/copilot-instructions.md', // not the name of two components (.github/…) it is the last of
      '/p/new/.vscode', // a repository the run made
      '/p/notrepo/CLAUDE.md',
      '/p/big/r/.envrc', // closed whole for the run (more than 1000 git dirs)
      '/p/deep/r/.envrc', // closed: the scan before the run could not look there
      '/g/r/.envrc', // scanned (a ** deny's base), not writable
      '/p/sub/.env', // a ** pattern's match, not a protected name
    ],
  };
  const got = createdNames(r, found);
  assert.deepEqual(got.map((w) => w.path), ['/p/sub/.envrc', '/p/new/.vscode']);
  assert.deepEqual(got[0], { path: '/p/sub/.envrc', kind: 'created', repo: '/p/sub', why: 'direnv runs it on cd; at the root of a git repository', keepEmptyDir: true });
  assert.deepEqual(createdNames({ ...r, recheckNames: ['/p/.envrc'] }, found).map((w) => w.path), ['/p/.envrc', '/p/sub/.envrc', '/p/new/.vscode'], 'a root\'s name a live run may move aside is looked at too');
  const { names: _n, ...older } = r;
  assert.deepEqual(createdNames(older, found), [], 'a journal from before names were looked for: nothing');
});

test('refusedLater: a protected name anywhere that a run started beside it would refuse (a link to there or above, through /proc, to a file of another name, a second name), and every link on its way; not one it would hold, nor one that leads nowhere', () => {
  const p = realpathSync(tempDir(join(tmpdir(), 'cordon-refused-later-')));
  const at = (...parts: string[]) => join(p, ...parts);
  for (const d of ['src', 's2', 'f', 'docs', 'pair', 'trio', 'g', 'a/.github', 'x', 'shut/in']) mkdirSync(at(d), { recursive: true });
  symlinkSync('/', at('src', 'CLAUDE.md'));
  symlinkSync('.', at('src', '.vscode'));
  symlinkSync('../via', at('s2', 'AGENTS.md'));
  symlinkSync('/', at('via'));
  symlinkSync('/proc/self/cwd', at('f', 'CLAUDE.md'));
  writeFileSync(at('docs', 'guide.md'), 'one name');
  symlinkSync('guide.md', at('docs', 'CLAUDE.md'));
  writeFileSync(at('pair', 'CLAUDE.md'), 'both names held');
  linkSync(at('pair', 'CLAUDE.md'), at('pair', 'AGENTS.md'));
  writeFileSync(at('trio', 'notes'), 'a name not held');
  linkSync(at('trio', 'notes'), at('trio', 'CLAUDE.md'));
  symlinkSync('../later', at('g', 'CLAUDE.md'));
  symlinkSync('/', at('a', '.github', 'copilot-instructions.md'));
  symlinkSync('/', at('x', 'copilot-instructions.md'));
  symlinkSync('/', at('shut', 'in', 'CLAUDE.md'));
  const names = ['CLAUDE.md', 'AGENTS.md', '.vscode', 'copilot-instructions.md'];
  const matches = ['src/CLAUDE.md', 'src/.vscode', 's2/AGENTS.md', 'f/CLAUDE.md', 'docs/CLAUDE.md', 'pair/CLAUDE.md', 'pair/AGENTS.md', 'trio/CLAUDE.md', 'g/CLAUDE.md', 'a/.github/copilot-instructions.md', 'x/copilot-instructions.md', 'shut/in/CLAUDE.md'].map((m) => at(m));
  const got = refusedLater(rescan({ roots: [p], writable: [p], names, closed: [at('shut')] }), { matches });
  assert.deepEqual(got.map((w) => w.path.slice(p.length + 1)), ['src/CLAUDE.md', 'src/.vscode', 's2/AGENTS.md', 'via', 'f/CLAUDE.md', 'trio/CLAUDE.md', 'a/.github/copilot-instructions.md']);
  assert.deepEqual(got[3], { path: at('via'), kind: 'created', repo: p, why: `a run started in ${at('s2')} would refuse to hold ${at('s2', 'AGENTS.md')} (agent instructions (Codex, Cursor, opencode, Amp, Zed and others)) read-only, and would not start`, ifLink: true });
  assert.match(got[6]!.why!, /a run started in .*\/a would refuse/, 'the name of two components: a run started above its .github');
  assert.deepEqual(refusedLater(rescan({ roots: [p], writable: [p], names: undefined }), { matches }), [], 'a journal from before names were looked for: nothing');
});

test('inheritNames: a name a run still going may move aside is not held here; one of this run\'s roots is looked at after it too', () => {
  // This run and A in the same place: A's command made sub/.envrc (A did not hold it), this run found it and holds it.
  const mine = policyOf(rescan({ heldNames: ['/p/sub/.envrc', '/p/sub/CLAUDE.md', '/p/big/r/.envrc'] }));
  const a = journal({ heldNames: ['/p/sub/CLAUDE.md'], closed: ['/p/big'] });
  assert.deepEqual(inheritNames(mine, [a]).rescan?.heldNames, ['/p/sub/CLAUDE.md', '/p/big/r/.envrc'], 'A would move .envrc aside (taking this run\'s mount along); what A held or closed it leaves');
  assert.deepEqual(inheritLiveRuns(mine, [a]).rescan?.heldNames, ['/p/sub/CLAUDE.md', '/p/big/r/.envrc'], 'inheritLiveRuns applies it');
  assert.equal(inheritNames(mine, [journal({ heldNames: ['/p/sub/.envrc', '/p/sub/CLAUDE.md'], closed: ['/p/big'] })]), mine, 'A held the same: nothing changes');
  assert.equal(inheritNames(mine, [{ ...a, rescan: { ...a.rescan!, names: undefined } } as Journal]), mine, 'a run that looks for no names moves none');
  assert.equal(inheritNames(mine, [journal({}, ['/q'])]), mine, 'a run writing elsewhere moves nothing here');
  // A runs in sub (its root: placeholders, never moved by A), this run in /p, where sub is a nested work tree.
  assert.equal(inheritNames(mine, [journal({ heldNames: [] }, ['/p/sub'])]), mine, 'A\'s own root\'s names are never A\'s to move');
  // A's recheck list (a third run may move those) is A's to move too.
  assert.deepEqual(inheritNames(mine, [journal({ heldNames: [], recheckNames: ['/p/sub/CLAUDE.md'] }, ['/p/sub'])]).rescan?.heldNames, ['/p/sub/.envrc', '/p/big/r/.envrc']);
  // This run in sub, A in /p: sub is a nested work tree to A, whose names A did not hold: they are this run's to look at after it.
  const inSub = policyOf(rescan({ writable: ['/p/sub'], roots: ['/p/sub'], heldNames: [] }));
  assert.deepEqual(inheritNames(inSub, [journal({ heldNames: ['/p/sub/CLAUDE.md'] })]).rescan?.recheckNames, ['/p/sub/.envrc', '/p/sub/.vscode']);
});
test('replacedGuards: a held path that is another file now is listed; one unchanged, gone, outside the writable paths or forged (not a string) is not', () => {
  const root = realpathSync(tempDir(join(tmpdir(), 'cordon-held-')));
  const w = join(root, 'w');
  mkdirSync(join(w, '.git'), { recursive: true });
  for (const n of ['same', 'renamed-over', 'gone', join('.git', 'config')]) writeFileSync(join(w, n), 'x\n');
  writeFileSync(join(root, 'outside'), 'x\n');
  const held = [...['same', 'renamed-over', 'gone', join('.git', 'config')].map((n) => join(w, n)), join(root, 'outside')];
  const ids: Record<string, unknown> = pathIdentities(held);
  assert.equal(Object.keys(ids).length, held.length);
  writeFileSync(join(w, 'new'), 'y\n');
  renameSync(join(w, 'new'), join(w, 'renamed-over'));
  rmSync(join(w, 'gone'));
  writeFileSync(join(root, 'new'), 'y\n');
  renameSync(join(root, 'new'), join(root, 'outside'));
  renameSync(join(w, '.git', 'config'), join(w, '.git', 'config.old'));
  writeFileSync(join(w, '.git', 'config'), '[core]\n');
  ids[join(w, 'same')] = 42;
  const listed = replacedGuards(ids as Record<string, string>, [w]);
  assert.deepEqual(listed.map((g) => g.path).sort(), [join(w, '.git', 'config'), join(w, 'renamed-over')]);
  assert.ok(listed.every((g) => g.kind === 'replaced'));
});

test('replacedGuards: a placeholder another run in the same place removed and made again (an empty directory) is not listed; one that holds something now is', () => {
  const w = realpathSync(tempDir(join(tmpdir(), 'cordon-held-ph-')));
  for (const n of ['.vscode', '.claude']) mkdirSync(join(w, n));
  const ids = pathIdentities([join(w, '.vscode'), join(w, '.claude')]);
  for (const n of ['.vscode', '.claude']) {
    rmdirSync(join(w, n));
    mkdirSync(join(w, n));
  }
  writeFileSync(join(w, '.claude', 'settings.json'), '{}');
  assert.deepEqual(replacedGuards(ids, [w]).map((g) => g.path), [join(w, '.claude')]);
});

test('withoutWatched: a held path another step already moves (the same path, or one inside a git dir it empties) is left to it', () => {
  const watch = [{ path: '/p/r/.git', kind: 'repository' as const, repo: '/p/r' }, { path: '/p/.envrc', kind: 'created' as const, repo: '/p' }];
  const extra = ['/p/r/.git/config', '/p/.envrc', '/p/.vscode', '/p/r/.gitmodules'].map((path) => ({ path, kind: 'replaced' as const, repo: '/p' }));
  assert.deepEqual(withoutWatched(extra, watch).map((e) => e.path), ['/p/.vscode', '/p/r/.gitmodules']);
});

test('setAside: a fresh config that cannot be written counts as unresolved (the run fails, closed), with a warning naming it', () => {
  const root = realpathSync(tempDir(join(tmpdir(), 'cordon-after-create-')));
  mkdirSync(join(root, '.git'));
  writeFileSync(join(root, '.git', 'config'), '[core]\n\tfsmonitor = evil\n');
  // Below the TypeScript under test: a helper that moves the config (giving its text back) and then finds something
  // already standing where the fresh one goes (another run's command wrote first).
  const helper = join(root, 'fake-helper');
  writeFileSync(helper, `#!/usr/bin/env python3
import sys
ops = sys.stdin.buffer.read().split(b"\\0")[:-1]
out = []
i = 0
while i < len(ops):
    op, path = ops[i], ops[i + 1]
    if op == b"--move-read":
        out += [b"moved", path, path + b".cordon-untrusted", b"content", path, b"[core]\\n\\tfsmonitor = evil\\n"]
    elif op == b"--create":
        out += [b"failed", path, b"File exists"]
        i += 1
    else:
        out += [b"absent", path]
    i += 2
sys.stdout.buffer.write(b"\\0".join(out) + b"\\0")
`, { mode: 0o755 });
  const r = setAside([{ path: join(root, '.git'), kind: 'repository', repo: root }], { roots: [root], helper });
  assert.equal(r.unresolved, 1);
  assert.ok(r.warnings.some((w) => w.includes(`could not write a new ${join(root, '.git', 'config')} (File exists)`)), r.warnings.join('\n'));
});
