/**
 * The HTTP proxy: absolute-form requests (plain HTTP, streamed both ways,
 * upstream connections kept per client connection) and CONNECT tunnels.
 * Connections reach it already authenticated (see auth.ts: the relay's
 * preamble). It parses, asks the one decision function, and dials exactly
 * the address the decision names: it never resolves a name itself.
 *
 * Trust boundary: request line, headers and bodies come from the sandbox.
 */
import { createHash } from 'node:crypto';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions as HttpsRequestOptions } from 'node:https';
import { pipeline, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { connect, isIP, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { count, firstChunk, guardedTunnel, readTunnelStart, replayed, tunnel, type Counted } from './tunnel.js';
import { judgeServerName, judgeTunnel } from './first-bytes.js';
import type { SessionSecrets } from './auth.js';
import type { Decider, Decision, ProxyEvent, RequestPolicy, Scrubbing, Termination, Through } from './types.js';
import { connectThrough, openThrough } from './parent.js';
import { scrubFrames, scrubStream, scrubText } from './scrub.js';
import { PROTOCOL } from '../protocol.js';

/** The headers the relay reads, and its answers to a tunnel (native/protocol.json: header, relay). */
const H = PROTOCOL.header;
const R = PROTOCOL.relay;

export interface ProxyOptions {
  /** The live secrets, one per command: every connection's preamble must carry one (see auth.ts). */
  readonly secrets: SessionSecrets;
  readonly decide: Decider;
  readonly onEvent?: (e: ProxyEvent) => void;
  readonly idleMs?: number;
  readonly handshakeMs?: number;
  readonly dialMs?: number;
  /**
   * Changes whenever the rules change (the library's setNetwork): a decision
   * remembered for a kept-alive client connection is used only under the
   * rules it was made with.
   */
  readonly rulesVersion?: () => number;
  /** TLS termination (network.tlsTerminate): which CONNECTs are opened here, with what. */
  readonly terminate?: Termination;
  /** network.refuseOpaqueTunnels: a tunnel not terminated, or not carrying TLS, is refused (every SOCKS5 one). */
  readonly refuseOpaque?: boolean;
  /** Request rules and brokered credentials (network/requests.ts): each request judged, credentials swapped in, responses scrubbed. */
  readonly requests?: RequestPolicy;
}

/** Requests of one client connection served at once (pipelined ones: the relay itself waits past as many). */
const MAX_IN_FLIGHT = 64;

const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * `relayDials`: client connections whose relay dials allowed CONNECT
 * tunnels itself and splices them in the kernel: they get the decision as
 * `CORDON-DIAL <address> <port>\r\n`, then send the client's first bytes
 * for the name check (first-bytes.ts) and get `CORDON-GO`, `CORDON-ROUTE`
 * (plain HTTP, served here) or `CORDON-STOP <reason>`, after any number of
 * `CORDON-PASS <n>` (send the first n held bytes to the server, and go on
 * reading); no other tunnel bytes pass through Node. Refusals are answered the same way for every connection.
 */
export function createHttpProxy(o: ProxyOptions, relayDials: WeakSet<Socket> = new WeakSet(), owners: WeakMap<Socket, string> = new WeakMap()): HttpProxy {
  const idleMs = o.idleMs ?? 300_000;
  const agents = new WeakMap<Socket, Agent>();
  const inFlight = new WeakMap<Socket, number>();
  const decisions = new WeakMap<Socket, Map<string, { d: Decision; version: number }>>();
  const heldBodies = { used: 0 };
  /** Plain-HTTP requests the relay sends itself, by id, until it reports their responses (readReports). */
  const relayed = new Map<number, RelayedRequest>();
  const relayedBy = new Map<string | undefined, number>();
  let nextRelayed = 1;
  /**
   * Keeps a relayed request for its report: at most RELAYED_PER_OWNER of one
   * command's (its oldest is forgotten, unreported: one command cannot push
   * another's out) and RELAYED_MAX in all.
   */
  const remember = (id: number, r: RelayedRequest) => {
    const mine = relayedBy.get(r.owner) ?? 0;
    if (mine >= RELAYED_PER_OWNER) {
      for (const [k, v] of relayed) if (v.owner === r.owner) { forget(k); break; }
    } else if (relayed.size >= RELAYED_MAX) forget(relayed.keys().next().value!);
    relayed.set(id, r);
    relayedBy.set(r.owner, (relayedBy.get(r.owner) ?? 0) + 1);
  };
  /** Who waits for a command's relayed requests to be reported (settled). */
  const settling = new Map<string | undefined, (() => void)[]>();
  const forget = (id: number) => {
    const r = relayed.get(id);
    if (!r) return;
    relayed.delete(id);
    const n = (relayedBy.get(r.owner) ?? 1) - 1;
    if (n > 0) relayedBy.set(r.owner, n);
    else {
      relayedBy.delete(r.owner);
      for (const done of settling.get(r.owner) ?? []) done();
      settling.delete(r.owner);
    }
  };
  /**
   * Resolves once every plain-HTTP request the relay sent for `owner` has
   * its report (its net.done event is out), or after `ms`: a command's
   * relay, stopped when the command ends, may not have sent the report of
   * the last answer it passed on yet.
   */
  function settled(owner: string, ms: number): Promise<void> {
    if (!relayedBy.has(owner)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = settling.get(owner) ?? [];
      const done = () => { clearTimeout(t); resolve(); };
      // Past the grace, no longer waited for: the report may never come (an answer the client did not read to its end).
      const t = setTimeout(() => { list.splice(list.indexOf(done) >>> 0, 1); if (list.length === 0) settling.delete(owner); resolve(); }, ms);
      list.push(done);
      settling.set(owner, list);
    });
  }
  const handshakeMs = o.handshakeMs ?? 10_000;
  // A client that opens a connection and never finishes a request head is cut
  // after handshakeMs (checked at least that often, not Node's default 30 s).
  const server = createServer({ headersTimeout: handshakeMs, requestTimeout: 0, keepAliveTimeout: 60_000, connectionsCheckingInterval: Math.min(handshakeMs, 1_000) }, (req, res) => {
    void handleRequest(req, res).catch(() => res.destroy());
  });
  // `Expect: 100-continue`: the proxy answers it itself only when it forwards
  // the body; a relay that forwards a request passes the server's own answer on.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (!relayDials.has(req.socket)) res.writeContinue();
    void handleRequest(req, res).catch(() => res.destroy());
  });

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Node parses every pipelined request of a connection at once and holds each
    // one's answer in order: past MAX_IN_FLIGHT at once, the connection is cut.
    // And a client gone while its decision was pending gets nothing sent upstream for it.
    const sock = req.socket;
    const n = (inFlight.get(sock) ?? 0) + 1;
    inFlight.set(sock, n);
    let gone = false;
    res.once('close', () => {
      gone = true;
      inFlight.set(sock, (inFlight.get(sock) ?? 1) - 1);
    });
    if (n > MAX_IN_FLIGHT) return void sock.destroy();
    const relayForwards = relayDials.has(req.socket);
    // What the relay does not frame itself comes back here on a plain connection.
    // (HEAD: Node never sends a body in answer to it, and the answer's body is the rewritten head.)
    if (relayForwards && (req.method === 'HEAD' || req.httpVersion !== '1.1' || req.headers['transfer-encoding'] !== undefined || req.headers.upgrade !== undefined)) {
      res.writeHead(200, { [H.route]: 'proxy', 'Content-Length': 0 });
      return void res.end();
    }
    req.socket.setTimeout(idleMs);
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      return refuse(res, 400, 'bad-request-target', 'cordon: the proxy needs an absolute http:// URL in the request line');
    }
    // https: only for a request read inside a terminated tunnel (the inner server sets it).
    const secure = url.protocol === 'https:' && terminated.has(req.socket);
    if (url.protocol !== 'http:' && !secure) return refuse(res, 400, 'bad-request-target', `cordon: ${url.protocol} URLs go through CONNECT, not as a plain proxy request`);
    const via = secure ? 'https' as const : 'http' as const;
    const defaultPort = secure ? 443 : 80;
    const owner = owners.get(req.socket);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port ? Number(url.port) : defaultPort;
    const hostHeader = req.headers.host;
    // Node keeps the first Host header, and the request is forwarded with all of them: an upstream that
    // routes by another would be reached for a host nobody decided on.
    const hosts = req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'host').length;
    if (hosts > 1) {
      const message = `cordon: request to ${url.host} refused: it carries ${hosts} Host headers (one names the host it is sent to)`;
      emit(owner, via, host, port, { allow: false, reason: 'host-mismatch', message, rule: 'built-in: a proxied request\'s Host header names the host it is sent to', fix: null });
      return refuse(res, 403, 'host-mismatch', message);
    }
    if (!hostHeader || !sameAuthority(hostHeader, url.host, defaultPort)) {
      const message = `cordon: request to ${url.host} refused: its Host header (${hostHeader ?? 'missing'}) names another host`;
      emit(owner, via, host, port, { allow: false, reason: 'host-mismatch', message, rule: 'built-in: a proxied request\'s Host header names the host it is sent to', fix: null });
      return refuse(res, 403, 'host-mismatch', message);
    }
    const socket = req.socket;
    // A kept-alive client connection keeps the address it was first given for
    // a target, exactly like the upstream connection it reuses: allowed
    // decisions are remembered per client connection (refusals never are).
    let known = decisions.get(socket);
    const key = `${host}\0${port}`;
    const version = o.rulesVersion?.() ?? 0;
    const kept = known?.get(key);
    let d: Decision | undefined = kept?.version === version ? kept.d : undefined;
    if (!d) {
      d = await o.decide({ host, port, via, ...(owner !== undefined ? { owner } : {}) });
      if (d.allow) {
        if (!known) decisions.set(socket, (known = new Map()));
        if (known.size < 64 || kept) known.set(key, { d, version });
      }
    }
    if (!d.allow) {
      emit(owner, via, host, port, d);
      return refuse(res, 403, d.reason, d.message);
    }
    // What a response from a host a credential is bound to (by name, or by the address one was dialed at) must not
    // carry, over TLS or not: the real value, given back as the token. It is scrubbed here: the relay, which passes
    // responses on byte for byte, hands such a connection over before anything is reported (the request comes again, on it).
    const scrub = o.requests?.scrubbing(host, port, d.dial.address);
    if (relayForwards && scrub) {
      res.writeHead(200, { [H.route]: 'proxy', 'Content-Length': 0 });
      return void res.end();
    }
    const forwarded = url.pathname + url.search;
    const refusedRequest = (status: number, v: { reason: string; message: string; rule: string; fix: string | null }) => {
      o.onEvent?.({ ...proxyEvent(owner, via, host, port, { allow: false, reason: v.reason, message: v.message, rule: v.rule, fix: v.fix, address: d.dial.address }), request: { method: req.method ?? '', target: spelled(req.url ?? '') } });
      refuse(res, status, v.reason, v.message);
    };
    // TRACE through an upstream proxy: answered by that proxy (Max-Forwards), it would echo the proxy's credentials.
    if (!secure && d.through && req.method === 'TRACE') {
      return refusedRequest(405, { reason: 'trace-through-proxy', message: `cordon: TRACE to ${host}:${port} refused: it goes through the upstream proxy ${d.through.proxy}, which could answer it with the request it received, its credentials included`, rule: 'built-in: no TRACE through an upstream proxy', fix: null });
    }
    // Request rules (method, path as spelled, body size, headers), then brokered credentials (swapped in its own
    // header on a verified bound host; anything else refused).
    const judged = o.requests?.judge({ host, port, verified: secure, method: req.method ?? '', rawHeaders: req.rawHeaders, spelled: spelled(req.url ?? ''), forwarded });
    if (judged && !judged.ok) return refusedRequest(judged.status, judged);
    o.onEvent?.({ ...proxyEvent(owner, via, host, port, d), ...(judged?.swapped.length ? { credentials: judged.swapped } : {}) });
    if (gone || req.socket.destroyed) return;
    const raw = judged ? judged.headers : req.rawHeaders;
    // The relay dials only TCP: a request for the inspecting proxy's Unix socket is served here (the relay hands the connection over).
    if (relayForwards && d.through?.socketPath) {
      res.writeHead(200, { [H.route]: 'proxy', 'Content-Length': 0 });
      return void res.end();
    }
    if (relayForwards) return forwardByRelay(req, res, url, d.dial, raw, d.through, { owner, host, port, target: spelled(req.url ?? '') });
    let agent = agents.get(socket);
    if (!agent) {
      // Upstream connections live as long as the client's connection: reused
      // while it is kept alive, closed with it.
      agent = secure ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new Agent({ keepAlive: true, maxSockets: 1 });
      // Through the upstream proxy, a terminated tunnel's requests go in a CONNECT tunnel of their own (the target is the tunnel's, fixed).
      if (secure && d.through) agent.createConnection = connectThrough(d.dial, d.through, o.dialMs ?? 10_000, upstreamTls(host)) as unknown as typeof agent.createConnection;
      agents.set(socket, agent);
      const a = agent;
      socket.once('close', () => a.destroy());
    }
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase();
      if (HOP_BY_HOP.has(lower) || (d.through && !secure && lower === 'max-forwards')) continue;
      // Bodies cordon can open: it must read them to scrub them.
      headers.push(raw[i]!, scrub && lower === 'accept-encoding' ? SCRUBBABLE : raw[i + 1]!);
    }
    // A body of no stated length (Transfer-Encoding, taken off above as hop-by-hop) goes on chunked, whatever the
    // method: Node sends a GET's body unframed otherwise, and the server would read its bytes as another request.
    if (req.headers['transfer-encoding'] !== undefined) headers.push('Transfer-Encoding', 'chunked');
    // Plain HTTP through the upstream proxy: the request in absolute form, with the proxy's credentials.
    const plainThrough = !secure ? d.through : undefined;
    if (plainThrough?.authorization) headers.push('Proxy-Authorization', plainThrough.authorization);
    // Signed with brokered AWS session keys: signed again over these headers, the body read whole first where its hash is not stated.
    const resign = judged?.resign;
    const dial = d.dial;
    // What a forwarded request carries each way: a net.done event once the client's answer is over.
    const carried = { up: 0, down: 0, forwarded: false };
    req.on('data', (c: Buffer) => { carried.up += c.length; });
    res.once('close', () => { if (carried.forwarded) ended(owner, via, host, port, dial.address, carried.up, carried.down, { method: req.method ?? '', target: spelled(req.url ?? ''), ...(res.headersSent ? { status: res.statusCode } : {}) }); });
    if (resign && resign.payloadHash === undefined) {
      const most = Math.min(resign.maxBodyBytes, judged?.maxBodyBytes ?? Infinity);
      return void readWhole(req, most, heldBodies, (body, why, release) => {
        // Held until the answer is over: the body is in flight upstream until then.
        res.once('close', release);
        if (why === 'busy') return refusedRequest(503, { reason: 'busy', message: `cordon: ${req.method} to ${host}:${port} refused: it is signed with brokered AWS keys over its body's hash, so cordon reads the body whole to sign it again, and it holds ${HELD_BODIES_MAX} bytes of such bodies already; send it again when others are done`, rule: 'built-in: request bodies held at once', fix: 'state the payload hash (x-amz-content-sha256: UNSIGNED-PAYLOAD or the SHA-256)' });
        if (!body) return refusedRequest(413, { reason: 'body-too-large', message: `cordon: ${req.method} to ${host}:${port} refused: it is signed with brokered AWS keys over its body's hash, so cordon reads the body whole to sign it again, and it is over ${most} bytes`, rule: most === resign.maxBodyBytes ? 'built-in: a body signed by its hash is read whole' : 'network.requestRules', fix: 'state the payload hash (x-amz-content-sha256: UNSIGNED-PAYLOAD or the SHA-256)' });
        if (gone) return;
        const framed: string[] = [];
        for (let i = 0; i < headers.length; i += 2) if (!/^(content-length|transfer-encoding)$/i.test(headers[i]!)) framed.push(headers[i]!, headers[i + 1]!);
        const signed = resign.sign([...framed, 'Content-Length', String(body.length)], createHash('sha256').update(body).digest('hex'), body);
        if (!signed.ok) return refusedRequest(signed.status, signed);
        send(signed.headers).end(body);
      });
    }
    if (resign) {
      const signed = resign.sign(headers, resign.payloadHash!);
      if (!signed.ok) return refusedRequest(signed.status, signed);
      headers.splice(0, headers.length, ...signed.headers);
    }
    const up = send(headers);
    /** The request upstream with these headers, its answer wired to the client's. */
    function send(headers: string[]): ReturnType<typeof httpRequest> {
      const path = plainThrough ? `http://${plainThrough.authority}${url.pathname}${url.search}` : url.pathname + url.search;
      const target = { ...(plainThrough?.socketPath ? { socketPath: plainThrough.socketPath } : { host: dial.address, port: dial.port }), method: req.method, path, headers, agent, setHost: false, timeout: idleMs };
      // Upstream TLS: verified against the system's roots and the configured CAs (never the session's own), for the name the tunnel was allowed to.
      const up = secure ? httpsRequest({ ...target, ...upstreamTls(host) }) : httpRequest(target);
      carried.forwarded = true;
      up.on('response', (ur) => {
        ur.on('data', (c: Buffer) => { carried.down += c.length; });
        if (scrub) return scrubbedResponse(ur, res, scrub, req.method ?? 'GET', (why) => emit(owner, via, host, port, { allow: false, reason: 'unscrubbable-response', message: `cordon: the response of ${host}:${port} ${why}`, rule: 'built-in: a response from a host a credential is bound to never carries the credential', fix: null, address: dial.address }));
        const out: string[] = [];
        for (let i = 0; i < ur.rawHeaders.length; i += 2) {
          if (!HOP_BY_HOP.has(ur.rawHeaders[i]!.toLowerCase())) out.push(ur.rawHeaders[i]!, ur.rawHeaders[i + 1]!);
        }
        res.writeHead(ur.statusCode ?? 502, ur.statusMessage, out);
        ur.pipe(res);
        ur.on('error', () => res.destroy());
      });
      up.on('timeout', () => up.destroy(new Error('upstream idle timeout')));
      up.on('error', (e) => {
        if (res.headersSent) return res.destroy();
        const bad = certificateRefusal(e, host, port, dial.address);
        if (!bad) return refuse(res, 502, 'upstream-failed', `cordon: ${host}:${port} (${dial.address}) failed: ${e.message}`);
        emit(owner, via, host, port, bad);
        refuse(res, 502, bad.reason, bad.message);
      });
      res.on('close', () => { if (!res.writableFinished) up.destroy(); });
      return up;
    }
    // A body of no stated length is counted as it goes: past a rule's maxBodyBytes, the request is cut off upstream.
    const max = judged?.maxBodyBytes;
    if (max === undefined || req.headers['content-length'] !== undefined) return void req.pipe(up);
    let seen = 0;
    req.on('data', (c: Buffer) => {
      seen += c.length;
      if (seen <= max) return void (up.write(c) || (req.pause(), up.once('drain', () => req.resume())));
      up.destroy(new Error('body over maxBodyBytes'));
      req.removeAllListeners('data');
      if (!res.headersSent) refusedRequest(413, { reason: 'body-too-large', message: `cordon: ${req.method} ${JSON.stringify(spelled(req.url ?? ''))} to ${host}:${port} refused: its body is over ${max} bytes (a network.requestRules maxBodyBytes); what came before was not completed upstream`, rule: 'network.requestRules', fix: 'raise maxBodyBytes' });
    });
    req.on('end', () => { if (seen <= max) up.end(); });
  }

  /**
   * The relay sends this request itself: it gets the rewritten head (origin
   * form, hop-by-hop headers dropped, exactly one Content-Length) and the
   * body's length, and copies that many bytes after it (see cordon-relay.c).
   */
  function forwardByRelay(req: IncomingMessage, res: ServerResponse, url: URL, dial: { address: string; port: number }, raw: readonly string[], through: Through | undefined, about: Omit<RelayedRequest, 'method' | 'address' | 'up'>): void {
    const length = req.headers['content-length'] === undefined ? 0 : Number(req.headers['content-length']);
    // Its id, for the relay's report of its response (readReports): a net.done event then.
    const id = nextRelayed++;
    remember(id, { ...about, target: about.target.slice(0, 2048), method: req.method ?? '', address: dial.address, up: length });
    // Through the upstream proxy (dial is the proxy): absolute form, with the proxy's credentials.
    const lines = [`${req.method} ${through ? `http://${through.authority}` : ''}${url.pathname}${url.search} HTTP/1.1`];
    if (through?.authorization) lines.push(`Proxy-Authorization: ${through.authorization}`);
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const lower = name.toLowerCase();
      // Through an upstream proxy, no Max-Forwards: the request is for the target, never for that proxy to answer.
      if (!HOP_BY_HOP.has(lower) && lower !== 'content-length' && !(through && lower === 'max-forwards')) lines.push(`${name}: ${raw[i + 1]!}`);
    }
    if (req.headers['content-length'] !== undefined) lines.push(`Content-Length: ${length}`);
    // Header bytes go out exactly as they came in (Node reads them as latin1).
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    res.writeHead(200, { [H.forward]: `${dial.address} ${dial.port} ${length} ${id}`, 'Content-Length': head.length });
    res.end(head);
  }

  /**
   * The relay's reports of the plain-HTTP responses it passed on, on a
   * connection of its own (preamble CORDON/R, this owner's secret): `<id>
   * <status> <body bytes>` a line. Each names a request forwardByRelay
   * handed it, of the same owner, once; anything else ends the connection.
   */
  function readReports(s: Socket, owner: string): void {
    s.setTimeout(0);
    let text = '';
    s.on('data', (c: Buffer) => {
      text += c.toString('latin1');
      let nl: number;
      while ((nl = text.indexOf('\r\n')) >= 0) {
        const m = /^(\d{1,15}) (\d{3}) (\d{1,20})$/.exec(text.slice(0, nl));
        text = text.slice(nl + 2);
        if (!m) return void s.destroy();
        // Unknown: forgotten past RELAYED_MAX, or reported already.
        const r = relayed.get(Number(m[1]));
        if (!r) continue;
        if (r.owner !== owner) return void s.destroy();
        forget(Number(m[1]));
        ended(owner, 'http', r.host, r.port, r.address, r.up, Number(m[3]), { method: r.method, target: r.target, status: Number(m[2]) });
      }
      if (text.length > 128) s.destroy();
    });
    s.on('end', () => s.end());
    s.resume();
  }

  // Plain HTTP inside a tunnel (CONNECT or SOCKS5): each request is judged
  // and forwarded like a proxied one, its Host held to the tunnel's target.
  const tunnels = new WeakMap<Socket, { host: string; port: number }>();
  /** Client connections of terminated tunnels (decrypted): their requests are https ones. */
  const terminated = new WeakSet<Socket>();
  /** A terminated tunnel's deadline for its first request (a tunnel that sends none holds a maxTunnels slot). */
  const awaitingRequest = new WeakMap<Socket, NodeJS.Timeout>();
  let openTunnels = 0;
  const inner = createServer({ headersTimeout: handshakeMs, requestTimeout: 0, keepAliveTimeout: 60_000, connectionsCheckingInterval: Math.min(handshakeMs, 1_000) }, (req, res) => {
    clearTimeout(awaitingRequest.get(req.socket));
    const t = tunnels.get(req.socket);
    if (!t || !req.url?.startsWith('/')) return refuse(res, 400, 'bad-request-target', 'cordon: a request inside a tunnel names only its path (origin form): the tunnel names the host');
    req.url = `${terminated.has(req.socket) ? 'https' : 'http'}://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}${req.url}`;
    void handleRequest(req, res).catch(() => res.destroy());
  });
  inner.on('upgrade', (req: IncomingMessage, s: Socket, head: Buffer) => void handleUpgrade(req, s, head).catch(() => s.destroy()));
  // A client that half-closes after its last request still gets the answers (Node's own switch: no option sets it).
  (inner as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  inner.on('connect', (_req: IncomingMessage, s: Socket) => rawRefuse(s, 400, 'bad-request-target', 'cordon: CONNECT inside a tunnel is not proxied'));
  function serveTunnelHttp(socket: Socket, target: { host: string; port: number }, bytes: Buffer): void {
    const stream = replayed(socket, bytes) as unknown as Socket;
    tunnels.set(stream, target);
    const owner = owners.get(socket);
    if (owner !== undefined) owners.set(stream, owner);
    inner.emit('connection', stream);
  }

  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    void handleConnect(req, client, head).catch(() => client.destroy());
  });

  async function handleConnect(req: IncomingMessage, client: Socket, head: Buffer): Promise<void> {
    client.on('error', () => client.destroy());
    client.setTimeout(idleMs);
    const target = parseAuthority(req.url ?? '');
    if (!target) return rawRefuse(client, 400, 'bad-request-target', `cordon: CONNECT needs host:port, got ${JSON.stringify(req.url)}`);
    const owner = owners.get(client);
    const d: Decision = await o.decide({ host: target.host, port: target.port, via: 'connect', ...(owner !== undefined ? { owner } : {}) });
    const t = o.terminate;
    const opened = d.allow && t !== undefined && t.covers(target.host, target.port);
    // Requests a rule judges, or that a credential is bound to (foreign keys refused), must be seen: such a tunnel is opened or refused.
    const seen = d.allow && !opened ? o.requests?.mustSee(target.host, target.port, d.dial.address) : undefined;
    if (d.allow && !opened && (o.refuseOpaque || seen)) {
      const refusal = seen ? rulesHidden(target, d.dial.address, seen) : opaqueRefused(target, d.dial.address, 'is not TLS-terminated');
      emit(owner, 'connect', target.host, target.port, refusal);
      return rawRefuse(client, 403, refusal.reason, refusal.message);
    }
    o.onEvent?.({ ...proxyEvent(owner, 'connect', target.host, target.port, d), ...(opened ? { tls: 'terminated' as const } : {}) });
    if (!d.allow) return rawRefuse(client, 403, d.reason, d.message);
    if (client.destroyed) return; // gone while the decision was pending: nothing is dialed for it
    const refused = (v: { reason: string; message: string }) => emit(owner, 'connect', target.host, target.port, tunnelRefused(v, d.dial.address));
    if (opened) return terminateTunnel(client, head, target, d.dial, owner, t, d.through);
    if (d.through) return throughTunnel(client, head, target, d.dial, d.through, owner);
    if (relayDials.has(client)) {
      // The relay dials and answers the client itself, then sends the
      // client's first bytes here and splices only once they agree with the
      // target (CORDON-GO); for plain HTTP this connection carries the rest.
      client.write(`${R.dialAnswer}${d.dial.address} ${d.dial.port}\r\n`);
      // The client's time starts once the relay has dialed, which it may take up to dialMs to do.
      const { bytes, first } = await readTunnelStart(client, head, handshakeMs + (o.dialMs ?? 10_000), (preamble) => client.write(`${R.tunnelPass}${preamble.length}\r\n`));
      const v = judgeTunnel(target.host, target.port, first);
      if (v.action === 'go') return void goReported(client, (secret) => o.secrets.ownerOf(secret) === owner, (sent, got) => ended(owner, 'connect', target.host, target.port, d.dial.address, sent, got));
      if (v.action === 'close') return void client.destroy();
      if (v.action === 'http') {
        client.write(`${R.tunnelRoute}\r\n`);
        return serveTunnelHttp(client, target, bytes);
      }
      refused(v);
      return void client.end(`${R.tunnelStop}${v.reason}\r\n`);
    }
    const up = connect({ host: d.dial.address, port: d.dial.port, allowHalfOpen: true });
    client.once('close', () => up.destroy());
    const dialTimer = setTimeout(() => up.destroy(new Error('connect timeout')), o.dialMs ?? 10_000);
    up.once('error', (e) => {
      clearTimeout(dialTimer);
      if (!client.destroyed) rawRefuse(client, 502, 'upstream-failed', `cordon: ${target.host}:${target.port} (${d.dial.address}) failed: ${e.message}`);
    });
    up.once('connect', () => {
      clearTimeout(dialTimer);
      up.removeAllListeners('error');
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      guardedTunnel(client, up, head, { ...target, handshakeMs, idleMs, onRefused: refused, onHttp: (bytes) => serveTunnelHttp(client, target, bytes), onDone: (sent, got) => ended(owner, 'connect', target.host, target.port, d.dial.address, sent, got) });
    });
  }

  /**
   * A CONNECT opened here (TLS termination): the client gets 200 (from the
   * relay, told `CORDON-SERVE`, or from here), then its TLS is answered with
   * a leaf of the session's CA for the target, and its requests are served
   * like plain ones, each forwarded over a verified TLS connection of its own.
   * First bytes that are not TLS are tunnelled as any other tunnel (name
   * check included), or refused with refuseOpaqueTunnels.
   */
  async function terminateTunnel(client: Socket, head: Buffer, target: { host: string; port: number }, dial: { address: string; port: number }, owner: string | undefined, t: Termination, through?: Through): Promise<void> {
    const refusedHere = (reason: string, message: string) => emit(owner, 'connect', target.host, target.port, { allow: false, reason, message, rule: 'built-in: network.tlsTerminate', fix: null, address: dial.address });
    if (openTunnels >= t.maxTunnels) {
      const message = `cordon: the tunnel to ${target.host}:${target.port} was refused: ${t.maxTunnels} TLS-terminated tunnels are open already (network.tlsTerminate.maxTunnels)`;
      refusedHere('too-many-tunnels', message);
      return rawRefuse(client, 503, 'too-many-tunnels', message);
    }
    openTunnels++;
    client.once('close', () => openTunnels--);
    client.write(relayDials.has(client) ? `${R.tunnelServe}\r\n` : 'HTTP/1.1 200 Connection Established\r\n\r\n');
    const first = head.length > 0 ? head : await firstChunk(client, t.handshakeMs);
    if (!first || client.destroyed) return void client.destroy();
    if (first[0] !== 0x16) {
      // Not a TLS handshake record: a tunnel like any other, or none. To a host whose requests cordon must read
      // (rules, a bound credential), only plain HTTP, served here request by request: anything else would reach it
      // unjudged (an HTTP/0.9-style line, a database's protocol).
      const seen = o.requests?.mustSee(target.host, target.port, dial.address);
      if (seen) return serveOnlyHttp(client, first, target, dial, owner, t.handshakeMs, seen);
      if (o.refuseOpaque) {
        const r = opaqueRefused(target, dial.address, 'carries no TLS');
        emit(owner, 'connect', target.host, target.port, r);
        return void client.destroy();
      }
      return dialGuarded(client, first, target, dial, owner, through);
    }
    client.unshift(first);
    const context = t.authority.contextFor(target.host);
    if (!context) {
      refusedHere('tunnel-unreadable', `cordon: the tunnel to ${target.host}:${target.port} was closed: no certificate can name ${JSON.stringify(target.host)}`);
      return void client.destroy();
    }
    let named: ReturnType<typeof judgeServerName> | undefined;
    const tls = new TLSSocket(client, {
      isServer: true,
      secureContext: context,
      // HTTP/1.1 only: a client that offers h2 as well settles on HTTP/1.1.
      ALPNProtocols: ['http/1.1'],
      // A server name must name the target (as for any tunnel); none is fine here, the target's leaf answers and cordon names the upstream itself.
      SNICallback: (name, cb) => {
        named = judgeServerName(target.host, target.port, name);
        cb(named.ok ? null : new Error(named.message), named.ok ? context : undefined);
      },
    });
    const timer = setTimeout(() => tls.destroy(), t.handshakeMs).unref();
    tls.on('error', () => {
      clearTimeout(timer);
      if (named && !named.ok) emit(owner, 'connect', target.host, target.port, tunnelRefused(named, dial.address));
      tls.destroy();
      client.destroy();
    });
    tls.once('close', () => { clearTimeout(timer); client.destroy(); });
    tls.once('secure', () => {
      clearTimeout(timer);
      // A tunnel that sends no request is not held open: its first request has the handshake's deadline too.
      const idle = setTimeout(() => tls.destroy(), t.handshakeMs).unref();
      awaitingRequest.set(tls, idle);
      tls.once('close', () => clearTimeout(idle));
      terminated.add(tls);
      tunnels.set(tls, target);
      if (owner !== undefined) owners.set(tls, owner);
      inner.emit('connection', tls);
    });
  }

  /**
   * The cleartext tunnel to a host whose requests cordon must read: served as
   * HTTP by the proxy if its first bytes are an HTTP request, else refused
   * (nothing is dialed for it; a preamble for TLS is refused too).
   */
  async function serveOnlyHttp(client: Socket, first: Buffer, target: { host: string; port: number }, dial: { address: string; port: number }, owner: string | undefined, ms: number, why: string): Promise<void> {
    let preamble = false;
    const { bytes, first: start } = await readTunnelStart(client, first, ms, () => { preamble = true; });
    if (!preamble && judgeTunnel(target.host, target.port, start).action === 'http') return serveTunnelHttp(client, target, bytes);
    if (client.destroyed || start.kind === 'empty') return void client.destroy();
    emit(owner, 'connect', target.host, target.port, rulesHidden(target, dial.address, why, true));
    client.destroy();
  }

  /**
   * A CONNECT sent on through the upstream proxy: its tunnel opened there
   * first, then the client told (the relay with `CORDON-SERVE`: it answers
   * the client and joins it to this connection), and the client's bytes
   * judged as any tunnel's (the name check) on their way.
   */
  async function throughTunnel(client: Socket, head: Buffer, target: { host: string; port: number }, dial: { address: string; port: number }, through: Through, owner: string | undefined): Promise<void> {
    let up: Socket;
    try {
      up = await openThrough(dial, through, o.dialMs ?? 10_000);
    } catch (e) {
      return rawRefuse(client, 502, 'upstream-failed', `cordon: ${target.host}:${target.port} failed: ${(e as Error).message}`);
    }
    if (client.destroyed) return void up.destroy();
    client.once('close', () => up.destroy());
    client.write(relayDials.has(client) ? `${R.tunnelServe}\r\n` : 'HTTP/1.1 200 Connection Established\r\n\r\n');
    const refused = (v: { reason: string; message: string }) => emit(owner, 'connect', target.host, target.port, tunnelRefused(v, dial.address));
    guardedTunnel(client, up, head, { ...target, handshakeMs, idleMs, onRefused: refused, onHttp: (bytes) => serveTunnelHttp(client, target, bytes), onDone: (sent, got) => ended(owner, 'connect', target.host, target.port, dial.address, sent, got) });
  }

  /** A tunnel dialed here: its first bytes (`first`, read already) judged as any tunnel's. */
  function dialGuarded(client: Socket, first: Buffer, target: { host: string; port: number }, dial: { address: string; port: number }, owner: string | undefined, through?: Through): void {
    if (through) {
      openThrough(dial, through, o.dialMs ?? 10_000).then((up) => {
        if (client.destroyed) return void up.destroy();
        client.once('close', () => up.destroy());
        const refused = (v: { reason: string; message: string }) => emit(owner, 'connect', target.host, target.port, tunnelRefused(v, dial.address));
        guardedTunnel(client, up, first, { ...target, handshakeMs, idleMs, onRefused: refused, onHttp: (bytes) => serveTunnelHttp(client, target, bytes), onDone: (sent, got) => ended(owner, 'connect', target.host, target.port, dial.address, sent, got) });
      }, () => client.destroy());
      return;
    }
    const up = connect({ host: dial.address, port: dial.port, allowHalfOpen: true });
    client.once('close', () => up.destroy());
    const dialTimer = setTimeout(() => up.destroy(new Error('connect timeout')), o.dialMs ?? 10_000);
    up.once('error', () => { clearTimeout(dialTimer); client.destroy(); });
    up.once('connect', () => {
      clearTimeout(dialTimer);
      up.removeAllListeners('error');
      const refused = (v: { reason: string; message: string }) => emit(owner, 'connect', target.host, target.port, tunnelRefused(v, dial.address));
      guardedTunnel(client, up, first, { ...target, handshakeMs, idleMs, onRefused: refused, onHttp: (bytes) => serveTunnelHttp(client, target, bytes), onDone: (sent, got) => ended(owner, 'connect', target.host, target.port, dial.address, sent, got) });
    });
  }

  /**
   * An Upgrade request (WebSocket) inside a tunnel: judged as any request,
   * sent upstream with its Upgrade headers, and once the server switches
   * protocols the two connections are joined.
   */
  async function handleUpgrade(req: IncomingMessage, s: Socket, head: Buffer): Promise<void> {
    clearTimeout(awaitingRequest.get(s));
    const t = tunnels.get(s);
    const secure = terminated.has(s);
    if (!t || !req.url?.startsWith('/')) return rawRefuse(s, 400, 'bad-request-target', 'cordon: a request inside a tunnel names only its path (origin form): the tunnel names the host');
    const owner = owners.get(s);
    const via = secure ? 'https' as const : 'http' as const;
    // A WebSocket handshake, and nothing else: after a 101 the bytes are no longer requests cordon reads
    // (h2c would carry requests for any host), and a body on the handshake would reach the server unjudged.
    const websocket = req.method === 'GET' && String(req.headers.upgrade ?? '').trim().toLowerCase() === 'websocket' && req.headers['sec-websocket-key'] !== undefined && req.headers['sec-websocket-version'] !== undefined;
    if (!websocket || req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0') {
      const message = `cordon: the upgrade to ${JSON.stringify(String(req.headers.upgrade ?? '').slice(0, 40))} on ${t.host}:${t.port} was refused: cordon lets only a WebSocket handshake (a GET with no body) switch protocols`;
      emit(owner, via, t.host, t.port, { allow: false, reason: 'upgrade-refused', message, rule: 'built-in: only WebSocket upgrades pass the proxy', fix: null });
      return rawRefuse(s, 400, 'upgrade-refused', message);
    }
    let gone = s.destroyed;
    s.once('close', () => { gone = true; });
    const hosts = req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'host');
    const authority = `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
    if (hosts.length !== 1 || !sameAuthority(req.headers.host ?? '', authority, secure ? 443 : 80)) {
      const message = `cordon: request to ${authority} refused: its Host header (${req.headers.host ?? 'missing'}) names another host`;
      emit(owner, via, t.host, t.port, { allow: false, reason: 'host-mismatch', message, rule: 'built-in: a proxied request\'s Host header names the host it is sent to', fix: null });
      return rawRefuse(s, 403, 'host-mismatch', message);
    }
    const d = await o.decide({ host: t.host, port: t.port, via, ...(owner !== undefined ? { owner } : {}) });
    if (!d.allow) {
      emit(owner, via, t.host, t.port, d);
      return rawRefuse(s, 403, d.reason, d.message);
    }
    if (gone) return; // gone while the decision was pending: nothing is sent for it
    const refusedUpgrade = (status: number, v: { reason: string; message: string; rule: string; fix: string | null }) => {
      o.onEvent?.({ ...proxyEvent(owner, via, t.host, t.port, { allow: false, reason: v.reason, message: v.message, rule: v.rule, fix: v.fix, address: d.dial.address }), request: { method: req.method ?? '', target: req.url ?? '' } });
      rawRefuse(s, status, v.reason, v.message);
    };
    const parsed = new URL(req.url, 'http://x');
    // What is judged is what is sent: never the target as spelled (a `#` or a dot segment would send upstream what no rule saw).
    const forwarded = parsed.pathname + parsed.search;
    const judged = o.requests?.judge({ host: t.host, port: t.port, verified: secure, method: req.method ?? '', rawHeaders: req.rawHeaders, spelled: req.url, forwarded });
    if (judged && !judged.ok) return refusedUpgrade(judged.status, judged);
    // A host a credential is bound to: its answer and its messages are scrubbed, which needs tokens as long as their
    // values (frames keep their lengths) and no compression of the messages (the extension offer is taken out).
    const scrub = o.requests?.scrubbing(t.host, t.port, d.dial.address);
    if (scrub && !scrub.sameLength) {
      return refusedUpgrade(400, { reason: 'upgrade-refused', message: `cordon: the WebSocket upgrade on ${t.host}:${t.port} was refused: a credential bound to this host is too short for its messages to be scrubbed in place`, rule: 'built-in: a response from a host a credential is bound to never carries the credential', fix: null });
    }
    const raw = judged ? judged.headers : req.rawHeaders;
    const headers: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      // Through an upstream proxy, no Max-Forwards (as for any request: it is for the target, never for that proxy to answer).
      if (name !== 'proxy-connection' && name !== 'proxy-authorization' && name !== 'keep-alive' && !(scrub && name === 'sec-websocket-extensions') && !(d.through && !secure && name === 'max-forwards')) headers.push(raw[i]!, raw[i + 1]!);
    }
    // Signed with brokered AWS session keys: not signed again (what it would carry after the switch is not requests cordon sees).
    if (judged?.resign) return refusedUpgrade(403, { reason: 'aws-not-resigned', message: `cordon: the WebSocket upgrade on ${t.host}:${t.port} was refused: it is signed with brokered AWS keys, which cordon signs again only for HTTP requests`, rule: 'credentials.aws', fix: null });
    o.onEvent?.({ ...proxyEvent(owner, via, t.host, t.port, d), ...(judged?.swapped.length ? { credentials: judged.swapped } : {}) });
    const pairs = scrub?.pairs ?? [];
    const notSwitched = (what: string) => {
      const message = `cordon: ${authority} ${what}`;
      emit(owner, via, t.host, t.port, { allow: false, reason: 'upgrade-not-switched', message, rule: 'built-in: a response from a host a credential is bound to never carries the credential', fix: null, address: d.dial.address });
      rawRefuse(s, 502, 'upgrade-not-switched', message);
    };
    // Through the upstream proxy: plain, in absolute form with its credentials; terminated, in a CONNECT tunnel of its own.
    const through = d.through;
    if (through?.authorization && !secure) headers.push('Proxy-Authorization', through.authorization);
    const options = { ...(through?.socketPath && !secure ? { socketPath: through.socketPath } : { host: d.dial.address, port: d.dial.port }), method: req.method, path: through && !secure ? `http://${through.authority}${forwarded}` : forwarded, headers, setHost: false, agent: false as const, timeout: handshakeMs };
    const up = secure
      ? httpsRequest({ ...options, ...upstreamTls(t.host), ...(through ? { createConnection: connectThrough(d.dial, through, handshakeMs, upstreamTls(t.host)) } : {}) } as HttpsRequestOptions)
      : httpRequest(options);
    s.once('close', () => up.destroy());
    up.on('timeout', () => up.destroy(new Error('upstream timeout')));
    up.on('error', (e) => {
      const bad = certificateRefusal(e, t.host, t.port, d.dial.address);
      if (bad) emit(owner, via, t.host, t.port, bad);
      rawRefuse(s, 502, bad?.reason ?? 'upstream-failed', bad?.message ?? `cordon: ${authority} (${d.dial.address}) failed: ${e.message}`);
    });
    up.on('response', (ur) => {
      if (scrub) {
        // Not switched, by a bound host: its answer could carry the credential, and it is not read here.
        ur.destroy();
        return notSwitched(`answered the WebSocket upgrade with ${ur.statusCode ?? '?'}, not 101; a host a credential is bound to is answered through cordon only when it switches`);
      }
      // Not switched: the answer goes back, its body delimited by the end of the connection.
      s.write(rawHead(ur, ['transfer-encoding', 'connection', 'keep-alive'], ['Connection: close']));
      ur.pipe(s);
    });
    up.on('upgrade', (ur, us, uhead) => {
      up.setTimeout(0);
      if (s.destroyed) return void us.destroy();
      if (scrub && ur.headers['sec-websocket-extensions'] !== undefined) {
        // An extension (compression) nobody offered: its messages could not be scrubbed.
        us.destroy();
        return notSwitched('switched with an extension that was not offered');
      }
      s.write(scrub ? scrubText(rawHead(ur), pairs) : rawHead(ur));
      if (head.length > 0) us.write(head);
      // What the switched connection carried, its first bytes included.
      const done = (sent: number, got: number) => ended(owner, via, t.host, t.port, d.dial.address, sent + head.length, got + uhead.length, { method: req.method ?? '', target: spelled(req.url ?? ''), status: 101 });
      if (!scrub) {
        if (uhead.length > 0) s.write(uhead);
        return tunnel(s, us, idleMs, done);
      }
      // Message by message (scrub.ts scrubFrames): a value split over a message's frames is found.
      const scrubber = scrubFrames(pairs.map((p) => ({ from: Buffer.from(p.from), to: Buffer.from(p.to) })));
      if (uhead.length > 0) scrubber.write(uhead);
      joinScrubbed(s, us, scrubber, idleMs, done);
    });
    up.end();
  }

  /** TLS options for an upstream connection to `host` (terminated tunnels only). */
  function upstreamTls(host: string): { servername?: string; secureContext: ReturnType<Termination['upstream']>; minVersion: 'TLSv1.2'; rejectUnauthorized: true } {
    // rejectUnauthorized spelled out: cordon's own NODE_TLS_REJECT_UNAUTHORIZED must not turn verification off.
    return { ...(isIP(host) === 0 ? { servername: host } : {}), secureContext: o.terminate!.upstream(), minVersion: 'TLSv1.2', rejectUnauthorized: true };
  }

  function emit(owner: string | undefined, via: 'http' | 'https' | 'connect', host: string, port: number, d: Decision): void {
    o.onEvent?.(proxyEvent(owner, via, host, port, d));
  }

  /** An allowed tunnel or forwarded request of `owner` is over: what it carried (a net.done event). */
  function ended(owner: string | undefined, via: ProxyEvent['via'], host: string, port: number, address: string, up: number, down: number, request?: { method: string; target: string; status?: number }): void {
    o.onEvent?.({ ...(owner !== undefined ? { owner } : {}), via, host, port, allowed: true, dialed: address, done: { up, down, ...(request ? { request } : {}) } });
  }
  return Object.assign(server, { serveTunnelHttp, readReports, settled });
}

