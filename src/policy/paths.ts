/**
 * Path handling. Every configured path becomes absolute and symlink-resolved
 * before any rule is judged: a rule written against a symlink applies to what
 * the link points at, so a link can never carry a write or a read past a rule.
 */
import { isUtf8 } from 'node:buffer';
import { existsSync, lstatSync, readdirSync, readlinkSync, realpathSync, type BigIntStats } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { CordonError } from '../errors.js';

export interface PathContext { readonly cwd: string; readonly home: string }

/** `~`, `~/x`, relative (to cwd) and absolute paths → a normalised absolute path. No FS access. */
export function expandPath(raw: string, ctx: PathContext): string {
  if (raw === '') throw new CordonError('CORDON_ERR_PATH', 'empty path in a rule; remove it');
  let p = raw;
  if (p === '~') p = ctx.home;
  else if (p.startsWith('~/')) p = join(ctx.home, p.slice(2));
  else if (p.startsWith('~')) throw new CordonError('CORDON_ERR_PATH', `${raw}: ~user paths are not supported; write the absolute path`);
  const abs = isAbsolute(p) ? normalize(p) : resolve(ctx.cwd, p);
  return abs.length > 1 && abs.endsWith(sep) ? abs.slice(0, -1) : abs;
}

export type PathKind = 'dir' | 'file' | 'missing';

export interface ResolvedPath { readonly path: string; readonly kind: PathKind }

/**
 * Resolves symlinks in the longest existing prefix, then appends the missing
 * remainder (a dangling symlink stays a missing path under its real parent);
 * loops and unreachable paths are reported as errors.
 *
 * Most paths cordon resolves do not exist (protected names that are not
 * there yet), so the common path avoids failing realpath calls: an Error per
 * ENOENT costs ~5× an existence check, and a run resolves hundreds.
 */
