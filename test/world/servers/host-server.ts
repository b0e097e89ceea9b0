/**
 * The servers of one test host: HTTP, HTTPS (HTTP/1.1 and h2 on one port),
 * a scripted raw HTTP/1.1 server (exact response bytes, for framing tests),
 * a raw TCP echo, a UDP echo, a DNS responder that answers NXDOMAIN, and Unix
 * socket echoes. Every connection, request, TLS handshake, datagram and query
 * appends one JSON line to a record file; tests judge attacks from those lines,
 * never from what the sandboxed command printed.
 *
 * Trust boundary: everything a client sends is attacker-controlled and is only
 * counted, echoed or (for the first bytes) recorded; nothing it says is obeyed
 * except the documented HTTP endpoints below.
 *
 * Protocol with the parent (test/world/world.ts):
 *   argv: <world-id> <config JSON>      (the id lets a sweep find orphans)
 *   stdout: {"ready":[{kind,port,addresses,path}...]} once every listener is up,
 *           {"synced":N} after each "sync N" line on stdin,
 *           {"error":"..."} and exit 1 if a listener cannot start.
 *   stdin EOF: exit. The parent holds the pipe, so a SIGKILLed parent leaves no
 *   server behind.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, chmodSync, createReadStream, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket as UdpSocket, type RemoteInfo } from 'node:dgram';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createNetServer, isIPv6, type Server as NetServer, type Socket } from 'node:net';
import { join, resolve, sep } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { createInterface } from 'node:readline';
import { type TLSSocket } from 'node:tls';

export type ListenerKind = 'http' | 'https' | 'http-raw' | 'tcp' | 'udp' | 'dns' | 'unix';

export interface ListenerSpec {
  readonly kind: ListenerKind;
  /** TCP/UDP: addresses to bind, all on the same port. '::' is dual-stack. */
  readonly addresses?: readonly string[];
  /** 0 = pick a free one (the same on every address). */
  readonly port?: number;
  /** dns only: bind a random free 127.250.X.53 instead of `addresses`. */
  readonly randomLoopback?: boolean;
  /** unix only: a path, or an abstract name starting with "\0". */
  readonly path?: string;
  /** Defaults to the server's recordFile. */
  readonly recordFile?: string;
}

export interface ServerConfig {
  readonly name: string;
  readonly recordFile: string;
  readonly listeners: readonly ListenerSpec[];
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly filesDir?: string;
}

export interface ReadyListener {
  readonly kind: ListenerKind;
  readonly port: number | null;
  readonly addresses: readonly string[];
  readonly path?: string;
}

/** How many bytes of a raw stream or datagram are kept in a record. */
const HEAD_BYTES = 256;
const CHUNK = Buffer.alloc(64 * 1024, 'cordon-test-world-bytes\n');

const [, , worldId, configJson] = process.argv;
if (!worldId || !configJson) {
  process.stderr.write('usage: host-server <world-id> <config-json>\n');
  process.exit(2);
}
const config = JSON.parse(configJson) as ServerConfig;
const tlsOpts = config.tls ? { cert: readFileSync(config.tls.cert), key: readFileSync(config.tls.key) } : undefined;

function record(file: string | undefined, rec: Record<string, unknown>): void {
  // Synchronous append: lines are complete and ordered when a test reads them.
  appendFileSync(file ?? config.recordFile, JSON.stringify({ ts: Date.now(), ...rec }) + '\n');
}

/** Dual-stack sockets report IPv4 peers as ::ffff:a.b.c.d; tests want a.b.c.d. */
function addr(a: string | undefined): string {
  if (!a) return '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function head(buf: Buffer): string {
  return buf.subarray(0, HEAD_BYTES).toString('utf8');
}

// ---------------------------------------------------------------- HTTP(S)

