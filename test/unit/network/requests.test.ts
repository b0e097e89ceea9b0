/**
 * requests.ts, for brokered AWS keys: a request signed with the session
 * keys is signed again with the real ones over what is sent; what cannot
 * be (hop-by-hop signed headers, a target the URL parser rewrites, a body
 * that is not its stated hash) and what would hand out new credentials
 * (STS beyond GetCallerIdentity, IAM CreateAccessKey, ECR tokens, …) are
 * refused, and so is an unsigned request to a bound host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { awsToken, type AwsRole, type LiveCredential } from '../../../src/network/broker.js';
import { parseAllowedDomains } from '../../../src/network/domain-rules.js';
import { awsActions, mintsCredentials, requestPolicy, restMinting } from '../../../src/network/requests.js';
import { parseAuthorization, sha256Hex, sign, verify } from '../../../src/network/sigv4.js';

const REAL = { accessKeyId: 'AKIAREALKEY000000001', secretAccessKey: 'realSecretAccessKey0000000000000000000001', sessionToken: `RealSessionToken${'x'.repeat(40)}` } as const;
const set = (Object.keys(REAL) as AwsRole[]).map((role): LiveCredential => ({
  env: role, hosts: parseAllowedDomains(['*.amazonaws.com'], 'k', 'f'), presentation: { header: role === 'sessionToken' ? 'x-amz-security-token' : 'authorization' },
  keyPath: 'credentials.aws[0]', real: REAL[role], token: awsToken(REAL[role], role), sigv4: { role, set: 'f' },
}));
const token = (role: AwsRole) => set.find((c) => c.sigv4!.role === role)!.token;
const policy = requestPolicy([], set)!;
const HOST = 'sts.amazonaws.com';

/** A request signed as botocore would, with the session keys. */
function signed(o: { method?: string; target?: string; service?: string; host?: string; headers?: string[]; body?: string; signHeaders?: string[] }) {
  const body = o.body ?? '';
  const base = ['Host', o.host ?? HOST, 'X-Amz-Date', '20250101T000000Z', 'X-Amz-Security-Token', token('sessionToken'), ...(o.headers ?? [])];
  const names = o.signHeaders ?? ['host', 'x-amz-date', 'x-amz-security-token', ...(o.headers ?? []).filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase())];
  const auth = { accessKeyId: token('accessKeyId'), date: '20250101', region: 'us-east-1', service: o.service ?? 'sts', signedHeaders: names, signature: '0'.repeat(64) };
  const target = o.target ?? '/';
  const req = { method: o.method ?? 'POST', target, rawHeaders: base, payloadHash: sha256Hex(body) };
  return { raw: [...base, 'Authorization', sign(req, auth, token('accessKeyId'), token('secretAccessKey'), { path: 'normalized', query: 'encoded' })], body: Buffer.from(body), target };
}
const judge = (r: ReturnType<typeof signed>, o: { spelled?: string; host?: string } = {}) => policy.judge({ host: o.host ?? HOST, port: 443, verified: true, method: 'POST', rawHeaders: r.raw, spelled: o.spelled ?? r.target, forwarded: r.target });
const reason = (v: { ok: boolean; reason?: string }) => (v.ok ? 'ok' : v.reason);

test('GetCallerIdentity, its body read and hashed: signed again with the real keys, which verify; the real session token sent', () => {
  const r = signed({ body: 'Action=GetCallerIdentity&Version=2011-06-15', headers: ['Content-Type', 'application/x-www-form-urlencoded; charset=utf-8'] });
  const v = judge(r);
  assert.ok(v.ok && v.resign && v.resign.payloadHash === undefined, 'STS bodies are read whole');
  const s = v.resign.sign(v.headers, sha256Hex(r.body), r.body);
  assert.ok(s.ok);
  const auth = parseAuthorization(s.headers[s.headers.findIndex((h) => h.toLowerCase() === 'authorization') + 1]!)!;
  assert.equal(auth.accessKeyId, REAL.accessKeyId);
  assert.ok(s.headers.includes(REAL.sessionToken));
  assert.deepEqual(verify({ method: 'POST', target: '/', rawHeaders: s.headers, payloadHash: sha256Hex(r.body) }, auth, REAL.secretAccessKey), { path: 'normalized', query: 'encoded' });
});