export function resolvePath(abs: string): ResolvedPath {
  if (existsSync(abs)) return realOf(abs, abs);
  // Walk up to the longest existing prefix.
  let missing = abs;
  let parent = dirname(abs);
  while (parent !== missing && !existsSync(parent)) {
    missing = parent;
    parent = dirname(parent);
  }
  // The first missing component may be a symlink that loops (an error, not a
  // missing path), or unreachable (EACCES: existsSync cannot tell that apart).
  let link = false;
  try {
    link = lstatSync(missing, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTDIR') throw new CordonError('CORDON_ERR_PATH', `${abs}: cannot be resolved (${code})`, { cause: e });
  }
  if (link) {
    try {
      realpathSync.native(missing);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new CordonError('CORDON_ERR_PATH', `${abs}: symlink loop; fix or remove the link`, { cause: e });
    }
  }
  const real = parent === missing ? parent : realOf(parent, abs).path;
  return { path: join(real, abs.slice(parent.length)), kind: 'missing' };
}

/**
 * resolvePath, memoised component by component: a path is resolved by
 * resolving its parent (once per run) and then looking at its last
 * component with a single lstat; only a symlink costs a realpath. cordon
 * resolves dozens of names under each writable root, repository and home,
 * most of them missing, so this is one system call per new component
 * instead of ~5 per path. One resolver per compile: what it remembers is
 * only as fresh as that.
 */
export interface PathResolver {
  (abs: string): ResolvedPath;
  /**
   * `dir`, and every directory between `root` and it, is a directory of
   * its own, no symbolic link among them: the repository scan walked there
   * from `root` one name at a time, never following a link (scan.ts). What
   * the resolver already knew stays; nothing is taken unless `root` itself
   * resolves to itself.
   */
  walked(root: string, dir: string): void;
}

export function pathResolver(): PathResolver {
  const memo = new Map<string, ResolvedPath>([[sep, { path: sep, kind: 'dir' }]]);
  const resolveMemo = (abs: string): ResolvedPath => {
    const known = memo.get(abs);
    if (known) return known;
    const parent = resolveMemo(dirname(abs));
    // Both parts are already normal: concatenation is path.join without its normalize.
    const child = parent.path === sep ? sep + basename(abs) : parent.path + sep + basename(abs);
    let r: ResolvedPath;
    if (parent.kind !== 'dir') {
      r = { path: child, kind: 'missing' };
    } else {
      let st;
      try {
        st = lstatSync(child, { throwIfNoEntry: false });
      } catch (e) {
        throw new CordonError('CORDON_ERR_PATH', `${abs}: cannot be resolved (${(e as NodeJS.ErrnoException).code})`, { cause: e });
      }
      if (!st) r = { path: child, kind: 'missing' };
      else if (st.isSymbolicLink()) r = resolvePath(child);
      else r = { path: child, kind: st.isDirectory() ? 'dir' : 'file' };
    }
    memo.set(abs, r);
    return r;
  };
  const resolver = (abs: string) => resolveMemo(NOT_NORMAL.test(abs) ? normalize(abs) : abs);
  resolver.walked = (root: string, dir: string) => {
    if (dir === root || !isWithin(dir, root) || NOT_NORMAL.test(dir) || NOT_NORMAL.test(root)) return;
    const r = resolveMemo(root);
    if (r.kind !== 'dir' || r.path !== root) return;
    for (let p = dir; p !== root && !memo.has(p); p = dirname(p)) memo.set(p, { path: p, kind: 'dir' });
  };
  return resolver;
}

/** What path.normalize would change in an absolute path: `//`, `.` or `..` components, a trailing `/`. */
const NOT_NORMAL = /\/\/|\/\.\.?(?:\/|$)|.\/$/;

function realOf(p: string, asked: string): ResolvedPath {
  let real: string;
  try {
    real = realpathSync.native(p);
  } catch (e) {
    // Raced with a change on disk, or unreadable: report it rather than guess.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new CordonError('CORDON_ERR_PATH', `${asked}: symlink loop; fix or remove the link`, { cause: e });
    throw new CordonError('CORDON_ERR_PATH', `${asked}: cannot be resolved (${code})`, { cause: e });
  }
  return { path: real, kind: kindOf(real) };
}

/** What is at `p` (a link is not followed); nothing where a component on the way is a file (a glob's match, `*` then more). */
function kindOf(p: string): PathKind {
  let st;
  try {
    st = lstatSync(p, { throwIfNoEntry: false });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') return 'missing';
    if (code === 'ELOOP') throw new CordonError('CORDON_ERR_PATH', `${p}: symlink loop; fix or remove the link`, { cause: e });
    throw new CordonError('CORDON_ERR_PATH', `${p}: cannot be looked at (${code})`, { cause: e });
  }
  return st ? (st.isDirectory() ? 'dir' : 'file') : 'missing';
}

export function hasGlob(p: string): boolean {
  return /[*?[]/.test(p);
}

/** Component count, used to order mounts from shallow to deep. */
export function depth(p: string): number {
  if (p === sep) return 0;
  let n = 0;
  for (let i = p.indexOf(sep); i !== -1; i = p.indexOf(sep, i + 1)) n++;
  return n;
}

/** `p` with every link resolved where it exists; `p` itself where it does not. */
export function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

/** A symbolic link met on a path, its text, and where it leads (resolved where that exists). */
export interface LinkHop { readonly link: string; readonly target: string; readonly lands: string }

/**
 * What the kernel meets when it resolves `abs`, read with lstat and
 * readlink only: the path it reaches, each symbolic link on the way with
 * where it leads (followed before the `..` after it, as the kernel does),
 * and each entry a `..` climbs out of (whoever can make that entry a link
 * moves where the path lands). Below a missing entry there is nothing, so
 * no more links: the rest is taken as written. At most 40 links, as the
 * kernel; more is an error naming the path, as is more than `maxParts`
 * names looked at (a bound for paths a command wrote). `gone`: the first
 * entry found missing (or not a directory) that the path still lies in.
 */
export function walkPath(abs: string, maxParts = Infinity): { path: string; links: LinkHop[]; climbs: string[]; gone?: string } {
  const links: LinkHop[] = [];
  const climbs: string[] = [];
  let todo = abs.split(sep).filter(Boolean);
  let at: string = sep;
  let last: string | undefined;
  let parts = 0;
  // The first entry found missing (or not a directory): nothing beneath it is looked up.
  let gone: string | undefined;
  while (todo.length > 0) {
    const name = todo.shift()!;
    if (++parts > maxParts) throw new CordonError('CORDON_ERR_PATH', `${abs}: more than ${maxParts} names on the way`);
    if (name === '.') continue;
    if (name === '..') {
      if (last !== undefined && !climbs.includes(last)) climbs.push(last);
      at = dirname(at);
      if (gone !== undefined && !isWithin(at, gone)) gone = undefined;
      last = undefined;
      continue;
    }
    // A name from a split, neither `.` nor `..`: joined without normalising the whole path again.
    const next = at === sep ? `${sep}${name}` : `${at}${sep}${name}`;
    last = next;
    let target: string | undefined;
    if (gone === undefined) {
      try {
        if (lstatSync(next).isSymbolicLink()) target = readlinkSync(next);
      } catch {
        gone = next; // missing, or not a directory on the way: nothing beneath it
      }
    }
    if (target === undefined) {
      at = next;
      continue;
    }
    if (links.length >= 40) throw new CordonError('CORDON_ERR_PATH', `${abs}: more than 40 symlinks on the way; fix the links`);
    let lands: string;
    try {
      lands = realpathSync(next);
    } catch {
      lands = resolve(at, target);
    }
    links.push({ link: next, target, lands });
    todo = [...target.split(sep).filter(Boolean), ...todo];
    if (target.startsWith(sep)) at = sep;
  }
  return { path: at, links, climbs, ...(gone !== undefined ? { gone } : {}) };
}

/** `dev:ino:birth` of a file (birth time in ns, 0 where the filesystem keeps none: an inode number used again is another file). */
export function identity(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.birthtimeNs}`;
}

/** True when `inner` is `outer` or lies beneath it. */
export function isWithin(inner: string, outer: string): boolean {
  if (outer === sep) return true;
  return inner === outer || inner.startsWith(outer + sep);
}

/**
 * Glob → RegExp over absolute paths. `**` matches any number of whole
 * components (including none), `*` and `?` stay inside one component and do
 * match leading dots (a deny on `*` must cover dotfiles), `[...]` classes.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const atStart = i === 0 || glob[i - 1] === '/';
        const atEnd = i + 2 === glob.length || glob[i + 2] === '/';
        if (atStart && atEnd) {
          if (glob[i + 2] === '/') { re += '(?:[^/]*/)*'; i += 2; } else { re += '.*'; i += 1; }
          continue;
        }
      }
      re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end === -1) { re += '\\['; continue; }
      let body = glob.slice(i + 1, end);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

/** The literal directory prefix of a glob (everything before the first component with a wildcard). */
export function globBase(glob: string): string {
  const parts = glob.split(sep);
  const idx = parts.findIndex((s) => hasGlob(s));
  const base = parts.slice(0, idx === -1 ? parts.length : idx).join(sep);
  return base === '' ? sep : base;
}

/**
 * Expands a glob without `**` by reading only the directories it names.
 * (Globs with `**` are expanded from the native scanner's output instead.)
 * A name that is not valid UTF-8 cannot be named by a string (it would become
 * U+FFFD, a path that does not exist): where one matches, the directory
 * holding it goes to `unnamable` instead, for the caller to refuse a rule
 * that must cover it.
 */
export function expandShallowGlob(glob: string, unnamable: string[] = []): string[] {
  const parts = glob.split(sep).filter(Boolean);
  let current: string[] = [sep];
  for (const part of parts) {
    const next: string[] = [];
    if (!hasGlob(part)) {
      for (const dir of current) next.push(join(dir, part));
    } else {
      const re = globToRegExp(part);
      for (const dir of current) {
        let names: Buffer[];
        try { names = readdirSync(dir, { encoding: 'buffer' }); } catch { continue; }
        for (const b of names) {
          const n = b.toString('utf8');
          if (!re.test(n)) continue;
          if (isUtf8(b)) next.push(join(dir, n));
          else if (!unnamable.includes(dir)) unnamable.push(dir);
        }
      }
    }
    current = next;
  }
  return current.filter((p) => kindOf(p) !== 'missing');
}
