/**
 * The real values of brokered credentials (credentials.broker), read on the
 * host when a network session starts: from cordon's own environment, a file,
 * or a program (a password manager's CLI: `secret-tool lookup …`, `gh auth
 * token`), run without a shell, with no input, for at most 10 seconds. A
 * project file cannot name any of them (policy/project.ts). Each value gets
 * a session token (broker.ts makeToken).
 *
 * A variable that is not set is skipped: there is nothing to broker, and the
 * command gets no variable of that name. A file or program that fails is an
 * error naming it and why, never what it printed (which may hold a secret).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CordonError } from '../errors.js';
import type { DomainRule } from './domain-rules.js';
import { awsToken, makeToken, type AwsRole, type LiveCredential } from './broker.js';

/**
 * Where a brokered credential's real value is read, on the host, at the
 * session's start. `process`: a program that prints AWS keys as AWS's
 * credential_process does (JSON: Version 1, AccessKeyId, SecretAccessKey,
 * SessionToken), run once for the three keys of a set.
 */
export type CredentialSource = { readonly env: string } | { readonly file: string } | { readonly command: readonly string[] } | { readonly process: readonly string[]; readonly field: 'AccessKeyId' | 'SecretAccessKey' | 'SessionToken' };

/** One credentials.broker entry (settings.ts parses it; the policy expands its from.file). */
export interface BrokerSpec {
  /** The variable the command sees, holding the session token. */
  readonly env: string;
  readonly from: CredentialSource;
  readonly hosts: readonly DomainRule[];
  /** Header name, lower case. */
  readonly header: string;
  readonly scheme?: string;
  /** With the Basic scheme: the user name sent with the credential (any other is a foreign credential). */
  readonly username?: string;
  /** `credentials.broker[i]`, in `file`. */
  readonly keyPath: string;
  readonly file: string;
  /** One of a credentials.aws set's three keys (broker.ts BrokeredCredential.sigv4). */
  readonly sigv4?: { readonly role: AwsRole; readonly set: string; readonly services?: readonly string[] };
}

const COMMAND_MS = 10_000;

/**
 * Variables whose value names files an interpreter, the JVM or the loader
 * reads code from: left out of a source program's environment when one
 * names a place a sandboxed command could write (a relative one is taken
 * from `/`, where the program runs).
 */
const CODE_PATH_VARIABLES = [
  'PYTHONPATH', 'PYTHONSTARTUP', 'PYTHONHOME', 'PYTHONUSERBASE', 'PERL5LIB', 'PERLLIB', 'PERL5OPT', 'PERL5DB', 'RUBYLIB', 'RUBYOPT',
  'NODE_PATH', 'BASH_ENV', 'ENV', 'LD_PRELOAD', 'LD_LIBRARY_PATH', 'LD_AUDIT', 'GCONV_PATH', 'JAVA_TOOL_OPTIONS', '_JAVA_OPTIONS', 'JDK_JAVA_OPTIONS',
];

/**
 * Whether a variable's value names, in any of its words (`-I/p/lib`, `a:b`,
 * `-javaagent:/p/x.jar`, `lib` taken from `/`), a path where a command could
 * have written; a word a shell or the tool would expand (`$HOME/x`, `~/x`)
 * cannot be judged here, so it counts.
 */
function namesSandboxed(value: string | undefined, sandboxed: SandboxedArea): boolean {
  if (!value) return false;
  return value.split(/[\s:=,]+/).some((w) => {
    if (w.startsWith('$') || w.startsWith('~') || w.includes('${')) return true;
    const at = w.indexOf('/');
    return at >= 0 && [resolve(w.slice(at)), resolve('/', w)].some((p) => sandboxed(p) !== undefined);
  });
}

/** Where a program is looked for when cordon's environment has no PATH (as the C library's default, without the current directory). */
const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * Where a sandboxed command could have written (a writable path of a run
 * before this one, or of one still going): the area, or undefined.
 */
export type SandboxedArea = (path: string) => string | undefined;

/**
 * `env`: cordon's own environment (where an `env` source is read).
 * `sandboxed`: a program a source names is refused there (hostProgram).
 */
export function liveCredentials(specs: readonly BrokerSpec[], env: NodeJS.ProcessEnv, sandboxed: SandboxedArea = () => undefined): LiveCredential[] {
  const out: LiveCredential[] = [];
  const printed = new Map<string, Record<string, unknown>>();
  for (const s of specs) {
    const real = readSource(s, env, printed, sandboxed);
    if (real === undefined) {
      // A set of AWS keys is whole: an access key id without its secret could sign nothing.
      if (s.sigv4?.role === 'secretAccessKey' && specs.some((k) => k.sigv4?.set === s.sigv4!.set && k.sigv4.role === 'accessKeyId' && readSource(k, env, printed, sandboxed) !== undefined)) {
        throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${s.file}: ${s.keyPath}: the access key id is set but its secret access key (${describe(s)}) is not; set both, or neither`);
      }
      continue;
    }
    if (s.sigv4 && s.sigv4.role !== 'accessKeyId' && !out.some((c) => c.sigv4?.set === s.sigv4!.set)) continue;
    const where = `${s.file}: ${s.keyPath}`;
    if (real === '') throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: the credential read ${describe(s)} is empty`);
    // A value that would break a header apart, or that a scrubber could not find whole.
    if (/[\r\n\0]/.test(real)) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: the credential read ${describe(s)} holds a line break or NUL; a header value cannot`);
    if (real.length < 8) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: the credential read ${describe(s)} is shorter than 8 characters; cordon brokers secrets, not short words it would find in every response`);
    out.push({ env: s.env, hosts: s.hosts, presentation: { header: s.header, ...(s.scheme !== undefined ? { scheme: s.scheme } : {}), ...(s.username !== undefined ? { username: s.username } : {}) }, keyPath: s.keyPath, real, token: s.sigv4 ? awsToken(real, s.sigv4.role) : makeToken(real), ...(s.sigv4 ? { sigv4: s.sigv4 } : {}) });
  }
  return out;
}

