/**
 * Project settings (src/policy/project.ts): which files are found, how they
 * are read (no link followed, no FIFO waited on, bounded), and the keys a
 * project file may not set to a widening value. The path rules are judged
 * against the compiled policy in test/unit/platform/linux/narrowing.test.ts;
 * the real CLI in test/integration/project-settings/project-settings.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allowCovers, findProjectSettings, parseProjectFile, PROJECT_KEYS, PROJECT_MAX_BYTES, refuseWideningKeys, sha256Hex, wideningKeysIn, type ParsedProject } from '../../../src/policy/project.js';
import { parseSettings, SETTINGS_SHAPE } from '../../../src/policy/settings.js';
import type { Shape } from '../../../src/policy/schema.js';
import { parseAllowedDomains } from '../../../src/network/domain-rules.js';
import type { CliRules } from '../../../src/policy/policy.js';
import { CordonError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/tmp.js';

const noCli: CliRules = { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [], allowWriteNoDelete: [] };
const hints = { userSettings: '/h/.config/cordon/settings.json' };
const FILE = '/p/.cordon/settings.json';

function errOf(fn: () => unknown): CordonError {
  try { fn(); } catch (e) { if (e instanceof CordonError) return e; throw e; }
  assert.fail('expected a CordonError');
}

/** A project file with this JSON, its Settings parsed without the checks of keys cordon refuses everywhere. */
function project(json: Record<string, unknown>): ParsedProject {
  return { file: { path: FILE, bytes: Buffer.from(JSON.stringify(json)), sha256: '' }, settings: parseSettings('{}', FILE), json };
}
function projectParsed(json: Record<string, unknown>): ParsedProject {
  return { file: { path: FILE, bytes: Buffer.from(JSON.stringify(json)), sha256: '' }, settings: parseSettings(JSON.stringify(json), FILE), json };
}
const user = (json: Record<string, unknown>) => parseSettings(JSON.stringify(json), '/h/.config/cordon/settings.json');

test('every key of the settings schema has a decision for project files, and no decision names a key the schema lacks', () => {
  const missing: string[] = [];
  const leaves: string[] = [];
  const walk = (shape: Shape, path: string) => {
    if (path && Object.hasOwn(PROJECT_KEYS, path)) { leaves.push(path); return; }
    if (shape.kind !== 'object') { missing.push(path); return; }
    for (const [k, s] of Object.entries(shape.fields)) walk(s, path ? `${path}.${k}` : k);
  };
  walk(SETTINGS_SHAPE, '');
  assert.deepEqual(missing, [], 'keys without a decision');
  assert.deepEqual(Object.keys(PROJECT_KEYS).filter((k) => !leaves.includes(k)), [], 'decisions for keys the schema does not have');
});

/** For each key a project may not widen by value: a value that widens, and one it may set. */
const BY_VALUE: Record<string, [unknown, unknown | undefined]> = {
  'filesystem.disabled': [true, false],
  'network.allowAllUnixSockets': [true, false],
  'network.allowLocalBinding': [true, false],
  'network.allowMachLookup': [['com.apple.trustd'], []],
  'network.httpProxyPort': [8080, undefined],
  'network.socksProxyPort': [1080, undefined],
  'network.mitmProxy': [{ socketPath: '/x', domains: ['a.example'] }, undefined],
  'network.filterRequest': ['x', undefined],
  'network.tlsTerminate': [{}, undefined],
  'credentials.broker': [[{ env: 'T', hosts: ['a.example'], header: 'x-api-key' }], undefined],
  'credentials.aws': [[{ hosts: ['a.example'] }], undefined],
  'network.parentProxy': [{ http: 'http://p:1' }, undefined],
  'network.allowPlaintextHeaderSet': [true, false],
  'network.stripResponseHeaders': [['set-cookie'], []],
  'network.ambiguousRequestTarget': ['asSpelled', 'refuse'],
  'credentials.files': [[{ path: '/x' }], []],
  'credentials.awsPairs': [[{}], []],
  'credentials.allowPlaintextInject': [true, false],
  'credentials.sigv4': [{ streaming: 'passthrough' }, { streaming: 'deny', presigned: 'deny' }],
  ignoreViolations: [{ '*': ['/usr'] }, {}],
  enableWeakerNestedSandbox: [true, false],
  allowNestedUserNamespaces: [true, false],
  enableWeakerNetworkIsolation: [true, false],
  allowAppleEvents: [true, false],
  allowPty: [true, false],
  ripgrep: [{ command: 'rg' }, undefined],
  mandatoryDenySearchDepth: [2, 3],
  seccomp: [{ applyPath: '/x' }, undefined],
  bwrapPath: ['/usr/bin/bwrap', undefined],
  socatPath: ['/usr/bin/socat', undefined],
  javaAgentJarPath: ['/x.jar', undefined],
  windows: [{ backend: 'mxc' }, undefined],
  'git.safeDirectories': [['/x'], []],
};