/** A plain-HTTP request the relay sends itself, kept until it reports the response. */
interface RelayedRequest { readonly owner: string | undefined; readonly host: string; readonly port: number; readonly method: string; readonly target: string; readonly address: string; readonly up: number }

/** Relayed requests kept at once for their reports, in all and per command (past it the oldest is forgotten: its response is not reported). */
const RELAYED_MAX = 16384;
const RELAYED_PER_OWNER = 4096;

/** The HTTP proxy, and how a tunnel of another proxy (SOCKS5) hands it plain HTTP to serve. */
export type HttpProxy = Server & { serveTunnelHttp(socket: Socket, target: { host: string; port: number }, bytes: Buffer): void; readReports(socket: Socket, owner: string): void; settled(owner: string, ms: number): Promise<void> };

/** An allowed tunnel closed for its first bytes (first-bytes.ts), as a refusal: `address` is the one it was dialed at. */
export function tunnelRefused(v: { reason: string; message: string }, address: string): Decision {
  return { allow: false, reason: v.reason, message: v.message, rule: 'built-in: what a tunnel carries names the host it was allowed to (TLS server name, HTTP Host)', fix: null, address };
}

/** A decision as the proxies report it. */
export function proxyEvent(owner: string | undefined, via: ProxyEvent['via'], host: string, port: number, d: Decision): ProxyEvent {
  const base = { ...(owner !== undefined ? { owner } : {}), via, host, port };
  if (d.allow) return { ...base, allowed: true, dialed: d.dial.address, ...(d.rule !== undefined ? { rule: d.rule } : {}), ...(d.through ? { parentProxy: d.through.proxy } : {}) };
  return { ...base, allowed: false, reason: d.reason, message: d.message, ...(d.rule !== undefined ? { rule: d.rule } : {}), ...(d.fix !== undefined ? { fix: d.fix } : {}), ...(d.address !== undefined ? { address: d.address } : {}) };
}