/**
 * An Upgrade request (a WebSocket handshake, say): recorded as a request with
 * its Upgrade header and headers, answered 101 with the Authorization it got
 * (`X-Echo-Auth`, and again as the first line of the stream: a server that
 * reflects a credential), and every byte after it echoed back until the
 * client ends. At `/no-switch` it answers 400 instead, its body the
 * Authorization it got.
 */
function upgradeEcho(proto: 'http' | 'https', file: string | undefined) {
  return (req: IncomingMessage, sock: Socket, head: Buffer): void => {
    record(file, { proto, event: 'request', port: sock.localPort ?? null, peer: addr(sock.remoteAddress), host: req.headers.host, method: req.method, path: req.url, httpVersion: req.httpVersion, headers: req.headers, upgrade: req.headers.upgrade ?? null, bytes: 0 });
    sock.on('error', () => undefined);
    const auth = String(req.headers.authorization ?? '');
    if (req.url === '/no-switch') return void sock.end(`HTTP/1.1 400 Bad Request\r\nContent-Length: ${Buffer.byteLength(auth)}\r\nConnection: close\r\n\r\n${auth}`);
    if (req.url?.startsWith('/ws-frames')) return webSocketEcho(sock, head, auth);
    sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade ?? ''}\r\nConnection: Upgrade\r\nX-Echo-Auth: ${auth}\r\n\r\nauth=${auth}\n`);
    if (head.length > 0) sock.write(head);
    sock.pipe(sock);
  };
}

/** A server's WebSocket frame (unmasked). */
function wsFrame(fin: boolean, opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = Buffer.alloc(n < 126 ? 2 : n <= 0xffff ? 4 : 10);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (n < 126) head[1] = n;
  else if (n <= 0xffff) { head[1] = 126; head.writeUInt16BE(n, 2); } else { head[1] = 127; head.writeBigUInt64BE(BigInt(n), 2); }
  return Buffer.concat([head, payload]);
}

/**
 * /ws-frames: a WebSocket server in real frames. It reflects the
 * Authorization it got twice: as a text message `auth=VALUE`, and as
 * `split=VALUE` cut in two fragments in the middle of the value (a server
 * that splits what it reflects). Then each frame the client sends comes
 * back, unmasked, with its FIN bit and opcode, until the client closes.
 */
function webSocketEcho(sock: Socket, head: Buffer, auth: string): void {
  sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Echo-Auth: ${auth}\r\n\r\n`);
  sock.write(wsFrame(true, 1, Buffer.from(`auth=${auth}`)));
  const split = Buffer.from(`split=${auth}`);
  const cut = 6 + Math.floor((split.length - 6) / 2);
  sock.write(Buffer.concat([wsFrame(false, 1, split.subarray(0, cut)), wsFrame(true, 0, split.subarray(cut))]));
  let buf = head;
  const take = (): void => {
    for (;;) {
      if (buf.length < 2) return;
      const short = buf[1]! & 0x7f;
      const at = short === 126 ? 4 : short === 127 ? 10 : 2;
      if (buf.length < at + 4) return;
      const n = short === 126 ? buf.readUInt16BE(2) : short === 127 ? Number(buf.readBigUInt64BE(2)) : short;
      if (buf.length < at + 4 + n) return;
      const mask = buf.subarray(at, at + 4);
      const payload = Buffer.from(buf.subarray(at + 4, at + 4 + n).map((b, i) => b ^ mask[i % 4]!));
      const fin = (buf[0]! & 0x80) !== 0;
      const opcode = buf[0]! & 0x0f;
      buf = buf.subarray(at + 4 + n);
      sock.write(wsFrame(fin, opcode, payload));
      if (opcode === 8) return void sock.end();
    }
  };
  sock.on('data', (c: Buffer) => { buf = Buffer.concat([buf, c]); take(); });
  take();
}

/** What /remember was last sent as its Authorization, for /recall (a server that gives back later what it was given). */
let remembered = '';

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

