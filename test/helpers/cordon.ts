/**
 * Runs the real cordon CLI (bin/cordon.cjs → dist) against throw-away worlds:
 * a fake $HOME full of credential files and a project with git repositories.
 * Nothing is mocked: bubblewrap, seccomp, Landlock and the helper are real.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = join(ROOT, 'bin', 'cordon.cjs');

/**
 * A command that plants a repository in `fresh/` whose core.fsmonitor
 * touches $MARK on the host's next `git status`, says so (`PLANTED`) and
 * waits: for tests that stop cordon, or its host, while it runs.
 */
export const PLANT = [
  'mkdir -p fresh && cd fresh && git init -q',
  'git config core.fsmonitor "$PWD/.plant"',
  'printf "#!/bin/sh\\ntouch \\"$MARK\\"\\n" > .plant && chmod +x .plant',
  'touch ../PLANTED && exec sleep 60',
].join(' && ');

const WORLD_BASE = '/var/tmp';
const worlds: string[] = [];
process.on('exit', () => {
  for (const w of worlds) rmSync(w, { recursive: true, force: true });
});

export interface World { readonly root: string; readonly home: string; readonly proj: string; readonly outside: string; readonly env: NodeJS.ProcessEnv }

export interface RunResult { readonly status: number | null; readonly signal: NodeJS.Signals | null; readonly stdout: string; readonly stderr: string }

/** Home with secrets, a project (a git repo with a nested repo), a directory outside both. */
export function makeWorld(opts: { owner?: { uid: number; gid: number } } = {}): World {
  // Not under /tmp: the sandbox's /tmp is private, which would hide the world
  // and make every read/write test pass for the wrong reason.
  const root = realpathSync(mkdtempSync(join(WORLD_BASE, 'cordon-world-')));
  worlds.push(root);
  chmodSync(root, 0o755);
  const home = join(root, 'home');
  const proj = join(root, 'proj');
  const outside = join(root, 'outside');
  const files: Record<string, string> = {
    'home/.ssh/id_rsa': 'SSH-PRIVATE-KEY',
    'home/.ssh/known_hosts': 'KNOWN-HOSTS',
    'home/.aws/credentials': 'AWS-SECRET',
    'home/.npmrc': '//registry/:_authToken=NPM-SECRET',
    'home/.bashrc': '# rc',
    'home/notes.txt': 'notes',
    'outside/file.txt': 'outside',
    'proj/README.md': 'readme',
    'proj/src/main.js': 'console.log(1)',
  };
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), c);
  }
  git(proj, 'init', '-q');
  git(proj, 'add', '-A');
  git(proj, 'commit', '-qm', 'init');
  mkdirSync(join(proj, 'deep', 'a', 'b', 'c'), { recursive: true });
  git(join(proj, 'deep', 'a', 'b', 'c'), 'init', '-q');
  writeFileSync(join(proj, '.gitignore'), 'deep/\n');
  git(proj, 'add', '-A');
  git(proj, 'commit', '-qm', 'ignore nested');
  if (opts.owner) chownTree(root, opts.owner.uid, opts.owner.gid);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    LANG: 'C.UTF-8',
  };
  return { root, home, proj, outside, env };
}

export function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', '-c', 'init.defaultBranch=main', ...args], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} in ${cwd}: ${r.stderr}`);
  return r.stdout;
}

function chownTree(p: string, uid: number, gid: number): void {
  spawnSync('chown', ['-R', `${uid}:${gid}`, p]);
}

/**
 * How to start cordon [args] in the world (as `asUser` through runuser, with
 * the world's environment), through the `within` command when given (one
 * that runs the rest of its arguments, such as a private mount namespace).
 */
function cordonCommand(w: World, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; asUser?: string; within?: readonly string[] }): { cmd: string; argv: string[]; env: NodeJS.ProcessEnv } {
  const env = { ...w.env, ...opts.env };
  const argv = opts.asUser
    ? ['runuser', '-u', opts.asUser, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, ...args]
    : [process.execPath, CLI, ...args];
  const all = [...(opts.within ?? []), ...argv];
  return { cmd: all[0]!, argv: all.slice(1), env };
}

