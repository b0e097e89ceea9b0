/** The contract between the proxies (I/O) and the policy (the one decision function). */

export type Via = 'http' | 'connect' | 'socks5';

export interface ConnectRequest {
  /** As the sandboxed client sent it: a name, an IPv4 literal or an IPv6 literal. Attacker-controlled. */
  readonly host: string;
  readonly port: number;
  readonly via: Via;
}

export type Decision =
  | { readonly allow: true; readonly dial: { readonly address: string; readonly port: number }; readonly rule?: string }
  | { readonly allow: false; readonly reason: string; readonly message: string };

/** One decision function behind every proxy: allowlist, deny rules, resolved-address checks. */
export type Decider = (req: ConnectRequest) => Promise<Decision>;

export interface ProxyEvent {
  readonly version: 1;
  readonly kind: 'connection';
  readonly via: Via;
  readonly host: string;
  readonly port: number;
  readonly allowed: boolean;
  readonly reason?: string;
  readonly dialed?: string;
}
