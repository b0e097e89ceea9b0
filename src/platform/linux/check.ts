/**
 * `cordon check`: whether the command could read, write or delete a path, or
 * connect to a host, under a compiled policy and plan, and which rule
 * decides; nothing runs. The verdict for a path is the plan's own (stateOf,
 * the same precedence planLinux mounts by, and the plan's mount points for
 * what cannot be removed); the verdict for a connection is decide(), the one
 * function behind the proxies. The rule named beside it is looked up with
 * the same precedence; test/unit/platform/linux/check.test.ts checks the two
 * agree.
 */
import { basename, dirname, join, sep } from 'node:path';
import { gitSurfaceAt, type FsRule, type NetworkPolicySpec, type Policy } from '../../policy/policy.js';
import { isWithin } from '../../policy/paths.js';
import { PROTECTED_IN_HOME, PROTECTED_NAMES, SHELL_STARTUP } from '../../policy/protected.js';
import type { ResolvedPath } from '../../policy/paths.js';
import { decide, type DecideDeps } from '../../network/decide.js';
import type { DomainRule } from '../../network/domain-rules.js';
import type { IpAddress } from '../../network/addresses.js';
import { hasPrivateTmp, hostInTmp, indexRules, stateOf, topInTmp, type LinuxPlan } from './plan.js';

export type PathOperation = 'read' | 'write' | 'delete';
export type CheckOperation = PathOperation | 'connect';

export interface CheckAnswer {
  readonly allowed: boolean;
  readonly operation: CheckOperation;
  /** As asked. */
  readonly target: string;
  /** What was judged: the path with symlinks resolved; host:port for a connection. */
  readonly judged: string;
  /** One line for a person or an agent: why, and what would change it. */
  readonly because: string;
  /** The rule that decided, when one did. */
  readonly rule?: { readonly path?: string; readonly access?: string; readonly source: string };
}

const TMP = '/tmp';
/** The source of a refusal by a mount point (a pinned or protected path), which no setting lifts. */
export const MOUNT_POINT = 'a mount point in the sandbox';

/**
 * The rules that act in the sandbox: a read deny on a path that was not there
 * when the policy was made hides nothing (the plan mounts nothing over
 * nothing), so what the command makes there it may write and read as the
 * rest of its place allows.
 */
export function actingRules(rules: readonly FsRule[]): readonly FsRule[] {
  return rules.some(idleDeny) ? rules.filter((r) => !idleDeny(r)) : rules;
}

/** A read deny of a path that was not there when the policy was made (actingRules). */
const idleDeny = (r: FsRule) => r.access === 'deny-read' && r.kind === 'missing';

/** The answer for a path operation. `path`: the asked path made absolute and resolved (paths.ts resolvePath). */
export function checkPath(operation: PathOperation, target: string, path: ResolvedPath, policy: Policy, plan: LinuxPlan): CheckAnswer {
  const answer = checkActing(operation, target, path, policy, plan);
  // A deny of a path that was not there: said, since it acts on nothing.
  const idle = policy.rules.find((r) => idleDeny(r) && isWithin(path.path, r.path));
  return idle ? { ...answer, because: `${answer.because}; ${describe(idle)} names a path that was not there when the policy was made, so it hides nothing: what the command makes there, it can read` } : answer;
}

