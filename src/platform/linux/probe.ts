/**
 * Probe, don't assume: the facts of this machine that a plan depends on,
 * gathered in one place (gatherFacts) and passed down as a value; and what
 * this machine supports and what is missing, each with the fix (`cordon
 * doctor`). Nothing below the entry points reads the environment: they hand
 * it in here.
 *
 * Trust boundary: the environment and the kernel's answers are the
 * caller's; the Landlock ABI cache lives in cordon's private state directory
 * (placeholders.ts: runtimeDir), which no sandbox can write.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { release, uptime } from 'node:os';
import { join } from 'node:path';
import { HELPER_COMMAND } from '../../protocol.js';
import { hostSeccompArch, type SeccompArch } from './seccomp.js';

export interface Check { readonly name: string; readonly ok: boolean; readonly detail: string; readonly fix?: string }

export const MIN_BWRAP = [0, 8, 0] as const;

/** The environment variables a plan depends on, read once at the entry (CLI or library) and passed down. */
export type HostEnv = {
  readonly HOME?: string;
  readonly XDG_CACHE_HOME?: string;
  readonly XDG_CONFIG_HOME?: string;
  readonly XDG_STATE_HOME?: string;
  readonly TMPDIR?: string;
  /** Another bubblewrap than /usr/bin/bwrap. */
  readonly CORDON_BWRAP?: string;
  /** '1': bubblewrap makes every mount (the helper makes none), for kernels or setups where the new mount API misbehaves. */
  readonly CORDON_BWRAP_MOUNTS?: string;
};

const HOST_ENV_KEYS = ['HOME', 'XDG_CACHE_HOME', 'XDG_CONFIG_HOME', 'XDG_STATE_HOME', 'TMPDIR', 'CORDON_BWRAP', 'CORDON_BWRAP_MOUNTS'] as const;

/**
 * Everything about this machine that cordon's plan depends on. Gathered once
 * a run (gatherFacts) and printed by `cordon explain --json`.
 */
export interface PlatformFacts {
  /** uname's release, e.g. "6.8.0-45-generic". */
  readonly kernel: string;
  readonly arch: SeccompArch;
  /** The Landlock ABI the kernel offers (0: none): asked of the kernel through the helper, once per boot (probeLandlockAbi). */
  readonly landlockAbi: number;
  /** The kernel has open_tree/move_mount/mount_setattr (>= 5.12) and CORDON_BWRAP_MOUNTS is not 1: the helper makes the read-only mounts. */
  readonly helperMounts: boolean;
  readonly bwrap: string;
  readonly helper: string;
  /** cordon's private state directory (placeholders.ts: runtimeDir). */
  readonly stateDir: string;
  /** The variables of HostEnv that are set. */
  readonly env: HostEnv;
}

/** The part of an environment that cordon's plan reads. */
export function hostEnv(env: NodeJS.ProcessEnv): HostEnv {
  const out: Record<string, string> = {};
  for (const k of HOST_ENV_KEYS) if (env[k] !== undefined) out[k] = env[k]!;
  return out;
}

/**
 * The facts, from the caller's environment and this kernel. `helper` and
 * `stateDir` come from the caller too (helper-path.ts, placeholders.ts find
 * them). Costs a uname, two small file reads and, once per boot, one run of
 * the helper (~1 ms).
 */
export function gatherFacts(env: NodeJS.ProcessEnv, helper: string, stateDir: string): PlatformFacts {
  const kernel = release();
  const host = hostEnv(env);
  return {
    kernel,
    arch: hostSeccompArch(),
    landlockAbi: probeLandlockAbi(helper, stateDir, kernel),
    helperMounts: host.CORDON_BWRAP_MOUNTS !== '1' && kernelAtLeast(...HELPER_MOUNTS_KERNEL, kernel),
    bwrap: findBwrap(host),
    helper,
    stateDir,
    env: host,
  };
}

export function findBwrap(env: Readonly<Record<string, string | undefined>>): string {
  return env.CORDON_BWRAP ?? '/usr/bin/bwrap';
}

/** Where the ABI probed for this boot is kept: "<boot time, s> <kernel release> <abi>". */
export const LANDLOCK_ABI_CACHE = 'landlock-abi';

/**
 * The kernel's Landlock ABI. Landlock is built into the kernel, so its ABI
 * changes only with a reboot: it is asked once per boot (the helper makes
 * the landlock_create_ruleset(NULL, 0, VERSION) call, which Node cannot;
 * ~1 ms) and kept in the state directory with the boot time and the kernel
 * release; reading it back costs ~20 us (the boot id in /proc would cost
 * ~50 us more). The boot time is now - uptime, to a second or two. A forged
 * record could only make the plan ask for more than the kernel has (the
 * helper's ruleset is then refused: the run fails, closed) or less (no-delete
 * rules are then refused before the run; read-write rules get the rights of
 * the older ABI, behind the mounts, which are the first write wall); and the
 * state directory is cordon's own (0700, its marker checked by runtimeDir),
 * never writable inside a sandbox.
 */
