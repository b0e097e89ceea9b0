/**
 * git configuration as git itself reads it, for the questions the policy
 * asks about every repository under a writable path: where can git be made to
 * run hooks from (`core.hooksPath`, and the template `init.templateDir` that
 * git copies into every repository it makes), which programs it runs by
 * path (PROGRAM_KEYS), and which files does git read configuration from (so
 * that the command cannot rewrite one: an included file can set
 * `core.fsmonitor` as well as the repository's own config can).
 *
 * Trust boundary: every file read here may have been written by a confined
 * command (a repository's config, an included file in the project). It is
 * only ever read, never executed: its bytes go to git's own parser, run as
 * `git config --file - --no-includes --list -z` with the bytes on stdin, a
 * clean environment, cwd `/` and GIT_DIR pointing nowhere, so git neither
 * reads another configuration nor looks for a repository; includes are
 * resolved here, as git resolves them, and read the same way. A file is read
 * once (what git parses is what was checked), only if it is a regular file of
 * at most MAX_CONFIG_BYTES (a FIFO or a device never blocks the read).
 *
 * The caller's environment (GIT_CONFIG_GLOBAL, GIT_CONFIG_SYSTEM,
 * XDG_CONFIG_HOME, GIT_CONFIG_COUNT…) is the user's, on the host, and trusted;
 * the default locations are read too, since git run later from another shell
 * reads those. Every conditional include (includeIf) counts as taken: the
 * answer is a superset of what any git run would use.
 *
 * Cost: a file that cannot set any of these costs one read and no process.
 * Key names cannot be escaped in git's syntax (config.c: get_value() and
 * get_base_var() take a key character by character, is_config_key_char():
 * alphanumerics and `-`, lower-cased with tolower(); no escape sequence and
 * no line continuation outside values), so a file whose lower-cased bytes
 * contain none of CONFIG_NEEDLES (the names' last parts) sets none of them.
 * Only a file that passes this test costs a git process.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { CordonError } from '../errors.js';
import { walkPath } from './paths.js';

/** Larger files are refused (git reads them whole too). */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;
/** git's MAX_INCLUDE_DEPTH: deeper, git itself dies. */
const MAX_INCLUDE_DEPTH = 10;

/** What one config file says, for these questions. */
export interface ConfigValues {
  /** core.hooksPath values, in file order. */
  readonly hooksPath: string[];
  /** core.worktree values, in file order. */
  readonly worktree: string[];
  /** include.path and includeIf.*.path values, in file order (as written). */
  readonly includes: string[];
  /** init.templateDir values: the template git copies into every repository it makes (its hooks run at once). */
  readonly templateDir?: string[];
  /** The program each PROGRAM_KEYS setting runs (its first word, where it names a file by a path), in file order. */
  readonly programs?: string[];
  /** Every other word of those settings that holds a `/` (a script an interpreter runs, `VAR=/path`): files they may run. */
  readonly programWords?: string[];
}

const NONE: ConfigValues = { hooksPath: [], worktree: [], includes: [] };

/**
 * Settings whose value is a command git runs (programWords: the words of it
 * that can name the file it runs; an alias or a submodule update only when
 * it starts with `!`). One that names a file where the command can write
 * lets it choose what host git runs. `*` is one subsection or name.
 */
