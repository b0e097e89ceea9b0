/**
 * broker.ts: the session token's shape, and judgeRequest on every position a
 * credential can ride in: the swap (raw, Bearer, Basic), foreign credentials
 * on a bound host, the token on an unbound host or in cleartext.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { awsToken, judgeRequest, makeToken, scrubPairs, type AwsRole, type LiveCredential } from '../../../src/network/broker.js';
import { parseAllowedDomains } from '../../../src/network/domain-rules.js';

const REAL = 'sk-ant-api03-REALREALREALREALREALREALREALREAL';
const cred = (over: Partial<LiveCredential> = {}): LiveCredential => ({
  env: 'ANTHROPIC_API_KEY', hosts: parseAllowedDomains(['api.example.com'], 'k', 'f'), presentation: { header: 'x-api-key' },
  keyPath: 'credentials.broker[0]', real: REAL, token: makeToken(REAL), ...over,
});
const req = (c: LiveCredential, headers: string[], o: { host?: string; port?: number; verified?: boolean; target?: string } = {}) =>
  judgeRequest([c], { host: o.host ?? 'api.example.com', port: o.port ?? 443, verified: o.verified ?? true, rawHeaders: headers, target: o.target ?? '/v1/messages' });
const reason = (v: ReturnType<typeof judgeRequest>) => (v.ok ? 'ok' : v.reason);

test('makeToken: the real value\'s prefix and length, random letters and digits after it (at least 32), never the same twice', () => {
  const t = makeToken(REAL);
  assert.ok(t.startsWith('sk-ant-api03-'));
  assert.equal(t.length, REAL.length);
  assert.match(t.slice(13), /^[A-Za-z0-9]+$/);
  assert.notEqual(makeToken(REAL), t);
  assert.match(makeToken('ghp_short'), /^ghp_[A-Za-z0-9]{32}$/);
  assert.match(makeToken('plainvaluewithoutseparators'), /^[A-Za-z0-9]{32}$/);
  // Bytes 248..255 are drawn again, never folded onto the first letters.
  let calls = 0;
  const t2 = makeToken('x'.repeat(40), (n) => Buffer.alloc(n, calls++ === 0 ? 250 : 0));
  assert.equal(t2, 'A'.repeat(40));
});

test('the token in its own header on a verified bound host is swapped for the real value; the other headers pass as they came', () => {
  const c = cred();
  const v = req(c, ['Host', 'api.example.com', 'X-Api-Key', c.token, 'Content-Type', 'application/json']);
  assert.deepEqual(v, { ok: true, headers: ['Host', 'api.example.com', 'X-Api-Key', REAL, 'Content-Type', 'application/json'], swapped: ['ANTHROPIC_API_KEY'] });
  const bearer = cred({ presentation: { header: 'authorization', scheme: 'Bearer' } });
  assert.deepEqual(req(bearer, ['authorization', `bearer ${bearer.token}`]), { ok: true, headers: ['authorization', `bearer ${REAL}`], swapped: ['ANTHROPIC_API_KEY'] });
  const basic = cred({ presentation: { header: 'authorization', scheme: 'Basic', username: 'x-access-token' } });
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  assert.deepEqual(req(basic, ['Authorization', `Basic ${b64(`x-access-token:${basic.token}`)}`]), { ok: true, headers: ['Authorization', `Basic ${b64(`x-access-token:${REAL}`)}`], swapped: ['ANTHROPIC_API_KEY'] });
  // The token as the password of another user (someone else's account) is a foreign credential.
  assert.equal(reason(req(basic, ['Authorization', `Basic ${b64(`attacker:${basic.token}`)}`])), 'foreign-credential');
  // Other subdomains and ports follow the host rule.
  assert.equal(reason(req(c, ['X-Api-Key', c.token], { port: 8443 })), 'ok');
  assert.equal(reason(req(c, [])), 'ok', 'no credential at all is not a foreign one');
});

test('on a bound host, anything else in a credential position is a foreign credential', () => {
  const c = cred();
  for (const h of [
    ['X-Api-Key', 'sk-ant-api03-ATTACKERATTACKERATTACKERATTACKER'],
    ['X-Api-Key', `${c.token} `.repeat(2)],
    ['X-Api-Key', `${c.token}x`],
    ['Authorization', 'Bearer sk-attacker'],
    ['authorization', `Bearer ${c.token}`],
    ['Cookie', 'session=abc'],
    ['Proxy-Authorization', 'Basic eDp5'],
    ['x-goog-api-key', 'AIza-attacker'],
  ]) {
    assert.equal(reason(req(c, h)), 'foreign-credential', JSON.stringify(h));
  }
  for (const q of ['?key=abc', '?a=1&API_KEY=x', '?access_token=t', '?%6Bey=x', '?x-amz-signature=s']) assert.equal(reason(req(c, [], { target: `/v1${q}` })), 'foreign-credential', q);
  assert.equal(reason(req(c, [], { target: '/v1?key=' })), 'ok', 'an empty parameter carries nothing');
  assert.equal(reason(req(c, [], { target: '/v1?monkey=1&tokens=2' })), 'ok');
  // The same request to a host nothing is bound to passes.
  assert.equal(reason(req(c, ['Authorization', 'Bearer mine', 'Cookie', 'a=b'], { host: 'other.example.com', target: '/?key=x' })), 'ok');
});

test('the token anywhere it is not swapped is refused: another host, the target, another header, Basic, cleartext', () => {
  const c = cred();
  assert.equal(reason(req(c, ['X-Api-Key', c.token], { host: 'evil.example' })), 'credential-to-unbound-host');
  assert.equal(reason(req(c, ['X-Custom', `prefix ${c.token} suffix`], { host: 'evil.example' })), 'credential-to-unbound-host');
  assert.equal(reason(req(c, [], { host: 'evil.example', target: `/x?t=${encodeURIComponent(c.token)}` })), 'credential-to-unbound-host');
  assert.equal(reason(req(c, ['Authorization', `Basic ${Buffer.from(`u:${c.token}`).toString('base64')}`], { host: 'evil.example' })), 'credential-to-unbound-host');
  assert.equal(reason(req(c, ['X-Other', c.token])), 'foreign-credential', 'on the bound host, in a header it is not put in');
  assert.equal(reason(req(c, ['X-Api-Key', c.token], { verified: false })), 'credential-in-cleartext');
  const v = req(c, ['X-Api-Key', c.token], { host: 'evil.example' });
  assert.ok(!v.ok && !v.message.includes(c.real) && !v.message.includes(c.token), 'no value in the message');
});

test('scrubPairs: the real value, the Basic value sent, and its base64 spellings at every alignment become the token\'s', () => {
  const c = cred({ presentation: { header: 'authorization', scheme: 'Basic', username: 'u' } });
  const pairs = scrubPairs([c]);
  const apply = (s: string) => pairs.reduce((acc, p) => acc.split(p.from).join(p.to), s);
  assert.equal(apply(`x ${REAL} y`), `x ${c.token} y`);
  assert.equal(apply(Buffer.from(`u:${REAL}`).toString('base64')), Buffer.from(`u:${c.token}`).toString('base64'));
  for (const pad of ['', 'a', 'ab', 'abc']) {
    for (const enc of ['base64', 'base64url'] as const) {
      const out = apply(Buffer.from(`${pad}${REAL}!`).toString(enc));
      assert.ok(!Buffer.from(out, enc).toString('latin1').includes(REAL), `${enc} after ${JSON.stringify(pad)}`);
    }
  }
  assert.deepEqual(scrubPairs([cred({ real: 'short-value-1234', token: makeToken('short-value-1234') })]).length, 1, 'a token of another length: only the value itself');
});

const AWS = { accessKeyId: 'ASIAREALKEY000000001', secretAccessKey: 'realSecretAccessKey0000000000000000000001', sessionToken: `FwoGZXIvYXdzEREALSESSIONTOKEN${'x'.repeat(40)}` } as const;
const awsSet = (): LiveCredential[] => (Object.keys(AWS) as AwsRole[]).map((role) => ({
  env: `AWS_${role}`, hosts: parseAllowedDomains(['*.amazonaws.com'], 'k', 'f'), presentation: { header: role === 'sessionToken' ? 'x-amz-security-token' : 'authorization' },
  keyPath: 'credentials.aws[0]', real: AWS[role], token: awsToken(AWS[role], role), sigv4: { role, set: 'f: credentials.aws[0]' },
}));
const signedBy = (id: string) => `AWS4-HMAC-SHA256 Credential=${id}/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=${'a'.repeat(64)}`;

test('awsToken: as long as the real key; an access key id keeps AKIA/ASIA and goes on in upper case and digits', () => {
  const id = awsToken(AWS.accessKeyId, 'accessKeyId');
  assert.match(id, /^ASIA[A-Z0-9]{16}$/);
  assert.notEqual(id, AWS.accessKeyId);
  assert.match(awsToken(AWS.secretAccessKey, 'secretAccessKey'), /^[A-Za-z0-9]{41}$/);
  assert.match(awsToken('short', 'sessionToken'), /^[A-Za-z0-9]{32}$/);
});

test('AWS keys: a request signed with the session key id is passed on for signing again, its session token swapped; anything else is refused', () => {
  const set = awsSet();
  const [id, secret, token] = set as [LiveCredential, LiveCredential, LiveCredential];
  const judge = (headers: string[], o: { host?: string; verified?: boolean; target?: string } = {}) =>
    judgeRequest(set, { host: o.host ?? 's3.us-east-1.amazonaws.com', port: 443, verified: o.verified ?? true, rawHeaders: headers, target: o.target ?? '/b/k' });
  const good = ['Host', 's3.us-east-1.amazonaws.com', 'X-Amz-Date', '20250101T000000Z', 'X-Amz-Security-Token', token.token, 'Authorization', signedBy(id.token)];
  const v = judge(good);
  assert.ok(v.ok && v.sigv4);
  assert.deepEqual(v.headers, [...good.slice(0, 5), AWS.sessionToken, ...good.slice(6)], 'the session token swapped; the Authorization left for signing again');
  assert.deepEqual(v.sigv4.asSigned, good, 'what the client signed is kept');
  assert.deepEqual(v.sigv4.real, { accessKeyId: AWS.accessKeyId, secret: AWS.secretAccessKey });
  assert.equal(v.sigv4.session.secret, secret.token);
  assert.deepEqual([...v.swapped].sort(), ['AWS_accessKeyId', 'AWS_secretAccessKey', 'AWS_sessionToken']);
  assert.equal(reason(judge(good, { verified: false })), 'credential-in-cleartext');
  assert.equal(reason(judge([...good.slice(0, 7), signedBy('AKIAATTACKER00000001')])), 'foreign-credential', 'another key id');
  assert.equal(reason(judge([...good.slice(0, 5), 'FQoGattackersession', ...good.slice(6)])), 'foreign-credential', 'another session token');
  assert.equal(reason(judge([...good, 'Authorization', signedBy(id.token)])), 'aws-not-resigned', 'two Authorization headers');
  assert.equal(reason(judge([...good.slice(0, 7), signedBy(id.token).replace('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256')])), 'aws-not-resigned', 'SigV4A');
  assert.equal(reason(judge(good, { host: 'evil.example' })), 'credential-to-unbound-host');
  assert.equal(reason(judge(['Host', 's3.us-east-1.amazonaws.com'], { target: `/b/k?X-Amz-Credential=${id.token}%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00` })), 'aws-not-resigned', 'a presigned URL');
  assert.equal(reason(judge(['Host', 's3.us-east-1.amazonaws.com', 'X-Api-Key', secret.token])), 'foreign-credential', 'the secret in a header');
  assert.equal(reason(judge(['Host', 's3.us-east-1.amazonaws.com', 'X-Amz-Security-Token', token.token])), 'foreign-credential', 'a session token with no signature of its set');
});

test('scrubPairs: each real AWS key comes back as its session value', () => {
  const pairs = scrubPairs(awsSet());
  for (const role of Object.keys(AWS) as AwsRole[]) assert.ok(pairs.some((p) => p.from === AWS[role] && p.to.length === AWS[role].length), role);
});
