/**
 * The request policy the HTTP proxy applies to every request it reads
 * (proxy/types.ts RequestPolicy): first the request rules
 * (request-rules.ts), then the brokered credentials (broker.ts); and what
 * a response from a bound host must have taken out of it. Pure but for
 * one thing it remembers: the addresses bound hosts were dialed at, so that
 * the same server reached under another name (an IP literal, an alias) is
 * scrubbed and seen too.
 */
import type { RequestFacts, RequestPolicy, RequestVerdict, Resign, Scrubbing } from '../proxy/types.js';
import { bindingsOf, boundTo, judgeRequest, scrubPairs, type LiveCredential, type Resigning } from './broker.js';
import { headerValues, percentDecoded, sign, signsAsIs, signsChunks, unsignable, verify } from './sigv4.js';
import { judgeRules, rulesFor, type RequestRule } from './request-rules.js';

/** Undefined when there is nothing to judge (no rules, no credentials). */
export function requestPolicy(rules: readonly RequestRule[], creds: readonly LiveCredential[]): RequestPolicy | undefined {
  if (rules.length === 0 && creds.length === 0) return undefined;
  /** Addresses a host a credential is bound to was dialed at (noteDialed), with the ports its bindings name (undefined: every one). */
  const boundAddresses = new Map<string, Set<number | undefined>>();
  const scrubbingOf = (bound: readonly LiveCredential[]): Scrubbing => ({
    pairs: scrubPairs(bound),
    sameLength: bound.every((c) => Buffer.byteLength(c.real) === Buffer.byteLength(c.token)),
    whole: bound.some((c) => !c.sigv4),
  });
  return {
    judge(r: RequestFacts): RequestVerdict {
      const names = new Set<string>();
      for (let i = 0; i < r.rawHeaders.length; i += 2) names.add(r.rawHeaders[i]!.toLowerCase());
      const length = headerValues(r.rawHeaders, 'content-length')[0];
      const ruled = rules.length ? judgeRules(rules, { host: r.host, port: r.port, method: r.method, target: r.spelled, forwarded: r.forwarded, headers: [...names], ...(length !== undefined ? { contentLength: Number(length) } : {}) }) : undefined;
      if (ruled && !ruled.ok) return ruled;
      const cred = creds.length ? judgeRequest(creds, { host: r.host, port: r.port, verified: r.verified, rawHeaders: r.rawHeaders, target: r.forwarded }) : undefined;
      if (cred && !cred.ok) return { ...cred, status: 403 };
      // Compared with `_` read as `-`: CGI-style servers read X_Debug as X-Debug.
      const strip = new Set((ruled?.ok ? ruled.strip : []).map(dashed));
      // A host a credential is bound to answers whole: a part of a response (Range) could hold part of the real
      // value, which the scrubber cannot know as such. AWS hosts keep Range (S3's ranged GETs; their answers
      // echo the access key only in error documents, which are never partial).
      if (creds.length && bindingsOf(creds, r.host).some((b) => !b.cred.sigv4)) for (const h of WHOLE_ANSWERS) strip.add(h);
      const raw = cred?.ok ? cred.headers : r.rawHeaders;
      const headers: string[] = [];
      for (let i = 0; i < raw.length; i += 2) if (!strip.has(dashed(raw[i]!))) headers.push(raw[i]!, raw[i + 1]!);
      const resign = cred?.ok && cred.sigv4 ? resigner(cred.sigv4, r, headers) : undefined;
      if (resign && 'status' in resign) return resign;
      return { ok: true, headers, swapped: cred?.ok ? cred.swapped : [], ...(ruled?.ok && ruled.maxBodyBytes !== undefined ? { maxBodyBytes: ruled.maxBodyBytes } : {}), ...(resign ? { resign } : {}) };
    },
    mustSee(host, port, address) {
      if (rulesFor(rules, host, port).length > 0) return 'network.requestRules judge its requests';
      if (boundTo(creds, host, port).length > 0) return 'credentials.broker binds a credential to it, whose foreign keys must be seen';
      // The same server under another name, on a port a binding names: what it says there must be seen and scrubbed.
      // (Another port of a port-scoped binding stays free: SSH to a host whose HTTPS a token is bound to.)
      const ports = address === undefined ? undefined : boundAddresses.get(address);
      if (ports && (ports.has(undefined) || ports.has(port))) return `it is ${address}, where a host a credential is bound to was reached, whose answers could carry it`;
      return undefined;
    },
    scrubbing(host, port, address): Scrubbing | undefined {
      // By name on any port; by address under any name: the server that was given a real value may answer with it there.
      const bound = [...new Set(bindingsOf(creds, host).map((b) => b.cred))];
      if (bound.length > 0) return scrubbingOf(bound);
      return address !== undefined && boundAddresses.has(address) ? scrubbingOf(creds) : undefined;
    },
    noteDialed(host, address) {
      const ports = bindingsOf(creds, host).map((b) => b.port);
      if (ports.length === 0) return;
      const known = boundAddresses.get(address) ?? new Set<number | undefined>();
      for (const p of ports) known.add(p);
      boundAddresses.set(address, known);
    },
  };
}