export const PROGRAM_KEY_NAMES = [
  'core.editor', 'core.pager', 'core.fsmonitor', 'core.sshcommand', 'core.askpass', 'core.gitproxy', 'sequence.editor',
  'diff.external', 'diff.*.command', 'diff.*.textconv', 'merge.*.driver', 'filter.*.clean', 'filter.*.smudge', 'filter.*.process',
  'credential.helper', 'credential.*.helper', 'gpg.program', 'gpg.*.program', 'pager.*', 'interactive.difffilter', 'alias.*',
  'difftool.*.cmd', 'difftool.*.path', 'mergetool.*.cmd', 'mergetool.*.path', 'browser.*.cmd', 'browser.*.path',
  'uploadpack.packobjectshook', 'man.*.cmd', 'man.*.path',
  'core.alternaterefscommand', 'gpg.ssh.defaultkeycommand', 'sendemail.smtpserver', 'sendemail.tocmd', 'sendemail.cccmd', 'sendemail.headercmd',
  'imap.tunnel', 'trailer.*.command', 'trailer.*.cmd', 'remote.*.uploadpack', 'remote.*.receivepack', 'instaweb.httpd', 'guitool.*.cmd',
  'hook.*.command', 'submodule.*.update',
] as const;
/** Settings that run a command only when their value starts with `!` (else a git subcommand, or a mode). */
const BANG_ONLY = /^(alias\..+|submodule\..+\.update)$/;
const PROGRAM_KEYS = PROGRAM_KEY_NAMES.map((k) => new RegExp(`^${k.replace(/\./g, '\\.').replace(/\*/g, '.+')}$`));

/**
 * What a config file's lower-cased bytes must hold to set any of the
 * settings asked about (see the header): a key name is spelled as written,
 * lower-cased, so a file without these cannot set core.hooksPath, an
 * include, init.templateDir or a PROGRAM_KEYS setting (`*.path` by its
 * section: difftool, mergetool, browser, man; a submodule's `update` by the
 * `!` it runs a command with: "update" itself is in every repository's
 * core.logAllRefUpdates, and would cost each a git process).
 */
export const CONFIG_NEEDLES = ['hookspath', 'include', 'templatedir', 'editor', 'pager', 'fsmonitor', 'sshcommand', 'askpass', 'gitproxy', 'external', 'command', 'textconv', 'driver', 'clean', 'smudge', 'process', 'helper', 'program', 'difffilter', 'alias', 'cmd', 'tool', 'browser', 'man', 'packobjectshook', 'smtpserver', 'tunnel', 'uploadpack', 'receivepack', 'httpd', '!'] as const;

/**
 * Pure: whether a config file's bytes can set what is asked about (see the
 * header): core.hooksPath, an include, init.templateDir, or a program
 * setting whose value names a file by a path.
 */
export function mayMatter(bytes: Buffer): boolean {
  const text = bytes.toString('latin1').toLowerCase();
  if (PATH_NEEDLES.some((n) => text.includes(n))) return true;
  if (!CONFIG_NEEDLES.some((n) => text.includes(n))) return false;
  // A program setting matters only where its value names a file by a path (`/`, `~`, `$HOME`): a bare word is found in
  // PATH. A value is on its key's line, or on the lines a trailing `\` continues it onto; so `credential.helper =
  // store` (or a helper in a section named by a URL) costs no git process.
  // The setting's name is its section's and its key's (`[pager] log = /x`, `[mergetool "m"] path = /x`).
  let section = '';
  for (const line of text.replace(/\\\r?\n/g, ' ').split('\n')) {
    let l = line;
    const header = /^\s*\[([^\]]*)\]/.exec(l);
    if (header) {
      section = header[1]!;
      l = l.slice(header[0].length);
    }
    const eq = l.indexOf('=');
    if (eq < 0) continue;
    const name = `${section} ${l.slice(0, eq)}`;
    const value = l.slice(eq + 1);
    // `!` starts a command in any setting that runs one that way (an alias, a submodule update).
    if ((CONFIG_NEEDLES.some((n) => name.includes(n)) || value.trimStart().startsWith('!')) && /[/~$]/.test(value)) return true;
  }
  return false;
}

/** Needles of settings whose value is itself a path (or a file to read): any mention costs a parse. */
const PATH_NEEDLES = ['hookspath', 'include', 'templatedir'] as const;

/** Pure: `git config --list -z` output → the values asked about. Records are `key\nvalue\0`, or `key\0` for a key with no value. */
export function parseConfigList(out: string): ConfigValues {
  const v = { hooksPath: [] as string[], worktree: [] as string[], includes: [] as string[], templateDir: [] as string[], programs: [] as string[], programWords: [] as string[] };
  for (const rec of out.split('\0')) {
    const nl = rec.indexOf('\n');
    if (nl < 0) continue; // no value: a boolean, never a path
    take(v, rec.slice(0, nl), rec.slice(nl + 1));
  }
  return v;
}