function httpHandler(proto: 'http' | 'https', file: string | undefined) {
  return (req: Req, res: Res): void => {
    const sock = req.socket as Socket;
    const url = req.url ?? '';
    const host = (req.headers.host ?? req.headers[':authority']) as string | undefined;
    let received = 0;
    let sent = 0;
    const rec = {
      proto,
      event: 'request',
      port: sock.localPort ?? null,
      local: addr(sock.localAddress),
      peer: addr(sock.remoteAddress),
      peerPort: sock.remotePort,
      host,
      method: req.method,
      path: url,
      httpVersion: req.httpVersion,
      headers: req.headers,
    };
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      // A request signed as AWS signs them: the hash of its body, so a test can check the signature (a body over 1 MiB is not hashed).
      const aws = req.headers['x-amz-date'] !== undefined && received <= 1 << 20 ? { bodySha256: createHash('sha256').update(Buffer.concat(bodyParts)).digest('hex') } : {};
      record(file, { ...rec, bytes: received, sent, ...aws });
    };
    res.on('close', finish);
    res.on('finish', finish);
    const send = (status: number, body: string | Buffer, headers: Record<string, string> = {}): void => {
      const b = typeof body === 'string' ? Buffer.from(body) : body;
      sent += b.length;
      (res as ServerResponse).writeHead(status, { 'content-length': String(b.length), ...headers });
      res.end(b);
    };
    const bodyParts: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      received += c.length;
      if (received <= 1 << 20) bodyParts.push(c);
    });
    req.on('error', () => undefined);
    res.on('error', () => undefined);

    const path = url.startsWith('/') ? url : safePath(url);
    const [pathname = '/', query = ''] = path.split('?', 2) as [string, string?];
    const bytesMatch = /^\/bytes\/(\d+)$/.exec(pathname);
    const statusMatch = /^\/status\/(\d{3})$/.exec(pathname);

    req.on('end', () => {
      if (bytesMatch) {
        let left = Number(bytesMatch[1]);
        (res as ServerResponse).writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) });
        const pump = (): void => {
          while (left > 0) {
            const n = Math.min(left, CHUNK.length);
            left -= n;
            sent += n;
            if (!(res as ServerResponse).write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        pump();
      } else if (pathname === '/remember') {
        remembered = String(req.headers.authorization ?? '');
        send(200, 'remembered\n');
      } else if (pathname === '/recall') {
        send(200, `last=${remembered}\n`);
      } else if (pathname === '/part') {
        // A part of a response whatever was asked: the first 20 bytes of the Authorization it got.
        send(206, String(req.headers.authorization ?? '').slice(0, 20), { 'content-range': 'bytes 0-19/200' });
      } else if (pathname === '/reflect' && /^bytes=\d+-\d+$/.test(String(req.headers.range ?? req.headers['request-range'] ?? ''))) {
        // A part of the reflection (Range, or Request-Range as Apache httpd also reads it), for a client that asks
        // for a value piece by piece.
        const [from, to] = String(req.headers.range ?? req.headers['request-range']).slice(6).split('-').map(Number) as [number, number];
        const text = Buffer.from(JSON.stringify({ headers: req.headers, body: Buffer.concat(bodyParts).toString('utf8') }) + '\n');
        send(206, text.subarray(from, to + 1), { 'content-range': `bytes ${from}-${Math.min(to, text.length - 1)}/${text.length}` });
      } else if (pathname === '/reflect' && new URLSearchParams(query).get('encoding') === 'header-name') {
        // The Authorization value in a header's name.
        send(200, 'see the headers\n', { [`x-${String(req.headers.authorization).replace(/ /g, '-')}`]: '1' });
      } else if (pathname === '/reflect') {
        // The request (headers and body) back, in the encoding the query asks for: identity, chunked, gzip, deflate, br, zstd;
        // te-gzip: gzip as a transfer coding (`gzip, chunked`); reason: the Authorization value in the status line;
        // named: in a Content-Encoding of its own name.
        const encoding = new URLSearchParams(query).get('encoding') ?? 'identity';
        const text = Buffer.from(JSON.stringify({ headers: req.headers, body: Buffer.concat(bodyParts).toString('utf8') }) + '\n');
        const r = res as ServerResponse;
        const coded = encoding === 'gzip' || encoding === 'te-gzip' ? gzipSync(text) : encoding === 'deflate' ? deflateSync(text) : encoding === 'br' ? brotliCompressSync(text) : encoding === 'zstd' ? Buffer.from('not really zstd') : text;
        sent += coded.length;
        if (encoding === 'te-gzip') {
          r.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'gzip, chunked' });
          r.end(coded);
        } else if (encoding === 'reason') {
          r.writeHead(401, `bad ${String(req.headers.authorization)}`, { 'content-length': '0' });
          r.end();
        } else if (encoding === 'named') {
          r.writeHead(200, { 'content-length': String(coded.length), 'content-encoding': `x-${String(req.headers.authorization).replace(/ /g, '_')}` });
          r.end(coded);
        } else if (encoding === 'chunked') {
          r.writeHead(200, { 'content-type': 'application/json' });
          // Split inside the echoed values, so a string to find is cut across chunks.
          for (let i = 0; i < coded.length; i += 7) r.write(coded.subarray(i, i + 7));
          r.end();
        } else {
          r.writeHead(200, { 'content-type': 'application/json', 'content-length': String(coded.length), ...(encoding !== 'identity' ? { 'content-encoding': encoding } : {}) });
          r.end(coded);
        }
      } else if (req.headers['x-amz-date'] !== undefined) {
        // A little of AWS, for SDKs (botocore): STS GetCallerIdentity answers with the access key id it was signed with
        // (a server that gives a credential back), S3 takes any PUT and answers a GET with the key id too. Signatures
        // are not checked here: the test checks them from the records (bodySha256), with AWS's own SDK.
        const signedBy = /Credential=([^/]*)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
        const form = Buffer.concat(bodyParts).toString('utf8');
        if (req.method === 'POST' && /Action=GetCallerIdentity/.test(form)) {
          send(200, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/world</Arn><UserId>${signedBy}</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>world</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, { 'content-type': 'text/xml' });
        } else if (req.method === 'PUT') {
          send(200, '', { etag: '"world"' });
        } else {
          send(200, `object signed by ${signedBy}\n`, { 'content-type': 'application/octet-stream', etag: '"world"' });
        }
      } else if (pathname === '/upload') {
        send(200, JSON.stringify({ bytes: received }) + '\n', { 'content-type': 'application/json' });
      } else if (statusMatch) {
        send(Number(statusMatch[1]), `status ${statusMatch[1]}\n`);
      } else if (pathname === '/redirect') {
        const to = new URLSearchParams(query).get('to') ?? '/';
        send(302, `to ${to}\n`, { location: to });
      } else if (pathname.startsWith('/git/') && config.filesDir) {
        // git's smart HTTP (git-http-backend as a CGI) over the files dir, for clients that authenticate
        // (a 401 challenge first; any credential, which the record shows): clone and push.
        if (!req.headers.authorization) return send(401, 'authenticate\n', { 'www-authenticate': 'Basic realm="world"' });
        const input = Buffer.concat(bodyParts);
        const cgi = spawnSync('/usr/lib/git-core/git-http-backend', [], {
          input,
          env: {
            GIT_PROJECT_ROOT: config.filesDir, GIT_HTTP_EXPORT_ALL: '1', PATH_INFO: pathname.slice('/git'.length), QUERY_STRING: query,
            REQUEST_METHOD: req.method ?? 'GET', CONTENT_TYPE: String(req.headers['content-type'] ?? ''), CONTENT_LENGTH: String(input.length),
            HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''), REMOTE_USER: 'world', REMOTE_ADDR: addr(sock.remoteAddress) ?? '',
            GIT_CONFIG_NOSYSTEM: '1', HOME: config.filesDir, PATH: process.env.PATH ?? '/usr/bin:/bin',
          },
        });
        const out = cgi.stdout ?? Buffer.alloc(0);
        const end = out.indexOf('\r\n\r\n') >= 0 ? out.indexOf('\r\n\r\n') : out.indexOf('\n\n');
        const sepLen = out.indexOf('\r\n\r\n') >= 0 ? 4 : 2;
        if (cgi.status !== 0 || end < 0) return send(500, `git-http-backend failed: ${String(cgi.stderr)}\n`);
        const headers: Record<string, string> = {};
        let status = 200;
        for (const line of out.subarray(0, end).toString('latin1').split(/\r?\n/)) {
          const i = line.indexOf(':');
          if (i < 0) continue;
          const name = line.slice(0, i).trim().toLowerCase();
          const value = line.slice(i + 1).trim();
          if (name === 'status') status = Number(value.split(' ')[0]);
          else headers[name] = value;
        }
        send(status, out.subarray(end + sepLen), headers);
      } else if (pathname.startsWith('/publish/')) {
        // A registry that takes what is published (npm publish: a PUT of the package document) and knows nothing yet.
        if (req.method === 'PUT') send(201, '{"ok":true}\n', { 'content-type': 'application/json' });
        else send(404, '{"error":"not found"}\n', { 'content-type': 'application/json' });
      } else if (pathname.startsWith('/private/') && config.filesDir) {
        // The files again, for a client that authenticates (any credential; the record shows which): a 401 challenge first, as git needs.
        if (!req.headers.authorization) send(401, 'authenticate\n', { 'www-authenticate': 'Basic realm="world"' });
        else serveFile(config.filesDir, decodeURIComponent(pathname.slice('/private/'.length)), res, (n) => (sent += n), send);
      } else if (pathname.startsWith('/files/') && config.filesDir) {
        serveFile(config.filesDir, decodeURIComponent(pathname.slice('/files/'.length)), res, (n) => (sent += n), send);
      } else {
        const body = {
          server: config.name,
          proto,
          method: req.method,
          path: url,
          host: host ?? null,
          httpVersion: req.httpVersion,
          headers: req.headers,
          bytes: received,
          peer: addr(sock.remoteAddress),
          local: addr(sock.localAddress),
          port: sock.localPort,
        };
        send(200, JSON.stringify(body) + '\n', { 'content-type': 'application/json' });
      }
    });
  };
}