/** Request headers that ask for part of a response: never sent to a host a (non-AWS) credential is bound to. */
const WHOLE_ANSWERS = ['range', 'if-range', 'request-range'];

function dashed(name: string): string {
  return name.toLowerCase().replace(/_/g, '-');
}


/** The most of a body the proxy reads whole to hash it, for a request signed with brokered AWS keys that does not state its payload hash. */
export const SIGV4_BODY_MAX = 32 * 1024 * 1024;

/**
 * How a request signed with a set's session keys is signed again
 * (sigv4.ts), or why it cannot be: its payload hash must be one that is
 * signed as it is, or absent (the body is then hashed); each chunk signed
 * on its own (aws-chunked with signatures) cannot be. At signing, the
 * client's signature is checked with the session secret over the request
 * as it sent it, which also tells how it spelled its canonical request;
 * the new one is made the same way over the headers as they are sent.
 */
function resigner(s: Resigning, r: RequestFacts, headers: readonly string[]): Resign | (RequestVerdict & { ok: false }) {
  const refused = (message: string, fix: string | null, status = 403) => ({ ok: false as const, status, reason: 'aws-not-resigned', message: `cordon: ${r.method} to ${r.host}:${r.port} refused: ${message}`, rule: s.keyPath, fix });
  const stated = headerValues(headers, 'x-amz-content-sha256');
  if (stated.length > 1) return refused('it states its payload hash (x-amz-content-sha256) more than once', null);
  const hash = stated[0]?.trim();
  if (hash !== undefined && signsChunks(hash)) return refused(`its body is signed chunk by chunk (${hash}), which only the holder of the real secret key could do`, 'sign the payload as UNSIGNED-PAYLOAD or as its SHA-256 (the AWS SDKs do over HTTPS)');
  if (hash !== undefined && !signsAsIs(hash)) return refused(`its x-amz-content-sha256 (${JSON.stringify(hash.slice(0, 80))}) is neither a SHA-256 nor UNSIGNED-PAYLOAD`, null);
  // Headers the proxy rewrites or drops on the way (hop by hop): what would be signed is not what is sent.
  const hop = s.auth.signedHeaders.find((h) => HOP_BY_HOP_SIGNED.has(h));
  if (hop) return refused(`it signs ${hop}, a header that does not go past the proxy as it is`, 'leave hop-by-hop headers out of the signature');
  const why = unsignable(s.auth, { rawHeaders: headers });
  if (why) return refused(`it is signed with brokered AWS keys, and cordon cannot sign it again: ${why}`, null);
  // Signed as the client spelled it, but sent as cordon's URL parser reads it: the two must be one.
  if (r.spelled !== r.forwarded) return refused(`its target ${JSON.stringify(r.spelled.slice(0, 200))} would be sent as ${JSON.stringify(r.forwarded.slice(0, 200))}, not as it was signed`, 'send the target as it is meant (no dot segments, backslashes or characters a URL parser rewrites)');
  const service = s.auth.service.toLowerCase();
  if (s.services && !s.services.includes(service)) return refused(`it is signed for the service ${JSON.stringify(s.auth.service)}, which ${s.keyPath}.services does not list`, `add "${service}" to ${s.keyPath}.services`);
  // An endpoint whose answer is new credentials, told by its path (REST services).
  const rest = restMinting(service, r.method, r.forwarded);
  if (rest) return refused(`it asks ${s.auth.service} for ${rest}, which hands out new credentials: signed with the real keys, the answer would carry working credentials into the sandbox`, 'get such credentials on the host and broker them (credentials.aws with from.command)');
  // A service that can hand out credentials: its body is read whatever its stated hash, to see which action it asks for.
  const minting = MINTING.has(service);
  if (minting && headerValues(headers, 'content-encoding').some((v) => v.trim() !== '' && v.trim().toLowerCase() !== 'identity')) return refused(`it asks ${s.auth.service}, a service that can hand out credentials, with an encoded body, in which cordon cannot read which action it asks for`, 'send the body unencoded');
  const length = headerValues(headers, 'content-length')[0];
  if ((hash === undefined || minting) && length !== undefined && Number(length) > SIGV4_BODY_MAX) return refused(`its body (${length} bytes) must be read whole to be signed again, and cordon reads at most ${SIGV4_BODY_MAX}`, 'state the payload hash (x-amz-content-sha256: UNSIGNED-PAYLOAD or the SHA-256)', 413);
  return {
    ...(hash !== undefined && !minting ? { payloadHash: hash } : {}),
    maxBodyBytes: SIGV4_BODY_MAX,
    sign(out, bodyHash, body) {
      if (minting) {
        const actions = awsActions(r, out, body);
        if (actions.length !== 1) return refused(`it asks ${s.auth.service}, a service that can hand out new AWS credentials, for ${actions.length === 0 ? 'no action cordon can read' : `several actions at once (${actions.slice(0, 4).join(', ')})`}; signed with the real keys, an answer with credentials would carry them into the sandbox`, 'name one action (the AWS SDKs do)');
        if (mintsCredentials(s.auth.service, actions[0]!)) return refused(`it asks ${s.auth.service} for ${actions[0]}, which hands out new AWS credentials: signed with the real keys, the answer would carry working credentials into the sandbox`, 'get such credentials on the host and broker them (credentials.aws with from.command)');
      }
      if (hash !== undefined && body && /^[0-9a-f]{64}$/.test(hash) && hash !== bodyHash) return refused('its x-amz-content-sha256 is not the hash of its body', null);
      const payloadHash = hash ?? bodyHash;
      const why = unsignable(s.auth, { rawHeaders: out });
      if (why) return refused(`it is signed with brokered AWS keys, and cordon cannot sign it again as it is sent: ${why}`, null);
      const form = verify({ method: r.method, target: r.spelled, rawHeaders: s.asSigned, payloadHash }, s.auth, s.session.secret);
      if (!form) return refused("its signature is not the session secret key's over the request as it was sent, so cordon cannot tell what was signed", 'sign with an AWS SDK or CLI, with the variables cordon sets');
      const auth = sign({ method: r.method, target: r.forwarded, rawHeaders: out, payloadHash }, s.auth, s.real.accessKeyId, s.real.secret, form);
      const headers: string[] = [];
      for (let i = 0; i < out.length; i += 2) headers.push(out[i]!, out[i]!.toLowerCase() === 'authorization' ? auth : out[i + 1]!);
      return { ok: true, headers };
    },
  };
}

