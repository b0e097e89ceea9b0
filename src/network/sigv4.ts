/**
 * AWS Signature Version 4, for brokered AWS keys (credentials.aws): the
 * command signs with session keys, and the proxy signs the same request
 * again with the real ones (broker.ts decides when). Pure: a request's
 * method, target, headers and payload hash in, an Authorization out.
 *
 * What is signed is what the client signed: its SignedHeaders, its scope
 * (date, region, service) and its X-Amz-Date, over the request as cordon
 * forwards it, in the client's own spelling of the canonical request
 * (Canonical: found by checking the client's signature with the session
 * secret). AWS's rules: the path as sent for `s3` (no normalisation, no
 * second encoding), otherwise dot segments and empty segments dropped and
 * the path encoded once more; the query's names and values decoded and
 * encoded again with only the unreserved characters left, sorted; each
 * signed header's values trimmed, runs of blanks made one, several joined
 * by `,`. The payload hash is the
 * request's `x-amz-content-sha256` where it has one (a hash,
 * `UNSIGNED-PAYLOAD` or `STREAMING-UNSIGNED-PAYLOAD-TRAILER`), else the
 * SHA-256 of the body, which the proxy then reads whole first.
 *
 * Not re-signed (refused by the caller): SigV4A (ECDSA), payloads signed
 * chunk by chunk (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD…`: every chunk's
 * signature chains from the first) and presigned URLs.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const ALGORITHM = 'AWS4-HMAC-SHA256';

export interface SigV4Authorization {
  readonly accessKeyId: string;
  /** YYYYMMDD. */
  readonly date: string;
  readonly region: string;
  readonly service: string;
  /** Lower case, in the order given. */
  readonly signedHeaders: readonly string[];
  readonly signature: string;
}

