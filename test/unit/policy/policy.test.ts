import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPolicy, minimalRoots, readHooksPath, type CliRules } from '../../../src/policy/policy.js';
import { parseSettings } from '../../../src/policy/settings.js';
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
  const s = parseSettings(JSON.stringify({ filesystem: { allowWrite: ['data-link'], denyWrite: [], denyRead: ['~/.ssh'], allowRead: [] } }), '/s.json');
  const p = buildPolicy({ cwd: w.proj, home: w.home, settings: [s], cli: { ...noCli, denyRead: ['secret'] }, scan: () => ({ repos: [], submoduleGitDirs: [], matches: [] }) });
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
  // The same path as the working directory is fine: no-delete wins at one path.
  buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWriteNoDelete: ['.'] }, scan: () => ({ repos: [], submoduleGitDirs: [], matches: [] }) });
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

test('home inside a writable path protects rc files and cordon settings', () => {
  const w = world();
  const p = buildPolicy({ cwd: w.home, home: w.home, settings: [], cli: noCli, scan: () => ({ repos: [], submoduleGitDirs: [], matches: [] }) });
  for (const n of ['.bashrc', '.profile', '.zshrc', '.config/cordon', '.local/bin']) {
    assert.ok(p.rules.some((r) => r.path === join(w.home, n) && r.access === 'read-only'), n);
  }
});

test('helpers', () => {
  assert.deepEqual(minimalRoots(['/a/b', '/a', '/c', '/a/b/c']), ['/a', '/c']);
  const d = tempDir(join(tmpdir(), 'cordon-hp-'));
  writeFileSync(join(d, 'config'), '[user]\nname=x\n[core]\n  HooksPath = "/x/hooks"\n[remote "o"]\nhooksPath = nope\n');
  assert.equal(readHooksPath(join(d, 'config')), '/x/hooks');
  assert.equal(readHooksPath(join(d, 'missing')), undefined);
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
  assert.ok(p.watch.every((x) => x.repo === (x.kind === 'repository' ? plain : w.proj)), 'each names the work tree git would use it in');
  writeFileSync(join(w.proj, '.git', 'commondir'), '.');
  const settings = [parseSettings(JSON.stringify({ filesystem: { allowGitConfig: true } }), join(w.root, 's.json'))];
  const q = buildPolicy({ cwd: w.proj, home: w.home, settings, cli: { ...noCli, allowWrite: [plain] }, scan: () => ({ repos: [w.proj], submoduleGitDirs: [], matches: [] }) });
  assert.ok(!q.watch.some((x) => x.path.endsWith('commondir')), 'an existing commondir is protected by a mount, not watched');
  assert.equal(q.watch.find((x) => x.kind === 'repository')?.keepConfig, true, 'allowGitConfig: a new repository keeps its config');
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
  // In $HOME a missing name may be guarded by a read-only rule or watched and moved aside after the run.
  const guarded = (p: ReturnType<typeof buildPolicy>, path: string) => ro(p, path) || p.watch.some((x) => x.path === path);
  const names = ['.devcontainer.json', 'CLAUDE.md', 'CLAUDE.local.md', 'AGENTS.md', 'AGENTS.override.md', 'GEMINI.md', '.windsurfrules', '.clinerules', '.aider.conf.yml', 'opencode.json', 'opencode.jsonc', '.opencode', '.continue', '.roo', '.kiro', '.amazonq'];
  for (const n of names) assert.ok(PROTECTED_NAMES.some((x) => x.name === n && x.why.length > 0), n);
  assert.ok(SHELL_STARTUP.some((x) => x.name === '.bash_aliases'));
  const inHome = ['.local/lib', '.aws/config', '.aws/credentials', '.npmrc', '.cargo/config.toml', '.cargo/config', '.srt-settings.json'];
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
  // An existing store keeps its deny, with $HOME writable too.
  const home = buildPolicy({ cwd: w.proj, home: w.home, settings: [], cli: { ...noCli, allowWrite: ['~'] }, scan: noScan });
  assert.ok(home.rules.some((r) => r.path === join(w.home, '.ssh') && r.access === 'deny-read'));
});
