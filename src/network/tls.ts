/**
 * TLS termination for a network session (network.tlsTerminate): the CA
 * (proxy/authority.ts), what the sandbox trusts, and what cordon trusts
 * upstream. Loaded only when a policy asks for termination.
 *
 * What the sandbox gets: two files in the session's directory, and the
 * variables common clients read (TRUST_VARIABLES):
 *  - `trust.pem`: the session's CA, the system's roots (cordon's own
 *    SSL_CERT_FILE, else the distribution's bundle), the caller's
 *    NODE_EXTRA_CA_CERTS and network.tlsTerminate.extraCaCertPaths. Every
 *    variable but NODE_EXTRA_CA_CERTS names it: those tools replace their
 *    own roots with it, and excluded hosts are still verified by them;
 *  - `extra.pem`: the session's CA and the extra CAs only, for
 *    NODE_EXTRA_CA_CERTS (Node adds it to its own roots; the whole bundle
 *    would be parsed twice at every start of node).
 * Only CERTIFICATE blocks are copied from any file. The CA's key never
 * leaves cordon's process.
 *
 * Upstream, cordon verifies against the same roots without the session's
 * CA (a server cannot present one of cordon's own leaves).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls';
import { CordonError } from '../errors.js';
import type { DomainRule } from './domain-rules.js';
import { certificateBags, pkcs12TrustStore, sessionAuthority, userAuthority, type Authority } from '../proxy/authority.js';
import type { Termination } from '../proxy/types.js';
import { anyRuleCovers } from './domain-rules.js';

/** TLS termination as every settings source asks for it together (policy.ts tlsSpec), paths absolute. */
export interface TlsSpec {
  /** Terminated only these; absent: every allowed CONNECT that is not excluded. */
  readonly domains?: readonly DomainRule[];
  readonly exclude: readonly DomainRule[];
  readonly extraCaCertPaths: readonly string[];
  readonly ca?: { readonly cert: string; readonly key: string };
  readonly maxTunnels?: number;
  readonly handshakeMs?: number;
  /** The sources that set it, for errors and explain. */
  readonly from: readonly string[];
}

/** Where the sandbox's clients look for the CAs they trust. */
export const TRUST_VARIABLES = ['SSL_CERT_FILE', 'CURL_CA_BUNDLE', 'REQUESTS_CA_BUNDLE', 'PIP_CERT', 'GIT_SSL_CAINFO', 'AWS_CA_BUNDLE', 'CARGO_HTTP_CAINFO', 'DENO_CERT', 'NIX_SSL_CERT_FILE', 'CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE', 'npm_config_cafile'] as const;

/** The distributions' bundles of system roots, tried in order when SSL_CERT_FILE names none. */
const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/ca-bundle.pem', '/etc/ssl/cert.pem'];

const HANDSHAKE_MS = 10_000;
const MAX_TUNNELS = 256;

export interface SessionTls {
  readonly termination: Termination;
  /** The variables the sandbox's clients read, naming the session's files. */
  readonly env: Readonly<Record<string, string>>;
  readonly authority: Authority;
}

/**
 * The session's termination: `dir` is its private directory (removed with
 * the session); `env` cordon's own environment (its roots); `keep`, where
 * what outlives a session may be kept (cordon's state directory), if
 * anywhere.
 */
