import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FsRule, Policy } from '../../../../src/policy/policy.js';
import { bwrapMountArgs, helperSplit, landlockNoDeleteRights, landlockWriteRights, planLinux, stateOf, type MountOp } from '../../../../src/platform/linux/plan.js';
import { CordonError } from '../../../../src/errors.js';

// bubblewrap makes every mount here, so these tests read the whole mount order in its argv.
const facts = { helper: '/opt/cordon/helper', bwrap: '/usr/bin/bwrap', landlockAbi: 7, helperMounts: false };
const fds = { info: 4, seccomp: 5, ready: 6, block: 7 };

function policy(rules: FsRule[], cwd = '/p'): Policy {
  return { cwd, home: '/h', rules, sources: [], warnings: [], network: { mode: 'none', modeSource: 'test', allow: [], deny: [], deniedRanges: [], denyPrivateAddresses: false, unixSockets: [] }, watch: [] };
}
const r = (path: string, access: FsRule['access'], kind: FsRule['kind'] = 'dir'): FsRule => ({ path, access, kind, source: 'test' });

function mountArgs(p: Policy): string[][] {
  return planLinux(p, facts, ['true'], fds).mounts.map(bwrapMountArgs);
}

test('the base sandbox: read-only root, fresh /dev and /proc, private /tmp, all namespaces, no caps', () => {
  const plan = planLinux(policy([r('/p', 'read-write')]), facts, ['echo', 'hi'], fds);
  const a = plan.bwrapArgs.join(' ');
  for (const s of ['--unshare-all', '--unshare-user', '--disable-userns', '--die-with-parent', '--new-session', '--cap-drop ALL', '--ro-bind / /', '--dev /dev', '--proc /proc', '--tmpfs /tmp', '--chdir /p', '--info-fd 4']) {
    assert.ok(a.includes(s), s);
  }
  // The helper installs the seccomp filter (after any mounts of its own); bubblewrap gets no capabilities to add.
  assert.ok(!a.includes('--seccomp') && !a.includes('--cap-add'), a);
  const rw = String(landlockWriteRights(7));
  assert.deepEqual(plan.helperArgs, ['/opt/cordon/helper', 'run', '--ready-fd', '6', '--seccomp-fd', '5', '--landlock-handled', rw, '--landlock-rule', rw, '/dev', '--landlock-rule', rw, '/tmp', '--landlock-rule', rw, '/p', '--', 'echo', 'hi']);
  // The base mounts are typed values; bubblewrap's options are made from them.
  assert.deepEqual(plan.baseMounts.map((m) => [m.kind, m.path]), [['bind-ro', '/'], ['dev', '/dev'], ['proc', '/proc'], ['tmpfs', '/tmp']]);
  assert.deepEqual(plan.env, { TMPDIR: '/tmp', CORDON_SANDBOX: '1', npm_config_cache: '/tmp/.cache/npm', GOCACHE: '/tmp/.cache/go-build', GOMODCACHE: '/tmp/.cache/go-mod', PIP_CACHE_DIR: '/tmp/.cache/pip', UV_CACHE_DIR: '/tmp/.cache/uv', YARN_CACHE_FOLDER: '/tmp/.cache/yarn', npm_config_offline: 'true' });
});

test('mounts go shallow to deep; denied dirs are empty tmpfs remounted read-only last', () => {
  const m = mountArgs(policy([
    r('/h/.ssh/known_hosts', 'allow-read', 'file'),
    r('/h/.ssh', 'deny-read'),
    r('/p/.env', 'deny-read', 'file'),
    r('/p', 'read-write'),
    r('/p/.git/config', 'read-only', 'file'),
  ]));
  assert.deepEqual(m, [
    ['--bind', '/p', '/p'],
    ['--tmpfs', '/h/.ssh'],
    ['--ro-bind', '/dev/null', '/p/.env'],
    ['--bind', '/p/.git', '/p/.git'],
    ['--ro-bind', '/h/.ssh/known_hosts', '/h/.ssh/known_hosts'],
    ['--ro-bind', '/p/.git/config', '/p/.git/config'],
    ['--remount-ro', '/h/.ssh'],
  ]);
});