const nest = (key: string, v: unknown): Record<string, unknown> => key.split('.').reverse().reduce<unknown>((acc, k) => ({ [k]: acc }), v) as Record<string, unknown>;

for (const [key, [bad, good]] of Object.entries(BY_VALUE)) {
  test(`project file: ${key} = ${JSON.stringify(bad)} is refused, naming the file, the key and both fixes`, () => {
    const e = errOf(() => refuseWideningKeys(project(nest(key, bad)), [], noCli, hints));
    assert.equal(e.code, 'CORDON_ERR_PROJECT_WIDENS');
    assert.ok(e.message.startsWith(`${FILE}: ${key} = `), e.message);
    assert.match(e.message, /can only narrow/);
    assert.ok(e.message.includes(`cordon trust ${FILE}`), e.message);
    assert.ok(e.message.includes(hints.userSettings), e.message);
    assert.deepEqual(wideningKeysIn(nest(key, bad)), [key], 'cordon trust names it as a key that widens');
    if (good !== undefined) {
      refuseWideningKeys(project(nest(key, good)), [], noCli, hints);
      assert.deepEqual(wideningKeysIn(nest(key, good)), []);
    }
  });
}

test('the keys that only narrow load from a project file', () => {
  refuseWideningKeys(projectParsed({
    $schema: 'https://example.invalid/s.json',
    filesystem: { denyRead: ['secret'], denyWrite: ['src'] },
    network: { mode: 'none', deniedDomains: ['evil.com'], deniedDomainReasons: { 'evil.com': 'no' }, deniedResolvedAddresses: ['10.0.0.0/8'], denyPrivateAddresses: true, strictAllowlist: true, requireHostMatch: false, refuseOpaqueTunnels: true },
  }), [], noCli, hints);
});

test('filesystem.allowGitConfig: true only when another source sets it', () => {
  const p = projectParsed({ filesystem: { allowGitConfig: true } });
  const e = errOf(() => refuseWideningKeys(p, [], noCli, hints));
  assert.equal(e.code, 'CORDON_ERR_PROJECT_WIDENS');
  assert.ok(e.message.startsWith(`${FILE}: filesystem.allowGitConfig = true would widen`), e.message);
  refuseWideningKeys(p, [user({ filesystem: { allowGitConfig: true } })], noCli, hints);
  refuseWideningKeys(projectParsed({ filesystem: { allowGitConfig: false } }), [], noCli, hints);
});

test('environment.pass: only variables another source (or --pass-env) passes; environment.withhold always loads', () => {
  const p = projectParsed({ environment: { pass: ['NPM_TOKEN', 'GITHUB_TOKEN'] } });
  const e = errOf(() => refuseWideningKeys(p, [user({ environment: { pass: ['NPM_TOKEN'] } })], noCli, hints));
  assert.equal(e.code, 'CORDON_ERR_PROJECT_WIDENS');
  assert.ok(e.message.startsWith(`${FILE}: environment.pass[1] = "GITHUB_TOKEN" would widen`), e.message);
  refuseWideningKeys(p, [user({ environment: { pass: ['NPM_TOKEN', 'GITHUB_TOKEN'] } })], noCli, hints);
  refuseWideningKeys(p, [user({ environment: { pass: ['NPM_TOKEN'] } })], { ...noCli, passEnv: ['GITHUB_TOKEN'] }, hints);
  refuseWideningKeys(projectParsed({ environment: { withhold: ['DATABASE_URL'], pass: [] } }), [], noCli, hints);
});

