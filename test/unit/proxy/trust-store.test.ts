import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { X509Certificate } from 'node:crypto';
import { certificateBags, pkcs12TrustStore } from '../../../src/proxy/trust-store.js';
import { sessionAuthority } from '../../../src/proxy/authority.js';
import { tempDir } from '../../helpers/tmp.js';

const der = (pem: string) => Buffer.from(pem.replace(/-----[A-Z ]+-----|\s+/g, ''), 'base64');

test('a PKCS#12 trust store of certificates only: each in a certBag with its alias and Java\'s trusted-key-usage attribute, no key and no MAC; runs of bags join in order', () => {
  const a = sessionAuthority();
  const b = sessionAuthority();
  const store = pkcs12TrustStore([certificateBags([der(a.caPem)], () => 'cordon-session-ca'), certificateBags([der(b.caPem), der(a.caPem)], (i) => `trusted-${i + 1}`)]);
  const file = join(tempDir(join(tmpdir(), 'cordon-p12-')), 'trust.p12');
  writeFileSync(file, store);
  // OpenSSL reads it with an empty password and no MAC, bag by bag (the text of its own reading, not ours).
  const r = spawnSync('openssl', ['pkcs12', '-in', file, '-nokeys', '-passin', 'pass:', '-info'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /MAC is absent/);
  assert.deepEqual([...r.stdout.matchAll(/friendlyName: (\S+)/g)].map((m) => m[1]), ['cordon-session-ca', 'trusted-1', 'trusted-2']);
  assert.equal([...r.stdout.matchAll(/2\.16\.840\.1\.113894\.746875\.1\.1:/g)].length, 3, 'each bag carries the trusted-key-usage attribute Java needs');
  const pems = [...r.stdout.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]).fingerprint256);
  assert.deepEqual(pems, [a.caPem, b.caPem, a.caPem].map((p) => new X509Certificate(p).fingerprint256));
  assert.doesNotMatch(r.stdout, /PRIVATE KEY/);
});
