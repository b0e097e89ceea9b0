/**
 * `cordon explain`: the effective policy, where each rule came from, and the
 * plan that a run launches — nothing runs. `--json` prints the compiled
 * values themselves (facts, settings, policy, plan: see docs/plan.md), not
 * a re-reading of them; the text form is made from the same values.
 */
import type { Compiled } from '../compile.js';
import { bwrapMountArgs } from '../platform/linux/plan.js';
import { printableLines } from '../events/describe.js';

/** The schema version of `cordon explain --json` (docs/plan.md). */
export const EXPLAIN_JSON_VERSION = 2;

/** explain --json's text: the values as they are, bytes (the seccomp program) in base64. */
export function explainJson(c: Compiled): string {
  const doc = { version: EXPLAIN_JSON_VERSION, facts: c.facts, settings: c.settings ?? [], policy: c.policy, plan: c.plan };
  // The holder's own value: JSON.stringify hands a replacer a Buffer already turned into {type, data}.
  return JSON.stringify(doc, function (this: Record<string, unknown>, key: string, value: unknown) {
    const own = this[key];
    // An upstream proxy's Proxy-Authorization and password (network/parent-proxy.ts): never printed.
    if ((key === 'authorization' || key === 'rawPassword') && typeof own === 'string') return '(hidden: it carries the upstream proxy\'s password)';
    return Buffer.isBuffer(own) ? own.toString('base64') : value;
  }, 2);
}