test('network.mode: no more open than the other sources give', () => {
  const mode = (m: string) => projectParsed({ network: { mode: m } });
  // Nothing allowed elsewhere: the network is none.
  for (const m of ['filtered', 'dangerously-unfiltered']) {
    const e = errOf(() => refuseWideningKeys(mode(m), [], noCli, hints));
    assert.ok(e.message.startsWith(`${FILE}: network.mode = "${m}" would widen what your own settings allow (the network is none without it (default: no domain is allowed))`), e.message);
    assert.match(e.message, /--network on the command line/);
  }
  refuseWideningKeys(mode('none'), [], noCli, hints);
  // A domain allowed by the user: filtered; the project may keep it or close it, not open it up.
  const allowing = [user({ network: { allowedDomains: ['example.com'] } })];
  refuseWideningKeys(mode('filtered'), allowing, noCli, hints);
  refuseWideningKeys(mode('none'), allowing, noCli, hints);
  assert.equal(errOf(() => refuseWideningKeys(mode('dangerously-unfiltered'), allowing, noCli, hints)).code, 'CORDON_ERR_PROJECT_WIDENS');
  // The command line is a source too.
  refuseWideningKeys(mode('dangerously-unfiltered'), [], { ...noCli, network: 'dangerously-unfiltered' }, hints);
  assert.equal(errOf(() => refuseWideningKeys(mode('filtered'), [], { ...noCli, network: 'none' }, hints)).code, 'CORDON_ERR_PROJECT_WIDENS');
});

test('network.denyPrivateAddresses: false is refused where another source sets it true', () => {
  const p = projectParsed({ network: { denyPrivateAddresses: false } });
  refuseWideningKeys(p, [], noCli, hints);
  const e = errOf(() => refuseWideningKeys(p, [user({ network: { denyPrivateAddresses: true } })], noCli, hints));
  assert.ok(e.message.startsWith(`${FILE}: network.denyPrivateAddresses = false would widen`), e.message);
  assert.deepEqual(wideningKeysIn({ network: { denyPrivateAddresses: false } }), ['network.denyPrivateAddresses']);
  assert.deepEqual(wideningKeysIn({ network: { denyPrivateAddresses: true } }), []);
});

test('network.allowedDomains: only entries another source already allows', () => {
  const p = projectParsed({ network: { allowedDomains: ['api.example.com', 'evil.com:443'] } });
  const e = errOf(() => refuseWideningKeys(p, [], noCli, hints));
  assert.ok(e.message.startsWith(`${FILE}: network.allowedDomains[0] = "api.example.com" would widen what your own settings allow (no other source allows api.example.com, and the network is none without it)`), e.message);
  assert.match(e.message, /--allow-domain on the command line/);
  const e2 = errOf(() => refuseWideningKeys(p, [user({ network: { allowedDomains: ['*.example.com'] } })], noCli, hints));
  assert.ok(e2.message.startsWith(`${FILE}: network.allowedDomains[1] = "evil.com:443"`), e2.message);
  refuseWideningKeys(p, [user({ network: { allowedDomains: ['*.example.com'] } })], { ...noCli, allowDomains: ['evil.com'] }, hints);
});

test('allowCovers: a rule covers another only when it allows every host and port the other does', () => {
  const rule = (s: string) => parseAllowedDomains([s], 'k', 'f')[0]!;
  const table: [string, string, boolean][] = [
    ['example.com', 'example.com', true],
    ['example.com', 'api.example.com', false],
    ['*.example.com', 'api.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', '*.api.example.com', true],
    ['*.api.example.com', '*.example.com', false],
    ['*.example.com', 'evilexample.com', false],
    ['example.com', 'example.com:443', true],
    ['example.com:443', 'example.com', false],
    ['example.com:443', 'example.com:443', true],
    ['example.com:443', 'example.com:8443', false],
    ['192.0.2.1', '192.0.2.1:80', true],
    ['192.0.2.1', '192.0.2.2', false],
    ['[2001:db8::1]', '[2001:db8::1]', true],
    ['example.com', '192.0.2.1', false],
  ];
  for (const [outer, inner, want] of table) assert.equal(allowCovers(rule(outer), rule(inner)), want, `${outer} covers ${inner}`);
});

