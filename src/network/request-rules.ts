/**
 * Request rules (network.requestRules): per host pattern, the methods and
 * paths a request may have, the largest body it may carry, headers it must
 * carry and headers taken out of it. A host no rule names is not limited.
 * Where rules name a host, a request passes if it satisfies one of them; a
 * target that could be read two ways is refused, never normalised, because
 * a server that reads it the other way would act on a path no rule judged.
 *
 * Pure: a request's facts in, a verdict out (http-proxy.ts applies it).
 */
import { isUtf8 } from 'node:buffer';
import type { DomainRule } from './domain-rules.js';
import { anyRuleCovers } from './domain-rules.js';

export interface RequestRule {
  readonly hosts: readonly DomainRule[];
  /** Upper case; absent: any. */
  readonly methods?: readonly string[];
  /** Path globs (`*` one segment, `**` any depth); absent: any. */
  readonly paths?: readonly string[];
  readonly maxBodyBytes?: number;
  /** Lower case. */
  readonly requireHeaders: readonly string[];
  readonly stripHeaders: readonly string[];
  /** `network.requestRules[i]`. */
  readonly keyPath: string;
  /** The settings file it was written in. */
  readonly file: string;
  /**
   * Absent: one of the rules of the sources the user trusts, which are
   * alternatives (a request passes by any one). An untrusted project file's
   * rules are a gate of their own (its path): a request must pass them too,
   * so they can only narrow.
   */
  readonly gate?: string;
}

export interface RequestShape {
  readonly host: string;
  readonly port: number;
  readonly method: string;
  /** The target as the client spelled it (origin form: path and query). */
  readonly target: string;
  /** The target as cordon would forward it (the URL parser's reading). */
  readonly forwarded: string;
  /** Header names present, lower case. */
  readonly headers: readonly string[];
  /** Content-Length, when the request has one; undefined for a chunked or absent body. */
  readonly contentLength?: number;
}

export type RuleVerdict =
  | { readonly ok: true; readonly strip: readonly string[]; readonly maxBodyBytes?: number; readonly limited: boolean }
  | { readonly ok: false; readonly status: number; readonly reason: 'method-not-allowed' | 'path-not-allowed' | 'body-too-large' | 'ambiguous-target' | 'header-required'; readonly message: string; readonly rule: string; readonly fix: string | null };

/** The rules that name host:port. */
export function rulesFor(rules: readonly RequestRule[], host: string, port: number): RequestRule[] {
  return rules.filter((r) => anyRuleCovers(r.hosts, host, port));
}

/**
 * Whether the target could be read as another path: dot segments (plain or
 * percent-encoded), an encoded slash or backslash, a backslash, an empty
 * segment, a fragment, an encoded NUL, a %u escape, encoded bytes that are
 * not UTF-8 (overlong spellings), or any spelling the URL parser would
 * rewrite.
 */
export function ambiguousTarget(target: string, forwarded: string): string | undefined {
  const path = target.split('?', 1)[0]!;
  if (!target.startsWith('/')) return 'it is not a path';
  if (target.includes('#')) return 'it carries a fragment';
  if (/%2e|%2f|%5c|%25(2e|2f|5c)/i.test(path)) return 'it encodes a dot, slash or backslash';
  if (/%00/.test(path)) return 'it encodes a NUL byte (%00), where some servers end the path';
  if (/%u[0-9a-f]{4}/i.test(path)) return 'it holds a %u escape, which some servers read as a character (a dot, say)';
  if (!isUtf8(percentBytes(path))) return 'it encodes bytes that are not UTF-8 (an overlong spelling of a dot or slash, say)';
  if (path.includes('\\')) return 'it holds a backslash';
  if (path.includes('//')) return 'it holds an empty segment (//)';
  // `..;x` is `..` to servers that drop path parameters (Tomcat, Spring).
  if (path.split('/').some((seg) => /^\.\.?$/.test(seg.split(';', 1)[0]!))) return 'it holds a dot segment (. or .., with or without ;parameters)';
  if (target !== forwarded) return `the URL parser reads it as ${JSON.stringify(forwarded.slice(0, 200))}`;
  return undefined;
}

const STAGE: Record<Extract<RuleVerdict, { ok: false }>['reason'], number> = { 'ambiguous-target': 0, 'method-not-allowed': 1, 'path-not-allowed': 2, 'header-required': 3, 'body-too-large': 4 };

