/**
 * Credential brokering (credentials.broker): the command holds a session
 * token in place of each real credential; the proxy puts the real value in
 * only where the user said it goes (one header, with its scheme), only in a
 * request on a TLS-terminated connection to a host the credential is bound
 * to, whose server certificate cordon verified. And the real value does not
 * come back: responses from a bound host have it replaced by the token.
 *
 * Token verification (the approved-domain attack): on a host a credential is
 * bound to, a request whose credential positions (CREDENTIAL_HEADERS, the
 * credential's own header, CREDENTIAL_PARAMS in the query) carry anything
 * but the session token is refused, so an allowed API host cannot be used
 * with an attacker's own key to upload the user's data into the attacker's
 * account. A session token presented anywhere else (another host, plain
 * HTTP, a header of another name) is refused and never replaced.
 *
 * Pure: requests in, verdicts out. The real values come from
 * network/credential-sources.ts; nothing here reads the environment.
 */
import { randomBytes } from 'node:crypto';
import type { DomainRule } from './domain-rules.js';
import { anyRuleCovers, patternMatches } from './domain-rules.js';
import { parseHost } from './host.js';
import { headerValues, parseAuthorization, type SigV4Authorization } from './sigv4.js';

/** How the credential is presented: `Authorization: Bearer <v>`, `x-api-key: <v>`, `Authorization: Basic base64(user:<v>)`. */
export interface Presentation {
  /** Header name, lower case. */
  readonly header: string;
  /** `Bearer`, `token`, `Basic` (the value is the password), or none (the header is the value). */
  readonly scheme?: string;
  /** Basic: the one user name the credential goes with. */
  readonly username?: string;
}

export interface BrokeredCredential {
  /** The variable the command sees (holding the token). */
  readonly env: string;
  readonly hosts: readonly DomainRule[];
  readonly presentation: Presentation;
  /** Where the setting was written, for events and errors. */
  readonly keyPath: string;
  /**
   * One of a set of AWS keys (credentials.aws): not swapped in a header but
   * signed with (sigv4.ts). The access key id goes in the Authorization's
   * Credential, the session token in X-Amz-Security-Token; the secret never
   * goes anywhere. `set`: the entry's keyPath, which the three share.
   */
  /** `services`: the only AWS services (the signature's scope) the set signs for, where the entry lists them. */
  readonly sigv4?: { readonly role: AwsRole; readonly set: string; readonly services?: readonly string[] };
}

export type AwsRole = 'accessKeyId' | 'secretAccessKey' | 'sessionToken';

/** One credential with its values; `real` never leaves this process except in a request to a bound host. */
export interface LiveCredential extends BrokeredCredential {
  readonly real: string;
  readonly token: string;
}

/**
 * Headers that carry credentials on common APIs. On a bound host each must
 * be absent or carry the session token (a cookie is someone's session).
 */
export const CREDENTIAL_HEADERS = ['authorization', 'authentication', 'proxy-authorization', 'x-api-key', 'api-key', 'apikey', 'x-api-token', 'x-auth-token', 'x-auth-key', 'x-token', 'x-goog-api-key', 'x-access-token', 'private-token', 'x-api-secret', 'x-client-secret', 'cookie'] as const;

/** Query parameters that carry credentials on common APIs (compared in lower case). */
export const CREDENTIAL_PARAMS = ['key', 'api_key', 'apikey', 'api-key', 'access_token', 'token', 'auth', 'private_token', 'password', 'secret', 'client_secret', 'x-goog-api-key', 'sig', 'signature', 'x-amz-credential', 'x-amz-signature', 'x-amz-security-token'] as const;

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Random characters a token has at least (62^32 ≈ 2^190). */
const TOKEN_RANDOM_MIN = 32;

/**
 * A session token shaped like `real`: its prefix (up to the last `-` or `_`
 * in its first 20 characters: `sk-ant-api03-`, `ghp_`, `npm_`), then random
 * letters and digits to the real value's length (at least 32 of them), so
 * SDKs that check a prefix or a length accept it, and a body that carries
 * the real value keeps its length when the token replaces it.
 */