/** A directory tree for the look-up tests. */
function tree(): string {
  return realpathSync(tempDir(join(tmpdir(), 'cordon-project-')));
}
const put = (p: string, text = '{}') => { mkdirSync(join(p, '..'), { recursive: true }); writeFileSync(p, text); };

test('found from the repository root down to the working directory, outermost first; without a repository only the working directory', () => {
  const root = tree();
  const repo = join(root, 'repo');
  mkdirSync(join(repo, '.git'), { recursive: true });
  put(join(root, '.cordon', 'settings.json')); // above the repository: never read
  put(join(repo, '.cordon', 'settings.json'), '{"filesystem":{"denyRead":["a"]}}');
  put(join(repo, 'pkg', '.cordon', 'settings.json'), '{"filesystem":{"denyRead":["b"]}}');
  mkdirSync(join(repo, 'pkg', 'src', 'deep'), { recursive: true });
  const paths = (cwd: string) => findProjectSettings(cwd).map((f) => f.path);
  assert.deepEqual(paths(repo), [join(repo, '.cordon', 'settings.json')]);
  assert.deepEqual(paths(join(repo, 'pkg', 'src', 'deep')), [join(repo, '.cordon', 'settings.json'), join(repo, 'pkg', '.cordon', 'settings.json')]);
  // A nested repository (a .git file, as a submodule or worktree has) is a root of its own.
  writeFileSync(join(repo, 'pkg', '.git'), 'gitdir: ../.git/modules/pkg\n');
  assert.deepEqual(paths(join(repo, 'pkg', 'src')), [join(repo, 'pkg', '.cordon', 'settings.json')]);
  // No repository up to /: only the working directory's own file.
  const plain = join(root, 'plain');
  put(join(plain, 'a', '.cordon', 'settings.json'));
  assert.deepEqual(paths(join(plain, 'a')), [join(plain, 'a', '.cordon', 'settings.json')]);
  mkdirSync(join(plain, 'a', 'b'));
  assert.deepEqual(paths(join(plain, 'a', 'b')), [], 'the parent of a directory outside any repository is not its project');
  // A .cordon without settings.json (cordon's own placeholder) gives nothing.
  mkdirSync(join(plain, 'a', 'b', '.cordon'));
  assert.deepEqual(paths(join(plain, 'a', 'b')), []);
});

test('the bytes read are the bytes hashed; relative paths are taken from the project directory', () => {
  const root = tree();
  mkdirSync(join(root, '.git'));
  const text = '{"filesystem":{"denyRead":["secret","/abs","~/x"],"allowWrite":["out"]},"network":{"allowUnixSockets":["run/s.sock"]}}';
  put(join(root, '.cordon', 'settings.json'), text);
  mkdirSync(join(root, 'sub'));
  const [f] = findProjectSettings(join(root, 'sub'));
  assert.equal(f!.sha256, sha256Hex(Buffer.from(text)));
  assert.equal(f!.bytes.toString(), text);
  const p = parseProjectFile(f!);
  assert.deepEqual(p.settings.filesystem.denyRead.map((e) => e.path), [join(root, 'secret'), '/abs', '~/x']);
  assert.deepEqual(p.settings.filesystem.allowWrite.map((e) => e.path), [join(root, 'out')]);
  assert.ok(p.settings.filesystem.definesWritable);
  assert.deepEqual(p.settings.network.allowUnixSockets, [join(root, 'run', 's.sock')]);
  // Files the proxy reads: from the project directory too, not from where cordon starts.
  const tlsText = JSON.stringify({ network: { tlsTerminate: { extraCaCertPaths: ['certs/extra.pem', '/etc/ca.pem'], caCertPath: 'ca/ca.pem', caKeyPath: 'ca/ca.key' } }, credentials: { broker: [{ env: 'API_TOKEN', from: { file: 'keys/token' }, hosts: ['api.example.com'], header: 'authorization' }] } });
  put(join(root, '.cordon', 'settings.json'), tlsText);
  const [g] = findProjectSettings(join(root, 'sub'));
  const q = parseProjectFile(g!);
  assert.deepEqual(q.settings.network.tls?.extraCaCertPaths, [join(root, 'certs', 'extra.pem'), '/etc/ca.pem']);
  assert.deepEqual(q.settings.network.tls?.ca, { cert: join(root, 'ca', 'ca.pem'), key: join(root, 'ca', 'ca.key') });
  assert.deepEqual(q.settings.broker?.map((b) => b.from), [{ file: join(root, 'keys', 'token') }]);
});

