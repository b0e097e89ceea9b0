/**
 * `cordon trust [FILE...]`, `cordon trust --list`, `cordon trust --revoke FILE...`:
 * the user's trust in project settings files (policy/trust.ts). Only a
 * project settings file (`.cordon/settings.json`) can be trusted: the files
 * named with --settings and the user's own are trusted already. A file is
 * read as cordon reads it before a run (project.ts: no link followed) and
 * must be valid settings; what is recorded is the SHA-256 of those bytes.
 */
import { realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CordonError } from '../errors.js';
import { expandPath } from '../policy/paths.js';
import { findProjectSettings, parseProjectFile, PROJECT_DIR, PROJECT_FILE, readProjectFile, wideningKeysIn, type ProjectFile } from '../policy/project.js';
import { listTrust, recordTrust, revokeTrust } from '../policy/trust.js';

export interface TrustQuery {
  readonly action: 'trust' | 'list' | 'revoke';
  readonly files: readonly string[];
}

export function runTrust(q: TrustQuery, ctx: { readonly cwd: string; readonly home: string; readonly stateDir: string; readonly json: boolean }): number {
  const out = (s: string) => process.stdout.write(`${s}\n`);
  if (q.action === 'list') {
    const records = listTrust(ctx.stateDir).map((r) => ({ ...r, status: statusOf(r.path, r.sha256) }));
    if (ctx.json) out(JSON.stringify({ version: 1, trusted: records }));
    else if (records.length === 0) out('no project settings file is trusted');
    else for (const r of records) out(`${r.status.padEnd(9)} ${r.path}  (sha256 ${r.sha256.slice(0, 16)}…, trusted ${r.trustedAt})`);
    return 0;
  }
  if (q.action === 'revoke') {
    for (const f of q.files) {
      const path = projectPath(f, ctx);
      if (!revokeTrust(ctx.stateDir, path)) throw new CordonError('CORDON_ERR_USAGE', `${path} is not trusted (cordon trust --list shows what is)`);
      out(`revoked: ${path} may only narrow again`);
    }
    return 0;
  }
  const files: ProjectFile[] = q.files.length > 0 ? q.files.map((f) => readNamed(projectPath(f, ctx))) : findProjectSettings(ctx.cwd);
  if (files.length === 0) throw new CordonError('CORDON_ERR_USAGE', `no ${join(PROJECT_DIR, PROJECT_FILE)} in ${ctx.cwd} or above it up to the repository root; name the file: cordon trust PATH/${PROJECT_DIR}/${PROJECT_FILE}`);
  for (const f of files) {
    const parsed = parseProjectFile(f);
    const widening = wideningKeysIn(parsed.json);
    recordTrust(ctx.stateDir, f.path, f.sha256);
    out(`trusted: ${f.path} (sha256 ${f.sha256.slice(0, 16)}…): ${widening.length > 0 ? `it may now widen your settings through ${widening.join(', ')}` : 'it sets nothing that widens, so this changes nothing today'}. Any change to the file makes it untrusted again`);
  }
  return 0;
}

/** A project settings file named on the command line: `.cordon/settings.json` in a resolved directory. */
function projectPath(f: string, ctx: { readonly cwd: string; readonly home: string }): string {
  const abs = expandPath(f, ctx);
  if (basename(abs) !== PROJECT_FILE || basename(dirname(abs)) !== PROJECT_DIR) {
    throw new CordonError('CORDON_ERR_USAGE', `${abs} is not a project settings file (${PROJECT_DIR}/${PROJECT_FILE}); only those need trust: your user settings and the files you name with --settings are yours already`);
  }
  const project = dirname(dirname(abs));
  let real = project;
  try {
    real = realpathSync(project);
  } catch { /* gone: --revoke still names the path as given */ }
  return join(real, PROJECT_DIR, PROJECT_FILE);
}

function readNamed(path: string): ProjectFile {
  const f = readProjectFile(dirname(dirname(path)));
  if (!f) throw new CordonError('CORDON_ERR_USAGE', `${path} does not exist`);
  return f;
}

function statusOf(path: string, sha256: string): string {
  try {
    const f = readProjectFile(dirname(dirname(path)));
    if (!f) return 'missing';
    return f.sha256 === sha256 ? 'trusted' : 'changed';
  } catch {
    return 'unreadable';
  }
}
