/**
 * Package caches: a persistent place, cordon's own and kept per project, for
 * what package managers must write to work (npm's cache, pip's, Go's module
 * and build caches), so that `npx some-mcp-server` downloads once, not at
 * every start, without the sandbox ever writing the user's own caches
 * (`~/.npm` stays as the policy has it: read-only by default).
 *
 * Where: `$XDG_CACHE_HOME/cordon/packages/<key>` (else
 * `~/.cache/cordon/packages/<key>`), apart from cordon's state directory,
 * which holds what steers cordon on the host and is never writable inside.
 * Inside the sandbox the project's directory is bound, writable, at
 * `/tmp/.cache` in the private /tmp, and the tools are pointed into it by
 * their variables (cacheEnv). Nothing else of it is writable inside: the
 * directories above it are protected like cordon's own files (compile.ts
 * cordonOwn: read-only, ancestors pinned), so a run of one project cannot
 * write another project's cache (test: test/integration/mcp/package-cache.test.ts).
 *
 * `<key>` names the project: its root (the nearest directory at or above
 * the working directory that holds `.git`, below $HOME and `/`; else the
 * working directory itself) by path and by identity (`dev:ino`), so a
 * different directory made later at the same path (a deleted clone replaced
 * by another) does not inherit the old one's cache.
 *
 * Trust boundary: what a project's cache holds was written by that
 * project's sandboxed runs, so it is as trusted as the project's own files;
 * later runs of the same project execute it, runs of other projects never
 * see it writable, and cordon never reads or runs it on the host. The only
 * host-side step is making the directories: component by component from an
 * open directory, never following a link, each checked to be a private
 * (0700) directory of the caller's (preparePackageCache).
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, realpathSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, dirname, join, sep } from 'node:path';
import { CordonError } from '../../errors.js';
import { isWithin } from '../../policy/paths.js';

/** Where a project's cache directory is bound inside the sandbox (in the private /tmp). */
export const CACHE_MOUNT = '/tmp/.cache';

/** Where the usual place of each tool's cache is, for cacheEnv. */
export interface CacheContext {
  readonly home: string;
  /** The caller's XDG_CACHE_HOME, if absolute. */
  readonly xdgCacheHome?: string;
  /** The caller's GOPATH's first entry, if absolute (Go's module cache is $GOPATH/pkg/mod). */
  readonly gopath?: string;
  /** The caller's values of CACHE_VARIABLES (those it set). */
  readonly caller: Readonly<Record<string, string>>;
}

interface CacheTool {
  readonly tool: string;
  /** The variable cordon sets, then the other spellings the tool reads as the same setting. */
  readonly names: readonly [string, ...string[]];
  /** Its directory under CACHE_MOUNT. */
  readonly dir: string;
  /** Where the tool writes its cache when the variable is not set. */
  usual(c: CacheContext): string;
}

const xdg = (c: CacheContext) => c.xdgCacheHome ?? `${c.home}/.cache`;

/**
 * Each tool that must write a cache to work, or works much slower without
 * one. npm cannot install (or `npx` start) anything without it; Go cannot
 * build without its build cache nor download modules without its module
 * cache; pip, uv and yarn (classic) re-download without theirs.
 */
const TOOLS: readonly CacheTool[] = [
  { tool: 'npm', names: ['npm_config_cache', 'NPM_CONFIG_CACHE'], dir: 'npm', usual: (c) => `${c.home}/.npm` },
  { tool: 'Go builds', names: ['GOCACHE'], dir: 'go-build', usual: (c) => `${xdg(c)}/go-build` },
  { tool: 'Go modules', names: ['GOMODCACHE'], dir: 'go-mod', usual: (c) => `${c.gopath ?? `${c.home}/go`}/pkg/mod` },
  { tool: 'pip', names: ['PIP_CACHE_DIR'], dir: 'pip', usual: (c) => `${xdg(c)}/pip` },
  { tool: 'uv', names: ['UV_CACHE_DIR'], dir: 'uv', usual: (c) => `${xdg(c)}/uv` },
  { tool: 'yarn', names: ['YARN_CACHE_FOLDER'], dir: 'yarn', usual: (c) => `${xdg(c)}/yarn` },
];

