import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPolicy, CLOSED_MAX, GIT_DIRS_MAX, gitSurfaceAt, minimalRoots, networkSpec, tlsSpec, withBroker, type CliRules } from '../../../src/policy/policy.js';
import { parseSettings } from '../../../src/policy/settings.js';
import { AFTER_RUN_NAMES, GIT_DIR_ENTRIES, ROOT_NAME_LIST, SHELL_STARTUP } from '../../../src/policy/protected.js';
import { tempDir } from '../../helpers/tmp.js';


const noCli: CliRules = { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [], allowWriteNoDelete: [] };

function world() {
  const root = realpathSync(tempDir(join(tmpdir(), 'cordon-policy-')));
  const home = join(root, 'home');
  const proj = join(root, 'proj');
  mkdirSync(join(home, '.ssh'), { recursive: true });
  mkdirSync(join(proj, '.git', 'hooks'), { recursive: true });
  writeFileSync(join(proj, '.git', 'config'), '[core]\n\thooksPath = .husky\n');
  mkdirSync(join(proj, 'sub', 'nested', '.git'), { recursive: true });
  writeFileSync(join(proj, 'sub', 'nested', '.git', 'config'), '');
  return { root, home, proj };
}

test('defaults: credential stores denied, cwd writable, protections for every repo found', () => {
  const w = world();
  const seen: string[][] = [];
  const p = buildPolicy({
    cwd: w.proj, home: w.home, settings: [], cli: noCli,
    scan: (roots) => { seen.push([...roots]); return { repos: [w.proj, join(w.proj, 'sub', 'nested')], submoduleGitDirs: [], matches: [] }; },
  });
  assert.deepEqual(seen, [[w.proj]]);
  const find = (path: string, access: string) => p.rules.find((r) => r.path === path && r.access === access);
  assert.ok(find(join(w.home, '.ssh'), 'deny-read'));
  assert.ok(find(join(w.home, '.aws'), 'deny-read'), 'missing stores are still listed');
  assert.ok(find(w.proj, 'read-write'));
  assert.ok(find(join(w.proj, '.git'), 'pin'));
  assert.ok(find(join(w.proj, '.git', 'config'), 'read-only'));
  assert.ok(find(join(w.proj, '.git', 'hooks'), 'read-only'));
  assert.ok(find(join(w.proj, '.husky'), 'read-only'), 'core.hooksPath is protected');
  assert.ok(find(join(w.proj, 'sub', 'nested', '.git', 'config'), 'read-only'));
  assert.ok(find(join(w.proj, 'sub', 'nested', '.git', 'hooks'), 'read-only'), 'missing hooks get a rule (placeholder)');
  assert.ok(find(join(w.proj, '.envrc'), 'read-only'));
  assert.ok(!find(join(w.proj, 'sub', 'nested', '.vscode'), 'read-only'), 'nested repos: only existing names (no placeholder per repo)');
  assert.ok(!find(join(w.proj, '.bashrc'), 'read-only'), 'a missing .bashrc outside $HOME runs nowhere: no placeholder');
  assert.ok(!find(join(w.home, '.bashrc'), 'read-only'), 'home is not writable, so its rc files need no rule');
});

test('settings and CLI rules carry their source; symlinked rule paths are resolved', () => {
  const w = world();
  mkdirSync(join(w.root, 'data'));
  symlinkSync(join(w.root, 'data'), join(w.proj, 'data-link'));
  // A link in the project that leads out of it does not carry a grant (refuseRedirectedGrants)...
  const viaLink = parseSettings(JSON.stringify({ filesystem: { allowWrite: ['data-link'] } }), '/s.json');
  assert.throws(
    () => buildPolicy({ cwd: w.proj, home: w.home, settings: [viaLink], cli: noCli, scan: () => ({ repos: [], submoduleGitDirs: [], matches: [] }) }),
    (e: any) => e.code === 'CORDON_ERR_POLICY' && e.message.startsWith(`data-link (/s.json: filesystem.allowWrite[0]) reaches ${join(w.root, 'data')} through the symlink ${join(w.proj, 'data-link')} -> ${join(w.root, 'data')}`),
  );
  // ...a link outside the project and every writable path does: it is resolved, and the rule sits on its target.
  symlinkSync(join(w.root, 'data'), join(w.root, 'outer-link'));
  const s = parseSettings(JSON.stringify({ filesystem: { allowWrite: [join(w.root, 'outer-link')], denyWrite: [], denyRead: ['~/.ssh'], allowRead: [] } }), '/s.json');
  const p = buildPolicy({ cwd: w.proj, home: w.home, settings: [s], cli: { ...noCli, allowWrite: ['.'], denyRead: ['secret'] }, scan: () => ({ repos: [], submoduleGitDirs: [], matches: [] }) });
  const data = p.rules.find((r) => r.path === join(w.root, 'data'));
  assert.equal(data?.access, 'read-write');
  assert.equal(data?.source, '/s.json: filesystem.allowWrite[0]');
  assert.equal(p.rules.find((r) => r.path === join(w.proj, 'secret'))?.source, '--deny-read');
  assert.ok(p.rules.some((r) => r.path === join(w.root, 'data', '.mcp.json') && r.access === 'read-only'), 'every writable root gets the protected names');
});

test('** globs are matched from the scanner output; shallow globs by readdir', () => {
  const w = world();
  writeFileSync(join(w.proj, '.env'), 'K=V');
  mkdirSync(join(w.home, '.cfg'));
  writeFileSync(join(w.home, '.cfg', 'token'), '');
  let patterns: readonly string[] = [];
  const p = buildPolicy({
    cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, denyRead: ['**/.env', '~/.cfg/*'] },
    scan: (_r, pats) => { patterns = pats; return { repos: [], submoduleGitDirs: [], matches: [join(w.proj, '.env'), join(w.proj, 'a', '.env'), join(w.proj, 'a', '.envx')] }; },
  });
  assert.deepEqual(patterns, ['.env']);
  const denied = p.rules.filter((r) => r.access === 'deny-read').map((r) => r.path);
  assert.ok(denied.includes(join(w.proj, '.env')));
  assert.ok(denied.includes(join(w.proj, 'a', '.env')));
  assert.ok(!denied.includes(join(w.proj, 'a', '.envx')));
  assert.ok(denied.includes(join(w.home, '.cfg', 'token')));
});