test('actions that hand out credentials are refused when signing: STS beyond its read-only three, IAM keys, ECR and CodeArtifact tokens, Cognito', () => {
  const form = ['Content-Type', 'application/x-www-form-urlencoded'];
  for (const [body, headers, service, target] of [
    ['Action=GetSessionToken&Version=2011-06-15', form, 'sts', '/'],
    ['Action=AssumeRole&RoleArn=x', form, 'sts', '/'],
    ['', [], 'sts', '/?Action=GetFederationToken&Name=x'],
    ['', [], 'sts', '/'],
    ['Action=CreateAccessKey&UserName=me', form, 'iam', '/'],
    ['{}', ['X-Amz-Target', 'AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken'], 'ecr', '/'],
    ['{}', ['X-Amz-Target', 'AWSCognitoIdentityService.GetCredentialsForIdentity'], 'cognito-identity', '/'],
    ['', [], 'codeartifact', '/v1/authorization-token?domain=d'],
    ['', [], 'codeartifact', '//V1/Authorization-Token?domain=d'],
    // Ways to name a second action, or hide one: every one of them refused.
    ['Action=CreateAccessKey&UserName=me', ['X-Amz-Target', 'x.ListUsers'], 'iam', '/'],
    ['Action=CreateAccessKey', [], 'iam', '/'],
    ['Action=AssumeRole', ['X-Amz-Target', 'AWSSecurityTokenServiceV20110615.GetCallerIdentity'], 'sts', '/'],
    ['Action=GetSessionToken', form, 'sts', '/?Action=GetCallerIdentity'],
    ['Action=GetCallerIdentity&Action=GetSessionToken', form, 'sts', '/'],
    ['Version=1;Action=createaccesskey', form, 'iam', '/'],
    ['{}', ['X-Amz-Target', 'A.DescribeRepositories', 'X-Amz-Target', 'A.GetAuthorizationToken'], 'ecr', '/'],
    ['{}', ['X-Amz-Target', 'A.getauthorizationtoken'], 'ECR', '/'],
  ] as const) {
    const r = signed({ body, headers: [...headers], service, target });
    const v = judge(r);
    assert.ok(v.ok && v.resign, `${service} ${body || target}: judged`);
    const s = v.resign.sign(v.headers, sha256Hex(r.body), r.body);
    assert.equal(reason(s), 'aws-not-resigned', `${service} ${body || target}`);
    assert.match((s as { message: string }).message, /hand out new AWS credentials|hands out new AWS credentials/);
  }
  // One action a service that mints nothing with it: signed.
  const list = signed({ body: 'Action=ListUsers&Version=2010-05-08', headers: [...form], service: 'iam' });
  const v = judge(list);
  assert.ok(v.ok && v.resign && v.resign.sign(v.headers, sha256Hex(list.body), list.body).ok);
  // An encoded body hides its action.
  assert.equal(reason(judge(signed({ body: 'x', headers: ['Content-Encoding', 'gzip'], service: 'iam' }))), 'aws-not-resigned');
  assert.ok(!mintsCredentials('iam', 'ListUsers') && !mintsCredentials('s3', 'PutObject') && mintsCredentials('sts', 'AssumeRoleWithWebIdentity') && mintsCredentials('STS', 'getcallerIdentityX'));
  assert.deepEqual(awsActions({ forwarded: '/?Action=ListUsers' }, [], Buffer.from('action=ListUsers')), ['ListUsers']);
});

test('REST endpoints that hand out credentials are refused before signing (S3 Express sessions, Lake Formation, DataZone, IoT keys); their other requests sign', () => {
  for (const [service, method, target] of [
    ['s3express', 'GET', '/?session'],
    ['s3express', 'GET', '/?list-type=2&session='],
    ['lakeformation', 'POST', '/GetTemporaryGlueTableCredentials'],
    ['lakeformation', 'POST', '/GetTemporaryDataLocationCredentials'],
    ['datazone', 'GET', '/v2/domains/d1/environments/e1/credentials'],
    ['iot', 'POST', '/keys-and-certificate?setAsActive=true'],
    ['iot', 'POST', '/provisioning-templates/t/provisioning-claim'],
    ['iot', 'POST', '/certificates?setAsActive=true'],
    ['iot', 'POST', '/certificate/register-no-ca'],
    ['lakeformation', 'POST', '/AssumeDecoratedRoleWithSAML'],
    ['apigateway', 'POST', '/apikeys'],
    ['apigateway', 'GET', '/apikeys/k1?includeValue=true'],
    ['appsync', 'POST', '/v1/apis/x/apikeys'],
  ] as const) {
    const r = signed({ method, target, service, host: 'x.amazonaws.com' });
    const v = policy.judge({ host: 'x.amazonaws.com', port: 443, verified: true, method, rawHeaders: r.raw, spelled: target, forwarded: target });
    assert.equal(reason(v), 'aws-not-resigned', `${service} ${target}`);
    assert.match((v as { message: string }).message, /hands out new credentials/, `${service} ${target}`);
  }
  assert.equal(restMinting('s3express', 'GET', '/key.txt'), undefined);
  assert.equal(restMinting('iot', 'GET', '/keys-and-certificate'), undefined);
  assert.equal(restMinting('s3', 'GET', '/?session'), undefined);
  for (const action of ['UpdateAssumeRolePolicy', 'CreateRole', 'CreateOpenIDConnectProvider']) assert.ok(mintsCredentials('iam', action), action);
  assert.ok(mintsCredentials('ec2-instance-connect', 'SendSSHPublicKey') && mintsCredentials('lightsail', 'GetInstanceAccessDetails'));
  assert.ok(mintsCredentials('ec2', 'CreateKeyPair') && !mintsCredentials('ec2', 'DescribeInstances') && mintsCredentials('cognito-idp', 'AdminInitiateAuth'));
  assert.equal(restMinting('apigateway', 'GET', '/apikeys/k1'), undefined);
});