function checkActing(operation: PathOperation, target: string, path: ResolvedPath, policy: Policy, plan: LinuxPlan): CheckAnswer {
  const rules = actingRules(policy.rules);
  const privateTmp = hasPrivateTmp(rules);
  const p = path.path;
  const s = stateOf(p, rules, privateTmp);
  const base = { operation, target, judged: p };
  const ruleOf = (r: FsRule | undefined) => (r ? { rule: { path: r.path, access: r.access, source: r.source } } : {});
  const readBy = readRule(p, rules);
  // The sandbox's own /tmp: the host's file there is neither seen nor changed.
  const inPrivateTmp = privateTmp && isWithin(p, TMP) && (p === TMP || !hostInTmp(rules, indexRules(rules)).has(topInTmp(p)));
  if (!s.readable) {
    const sees = readBy && readBy.path !== p ? `nothing of it (${readBy.path} is an empty, read-only directory inside)` : path.kind === 'dir' ? 'an empty, read-only directory there' : 'an empty, read-only file there';
    return { ...base, allowed: false, because: `hidden by ${describe(readBy)}: the command sees ${sees}${readBy && readBy.weak ? `; filesystem.allowRead or --allow-read ${readBy.path} re-opens it` : ''}`, ...ruleOf(readBy) };
  }
  if (operation === 'read') {
    if (inPrivateTmp) return { ...base, allowed: false, because: `the sandbox's /tmp is private: the command sees its own empty /tmp, not the host's ${p}` };
    return { ...base, allowed: true, because: readBy ? `re-opened by ${describe(readBy)}` : 'no rule hides it (reading is allowed everywhere but where a rule hides)', ...ruleOf(readBy) };
  }
  if (inPrivateTmp && s.write !== 'ro') {
    return { ...base, allowed: true, because: `in the sandbox's private /tmp, which starts empty and is gone after the run: the host's ${p} is never touched` };
  }
  const ro = readOnlyRule(p, rules);
  const wr = writeRule(p, rules);
  if (s.write === 'ro') {
    const kept = ro ? undefined : keptWhateverGrant(p, policy);
    const because = ro ? `read-only by ${describe(ro)}` : `no rule makes it writable (writable: ${writableRoots(rules).join(', ') || 'nothing but the private /tmp'}); ${kept ? `and none would: ${kept.path} (${kept.why}) stays read-only ${kept.atRoot ? 'at the root of any writable path' : 'whichever grant reaches it'}` : 'filesystem.allowWrite or --allow-write makes a path writable'}`;
    return { ...base, allowed: false, because, ...ruleOf(ro) };
  }
  if (operation === 'write') {
    const how = s.write === 'rwnd' ? 'read-write-no-delete (create and write; never delete, rename away or truncate)' : 'read-write';
    return { ...base, allowed: true, because: `${how} by ${describe(wr)}`, ...ruleOf(wr) };
  }
  // delete (or rename away): the path itself and its directory must be read-write, and nothing there a mount point.
  if (s.write === 'rwnd') return { ...base, allowed: false, because: `read-write-no-delete by ${describe(wr)}: files there can be created and written, never deleted or renamed away`, ...ruleOf(wr) };
  const parent = dirname(p);
  const ps = stateOf(parent, rules, privateTmp);
  if (p === sep || ps.write !== 'rw' || !ps.readable) {
    const by = ps.write === 'rwnd' ? writeRule(parent, rules) : readOnlyRule(parent, rules);
    const what = ps.write === 'rwnd' ? 'read-write-no-delete' : 'read-only';
    return { ...base, allowed: false, because: `its directory ${parent} is ${what}${by ? ` by ${describe(by)}` : ' (no rule makes it writable)'}: nothing in it can be removed`, ...ruleOf(by) };
  }
  const here = plan.mounts.find((m) => m.path === p);
  // No setting lifts these: the mount is there because something beneath or here is protected.
  if (here) return { ...base, allowed: false, because: `it is a mount point in the sandbox (${here.why}): it cannot be removed or renamed away`, rule: { path: here.path, source: `${MOUNT_POINT}: ${here.why}` } };
  const beneath = plan.mounts.find((m) => m.path !== p && isWithin(m.path, p));
  if (beneath) return { ...base, allowed: false, because: `it holds ${beneath.path}, a mount point in the sandbox (${beneath.why}), which cannot be removed, so it cannot be emptied`, rule: { path: beneath.path, source: `${MOUNT_POINT} beneath it: ${beneath.why}` } };
  return { ...base, allowed: true, because: `read-write by ${describe(wr)}, and so is its directory`, ...ruleOf(wr) };
}

/**
 * What stays read-only whichever grant reaches it, so that no setting makes
 * `p` writable: cordon's own files, what $HOME keeps (PROTECTED_IN_HOME),
 * git's hooks and configuration in a git directory (gitSurfaceAt), and a
 * name protected at the root of every writable path, which adding its
 * directory would make it.
 */
export function keptWhateverGrant(p: string, policy: Pick<Policy, 'home' | 'neverWritable'>): { readonly path: string; readonly why: string; readonly atRoot?: true } | undefined {
  const own = (policy.neverWritable ?? []).find((n) => isWithin(p, n.path)) ?? PROTECTED_IN_HOME.map((n) => ({ path: join(policy.home, n.name), why: n.why })).find((n) => isWithin(p, n.path));
  if (own) return own;
  const git = gitSurfaceAt(p);
  if (git) return git;
  const name = [...PROTECTED_NAMES, ...SHELL_STARTUP].find((n) => n.name === basename(p));
  if (name) return { path: p, why: name.why, atRoot: true };
  // Inside such a name (x/.vscode/tasks.json): a grant would have to name that directory itself,
  // which hands the command what it protects (editor tasks, agent hooks); none is offered.
  for (let at = dirname(p); at !== dirname(at); at = dirname(at)) {
    const held = PROTECTED_NAMES.find((n) => n.name === basename(at));
    if (held) return { path: at, why: held.why, atRoot: true };
  }
  return undefined;
}