/**
 * An independent model of the sandbox's mount table: which paths are mount
 * points once every op has run (bubblewrap's, then the helper's). A rename
 * of a directory that is a mount point fails (EBUSY); any other rename in a
 * writable area carries everything mounted beneath it along. The property:
 * no rename the command can make moves a protected path (a read-only island
 * or a pin inside a writable area) away from where it is protected.
 */
function mountPointsAfter(plan: ReturnType<typeof planLinux>): Set<string> {
  const points = new Set<string>(['/', '/dev', '/proc']);
  const a = plan.bwrapArgs;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--tmpfs') points.add(a[++i]!);
    else if (a[i] === '--bind' || a[i] === '--ro-bind') { i++; points.add(a[++i]!); }
  }
  const h = plan.helperArgs;
  for (let i = 0; i < h.length && h[i] !== '--'; i++) if (h[i] === '--ro' || h[i] === '--null' || h[i] === '--pin') points.add(h[++i]!);
  return points;
}

function renameCarriesAway(plan: ReturnType<typeof planLinux>, rules: readonly FsRule[], protectedPath: string): string | undefined {
  const points = mountPointsAfter(plan);
  for (let at = protectedPath; at !== '/'; ) {
    const parent = at.slice(0, at.lastIndexOf('/')) || '/';
    // `at` can be renamed if its parent is writable and `at` is no mount point.
    if (!points.has(at) && stateOf(parent, rules).write !== 'ro' && stateOf(parent, rules).readable) return at;
    at = parent;
    if (stateOf(at, rules).write === 'ro') break;
  }
  return undefined;
}

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => ((x ^= x << 13, x ^= x >>> 17, x ^= x << 5) >>> 0) / 2 ** 32;
}

test('property: no rename of an ancestor carries a protected path away (random policies, both mount splits, a project in /p or under the private /tmp)', () => {
  const names = ['a', 'b', '.git', 'c'];
  for (let seed = 1; seed <= 400; seed++) {
    const rand = rng(seed);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const root = seed % 2 === 0 ? '/p' : '/tmp/x/p';
    const path = (min: number) => {
      let p = root;
      const n = min + Math.floor(rand() * 4);
      for (let i = 0; i < n; i++) p += `/${pick(names)}`;
      return p;
    };
    const rules: FsRule[] = [r(root, 'read-write')];
    for (let i = 0; i < 1 + Math.floor(rand() * 5); i++) {
      const kind = pick(['read-only', 'read-only', 'pin', 'deny-read', 'read-write'] as const);
      const p = path(1);
      rules.push(r(p, kind, kind === 'pin' ? 'dir' : pick(['dir', 'file', 'missing'] as const)));
    }
    for (const helperMounts of [false, true]) {
      const pol = policy(rules, root);
      const plan = planLinux(pol, { ...facts, helperMounts }, ['true'], fds);
      for (const m of plan.mounts) {
        const protectedHere = m.kind === 'bind-ro' || m.kind === 'hide-file' || m.kind === 'pin';
        if (!protectedHere) continue;
        const parent = m.path.slice(0, m.path.lastIndexOf('/')) || '/';
        if (stateOf(parent, rules).write === 'ro') continue;
        const moved = renameCarriesAway(plan, rules, m.path);
        assert.equal(moved, undefined, `seed ${seed}, helperMounts ${helperMounts}: renaming ${moved} carries ${m.path} away\n${JSON.stringify(rules)}`);
      }
      // A pin changes no access: every path's state is what the rules say, pins or not.
      for (const p of plan.mounts.filter((m) => m.kind === 'pin')) assert.notEqual(stateOf(p.path, rules).write, 'ro', p.path);
      // Placeholders are made parent first.
      plan.placeholders.forEach((ph, i) => plan.placeholders.slice(i + 1).forEach((later) => assert.ok(!ph.startsWith(`${later}/`), `${later} after its child ${ph}`)));
    }
  }
});

test('pins: the directories between a protected path and the writable root, helper-made where possible', () => {
  const rules = [r('/p', 'read-write'), r('/p/a/b/.git', 'pin'), r('/p/a/b/.git/config', 'read-only', 'file'), r('/p/a/b/.git/hooks', 'read-only', 'missing')];
  const plan = planLinux(policy(rules), { ...facts, helperMounts: true }, ['true'], fds);
  assert.deepEqual(plan.mounts.filter((m) => m.kind === 'pin').map((m) => m.path), ['/p/a', '/p/a/b', '/p/a/b/.git']);
  const h = plan.helperArgs.join(' ');
  assert.ok(h.includes('--pin /p/a --pin /p/a/b --pin /p/a/b/.git --ro /p/a/b/.git/config --ro /p/a/b/.git/hooks'), h);
  assert.deepEqual(plan.placeholders, ['/p/a/b/.git/hooks']);
});