test('no-delete inside a plain read-write path is refused (Landlock cannot take rights away)', () => {
  const w = world();
  mkdirSync(join(w.proj, 'keep'));
  assert.throws(
    () => buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWriteNoDelete: ['keep'] }, scan: () => ({ repos: [], submoduleGitDirs: [], matches: [] }) }),
    (e: any) => e.code === 'CORDON_ERR_POLICY' && /cannot take delete rights away/.test(e.message),
  );
  // The same path as the working directory is fine (no-delete wins at one path), but not under the private /tmp, which is read-write as a whole.
  assert.throws(
    () => buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWriteNoDelete: ['.'] }, scan: () => ({ repos: [], submoduleGitDirs: [], matches: [] }) }),
    (e: any) => e.code === 'CORDON_ERR_POLICY' && e.message.includes("inside /tmp, which is read-write (the sandbox's private /tmp)") && e.message.endsWith('Keep the path outside /tmp (e.g. under /var/tmp or your home directory)'),
  );
  const outside = realpathSync(tempDir('/var/tmp/cordon-policy-'));
  buildPolicy({ cwd: outside, home: w.home, settings: [], cli: { ...noCli, allowWriteNoDelete: ['.'] }, scan: () => ({ repos: [], submoduleGitDirs: [], matches: [] }) });
});

test('/ is never writable: cordon run in / is refused, naming the rule; --read-only / there leaves no writable root and no scan', () => {
  const w = world();
  const noScan = (roots: readonly string[]) => {
    assert.deepEqual(roots, [], 'nothing to scan');
    return { repos: [], submoduleGitDirs: [], matches: [] };
  };
  assert.throws(
    () => buildPolicy({ cwd: '/', home: w.home, settings: [], cli: noCli, scan: noScan }),
    (e: any) => e.code === 'CORDON_ERR_POLICY' && e.message.startsWith('/ would be writable (default: working directory)') && /--read-only \//.test(e.message),
  );
  const s = parseSettings(JSON.stringify({ filesystem: { allowWrite: ['/'], denyWrite: [], denyRead: [], allowRead: [] } }), '/s.json');
  assert.throws(
    () => buildPolicy({ cwd: w.proj, home: w.home, settings: [s], cli: noCli, scan: () => ({ repos: [], submoduleGitDirs: [], matches: [] }) }),
    (e: any) => e.code === 'CORDON_ERR_POLICY' && e.message.includes('/s.json: filesystem.allowWrite[0]') && e.message.endsWith('Name the directories it may write instead'),
  );
  assert.throws(
    () => buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWriteNoDelete: ['/'] }, scan: () => ({ repos: [], submoduleGitDirs: [], matches: [] }) }),
    (e: any) => e.code === 'CORDON_ERR_POLICY' && e.message.includes('--no-delete'),
  );
  const p = buildPolicy({ cwd: '/', home: w.home, settings: [], cli: { ...noCli, denyWrite: ['.'] }, scan: noScan });
  assert.equal(p.rescan, undefined, 'no writable root: no scan after the run either');
  // A path made read-only at or above where it is made writable is not a root (the read-only rule wins, as in the plan).
  mkdirSync(join(w.root, 'data', 'sub'), { recursive: true });
  const seen: string[][] = [];
  buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: ['../data', '../data/sub'], denyWrite: ['../data'] }, scan: (roots) => { seen.push([...roots]); return { repos: [], submoduleGitDirs: [], matches: [] }; } });
  assert.deepEqual(seen, [[w.proj]]);
});

test('home: refused as the default writable path; named explicitly, existing rc files are read-only and missing ones watched (no placeholder there)', () => {
  const w = world();
  const none = () => ({ repos: [], submoduleGitDirs: [], matches: [] });
  assert.throws(() => buildPolicy({ cwd: w.home, home: w.home, settings: [], cli: noCli, scan: none }), (e: any) => e.code === 'CORDON_ERR_POLICY' && /is your home directory.*--allow-write ~/.test(e.message));
  assert.throws(() => buildPolicy({ cwd: w.root, home: w.home, settings: [], cli: noCli, scan: none }), (e: any) => e.code === 'CORDON_ERR_POLICY' && /contains your home directory/.test(e.message));
  writeFileSync(join(w.home, '.bashrc'), '# rc');
  mkdirSync(join(w.home, '.local', 'bin'), { recursive: true });
  const p = buildPolicy({ cwd: w.home, home: w.home, settings: [], cli: { ...noCli, allowWrite: ['~'] }, scan: none });
  for (const n of ['.bashrc', '.local/bin']) assert.ok(p.rules.some((r) => r.path === join(w.home, n) && r.access === 'read-only'), n);
  for (const n of ['.profile', '.zshrc', '.config']) assert.ok(p.watch.some((x) => x.path === join(w.home, n) && x.kind === 'created'), n);
  assert.ok(!p.rules.some((r) => r.path === join(w.home, '.profile')), 'no placeholder rule for a missing name in $HOME');
});

test('helpers', () => {
  assert.deepEqual(minimalRoots(['/a/b', '/a', '/c', '/a/b/c']), ['/a', '/c']);
  // core.hooksPath is read by git's own parser: test/unit/policy/git-config.test.ts.
});

test('network mode: none without domains, filtered with them, strictest file wins, --network decides', async () => {
  const { networkSpec } = await import('../../../src/policy/policy.js');
  const none = networkSpec([], noCli);
  assert.equal(none.mode, 'none');
  const viaCli = networkSpec([], { ...noCli, allowDomains: ['api.example.com'] });
  assert.equal(viaCli.mode, 'filtered');
  assert.equal(viaCli.allow.length, 1);
  const a = parseSettings('{"network":{"mode":"dangerously-unfiltered"}}', '/a.json');
  const b = parseSettings('{"network":{"mode":"filtered","allowedDomains":["x.org"]}}', '/b.json');
  assert.deepEqual([networkSpec([a, b], noCli).mode, networkSpec([a, b], noCli).modeSource], ['filtered', '/b.json: network.mode']);
  assert.equal(networkSpec([a, b], { ...noCli, network: 'none' }).mode, 'none');
  assert.throws(() => networkSpec([], { ...noCli, allowDomains: ['*'] }), /--allow-domain\[0\]/);
});

test('watch list: a writable root that is not a repository, and the git files a protected repository lacks', () => {
  const w = world();
  const plain = join(w.root, 'plain');
  mkdirSync(plain);
  const p = buildPolicy({
    cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: [plain] },
    scan: () => ({ repos: [w.proj], submoduleGitDirs: [], matches: [] }),
  });
  assert.deepEqual(p.watch.filter((x) => x.kind === 'repository').map((x) => x.path), [join(plain, '.git')], 'the project is a repository: only the plain root is watched');
  assert.deepEqual(p.watch.filter((x) => x.kind === 'git-file').map((x) => x.path).sort(), ['commondir', 'config.worktree', 'info/attributes'].map((n) => join(w.proj, '.git', n)));
  assert.ok(p.watch.filter((x) => x.kind !== 'created').every((x) => x.repo === (x.kind === 'repository' ? plain : w.proj)), 'each names the work tree git would use it in');
  // The names guarded after the run, at each writable root.
  assert.deepEqual(p.watch.filter((x) => x.kind === 'created' && !x.linkedOnly).map((x) => x.path).sort(), [w.proj, plain].flatMap((r) => AFTER_RUN_NAMES.map((n) => join(r, n.name))).sort());
  // The shell startup files they lack: only a link or a second name the command gives one is moved (the next run would refuse to hold it).
  assert.deepEqual(p.watch.filter((x) => x.linkedOnly).map((x) => x.path).sort(), [w.proj, plain].flatMap((r) => SHELL_STARTUP.map((n) => join(r, n.name))).sort());
  assert.ok(p.watch.filter((x) => x.linkedOnly).every((x) => x.kind === 'created' && !x.onlyOwn));
  writeFileSync(join(w.proj, '.git', 'commondir'), '.');
  const settings = [parseSettings(JSON.stringify({ filesystem: { allowGitConfig: true } }), join(w.root, 's.json'))];
  const q = buildPolicy({ cwd: w.proj, home: w.home, settings, cli: { ...noCli, allowWrite: [plain] }, scan: () => ({ repos: [w.proj], submoduleGitDirs: [], matches: [] }) });
  assert.ok(!q.watch.some((x) => x.path.endsWith('commondir')), 'an existing commondir is protected by a mount, not watched');
  assert.equal(q.watch.find((x) => x.kind === 'repository')?.keepConfig, true, 'allowGitConfig: a new repository keeps its config');
});