function readSource(s: BrokerSpec, env: NodeJS.ProcessEnv, printed: Map<string, Record<string, unknown>>, sandboxed: SandboxedArea): string | undefined {
  const where = `${s.file}: ${s.keyPath}.from`;
  if ('env' in s.from) return env[s.from.env];
  if ('process' in s.from) {
    const key = JSON.stringify(s.from.process);
    let keys = printed.get(key);
    if (!keys) {
      const text = run(s.from.process, env, `${where}.command`, sandboxed);
      try {
        keys = JSON.parse(text) as Record<string, unknown>;
      } catch {
        keys = undefined;
      }
      if (!keys || typeof keys !== 'object' || keys.Version !== 1 || typeof keys.AccessKeyId !== 'string' || typeof keys.SecretAccessKey !== 'string' || (keys.SessionToken !== undefined && typeof keys.SessionToken !== 'string')) {
        throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}.command: ${s.from.process[0]} did not print AWS keys as credential_process does (JSON with Version 1, AccessKeyId, SecretAccessKey and an optional SessionToken); what it printed is not shown`);
      }
      printed.set(key, keys);
    }
    return keys[s.from.field] as string | undefined;
  }
  if ('file' in s.from) {
    try {
      return readFileSync(s.from.file, 'utf8').replace(/\r?\n$/, '');
    } catch (e) {
      throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}.file: ${s.from.file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { cause: e });
    }
  }
  return run(s.from.command, env, `${where}.command`, sandboxed).replace(/\r?\n$/, '');
}

/** What `command` printed (run without a shell, no input, at most COMMAND_MS); a failure names it, never what it printed. */
function run(command: readonly string[], env: NodeJS.ProcessEnv, where: string, sandboxed: SandboxedArea): string {
  const [program, ...args] = command;
  const given = env.PATH ?? DEFAULT_PATH;
  // Its PATH without the places a command could have written: a script's `#!/usr/bin/env python3` finds no planted
  // python3. Never empty: an empty PATH means the current directory to the C library.
  const path = given.split(':').filter((d) => d.startsWith('/') && sandboxed(d) === undefined).join(':') || DEFAULT_PATH;
  const file = hostProgram(program!, given, where, sandboxed);
  // No NODE_OPTIONS either: npm sets it from a project's .npmrc, and a program in Node would load its --require.
  // Nor a variable that makes an interpreter load code from where a command could have written it.
  const { NODE_OPTIONS: _, ...rest } = env;
  for (const v of CODE_PATH_VARIABLES) if (namesSandboxed(rest[v], sandboxed)) delete rest[v];
  // In `/`, not cordon's working directory (the project): `python3 -m x`, `node -e "require('x')"` look there first.
  const r = spawnSync(file, args, { argv0: program!, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'], timeout: COMMAND_MS, env: { ...rest, PATH: path, PYTHONSAFEPATH: '1' }, maxBuffer: 1 << 20 });
  if (r.error || r.status !== 0) {
    const why = r.error ? ((r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT' ? `did not finish in ${COMMAND_MS / 1000} s` : `could not run (${(r.error as NodeJS.ErrnoException).code ?? r.error.message})`) : r.signal ? `was ended by ${r.signal}` : `exited with ${r.status}`;
    throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: ${program} ${why}; what it printed is not shown (it may hold a secret)`);
  }
  return r.stdout.toString('utf8');
}

/**
 * The file a source's program is, as a shell would find it (a name with no
 * `/` in the absolute entries of PATH, in order), resolved; refused when the
 * name or the file lies where a sandboxed command could have written it
 * (under npx, PATH starts with the project's node_modules/.bin; an activated
 * virtualenv puts the project's .venv/bin first): cordon would run on the
 * host, with the real secret in reach, a program the command planted.
 */
export function hostProgram(program: string, pathVariable: string, where: string, sandboxed: SandboxedArea): string {
  let found: string | undefined;
  if (program.includes('/')) found = resolve(program);
  else {
    for (const dir of pathVariable.split(':')) {
      // A relative entry means wherever cordon was started: never looked in.
      if (!dir.startsWith('/')) continue;
      const p = join(dir, program);
      try {
        if (!statSync(p).isFile()) continue;
        accessSync(p, constants.X_OK);
        found = p;
        break;
      } catch {
        /* not here */
      }
    }
    if (found === undefined) throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: ${program} is not a program in any absolute directory of PATH; give its absolute path`);
  }
  let real = found;
  try {
    real = realpathSync(found);
  } catch {
    /* spawn says what is wrong with it */
  }
  for (const p of new Set([found, real])) {
    const area = sandboxed(p);
    if (area !== undefined) {
      throw new CordonError('CORDON_ERR_SETTINGS_INVALID', `${where}: ${program} is ${p}, in ${area}, where a sandboxed command could have written it (cordon has run commands that can write there); cordon will not run it on the host with the real credential in reach. Give the absolute path of the program you installed, outside every path your sandboxed commands can write`);
    }
  }
  return real;
}

function describe(s: BrokerSpec): string {
  return 'env' in s.from ? `from $${s.from.env}` : 'file' in s.from ? `from ${s.from.file}` : 'process' in s.from ? `as ${s.from.field} from the output of ${s.from.process[0]}` : `from the output of ${s.from.command[0]}`;
}