/** Absolute-form targets (a client that thinks it talks to a proxy): keep the path. */
function safePath(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return '/';
  }
}

function serveFile(root: string, rel: string, res: Res, count: (n: number) => void, send: (s: number, b: string) => void): void {
  const base = resolve(root);
  let p = resolve(base, rel);
  if (p !== base && !p.startsWith(base + sep)) return send(403, 'outside files dir\n');
  let size: number;
  try {
    let st = statSync(p);
    // A directory is served by its index.html, as static web servers do (pip's simple index needs it).
    if (st.isDirectory()) {
      p = join(p, 'index.html');
      st = statSync(p);
    }
    if (!st.isFile()) return send(404, 'not a file\n');
    size = st.size;
  } catch {
    return send(404, 'not found\n');
  }
  (res as ServerResponse).writeHead(200, { 'content-type': contentType(p), 'content-length': String(size) });
  const rs = createReadStream(p);
  rs.on('data', (c) => count(c.length));
  rs.pipe(res as ServerResponse);
}

function onTcpConnect(proto: string, file: string | undefined) {
  return (sock: Socket): void => {
    record(file, { proto, event: 'connect', port: sock.localPort ?? null, local: addr(sock.localAddress), peer: addr(sock.remoteAddress), peerPort: sock.remotePort, bytes: 0 });
  };
}