export function startTls(spec: TlsSpec, dir: string, env: NodeJS.ProcessEnv, keep?: string): SessionTls {
  const authority = spec.ca ? userAuthority(readRequired(spec.ca.cert, 'caCertPath'), readRequired(spec.ca.key, 'caKeyPath'), `network.tlsTerminate (${spec.from.join(', ')})`) : sessionAuthority();
  const extra = spec.extraCaCertPaths.map((p) => certificates(readRequired(p, 'extraCaCertPaths'), p, true)).join('');
  const callerExtra = env.NODE_EXTRA_CA_CERTS ? certificates(readOptional(env.NODE_EXTRA_CA_CERTS), env.NODE_EXTRA_CA_CERTS, false) : '';
  const roots = systemRoots(env);
  const trust = join(dir, 'trust.pem');
  const forNode = join(dir, 'extra.pem');
  const trustPem = `${authority.caPem}${roots}${callerExtra}${extra}`;
  writeFileSync(trust, trustPem, { mode: 0o644 });
  writeFileSync(forNode, `${authority.caPem}${callerExtra}${extra}`, { mode: 0o644 });
  // Java reads a key store, not PEM: the same certificates as a PKCS#12 trust store, named by JAVA_TOOL_OPTIONS.
  const forJava = join(dir, 'trust.p12');
  const caBag = certificateBags(pemBlocks(authority.caPem), () => 'cordon-session-ca');
  const others = `${roots}${callerExtra}${extra}`;
  writeFileSync(forJava, pkcs12TrustStore([caBag, keep ? keptBags(keep, others) : otherBags(others)]), { mode: 0o644 });
  let upstream: SecureContext | undefined;
  const upstreamContext = () => (upstream ??= createSecureContext({ ca: `${roots}${callerExtra}${extra}`, minVersion: 'TLSv1.2' }));
  // Parsing a couple of hundred roots costs tens of milliseconds: done once, while the sandbox is being built, not in a request's time.
  setImmediate(upstreamContext).unref();
  return {
    authority,
    env: {
      ...Object.fromEntries(TRUST_VARIABLES.map((v) => [v, trust])), NODE_EXTRA_CA_CERTS: forNode,
      // The JVM splits JAVA_TOOL_OPTIONS at white space and reads quotes: a path with either is not given (Java then trusts no leaf of cordon's).
      ...(/[\s'"]/.test(forJava) ? {} : { JAVA_TOOL_OPTIONS: `-Djavax.net.ssl.trustStore=${forJava} -Djavax.net.ssl.trustStoreType=PKCS12` }),
    },
    termination: {
      covers: (host, port) => !anyRuleCovers(spec.exclude, host, port) && (spec.domains === undefined || anyRuleCovers(spec.domains, host, port)),
      authority,
      upstream: upstreamContext,
      handshakeMs: spec.handshakeMs ?? HANDSHAKE_MS,
      maxTunnels: spec.maxTunnels ?? MAX_TUNNELS,
    },
  };
}

/**
 * The certBags of the certificates in `pem` (the system roots and the extra
 * CAs), kept in cordon's state directory under the hash of `pem`: making
 * them costs ~50 ms for a distribution's ~150 roots, reading them back ~1 ms.
 * The state directory is cordon's own (never writable inside a sandbox);
 * a file is written whole (renamed into place) and used only at its name.
 */
function keptBags(stateDir: string, pem: string): Buffer {
  const file = join(stateDir, `java-trust-${createHash('sha256').update(pem).digest('hex').slice(0, 32)}.der`);
  try {
    return readFileSync(file);
  } catch {
    const bags = otherBags(pem);
    try {
      writeFileSync(`${file}.${process.pid}.tmp`, bags, { mode: 0o600 });
      renameSync(`${file}.${process.pid}.tmp`, file);
    } catch { /* kept next time, then */ }
    return bags;
  }
}

/** The certBags of the roots and extra CAs, aliased after the session's CA. */
function otherBags(pem: string): Buffer {
  return certificateBags(pemBlocks(pem), (i) => `trusted-${i + 1}`);
}

/** The DER of each CERTIFICATE block of `pem`, in order. */
function pemBlocks(pem: string): Buffer[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

/** The system's roots as PEM: cordon's SSL_CERT_FILE, else the first distribution bundle, else Node's own. */
export function systemRoots(env: NodeJS.ProcessEnv): string {
  for (const f of [...(env.SSL_CERT_FILE ? [env.SSL_CERT_FILE] : []), ...SYSTEM_BUNDLES]) {
    const pem = certificates(readOptional(f), f, false);
    if (pem) return pem;
  }
  return rootCertificates.map((c) => `${c.trim()}\n`).join('');
}

/** The CERTIFICATE blocks of a PEM text, each ending in a newline; nothing else of the file (a key kept with them stays out). */
export function certificates(text: string, file: string, required: boolean): string {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0 && required) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `network.tlsTerminate.extraCaCertPaths: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----); name a PEM file of CA certificates`);
  return blocks.map((b) => `${b.replace(/\r/g, '')}\n`).join('');
}

function readRequired(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `network.tlsTerminate.${key}: ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}); name a readable PEM file`, { cause: e });
  }
}

function readOptional(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