export function printExplain(c: Compiled, json: boolean): void {
  const { policy, plan } = c;
  if (json) {
    process.stdout.write(`${explainJson(c)}\n`);
    return;
  }
  const denials = plan.seccomp.table;
  const out: string[] = [];
  out.push(`working directory: ${policy.cwd}`);
  // Each file with where it stands: the user's, a project's (narrowing only unless trusted), --settings.
  const origin = (f: string) => {
    const s = c.settings?.find((x) => x.file === f);
    if (!s) return f;
    if (s.origin === 'project') return `${f} (project: ${s.trusted ? 'trusted, may widen' : 'may only narrow'})`;
    return `${f} (${s.origin === 'user' ? 'user settings' : '--settings'})`;
  };
  out.push(`settings loaded: ${policy.sources.length ? policy.sources.map(origin).join(', ') : '(none: built-in defaults)'}`);
  const net = policy.network;
  const modeText = { none: 'none (no interface but loopback)', filtered: "filtered (only through cordon's proxies)", 'dangerously-unfiltered': 'DANGEROUSLY UNFILTERED (the host network; filesystem walls only)' }[net.mode];
  out.push(`network: ${modeText}  <- ${net.modeSource}`);
  if (net.mode === 'filtered') {
    const from = (r: (typeof net.allow)[number]) => `${r.source} <- ${r.file ? `${r.file}: ` : ''}${r.keyPath}`;
    out.push(`  allowed: ${net.allow.map(from).join(', ') || '-'}`);
    out.push(`  denied: ${net.deny.map(from).join(', ') || '-'}`);
    const tls = net.tls;
    if (tls) {
      const which = tls.domains ? tls.domains.map(from).join(', ') : 'every allowed host';
      out.push(`  TLS terminated: ${which}${tls.exclude.length ? `, except ${tls.exclude.map(from).join(', ')}` : ''}  <- ${tls.from.join(', ')}: network.tlsTerminate`);
      out.push(`    certificates from: ${tls.ca ? `the CA in ${tls.ca.cert}` : "a CA made for the session (its key never leaves cordon's process)"}; upstream verified against the system's roots${tls.extraCaCertPaths.length ? ` and ${tls.extraCaCertPaths.join(', ')}` : ''}`);
    }
    if (net.refuseOpaqueTunnels) out.push('  refused: every tunnel cordon cannot see into (network.refuseOpaqueTunnels)');
    if (net.mitm) out.push(`  through the inspecting proxy on ${net.mitm.socketPath}: ${net.mitm.domains.map((r) => r.source).join(', ')}  <- ${net.mitm.source}`);
    if (net.parent) {
      const p = net.parent;
      const bypass = p.noProxy.map((e) => (e.all ? '*' : e.suffix ?? e.range?.source ?? '') + (e.port ? `:${e.port}` : '')).join(', ');
      out.push(`  through the upstream proxy: tunnels via ${(p.https ?? p.http)!.shown}, plain HTTP ${p.http ? `via ${p.http.shown}` : 'direct'}${bypass ? `; direct for ${bypass}` : ''}; loopback direct  <- ${p.source}`);
    }
    for (const c of net.credentials ?? []) {
      const from = 'env' in c.from ? `$${c.from.env}` : 'file' in c.from ? c.from.file : 'process' in c.from ? `${c.from.field} in the output of ${c.from.process.join(' ')}` : `the output of ${c.from.command.join(' ')}`;
      if (c.sigv4) {
        out.push(`  AWS ${c.sigv4.role}: ${c.env} holds a session value; requests signed with the session keys are signed again with the real ones (read from ${from}) for ${c.hosts.map((h) => h.source).join(', ')}  <- ${c.file}: ${c.keyPath}`);
        continue;
      }
      out.push(`  brokered: ${c.env} holds a session token; the real value (read from ${from}) goes only in ${c.header}${c.scheme ? `: ${c.scheme} …` : ''} to ${c.hosts.map((h) => h.source).join(', ')}  <- ${c.file}: ${c.keyPath}`);
    }
  }
  out.push(`Unix sockets granted: ${net.unixSockets.join(', ') || 'none (socket(AF_UNIX) is refused)'}`);
  const env = policy.environment;
  out.push(`environment withheld: ${plan.withheld.join(', ') || 'nothing'}${plan.withheld.length ? ' (a name marks it as a secret, or environment.withhold names it; --pass-env NAME or environment.pass passes a secret)' : ''}`);
  if (env?.pass.length) out.push(`  passed although secret-looking: ${env.pass.join(', ')}`);
  out.push('', 'rules (path, access, source):');
  for (const r of [...policy.rules].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) {
    out.push(`  ${r.path}${r.kind === 'missing' ? ' (missing)' : ''}  ${r.access}  <- ${r.source}`);
  }
  if (policy.watch.length > 0 || policy.rescan) {
    out.push('', 'checked after the run (moved aside if the command created them; no mount can guard them):');
    const newRepo = (keep: boolean | undefined) => `its config${keep ? ' (kept: allowGitConfig)' : ''}, config.worktree, commondir, info/attributes and hooks`;
    const what = (w: (typeof policy.watch)[number]) => {
      switch (w.kind) {
        case 'repository': return `if a repository appears: ${newRepo(w.keepConfig)}`;
        case 'link': return `must still be a link to ${w.target} (${w.why}): else what is there is moved aside and the link made again`;
        case 'created': return `if it appears (${w.why}; no placeholder)`;
        default: return 'if it appears';
      }
    };
    for (const w of policy.watch) out.push(`  ${w.path}  ${what(w)}`);
    if (policy.rescan) out.push(`  every new repository in ${policy.rescan.writable.join(', ')} (found by scanning ${policy.rescan.roots.join(', ')} again): ${newRepo(policy.rescan.keepConfig)}`);
    if (policy.rescan?.names?.length) out.push(`  a protected name (${policy.rescan.names.slice(0, 3).join(', ')}, … ${policy.rescan.names.length} in all) that appears at the root of a repository nested in ${policy.rescan.writable.join(', ')} (found by the same scan; no placeholder there): moved aside, unless an empty directory`);
    if (policy.rescan?.recheckNames?.length) out.push(`  ${policy.rescan.recheckNames.length} protected names directly in ${policy.rescan.writable.join(', ')} (placeholders, which a command in another sandbox can write into, and names a run still going may move aside): moved aside unless gone or an empty directory`);
  }
  out.push('', 'mounts (applied in this order after --ro-bind / /, --dev /dev, --proc /proc, private /tmp; [helper] = made by cordon-helper after bubblewrap; [pin] = bound onto itself so it cannot be renamed away):');
  for (const m of plan.mounts) out.push(`  ${m.byHelper ? '[helper] ' : ''}${m.kind === 'pin' ? '[pin] ' : ''}${bwrapMountArgs(m).join(' ')}    # ${m.why}`);
  const ll = plan.landlock;
  const llState = ll.applied
    ? `Landlock ABI ${ll.abi} on this kernel, rules need >= ${ll.requiredAbi}; handled rights 0x${ll.handled.toString(16)}`
    : `NOT APPLIED: this kernel has no Landlock and --dangerously-allow-missing-landlock was given; the mounts are the only write wall`;
  out.push('', `landlock: read-write ${ll.rw.join(', ') || '-'}; no-delete ${ll.rwnd.join(', ') || '-'} (${llState})`);
  out.push('', `seccomp refuses (${plan.seccomp.options.unixStream ? 'stream Unix sockets granted' : 'no Unix socket granted'}; ${plan.seccomp.options.noDelete ? 'no-delete paths: data-destroying calls refused' : 'no no-delete path'}):`);
  for (const d of denials) out.push(`  ${d.name} (${d.errno}): ${d.what}`);
  for (const n of plan.notes) out.push(`note: ${n}`);
  for (const w of [...policy.warnings, ...plan.warnings]) out.push(`warning: ${w}`);
  out.push('', 'bwrap argv:', `  ${[plan.bwrap, ...plan.bwrapArgs, '--', ...plan.helperArgs].map(quote).join(' ')}`);
  // Paths and names come from the tree, which the project or a command shaped: no terminal control reaches it.
  process.stdout.write(`${printableLines(out.join('\n'))}\n`);
}

function quote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}