test('a protected name that is a link leading nowhere, or into a loop: no rule and no placeholder; the link is watched as a link, and where it leads as created', () => {
  const w = world();
  symlinkSync('docs/CLAUDE.md', join(w.proj, 'CLAUDE.md'));
  symlinkSync('AGENTS.md', join(w.proj, 'AGENT.md'));
  symlinkSync('.vscode', join(w.proj, '.vscode'));
  symlinkSync('later/rc', join(w.proj, '.zshrc'));
  const p = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: () => ({ repos: [w.proj], submoduleGitDirs: [], matches: [] }) });
  for (const n of ['CLAUDE.md', 'AGENT.md', '.vscode', '.zshrc']) {
    const at = join(w.proj, n);
    assert.ok(!p.rules.some((r) => r.path === at || r.path.startsWith(`${at}/`)), `${n}: no rule (so no placeholder either)`);
    assert.ok(!p.rescan?.recheckNames?.includes(at), `${n}: no placeholder to look at again`);
  }
  const watched = (q: string) => p.watch.find((x) => x.path === q);
  assert.deepEqual(watched(join(w.proj, 'CLAUDE.md')), { path: join(w.proj, 'CLAUDE.md'), kind: 'link', repo: w.proj, why: 'agent instructions (Claude Code)', target: 'docs/CLAUDE.md' });
  assert.equal(watched(join(w.proj, 'docs', 'CLAUDE.md'))?.kind, 'created', 'where it leads: what the command puts there is moved aside');
  assert.equal(watched(join(w.proj, 'docs'))?.ifLink, true, 'the topmost missing directory on the way: only a link there is');
  assert.equal(watched(join(w.proj, 'AGENTS.md'))?.kind, 'created');
  assert.equal(watched(join(w.proj, '.vscode'))?.kind, 'link', 'a loop: the link itself, nothing where it leads');
  assert.equal(watched(join(w.proj, 'later', 'rc'))?.linkedOnly, true, 'a shell startup file: only a link or a second name where it leads');
});

test('a shared directory (/tmp, /var/tmp, /dev/shm: sticky, writable by all): its missing protected names get no placeholder, and are watched', () => {
  const w = world();
  const shared = '/dev/shm';
  const lookalike = join(w.root, 'lookalike');
  mkdirSync(lookalike);
  chmodSync(lookalike, 0o1777); // as a command can make its own writable directory: not shared
  const below = mkdtempSync(join(shared, 'cordon-policy-'));
  try {
    const p = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: [shared, lookalike] }, scan: () => ({ repos: [w.proj], submoduleGitDirs: [], matches: [] }) });
    const ro = (path: string) => p.rules.find((r) => r.path === path && r.access === 'read-only');
    assert.ok(!existsSync(join(shared, '.claude')), 'this test needs /dev/shm without a .claude');
    assert.equal(ro(join(shared, '.claude')), undefined, 'a missing name gets no rule, so no placeholder');
    assert.equal(ro(join(lookalike, '.claude'))?.kind, 'missing', 'elsewhere a missing name is held by a placeholder');
    const watched = p.watch.filter((x) => x.kind === 'created' && x.repo === shared);
    assert.ok(watched.some((x) => x.path === join(shared, '.claude')), 'it is watched instead');
    assert.ok(watched.length > 0 && watched.every((x) => x.onlyOwn === true || x.linkedOnly === true), "each with another user's own entries left (the helper's --move-own, --move-if-linked)");
    assert.ok(!p.watch.some((x) => x.repo === lookalike && x.onlyOwn), 'a directory that is not shared: every entry is the command\'s');
    // Only the directory itself is shared: one made in it is the command's own.
    const q = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: [below] }, scan: () => ({ repos: [w.proj], submoduleGitDirs: [], matches: [] }) });
    assert.equal(q.rules.find((r) => r.path === join(below, '.claude') && r.access === 'read-only')?.kind, 'missing', 'a directory below a shared one is not shared');
  } finally {
    rmSync(below, { recursive: true, force: true });
  }
});

test('rescan: the same roots and patterns as the scan, what it found, and where the command can write', () => {
  const w = world();
  const plain = join(w.root, 'plain');
  mkdirSync(plain);
  const asked: string[][] = [];
  const p = buildPolicy({
    cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: [plain], denyRead: [`${w.root}/deep/**/.env`] },
    scan: (roots, patterns) => { asked.push([...roots], [...patterns]); return { repos: [w.proj], submoduleGitDirs: [join(w.proj, '.git', 'modules', 'sub')], matches: [] }; },
  });
  assert.deepEqual([p.rescan?.roots, p.rescan?.patterns], asked, 'a second scan with the same key reuses the first one\'s cache');
  assert.deepEqual(p.rescan?.known, [w.proj, join(w.proj, '.git', 'modules', 'sub')]);
  assert.deepEqual([...(p.rescan?.writable ?? [])].sort(), [plain, w.proj].sort(), 'a glob base is scanned but is not writable');
  assert.equal(p.rescan?.keepConfig, false);
});

const noScan = () => ({ repos: [], submoduleGitDirs: [], matches: [] });