/** cordon [args] synchronously, in the world's project unless cwd is given. */
export function cordon(w: World, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; asUser?: string; within?: readonly string[] } = {}): RunResult {
  const { cmd, argv, env } = cordonCommand(w, args, opts);
  const r: SpawnSyncReturns<string> = spawnSync(cmd, argv, { cwd: opts.cwd ?? w.proj, env, encoding: 'utf8', input: opts.input ?? '', timeout: 60_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** `cordon -c SCRIPT` (tests may use shell strings; cordon itself never builds them). */
export function sh(w: World, script: string, extra: readonly string[] = [], opts: Parameters<typeof cordon>[2] = {}): RunResult {
  return cordon(w, [...extra, '--', '/bin/sh', '-c', script], opts);
}

export function cordonAsync(w: World, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; asUser?: string } = {}) {
  const { cmd, argv, env } = cordonCommand(w, args, opts);
  return spawn(cmd, argv, { cwd: opts.cwd ?? w.proj, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

let reachable = false;

/** An unprivileged account for the walls' tests, created when running as root. */
export function testUser(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const name = 'cordon-test';
  if (spawnSync('id', ['-u', name]).status !== 0) {
    const r = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/bin/sh', name], { encoding: 'utf8' });
    if (r.status !== 0 && spawnSync('id', ['-u', name]).status !== 0) throw new Error(`useradd failed: ${r.stderr}`);
  }
  const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout.trim());
  // The walls' tests run this checkout's cordon as that user: fail with the cause, not each test for the wrong reason.
  if (!reachable && spawnSync('runuser', ['-u', name, '--', 'test', '-r', CLI]).status !== 0) {
    throw new Error(`the test user ${name} cannot read ${CLI}: make the directories above the checkout searchable by others (chmod o+x; mktemp -d makes them 0700), or clone it where they are`);
  }
  reachable = true;
  return { name, uid, gid };
}

export { chownSync };

/** Who the walls' tests run cordon as: root, and the unprivileged test user when there is one (root only can make it). */
export function runners(): { who: string; world: () => World; opts: { asUser?: string } }[] {
  const u = testUser();
  return [
    { who: 'root', world: () => makeWorld(), opts: {} },
    ...(u ? [{ who: 'an unprivileged user', world: () => makeWorld({ owner: u }), opts: { asUser: u.name } }] : []),
  ];
}

/** Files made after makeWorld belong to the user the test runs cordon as (else a write or rename fails for the wrong reason). */
export function own(w: World, opts: { asUser?: string }): void {
  const u = testUser();
  if (opts.asUser && u) spawnSync('chown', ['-R', `${u.uid}:${u.gid}`, w.root]);
}

/** `rel` below `root` was moved aside after the run: nothing at its name (not even a link), something at `NAME.cordon-untrusted`. */
export function assertMovedAside(root: string, rel: string, context = ''): void {
  assert.ok(!lstatSync(join(root, rel), { throwIfNoEntry: false }), `${rel} was moved aside${context ? `:\n${context}` : ''}`);
  assert.ok(lstatSync(join(root, `${rel}.cordon-untrusted`), { throwIfNoEntry: false }), `${rel}.cordon-untrusted is there${context ? `:\n${context}` : ''}`);
}

/**
 * SIGKILL to the cordon process `pid` and, first, to the process that waits
 * to scan after its run (its own `scan --wait-stdin`, or the `with-scan`
 * child its sandbox process forked), which would otherwise finish the run
 * at once: what a kill of the whole cgroup does. Throws if there is none.
 */
export function killWithWatcher(pid: number): void {
  const watchers = descendants(pid).filter((p) => {
    let argv: string[];
    try { argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0'); } catch { return false; }
    return argv[0]!.endsWith('/cordon-helper') && (argv[1] === 'with-scan' || (argv[1] === 'scan' && argv.includes('--wait-stdin')));
  });
  assert.ok(watchers.length > 0, 'no process waits to scan after the run');
  for (const p of watchers) process.kill(p, 'SIGKILL');
  process.kill(pid, 'SIGKILL');
}

function descendants(pid: number): number[] {
  let kids: number[] = [];
  try { kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { /* gone */ }
  return kids.flatMap((k) => [k, ...descendants(k)]);
}
