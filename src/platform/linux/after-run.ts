/**
 * After the run: what the command created that git on the host would take
 * code from, where no mount could stop it (see WatchedPath in policy.ts). A
 * new repository anywhere in a writable root (found by scanning the roots
 * again: see Rescan in policy.ts) has its configuration and hooks moved
 * aside; a new `commondir`, `config.worktree` or `info/attributes` in a
 * protected repository is moved aside. Nothing is deleted: each file keeps
 * its content under `NAME.cordon-untrusted`, and a warning says what moved
 * and how to take it back after reading it.
 *
 * One lstat per watched path (a few dozen at most), plus the scan, whose
 * cache makes an unchanged directory one stat.
 */
import { closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, readFileSync, readdirSync, renameSync, writeFileSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Rescan, WatchedPath } from '../../policy/policy.js';
import { isWithin } from '../../policy/paths.js';

export const UNTRUSTED_SUFFIX = '.cordon-untrusted';

/** What a new repository's git directory holds that can make git run code. */
const IN_NEW_REPOSITORY = ['config', 'config.worktree', 'commondir', 'hooks', 'info/attributes'] as const;

/**
 * Pure: the repositories the second scan found that the first did not, in a
 * writable root (a repository the host created elsewhere during the run is
 * not the command's). A root's own `.git` is already on the watch list.
 */
export function newRepositories(rescan: Rescan, found: { readonly repos: readonly string[]; readonly submoduleGitDirs: readonly string[] }, watch: readonly WatchedPath[] = []): WatchedPath[] {
  const known = new Set([...rescan.known, ...watch.map((w) => w.path)]);
  const mine = (p: string) => rescan.writable.some((w) => isWithin(p, w));
  const keep = rescan.keepConfig ? { keepConfig: true } : {};
  const out: WatchedPath[] = [];
  for (const repo of found.repos) {
    const dotGit = join(repo, '.git');
    if (!known.has(repo) && !known.has(dotGit) && mine(dotGit)) out.push({ path: dotGit, kind: 'repository', repo, ...keep });
  }
  for (const g of found.submoduleGitDirs) if (!known.has(g) && mine(g)) out.push({ path: g, kind: 'repository', repo: g, ...keep });
  return out;
}

/** Pure: a warning when the second scan could read fewer directories than the first (a repository could hide there). */
export function unreadableWarning(rescan: Rescan, found: { readonly unreadable: number }): string | undefined {
  if (found.unreadable <= rescan.unreadable) return undefined;
  const n = found.unreadable - rescan.unreadable;
  return `${n} more director${n === 1 ? 'y' : 'ies'} in ${rescan.roots.join(', ')} could not be read after the run than before it (the command may have locked one); a git repository there could not be checked: before running git in one, read its .git/config and .git/hooks`;
}

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
      // Without a config, git inside the next sandbox (which protects it with
      // a placeholder) cannot read one: a new one keeps only how to read the repository.
      if (name === 'config' && typeof to === 'string') writeFormatOnlyConfig(p, to);
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

/**
 * The settings that say how to read a repository (format version, object
 * format, ref storage, bare, file modes) and nothing that runs code: what
 * `git init` writes, taken from the config that was moved aside.
 */
const FORMAT_KEYS: Readonly<Record<string, readonly string[]>> = {
  core: ['repositoryformatversion', 'bare', 'filemode', 'logallrefupdates', 'symlinks', 'ignorecase', 'precomposeunicode'],
  extensions: ['objectformat', 'refstorage'],
};

/** Pure: the lines of a config holding only FORMAT_KEYS with plain values, from the text of one. */
export function formatOnlyConfig(text: string): string {
  const kept = new Map<string, string[]>();
  let section = '';
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t.startsWith('[')) {
      // A subsection (`[remote "x"]`) or anything unusual: no key kept until the next plain section.
      section = /^\[\s*([A-Za-z0-9-]+)\s*\]$/.exec(t)?.[1]!.toLowerCase() ?? '';
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*=\s*([A-Za-z0-9_.-]+)\s*$/.exec(t);
    if (!kv || !FORMAT_KEYS[section]?.includes(kv[1]!.toLowerCase())) continue;
    kept.set(section, [...(kept.get(section) ?? []), `\t${kv[1]!.toLowerCase()} = ${kv[2]!}`]);
  }
  return [...kept].map(([sec, lines]) => `[${sec}]\n${lines.join('\n')}\n`).join('');
}

function writeFormatOnlyConfig(p: string, movedTo: string): void {
  try {
    // 'wx': never over a file that appeared meanwhile.
    writeFileSync(p, formatOnlyConfig(readUntrusted(movedTo)), { flag: 'wx', mode: 0o644 });
  } catch { /* the repository is still readable by git on the host without it */ }
}

/**
 * The command chose what `movedTo` is: only a small regular file is read (a
 * FIFO would block cordon forever, a link would read a file of its choosing).
 * Anything else reads as empty, which leaves a config of git's defaults.
 */
function readUntrusted(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch {
    return '';
  }
  try {
    const st = fstatSync(fd);
    return st.isFile() && st.size <= MAX_CONFIG_BYTES ? readFileSync(fd, 'utf8') : '';
  } finally {
    closeSync(fd);
  }
}

const MAX_CONFIG_BYTES = 1 << 20;