test('a settings file with filesystem.allowWrite names the writable set: the working directory is not added (srt\'s meaning)', () => {
  const w = world();
  mkdirSync(join(w.proj, 'out'));
  const file = (fsKeys: object, name = '/s.json') => parseSettings(JSON.stringify({ filesystem: fsKeys }), name);
  const writable = (settings: ReturnType<typeof file>[], cli: CliRules = noCli) => {
    const p = buildPolicy({ cwd: w.proj, home: w.home, settings, cli, scan: noScan });
    return p.rules.filter((r) => r.access === 'read-write' || r.access === 'read-write-no-delete').map((r) => `${r.path} <- ${r.source}`);
  };
  assert.deepEqual(writable([]), [`${w.proj} <- default: working directory`]);
  assert.deepEqual(writable([file({ denyRead: ['~/x'] })]), [`${w.proj} <- default: working directory`], 'a file without the key keeps the default');
  assert.deepEqual(writable([file({ allowWrite: [] })]), [], 'an empty list is an empty writable set');
  assert.deepEqual(writable([file({ allowWrite: ['./out'] })]), [`${join(w.proj, 'out')} <- /s.json: filesystem.allowWrite[0]`]);
  assert.deepEqual(writable([file({ allowWriteNoDelete: [] })]), [], 'allowWriteNoDelete names the writable set too');
  assert.deepEqual(writable([file({ denyRead: [] }), file({ allowWrite: [] }, '/t.json')]), [], 'any file with the key decides');
  assert.deepEqual(writable([file({ allowWrite: [] })], { ...noCli, allowWrite: ['.'] }), [`${w.proj} <- --allow-write`], 'the command line still adds');
  const none = buildPolicy({ cwd: w.proj, home: w.home, settings: [file({ allowWrite: [] })], cli: noCli, scan: (roots) => { assert.deepEqual(roots, []); return noScan(); } });
  assert.equal(none.rescan, undefined, 'nothing writable: nothing to scan before or after');
  assert.ok(!none.rules.some((r) => r.path === join(w.proj, '.envrc')), 'no protections needed where nothing is writable');
});

test('hidden by default: agent tokens, tool credentials, histories and host secrets carry a (liftable) deny-read', async () => {
  const { CREDENTIAL_STORES_IN_HOME, CREDENTIAL_STORES_SYSTEM } = await import('../../../src/policy/defaults.js');
  const w = world();
  const home = ['.claude/.credentials.json', '.codex/auth.json', '.gemini/oauth_creds.json', '.config/github-copilot', '.config/containers/auth.json', '.config/sops/age', '.s3cfg', '.boto', '.terraformrc', '.pulumi/credentials.json', '.mylogin.cnf', '.bash_history', '.zsh_history', '.python_history', '.node_repl_history', '.psql_history', '.mysql_history', '.lesshst', '.local/share/fish/fish_history'];
  const system = ['/var/backups/*shadow*', '/etc/kubernetes', '/etc/wireguard', '/etc/ssl/private'];
  for (const rel of home) assert.ok(CREDENTIAL_STORES_IN_HOME.includes(rel), rel);
  for (const abs of system) assert.ok(CREDENTIAL_STORES_SYSTEM.includes(abs), abs);
  const p = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: noScan });
  for (const path of [...home.map((rel) => join(w.home, rel)), '/etc/kubernetes', '/etc/wireguard', '/etc/ssl/private']) {
    const r = p.rules.find((x) => x.path === path && x.access === 'deny-read');
    assert.equal(r?.weak, true, `${path}: a default deny that an explicit allowRead lifts`);
  }
  assert.ok(!p.rules.some((r) => r.path.includes('*')), 'the /var/backups glob is expanded, never kept as a path');
});

test('never writable: the new names at the root of every writable path, and in $HOME whichever grant reaches them', async () => {
  const { PROTECTED_IN_HOME, PROTECTED_NAMES, SHELL_STARTUP } = await import('../../../src/policy/protected.js');
  const w = world();
  const ro = (p: ReturnType<typeof buildPolicy>, path: string) => p.rules.some((r) => r.path === path && r.access === 'read-only');
  // In $HOME a missing name may be guarded by a read-only rule or watched (it, or the missing directory it would be in) and moved aside after the run.
  const guarded = (p: ReturnType<typeof buildPolicy>, path: string) => ro(p, path) || p.watch.some((x) => x.path === path || path.startsWith(`${x.path}/`));
  const names = ['.devcontainer.json', 'CLAUDE.md', 'CLAUDE.local.md', 'AGENTS.md', 'AGENTS.override.md', 'GEMINI.md', '.windsurfrules', '.clinerules', '.aider.conf.yml', 'opencode.json', 'opencode.jsonc', '.opencode', '.continue', '.roo', '.kiro', '.amazonq'];
  for (const n of names) assert.ok(PROTECTED_NAMES.some((x) => x.name === n && x.why.length > 0), n);
  assert.ok(SHELL_STARTUP.some((x) => x.name === '.bash_aliases'));
  const inHome = ['.local/lib', '.aws/config', '.aws/credentials', '.npmrc', '.cargo/config.toml', '.cargo/config', '.srt-settings.json', '.gdbinit', '.sqliterc', '.local/share/nvim', '.config/opencode', '.bash_completion'];
  for (const n of inHome) assert.ok(PROTECTED_IN_HOME.some((x) => x.name === n && x.why.length > 0), n);
  const proj = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: noScan });
  for (const n of names) assert.ok(ro(proj, join(w.proj, n)), `${n} at the working directory's root`);
  assert.ok(!inHome.some((n) => guarded(proj, join(w.home, n))), '$HOME not writable: nothing to guard there');
  const home = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: ['~'] }, scan: noScan });
  for (const n of [...inHome, '.bash_aliases']) assert.ok(guarded(home, join(w.home, n)), `${n} with $HOME writable`);
  // A grant above one (~/.aws) or beneath one (a site-packages directory) reaches it too.
  mkdirSync(join(w.home, '.aws'));
  writeFileSync(join(w.home, '.aws', 'config'), '[default]\n');
  mkdirSync(join(w.home, '.local', 'lib', 'python3.12', 'site-packages'), { recursive: true });
  const near = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: ['~/.aws', '~/.local/lib/python3.12/site-packages'] }, scan: noScan });
  assert.ok(ro(near, join(w.home, '.aws', 'config')), 'an existing one is read-only');
  assert.ok(guarded(near, join(w.home, '.aws', 'credentials')));
  assert.ok(ro(near, join(w.home, '.local', 'lib')), 'read-only wins over the grant beneath it');
  assert.ok(!guarded(near, join(w.home, '.npmrc')), 'no grant reaches ~/.npmrc');
});

test('a read deny on a missing never-writable path is dropped, so that the path is guarded', () => {
  const w = world();
  // --deny-read .envrc where there is none: the deny hides nothing, and the plan would guard nothing beneath it.
  const p = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, denyRead: ['.envrc', 'secret.txt'] }, scan: noScan });
  const at = (path: string) => p.rules.filter((r) => r.path === path).map((r) => r.access);
  assert.deepEqual(at(join(w.proj, '.envrc')), ['read-only']);
  assert.deepEqual(at(join(w.proj, 'secret.txt')), ['deny-read'], 'a missing deny with nothing to guard at or beneath it stays (explain lists it)');
  // A read-only path whose name only starts with the deny's (.envrc beside .env) is not beneath it; one below it is.
  const prefix = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, denyRead: ['.env', '.claudeX'], allowWrite: ['.claudeX/sub'] }, scan: noScan });
  assert.ok(prefix.rules.some((r) => r.path === join(w.proj, '.env') && r.access === 'deny-read'), 'the .env deny stays');
  const below = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, denyRead: ['later'], denyWrite: ['later/x'] }, scan: noScan });
  assert.ok(!below.rules.some((r) => r.path === join(w.proj, 'later') && r.access === 'deny-read'), 'a missing deny above a guarded missing path is dropped');
  // An existing store keeps its deny, with $HOME writable too.
  const home = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: ['~'] }, scan: noScan });
  assert.ok(home.rules.some((r) => r.path === join(w.home, '.ssh') && r.access === 'deny-read'));
});