export function makeToken(real: string, random: (n: number) => Buffer = randomBytes): string {
  const head = real.slice(0, 20);
  const cut = Math.max(head.lastIndexOf('-'), head.lastIndexOf('_'));
  const prefix = cut > 0 && /^[A-Za-z0-9_-]+$/.test(real.slice(0, cut + 1)) ? real.slice(0, cut + 1) : '';
  const n = Math.max(TOKEN_RANDOM_MIN, real.length - prefix.length);
  // Rejection sampling: every character equally likely.
  let out = '';
  while (out.length < n) {
    for (const b of random(n * 2)) {
      if (b < 248 && out.length < n) out += TOKEN_ALPHABET[b % 62];
    }
  }
  return prefix + out;
}

/**
 * A session value for one of a set of AWS keys, as long as the real one: an
 * access key id keeps its four-letter prefix (AKIA, ASIA) and goes on in
 * upper-case letters and digits, as real ones do; a secret and a session
 * token are letters and digits.
 */
export function awsToken(real: string, role: AwsRole, random: (n: number) => Buffer = randomBytes): string {
  const keep = role === 'accessKeyId' && /^[A-Z]{4}/.test(real) ? real.slice(0, 4) : '';
  const alphabet = role === 'accessKeyId' ? TOKEN_ALPHABET.slice(0, 26) + TOKEN_ALPHABET.slice(52) : TOKEN_ALPHABET;
  const n = Math.max(role === 'accessKeyId' ? 16 : TOKEN_RANDOM_MIN, real.length - keep.length);
  const limit = 256 - (256 % alphabet.length);
  let out = '';
  while (out.length < n) {
    for (const b of random(n * 2)) if (b < limit && out.length < n) out += alphabet[b % alphabet.length];
  }
  return keep + out;
}

export type RequestVerdict =
  | { readonly ok: true; readonly headers: string[]; readonly swapped: readonly string[]; readonly sigv4?: Resigning }
  | { readonly ok: false; readonly reason: 'foreign-credential' | 'credential-to-unbound-host' | 'credential-in-cleartext' | 'aws-not-resigned'; readonly message: string; readonly rule: string; readonly fix: string | null };

/**
 * A request signed with a set's session keys, to sign again with the real
 * ones once the proxy knows the headers it sends and the payload hash
 * (resign). `asSigned`: the headers as the client signed them (its session
 * token in place), for checking its signature.
 */
export interface Resigning {
  readonly auth: SigV4Authorization;
  readonly asSigned: readonly string[];
  readonly session: { readonly secret: string };
  readonly real: { readonly accessKeyId: string; readonly secret: string };
  readonly keyPath: string;
  /** The services the set signs for (credentials.aws[i].services), if it names them. */
  readonly services?: readonly string[];
}

export interface RequestFacts {
  readonly host: string;
  readonly port: number;
  /** A request inside a TLS-terminated tunnel whose upstream cordon verifies. */
  readonly verified: boolean;
  /** Raw header pairs as received [name, value, name, value, …]. */
  readonly rawHeaders: readonly string[];
  /** Path and query as received. */
  readonly target: string;
}

/**
 * What becomes of one request: refused (with why), or sent with these
 * headers (the tokens in the credentials' own headers replaced by the real
 * values where the host is bound and the connection verified).
 */
