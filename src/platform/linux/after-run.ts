/**
 * After the run: what the command created that git on the host would take
 * code from, where no mount could stop it (see WatchedPath in policy.ts). A
 * new repository at the top of a writable root has its configuration and
 * hooks moved aside; a new `commondir`, `config.worktree` or
 * `info/attributes` in a protected repository is moved aside. Nothing is
 * deleted: each file keeps its content under `NAME.cordon-untrusted`, and a
 * warning says what moved and how to take it back after reading it.
 *
 * One lstat per watched path (a few dozen at most), so it runs after every
 * command. Repositories created deeper inside a writable root would need a
 * walk of the tree after every run; they stay a documented limit.
 */
import { lstatSync, readdirSync, renameSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { WatchedPath } from '../../policy/policy.js';

export const UNTRUSTED_SUFFIX = '.cordon-untrusted';

/** What a new repository's git directory holds that can make git run code. */
const IN_NEW_REPOSITORY = ['config', 'config.worktree', 'commondir', 'hooks', 'info/attributes'] as const;

/** Moves aside what appeared; returns one warning per watched path that needed it. */
export function setAsideCreated(watch: readonly WatchedPath[]): string[] {
  const warnings: string[] = [];
  const failed = (p: string, why: string, repo: string) => `the command created ${p}, which can make git on the host run code, and it could not be moved aside (${why}): read it before running git in ${repo}`;
  for (const w of watch) {
    const st = lstatOrUndefined(w.path);
    if (!st) continue;
    if (w.kind === 'git-file' || !st.isDirectory()) {
      const to = setAside(w.path);
      if (typeof to === 'object') warnings.push(failed(w.path, to.error, w.repo));
      else if (to && w.kind === 'git-file') warnings.push(`the command created ${w.path}, which makes git on the host use another configuration or run filters; it was moved to ${to}. Read it before moving it back`);
      // A .git file or link sends git to a git directory of the command's choosing.
      else if (to) warnings.push(`the command made ${w.repo} a git repository (${w.path} points git elsewhere); git on the host would take its configuration and hooks from there, so it was moved to ${to}. Check where it points before moving it back`);
      continue;
    }
    const moved: string[] = [];
    for (const name of IN_NEW_REPOSITORY) {
      if (name === 'config' && w.keepConfig) continue;
      const p = join(w.path, name);
      if (name === 'hooks' && onlySamples(p)) continue;
      const to = setAside(p);
      if (typeof to === 'object') warnings.push(failed(p, to.error, w.repo));
      else if (to) moved.push(`${name} -> ${to.slice(w.path.length + 1)}`);
    }
    if (moved.length > 0) warnings.push(`the command created a git repository in ${w.repo}; git on the host would run code from its configuration and hooks, so in ${w.path} they were moved aside (${moved.join(', ')}). Read them before moving them back`);
  }
  return warnings;
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p, { throwIfNoEntry: false });
  } catch {
    return undefined; // ENOTDIR, EACCES: nothing git could use there either
  }
}

/** `git init` writes only `*.sample` hooks, which git never runs. */
function onlySamples(hooks: string): boolean {
  const st = lstatOrUndefined(hooks);
  if (!st) return true;
  if (!st.isDirectory()) return false;
  try {
    return readdirSync(hooks, { withFileTypes: true }).every((e) => e.isFile() && e.name.endsWith('.sample'));
  } catch {
    return false;
  }
}

/**
 * Renames p to the first free `p.cordon-untrusted[-N]`. Returns the new name,
 * undefined if p is gone, or the reason it could not be moved (then the
 * warning says so: the user must not run git there unread).
 */
function setAside(p: string): string | { error: string } | undefined {
  if (!lstatOrUndefined(p)) return undefined;
  for (let n = 1; n < 100; n++) {
    const to = `${p}${UNTRUSTED_SUFFIX}${n === 1 ? '' : `-${n}`}`;
    if (lstatOrUndefined(to)) continue;
    try {
      renameSync(p, to);
      return to;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      return code === 'ENOENT' ? undefined : { error: code };
    }
  }
  return { error: 'no free name' };
}