const NPM_OFFLINE = ['npm_config_offline', 'NPM_CONFIG_OFFLINE'] as const;

/** The caller's variables the plan looks at (compile.ts gathers them into CacheContext). */
export const CACHE_VARIABLES: readonly string[] = [...TOOLS.flatMap((t) => t.names), ...NPM_OFFLINE];

/**
 * With no network, npm is told so (`npm_config_offline=true`, unless the
 * caller set it): it then runs from its cache at once (`npx` of a server it
 * has fetched before starts in a second or two) or fails at once with
 * ENOTCACHED, instead of retrying an unreachable registry for a minute or
 * more before it falls back to the cache.
 */
export function offlineEnv(caller: Readonly<Record<string, string>>): Record<string, string> {
  return NPM_OFFLINE.some((n) => caller[n] !== undefined) ? {} : { npm_config_offline: 'true' };
}

/**
 * The variables that point each tool at CACHE_MOUNT/<dir> (persistent when
 * the project's cache is bound there, else the empty private /tmp),
 * decided per tool:
 *  - the caller set the variable (any spelling) to a place writable in the
 *    sandbox: left alone, the caller's choice stands;
 *  - the caller set it to a place the sandbox cannot write (`npx cordon`
 *    hands its own `npm_config_cache=~/.npm` to the command, for one): the
 *    tool would only fail there, so cordon's place replaces it under every
 *    spelling the caller set, and a note says so;
 *  - not set: cordon's place, unless the usual place is writable (cordon
 *    run in the home directory, or an allowWrite for it).
 * `writable(p)`: whether the sandbox can write p (plan.ts state).
 */
export function cacheEnv(c: CacheContext, writable: (p: string) => boolean, notes: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const t of TOOLS) {
    const ours = `${CACHE_MOUNT}/${t.dir}`;
    const set = t.names.filter((n) => c.caller[n] !== undefined && c.caller[n] !== '');
    if (set.length === 0) {
      if (!writable(t.usual(c))) env[t.names[0]] = ours;
      continue;
    }
    const unusable = set.filter((n) => { const v = c.caller[n]!; return !v.startsWith('/') || !writable(v); });
    if (unusable.length === 0) continue;
    for (const n of new Set([t.names[0], ...set])) env[n] = ours;
    notes.push(`${unusable.map((n) => `${n}=${c.caller[n]}`).join(', ')}: the sandbox cannot write there, so ${t.tool} uses ${ours} instead (set it to a writable place, or grant that one with --allow-write, to choose)`);
  }
  return env;
}

/** cordon's cache directory: $XDG_CACHE_HOME/cordon, else ~/.cache/cordon. Never inside its state directory. */
export function cacheRoot(env: NodeJS.ProcessEnv, home: string): string {
  const base = env.XDG_CACHE_HOME?.startsWith('/') ? env.XDG_CACHE_HOME : join(home, '.cache');
  return join(base, 'cordon');
}

/**
 * The project a working directory belongs to: the nearest directory at or
 * above it that holds `.git`, stopping below $HOME and `/` (a dotfiles
 * repository in $HOME would otherwise make every project under it one);
 * the working directory itself when there is none.
 */
export function projectRoot(cwd: string, home: string): string {
  for (let d = cwd; d !== sep && d !== home; d = dirname(d)) {
    if (lstatSync(join(d, '.git'), { throwIfNoEntry: false })) return d;
  }
  return cwd;
}

