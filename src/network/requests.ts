/**
 * The request policy the HTTP proxy applies to every request it reads
 * (proxy/types.ts RequestPolicy): first the request rules
 * (request-rules.ts), then the brokered credentials (broker.ts); and what
 * a response from a bound host must have taken out of it. Pure.
 */
import type { RequestFacts, RequestPolicy, RequestVerdict, Scrubbing } from '../proxy/types.js';
import { boundTo, judgeRequest, scrubPairs, type LiveCredential } from './broker.js';
import { judgeRules, rulesFor, type RequestRule } from './request-rules.js';

/** Undefined when there is nothing to judge (no rules, no credentials). */
export function requestPolicy(rules: readonly RequestRule[], creds: readonly LiveCredential[]): RequestPolicy | undefined {
  if (rules.length === 0 && creds.length === 0) return undefined;
  return {
    judge(r: RequestFacts): RequestVerdict {
      const names = new Set<string>();
      for (let i = 0; i < r.rawHeaders.length; i += 2) names.add(r.rawHeaders[i]!.toLowerCase());
      const length = headerValue(r.rawHeaders, 'content-length');
      const ruled = rules.length ? judgeRules(rules, { host: r.host, port: r.port, method: r.method, target: r.spelled, forwarded: r.forwarded, headers: [...names], ...(length !== undefined ? { contentLength: Number(length) } : {}) }) : undefined;
      if (ruled && !ruled.ok) return ruled;
      const cred = creds.length ? judgeRequest(creds, { host: r.host, port: r.port, verified: r.verified, rawHeaders: r.rawHeaders, target: r.forwarded }) : undefined;
      if (cred && !cred.ok) return { ...cred, status: 403 };
      // Compared with `_` read as `-`: CGI-style servers read X_Debug as X-Debug.
      const strip = new Set((ruled?.ok ? ruled.strip : []).map(dashed));
      const raw = cred?.ok ? cred.headers : r.rawHeaders;
      const headers: string[] = [];
      for (let i = 0; i < raw.length; i += 2) if (!strip.has(dashed(raw[i]!))) headers.push(raw[i]!, raw[i + 1]!);
      return { ok: true, headers, swapped: cred?.ok ? cred.swapped : [], ...(ruled?.ok && ruled.maxBodyBytes !== undefined ? { maxBodyBytes: ruled.maxBodyBytes } : {}) };
    },
    mustSee(host, port) {
      if (rulesFor(rules, host, port).length > 0) return 'network.requestRules judge its requests';
      if (boundTo(creds, host, port).length > 0) return 'credentials.broker binds a credential to it, whose foreign keys must be seen';
      return undefined;
    },
    scrubbing(host, port): Scrubbing | undefined {
      const bound = boundTo(creds, host, port);
      if (bound.length === 0) return undefined;
      return { pairs: scrubPairs(bound), sameLength: bound.every((c) => Buffer.byteLength(c.real) === Buffer.byteLength(c.token)) };
    },
  };
}

function dashed(name: string): string {
  return name.toLowerCase().replace(/_/g, '-');
}

function headerValue(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
}