test('a .cordon or settings.json that is a symbolic link is refused, wherever it points; so is anything but a regular file', () => {
  const root = tree();
  const outside = join(root, 'outside');
  put(join(outside, 'settings.json'), '{"filesystem":{"allowWrite":["/"]}}');
  const proj = join(root, 'proj');
  mkdirSync(join(proj, '.git'), { recursive: true });
  symlinkSync(outside, join(proj, '.cordon'));
  let e = errOf(() => findProjectSettings(proj));
  assert.equal(e.code, 'CORDON_ERR_SETTINGS_INVALID');
  assert.ok(e.message.startsWith(`${join(proj, '.cordon')} is a symbolic link (to ${outside}): cordon reads project settings only from a regular file inside the project, never through a link`), e.message);

  const proj2 = join(root, 'proj2');
  mkdirSync(join(proj2, '.git'), { recursive: true });
  mkdirSync(join(proj2, '.cordon'));
  symlinkSync(join(outside, 'settings.json'), join(proj2, '.cordon', 'settings.json'));
  e = errOf(() => findProjectSettings(proj2));
  assert.ok(e.message.startsWith(`${join(proj2, '.cordon', 'settings.json')} is a symbolic link (to ${join(outside, 'settings.json')})`), e.message);
  // Even a link that stays in the project.
  const proj3 = join(root, 'proj3');
  mkdirSync(join(proj3, '.git'), { recursive: true });
  put(join(proj3, 'conf', 'settings.json'));
  symlinkSync('conf', join(proj3, '.cordon'));
  assert.match(errOf(() => findProjectSettings(proj3)).message, /is a symbolic link \(to conf\)/);

  // A FIFO is refused at once (O_NONBLOCK), never waited on.
  const proj4 = join(root, 'proj4');
  mkdirSync(join(proj4, '.git'), { recursive: true });
  mkdirSync(join(proj4, '.cordon'));
  assert.equal(spawnSync('mkfifo', [join(proj4, '.cordon', 'settings.json')]).status, 0);
  assert.match(errOf(() => findProjectSettings(proj4)).message, /settings\.json is not a regular file/);
  // A directory, and a .cordon that is a file.
  const proj5 = join(root, 'proj5');
  mkdirSync(join(proj5, '.git'), { recursive: true });
  mkdirSync(join(proj5, '.cordon', 'settings.json'), { recursive: true });
  assert.match(errOf(() => findProjectSettings(proj5)).message, /settings\.json is not a regular file/);
  const proj6 = join(root, 'proj6');
  mkdirSync(join(proj6, '.git'), { recursive: true });
  writeFileSync(join(proj6, '.cordon'), '{}');
  assert.match(errOf(() => findProjectSettings(proj6)).message, /\.cordon is not a directory/);
});

test('a project settings file larger than 1 MiB is refused', () => {
  const root = tree();
  mkdirSync(join(root, '.git'));
  put(join(root, '.cordon', 'settings.json'), `{"$schema":"${'x'.repeat(PROJECT_MAX_BYTES)}"}`);
  const e = errOf(() => findProjectSettings(root));
  assert.match(e.message, /more than cordon reads/);
});