test('a set that lists its services signs for those only', () => {
  const only = (Object.keys(REAL) as AwsRole[]).map((role): LiveCredential => ({ ...set.find((c) => c.sigv4!.role === role)!, sigv4: { role, set: 'f', services: ['s3'] } }));
  const p = requestPolicy([], only)!;
  const at = (service: string) => {
    const r = signed({ body: 'Action=GetCallerIdentity', headers: ['Content-Type', 'application/x-www-form-urlencoded'], service });
    return p.judge({ host: HOST, port: 443, verified: true, method: 'POST', rawHeaders: r.raw, spelled: '/', forwarded: '/' });
  };
  const sts = at('sts');
  assert.equal(reason(sts), 'aws-not-resigned');
  assert.match((sts as { message: string; fix: string }).message, /signed for the service "sts", which credentials\.aws\[0\]\.services does not list/);
  assert.equal((sts as { fix: string }).fix, 'add "sts" to credentials.aws[0].services');
  const s3 = at('s3');
  assert.ok(s3.ok && s3.resign);
});

test('what cannot be signed again as it is sent is refused: hop-by-hop signed headers, a rewritten target, a body that is not its stated hash', () => {
  assert.equal(reason(judge(signed({ headers: ['Connection', 'close'] }))), 'aws-not-resigned');
  assert.equal(reason(judge(signed({ target: '/b/k' }), { spelled: '/b/a/../k' })), 'aws-not-resigned');
  const r = signed({ service: 'sts', body: 'Action=GetCallerIdentity', headers: ['x-amz-content-sha256', sha256Hex('Action=GetCallerIdentity'), 'Content-Type', 'application/x-www-form-urlencoded'] });
  const v = judge(r);
  assert.ok(v.ok && v.resign);
  assert.equal(reason(v.resign.sign(v.headers, sha256Hex('Action=AssumeRole'), Buffer.from('Action=AssumeRole'))), 'aws-not-resigned', 'a body swapped behind a stated hash');
  // A signed header the proxy then drops: checked against the headers sent.
  const s3 = signed({ service: 's3', host: 's3.amazonaws.com', headers: ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD', 'X-Extra', '1'] });
  const v3 = judge(s3, { host: 's3.amazonaws.com' });
  assert.ok(v3.ok && v3.resign);
  assert.equal(reason(v3.resign.sign(v3.headers.filter((_, i, a) => a[i - (i % 2)] !== 'X-Extra'), 'UNSIGNED-PAYLOAD')), 'aws-not-resigned');
});

test('an unsigned request to a bound host is refused; a foreign signature stays a foreign credential', () => {
  const unsigned = policy.judge({ host: 'attacker-bucket.s3.amazonaws.com', port: 443, verified: true, method: 'PUT', rawHeaders: ['Host', 'attacker-bucket.s3.amazonaws.com'], spelled: '/k', forwarded: '/k' });
  assert.equal(reason(unsigned), 'aws-not-resigned');
  assert.match((unsigned as { message: string }).message, /not signed with the session keys/);
  const foreign = policy.judge({ host: HOST, port: 443, verified: true, method: 'POST', rawHeaders: ['Host', HOST, 'Authorization', `AWS4-HMAC-SHA256 Credential=AKIAATTACKER00000001/20250101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=${'a'.repeat(64)}`], spelled: '/', forwarded: '/' });
  assert.equal(reason(foreign), 'foreign-credential');
});
