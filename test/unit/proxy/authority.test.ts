/**
 * authority.ts: the session CA and its leaves, read back by Node's
 * X509Certificate and verified by OpenSSL's own `verify -x509_strict` (the
 * strict checks Python 3.13 and Go apply), a real TLS handshake against a
 * leaf, and the names a certificate may carry.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, TLSSocket } from 'node:tls';
import { certName, sessionAuthority, userAuthority } from '../../../src/proxy/authority.js';
import { CordonError } from '../../../src/errors.js';

/** The leaf the context presents, from a handshake with `servername`. */
async function presented(a: ReturnType<typeof sessionAuthority>, name: string, servername?: string): Promise<{ cert: X509Certificate; authorized: boolean; error?: string }> {
  const server = createServer((s) => {
    const t = new TLSSocket(s, { isServer: true, secureContext: a.contextFor(name)! });
    t.on('error', () => s.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    return await new Promise((resolve, reject) => {
      const c = tlsConnect({ socket: connect((server.address() as AddressInfo).port, '127.0.0.1'), ca: a.caPem, ...(servername ? { servername } : {}), checkServerIdentity: () => undefined });
      c.once('secureConnect', () => {
        resolve({ cert: new X509Certificate(c.getPeerCertificate(true).raw), authorized: c.authorized, ...(c.authorizationError ? { error: String(c.authorizationError) } : {}) });
        c.destroy();
      });
      c.once('error', reject);
    });
  } finally {
    server.close();
  }
}

test('the session CA is a CA (basicConstraints CA:TRUE, pathlen 0), self-signed, valid now, and carries no key', () => {
  const a = sessionAuthority();
  const ca = new X509Certificate(a.caPem);
  assert.equal(ca.ca, true);
  assert.ok(ca.verify(ca.publicKey), 'self-signed');
  assert.match(ca.subject, /^CN=cordon session CA [0-9a-f]{8}$/);
  assert.ok(Date.parse(ca.validFrom) <= Date.now() && Date.now() < Date.parse(ca.validTo));
  assert.doesNotMatch(a.caPem, /PRIVATE/);
  assert.notEqual(new X509Certificate(sessionAuthority().caPem).fingerprint256, ca.fingerprint256, 'each session has its own');
});

test('a leaf names exactly its host (DNS or IP SAN), chains to the CA, verifies under OpenSSL -x509_strict, and is kept per name', async () => {
  const a = sessionAuthority();
  const dir = mkdtempSync(join(tmpdir(), 'cordon-authority-'));
  try {
    for (const [name, san] of [['API.Example.com.', 'DNS:api.example.com'], ['10.1.2.3', 'IP Address:10.1.2.3'], ['[2001:db8::1]', 'IP Address:2001:DB8:0:0:0:0:0:1']] as const) {
      const got = await presented(a, name, name.startsWith('[') || /^\d/.test(name) ? undefined : 'api.example.com');
      assert.equal(got.authorized, true, got.error);
      assert.equal(got.cert.subjectAltName, san);
      assert.equal(got.cert.ca, false);
      assert.ok(got.cert.checkIssued(new X509Certificate(a.caPem)));
      writeFileSync(join(dir, 'ca.pem'), a.caPem);
      writeFileSync(join(dir, 'leaf.pem'), got.cert.toString());
      const v = spawnSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
      assert.equal(v.status, 0, v.stdout + v.stderr);
    }
    const minted = a.minted;
    a.contextFor('api.example.com');
    a.contextFor('API.EXAMPLE.COM');
    assert.equal(a.minted, minted, 'one leaf per name, whatever its case or trailing dot');
    a.contextFor('other.example.com');
    assert.equal(a.minted, minted + 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a name no certificate can carry gets no leaf', () => {
  const a = sessionAuthority();
  for (const bad of ['', '.', 'a..b', 'a b.com', 'x'.repeat(64) + '.com', 'evil.com/x', 'ev\u0000il.com', '-a.com', 'a-.com', `${'a.'.repeat(127)}a`]) {
    assert.equal(certName(bad), undefined, JSON.stringify(bad));
    assert.equal(a.contextFor(bad), undefined);
  }
  assert.equal(certName('Under_Score.Example.'), 'under_score.example');
  assert.equal(certName('[::1]'), '::1');
});

test('a CA of the user\'s own signs the leaves; a key that is not its key, a certificate that is no CA, or no PEM is refused with the cause', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-authority-'));
  try {
    const mk = (name: string, ca: boolean) => {
      const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.pem`), '-subj', `/CN=${name}`, '-days', '2', ...(ca ? ['-addext', 'basicConstraints=critical,CA:TRUE'] : ['-addext', 'basicConstraints=critical,CA:FALSE'])], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return { cert: spawnSync('cat', [join(dir, `${name}.pem`)], { encoding: 'utf8' }).stdout, key: spawnSync('cat', [join(dir, `${name}.key`)], { encoding: 'utf8' }).stdout };
    };
    const mine = mk('my-ca', true);
    const other = mk('other-ca', true);
    const leafish = mk('not-a-ca', false);
    const a = userAuthority(mine.cert, mine.key, 'settings.json');
    const got = await presented(a, 'api.example.com', 'api.example.com');
    assert.equal(got.authorized, true, got.error);
    assert.equal(got.cert.issuer, 'CN=my-ca');
    const err = (f: () => unknown) => { try { f(); } catch (e) { assert.ok(e instanceof CordonError); return e.message; } return assert.fail('expected a CordonError'); };
    assert.match(err(() => userAuthority(mine.cert, other.key, 'settings.json')), /^settings\.json: caKeyPath is not the key of the certificate in caCertPath$/);
    assert.match(err(() => userAuthority(leafish.cert, leafish.key, 'settings.json')), /caCertPath is not a CA certificate/);
    assert.match(err(() => userAuthority('not pem', mine.key, 'settings.json')), /caCertPath holds no PEM certificate/);
    assert.match(err(() => userAuthority(mine.cert, mine.cert, 'settings.json')), /caKeyPath holds no private key/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