test('git dirs the way git finds them: a bare git dir and a linked worktree git dir are protected like a .git', () => {
  const w = world();
  const bare = join(w.proj, 'vendor', 'tool.git');
  for (const d of ['objects', 'refs', 'hooks']) mkdirSync(join(bare, d), { recursive: true });
  writeFileSync(join(bare, 'HEAD'), 'ref: refs/heads/main\n');
  writeFileSync(join(bare, 'config'), '[core]\n\tbare = true\n');
  const wt = join(w.proj, '.git', 'worktrees', 'feature');
  mkdirSync(wt, { recursive: true });
  writeFileSync(join(wt, 'commondir'), '../..\n');
  writeFileSync(join(wt, 'gitdir'), join(w.root, 'feature', '.git') + '\n');
  const p = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: () => ({ repos: [w.proj], submoduleGitDirs: [], bareGitDirs: [bare], worktreeGitDirs: [wt], matches: [] }) });
  const has = (path: string, access: string) => p.rules.some((r) => r.path === path && r.access === access);
  assert.ok(has(bare, 'pin') && has(join(bare, 'config'), 'read-only') && has(join(bare, 'hooks'), 'read-only'), 'bare git dir');
  assert.ok(has(wt, 'pin') && has(join(wt, 'commondir'), 'read-only') && has(join(wt, 'gitdir'), 'read-only'), 'worktree git dir');
  assert.ok(p.watch.some((x) => x.path === join(wt, 'config.worktree') && x.kind === 'git-file'), 'a missing config.worktree is watched, not a placeholder');
  assert.ok(!has(join(wt, 'config'), 'read-only') && !has(join(wt, 'hooks'), 'read-only'), 'git takes config and hooks from the common dir, not from a worktree git dir');
  assert.deepEqual([...p.rescan!.known].sort(), [w.proj, bare, wt].sort(), 'the after-run scan knows them');
});

test('more git dirs in one writable root than cordon protects one by one: the rest are closed read-only, their configuration still read', () => {
  const w = world();
  const nested = join(w.proj, 'sub', 'nested');
  // The nested repository's config includes a file in the project: it stays read-only even when the repository is closed.
  writeFileSync(join(nested, '.git', 'config'), '[include]\n\tpath = ../../../team.gitconfig\n');
  writeFileSync(join(w.proj, 'team.gitconfig'), '');
  const bare = Array.from({ length: GIT_DIRS_MAX + 5 }, (_, i) => join(w.proj, 'b', String(i).padStart(4, '0')));
  const build = (bareGitDirs: string[]) => buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: () => ({ repos: [w.proj, nested], submoduleGitDirs: [], bareGitDirs, matches: [] }) });
  const rulesAt = (p: ReturnType<typeof build>, path: string) => p.rules.filter((r) => r.path === path || r.path.startsWith(`${path}/`)).map((r) => r.access);

  // 2 + GIT_DIRS_MAX + 5 git dirs: kept, the shallowest first, then by path (the project's own, b/0000 … b/0998).
  const p = build(bare);
  const closed = [...bare.slice(GIT_DIRS_MAX - 1), nested];
  assert.equal(closed.length, 7);
  for (const c of closed) assert.deepEqual(rulesAt(p, c), ['read-only'], `${c}: closed whole, nothing protected one by one`);
  assert.ok(!p.watch.some((x) => closed.some((c) => x.path.startsWith(`${c}/`))), 'nothing watched inside a closed directory');
  assert.ok(p.rules.some((r) => r.path === join(w.proj, 'team.gitconfig') && r.access === 'read-only'), "a closed repository's included config stays read-only");
  assert.ok(p.rules.some((r) => r.path === join(w.proj, '.git') && r.access === 'pin'), "the project's own repository is always among the kept");
  for (const k of [bare[0]!, bare[GIT_DIRS_MAX - 2]!]) assert.ok(p.rules.some((r) => r.path === k && r.access === 'pin') && p.rules.some((r) => r.path === join(k, 'config') && r.access === 'read-only'), `${k}: protected one by one`);
  assert.match(p.warnings.join('\n'), new RegExp(`${w.proj} holds ${GIT_DIRS_MAX + 7} git directories .* more than the ${GIT_DIRS_MAX} cordon protects one by one: ${bare[GIT_DIRS_MAX - 1]}, .* and 4 more \\(holding the other 7\\) are read-only in this run`));
  assert.equal(p.rescan!.known.length, GIT_DIRS_MAX + 7, 'the after-run scan knows every one: none of them is new');

  // At the cap exactly: nothing closed.
  const at = build(bare.slice(0, GIT_DIRS_MAX - 2));
  assert.ok(!at.rules.some((r) => r.source.includes('closed whole')));
  assert.ok(at.rules.some((r) => r.path === join(nested, '.git') && r.access === 'pin'));

  // More past the cap than CLOSED_MAX directories: closed a level higher (b/ and sub/, with the kept ones in b/), a bounded number of mounts.
  const many = Array.from({ length: GIT_DIRS_MAX + CLOSED_MAX }, (_, i) => join(w.proj, 'b', String(i).padStart(4, '0')));
  const higher = build(many);
  const shut = higher.rules.filter((r) => r.source.includes('closed whole'));
  assert.deepEqual(shut.map((r) => [r.path, r.access]), [[join(w.proj, 'b'), 'read-only'], [join(w.proj, 'sub'), 'read-only']]);
  assert.ok(!higher.rules.some((r) => r.path.startsWith(join(w.proj, 'b') + '/')), 'nothing protected one by one in a closed directory');
  assert.ok(higher.rules.some((r) => r.path === join(w.proj, '.git') && r.access === 'pin'));
  assert.match(higher.warnings.join('\n'), new RegExp(`${join(w.proj, 'b')}, ${join(w.proj, 'sub')} \\(holding the other ${CLOSED_MAX + 2}\\) are read-only in this run`));

  // Spread over more than CLOSED_MAX directories right below the root: the root itself is closed.
  const spread = Array.from({ length: GIT_DIRS_MAX + CLOSED_MAX }, (_, i) => join(w.proj, `t${String(i).padStart(4, '0')}`, 'g'));
  const whole = build(spread);
  assert.deepEqual(whole.rules.filter((r) => r.source.includes('closed whole')).map((r) => r.path), [w.proj]);
  assert.match(whole.warnings.join('\n'), new RegExp(`: ${w.proj} \\(holding the other ${CLOSED_MAX + 2}\\) is read-only in this run`));
});