// ---------------------------------------------------------- scripted HTTP/1.1

/**
 * Exact response bytes per path, for tests of how a proxy frames responses:
 * chunked with extensions and trailers, a body that ends with the close,
 * interim 1xx answers, bodiless 204/304/HEAD answers that carry lengths,
 * `Connection: close`, and a response no one can frame. Requests are read
 * with Content-Length bodies only; each is recorded with its head.
 */
function scriptedReply(method: string, target: string, body: Buffer): { bytes: string; close?: boolean } {
  const path = target.startsWith('/') ? target : safePath(target);
  const ok = (b: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(b)}\r\n${extra}\r\n${method === 'HEAD' ? '' : b}`;
  switch (path) {
    case '/chunked': return { bytes: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext="a b"\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n' };
    case '/until-close': return { bytes: 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body ends with the close', close: true };
    case '/interim': return { bytes: 'HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n' + ok('after 103') };
    case '/204': return { bytes: 'HTTP/1.1 204 No Content\r\nContent-Length: 100\r\n\r\n' };
    case '/304': return { bytes: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n' };
    case '/close-after': return { bytes: ok('closing', 'Connection: close\r\n'), close: true };
    case '/unframeable': return { bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc' };
    default: return { bytes: ok(`${config.name} ${method} ${path} ${body.length}\n`) };
  }
}

function scriptedHttp(file: string | undefined) {
  return (sock: Socket): void => {
    const base = { proto: 'http-raw', port: sock.localPort ?? null, local: addr(sock.localAddress), peer: addr(sock.remoteAddress), peerPort: sock.remotePort };
    record(file, { ...base, event: 'connect', bytes: 0 });
    let buf = Buffer.alloc(0);
    sock.on('error', () => undefined);
    sock.on('end', () => sock.end());
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const headText = buf.subarray(0, end).toString('latin1');
        const lines = headText.split('\r\n');
        const [method = '', target = ''] = lines[0]!.split(' ');
        const field = (name: string) => lines.slice(1).find((l) => l.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
        const length = Number(field('content-length') ?? 0);
        if (buf.length < end + 4 + length) return;
        const body = buf.subarray(end + 4, end + 4 + length);
        buf = buf.subarray(end + 4 + length);
        record(file, { ...base, event: 'request', method, path: target, host: field('host'), requestHead: headText, bytes: length, body: head(body) });
        const reply = scriptedReply(method, target, body);
        sock.write(reply.bytes);
        if (reply.close) return void sock.end();
      }
    });
  };
}

// ---------------------------------------------------------------- raw streams

/** Echoes everything back and honours half-close: the reply ends after the client's end. */
function echoRecorder(proto: 'tcp' | 'unix', file: string | undefined, path?: string) {
  return (sock: Socket): void => {
    const base = proto === 'unix'
      ? { proto, path: path?.startsWith('\0') ? '@' + path.slice(1) : path, peer: '' }
      : { proto, port: sock.localPort ?? null, local: addr(sock.localAddress), peer: addr(sock.remoteAddress), peerPort: sock.remotePort };
    record(file, { ...base, event: 'connect', bytes: 0 });
    let bytes = 0;
    const first: Buffer[] = [];
    let firstLen = 0;
    sock.on('data', (c: Buffer) => {
      bytes += c.length;
      if (firstLen < HEAD_BYTES) {
        first.push(c);
        firstLen += c.length;
      }
      sock.write(c);
    });
    sock.on('end', () => sock.end());
    sock.on('error', () => undefined);
    sock.on('close', () => record(file, { ...base, event: 'close', bytes, head: head(Buffer.concat(first)) }));
  };
}

// ---------------------------------------------------------------- datagrams

function udpRecorder(proto: 'udp' | 'dns', file: string | undefined, s: UdpSocket) {
  return (msg: Buffer, rinfo: RemoteInfo): void => {
    const a = s.address();
    const base = { proto, port: a.port, local: addr(a.address), peer: addr(rinfo.address), peerPort: rinfo.port, bytes: msg.length };
    if (proto === 'udp') {
      record(file, { ...base, event: 'datagram', head: head(msg) });
      s.send(msg, rinfo.port, rinfo.address);
      return;
    }
    const q = parseQuestion(msg);
    record(file, { ...base, event: 'query', qname: q?.name, qtype: q?.type });
    if (q) s.send(nxdomain(msg, q.end), rinfo.port, rinfo.address);
  };
}

/** The first question of a DNS query, or undefined if the packet is not one. */
function parseQuestion(msg: Buffer): { name: string; type: number; end: number } | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length) {
    const len = msg[i]!;
    if (len === 0) break;
    if (len > 63 || i + 1 + len > msg.length) return undefined;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += 1 + len;
  }
  if (i + 5 > msg.length) return undefined;
  return { name: labels.join('.'), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

/** NXDOMAIN for the query: the resolver gives up at once instead of timing out. */
function nxdomain(query: Buffer, questionEnd: number): Buffer {
  const r = Buffer.from(query.subarray(0, questionEnd));
  const rd = query[2]! & 0x01;
  r[2] = 0x80 | (query[2]! & 0x78) | rd; // QR, opcode, RD
  r[3] = 0x80 | 0x03; // RA, RCODE=NXDOMAIN
  r.writeUInt16BE(1, 4);
  r.writeUInt16BE(0, 6);
  r.writeUInt16BE(0, 8);
  r.writeUInt16BE(0, 10);
  return r;
}

// ---------------------------------------------------------------- listening

type Closable = NetServer | UdpSocket;

function listenTcp(make: () => NetServer, address: string, port: number): Promise<NetServer> {
  return new Promise((ok, fail) => {
    const srv = make();
    srv.once('error', fail);
    srv.listen({ host: address, port, ipv6Only: address !== '::' && isIPv6(address) }, () => {
      srv.off('error', fail);
      ok(srv);
    });
  });
}

function bindUdp(address: string, port: number, setup: (s: UdpSocket) => void): Promise<UdpSocket> {
  return new Promise((ok, fail) => {
    const s = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', ipv6Only: address !== '::' && isIPv6(address) });
    s.once('error', fail);
    s.bind({ address, port, exclusive: true }, () => {
      s.off('error', fail);
      setup(s);
      ok(s);
    });
  });
}

function portOf(c: Closable): number {
  return 'setBroadcast' in c ? c.address().port : (c.address() as { port: number }).port;
}

/** Binds every address on one port; with port 0, retries until one port is free everywhere. */
async function bindAll(addresses: readonly string[], port: number, bindOne: (a: string, p: number) => Promise<Closable>): Promise<{ port: number; socks: Closable[] }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const socks: Closable[] = [];
    try {
      let p = port;
      for (const a of addresses) {
        const s = await bindOne(a, p);
        socks.push(s);
        p = portOf(s);
      }
      return { port: p, socks };
    } catch (e) {
      for (const s of socks) s.close();
      if (port !== 0 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    }
  }
  throw new Error(`no port free on all of ${addresses.join(', ')}`);
}

async function startListener(l: ListenerSpec): Promise<ReadyListener> {
  const file = l.recordFile;
  const addresses = l.addresses ?? ['::'];
  const port = l.port ?? 0;
  switch (l.kind) {
    case 'http': {
      const make = (): NetServer => {
        const srv = createHttpServer({ requireHostHeader: false, keepAliveTimeout: 30_000 }, httpHandler('http', file));
        srv.requestTimeout = 0;
        srv.on('connection', onTcpConnect('http', file));
        srv.on('upgrade', upgradeEcho('http', file));
        srv.on('clientError', (err, sock: Socket) => {
          record(file, { proto: 'http', event: 'error', port: sock.localPort ?? null, peer: addr(sock.remoteAddress), error: err.message, bytes: 0 });
          if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        });
        return srv;
      };
      const r = await bindAll(addresses, port, (a, p) => listenTcp(make, a, p));
      return { kind: 'http', port: r.port, addresses };
    }
    case 'https': {
      if (!tlsOpts) throw new Error('https listener without tls config');
      const make = (): NetServer => {
        const srv = createSecureServer({ ...tlsOpts, allowHTTP1: true }, httpHandler('https', file));
        srv.on('connection', onTcpConnect('https', file));
        srv.on('upgrade', upgradeEcho('https', file));
        srv.on('secureConnection', (t: TLSSocket & { servername?: string | false }) => {
          record(file, { proto: 'https', event: 'tls', port: t.localPort ?? null, peer: addr(t.remoteAddress), peerPort: t.remotePort, sni: t.servername || null, alpn: t.alpnProtocol || null, bytes: 0 });
        });
        srv.on('tlsClientError', (err: Error, t: TLSSocket) => {
          record(file, { proto: 'https', event: 'tls-error', port: t.localPort ?? null, peer: addr(t.remoteAddress), error: err.message, bytes: 0 });
        });
        return srv as unknown as NetServer;
      };
      const r = await bindAll(addresses, port, (a, p) => listenTcp(make, a, p));
      return { kind: 'https', port: r.port, addresses };
    }
    case 'http-raw': {
      const make = (): NetServer => createNetServer(scriptedHttp(file));
      const r = await bindAll(addresses, port, (a, p) => listenTcp(make, a, p));
      return { kind: 'http-raw', port: r.port, addresses };
    }
    case 'tcp': {
      const make = (): NetServer => createNetServer({ allowHalfOpen: true }, echoRecorder('tcp', file));
      const r = await bindAll(addresses, port, (a, p) => listenTcp(make, a, p));
      return { kind: 'tcp', port: r.port, addresses };
    }
    case 'udp':
    case 'dns': {
      const kind = l.kind;
      const bind = (a: string, p: number): Promise<UdpSocket> => bindUdp(a, p, (s) => s.on('message', udpRecorder(kind, file, s)));
      if (l.randomLoopback) {
        for (let i = 0; i < 64; i++) {
          const a = `127.250.${1 + Math.floor(Math.random() * 254)}.53`;
          try {
            const s = await bind(a, port);
            return { kind, port: portOf(s), addresses: [a] };
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
          }
        }
        throw new Error('no free 127.250.X.53 address');
      }
      const r = await bindAll(addresses, port, bind);
      return { kind, port: r.port, addresses };
    }
    case 'unix': {
      const path = l.path;
      if (!path) throw new Error('unix listener without path');
      await new Promise<void>((ok, fail) => {
        const srv = createNetServer({ allowHalfOpen: true }, echoRecorder('unix', file, path));
        srv.once('error', fail);
        srv.listen(path, () => ok());
      });
      // Reachability must be decided by cordon's walls, not by file modes.
      if (!path.startsWith('\0')) chmodSync(path, 0o777);
      return { kind: 'unix', port: null, addresses: [], path };
    }
  }
}

async function main(): Promise<void> {
  const ready: ReadyListener[] = [];
  for (const l of config.listeners) ready.push(await startListener(l));
  process.stdout.write(JSON.stringify({ ready }) + '\n');
}

// "sync N": answered once events that were already queued have been handled
// (a few loop turns and a short pause), so a test can read records after it.
createInterface({ input: process.stdin }).on('line', (line) => {
  const m = /^sync (\d+)$/.exec(line.trim());
  if (!m) return;
  setTimeout(() => setImmediate(() => setImmediate(() => process.stdout.write(JSON.stringify({ synced: Number(m[1]) }) + '\n'))), 30);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));

main().catch((e: Error) => {
  process.stdout.write(JSON.stringify({ error: `${config.name}: ${e.message}` }) + '\n');
  process.exit(1);
});

/** By extension, like a static web server; everything else is a byte stream. */
function contentType(p: string): string {
  if (p.endsWith('.html')) return 'text/html; charset=utf-8';
  if (p.endsWith('.json')) return 'application/json';
  return 'application/octet-stream';
}