export function probeLandlockAbi(helper: string, stateDir: string, kernel: string = release(), now: number = Date.now()): number {
  const boot = Math.round(now / 1000 - uptime());
  const file = join(stateDir, LANDLOCK_ABI_CACHE);
  let cached: string | undefined;
  try { cached = readFileSync(file, 'utf8'); } catch { cached = undefined; }
  const m = cached === undefined ? null : /^(\d+) (\S+) (\d+)\n$/.exec(cached);
  if (m && Math.abs(Number(m[1]) - boot) <= 2 && m[2] === kernel) return Number(m[3]);
  const abi = landlockAbi(helper);
  const tmp = `${file}.${process.pid}`;
  try {
    writeFileSync(tmp, `${boot} ${kernel} ${abi}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
  } catch {
    rmSync(tmp, { force: true });
  }
  return abi;
}

export function probeLinux(helper: string | undefined, env: HostEnv): Check[] {
  const checks: Check[] = [];
  const bwrap = findBwrap(env);
  const v = spawnSync(bwrap, ['--version'], { encoding: 'utf8' });
  const version = /(\d+)\.(\d+)\.(\d+)/.exec(v.stdout ?? '');
  if (v.error || !version) {
    checks.push({ name: 'bubblewrap', ok: false, detail: `${bwrap} not found`, fix: 'apt-get install -y bubblewrap (or set CORDON_BWRAP to its path)' });
  } else {
    const parts = version.slice(1, 4).map(Number);
    const ok = compare(parts, MIN_BWRAP) >= 0;
    checks.push({ name: 'bubblewrap', ok, detail: `${bwrap} ${parts.join('.')}`, fix: ok ? undefined : `bubblewrap ≥ ${MIN_BWRAP.join('.')} is needed (for --disable-userns); upgrade the bubblewrap package` });
    const t = spawnSync(bwrap, ['--unshare-all', '--unshare-user', '--ro-bind', '/', '/', '--', '/bin/true'], { encoding: 'utf8' });
    checks.push({
      name: 'user namespaces',
      ok: t.status === 0,
      detail: t.status === 0 ? 'bubblewrap can create user, pid, net, ipc, uts namespaces' : (t.stderr || '').trim() || `exit ${t.status}`,
      fix: t.status === 0 ? undefined : 'enable unprivileged user namespaces: sysctl -w kernel.unprivileged_userns_clone=1 user.max_user_namespaces=15000 (Ubuntu ≥ 23.10 also: kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile for bwrap)',
    });
  }
  const fast = kernelAtLeast(...HELPER_MOUNTS_KERNEL);
  checks.push({ name: 'mount API', ok: true, detail: fast ? `Linux ${release()}: the helper makes the read-only mounts (open_tree, mount_setattr)` : `Linux ${release()} < 5.12: bubblewrap makes every mount (slower start-up with many protected paths)` });
  const notify = kernelAtLeast(5, 6);
  checks.push({ name: 'Unix socket grants', ok: notify, detail: notify ? 'network.allowUnixSockets can be honoured (seccomp user notification, pidfd_getfd)' : `Linux ${release()} < 5.6: network.allowUnixSockets cannot be enforced here; runs that grant a socket fail`, fix: notify ? undefined : 'a kernel >= 5.6 is needed to grant named Unix sockets; without grants nothing changes' });
  const seccomp = readSys('/proc/sys/kernel/seccomp/actions_avail');
  checks.push({ name: 'seccomp', ok: /errno/.test(seccomp), detail: seccomp ? `actions: ${seccomp}` : 'not available', fix: seccomp ? undefined : 'a kernel built with CONFIG_SECCOMP_FILTER is required' });
  if (!helper) {
    checks.push({ name: 'native helper', ok: false, detail: 'missing', fix: 'npm rebuild cordon (needs gcc and libc6-dev)' });
  } else {
    const abi = landlockAbi(helper);
    checks.push({ name: 'native helper', ok: true, detail: helper });
    checks.push({
      name: 'Landlock',
      ok: abi >= 1,
      detail: abi > 0 ? `ABI ${abi}${abi < 3 ? ' (read-write-no-delete paths need ABI 3: they are refused here)' : ''}` : 'not available',
      fix: abi >= 3 ? undefined : abi >= 1
        ? 'read-write-no-delete paths need Landlock ABI ≥ 3 (Linux ≥ 6.2): no delete, rename away or truncation'
        : 'the second write wall needs Landlock (Linux ≥ 5.13 with lsm=landlock); without it cordon refuses to run (CORDON_ERR_KERNEL_FEATURE) unless given --dangerously-allow-missing-landlock (the mounts alone), and refuses no-delete paths',
    });
  }
  return checks;
}

/** The kernel release is at least major.minor (from uname; "6.1.0-13-amd64" → 6.1). */
export function kernelAtLeast(major: number, minor: number, rel: string = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return false;
  const [a, b] = [Number(m[1]), Number(m[2])];
  return a > major || (a === major && b >= minor);
}

/** open_tree, move_mount and mount_setattr (the helper's fast read-only mounts). */
export const HELPER_MOUNTS_KERNEL = [5, 12] as const;

/** Asks the kernel now, through the helper (probeLandlockAbi keeps the answer for the boot). */
export function landlockAbi(helper: string): number {
  const r = spawnSync(helper, [HELPER_COMMAND.landlockAbi], { encoding: 'utf8' });
  const n = Number((r.stdout ?? '').trim());
  return r.status === 0 && Number.isInteger(n) ? n : 0;
}

function readSys(p: string): string {
  try { return readFileSync(p, 'utf8').trim(); } catch { return ''; }
}

function compare(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}