test('deny wins: deny-read beats allow-read at one path; read-only beats a deeper read-write', () => {
  const rules = [r('/s', 'deny-read'), r('/s', 'allow-read'), r('/a', 'read-only'), r('/a/b', 'read-write')];
  assert.equal(stateOf('/s/x', rules).readable, false);
  assert.equal(stateOf('/a/b/c', rules).write, 'ro');
  assert.deepEqual(mountArgs(policy(rules)), [['--tmpfs', '/s'], ['--remount-ro', '/s']]);
});

test('a deeper deny inside an allow inside a deny still wins', () => {
  const rules = [r('/h', 'deny-read'), r('/h/pub', 'allow-read'), r('/h/pub/secret', 'deny-read')];
  assert.equal(stateOf('/h/pub/x', rules).readable, true);
  assert.equal(stateOf('/h/pub/secret/x', rules).readable, false);
  assert.deepEqual(mountArgs(policy(rules)), [
    ['--tmpfs', '/h'], ['--ro-bind', '/h/pub', '/h/pub'], ['--tmpfs', '/h/pub/secret'], ['--remount-ro', '/h'], ['--remount-ro', '/h/pub/secret'],
  ]);
});

test('rules hidden under a denied region are not mounted (no leak of the real content)', () => {
  const m = mountArgs(policy([r('/h/.aws', 'deny-read'), r('/h/.aws/config', 'read-only', 'file')]));
  assert.deepEqual(m, [['--tmpfs', '/h/.aws'], ['--remount-ro', '/h/.aws']]);
});

test('missing protected paths inside a writable area become placeholders; missing elsewhere need nothing', () => {
  const plan = planLinux(policy([r('/p', 'read-write'), r('/p/.envrc', 'read-only', 'missing'), r('/etc/x', 'read-only', 'missing'), r('/p/gone', 'read-write', 'missing')]), facts, ['true'], fds);
  assert.deepEqual(plan.placeholders, ['/p/.envrc']);
  assert.deepEqual(plan.mounts.map(bwrapMountArgs), [['--bind', '/p', '/p'], ['--ro-bind', '/p/.envrc', '/p/.envrc']]);
  assert.ok(plan.notes.some((n) => n.startsWith('/p/gone: writable path does not exist')));
});

test('a git dir is pinned only where it is writable', () => {
  const m = mountArgs(policy([r('/p', 'read-write'), r('/p/.git', 'pin'), r('/p/.git/hooks', 'read-only'), r('/ro/.git', 'pin')]));
  assert.deepEqual(m, [['--bind', '/p', '/p'], ['--bind', '/p/.git', '/p/.git'], ['--ro-bind', '/p/.git/hooks', '/p/.git/hooks']]);
});

test("a read deny on the host's /tmp entries makes no mount in the private /tmp (it would show their names); in a host directory shown there, it hides", () => {
  const plan = planLinux(policy([r('/p', 'read-write'), r('/tmp/ssh-x/agent.1', 'deny-read', 'file'), r('/tmp/other', 'deny-read'), r('/tmp/a/b/c', 'read-write'), r('/tmp/a/b/c/.env', 'deny-read', 'file')]), facts, ['true'], fds);
  assert.deepEqual(plan.mounts.map(bwrapMountArgs), [['--bind', '/p', '/p'], ['--ro-bind', '/tmp/a', '/tmp/a'], ['--bind', '/tmp/a/b/c', '/tmp/a/b/c'], ['--ro-bind', '/dev/null', '/tmp/a/b/c/.env']]);
  assert.ok(plan.notes.some((n) => n.startsWith("/tmp/ssh-x/agent.1: read-denied path lies in the sandbox's own empty /tmp")));
  assert.ok(plan.notes.some((n) => n.startsWith("/tmp/other: read-denied path lies in the sandbox's own empty /tmp")));
});

