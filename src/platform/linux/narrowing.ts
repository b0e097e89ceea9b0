/**
 * An untrusted project settings file may only narrow (policy/project.ts):
 * here its paths and sockets are judged against the compiled policy, after
 * every rule is expanded, resolved and matched, so what is judged is exactly
 * what would run (no second resolution that a link swapped in between could
 * fool).
 *
 * The baseline is the policy without the project file's rules: what every
 * other source gives. A project rule is refused when, by the plan's own
 * precedence (stateOf), it would give the command more than the baseline:
 *  - allowRead: re-opens a path the baseline hides (a credential store, a
 *    user's deny);
 *  - allowWrite: names a path not already read-write (host /tmp included:
 *    judged as the host's, not the private /tmp);
 *  - allowWriteNoDelete: names a path not already writable;
 *  - a write rule at or inside a git directory that the baseline makes
 *    read-only because it lies in a no-delete path (policy.ts gitInNoDelete
 *    gives way to a rule written there);
 *  - any rule that shows a host directory under /tmp (allowRead, denyWrite,
 *    a grant): the private /tmp hides the host's, and a rule there binds it
 *    in (plan.ts hostInTmp);
 *  - allowUnixSockets: a socket no other source grants.
 * The working directory's default grant counts only where the policy would
 * accept it without an explicit rule (not $HOME or above it, not /).
 * Proved by test/unit/platform/linux/narrowing.test.ts and, through the real
 * CLI, by test/integration/project-settings/project-settings.test.ts.
 */
import { join, sep } from 'node:path';
import { DEFAULT_CWD_SOURCE, type Access, type FsRule, type Policy } from '../../policy/policy.js';
import type { Settings } from '../../policy/settings.js';
import { expandPath, isWithin } from '../../policy/paths.js';
import { wideningError, type WideningHints } from '../../policy/project.js';
import { hostInTmp, indexRules, stateOf, topInTmp, type PathState } from './plan.js';

export interface NarrowingInput {
  readonly policy: Policy;
  /** The untrusted project files' settings. */
  readonly untrusted: readonly Settings[];
  /** Every other source: user settings, trusted project files, --settings files. */
  readonly others: readonly Settings[];
  /** Resolves an absolute path as the policy does (symlinks followed). */
  readonly resolve: (abs: string) => string;
  readonly hints: WideningHints;
}

const TMP = '/tmp';
const SHOWN: ReadonlySet<Access> = new Set(['allow-read', 'read-only', 'read-write', 'read-write-no-delete']);

/** Throws CORDON_ERR_PROJECT_WIDENS for the first project rule that widens. */
export function refuseRuleWidening(input: NarrowingInput): void {
  const { policy } = input;
  const files = input.untrusted.map((s) => s.file);
  if (files.length === 0) return;
  const ownerOf = (r: FsRule) => files.find((f) => r.source.startsWith(`${f}: `));
  const baseline = baselineRules(policy, input.others, ownerOf);
  const state = (p: string) => stateOf(p, baseline, false);
  const shownTmp = hostInTmp(baseline, indexRules(baseline));
  const hostTmp = baseline.some((r) => r.path === TMP && (r.access === 'read-write' || r.access === 'read-write-no-delete'));
  const gitDirs = (policy.rescan?.known ?? []).flatMap((k) => [k, join(k, '.git')]);
  for (const r of policy.rules) {
    const file = ownerOf(r);
    if (!file) continue;
    const refuse = (why: string): never => {
      throw wideningError(file, r.source.slice(file.length + 2), r.path, why, input.hints);
    };
    const s = state(r.path);
    if (r.access === 'allow-read' && !s.readable) refuse(`it would re-open ${r.path}, which ${hiddenBy(r.path, baseline)}`);
    if (r.access === 'read-write' && s.write !== 'rw') refuse(`${r.path} is ${described(s)} without it`);
    if (r.access === 'read-write-no-delete' && s.write === 'ro') refuse(`${r.path} is ${described(s)} without it`);
    if (r.access === 'read-write' || r.access === 'read-write-no-delete') {
      const g = gitDirs.find((d) => isWithin(r.path, d) && state(d).write === 'rwnd');
      if (g) refuse(`${g} lies in a read-write-no-delete path, where cordon keeps a git directory read-only unless a rule of yours names a path in it`);
    }
    // hostInTmp never shows /tmp itself (topInTmp('/tmp') is /tmp): a rule there is refused too.
    if (SHOWN.has(r.access) && r.kind !== 'missing' && isWithin(r.path, TMP) && !hostTmp && !shownTmp.has(topInTmp(r.path))) {
      refuse(`it would show the host's ${topInTmp(r.path)} inside the sandbox, whose /tmp is private`);
    }
  }
  refuseSocketWidening(input);
}

/** The policy's rules without the project files', with the working directory's default grant where the policy would accept it alone. */
function baselineRules(policy: Policy, others: readonly Settings[], ownerOf: (r: FsRule) => string | undefined): FsRule[] {
  const out = policy.rules.filter((r) => !ownerOf(r) && r.source !== DEFAULT_CWD_SOURCE);
  const byDefault = !others.some((s) => s.filesystem.definesWritable) && policy.cwd !== sep && !isWithin(policy.home, policy.cwd);
  if (byDefault) out.push({ path: policy.cwd, kind: 'dir', access: 'read-write', source: DEFAULT_CWD_SOURCE });
  return out;
}

function described(s: PathState): string {
  return s.write === 'rwnd' ? 'read-write-no-delete' : 'read-only';
}

/** "~/.ssh/id (default: credential store) hides" — the nearest deny at or above `p`. */
function hiddenBy(p: string, rules: readonly FsRule[]): string {
  const deny = rules.filter((r) => r.access === 'deny-read' && isWithin(p, r.path)).sort((a, b) => b.path.length - a.path.length)[0];
  return deny ? `${deny.path} (${deny.source}) hides` : 'another source hides';
}

function refuseSocketWidening(input: NarrowingInput): void {
  const ctx = { cwd: input.policy.cwd, home: input.policy.home };
  const asked = input.untrusted.flatMap((s) => s.network.allowUnixSockets.map((raw, i) => ({ file: s.file, raw, i })));
  if (asked.length === 0) return;
  const granted = new Set(input.others.flatMap((s) => s.network.allowUnixSockets.map((raw) => input.resolve(expandPath(raw, ctx)))));
  for (const g of input.policy.network.unixSockets) {
    if (granted.has(g)) continue;
    const hit = asked.find((a) => input.resolve(expandPath(a.raw, ctx)) === g) ?? asked[0]!;
    throw wideningError(hit.file, `network.allowUnixSockets[${hit.i}]`, hit.raw, `no other source grants the socket ${g}`, input.hints);
  }
}