test('core.hooksPath from every config git reads: relative to each work tree, husky 9 protects .husky, includes read-only', () => {
  const w = world();
  // husky 9 in the repository's own config; an included team file in the project sets another one.
  writeFileSync(join(w.proj, '.git', 'config'), '[core]\n\thooksPath = .husky/_\n[include]\n\tpath = ../team.gitconfig\n\tpath = ../not-yet.gitconfig\n');
  writeFileSync(join(w.proj, 'team.gitconfig'), '[core] hooksPath = tools/hooks ; set on the section line\n');
  // The global config sets a relative one: every repository's .githooks.
  writeFileSync(join(w.home, '.gitconfig'), '[core]\n\thooksPath = .githooks\n');
  // A linked worktree's config.worktree sets one relative to that worktree (inside the project).
  const wt = join(w.proj, '.git', 'worktrees', 'wt');
  mkdirSync(wt, { recursive: true });
  writeFileSync(join(wt, 'commondir'), '../..\n');
  writeFileSync(join(wt, 'gitdir'), join(w.proj, 'wt', '.git') + '\n');
  writeFileSync(join(wt, 'config.worktree'), '[core]\n\thooksPath = wt-hooks\n');
  // A work tree whose .git is a file (a submodule's): relative hooks paths are taken from it.
  mkdirSync(join(w.proj, 'lib'));
  writeFileSync(join(w.proj, 'lib', '.git'), 'gitdir: ../.git/modules/lib\n');
  mkdirSync(join(w.proj, '.git', 'modules', 'lib'), { recursive: true });
  writeFileSync(join(w.proj, '.git', 'modules', 'lib', 'config'), '[core]\n\tworktree = ../../../lib\n\thooksPath = sub-hooks\n');
  // A .git file to a git dir outside every writable path: its hooks path is still relative to this work tree.
  mkdirSync(join(w.root, 'ext.git'));
  writeFileSync(join(w.root, 'ext.git', 'config'), '[core]\n\thooksPath = ext-hooks\n');
  mkdirSync(join(w.proj, 'ext'));
  writeFileSync(join(w.proj, 'ext', '.git'), `gitdir: ${join(w.root, 'ext.git')}\n`);
  const p = buildPolicy({
    cwd: w.proj, home: w.home, settings: [], cli: noCli, env: { PATH: process.env.PATH },
    scan: () => ({ repos: [w.proj, join(w.proj, 'sub', 'nested'), join(w.proj, 'lib'), join(w.proj, 'ext')], submoduleGitDirs: [join(w.proj, '.git', 'modules', 'lib')], worktreeGitDirs: [wt], matches: [] }),
  });
  const ro = (path: string) => p.rules.some((r) => r.path === path && r.access === 'read-only');
  for (const d of ['.husky/_', '.husky', 'tools/hooks', 'tools', '.githooks', 'sub/nested/.githooks', 'wt/wt-hooks', 'lib/sub-hooks', 'lib/.githooks', 'ext/ext-hooks']) assert.ok(ro(join(w.proj, d)), d);
  assert.ok(ro(join(w.proj, 'team.gitconfig')), 'an included config file is read-only');
  assert.ok(p.watch.some((x) => x.path === join(w.proj, 'not-yet.gitconfig') && x.kind === 'git-file'), 'a missing include is watched');
  assert.ok(!ro(w.proj) && !ro(join(w.proj, 'sub')) && !ro(join(w.proj, 'lib')) && !ro(join(w.proj, 'wt')), 'never a work tree (or what holds one) as the directory holding hooks');
  // filesystem.allowGitConfig leaves a repository's configuration (and what it includes) to the command.
  const s = parseSettings(JSON.stringify({ filesystem: { allowGitConfig: true } }), '/s.json');
  const q = buildPolicy({ cwd: w.proj, home: w.home, settings: [s], cli: noCli, scan: () => ({ repos: [w.proj], submoduleGitDirs: [], matches: [] }) });
  assert.ok(!q.rules.some((r) => r.path === join(w.proj, 'team.gitconfig')));
});

test('a shallow-glob deny or read-only rule that matches a name that is not valid UTF-8 is refused; a grant only grants less', () => {
  const w = world();
  writeFileSync(join(w.proj, 'a.pem'), 'KEY');
  writeFileSync(Buffer.concat([Buffer.from(`${w.proj}/`), Buffer.from([0xff]), Buffer.from('.pem')]), 'KEY');
  const build = (cli: Partial<CliRules>) => buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, ...cli }, scan: noScan });
  for (const cli of [{ denyRead: ['./*.pem'] }, { denyWrite: ['./*.pem'] }]) {
    assert.throws(() => build(cli), (e: Error & { code?: string }) => e.code === 'CORDON_ERR_POLICY' && e.message.includes(`./*.pem (${cli.denyRead ? '--deny-read' : '--read-only'}) matches a name in ${w.proj} that is not valid UTF-8`));
  }
  const p = build({ allowRead: ['./*.pem'] });
  assert.ok(p.rules.some((r) => r.path === join(w.proj, 'a.pem') && r.access === 'allow-read'));
});

test('where the scan could not look: read-only in a writable path (hidden where a ** read deny reaches), refused outside one', () => {
  const w = world();
  const deep = join(w.proj, 'deep', 'd', 'd');
  const scan = (incomplete: string[]) => () => ({ repos: [], submoduleGitDirs: [], matches: [], incomplete });
  const p = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: scan([deep]) });
  assert.ok(p.rules.some((r) => r.path === deep && r.access === 'read-only'));
  assert.deepEqual(p.rescan?.unchecked, [deep]);
  assert.match(p.warnings.join('\n'), new RegExp(`could not look at everything below ${deep}.*read-only in this run. Remove what should not be there`));
  const hidden = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, denyRead: ['**/.env'] }, scan: scan([deep]) });
  assert.ok(hidden.rules.some((r) => r.path === deep && r.access === 'deny-read'), 'a .env below could not be found: the whole directory is hidden');
  const elsewhere = join(w.root, 'data', 'd');
  mkdirSync(join(w.root, 'data'));
  assert.throws(
    () => buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, denyRead: [`${join(w.root, 'data')}/**/.env`] }, scan: scan([elsewhere]) }),
    (e: Error & { code?: string }) => e.code === 'CORDON_ERR_POLICY' && e.message.includes(elsewhere) && /so a match there could not be hidden; nothing was run/.test(e.message),
  );
});