function refuse(res: ServerResponse, status: number, reason: string, message: string): void {
  const body = `${message}\n`;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), [H.reason]: reason, Connection: 'close' });
  res.end(body);
}

function rawRefuse(client: Socket, status: number, reason: string, message: string): void {
  const body = `${message}\n`;
  const text = status === 403 ? 'Forbidden' : status === 400 ? 'Bad Request' : status === 503 ? 'Service Unavailable' : 'Bad Gateway';
  client.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${H.reason}: ${reason}\r\nConnection: close\r\n\r\n${body}`);
}

/** What a request to a host a credential is bound to accepts, whatever the client said: encodings cordon can open. */
const SCRUBBABLE = 'gzip, deflate, br';

/**
 * A response from a host a credential is bound to: the real value replaced
 * by the token in every header, the status line and the body, decoded first
 * (gzip, deflate, br: then sent unencoded, chunked). A body in an encoding
 * cordon cannot open, or with a transfer coding other than chunked (which
 * Node's parser takes off alone: `gzip, chunked` would pass still
 * compressed), is not sent (502 unscrubbable-response).
 */
function scrubbedResponse(ur: IncomingMessage, res: ServerResponse, scrub: Scrubbing, method: string, onUnscrubbable: (why: string) => void): void {
  const pairs = scrub.pairs;
  const encoding = String(ur.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const transfer = ur.headers['transfer-encoding'];
  const decoder: Transform | undefined | null = encoding === 'identity' || encoding === '' ? undefined : encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : null;
  const bodiless = method === 'HEAD' || ur.statusCode === 204 || ur.statusCode === 304 || (ur.statusCode ?? 0) < 200;
  // The server's own words, quoted in a message and an event: scrubbed too, and short.
  const quoted = (v: string) => JSON.stringify(scrubText(v, pairs).slice(0, 40));
  // A part of a response could hold a part of a value, which no search of the part finds (the request went without Range).
  const partial = scrub.whole && (ur.statusCode === 206 || ur.headers['content-range'] !== undefined);
  const unopened = bodiless ? undefined
    : decoder === null ? `is encoded as ${quoted(String(ur.headers['content-encoding']))}`
      : transfer !== undefined && transfer.trim().toLowerCase() !== 'chunked' ? `has the transfer coding ${quoted(transfer)}`
        : undefined;
  if (partial || unopened) {
    ur.destroy();
    const why = partial
      ? `is a part of a response (${ur.statusCode === 206 ? '206' : 'Content-Range'}): a part could hold a part of a credential, which no search of it finds`
      : `${unopened}, which cordon cannot open to take a credential out of it`;
    onUnscrubbable(why);
    return refuse(res, 502, 'unscrubbable-response', `cordon: the response ${why}`);
  }
  // Same length: a token is as long as its real value unless that was short (broker.ts makeToken).
  const sameLength = scrub.sameLength;
  const out: string[] = [];
  for (let i = 0; i < ur.rawHeaders.length; i += 2) {
    const lower = ur.rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (!bodiless && decoder && lower === 'content-encoding') || (!bodiless && (decoder || !sameLength) && lower === 'content-length')) continue;
    // Names too: a server may spell the value in a header's name.
    out.push(scrubText(ur.rawHeaders[i]!, pairs), scrubText(ur.rawHeaders[i + 1]!, pairs));
  }
  res.writeHead(ur.statusCode ?? 502, scrubText(ur.statusMessage ?? '', pairs), out);
  if (bodiless) return void ur.pipe(res);
  const scrubber = scrubStream(pairs.map((p) => ({ from: Buffer.from(p.from), to: Buffer.from(p.to) })));
  const done = (e: Error | null | undefined) => { if (e) res.destroy(); };
  if (decoder) pipeline(ur, decoder, scrubber, res, done);
  else pipeline(ur, scrubber, res, done);
}

/** Node's codes for an upstream certificate that did not verify (OpenSSL's, and its own name check's). */
const CERTIFICATE_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID|ISSUER/;

/** An upstream TLS error that is the server's certificate failing verification, as a refusal; undefined for any other error. */
export function certificateRefusal(e: Error, host: string, port: number, address: string): Extract<Decision, { allow: false }> | undefined {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (!CERTIFICATE_ERRORS.test(code)) return undefined;
  return {
    allow: false, reason: 'upstream-certificate', address,
    message: `cordon: ${host}:${port} (${address}) was not reached: its certificate did not verify (${code}: ${e.message}). If it is signed by a CA of your own, add that CA to network.tlsTerminate.extraCaCertPaths; if the host must be reached without termination, list it in network.tlsTerminate.excludeDomains`,
    rule: 'built-in: a terminated tunnel reaches only a server whose certificate verifies for its name',
    fix: 'network.tlsTerminate.extraCaCertPaths',
  };
}

/** refuseOpaqueTunnels: a tunnel cordon cannot see into, refused. */
function opaqueRefused(target: { host: string; port: number }, address: string, why: string): Extract<Decision, { allow: false }> {
  return {
    allow: false, reason: 'opaque-tunnel', address,
    message: `cordon: the tunnel to ${target.host}:${target.port} was refused: it ${why}, and network.refuseOpaqueTunnels refuses every tunnel cordon cannot see into`,
    rule: 'network.refuseOpaqueTunnels', fix: 'network.refuseOpaqueTunnels',
  };
}

/**
 * A tunnel to a host whose requests cordon must read (`why`: RequestPolicy.mustSee)
 * that would hide them: one cordon would not open, or whose bytes it cannot read.
 */
function rulesHidden(target: { host: string; port: number }, address: string, why: string, unreadable = false): Extract<Decision, { allow: false }> {
  const where = `cordon: the tunnel to ${target.host}:${target.port}`;
  return unreadable
    ? { allow: false, reason: 'opaque-tunnel', address, message: `${where} was closed: ${why}, and its first bytes are neither TLS nor an HTTP request cordon can read`, rule: why.split(' ')[0]!, fix: null }
    : { allow: false, reason: 'opaque-tunnel', address, message: `${where} was refused: ${why}, and a tunnel cordon does not open would hide them; terminate its TLS (network.tlsTerminate) or send plain HTTP through the proxy`, rule: why.split(' ')[0]!, fix: 'network.tlsTerminate' };
}

/** The target as the client spelled it: origin form, the scheme and authority of an absolute form taken off. */
function spelled(url: string): string {
  const rest = url.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/, '');
  return rest === '' ? '/' : rest;
}

/** A response head as the server sent it (status line and raw headers, less `drop`, plus `add`), for a client whose connection is taken over. */
function rawHead(r: IncomingMessage, drop: readonly string[] = [], add: readonly string[] = []): string {
  const lines = [`HTTP/${r.httpVersion} ${r.statusCode ?? 502} ${r.statusMessage ?? ''}`];
  for (let i = 0; i < r.rawHeaders.length; i += 2) if (!drop.includes(r.rawHeaders[i]!.toLowerCase())) lines.push(`${r.rawHeaders[i]!}: ${r.rawHeaders[i + 1]!}`);
  return `${[...lines, ...add].join('\r\n')}\r\n\r\n`;
}

/**
 * CORDON-GO to the relay, which splices the tunnel and keeps this connection
 * until the tunnel ends, then says what it carried: `CORDON-DONE <secret>
 * <up> <down>`, its last line, given to `done` if `mine(secret)`. Client
 * bytes the relay sent before the verdict may come first (at most a peek's
 * worth): none can carry the session secret, which the sandbox never sees.
 * A relay that closes without the line reports nothing.
 */
function goReported(relay: Socket, mine: (secret: string) => boolean, done: (up: number, down: number) => void): void {
  relay.setTimeout(0);
  relay.write(`${R.tunnelGo}\r\n`);
  // The relay half-closed before the verdict (its client did): no report can come; this side closes too.
  if (relay.readableEnded) return void relay.end();
  relay.once('close', () => relay.destroy());
  const parts: Buffer[] = [];
  let n = 0;
  relay.on('data', (c: Buffer) => {
    n += c.length;
    if (n > R.peekMax + 512) return void relay.destroy();
    parts.push(c);
  });
  relay.on('end', () => {
    relay.end();
    const text = Buffer.concat(parts).toString('latin1');
    const m = new RegExp(`${R.tunnelDone}([A-Za-z0-9_-]{1,128}) (\\d{1,20}) (\\d{1,20})\r\n$`).exec(text.slice(text.lastIndexOf(R.tunnelDone)));
    if (m && mine(m[1]!)) done(Number(m[2]), Number(m[3]));
  });
  relay.resume();
}

/** tunnel(), with the server's bytes through `scrubber` on their way to the client. */
function joinScrubbed(client: Socket, server: Socket, scrubber: Transform, idleMs: number, onDone?: Counted): void {
  const n = count(client, server, onDone);
  const teardown = () => { client.destroy(); server.destroy(); scrubber.destroy(); n.report(); };
  for (const x of [client, server]) {
    x.on('error', teardown);
    x.setTimeout(idleMs, teardown);
    x.once('close', teardown);
  }
  scrubber.on('error', teardown);
  server.pipe(scrubber).pipe(client);
  client.pipe(server);
}

/** "host:port", "[v6]:port" → parts; undefined when malformed. */
export function parseAuthority(s: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^\s:[\]/@]+):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1]!, port };
}

/** Host header vs request-target authority, with the default port made explicit. */
export function sameAuthority(hostHeader: string, urlHost: string, defaultPort: number): boolean {
  return canonicalAuthority(hostHeader, defaultPort) === canonicalAuthority(urlHost, defaultPort);
}

function canonicalAuthority(raw: string, defaultPort: number): string {
  const s = raw.trim().toLowerCase();
  let host = s;
  let port = '';
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    host = s.slice(0, end + 1);
    const rest = s.slice(end + 1);
    if (rest.startsWith(':')) port = rest.slice(1);
    else if (rest !== '') return `invalid:${s}`;
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0) {
      if (s.indexOf(':') !== i) return `invalid:${s}`;
      host = s.slice(0, i);
      port = s.slice(i + 1);
    }
  }
  if (port !== '' && !/^\d{1,5}$/.test(port)) return `invalid:${s}`;
  return `${host.replace(/\.$/, '')}:${port === '' ? defaultPort : Number(port)}`;
}

/**
 * Request bodies held at once, across every request of the proxy, to be
 * signed again by their hash (network/requests.ts): past it, a request is
 * answered 503 rather than held (each may be 32 MiB, and a sandbox can open
 * hundreds of tunnels).
 */
export const HELD_BODIES_MAX = 64 * 1024 * 1024;

/**
 * The whole body, or why not: over `most` bytes, or over what `budget` has
 * left across requests (the rest is read and dropped, so the client sees the
 * answer). What it holds counts until `release` (the caller's, once the body
 * has gone upstream), or until the client goes or the body is refused.
 */
export function readWhole(req: IncomingMessage, most: number, budget: { used: number }, done: (body: Buffer | undefined, why: 'too-large' | 'busy' | undefined, release: () => void) => void): void {
  const parts: Buffer[] = [];
  let n = 0;
  let held = 0;
  let failed: 'too-large' | 'busy' | undefined;
  const free = () => { budget.used -= held; held = 0; parts.length = 0; };
  req.on('data', (c: Buffer) => {
    n += c.length;
    if (failed) return;
    if (n > most) failed = 'too-large';
    else if (budget.used + c.length > HELD_BODIES_MAX) failed = 'busy';
    if (failed) return free();
    budget.used += c.length;
    held += c.length;
    parts.push(c);
  });
  req.once('end', () => {
    if (failed) {
      free();
      return done(undefined, failed, () => {});
    }
    const body = Buffer.concat(parts, n);
    parts.length = 0;
    done(body, undefined, free);
  });
  req.once('close', () => { if (!req.complete) free(); });
}