export function judgeRequest(creds: readonly LiveCredential[], r: RequestFacts): RequestVerdict {
  const where = `${r.host}:${r.port}`;
  const bound = boundTo(creds, r.host, r.port);
  // A token anywhere it is not swapped: in the target, or in a header that is not its credential's position here.
  const tokenIn = (s: string) => creds.find((c) => s.includes(c.token));
  const inTarget = tokenIn(safeDecode(r.target));
  if (inTarget?.sigv4 && bound.includes(inTarget)) return notResigned(inTarget, where, 'a presigned URL (its key in the query)', 'send it signed in the Authorization header');
  if (inTarget) return unbound(inTarget, where, 'the request target');
  // AWS keys bound here: the request signed with the set's session access key id, if it is.
  const aws = bound.some((c) => c.sigv4) ? signedWith(bound, r.rawHeaders) : undefined;
  if (aws && 'refusal' in aws) return notResigned(aws.key, where, aws.refusal, aws.fix);
  if (aws && !r.verified) return refusal('credential-in-cleartext', `cordon: request to ${where} refused: it is signed with the session keys of ${aws.key.env}, which cordon signs again with the real keys only over TLS that cordon terminates and verifies (network.tlsTerminate covering ${r.host})`, aws.key.keyPath, `network.tlsTerminate: cover ${r.host}`);
  const out: string[] = [];
  const asSigned: string[] = [];
  const swapped: string[] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) {
    const name = r.rawHeaders[i]!;
    // Servers behind CGI, WSGI, Rack or PHP read x_api_key as x-api-key.
    const lower = name.toLowerCase().replace(/_/g, '-');
    let value = r.rawHeaders[i + 1]!;
    asSigned.push(name, value);
    if (aws && lower === 'authorization') {
      // Signed again by the proxy (Resigning); the session keys' names for the event.
      out.push(name, value);
      swapped.push(...aws.set.filter((c) => c.sigv4!.role !== 'sessionToken').map((c) => c.env));
      continue;
    }
    if (lower === 'x-amz-security-token' && bound.some((c) => c.sigv4)) {
      // Only the session token of the set the request is signed with, swapped; any other is someone else's session.
      const token = aws?.set.find((c) => c.sigv4!.role === 'sessionToken');
      if (!token || value.trim() !== token.token) return foreign(aws?.key ?? bound.find((c) => c.sigv4)!, where, name);
      out.push(name, token.real);
      swapped.push(token.env);
      continue;
    }
    const own = bound.filter((c) => c.presentation.header === lower && !c.sigv4);
    if (own.length > 0) {
      // The credential's own position on a host it is bound to: the token, swapped; nothing else.
      const hit = own.map((c) => ({ c, v: swap(c, value) })).find((x) => x.v !== undefined);
      if (hit && !r.verified) {
        return refusal('credential-in-cleartext', `cordon: request to ${where} refused: it carries the session token of ${hit.c.env}, which cordon puts the real credential in for only over TLS that cordon terminates and verifies (network.tlsTerminate covering ${r.host})`, hit.c.keyPath, `network.tlsTerminate: cover ${r.host}`);
      }
      if (hit) {
        value = hit.v!;
        swapped.push(hit.c.env);
      } else if (value.trim() !== '') {
        return foreign(own[0]!, where, name);
      }
    } else {
      const t = tokenIn(decodedForms(value));
      if (t) return bound.includes(t) ? refusal('foreign-credential', `cordon: request to ${where} refused: ${t.env}'s session token is in the ${name} header, and cordon puts the real credential only in ${t.presentation.header}; send it there`, t.keyPath, null) : unbound(t, where, `the ${name} header`);
      if (bound.length > 0 && (CREDENTIAL_HEADERS as readonly string[]).includes(lower) && value.trim() !== '') return foreign(bound[0]!, where, name);
    }
    out.push(name, value);
  }
  if (bound.length > 0) {
    const param = credentialParam(r.target);
    if (param) return foreign(bound[0]!, where, `the query parameter ${JSON.stringify(param)}`);
  }
  // On a host AWS keys are bound to, every request is signed with a set's session keys: an unsigned one (an anonymous
  // upload to a bucket anyone may write, a browser-form POST with someone else's policy in its body) could carry data
  // into another account.
  const awsKey = bound.find((c) => c.sigv4?.role === 'accessKeyId');
  if (!aws && awsKey) return refusal('aws-not-resigned', `cordon: request to ${where} refused: it is not signed with the session keys of ${awsKey.env}, and on a host ${awsKey.env} is bound to every request must be`, awsKey.keyPath, 'sign it with an AWS SDK or CLI and the variables cordon sets; a host you also reach unsigned (public data) does not belong in the credentials.aws hosts');
  if (!aws) return { ok: true, headers: out, swapped };
  const secret = aws.set.find((c) => c.sigv4!.role === 'secretAccessKey')!;
  return { ok: true, headers: out, swapped, sigv4: { auth: aws.auth, asSigned, session: { secret: secret.token }, real: { accessKeyId: aws.key.real, secret: secret.real }, keyPath: aws.key.keyPath, ...(aws.key.sigv4?.services ? { services: aws.key.sigv4.services } : {}) } };
}