/** `<name>-<hash>`: readable, and distinct per path and per directory (dev:ino) at that path. */
export function cacheKey(root: string, id: { dev: number | bigint; ino: number | bigint }): string {
  const name = basename(root).replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '').slice(0, 40) || 'root';
  const hash = createHash('sha256').update(`${root}\0${id.dev}:${id.ino}`).digest('hex').slice(0, 24);
  return `${name}-${hash}`;
}

export interface PackageCache {
  /** The project's cache directory on the host (bound at CACHE_MOUNT). */
  readonly dir: string;
  /** The project root it is kept for. */
  readonly project: string;
  /** Some directory was made now (a sandbox started ahead of this run could not have bound it). */
  readonly made: boolean;
}

/**
 * Makes (or finds) the project's cache directory: `root`'s parent as the
 * user has it (it may be a link of the user's, ~/.cache often is), then
 * `cordon`, `packages` and the key, each made and opened relative to the
 * directory above it (through /proc/self/fd: Node has no mkdirat) with
 * O_NOFOLLOW, each checked to be a directory owned by the caller with no
 * access for others; then the path handed to bubblewrap is checked to name
 * the directory that was opened. A link or anything else planted on the way
 * is refused (exit 125), never followed
 * (test: test/unit/platform/linux/package-cache.test.ts).
 */
export function preparePackageCache(root: string, cwd: string, home: string, stateDir: string): PackageCache {
  const uid = process.getuid?.() ?? 0;
  const project = projectRoot(cwd, home);
  const key = cacheKey(project, lstatSync(project, { bigint: true }));
  const fail = (what: string, why: string, cause?: unknown): never => {
    throw new CordonError('CORDON_ERR_LAUNCH', `package cache ${what}: ${why}. Remove it (cordon makes it again) or turn the cache off with "filesystem": { "packageCache": false } in your settings`, cause === undefined ? undefined : { cause });
  };
  let parent: string;
  try {
    parent = realpathSync(dirname(root));
  } catch {
    try {
      mkdirSync(dirname(root), { recursive: true, mode: 0o700 });
      parent = realpathSync(dirname(root));
    } catch (e) {
      return fail(dirname(root), `cannot be made (${(e as Error).message})`, e);
    }
  }
  const dir = join(parent, basename(root), 'packages', key);
  if (isWithin(dir, stateDir) || isWithin(stateDir, dir)) fail(dir, `it would share a directory with cordon's state directory ${stateDir}, which is never writable inside; set XDG_CACHE_HOME elsewhere`);
  let fd = openSync(parent, constants.O_RDONLY | constants.O_DIRECTORY);
  let made = false;
  let at = parent;
  try {
    for (const name of [basename(root), 'packages', key]) {
      at = join(at, name);
      const via = `/proc/self/fd/${fd}/${name}`;
      // Opened first (it exists on every run but the first), made only when missing.
      let next = openDir(via);
      if (typeof next === 'string' && next === 'ENOENT') {
        try {
          mkdirSync(via, { mode: 0o700 });
          made = true;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') fail(at, `cannot be made (${(e as Error).message})`, e);
        }
        next = openDir(via);
      }
      if (typeof next === 'string') {
        return fail(at, next === 'ELOOP' || next === 'ENOTDIR' ? 'is not a directory (a symbolic link or a file): cordon never follows a link there' : `cannot be opened (${next})`);
      }
      closeSync(fd);
      fd = next;
      const st = fstatSync(fd);
      if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) fail(at, `is not a private (0700) directory owned by uid ${uid}`);
    }
    // bubblewrap binds by path: that path must still name the directory checked above.
    const opened = fstatSync(fd);
    const byPath = lstatSync(dir, { throwIfNoEntry: false });
    if (!byPath || byPath.dev !== opened.dev || byPath.ino !== opened.ino) fail(dir, 'changed while cordon made it');
  } finally {
    closeSync(fd);
  }
  return { dir, project, made };
}

/** The directory at `via`, opened without following a link there; else the error's code. */
function openDir(via: string): number | string {
  try {
    return openSync(via, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}
