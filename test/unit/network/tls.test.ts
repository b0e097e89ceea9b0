/**
 * network/tls.ts: which CONNECTs are terminated, what the sandbox's trust
 * files hold (certificates only, never a key), the variables that name them,
 * and that a bad extra CA file is an error naming it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificates, startTls, TRUST_VARIABLES } from '../../../src/network/tls.js';
import { parseAllowedDomains } from '../../../src/network/domain-rules.js';
import { sessionAuthority } from '../../../src/proxy/authority.js';
import { CordonError } from '../../../src/errors.js';

const rules = (xs: string[]) => parseAllowedDomains(xs, 'k', 'f');

test('covers(): every allowed host but the excluded, or only the listed domains (ports as in rules)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-tls-'));
  try {
    const all = startTls({ exclude: rules(['pinned.example', '*.mtls.example']), extraCaCertPaths: [], from: ['f'] }, dir, {});
    assert.equal(all.termination.covers('api.example', 443), true);
    assert.equal(all.termination.covers('PINNED.example.', 443), false);
    assert.equal(all.termination.covers('a.mtls.example', 8443), false);
    assert.equal(all.termination.covers('10.0.0.1', 443), true);
    const some = startTls({ domains: rules(['api.example:443']), exclude: [], extraCaCertPaths: [], from: ['f'] }, dir, {});
    assert.equal(some.termination.covers('api.example', 443), true);
    assert.equal(some.termination.covers('api.example', 8443), false);
    assert.equal(some.termination.covers('other.example', 443), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the trust files: the session CA with the system roots and the extra CAs (certificates only); Node\'s file without the roots; every variable names one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-tls-'));
  try {
    const extraCa = sessionAuthority().caPem;
    const extra = join(dir, 'extra-ca.pem');
    // A combined PEM, as some tools write them: the key must not travel.
    writeFileSync(extra, `-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n${extraCa.replace(/\n/g, '\r\n')}`);
    const roots = join(dir, 'roots.pem');
    const root = sessionAuthority().caPem;
    writeFileSync(roots, root);
    const t = startTls({ exclude: [], extraCaCertPaths: [extra], from: ['f'] }, dir, { SSL_CERT_FILE: roots });
    const trust = readFileSync(t.env.SSL_CERT_FILE!, 'utf8');
    assert.equal(trust, `${t.authority.caPem}${root}${extraCa}`);
    assert.equal(readFileSync(t.env.NODE_EXTRA_CA_CERTS!, 'utf8'), `${t.authority.caPem}${extraCa}`);
    for (const v of TRUST_VARIABLES) assert.equal(t.env[v], join(dir, 'trust.pem'), v);
    assert.doesNotMatch(trust, /PRIVATE/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an extra CA file that cannot be read, or holds no certificate, is an error naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-tls-'));
  try {
    const empty = join(dir, 'empty.pem');
    writeFileSync(empty, 'nothing here\n');
    for (const [p, why] of [[join(dir, 'missing.pem'), /missing\.pem cannot be read \(ENOENT\)/], [empty, /empty\.pem holds no PEM certificate/]] as const) {
      assert.throws(() => startTls({ exclude: [], extraCaCertPaths: [p], from: ['f'] }, dir, {}), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_SETTINGS_INVALID' && why.test(e.message));
    }
    assert.equal(certificates('junk', 'x', false), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("Java's trust store: the session's CA first, then the same roots and extra CAs as trust.pem, named by JAVA_TOOL_OPTIONS; the roots' part kept where it is told to keep it, and nowhere without", () => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-tls-'));
  const keep = mkdtempSync(join(tmpdir(), 'cordon-tls-keep-'));
  try {
    const roots = join(dir, 'roots.pem');
    const root = sessionAuthority().caPem;
    writeFileSync(roots, root);
    const before = readdirSync(tmpdir()).filter((n) => n.startsWith('java-trust-'));
    const t = startTls({ exclude: [], extraCaCertPaths: [], from: ['f'] }, dir, { SSL_CERT_FILE: roots });
    assert.equal(t.env.JAVA_TOOL_OPTIONS, `-Djavax.net.ssl.trustStore=${join(dir, 'trust.p12')} -Djavax.net.ssl.trustStoreType=PKCS12`);
    assert.deepEqual(readdirSync(tmpdir()).filter((n) => n.startsWith('java-trust-')), before, 'nothing kept beside the session directory');
    const r = spawnSync('openssl', ['pkcs12', '-in', join(dir, 'trust.p12'), '-nokeys', '-passin', 'pass:'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const fingerprints = [...r.stdout.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]).fingerprint256);
    assert.deepEqual(fingerprints, [t.authority.caPem, root].map((p) => new X509Certificate(p).fingerprint256));
    // Kept: made once, read back by the next session (another CA, the same roots).
    startTls({ exclude: [], extraCaCertPaths: [], from: ['f'] }, dir, { SSL_CERT_FILE: roots }, keep);
    const kept = readdirSync(keep);
    assert.equal(kept.length, 1);
    assert.match(kept[0]!, /^java-trust-[0-9a-f]{32}\.der$/);
    const t2 = startTls({ exclude: [], extraCaCertPaths: [], from: ['f'] }, dir, { SSL_CERT_FILE: roots }, keep);
    assert.deepEqual(readdirSync(keep), kept);
    const again = spawnSync('openssl', ['pkcs12', '-in', join(dir, 'trust.p12'), '-nokeys', '-passin', 'pass:'], { encoding: 'utf8' });
    assert.deepEqual([...again.stdout.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map((m) => new X509Certificate(m[0]).fingerprint256), [t2.authority.caPem, root].map((p) => new X509Certificate(p).fingerprint256));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(keep, { recursive: true, force: true });
  }
});