/** One setting into `v` (key lower-cased as git lists it). */
function take(v: Required<ConfigValues>, key: string, value: string): void {
  if (key === 'core.hookspath') v.hooksPath.push(value);
  else if (key === 'core.worktree') v.worktree.push(value);
  else if (key === 'include.path' || (key.startsWith('includeif.') && key.endsWith('.path'))) v.includes.push(value);
  else if (key === 'init.templatedir') v.templateDir.push(value);
  else if (PROGRAM_KEYS.some((k) => k.test(key))) {
    const words = programWords(key, value);
    if (words[0]?.includes('/')) v.programs.push(words[0]);
    for (const w of words.slice(1)) if (w.includes('/')) v.programWords.push(w);
  }
}

/**
 * Pure: the words of a setting's command line, as far as they can name a
 * file: git hands a value with shell syntax to `sh -c`, so the program may
 * be any word (`sh ./x`, `python3 tools/x.py`, `FOO=1 /p/prog`, `exec /p`,
 * `sh -c '/p/x'`). Quotes and shell punctuation split words; a word is split
 * again at `=` and `:` (an assignment, a PATH-like list). The first word
 * is the command (what PATH would find, if it has no `/`). Empty for a
 * setting that runs nothing (an alias or update without `!`).
 */
export function programWords(key: string, value: string): string[] {
  let v = value.trim();
  if (v.startsWith('!')) v = v.slice(1);
  else if (BANG_ONLY.test(key)) return [];
  const words: string[] = [];
  for (const raw of v.match(/"[^"]*"|'[^']*'|[^\s;&|()<>`"']+/g) ?? []) {
    const quoted = raw[0] === '"' || raw[0] === "'";
    const inner = quoted ? raw.slice(1, -1) : raw;
    if (inner) words.push(inner);
    // A quoted script (`sh -c 'cd /x && ./run'`): its words too.
    if (quoted && /[\s;&|()<>`]/.test(inner)) words.push(...inner.split(/[\s;&|()<>`'"]+/).filter(Boolean));
  }
  const first = words.find((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w) && !['env', 'exec', 'command', 'nohup'].includes(w));
  const parts = words.flatMap((w) => w.split(/[=:]/)).filter(Boolean);
  return first === undefined ? parts : [first, ...parts.filter((p) => p !== first)];
}

/**
 * Pure: a path-valued setting as git expands it (interpolate_path): `~/` is
 * $HOME, an absolute path stays, a relative one is relative to `base`.
 * undefined where git's expansion depends on what this cannot know (`~user/`,
 * `%(prefix)/`: git's own installation, never a project's).
 */
export function expandGitPath(value: string, home: string, base: string): string | undefined {
  let v = value.startsWith(':(optional)') ? value.slice(':(optional)'.length) : value;
  if (v === '') return undefined;
  if (v === '~' || v.startsWith('~/')) v = home + v.slice(1);
  else if (v.startsWith('~') || v.startsWith('%(prefix)/')) return undefined;
  return isAbsolute(v) ? resolve(v) : resolve(base, v);
}

export interface GitConfigFacts {
  readonly home: string;
  /** The caller's environment (on the host). */
  readonly env: NodeJS.ProcessEnv;
}

/** A config file git reads, reached from `from` (undefined: a top-level one), and what it says. */
export interface ConfigFile {
  readonly path: string;
  readonly from?: string;
  readonly values: ConfigValues;
  /**
   * For an included file: the entries the kernel passes through on the way
   * that could send it elsewhere if changed (includePath): each symbolic
   * link, and each entry a `..` climbs out of.
   */
  readonly through?: readonly string[];
}

/**
 * Where git opens an include: the value as written, joined to the including
 * file's directory and handed to the kernel, which follows a symbolic link
 * before it reads the `..` after it (`incd/../x` is `x` beside where `incd`
 * leads, not beside `incd`): walked as the kernel walks it (paths.ts
 * walkPath), with what could redirect it (every link met, every entry a
 * `..` climbs out of: a missing one the command could make a link).
 */
export function includePath(value: string, home: string, base: string): { path: string; through: string[] } | undefined {
  let v = value.startsWith(':(optional)') ? value.slice(':(optional)'.length) : value;
  if (v === '') return undefined;
  if (v === '~' || v.startsWith('~/')) v = home + v.slice(1);
  else if (v.startsWith('~') || v.startsWith('%(prefix)/')) return undefined;
  const walked = walkPath(isAbsolute(v) ? v : `${base}/${v}`);
  return { path: walked.path, through: [...new Set([...walked.links.map((l) => l.link), ...walked.climbs])] };
}

/** What git reads for one git dir: its configuration files (with includes) and what they say. */
export interface RepoConfig {
  /** System and global files and their includes. */
  readonly outer: readonly ConfigFile[];
  /** The repository's config (in its common dir), its config.worktree, and their includes. */
  readonly own: readonly ConfigFile[];
  /** Where `commondir` sends git (the git dir itself if there is none). */
  readonly commonDir: string;
}

/**
 * Reads git configuration for one policy build: the system and global files
 * once, each repository's on demand. Not shared across builds (files change).
 */
export class GitConfigReader {
  private readonly parsed = new Map<string, ConfigValues | 'absent'>();
  private outerFiles?: ConfigFile[];
  private gitProgram?: string | null;

  constructor(private readonly facts: GitConfigFacts) {}

  /** System and global configuration, with includes, and GIT_CONFIG_COUNT settings from the caller's environment. */
  outer(): readonly ConfigFile[] {
    if (this.outerFiles) return this.outerFiles;
    const { env, home } = this.facts;
    const abs = (p: string | undefined) => (p && isAbsolute(p) ? p : undefined);
    const xdg = abs(env.XDG_CONFIG_HOME) ?? join(home, '.config');
    const tops = [abs(env.GIT_CONFIG_SYSTEM), '/etc/gitconfig', '/usr/local/etc/gitconfig', abs(env.GIT_CONFIG_GLOBAL), join(xdg, 'git', 'config'), join(home, '.config', 'git', 'config'), join(home, '.gitconfig')];
    const out: ConfigFile[] = [];
    const seen = new Set<string>();
    for (const t of tops) if (t && !seen.has(t)) this.collect(t, undefined, 0, out, seen);
    const fromEnv = envValues(env);
    if (fromEnv.hooksPath.length > 0 || fromEnv.includes.length > 0 || fromEnv.templateDir.length > 0 || fromEnv.programs.length > 0 || fromEnv.programWords.length > 0) {
      out.push({ path: 'GIT_CONFIG_COUNT (environment)', values: fromEnv });
      for (const inc of fromEnv.includes) {
        const p = expandGitPath(inc, home, '/');
        if (p && isAbsolute(inc.replace(/^~/, '/'))) this.collect(p, 'GIT_CONFIG_COUNT (environment)', 1, out, seen);
      }
    }
    return (this.outerFiles = out);
  }

  /**
   * `file` is known to set neither core.hooksPath nor an include: the
   * repository scan read it (scan.ts, K records) and found no CONFIG_NEEDLES.
   * It is then not read again.
   */
  plain(file: string): void {
    if (!this.parsed.has(file)) this.parsed.set(file, NONE);
  }

  /**
   * What git reads for the git dir `gitDir` (a .git, a bare, submodule or
   * worktree git dir). `present`: the names in gitDir, where the caller has
   * listed it; a name not there is not looked up.
   */
  repo(gitDir: string, present?: { has(name: string): boolean }): RepoConfig {
    const commonDir = (present && !present.has('commondir') ? undefined : readCommonDir(gitDir)) ?? gitDir;
    const own: ConfigFile[] = [];
    const seen = new Set<string>();
    this.collect(join(commonDir, 'config'), undefined, 0, own, seen);
    const worktree = join(gitDir, 'config.worktree');
    if (present && !present.has('config.worktree') && !seen.has(worktree)) {
      // Listed as git would read it once it exists, without a lookup.
      seen.add(worktree);
      own.push({ path: worktree, values: NONE });
    } else this.collect(worktree, undefined, 0, own, seen);
    if (commonDir !== gitDir) this.collect(join(commonDir, 'config.worktree'), undefined, 0, own, seen);
    return { outer: this.outer(), own, commonDir };
  }

  /** Adds file (and, depth-first, what it includes) to out; a missing file is listed too (git would read it once it exists). */
  private collect(file: string, from: string | undefined, depth: number, out: ConfigFile[], seen: Set<string>, through: readonly string[] = []): void {
    if (seen.has(file)) return;
    seen.add(file);
    const values = this.read(file);
    out.push({ path: file, ...(from ? { from } : {}), values: values === 'absent' ? NONE : values, ...(through.length > 0 ? { through } : {}) });
    if (values === 'absent' || depth >= MAX_INCLUDE_DEPTH) return;
    for (const inc of values.includes) {
      const p = includePath(inc, this.facts.home, dirname(file));
      if (p) this.collect(p.path, file, depth + 1, out, seen, p.through);
    }
  }

  private read(file: string): ConfigValues | 'absent' {
    const known = this.parsed.get(file);
    if (known) return known;
    const bytes = readConfigFile(file);
    const values = bytes === undefined ? 'absent' : mayMatter(bytes) ? this.parse(file, bytes) : NONE;
    this.parsed.set(file, values);
    return values;
  }

  private parse(file: string, bytes: Buffer): ConfigValues {
    const git = this.git();
    if (!git) {
      throw new CordonError('CORDON_ERR_POLICY', `${file} may set core.hooksPath or include another git config file, and cordon reads it with git's own parser, but git is not installed in ${SYSTEM_BIN.join(', ')} (cordon never runs a git from PATH, which may lead into the project). Install git, or remove the file if git is not used here`);
    }
    const r = spawnSync(git, ['config', '--file', '-', '--no-includes', '--list', '-z'], {
      input: bytes,
      cwd: '/',
      env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent', GIT_DIR: '/nonexistent/cordon', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', LC_ALL: 'C' },
      encoding: 'buffer',
      maxBuffer: 4 * MAX_CONFIG_BYTES,
      timeout: 30_000,
    });
    if (r.error || r.status !== 0) {
      const why = r.error?.message ?? (r.stderr.toString().trim().replace(/standard input/g, file) || `exit ${r.status ?? r.signal}`);
      throw new CordonError('CORDON_ERR_POLICY', `git cannot read ${file} (${why}); cordon reads every git config file that may set core.hooksPath before it runs anything. Fix or remove the file (git itself refuses it too)`);
    }
    return parseConfigList(r.stdout.toString('utf8'));
  }

  /**
   * git from the system's directories only, once: never the caller's PATH,
   * which may lead into the project (an activated .venv/bin, npx's
   * node_modules/.bin), where a sandbox could have planted a `git` that
   * cordon would then run on the host.
   */
  private git(): string | undefined {
    if (this.gitProgram === undefined) {
      this.gitProgram = null;
      for (const dir of SYSTEM_BIN) {
        const p = join(dir, 'git');
        if (isAbsolute(dir) && isExecutableFile(p)) {
          this.gitProgram = p;
          break;
        }
      }
    }
    return this.gitProgram ?? undefined;
  }
}

/** Where cordon looks for the git it runs on the host (test: git-config.test.ts, "never the caller's PATH"). */
const SYSTEM_BIN = ['/usr/bin', '/bin', '/usr/local/bin'] as const;

/** GIT_CONFIG_COUNT / GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n: settings every git run from this environment takes. */
function envValues(env: NodeJS.ProcessEnv): Required<ConfigValues> {
  const v = { hooksPath: [] as string[], worktree: [] as string[], includes: [] as string[], templateDir: [] as string[], programs: [] as string[], programWords: [] as string[] };
  const n = Math.min(Number(env.GIT_CONFIG_COUNT ?? 0) || 0, 10_000);
  for (let i = 0; i < n; i++) {
    const key = env[`GIT_CONFIG_KEY_${i}`]?.toLowerCase();
    const value = env[`GIT_CONFIG_VALUE_${i}`];
    if (!key || value === undefined || key === 'core.worktree') continue;
    take(v, key, value);
  }
  // The template git uses when the environment names one, whatever the configuration says.
  if (env.GIT_TEMPLATE_DIR) v.templateDir.push(env.GIT_TEMPLATE_DIR);
  return v;
}

/** `commondir` as git reads it (relative to the git dir); undefined if there is none. */
export function readCommonDir(gitDir: string): string | undefined {
  const bytes = readConfigFile(join(gitDir, 'commondir'), PATH_FILE_BYTES);
  if (bytes === undefined) return undefined;
  const line = bytes.toString('utf8').split('\n')[0]!.trim();
  return line === '' ? undefined : resolve(gitDir, line);
}

/** The work tree of a linked worktree's git dir: the directory holding the `.git` file its `gitdir` names. */
export function readWorktreeRoot(worktreeGitDir: string): string | undefined {
  const bytes = readConfigFile(join(worktreeGitDir, 'gitdir'), PATH_FILE_BYTES);
  if (bytes === undefined) return undefined;
  const line = bytes.toString('utf8').split('\n')[0]!.trim();
  return line === '' ? undefined : dirname(resolve(worktreeGitDir, line));
}

/** The git dir a `.git` file names (`gitdir: PATH`, relative to the file's directory). */
export function readGitFile(dotGit: string): string | undefined {
  const bytes = readConfigFile(dotGit, PATH_FILE_BYTES);
  if (bytes === undefined) return undefined;
  const m = /^gitdir: *(.+?)\s*$/m.exec(bytes.toString('utf8').split('\n')[0]!);
  return m ? resolve(dirname(dotGit), m[1]!) : undefined;
}

/**
 * Of a file that names a path in its first line (`commondir`, a worktree's
 * `gitdir`, a `.git` file), only this much is read: a path is shorter, and
 * a longer file names none git could use (a command can make one of any
 * size; it is no reason to refuse a run).
 */
const PATH_FILE_BYTES = 64 * 1024;

/**
 * A regular file's bytes, following links as git does, read from the one
 * descriptor that was checked; undefined if it is missing or not a regular
 * file (O_NONBLOCK: a FIFO does not hang the open). Larger than
 * MAX_CONFIG_BYTES: a CordonError; with `head`, its first `head` bytes.
 */
function readConfigFile(file: string, head?: number): Buffer | undefined {
  // Most files asked for are missing (config.worktree, commondir): a look costs
  // a syscall, a failed open an exception with a stack trace (~30 us, at each repository).
  if (!existsSync(file)) return undefined;
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    if (head === undefined && st.size > MAX_CONFIG_BYTES) {
      throw new CordonError('CORDON_ERR_POLICY', `${file} is larger than ${MAX_CONFIG_BYTES >> 20} MiB; cordon reads every file git takes configuration from before it runs anything. Remove or shorten it`);
    }
    const buf = Buffer.alloc(head === undefined ? st.size : Math.min(st.size, head));
    let n = 0;
    while (n < buf.length) {
      const k = readSync(fd, buf, n, buf.length - n, n);
      if (k === 0) break;
      n += k;
    }
    return buf.subarray(0, n);
  } catch (e) {
    if (e instanceof CordonError) throw e;
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function isExecutableFile(p: string): boolean {
  try {
    return existsSync(p) && statSync(p).isFile() && (statSync(p).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}
