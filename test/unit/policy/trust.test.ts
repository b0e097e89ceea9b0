/**
 * Trust records (src/policy/trust.ts): a path with exactly the bytes trusted,
 * nothing else; revoking and listing; a record that is not cordon's shape
 * trusts nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTrusted, listTrust, readTrust, recordTrust, revokeTrust, trustDir } from '../../../src/policy/trust.js';
import { sha256Hex } from '../../../src/policy/project.js';
import { tempDir } from '../../helpers/tmp.js';

const state = () => realpathSync(tempDir(join(tmpdir(), 'cordon-trust-')));
const P = '/p/.cordon/settings.json';
const A = sha256Hex(Buffer.from('{"network":{"allowedDomains":["a.example"]}}'));
const B = sha256Hex(Buffer.from('{"network":{"allowedDomains":["b.example"]}}'));

test('trusted: that path with those bytes only; an edit or another path is not', () => {
  const s = state();
  assert.equal(isTrusted(s, P, A), false);
  const r = recordTrust(s, P, A, new Date('2026-01-02T03:04:05Z'));
  assert.deepEqual(r, { version: 1, path: P, sha256: A, trustedAt: '2026-01-02T03:04:05.000Z' });
  assert.equal(isTrusted(s, P, A), true);
  assert.equal(isTrusted(s, P, B), false, 'edited');
  assert.equal(isTrusted(s, '/q/.cordon/settings.json', A), false, 'the same bytes elsewhere');
  assert.equal(statSync(trustDir(s)).mode & 0o777, 0o700);
  for (const n of readdirSync(trustDir(s))) assert.equal(statSync(join(trustDir(s), n)).mode & 0o777, 0o600);
  // Trusting the new bytes replaces the record.
  recordTrust(s, P, B);
  assert.equal(isTrusted(s, P, A), false);
  assert.equal(isTrusted(s, P, B), true);
  assert.deepEqual(listTrust(s).map((x) => [x.path, x.sha256]), [[P, B]]);
});

test('revoke removes the record; list shows every valid record by path', () => {
  const s = state();
  recordTrust(s, '/z/.cordon/settings.json', A);
  recordTrust(s, P, A);
  assert.deepEqual(listTrust(s).map((x) => x.path), [P, '/z/.cordon/settings.json']);
  assert.equal(revokeTrust(s, P), true);
  assert.equal(revokeTrust(s, P), false);
  assert.equal(isTrusted(s, P, A), false);
  assert.deepEqual(listTrust(s).map((x) => x.path), ['/z/.cordon/settings.json']);
});

test('a record that is not cordon\'s shape, under another path\'s name, or a link trusts nothing', () => {
  const s = state();
  recordTrust(s, P, A);
  const [name] = readdirSync(trustDir(s));
  const file = join(trustDir(s), name!);
  for (const bad of ['not json', '{}', JSON.stringify({ version: 2, path: P, sha256: A, trustedAt: 'x' }), JSON.stringify({ version: 1, path: P, sha256: 'short', trustedAt: 'x' }), JSON.stringify({ version: 1, path: 'relative', sha256: A, trustedAt: 'x' })]) {
    writeFileSync(file, bad);
    assert.equal(isTrusted(s, P, A), false, bad);
    assert.equal(readTrust(s, P), undefined);
  }
  // A valid record for /q, stored under /p's name: not /p's.
  writeFileSync(file, JSON.stringify({ version: 1, path: '/q/.cordon/settings.json', sha256: A, trustedAt: 'x' }));
  assert.equal(isTrusted(s, P, A), false);
  assert.deepEqual(listTrust(s), [], 'listed only under its own name');
  // A link to a valid record is not followed.
  const elsewhere = join(s, 'elsewhere.json');
  writeFileSync(elsewhere, JSON.stringify({ version: 1, path: P, sha256: A, trustedAt: 'x' }));
  rmSync(file);
  symlinkSync(elsewhere, file);
  assert.equal(isTrusted(s, P, A), false);
});