test('a working directory under the private /tmp is still bound from the host', () => {
  const m = mountArgs(policy([r('/tmp/w', 'read-write'), r('/tmp/w/.envrc', 'read-only', 'missing')], '/tmp/w'));
  assert.deepEqual(m, [['--bind', '/tmp/w', '/tmp/w'], ['--ro-bind', '/tmp/w/.envrc', '/tmp/w/.envrc']]);
});

test('a project under the private /tmp sees its parents: /tmp/<x> bound read-only first, the project writable on top', () => {
  const rules = [r('/tmp/a/b/c', 'read-write'), r('/tmp/a/b/c/.envrc', 'read-only', 'missing'), r('/tmp/a/b/c/.git', 'pin'), r('/tmp/a/b/c/.git/hooks', 'read-only')];
  const plan = planLinux(policy(rules, '/tmp/a/b/c'), facts, ['true'], fds);
  assert.deepEqual(plan.mounts.map(bwrapMountArgs), [
    ['--ro-bind', '/tmp/a', '/tmp/a'],
    ['--bind', '/tmp/a/b/c', '/tmp/a/b/c'],
    ['--ro-bind', '/tmp/a/b/c/.envrc', '/tmp/a/b/c/.envrc'],
    ['--bind', '/tmp/a/b/c/.git', '/tmp/a/b/c/.git'],
    ['--ro-bind', '/tmp/a/b/c/.git/hooks', '/tmp/a/b/c/.git/hooks'],
  ]);
  assert.match(plan.mounts[0]!.why, /holds \/tmp\/a\/b\/c in the private \/tmp/);
  assert.ok(plan.bwrapArgs.join(' ').includes('--tmpfs /tmp --ro-bind /tmp/a /tmp/a --bind /tmp/a/b/c /tmp/a/b/c'), 'after the private /tmp, before the project');
  assert.deepEqual(plan.placeholders, ['/tmp/a/b/c/.envrc']);
  // The ancestors and their other entries are read-only; the project and the rest of the private /tmp writable.
  for (const p of ['/tmp/a', '/tmp/a/b', '/tmp/a/node_modules', '/tmp/a/sibling/x']) assert.deepEqual(stateOf(p, rules), { readable: true, write: 'ro' }, p);
  for (const p of ['/tmp/a/b/c', '/tmp/a/b/c/src', '/tmp', '/tmp/other', '/tmp/ab']) assert.deepEqual(stateOf(p, rules), { readable: true, write: 'rw' }, p);
  // Landlock still grants the whole private /tmp (the read-only bind is the wall for /tmp/a, as for every read-only island in a writable area).
  assert.deepEqual(plan.landlock.rw, ['/dev', '/tmp', '/tmp/a/b/c']);
  // The helper makes no read-only bind under the private /tmp (it would see the tmpfs, not the host), so none beneath them either.
  const split = planLinux(policy(rules, '/tmp/a/b/c'), { ...facts, helperMounts: true }, ['true'], fds);
  assert.deepEqual(split.mounts.filter((m) => m.byHelper).map((m) => m.path), []);
  assert.ok(split.bwrapArgs.join(' ').includes('--tmpfs /tmp --ro-bind /tmp/a /tmp/a --bind /tmp/a/b/c /tmp/a/b/c --ro-bind /tmp/a/b/c/.envrc'));
});

test('under the private /tmp: one bind per /tmp/<x>; denies stay on top; a missing or denied path shows nothing; a project right in /tmp has no parents to show', () => {
  const m = mountArgs(policy([
    r('/tmp/a/b', 'read-write'), r('/tmp/a/c/d', 'read-write'), r('/tmp/a/.env', 'deny-read', 'file'),
    r('/tmp/m/n', 'read-write', 'missing'), r('/tmp/s', 'deny-read'), r('/tmp/s/t', 'read-only'), r('/tmp/w', 'read-write'),
  ], '/tmp/a/b'));
  // /tmp/s is denied: in the private /tmp it is not there at all (no mount that would show its name).
  assert.deepEqual(m, [
    ['--ro-bind', '/tmp/a', '/tmp/a'], ['--bind', '/tmp/w', '/tmp/w'],
    ['--ro-bind', '/dev/null', '/tmp/a/.env'], ['--bind', '/tmp/a/b', '/tmp/a/b'],
    ['--bind', '/tmp/a/c/d', '/tmp/a/c/d'],
  ]);
});