/** Signed headers cordon's proxy does not pass on as they are (hop by hop). */
const HOP_BY_HOP_SIGNED = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * Services with actions that answer with new credentials (keys, tokens,
 * passwords): signed with the real keys, such an answer would put working
 * credentials in the sandbox. STS is allowed only what hands out none; the
 * others lose the actions listed.
 */
const STS_ALLOWED = new Set(['GetCallerIdentity', 'GetAccessKeyInfo', 'DecodeAuthorizationMessage']);
const MINTING_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  // With the last ones, an account outside lets itself assume a role: credentials made outside the sandbox's reach.
  iam: ['CreateAccessKey', 'CreateLoginProfile', 'UpdateLoginProfile', 'CreateServiceSpecificCredential', 'ResetServiceSpecificCredential', 'UploadSSHPublicKey', 'UploadSigningCertificate',
    'CreateRole', 'UpdateAssumeRolePolicy', 'CreateOpenIDConnectProvider', 'AddClientIDToOpenIDConnectProvider', 'UpdateOpenIDConnectProviderThumbprint', 'CreateSAMLProvider', 'UpdateSAMLProvider'],
  'ec2-instance-connect': ['SendSSHPublicKey', 'SendSerialConsoleSSHPublicKey'],
  ec2: ['CreateKeyPair'],
  'cognito-idp': ['AdminInitiateAuth', 'AdminRespondToAuthChallenge', 'AdminSetUserPassword'],
  lightsail: ['GetInstanceAccessDetails', 'CreateKeyPair', 'DownloadDefaultKeyPair', 'GetRelationalDatabaseMasterUserPassword'],
  'cognito-identity': ['GetCredentialsForIdentity', 'GetOpenIdToken', 'GetOpenIdTokenForDeveloperIdentity'],
  ecr: ['GetAuthorizationToken'],
  'ecr-public': ['GetAuthorizationToken'],
  codeartifact: ['GetAuthorizationToken'],
  redshift: ['GetClusterCredentials', 'GetClusterCredentialsWithIAM'],
  'redshift-serverless': ['GetCredentials'],
};
const MINTING = new Set(['sts', ...Object.keys(MINTING_ACTIONS)]);

