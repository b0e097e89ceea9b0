/** The contract between the proxies (I/O) and the policy (the one decision function). */

/** `https`: a request inside a TLS-terminated CONNECT tunnel. */
export type Via = 'http' | 'https' | 'connect' | 'socks5';

export interface ConnectRequest {
  /** As the sandboxed client sent it: a name, an IPv4 literal or an IPv6 literal. Attacker-controlled. */
  readonly host: string;
  readonly port: number;
  readonly via: Via;
  /** The command whose secret the connection's preamble carried (auth.ts): each command may have rules of its own. */
  readonly owner?: string;
}

/** An allowed connection that goes through the upstream proxy (network/parent-proxy.ts): `dial` is that proxy, and this what to ask it for. */
export interface Through {
  /** The proxy, as shown (no password). */
  readonly proxy: string;
  /** What a CONNECT names, and the authority of an absolute-form request: the target, canonical (`example.com:443`). */
  readonly authority: string;
  /** Proxy-Authorization for the proxy. Host-side only: never in a message or an event. */
  readonly authorization?: string;
  /** The proxy listens on this Unix socket (network.mitmProxy), not at `dial`. */
  readonly socketPath?: string;
}

export type Decision =
  | { readonly allow: true; readonly dial: { readonly address: string; readonly port: number }; readonly rule?: string; readonly through?: Through }
  | {
      readonly allow: false;
      readonly reason: string;
      /** Sent to the sandboxed client, and the event's message. */
      readonly message: string;
      /** The rule that refused it, for the event (`network.deniedDomains[0]: "x"`). */
      readonly rule?: string;
      /** The setting that would allow it, or null. */
      readonly fix?: string | null;
      /** The resolved address that was judged, when one was (host-side only: never sent to the client). */
      readonly address?: string;
    };

/** One decision function behind every proxy: allowlist, deny rules, resolved-address checks. */
export type Decider = (req: ConnectRequest) => Promise<Decision>;

/**
 * One decision of a proxy, with the owner of the connection it was made on
 * (the command whose secret its preamble carried; absent for a connection
 * that did not authenticate).
 */
export interface ProxyEvent {
  readonly owner?: string;
  readonly via: Via;
  readonly host: string;
  readonly port: number;
  readonly allowed: boolean;
  readonly reason?: string;
  readonly dialed?: string;
  readonly rule?: string;
  readonly fix?: string | null;
  readonly message?: string;
  readonly address?: string;
  /** An allowed CONNECT whose TLS cordon terminates. */
  readonly tls?: 'terminated';
  /** Allowed, and sent through this upstream proxy (shown without its password). */
  readonly parentProxy?: string;
  /** A decision on one request inside an allowed connection (a request.refused event): its method and target. */
  readonly request?: { readonly method: string; readonly target: string };
  /** The brokered credentials put into this request (their variables' names; never a value). */
  readonly credentials?: readonly string[];
  /**
   * An allowed tunnel or forwarded request that is over (a net.done event):
   * bytes from the client and to it (a request's bodies; everything through
   * a tunnel), and a request's method, target and the status the client got.
   */
  readonly done?: { readonly up: number; readonly down: number; readonly request?: { readonly method: string; readonly target: string; readonly status?: number } };
}

/** One request as the proxy read it, for the request policy (network/requests.ts). */
export interface RequestFacts {
  readonly host: string;
  readonly port: number;
  /** A request inside a TLS-terminated tunnel whose upstream cordon verifies. */
  readonly verified: boolean;
  readonly method: string;
  /** Raw header pairs as received [name, value, name, value, …]. */
  readonly rawHeaders: readonly string[];
  /** The target as the client spelled it (origin form). */
  readonly spelled: string;
  /** The target as cordon would forward it (the URL parser's reading). */
  readonly forwarded: string;
}

export type RequestVerdict =
  | {
      readonly ok: true;
      /** The headers to send on (raw pairs): credentials swapped in, the rules' headers taken out. */
      readonly headers: readonly string[];
      /** The brokered variables whose real values went in (for the event). */
      readonly swapped: readonly string[];
      /** A body of no stated length is cut off past this. */
      readonly maxBodyBytes?: number;
      /** Signed with brokered AWS session keys: signed again before it is sent (network/requests.ts). */
      readonly resign?: Resign;
    }
  | Refused;

type Refused = { readonly ok: false; readonly status: number; readonly reason: string; readonly message: string; readonly rule: string; readonly fix: string | null };

/**
 * A request to sign again with the real AWS keys, once the proxy has the
 * headers it sends. `payloadHash`: the request's own; absent, the proxy
 * reads the body whole (at most `maxBodyBytes`) and gives its SHA-256.
 */
export interface Resign {
  readonly payloadHash?: string;
  readonly maxBodyBytes: number;
  /** `body`: the body, where the proxy read it whole; `payloadHash` is then its SHA-256. */
  sign(headers: readonly string[], payloadHash: string, body?: Buffer): { readonly ok: true; readonly headers: string[] } | Refused;
}

/**
 * What the proxy asks of each request beyond the connection's decision:
 * request rules and brokered credentials (network/requests.ts builds it).
 */
export interface RequestPolicy {
  judge(r: RequestFacts): RequestVerdict;
  /**
   * Why cordon must read this host's requests (a rule judges them, a
   * credential is bound to it on this port, or `address` is where a bound
   * host was dialed, on a port its binding names); undefined: it need not.
   */
  mustSee(host: string, port: number, address?: string): string | undefined;
  /**
   * What a response from host:port (dialed at `address`) must not carry and
   * carries instead (the real values, given back as tokens); undefined:
   * nothing. A name a credential is bound to on any port, or an address one
   * was dialed at under any name.
   */
  scrubbing(host: string, port: number, address?: string): Scrubbing | undefined;
  /** A connection to `host` was allowed, to be dialed at `address`: remembered when a credential is bound to the host. */
  noteDialed(host: string, address: string): void;
}

export interface Scrubbing {
  readonly pairs: readonly { readonly from: string; readonly to: string }[];
  /** Every replacement keeps the length (a body keeps its Content-Length, a WebSocket frame its size). */
  readonly sameLength: boolean;
  /** A part of a response (206, Content-Range) is refused: a credential other than AWS keys is bound there. */
  readonly whole: boolean;
}

/**
 * TLS termination as the HTTP proxy applies it (network.tlsTerminate,
 * network/tls.ts builds it): which CONNECT targets it opens, the CA whose
 * leaves it presents, the context that verifies upstream servers.
 */
export interface Termination {
  /** Whether a CONNECT to host:port is terminated (allowed, and not excluded). */
  covers(host: string, port: number): boolean;
  readonly authority: { contextFor(name: string): import('node:tls').SecureContext | undefined };
  /** The system's roots and the configured CAs (never the session's CA). */
  upstream(): import('node:tls').SecureContext;
  readonly handshakeMs: number;
  readonly maxTunnels: number;
}