test('a path re-allowed or made read-only under the private /tmp is the host\'s, read-only (never a writable bind)', () => {
  for (const access of ['allow-read', 'read-only'] as const) {
    assert.deepEqual(mountArgs(policy([r('/p', 'read-write'), r('/tmp/data', access)])), [['--bind', '/p', '/p'], ['--ro-bind', '/tmp/data', '/tmp/data']], access);
    assert.deepEqual(mountArgs(policy([r('/p', 'read-write'), r('/tmp/data/set', access)])), [['--bind', '/p', '/p'], ['--ro-bind', '/tmp/data', '/tmp/data']], access);
  }
});

test('an explicit host /tmp replaces the private one', () => {
  const plan = planLinux(policy([r('/tmp', 'read-write'), r('/p', 'read-write')]), facts, ['true'], fds);
  assert.ok(!plan.bwrapArgs.join(' ').includes('--tmpfs /tmp'));
  assert.deepEqual(plan.mounts.map(bwrapMountArgs), [['--bind', '/p', '/p'], ['--bind', '/tmp', '/tmp']]);
});

test('landlock: no-delete paths need ABI 3 (truncation), else ABI 1; the ruleset is planned for the probed ABI and handed to the helper as masks', () => {
  const plan = planLinux(policy([r('/p', 'read-write'), r('/p', 'read-write-no-delete'), r('/p/scratch', 'read-write')]), facts, ['true'], fds);
  const rw = landlockWriteRights(7);
  const nd = landlockNoDeleteRights(7);
  assert.deepEqual(plan.landlock, {
    abi: 7, requiredAbi: 3, mode: 'required', applied: true, handled: rw,
    rules: [{ path: '/dev', access: 'rw', rights: rw }, { path: '/tmp', access: 'rw', rights: rw }, { path: '/p/scratch', access: 'rw', rights: rw }, { path: '/p', access: 'rwnd', rights: nd }],
    rw: ['/dev', '/tmp', '/p/scratch'], rwnd: ['/p'],
  });
  assert.ok(plan.helperArgs.join(' ').includes(`--landlock-handled ${rw} --landlock-rule ${rw} /dev`));
  assert.ok(plan.helperArgs.join(' ').includes(`--landlock-rule ${nd} /p --`));
  // The kernel's numbers: write file 2, remove dir 16, remove file 32, refer 8192 (ABI 2), truncate 16384 (ABI 3).
  assert.equal(landlockWriteRights(1), 0x1ff2);
  assert.equal(landlockWriteRights(2), 0x1ff2 | 0x2000);
  assert.equal(landlockWriteRights(3), 0x1ff2 | 0x2000 | 0x4000);
  assert.equal(landlockWriteRights(7), landlockWriteRights(3));
  assert.equal(nd & (16 | 32 | 0x4000), 0, 'no-delete: no removing, no truncating');
  assert.equal(nd & 2, 2, 'no-delete: writing stays');
  assert.equal(planLinux(policy([r('/p', 'read-write')]), facts, ['true'], fds).landlock.requiredAbi, 1);
  // ABI 1 or 2: the rights that ABI knows, no more (the kernel would refuse the ruleset).
  assert.equal(planLinux(policy([r('/p', 'read-write')]), { ...facts, landlockAbi: 1 }, ['true'], fds).landlock.handled, 0x1ff2);
});