function describe(r: FsRule | undefined): string {
  return r ? `${r.path} (${r.access} <- ${r.source})` : 'no rule';
}

/** The read rule that decides `p`: the nearest path with one; there an explicit deny beats an allow, which beats a built-in (weak) deny (as stateOf). */
export function readRule(p: string, rules: readonly FsRule[]): FsRule | undefined {
  return nearest(p, rules, (here) => {
    const reads = here.filter((r) => r.access === 'deny-read' || r.access === 'allow-read');
    return reads.find((r) => r.access === 'deny-read' && !r.weak) ?? reads.find((r) => r.access === 'allow-read') ?? reads[0];
  });
}

/** The nearest read-only rule at or above `p` (read-only anywhere above wins, as in stateOf). */
export function readOnlyRule(p: string, rules: readonly FsRule[]): FsRule | undefined {
  return nearest(p, rules, (here) => here.find((r) => r.access === 'read-only'));
}

/** The nearest write grant at or above `p`; at one path, no-delete wins (as stateOf). */
export function writeRule(p: string, rules: readonly FsRule[]): FsRule | undefined {
  return nearest(p, rules, (here) => here.find((r) => r.access === 'read-write-no-delete') ?? here.find((r) => r.access === 'read-write'));
}

function nearest(p: string, rules: readonly FsRule[], pick: (here: readonly FsRule[]) => FsRule | undefined): FsRule | undefined {
  const byPath = indexRules(rules);
  for (let at = p; ; at = dirname(at)) {
    const hit = pick(byPath.get(at) ?? []);
    if (hit) return hit;
    if (at === sep) return undefined;
  }
}

function writableRoots(rules: readonly FsRule[]): string[] {
  return [...new Set(rules.filter((r) => (r.access === 'read-write' || r.access === 'read-write-no-delete') && !r.source.startsWith('protected')).map((r) => r.path))];
}

/** `HOST[:PORT]` (IPv6 in brackets); the port is 443 when not given. */
export function parseTarget(target: string): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]*\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(target);
  if (!m) return undefined;
  return { host: m[1]!, port: m[2] === undefined ? 443 : Number(m[2]) };
}

export interface ConnectDeps extends DecideDeps {
  /** This host's addresses (host-addresses.ts). */
  readonly hostAddresses: () => readonly IpAddress[];
}

/** The answer for a connection to `target` (HOST[:PORT]): what the proxy would decide now. */
export async function checkConnect(target: string, network: NetworkPolicySpec, deps: ConnectDeps): Promise<CheckAnswer> {
  const parsed = parseTarget(target);
  const base = { operation: 'connect' as const, target };
  if (!parsed) return { ...base, judged: target, allowed: false, because: `not HOST[:PORT] (an IPv6 address goes in brackets: [::1]:443)` };
  const judged = `${parsed.host}:${parsed.port}`;
  const modeRule = { source: network.modeSource };
  if (network.mode === 'none') {
    return { ...base, judged, allowed: false, because: `the command has no network (mode none <- ${network.modeSource}); allowing a domain (network.allowedDomains or --allow-domain) gives it one, through cordon's proxies`, rule: modeRule };
  }
  if (network.mode === 'dangerously-unfiltered') {
    return { ...base, judged, allowed: true, because: `the command has the host's network, unfiltered (mode dangerously-unfiltered <- ${network.modeSource})`, rule: modeRule };
  }
  const d = await decide({ host: parsed.host, port: parsed.port, via: 'connect' }, { ...network, hostAddresses: deps.hostAddresses() }, deps);
  const find = (list: readonly DomainRule[]) => list.find((r) => r.keyPath === d.ruleKeyPath && r.source === d.rule);
  if (d.allow) {
    const r = find(network.allow);
    return { ...base, judged, allowed: true, because: `allowed by ${d.rule} (${where(r, d.ruleKeyPath)}), through cordon's proxies; it would dial ${d.dial.address}`, rule: { source: where(r, d.ruleKeyPath) } };
  }
  const r = find(network.deny) ?? find(network.allow);
  const because = d.message.replace(/^cordon: /, '') + (r || d.ruleKeyPath ? ` [${where(r, d.ruleKeyPath ?? '')}]` : '');
  return { ...base, judged, allowed: false, because, ...(r || d.ruleKeyPath ? { rule: { source: where(r, d.ruleKeyPath ?? '') } } : {}) };
}

function where(r: DomainRule | undefined, keyPath: string): string {
  return r?.file ? `${r.file}: ${r.keyPath}` : keyPath;
}