/**
 * The set of AWS keys bound here whose session access key id signs the
 * request's Authorization, with the parsed Authorization; or why the
 * request, made with that key, cannot be signed again; or undefined (no
 * Authorization of a set's key: any other is foreign, as for every
 * credential).
 */
function signedWith(bound: readonly LiveCredential[], raw: readonly string[]): { key: LiveCredential; set: LiveCredential[]; auth: SigV4Authorization } | { key: LiveCredential; refusal: string; fix: string } | undefined {
  const values = headerValues(raw, 'authorization');
  const keys = bound.filter((c) => c.sigv4?.role === 'accessKeyId');
  const key = keys.find((k) => values.some((v) => v.includes(k.token)));
  if (!key) return undefined;
  if (values.length !== 1) return { key, refusal: 'a request with several Authorization headers', fix: 'send one' };
  const v = values[0]!.trim();
  if (v.startsWith('AWS4-ECDSA-P256-SHA256')) return { key, refusal: 'a SigV4A (ECDSA) signature', fix: 'sign with SigV4 (AWS4-HMAC-SHA256): for S3 multi-region access points there is no other way' };
  const auth = parseAuthorization(v);
  if (!auth || auth.accessKeyId !== key.token) return { key, refusal: 'an Authorization that is not a well-formed AWS4-HMAC-SHA256 signature by its access key id', fix: 'sign with an AWS SDK or CLI' };
  const set = bound.filter((c) => c.sigv4?.set === key.sigv4!.set);
  return { key, set, auth };
}

function notResigned(c: LiveCredential, where: string, what: string, fix: string): RequestVerdict {
  return refusal('aws-not-resigned', `cordon: request to ${where} refused: it is ${what} made with the session keys of ${c.env}, which cordon cannot sign again with the real keys`, c.keyPath, fix);
}

/** The value with the token replaced by the real credential, in the credential's scheme; undefined if it is not exactly the token so presented. */
function swap(c: LiveCredential, value: string): string | undefined {
  const scheme = c.presentation.scheme;
  const v = value.trim();
  if (!scheme) return v === c.token ? c.real : undefined;
  const m = /^(\S+)\s+(\S+)$/.exec(v);
  if (!m || m[1]!.toLowerCase() !== scheme.toLowerCase()) return undefined;
  if (scheme.toLowerCase() !== 'basic') return m[2] === c.token ? `${m[1]} ${c.real}` : undefined;
  const plain = Buffer.from(m[2]!, 'base64').toString('utf8');
  const colon = plain.indexOf(':');
  if (colon < 0 || plain.slice(colon + 1) !== c.token || plain.slice(0, colon) !== (c.presentation.username ?? '')) return undefined;
  return `${m[1]} ${Buffer.from(`${plain.slice(0, colon)}:${c.real}`, 'utf8').toString('base64')}`;
}

/** A header value and what it says once decoded (Basic credentials are base64). */
function decodedForms(value: string): string {
  const m = /^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(value);
  return m ? `${value}\n${Buffer.from(m[1]!, 'base64').toString('utf8')}` : value;
}

function safeDecode(s: string): string {
  try {
    return `${s}\n${decodeURIComponent(s)}`;
  } catch {
    return s;
  }
}

/** The first credential-carrying query parameter with a value, or undefined. */
function credentialParam(target: string): string | undefined {
  const q = target.indexOf('?');
  if (q < 0) return undefined;
  // `;` separates parameters for some servers too; `key[]` is `key` to PHP and Rack, and PHP reads
  // `access.token`, `access token` and `access[token` as `access_token` (leading spaces dropped).
  for (const part of target.slice(q + 1).split(/[&;]/)) {
    const eq = part.indexOf('=');
    const decoded = safeDecode(eq < 0 ? part : part.slice(0, eq)).split('\n').pop()!.toLowerCase();
    const name = decoded.replace(/\[[^\]]*\].*$/, '').replace(/\[.*$/, '');
    const php = decoded.replace(/\[[^\]]*\].*$/, '').replace(/^ +/, '').replace(/[. [\x80-\x9f]/g, '_');
    const hit = [name, php].find((n) => (CREDENTIAL_PARAMS as readonly string[]).includes(n));
    if (hit && eq >= 0 && part.length > eq + 1) return hit;
  }
  return undefined;
}