test('a ** read deny also holds through a symbolic link; a grant never widens through one', () => {
  const w = world();
  mkdirSync(join(w.root, 'elsewhere'));
  writeFileSync(join(w.root, 'elsewhere', '.env'), 'SECRET');
  mkdirSync(join(w.root, 'elsewhere', 'build'));
  symlinkSync(join(w.root, 'elsewhere'), join(w.proj, 'link'));
  const scan = () => ({ repos: [], submoduleGitDirs: [], matches: [], linkedMatches: [join(w.proj, 'link', '.env'), join(w.proj, 'link', 'build')] });
  const p = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, denyRead: ['**/.env'], allowWrite: ['**/build'] }, scan });
  assert.ok(p.rules.some((r) => r.path === join(w.root, 'elsewhere', '.env') && r.access === 'deny-read'), 'the file the link reaches is hidden');
  assert.ok(!p.rules.some((r) => r.path === join(w.root, 'elsewhere', 'build')), 'no write grant through the link');
  // Links whose targets could not be scanned whole: refused only when a ** read deny needs them.
  const partial = () => ({ repos: [], submoduleGitDirs: [], matches: [], linkedIncomplete: [join(w.proj, 'link')] });
  assert.throws(() => buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, denyRead: ['**/.env'] }, scan: partial }), /\*\*\/\.env must also hide matches reached through symbolic links.*Remove the link, or deny what it points to/);
  buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: ['**/build'] }, scan: partial });
});

test('one listing of a git dir says what its protected names are, as a lookup of each would: missing, file, directory, a link followed, a name below a directory', () => {
  const w = world();
  const g = join(w.proj, '.git');
  const elsewhere = join(w.root, 'shared-hooks');
  mkdirSync(elsewhere);
  // hooks is a link (followed: the rule sits on its target), info holds attributes, commondir is a FIFO (a file to git).
  spawnSync('rm', ['-r', join(g, 'hooks')]);
  symlinkSync(elsewhere, join(g, 'hooks'));
  mkdirSync(join(g, 'info'));
  writeFileSync(join(g, 'info', 'attributes'), '* filter=x\n');
  spawnSync('mkfifo', [join(g, 'commondir')]);
  const p = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: () => ({ repos: [w.proj], submoduleGitDirs: [], matches: [] }) });
  const ro = (path: string) => p.rules.find((r) => r.path === path && r.access === 'read-only');
  assert.equal(ro(join(g, 'config'))?.kind, 'file');
  assert.equal(ro(join(g, 'hooks'))?.kind, 'dir', 'the link is followed to a directory');
  assert.equal(ro(join(g, 'info', 'attributes'))?.kind, 'file');
  assert.equal(ro(join(g, 'commondir'))?.kind, 'file');
  assert.deepEqual(p.watch.filter((x) => x.kind === 'git-file').map((x) => x.path), [join(g, 'config.worktree')], 'only the missing name is watched');
});

test('what the scan saw in a git dir (gitFacts) stands for its listing and its config read: the same policy; a config it found plain is not read again', () => {
  const w = world();
  const g = join(w.proj, '.git');
  const nested = join(w.proj, 'sub', 'nested');
  spawnSync('rm', ['-r', join(g, 'hooks')]);
  writeFileSync(join(w.root, 'hooks-file'), '');
  symlinkSync(join(w.root, 'hooks-file'), join(g, 'hooks')); // a link: its kind is its target's
  mkdirSync(join(g, 'info'));
  writeFileSync(join(g, 'info', 'attributes'), '* filter=x\n');
  writeFileSync(join(g, 'commondir'), '.\n');
  const found = { repos: [w.proj, nested], submoduleGitDirs: [], matches: [] };
  // config, hooks, config.worktree, commondir, info/attributes: as the scan would write them here.
  const facts = { [g]: 'ml-ff', [join(nested, '.git')]: 'p----' };
  assert.deepEqual(GIT_DIR_ENTRIES, ['config', 'hooks', 'config.worktree', 'commondir', 'info/attributes']);
  const listed = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: () => found });
  const fromFacts = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: () => ({ ...found, gitFacts: facts }) });
  assert.deepEqual(fromFacts.rules, listed.rules);
  assert.deepEqual(fromFacts.watch, listed.watch);
  assert.ok(listed.rules.some((r) => r.path === join(w.proj, '.husky')), 'the fixture sets a hooks path');
  assert.equal(listed.rules.find((r) => r.path === join(g, 'hooks'))?.kind, 'file');
  // Facts the policy cannot take: a git dir that is not a directory of its own (here: not there), letters short of a name each.
  for (const odd of [{ [join(w.proj, 'gone', '.git')]: 'pd---' }, { [g]: 'md--' }]) {
    assert.deepEqual(buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: () => ({ ...found, gitFacts: odd }) }).rules, listed.rules);
  }
  // The scan read the config and found it plain: the policy takes its word (the bytes git would parse were the ones judged).
  writeFileSync(join(nested, '.git', 'config'), '[core]\n\thooksPath = my-hooks\n');
  const plain = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: () => ({ ...found, gitFacts: facts }) });
  assert.ok(!plain.rules.some((r) => r.path === join(nested, 'my-hooks')));
  assert.ok(buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: () => found }).rules.some((r) => r.path === join(nested, 'my-hooks')), 'read when the scan says nothing');
  // A commondir sends git to another config: the one the scan read is not the one git reads, so it is read again.
  writeFileSync(join(nested, '.git', 'commondir'), '.\n');
  const common = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: () => ({ ...found, gitFacts: { ...facts, [join(nested, '.git')]: 'p--f-' } }) });
  assert.ok(common.rules.some((r) => r.path === join(nested, 'my-hooks')));
});

test("names at a repository's root from the scan: what it reported is protected, with no listing of the root; where it could not list, the root is listed", () => {
  const w = world();
  const nested = join(w.proj, 'sub', 'nested');
  writeFileSync(join(nested, '.envrc'), 'x');
  writeFileSync(join(nested, '.bashrc'), 'x');
  const ro = (p: ReturnType<typeof buildPolicy>, path: string) => p.rules.some((r) => r.path === path && r.access === 'read-only');
  // The scan says only .envrc is there: the policy takes its word (a listing would find .bashrc too).
  const found = { repos: [w.proj, nested], submoduleGitDirs: [], matches: [join(nested, '.envrc')], named: ROOT_NAME_LIST };
  const p = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: () => found });
  assert.ok(ro(p, join(nested, '.envrc')));
  assert.ok(!ro(p, join(nested, '.bashrc')), 'the scan was asked for the names and listed the directory: no second listing');
  assert.deepEqual(p.rescan?.heldNames, [join(nested, '.envrc')]);
  // A scan not asked for every root name, or one that could not list the root: the root is listed.
  for (const scan of [{ ...found, named: ROOT_NAME_LIST.slice(1) }, { ...found, incomplete: [join(w.proj, 'sub')] }]) {
    const q = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: noCli, scan: () => scan });
    assert.ok(ro(q, join(nested, '.envrc')) && ro(q, join(nested, '.bashrc')));
  }
});