test('landlock: a kernel below what the rules need fails the plan, closed, naming cause and fix; --dangerously-allow-missing-landlock only lets a kernel with none run on the mounts', () => {
  const refused = (p: Policy, f: object, why: RegExp) => assert.throws(() => planLinux(p, { ...facts, ...f }, ['true'], fds), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_KERNEL_FEATURE' && why.test(e.message));
  refused(policy([r('/p', 'read-write')]), { landlockAbi: 0 }, /no Landlock.*--dangerously-allow-missing-landlock/);
  refused(policy([r('/p', 'read-write-no-delete')]), { landlockAbi: 2 }, /ABI 2.*\/p.*ABI 3/);
  refused(policy([r('/p', 'read-write-no-delete')]), { landlockAbi: 0, landlockOptional: true }, /no Landlock.*ABI 3/);
  refused(policy([r('/p', 'read-write-no-delete')]), { landlockAbi: 2, landlockOptional: true }, /ABI 2/);
  // The opt-in: nothing applied, and the helper is told nothing about Landlock.
  const best = planLinux(policy([r('/p', 'read-write')]), { ...facts, landlockAbi: 0, landlockOptional: true }, ['true'], fds);
  assert.deepEqual({ ...best.landlock, rw: [], rwnd: [] }, { abi: 0, requiredAbi: 1, mode: 'best-effort', applied: false, handled: 0, rules: [], rw: [], rwnd: [] });
  assert.ok(!best.helperArgs.some((a) => a.startsWith('--landlock')), best.helperArgs.join(' '));
  // With the opt-in on a kernel that has Landlock, it is applied all the same.
  const opted = planLinux(policy([r('/p', 'read-write')]), { ...facts, landlockAbi: 3, landlockOptional: true }, ['true'], fds);
  assert.equal(opted.landlock.applied, true);
  assert.ok(opted.helperArgs.includes('--landlock-handled'));
});

test('the helper stays reachable when its directory is denied', () => {
  const m = mountArgs(policy([r('/opt', 'deny-read')]));
  assert.deepEqual(m, [['--tmpfs', '/opt'], ['--ro-bind', '/opt/cordon/helper', '/opt/cordon/helper'], ['--remount-ro', '/opt']]);
});

test('the helper stays reachable when it lives under the private /tmp: bound alone, not its directories', () => {
  const plan = planLinux(policy([r('/p', 'read-write')]), { ...facts, helper: '/tmp/co/native/helper' }, ['true'], fds);
  assert.deepEqual(plan.mounts.map(bwrapMountArgs), [['--bind', '/p', '/p'], ['--ro-bind', '/tmp/co/native/helper', '/tmp/co/native/helper']]);
  // In a /tmp/<x> that the sandbox shows anyway, it needs no bind of its own.
  const inside = planLinux(policy([r('/tmp/co/p', 'read-write')], '/tmp/co/p'), { ...facts, helper: '/tmp/co/native/helper' }, ['true'], fds);
  assert.deepEqual(inside.mounts.map(bwrapMountArgs), [['--ro-bind', '/tmp/co', '/tmp/co'], ['--bind', '/tmp/co/p', '/tmp/co/p']]);
  // So is a granted Unix socket (its directory may hold other programs' sockets).
  const base = policy([r('/p', 'read-write')]);
  const sock = planLinux({ ...base, network: { ...base.network, unixSockets: ['/tmp/ssh-X/agent.1'] } }, facts, ['true'], fds);
  assert.deepEqual(sock.mounts.map(bwrapMountArgs), [['--bind', '/p', '/p'], ['--ro-bind', '/tmp/ssh-X/agent.1', '/tmp/ssh-X/agent.1']]);
});

test('network modes: none has no proxy; filtered points clients at the relay; unfiltered shares the host network; all wait on the block fd', () => {
  const base = policy([r('/p', 'read-write')]);
  const none = planLinux(base, facts, ['true'], fds);
  assert.ok(!none.bwrapArgs.includes('--share-net'));
  // Every sandbox waits for the launcher (its placeholders are made while bubblewrap sets up).
  assert.deepEqual(none.bwrapArgs.slice(-2), ['--block-fd', '7']);
  assert.equal(none.env.HTTP_PROXY, undefined);
  const filtered = planLinux({ ...base, network: { ...base.network, mode: 'filtered' } }, facts, ['true'], fds);
  assert.deepEqual(filtered.bwrapArgs.slice(-2), ['--block-fd', '7']);
  assert.ok(filtered.bwrapArgs.includes('--unshare-all') && !filtered.bwrapArgs.includes('--share-net'));
  assert.equal(filtered.env.HTTPS_PROXY, 'http://127.0.0.1:3128');
  assert.equal(filtered.env.ALL_PROXY, 'http://127.0.0.1:3128');
  assert.equal(filtered.env.CORDON_SOCKS_PROXY, 'socks5h://127.0.0.1:1080');
  assert.ok(!Object.values(filtered.env).some((v) => /@/.test(v)), 'no credentials in the environment');
  assert.equal(filtered.env.GIT_SSH_COMMAND, "ssh -o ProxyCommand='/opt/cordon/helper connect %h %p'");
  const oddHelper = planLinux({ ...base, network: { ...base.network, mode: 'filtered' } }, { ...facts, helper: "/opt/it's here/helper" }, ['true'], fds);
  assert.equal(oddHelper.env.GIT_SSH_COMMAND, undefined, 'a helper path that needs shell quoting is never spliced into a command');
  const open = planLinux({ ...base, network: { ...base.network, mode: 'dangerously-unfiltered' } }, facts, ['true'], fds);
  assert.deepEqual(open.bwrapArgs.slice(0, 2), ['--unshare-all', '--share-net']);
});

test('helperSplit: read-only binds move to the helper unless that would change the stack of mounts', () => {
  const KIND: Record<string, MountOp['kind']> = { '--bind': 'bind-rw', '--tmpfs': 'tmpfs', '--remount-ro': 'remount-ro' };
  const op = (args: string[], path = args[args.length - 1]!): MountOp => ({ kind: args[0] === '--ro-bind' ? (args[1] === '/dev/null' ? 'hide-file' : 'bind-ro') : KIND[args[0]!]!, path, why: 'test' });
  const ops = [
    op(['--bind', '/p', '/p']),
    op(['--ro-bind', '/dev/null', '/etc/shadow']),
    op(['--tmpfs', '/h/.ssh']),
    op(['--ro-bind', '/h/.ssh/known_hosts', '/h/.ssh/known_hosts']), // inside a tmpfs: its source is the host's
    op(['--ro-bind', '/p/.envrc', '/p/.envrc']),
    op(['--ro-bind', '/p/sub', '/p/sub']), // a later bubblewrap mount lies beneath it
    op(['--bind', '/p/sub/.git', '/p/sub/.git']),
    op(['--ro-bind', '/p/sub/.git/hooks', '/p/sub/.git/hooks']),
    op(['--ro-bind', '/tmp/x', '/tmp/x']), // inside the private /tmp
    op(['--ro-bind', '/opt/cordon/helper', '/opt/cordon/helper']), // the helper must be visible to start
    op(['--remount-ro', '/h/.ssh']),
  ];
  const split = helperSplit(ops, true, { helper: '/opt/cordon/helper', helperMounts: true });
  assert.deepEqual(split.filter((m) => m.byHelper).map((m) => m.path), ['/etc/shadow', '/p/.envrc', '/p/sub/.git/hooks']);
  assert.deepEqual(split.map((m) => m.path), ops.map((m) => m.path), 'order is kept');
  assert.equal(helperSplit(ops, true, { helper: '/opt/cordon/helper', helperMounts: false }).some((m) => m.byHelper), false);
  // A later bubblewrap mount above a read-only bind keeps it with bubblewrap too.
  const above = helperSplit([op(['--ro-bind', '/a/b', '/a/b']), op(['--bind', '/a', '/a'])], false, { helper: '/x', helperMounts: true });
  assert.equal(above.some((m) => m.byHelper), false);
  // A name that only starts like it is another path: no order to keep.
  const sibling = helperSplit([op(['--ro-bind', '/a/b', '/a/b']), op(['--bind', '/a/bc', '/a/bc']), op(['--bind', '/a/b.d/x', '/a/b.d/x'])], false, { helper: '/x', helperMounts: true });
  assert.deepEqual(sibling.filter((m) => m.byHelper).map((m) => m.path), ['/a/b']);
});

test('with the helper mounting: its argv carries the read-only mounts in order, bubblewrap adds the two capabilities it needs', () => {
  const plan = planLinux(policy([r('/p', 'read-write'), r('/p/.envrc', 'read-only', 'missing'), r('/h/.npmrc', 'deny-read', 'file')]), { ...facts, helperMounts: true }, ['true'], fds);
  assert.deepEqual(plan.helperArgs.slice(0, 10), ['/opt/cordon/helper', 'run', '--ready-fd', '6', '--seccomp-fd', '5', '--null', '/h/.npmrc', '--ro', '/p/.envrc']);
  const a = plan.bwrapArgs.join(' ');
  assert.ok(a.includes('--cap-drop ALL --cap-add CAP_SYS_ADMIN --cap-add CAP_SETPCAP'), a);
  assert.ok(!a.includes('/p/.envrc') && !a.includes('/h/.npmrc'), a);
  assert.deepEqual(plan.placeholders, ['/p/.envrc']);
  assert.deepEqual(plan.mounts.map((m) => [m.path, m.byHelper === true]), [['/p', false], ['/h/.npmrc', true], ['/p/.envrc', true]]);
});

test('a working directory hidden by a read deny gets a warning naming the deny; re-allowed or outside it, none', () => {
  const hidden = planLinux(policy([r('/h/.ssh', 'deny-read'), r('/h/.ssh/keys', 'read-write')], '/h/.ssh/keys'), facts, ['true'], fds);
  assert.deepEqual(hidden.warnings, ['the working directory /h/.ssh/keys is hidden by /h/.ssh (test): the command sees it empty and cannot write there. Re-allow it (--allow-read /h/.ssh) or run cordon from another directory']);
  const reopened = planLinux(policy([r('/h/.ssh', 'deny-read'), r('/h/.ssh/keys', 'allow-read'), r('/h/.ssh/keys', 'read-write')], '/h/.ssh/keys'), facts, ['true'], fds);
  assert.deepEqual(reopened.warnings, []);
  assert.deepEqual(planLinux(policy([r('/h/.ssh', 'deny-read'), r('/p', 'read-write')]), facts, ['true'], fds).warnings, []);
});

test('caches a tool cannot work without (npm, Go builds) go to the private /tmp when their usual place is read-only', () => {
  const env = (rules: FsRule[], xdgCacheHome?: string) => {
    const e = planLinux({ ...policy(rules), home: '/h' }, { ...facts, ...(xdgCacheHome ? { xdgCacheHome } : {}) }, ['true'], fds).env;
    return { npm: e.npm_config_cache, go: e.GOCACHE };
  };
  assert.deepEqual(env([r('/p', 'read-write')]), { npm: '/tmp/.cache/npm', go: '/tmp/.cache/go-build' });
  // Run in the home directory: ~/.npm and ~/.cache are writable, the tools use them.
  assert.deepEqual(env([r('/h', 'read-write')]), { npm: undefined, go: undefined });
  // Go follows XDG_CACHE_HOME; npm does not.
  assert.deepEqual(env([r('/p', 'read-write')], '/p/.cache'), { npm: '/tmp/.cache/npm', go: undefined });
  // A deny on the usual place: not usable either.
  assert.deepEqual(env([r('/h', 'read-write'), r('/h/.npm', 'deny-read')]), { npm: '/tmp/.cache/npm', go: undefined });
  // The host's /tmp (another user could prepare the directory there): never.
  assert.deepEqual(env([r('/p', 'read-write'), r('/tmp', 'read-write')]), { npm: undefined, go: undefined });
});

test('a rule at /tmp itself: only a write rule makes the host\'s /tmp writable; allow-read and read-only show it read-only, never bound writable', () => {
  for (const access of ['allow-read', 'read-only'] as const) {
    const plan = planLinux(policy([r('/p', 'read-write'), r('/tmp', access)]), facts, ['true'], fds);
    const a = plan.bwrapArgs.join(' ');
    assert.ok(!a.includes('--tmpfs /tmp'), `${access}: the host's /tmp is shown, not the private one`);
    assert.ok(!plan.mounts.some((m) => m.path === '/tmp' && m.kind === 'bind-rw'), `${access}: ${a}`);
    assert.equal(stateOf('/tmp/x', [r('/tmp', access)], false).write, 'ro');
    assert.ok(!plan.landlock.rw.includes('/tmp'), `${access}: /tmp gets no Landlock write right`);
    assert.equal(plan.env.TMPDIR, undefined, `${access}: the caller's TMPDIR stays (/tmp is read-only)`);
  }
  const rw = planLinux(policy([r('/p', 'read-write'), r('/tmp', 'read-write')]), facts, ['true'], fds);
  assert.ok(rw.mounts.some((m) => m.path === '/tmp' && m.kind === 'bind-rw'), 'a write rule: the host\'s /tmp, writable');
  const none = planLinux(policy([r('/p', 'read-write')]), facts, ['true'], fds);
  assert.ok(none.bwrapArgs.join(' ').includes('--tmpfs /tmp'), 'no rule: the private /tmp');
});