function foreign(c: LiveCredential, where: string, position: string): RequestVerdict {
  return refusal('foreign-credential', `cordon: request to ${where} refused: ${position} carries a credential that is not ${c.env}'s session token. On a host ${c.env} is bound to, only it may authenticate (another key could send your data to another account)`, c.keyPath, null);
}

function unbound(c: LiveCredential, where: string, position: string): RequestVerdict {
  return refusal('credential-to-unbound-host', `cordon: request to ${where} refused: ${position} carries the session token of ${c.env}, which is bound to other hosts (${c.hosts.map((r) => r.source).join(', ')})`, c.keyPath, `${c.keyPath}.hosts: add the host`);
}

function refusal(reason: 'foreign-credential' | 'credential-to-unbound-host' | 'credential-in-cleartext' | 'aws-not-resigned', message: string, rule: string, fix: string | null): RequestVerdict {
  return { ok: false, reason, message, rule, fix };
}

/**
 * What a response from a bound host must not carry, and what it carries
 * instead: each real value as it is, the Basic value cordon sent, and the
 * real value in base64 (and base64url) at each of the three alignments a
 * longer base64 text can give it (the part of it that does not depend on
 * the bytes around it). The encoded forms only where the token is as long as
 * the value (then they line up). Other spellings (escaped, upper case) are
 * not found.
 */
export function scrubPairs(creds: readonly LiveCredential[]): { from: string; to: string }[] {
  const out: { from: string; to: string }[] = [];
  for (const c of creds) {
    out.push({ from: c.real, to: c.token });
    if (Buffer.byteLength(c.real) !== Buffer.byteLength(c.token)) continue;
    if (c.presentation.username !== undefined) {
      out.push({ from: Buffer.from(`${c.presentation.username}:${c.real}`).toString('base64'), to: Buffer.from(`${c.presentation.username}:${c.token}`).toString('base64') });
    }
    // Same byte length: each window of the token sits where the real value's does.
    const tos = base64Windows(Buffer.from(c.token));
    base64Windows(Buffer.from(c.real)).forEach((from, i) => {
      if (!out.some((p) => p.from === from)) out.push({ from, to: tos[i]! });
    });
  }
  return out;
}

/**
 * The base64 and base64url spellings of `bytes` wherever it sits in a longer
 * text (each of the three alignments, whole characters only, at least `min`
 * of them): what `user:value` in a Basic header, a Docker auth or any encoded
 * blob holding the value shows of it. Responses are searched for windows of
 * 16 or more (a shorter one could match by chance in a large body); the
 * command's variables for windows of 8 or more, which every value cordon
 * brokers (8 characters at least) has at each alignment.
 */
export function base64Windows(bytes: Buffer, min = 16): string[] {
  const out: string[] = [];
  for (let a = 0; a < 3; a++) {
    const start = a === 0 ? 0 : 4;
    const end = Math.floor((a + bytes.length) / 3) * 4;
    if (end - start < min) continue;
    for (const enc of ['base64', 'base64url'] as const) out.push(Buffer.concat([Buffer.alloc(a), bytes]).toString(enc).slice(start, end));
  }
  return out;
}

/** The credentials bound to host:port. */
export function boundTo(creds: readonly LiveCredential[], host: string, port: number): LiveCredential[] {
  return creds.filter((c) => anyRuleCovers(c.hosts, host, port));
}

/**
 * The bindings naming `host`, on any port (a server that got a value on one
 * port may answer with it on another): each credential with the port its
 * binding names (undefined: every port), once per binding.
 */
export function bindingsOf(creds: readonly LiveCredential[], host: string): { readonly cred: LiveCredential; readonly port: number | undefined }[] {
  const h = parseHost(host);
  return h.ok ? creds.flatMap((cred) => cred.hosts.filter((r) => patternMatches(r.pattern, h.host)).map((r) => ({ cred, port: r.port }))) : [];
}
