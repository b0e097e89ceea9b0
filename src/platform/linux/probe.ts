/**
 * Probe, don't assume: what this machine supports and what is missing, each
 * with the fix. Used by `cordon doctor` and to explain a failed launch.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';

export interface Check { readonly name: string; readonly ok: boolean; readonly detail: string; readonly fix?: string }

export const MIN_BWRAP = [0, 8, 0] as const;

export function findBwrap(): string {
  return process.env.CORDON_BWRAP ?? '/usr/bin/bwrap';
}

export function probeLinux(helper: string | undefined): Check[] {
  const checks: Check[] = [];
  const bwrap = findBwrap();
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
        : 'the second write wall needs Landlock (Linux ≥ 5.13 with lsm=landlock); without it cordon refuses to run unless given --dangerously-allow-missing-landlock (the mounts alone), and refuses no-delete paths',
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

export function landlockAbi(helper: string): number {
  const r = spawnSync(helper, ['landlock-abi'], { encoding: 'utf8' });
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