export function judgeRules(rules: readonly RequestRule[], r: RequestShape): RuleVerdict {
  const mine = rulesFor(rules, r.host, r.port);
  if (mine.length === 0) return { ok: true, strip: [], limited: false };
  const where = `${r.host}:${r.port}`;
  const shown = JSON.stringify(r.target.slice(0, 200));
  const why = ambiguousTarget(r.target, r.forwarded);
  if (why) return { ok: false, status: 400, reason: 'ambiguous-target', message: `cordon: ${r.method} ${shown} to ${where} refused: ${why}, and network.requestRules judge this host's paths; spell the path plainly`, rule: `${mine[0]!.file}: ${mine[0]!.keyPath}`, fix: null };
  const path = r.target.split('?', 1)[0]!;
  // Each gate that names the host is passed by one of its rules, or the request is refused; what the passing rules
  // strip adds up, the smallest body limit holds.
  const gates = new Map<string | undefined, RequestRule[]>();
  for (const rule of mine) gates.set(rule.gate, [...(gates.get(rule.gate) ?? []), rule]);
  const strip = new Set<string>();
  let max: number | undefined;
  for (const rules of gates.values()) {
    // Refused by all: the refusal of the rule the request came closest to (its method allowed, then its path, ...).
    let passed: Extract<RuleVerdict, { ok: true }> | undefined;
    let closest: Extract<RuleVerdict, { ok: false }> | undefined;
    for (const rule of rules) {
      const v = judgeOne(rule, r, path, where, shown);
      if (v.ok) { passed = v; break; }
      if (!closest || STAGE[v.reason] > STAGE[closest.reason]) closest = v;
    }
    if (!passed) return closest!;
    for (const h of passed.strip) strip.add(h);
    if (passed.maxBodyBytes !== undefined) max = Math.min(max ?? Infinity, passed.maxBodyBytes);
  }
  return { ok: true, strip: [...strip], ...(max !== undefined ? { maxBodyBytes: max } : {}), limited: true };
}

function judgeOne(rule: RequestRule, r: RequestShape, path: string, where: string, shown: string): RuleVerdict {
  const no = (status: number, reason: Extract<RuleVerdict, { ok: false }>['reason'], what: string, fix: string): RuleVerdict =>
    ({ ok: false, status, reason, message: `cordon: ${r.method} ${shown} to ${where} refused: ${what} (${rule.keyPath} in ${rule.file}); ${fix}`, rule: `${rule.file}: ${rule.keyPath}`, fix });
  if (rule.methods && !rule.methods.includes(r.method.toUpperCase())) return no(403, 'method-not-allowed', `${r.method} is not among its methods ${rule.methods.join(', ')}`, `add "${r.method}" to ${rule.keyPath}.methods`);
  if (rule.paths && !rule.paths.some((p) => globMatches(p, path))) return no(403, 'path-not-allowed', `the path matches none of its paths ${rule.paths.join(', ')}`, `add a pattern for it to ${rule.keyPath}.paths`);
  const missing = rule.requireHeaders.find((h) => !r.headers.includes(h));
  if (missing) return no(403, 'header-required', `it has no ${missing} header`, `send ${missing}, or remove it from ${rule.keyPath}.requireHeaders`);
  if (rule.maxBodyBytes !== undefined && r.contentLength !== undefined && r.contentLength > rule.maxBodyBytes) {
    return no(413, 'body-too-large', `its body of ${r.contentLength} bytes is over ${rule.maxBodyBytes}`, `raise ${rule.keyPath}.maxBodyBytes`);
  }
  return { ok: true, strip: rule.stripHeaders, ...(rule.maxBodyBytes !== undefined ? { maxBodyBytes: rule.maxBodyBytes } : {}), limited: true };
}

/** A path glob: `*` any run of characters but `/`, `**` any run at all (a `/**` at the end also matches the bare prefix); the rest literal. */
export function globMatches(pattern: string, path: string): boolean {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      if (pattern.slice(i - 1, i) === '/' && i + 2 === pattern.length) re = `${re.slice(0, -1)}(/.*)?`;
      else re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else re += c.replace(/[\\^$.|?+()[\]{}]/g, '\\$&');
  }
  return new RegExp(`${re}$`, 's').test(path);
}

/** A path's bytes with its %XX escapes decoded (the rest as Node read it: latin1). */
function percentBytes(path: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    const hex = path[i] === '%' ? path.slice(i + 1, i + 3) : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(path.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes);
}
