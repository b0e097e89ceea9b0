import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettingsFile, parseSettings } from '../../../src/policy/settings.js';
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
  assert.match(errOf(() => parseSettings('  \n', F)).message, /empty file/);
  const e = errOf(() => parseSettings('{"filesystem":', F));
  assert.equal(e.code, 'CORDON_ERR_SETTINGS_INVALID');
  assert.match(e.message, /not valid JSON/);
});

test('keys that would weaken the sandbox are refused', () => {
  assert.match(errOf(() => parseSettings('{"enableWeakerNestedSandbox":true}', F)).message, /enableWeakerNestedSandbox: expected false or absent/);
  assert.match(errOf(() => parseSettings('{"filesystem":{"disabled":true}}', F)).message, /filesystem\.disabled/);
  assert.match(errOf(() => parseSettings('{"credentials":{"files":[{"path":"~/.aws"}]}}', F)).message, /credentials: expected absent/);
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