test('a grant in a git directory\'s hooks or configuration: what git runs code from, found by the .git on the way', () => {
  assert.deepEqual(gitSurfaceAt('/r/.git/hooks'), { path: '/r/.git/hooks', why: 'git hook scripts' });
  assert.deepEqual(gitSurfaceAt('/r/.git/hooks/pre-commit'), { path: '/r/.git/hooks', why: 'git hook scripts' });
  assert.equal(gitSurfaceAt('/r/.git/config')?.path, '/r/.git/config');
  assert.equal(gitSurfaceAt('/r/.git/modules/sub/config')?.path, '/r/.git/modules/sub/config');
  assert.equal(gitSurfaceAt('/r/.git/info/attributes')?.path, '/r/.git/info/attributes');
  assert.equal(gitSurfaceAt('/r/.git/info')?.path, '/r/.git/info/attributes', 'the directory that holds it');
  for (const p of ['/r/.git', '/r/.git/objects', '/r/.git/refs/heads', '/r/.git/info/exclude', '/r/src/config', '/r/hooks']) assert.equal(gitSurfaceAt(p), undefined, p);
});

test('credentials.broker needs its hosts allowed and TLS-terminated, in the filtered network, each variable once', () => {
  const ctx = { cwd: '/p', home: '/h' };
  const check = (json: object) => {
    const s = [parseSettings(JSON.stringify(json), '/s.json')];
    return withBroker(s, { ...networkSpec(s, noCli), unixSockets: [], ...tlsSpec(s, ctx) }, ctx);
  };
  const entry = { env: 'T', hosts: ['api.example.com'], header: 'x-api-key' };
  const net = { allowedDomains: ['api.example.com', '*.cdn.example'], tlsTerminate: {} };
  const spec = check({ network: net, credentials: { broker: [{ ...entry, from: { file: '~/t' } }, { env: 'U', hosts: ['*.cdn.example'], header: 'authorization', scheme: 'Bearer' }] } });
  assert.deepEqual(spec.credentials!.map((c) => [c.env, c.from]), [['T', { file: '/h/t' }], ['U', { env: 'U' }]]);
  const err = (json: object) => { try { check(json); } catch (e) { return (e as Error).message; } return assert.fail('expected an error'); };
  assert.match(err({ network: { allowedDomains: ['other.example'], tlsTerminate: {} }, credentials: { broker: [entry] } }), /hosts: api\.example\.com is not in network\.allowedDomains/);
  assert.match(err({ network: { allowedDomains: ['api.example.com'] }, credentials: { broker: [entry] } }), /is not TLS-terminated/);
  assert.match(err({ network: { allowedDomains: ['api.example.com'], tlsTerminate: { excludeDomains: ['api.example.com'] } }, credentials: { broker: [entry] } }), /is not TLS-terminated/);
  assert.match(err({ network: { allowedDomains: ['api.example.com', 'x.example'], tlsTerminate: { domains: ['x.example'] } }, credentials: { broker: [entry] } }), /is not TLS-terminated/);
  assert.match(err({ network: { ...net, allowedDomains: ['api.example.com', 'a.cdn.example'] }, credentials: { broker: [{ ...entry, hosts: ['*.cdn.example'] }] } }), /\*\.cdn\.example is not in network\.allowedDomains/);
  assert.match(err({ network: { ...net }, credentials: { broker: [entry, { ...entry }] } }), /\.env: T is brokered by \/s\.json: credentials\.broker\[0\] too/);
  assert.match(err({ network: { ...net, mode: 'none' }, credentials: { broker: [entry] } }), /needs the filtered network/);
  // credentials.aws: its three keys checked alike, and its variables brokered once across both lists.
  const aws = { hosts: ['api.example.com'] };
  assert.deepEqual(check({ network: net, credentials: { aws: [aws] } }).credentials!.map((c) => c.env), ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']);
  assert.match(err({ network: { allowedDomains: ['api.example.com'] }, credentials: { aws: [aws] } }), /credentials\.aws\[0\]\.hosts: api\.example\.com is not TLS-terminated/);
  assert.match(err({ network: net, credentials: { aws: [aws], broker: [{ ...entry, env: 'AWS_SESSION_TOKEN' }] } }), /\.env: AWS_SESSION_TOKEN is brokered by \/s\.json: credentials\.broker\[0\] too/);
});

test('a protected name in a writable path that is a link to that path or above it is refused, naming it (holding it read-only would take the whole grant away)', () => {
  const w = world();
  const shared = join(w.root, 'drop');
  mkdirSync(shared);
  for (const [name, target] of [['.vscode', shared], ['CLAUDE.md', '..'], ['.envrc', '.'], ['AGENT.md', '/']] as const) {
    symlinkSync(target, join(shared, name));
    assert.throws(
      () => buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: [shared] }, scan: noScan }),
      (e: any) => e.code === 'CORDON_ERR_POLICY' && e.message.startsWith(`${join(shared, name)} is a protected name, and a symbolic link to `) && / which holds the writable path (\/[^:]*): cordon holds a protected name read-only whatever grant reaches it, which would make all of \1 read-only\. To go on, remove the link \(rm /.test(e.message),
      name,
    );
    rmSync(join(shared, name));
  }
  // One leading to another writable path, or to the working directory under a wider grant.
  const other = join(w.root, 'other');
  mkdirSync(other);
  symlinkSync(other, join(shared, '.vscode'));
  assert.throws(() => buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: [shared, other] }, scan: noScan }), (e: any) => e.code === 'CORDON_ERR_POLICY' && e.message.includes(`which holds the writable path ${other}`) && e.message.includes(`To go on, leave ${other} out of the writable paths, or remove the link`));
  rmSync(join(shared, '.vscode'));
  const cwd = join(shared, 'cwd');
  mkdirSync(cwd);
  symlinkSync('.', join(cwd, '.vscode'));
  assert.throws(() => buildPolicy({ cwd, home: w.home, settings: [], cli: { ...noCli, allowWrite: [shared] }, scan: noScan }), (e: any) => e.code === 'CORDON_ERR_POLICY' && e.message.includes(`which holds the writable path ${cwd}`) && e.message.includes('To go on, run from another directory, or remove the link'));
  rmSync(cwd, { recursive: true });
  // A $HOME entry protected under a grant above it, linked to the working directory (stow: ~/bin -> dotfiles/bin).
  const dot = join(w.home, 'dotfiles', 'bin');
  mkdirSync(dot, { recursive: true });
  symlinkSync(dot, join(w.home, 'bin'));
  assert.throws(() => buildPolicy({ cwd: dot, home: w.home, settings: [], cli: { ...noCli, allowWrite: [w.home] }, scan: noScan }), (e: any) => e.code === 'CORDON_ERR_POLICY' && e.message.startsWith(`${join(w.home, 'bin')} is a protected name`) && e.message.includes(`which holds the writable path ${dot}`));
  rmSync(join(w.home, 'bin'));
  // A link to somewhere inside is the usual kind (a monorepo's shared .vscode): held where it leads.
  mkdirSync(join(shared, 'conf'));
  symlinkSync('conf', join(shared, '.vscode'));
  const p = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: [shared] }, scan: noScan });
  assert.ok(p.rules.some((r) => r.path === join(shared, 'conf') && r.access === 'read-only'));
});