/** The parts of an `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` value; undefined if it is not one. */
export function parseAuthorization(value: string): SigV4Authorization | undefined {
  const v = value.trim();
  if (!v.startsWith(`${ALGORITHM} `)) return undefined;
  const fields = new Map<string, string>();
  for (const part of v.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    const name = part.slice(0, eq).trim();
    if (fields.has(name)) return undefined;
    fields.set(name, part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signed = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (fields.size !== 3 || !credential || !signed || !signature || !/^[0-9a-f]{64}$/.test(signature)) return undefined;
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request' || !/^\d{8}$/.test(scope[1]!) || !scope[0] || !scope[2] || !scope[3]) return undefined;
  const signedHeaders = signed.split(';');
  if (signedHeaders.some((h) => !/^[!#$%&'*+.^_`|~0-9a-z-]+$/.test(h))) return undefined;
  return { accessKeyId: scope[0], date: scope[1]!, region: scope[2]!, service: scope[3]!, signedHeaders, signature };
}

/** Payload hashes cordon signs as they are: the body is not read. */
export function signsAsIs(payloadHash: string): boolean {
  return /^[0-9a-f]{64}$/.test(payloadHash) || payloadHash === 'UNSIGNED-PAYLOAD' || payloadHash === 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
}

/** `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` and its `-TRAILER` and ECDSA forms: each chunk is signed too. */
export function signsChunks(payloadHash: string): boolean {
  return payloadHash.startsWith('STREAMING-') && payloadHash !== 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
}

export interface SignedRequest {
  readonly method: string;
  /** Path and query as sent (origin form). */
  readonly target: string;
  /** Header pairs [name, value, …] as forwarded. */
  readonly rawHeaders: readonly string[];
  readonly payloadHash: string;
}

/** Why a request cannot be signed as its Authorization says, or undefined. */
export function unsignable(auth: SigV4Authorization, r: Pick<SignedRequest, 'rawHeaders'>): string | undefined {
  if (!auth.signedHeaders.includes('host')) return 'its SignedHeaders leave out host';
  for (const h of auth.signedHeaders) if (!r.rawHeaders.some((n, i) => i % 2 === 0 && n.toLowerCase() === h)) return `the signed header ${h} is not in the request`;
  const date = headerValues(r.rawHeaders, 'x-amz-date');
  if (date.length !== 1 || !/^\d{8}T\d{6}Z$/.test(date[0]!.trim())) return 'it has no single X-Amz-Date header (YYYYMMDDTHHMMSSZ)';
  if (!date[0]!.trim().startsWith(auth.date)) return 'its X-Amz-Date is not the date of its credential scope';
  return undefined;
}

/**
 * How a client spelled its canonical request where SDKs differ: the path as
 * sent (S3) or normalised and encoded again (AWS's rule for the other
 * services), the query decoded and encoded again (AWS's rule) or as sent
 * (botocore, whose own requests are already encoded). The proxy finds the
 * client's by checking its signature with the session secret (verify), and
 * signs again the same way.
 */
export interface Canonical {
  readonly path: 'as-sent' | 'normalized';
  readonly query: 'encoded' | 'as-sent';
}

/** The spellings tried, the service's own first. */
export function canonicalForms(service: string): Canonical[] {
  const first: Canonical['path'] = service === 's3' ? 'as-sent' : 'normalized';
  const second: Canonical['path'] = first === 'as-sent' ? 'normalized' : 'as-sent';
  return [{ path: first, query: 'encoded' }, { path: first, query: 'as-sent' }, { path: second, query: 'encoded' }, { path: second, query: 'as-sent' }];
}

/** The Authorization for `r`, signed with `secret` as `accessKeyId`, over `auth`'s scope and signed headers. */
export function sign(r: SignedRequest, auth: SigV4Authorization, accessKeyId: string, secret: string, form: Canonical): string {
  return `${ALGORITHM} Credential=${accessKeyId}/${scopeOf(auth)}, SignedHeaders=${signedOf(auth).join(';')}, Signature=${signature(r, auth, secret, form)}`;
}

/** The spelling under which `auth`'s signature is `secret`'s over `r`, or undefined. */
export function verify(r: SignedRequest, auth: SigV4Authorization, secret: string): Canonical | undefined {
  const given = Buffer.from(auth.signature, 'hex');
  return canonicalForms(auth.service).find((form) => timingSafeEqual(Buffer.from(signature(r, auth, secret, form), 'hex'), given));
}

function signature(r: SignedRequest, auth: SigV4Authorization, secret: string, form: Canonical): string {
  const amzDate = headerValues(r.rawHeaders, 'x-amz-date')[0]!.trim();
  const canonical = canonicalRequest(r, signedOf(auth), form);
  const toSign = `${ALGORITHM}\n${amzDate}\n${scopeOf(auth)}\n${sha256Hex(canonical)}`;
  let key = hmac(`AWS4${secret}`, auth.date);
  for (const part of [auth.region, auth.service, 'aws4_request']) key = hmac(key, part);
  return createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
}

const scopeOf = (auth: SigV4Authorization) => `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
const signedOf = (auth: SigV4Authorization) => [...new Set(auth.signedHeaders)].sort();

export function canonicalRequest(r: SignedRequest, signedHeaders: readonly string[], form: Canonical): string {
  const q = r.target.indexOf('?');
  const path = q < 0 ? r.target : r.target.slice(0, q);
  const query = q < 0 ? '' : r.target.slice(q + 1);
  const headers = signedHeaders.map((h) => `${h}:${headerValues(r.rawHeaders, h).map((v) => v.trim().replace(/[ \t]+/g, ' ')).join(',')}\n`).join('');
  return [r.method.toUpperCase(), canonicalPath(path, form.path), canonicalQuery(query, form.query), headers, signedHeaders.join(';'), r.payloadHash].join('\n');
}

function canonicalPath(path: string, form: Canonical['path']): string {
  if (path === '') return '/';
  if (form === 'as-sent') return path;
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  const joined = `/${out.join('/')}${path.endsWith('/') && out.length > 0 ? '/' : ''}`;
  return joined.split('/').map(encode).join('/');
}

function canonicalQuery(query: string, form: Canonical['query']): string {
  const pairs: [string, string][] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const [k, v] = eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
    pairs.push(form === 'encoded' ? [encode(percentDecoded(k)), encode(percentDecoded(v))] : [k, v]);
  }
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** Percent-decoding as AWS's SDKs do it (a `+` stays a plus); a malformed escape leaves the text as it is. */
export function percentDecoded(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** RFC 3986: everything but A–Z a–z 0–9 - . _ ~ as %XX of its UTF-8 bytes. */
function encode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function headerValues(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}