/**
 * REST endpoints that answer with new credentials, by service: the
 * action's name if `target` (path and query, as forwarded) is one.
 * S3 Express One Zone's CreateSession (`?session`: session keys for a
 * directory bucket), Lake Formation's temporary Glue and data location
 * credentials and SAML role, DataZone's environment credentials, IoT's new
 * keys, certificates and provisioning claims, API Gateway's and AppSync's
 * API keys.
 */
export function restMinting(service: string, method: string, target: string): string | undefined {
  const q = target.indexOf('?');
  const path = percentDecoded(q < 0 ? target : target.slice(0, q)).toLowerCase();
  const query = q < 0 ? [] : target.slice(q + 1).split('&').map((p) => percentDecoded(p.split('=', 1)[0]!).toLowerCase());
  switch (service) {
    case 's3express': return query.includes('session') ? 'CreateSession' : undefined;
    case 'lakeformation': return /\/(gettemporary\w*credentials|assumedecoratedrolewithsaml)\/?$/.test(path) ? path.split('/').filter(Boolean).pop() : undefined;
    case 'datazone': return /\/environments\/[^/]+\/credentials\/?$/.test(path) ? 'GetEnvironmentCredentials' : undefined;
    case 'iot': {
      if (method.toUpperCase() !== 'POST') return undefined;
      if (/^\/keys-and-certificate\/?$/.test(path)) return 'CreateKeysAndCertificate';
      if (/^\/provisioning-templates\/[^/]+\/provisioning-claim\/?$/.test(path)) return 'CreateProvisioningClaim';
      if (/^\/certificates\/?$/.test(path)) return 'CreateCertificateFromCsr';
      if (/^\/certificate\/register(-no-ca)?\/?$/.test(path)) return 'RegisterCertificate';
      return undefined;
    }
    // API keys: made, or read with their values.
    case 'apigateway': return (method.toUpperCase() === 'POST' && /^\/apikeys\/?$/.test(path)) || query.some((k) => k === 'includevalue' || k === 'includevalues') ? 'an API key' : undefined;
    case 'appsync': return method.toUpperCase() === 'POST' && /^\/v1\/apis\/[^/]+\/apikeys\/?$/.test(path) ? 'CreateApiKey' : undefined;
    default: return undefined;
  }
}

export function mintsCredentials(service: string, action: string): boolean {
  const a = action.toLowerCase();
  const svc = service.toLowerCase();
  if (svc === 'sts') return ![...STS_ALLOWED].some((x) => x.toLowerCase() === a);
  return (MINTING_ACTIONS[svc] ?? []).some((x) => x.toLowerCase() === a);
}

/**
 * Every action a request names, as AWS's protocols say it, each once: the
 * X-Amz-Target headers' last part (JSON protocol), `Action` in the query
 * and in the body read as a form whatever its type says (query protocol;
 * `&` and `;` both separate), CodeArtifact's token path (REST). A caller
 * wants exactly one: a request that names none, or several, could be read
 * one way here and another by the service.
 */
export function awsActions(r: Pick<RequestFacts, 'forwarded'>, headers: readonly string[], body: Buffer | undefined): string[] {
  const found = new Set<string>();
  for (const t of headerValues(headers, 'x-amz-target')) found.add(t.trim().split('.').pop()!);
  const q = r.forwarded.indexOf('?');
  const path = q < 0 ? r.forwarded : r.forwarded.slice(0, q);
  if (/authorization-token/i.test(percentDecoded(path))) found.add('GetAuthorizationToken');
  const params = (text: string) => {
    for (const part of text.split(/[&;]/)) {
      const eq = part.indexOf('=');
      if (eq > 0 && percentDecoded(part.slice(0, eq).replace(/\+/g, ' ')).trim().toLowerCase() === 'action') found.add(percentDecoded(part.slice(eq + 1).replace(/\+/g, ' ')).trim());
    }
  };
  if (q >= 0) params(r.forwarded.slice(q + 1));
  if (body && body.length > 0) params(body.toString('latin1'));
  // Compared without case: one name, however spelled, is one action.
  return [...new Map([...found].map((a) => [a.toLowerCase(), a])).values()];
}
