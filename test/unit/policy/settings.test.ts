import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkBwrapPath, loadSettingsFile, parseSettings, UNIMPLEMENTED } from '../../../src/policy/settings.js';
import { CordonError, SettingsError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/tmp.js';


const F = '/x/settings.json';

function errOf(fn: () => unknown): CordonError {
  try { fn(); } catch (e) { if (e instanceof CordonError) return e; throw e; }
  assert.fail('expected a CordonError');
}

test('an srt settings file parses unchanged', () => {
  const s = parseSettings(JSON.stringify({
    network: { allowedDomains: [], deniedDomains: ['evil.com'], allowLocalBinding: false, allowUnixSockets: [] },
    filesystem: { denyRead: ['~/.ssh', { path: '/weird[1]', literal: true }], allowRead: [], allowWrite: ['.', '/tmp'], denyWrite: ['.env'], allowGitConfig: false },
    ignoreViolations: { '*': ['/usr/bin'] },
    enableWeakerNestedSandbox: false,
    mandatoryDenySearchDepth: 3,
    ripgrep: { command: 'rg' },
  }), F);
  assert.deepEqual(s.filesystem.denyRead, [{ path: '~/.ssh', literal: false }, { path: '/weird[1]', literal: true }]);
  assert.deepEqual(s.filesystem.allowWrite.map((e) => e.path), ['.', '/tmp']);
  assert.deepEqual(s.warnings, []);
});

test('unknown key is an error naming the key path and suggesting the fix', () => {
  const e = errOf(() => parseSettings('{"filesystem":{"denyReed":["~/.ssh"]}}', F));
  assert.ok(e instanceof SettingsError);
  assert.equal((e as SettingsError).keyPath, 'filesystem.denyReed');
  assert.match(e.message, /did you mean "denyRead"/);
  assert.match(e.message, /^\/x\/settings\.json: filesystem\.denyReed:/);
});

test('wrong types name key path, expectation and value', () => {
  const cases: [string, RegExp][] = [
    ['{"filesystem":{"allowWrite":"."}}', /filesystem\.allowWrite: expected an array of .*found the string "\."/],
    ['{"filesystem":{"denyRead":[1]}}', /filesystem\.denyRead\[0\]: expected a path string.*found number 1/],
    ['{"network":{"httpProxyPort":70000}}', /network\.httpProxyPort: expected a number ≤ 65535/],
    ['[]', /\(root\): expected an object, found an array/],
    ['{"filesystem":{"denyRead":[{"path":"/a"}]}}', /filesystem\.denyRead\[0\]: expected a path string, or \{ "path"/],
    ['{"filesystem":{"denyRead":["a\\u0000b"]}}', /filesystem\.denyRead\[0\]/],
  ];
  for (const [text, re] of cases) assert.match(errOf(() => parseSettings(text, F)).message, re, text);
});

test('empty and non-JSON files are errors, never defaults', () => {
  assert.match(errOf(() => parseSettings('  \n', F)).message, /^\/x\/settings\.json: the file is empty/);
  const e = errOf(() => parseSettings('{"filesystem":', F));
  assert.equal(e.code, 'CORDON_ERR_SETTINGS_INVALID');
  assert.match(e.message, /not valid JSON/);
});

test('keys that would weaken the sandbox are refused, naming the key and the fix', () => {
  assert.match(errOf(() => parseSettings('{"enableWeakerNestedSandbox":true}', F)).message, /^\/x\/settings\.json: enableWeakerNestedSandbox = true is not implemented in cordon: .*cordon does not run weaker sandboxes\. Remove it or set it to false$/);
  assert.match(errOf(() => parseSettings('{"filesystem":{"disabled":true}}', F)).message, /filesystem\.disabled = true is not implemented in cordon/);
  assert.match(errOf(() => parseSettings('{"credentials":{"files":[{"path":"~/.aws","mode":"deny"}]}}', F)).message, /credentials\.files = \[\{"path":"~\/\.aws","mode":"deny"\}\] is not implemented in cordon: srt withholds or masks these files, and cordon would leave them readable\. Remove it or set it to \[\]; list them in filesystem\.denyRead/);
});

/**
 * Every srt key cordon does not implement, tried both ways: a value that
 * asks for nothing beyond what cordon does loads (with no effect), any
 * other is refused with an error naming the key. `ok`/`bad` are values
 * srt's own schema accepts; a key with no `bad` is accepted whatever it is.
 */
const SRT_SAMPLES: Record<string, { ok?: unknown[]; bad?: unknown[] }> = {
  'network.httpProxyPort': { bad: [8080] },
  'network.socksProxyPort': { bad: [1080] },
  'network.filterRequest': { bad: ['() => true', {}] },
  'network.stripResponseHeaders': { ok: [[]], bad: [['set-cookie']] },
  'network.requireHostMatch': { ok: [true, false] },
  'network.allowPlaintextHeaderSet': { ok: [true, false] },
  'network.ambiguousRequestTarget': { ok: ['refuse', 'asSpelled', 'normalize'] },
  'network.strictAllowlist': { ok: [true, false] },
  'network.deniedDomainReasons': { ok: [{ 'github.com:22': 'use https' }] },
  'network.allowLocalBinding': { ok: [true, false] },
  'network.allowMachLookup': { ok: [['com.example.*']] },
  'credentials.files': { ok: [[]], bad: [[{ path: '~/.netrc', mode: 'deny' }]] },
  'credentials.envVars': { ok: [[], [{ name: 'GITHUB_TOKEN', mode: 'deny' }]], bad: [[{ name: 'GITHUB_TOKEN', mode: 'mask' }], [{ name: 'A', mode: 'deny' }, { name: 'B', mode: 'mask', injectHosts: ['x.com'] }]] },
  'credentials.awsPairs': { ok: [[]], bad: [[{ accessKeyIdVar: 'A', secretAccessKeyVar: 'B' }]] },
  'credentials.allowPlaintextInject': { ok: [true, false] },
  'credentials.sigv4': { ok: [{ streaming: 'deny', presigned: 'deny', sigv4a: 'deny' }, {}], bad: [{ streaming: 'passthrough', presigned: 'deny' }] },
  'filesystem.disabled': { ok: [false], bad: [true] },
  enableWeakerNestedSandbox: { ok: [false], bad: [true] },
  allowNestedUserNamespaces: { ok: [false], bad: [true] },
  enableWeakerNetworkIsolation: { ok: [true, false] },
  allowAppleEvents: { ok: [true, false] },
  allowPty: { ok: [true, false] },
  windows: { ok: [{ backend: 'srt-win', proxyPortRange: [60080, 60089], srtWin: { path: 'C:\\srt-win.exe' } }] },
  ignoreViolations: { ok: [{ '*': ['/usr/bin'], 'git push': ['/usr/bin/nc'] }] },
  ripgrep: { ok: [{ command: 'rg', args: ['--hidden'] }] },
  mandatoryDenySearchDepth: { ok: [1, 3, 10] },
  seccomp: { ok: [{ applyPath: '/opt/apply-seccomp', argv0: 'apply-seccomp' }] },
  socatPath: { ok: ['/usr/bin/socat'] },
  javaAgentJarPath: { ok: ['/opt/srt-proxy-agent.jar'] },
  git: { ok: [{ safeDirectories: ['/work'] }] },
};

function withKey(key: string, value: unknown): string {
  const root: Record<string, unknown> = {};
  const parts = key.split('.');
  let at = root;
  for (const k of parts.slice(0, -1)) at = (at[k] = {}) as Record<string, unknown>;
  at[parts.at(-1)!] = value;
  return JSON.stringify(root);
}

test('srt keys cordon does not implement: each value loads only if it asks for nothing cordon does not do', () => {
  assert.deepEqual(Object.keys(SRT_SAMPLES).sort(), UNIMPLEMENTED.map((u) => u.key).sort(), 'every key in the table is tried here');
  for (const u of UNIMPLEMENTED) {
    const sample = SRT_SAMPLES[u.key]!;
    assert.equal(Boolean(u.refused), Boolean(sample.bad), `${u.key}: refused exactly when a refused value is tried`);
    for (const v of sample.ok ?? []) {
      const s = parseSettings(withKey(u.key, v), F);
      assert.deepEqual(s.warnings, [], `${u.key} = ${JSON.stringify(v)} loads without a note`);
    }
    for (const v of sample.bad ?? []) {
      const e = errOf(() => parseSettings(withKey(u.key, v), F));
      assert.equal(e.code, 'CORDON_ERR_SETTINGS_INVALID');
      assert.ok(e.message.startsWith(`${F}: ${u.key} = `), e.message);
      assert.match(e.message, / is not implemented in cordon: .+\. Remove it/, e.message);
    }
  }
});

test('srt keys keep srt\'s shapes; unknown keys inside them are errors with a hint', () => {
  assert.match(errOf(() => parseSettings('{"credentials":{"file":[]}}', F)).message, /credentials\.file: .*did you mean "files"/);
  assert.match(errOf(() => parseSettings('{"network":{"tlsTerminat":{}}}', F)).message, /network\.tlsTerminat: .*did you mean "tlsTerminate"/);
  assert.match(errOf(() => parseSettings('{"network":{"refuseOpaqueTunnels":"yes"}}', F)).message, /network\.refuseOpaqueTunnels: expected true or false/);
  assert.match(errOf(() => parseSettings('{"network":{"ambiguousRequestTarget":"loose"}}', F)).message, /expected "refuse", "asSpelled" or "normalize"/);
  assert.match(errOf(() => parseSettings('{"mandatoryDenySearchDepth":0}', F)).message, /mandatoryDenySearchDepth: expected a number ≥ 1/);
  assert.match(errOf(() => parseSettings('{"credentials":{"sigv4":{"streaming":"allow"}}}', F)).message, /credentials\.sigv4\.streaming: expected "deny" or "passthrough"/);
});

test('a file that has filesystem.allowWrite (or allowWriteNoDelete) names the writable set, even an empty one', () => {
  const defines = (text: string) => parseSettings(text, F).filesystem.definesWritable;
  assert.equal(defines('{"filesystem":{"allowWrite":[]}}'), true);
  assert.equal(defines('{"filesystem":{"allowWrite":["./out"]}}'), true);
  assert.equal(defines('{"filesystem":{"allowWriteNoDelete":["./data"]}}'), true);
  assert.equal(defines('{"filesystem":{"denyRead":["~/x"],"denyWrite":["."]}}'), false);
  assert.equal(defines('{"network":{"allowedDomains":["a.com"]}}'), false);
});

test('bwrapPath: accepted when it names the bubblewrap cordon runs, refused (with the fix) when it names another', () => {
  const dir = tempDir(join(tmpdir(), 'cordon-bwrap-'));
  const real = join(dir, 'bwrap');
  writeFileSync(real, '');
  symlinkSync(real, join(dir, 'link'));
  const s = (p: string) => parseSettings(JSON.stringify({ bwrapPath: p }), F);
  checkBwrapPath([s(real), s(join(dir, 'link')), parseSettings('{}', F)], real);
  const e = errOf(() => checkBwrapPath([s('/opt/other/bwrap')], real));
  assert.equal(e.code, 'CORDON_ERR_SETTINGS_INVALID');
  assert.equal(e.message, `${F}: bwrapPath = "/opt/other/bwrap" is not implemented in cordon: srt runs the bubblewrap it names, and cordon runs ${real}. Remove it, or run cordon with CORDON_BWRAP=/opt/other/bwrap to use that one`);
});

test('network rules are parsed at load time, with key paths; Unix socket grants are kept, allowAllUnixSockets warns', () => {
  const s = parseSettings('{"network":{"allowedDomains":["Example.COM.","*.api.example.org:443"],"deniedDomains":["*"],"mode":"filtered"}}', F);
  assert.equal(s.network.mode, 'filtered');
  assert.equal(s.network.allow.length, 2);
  assert.equal(s.network.deny.length, 1);
  assert.deepEqual(s.warnings, []);
  assert.match(errOf(() => parseSettings('{"network":{"allowedDomains":["ok.com","bad..com"]}}', F)).message, /network\.allowedDomains\[1\]/);
  assert.match(errOf(() => parseSettings('{"network":{"mode":"open"}}', F)).message, /network\.mode: expected "none", "filtered" or "dangerously-unfiltered"/);
  const u = parseSettings('{"network":{"allowUnixSockets":["/var/run/docker.sock"]}}', F);
  assert.deepEqual([u.network.allowUnixSockets, u.warnings], [['/var/run/docker.sock'], []]);
  const all = parseSettings('{"network":{"allowAllUnixSockets":true}}', F);
  assert.match(all.warnings[0]!, /allowAllUnixSockets is not supported .* only the sockets named in network\.allowUnixSockets are reachable/);
});

test('loadSettingsFile: missing and unreadable files are distinct errors', () => {
  const dir = tempDir(join(tmpdir(), 'cordon-settings-'));
  assert.equal(errOf(() => loadSettingsFile(join(dir, 'nope.json'))).code, 'CORDON_ERR_SETTINGS_MISSING');
  const dirAsFile = errOf(() => loadSettingsFile(dir));
  assert.equal(dirAsFile.code, 'CORDON_ERR_SETTINGS_UNREADABLE');
  const f = join(dir, 's.json');
  writeFileSync(f, '{"filesystem":{"allowWriteNoDelete":["data"]}}');
  assert.deepEqual(loadSettingsFile(f).filesystem.allowWriteNoDelete, [{ path: 'data', literal: false }]);
  chmodSync(f, 0o000);
  if (process.getuid?.() !== 0) assert.equal(errOf(() => loadSettingsFile(f)).code, 'CORDON_ERR_SETTINGS_UNREADABLE');
});

test('network.tlsTerminate: srt\'s keys and cordon\'s domains parse; a CA needs its key; bad values name the key', () => {
  const t = parseSettings('{"network":{"tlsTerminate":{"domains":["api.example.com"],"excludeDomains":["*.pinned.example"],"extraCaCertPaths":["~/ca.pem"],"caCertPath":"/ca.pem","caKeyPath":"/ca.key","maxTunnels":10,"handshakeTimeoutMs":500}}}', F).network.tls!;
  assert.deepEqual(t.domains!.map((r) => r.keyPath), ['network.tlsTerminate.domains[0]']);
  assert.deepEqual(t.exclude.map((r) => r.source), ['*.pinned.example']);
  assert.deepEqual([t.extraCaCertPaths, t.ca, t.maxTunnels, t.handshakeMs], [['~/ca.pem'], { cert: '/ca.pem', key: '/ca.key' }, 10, 500]);
  const all = parseSettings('{"network":{"tlsTerminate":{}}}', F).network;
  assert.deepEqual([all.tls!.domains, all.tls!.exclude, all.refuseOpaqueTunnels], [undefined, [], false]);
  assert.equal(parseSettings('{"network":{}}', F).network.tls, undefined);
  assert.equal(parseSettings('{"network":{"refuseOpaqueTunnels":true}}', F).network.refuseOpaqueTunnels, true);
  assert.match(errOf(() => parseSettings('{"network":{"tlsTerminate":{"caCertPath":"/ca.pem"}}}', F)).message, /needs caCertPath and caKeyPath together/);
  assert.match(errOf(() => parseSettings('{"network":{"tlsTerminate":{"excludeDomains":["bad..com"]}}}', F)).message, /network\.tlsTerminate\.excludeDomains\[0\]/);
  assert.match(errOf(() => parseSettings('{"network":{"tlsTerminate":{"maxTunnels":0}}}', F)).message, /network\.tlsTerminate\.maxTunnels: expected a number ≥ 1/);
  assert.match(errOf(() => parseSettings('{"network":{"tlsTerminate":{"caPath":"/x"}}}', F)).message, /network\.tlsTerminate\.caPath/);
  assert.match(errOf(() => parseSettings('{"network":{"tlsTerminate":true}}', F)).message, /network\.tlsTerminate: expected/);
});

test('credentials.broker: an entry names its variable, hosts and header; its source is one of env, file or program; bad entries name the key', () => {
  const b = parseSettings('{"credentials":{"broker":[{"env":"GH_TOKEN","hosts":["api.github.com","github.com:443"],"header":"Authorization","scheme":"Bearer"},{"env":"NPM_TOKEN","from":{"command":["pass","show","npm"]},"hosts":["registry.npmjs.org"],"header":"authorization","scheme":"Bearer"},{"env":"K","from":{"file":"~/k"},"hosts":["x.example"],"header":"x-api-key"}]}}', F).broker!;
  assert.deepEqual(b.map((e) => [e.env, e.from, e.hosts.map((h) => h.source), e.header, e.scheme, e.keyPath]), [
    ['GH_TOKEN', { env: 'GH_TOKEN' }, ['api.github.com', 'github.com:443'], 'authorization', 'Bearer', 'credentials.broker[0]'],
    ['NPM_TOKEN', { command: ['pass', 'show', 'npm'] }, ['registry.npmjs.org'], 'authorization', 'Bearer', 'credentials.broker[1]'],
    ['K', { file: '~/k' }, ['x.example'], 'x-api-key', undefined, 'credentials.broker[2]'],
  ]);
  const bad = (entry: object) => errOf(() => parseSettings(JSON.stringify({ credentials: { broker: [entry] } }), F)).message;
  const ok = { env: 'T', hosts: ['a.example'], header: 'x-api-key' };
  assert.match(bad({ ...ok, env: 'not a name' }), /credentials\.broker\[0\]\.env: "not a name" is not an environment variable name/);
  assert.match(bad({ ...ok, header: 'host' }), /credentials\.broker\[0\]\.header: host frames or routes the request/);
  assert.match(bad({ ...ok, header: 'x api' }), /\.header: "x api" is not a header name/);
  assert.match(bad({ ...ok, scheme: 'Bear er' }), /\.scheme: "Bear er" is not an authentication scheme/);
  assert.match(bad({ ...ok, from: { env: 'A', file: '/b' } }), /\.from: name one source/);
  assert.match(bad({ ...ok, from: { command: [] } }), /\.from\.command: name a program/);
  assert.match(bad({ ...ok, from: { command: ['sh -c x'] } }), /\.from\.command: name a program/);
  assert.match(bad({ ...ok, hosts: [] }), /\.hosts is empty/);
  assert.match(bad({ ...ok, hosts: ['bad..host'] }), /credentials\.broker\[0\]\.hosts\[0\]/);
  assert.match(bad({ env: 'T', hosts: ['a.example'] }), /credentials\.broker\[0\]\.header: expected a string, found nothing/);
});

test('credentials.aws: a set of three keys, its variables AWS_* unless named, read from the environment or from a program\'s credential_process JSON; bad entries name the key', () => {
  const [id, secret, token, other] = parseSettings('{"credentials":{"aws":[{"hosts":["*.amazonaws.com"]},{"hosts":["minio.internal"],"env":{"accessKeyId":"MINIO_KEY"},"from":{"command":["aws","configure","export-credentials"]}}]}}', F).broker!;
  assert.deepEqual([id, secret, token].map((e) => [e!.env, e!.from, e!.sigv4, e!.keyPath]), [
    ['AWS_ACCESS_KEY_ID', { env: 'AWS_ACCESS_KEY_ID' }, { role: 'accessKeyId', set: `${F}: credentials.aws[0]` }, 'credentials.aws[0]'],
    ['AWS_SECRET_ACCESS_KEY', { env: 'AWS_SECRET_ACCESS_KEY' }, { role: 'secretAccessKey', set: `${F}: credentials.aws[0]` }, 'credentials.aws[0]'],
    ['AWS_SESSION_TOKEN', { env: 'AWS_SESSION_TOKEN' }, { role: 'sessionToken', set: `${F}: credentials.aws[0]` }, 'credentials.aws[0]'],
  ]);
  assert.deepEqual([other!.env, other!.from, other!.hosts.map((h) => h.source)], ['MINIO_KEY', { process: ['aws', 'configure', 'export-credentials'], field: 'AccessKeyId' }, ['minio.internal']]);
  const bad = (entry: object) => errOf(() => parseSettings(JSON.stringify({ credentials: { aws: [entry] } }), F)).message;
  assert.match(bad({ hosts: [] }), /credentials\.aws\[0\]\.hosts is empty/);
  assert.match(bad({ hosts: ['*'] }), /credentials\.aws\[0\]\.hosts\[0\]: expected a domain/);
  assert.match(bad({ hosts: ['a.example'], env: { secretAccessKey: 'AWS_ACCESS_KEY_ID' } }), /credentials\.aws\[0\]\.env: name three different variables/);
  assert.match(bad({ hosts: ['a.example'], env: { sessionToken: '1X' } }), /credentials\.aws\[0\]\.env\.sessionToken: "1X" is not an environment variable name/);
  assert.match(bad({ hosts: ['a.example'], from: { command: [] } }), /\.from\.command: name a program/);
  assert.match(bad({ hosts: ['a.example'], from: { env: 'X' } }), /credentials\.aws\[0\]\.from/);
  assert.match(bad({ env: {} }), /credentials\.aws\[0\]\.hosts/);
  // services: the only services the keys sign for.
  const [limited] = parseSettings('{"credentials":{"aws":[{"hosts":["*.amazonaws.com"],"services":["s3","execute-api"]}]}}', F).broker!;
  assert.deepEqual(limited!.sigv4, { role: 'accessKeyId', set: `${F}: credentials.aws[0]`, services: ['s3', 'execute-api'] });
  assert.match(bad({ hosts: ['a.example'], services: [] }), /credentials\.aws\[0\]\.services is empty/);
  assert.match(bad({ hosts: ['a.example'], services: ['S3'] }), /credentials\.aws\[0\]\.services\[0\]: "S3" is not an AWS service name/);
});

test('srt\'s credentials.envVars of mode "deny" withhold their variables; a bad name is an error naming it', () => {
  const s = parseSettings('{"credentials":{"envVars":[{"name":"GITHUB_TOKEN","mode":"deny"},{"name":"DATABASE_URL","mode":"deny"}]},"environment":{"withhold":["X"]}}', F);
  assert.deepEqual(s.environment, { pass: [], withhold: ['X', 'GITHUB_TOKEN', 'DATABASE_URL'] });
  assert.match(errOf(() => parseSettings('{"credentials":{"envVars":[{"name":"1BAD","mode":"deny"}]}}', F)).message, /credentials\.envVars\[0\]\.name: "1BAD" is not an environment variable name/);
});

test('network.parentProxy: http:// URLs and a NO_PROXY list load; another scheme, a path, an unknown key or a wrong type is refused naming the key', () => {
  const ok = parseSettings('{"network":{"allowedDomains":["x.com"],"parentProxy":{"http":"http://u:p@proxy.corp:3128","https":"proxy.corp:3129","noProxy":".corp,10.0.0.0/8"}}}', F);
  assert.deepEqual(ok.network.parentProxy, { http: 'http://u:p@proxy.corp:3128', https: 'proxy.corp:3129', noProxy: '.corp,10.0.0.0/8' });
  for (const [json, why] of [
    ['{"https":"https://proxy.corp:3128"}', /network\.parentProxy\.https.*does not speak TLS/],
    ['{"http":"http://proxy.corp:3128/x"}', /network\.parentProxy\.http.*no path/],
    ['{"url":"http://proxy.corp:3128"}', /network\.parentProxy\.url/],
    ['{"http":3128}', /network\.parentProxy\.http/],
    ['{"http":"http://proxy.corp:1","noProxy":"a b$"}', /network\.parentProxy\.noProxy/],
  ] as const) {
    assert.match(errOf(() => parseSettings(`{"network":{"parentProxy":${json}}}`, F)).message, why, json);
  }
});

test('network.mitmProxy: an absolute socket path and domains load (parsed as allowedDomains patterns); a relative path, no domains, a bad pattern or a missing key is refused naming the key', () => {
  const ok = parseSettings('{"network":{"allowedDomains":["x.com"],"mitmProxy":{"socketPath":"/run/mitm.sock","domains":["*.example.com","api.x.com:443"]}}}', F);
  assert.equal(ok.network.mitmProxy?.socketPath, '/run/mitm.sock');
  assert.deepEqual(ok.network.mitmProxy?.domains.map((d) => [d.source, d.keyPath]), [['*.example.com', 'network.mitmProxy.domains[0]'], ['api.x.com:443', 'network.mitmProxy.domains[1]']]);
  for (const [json, why] of [
    ['{"socketPath":"run/mitm.sock","domains":["a.com"]}', /network\.mitmProxy\.socketPath/],
    ['{"socketPath":"/run/mitm.sock","domains":[]}', /network\.mitmProxy\.domains/],
    ['{"socketPath":"/run/mitm.sock","domains":["a b"]}', /network\.mitmProxy\.domains\[0\]/],
    ['{"socketPath":"/run/mitm.sock"}', /network\.mitmProxy/],
  ] as const) {
    assert.match(errOf(() => parseSettings(`{"network":{"mitmProxy":${json}}}`, F)).message, why, json);
  }
});
