/**
 * git over SSH through cordon: a real sshd in a test host's network
 * namespace, a real ssh client inside the sandbox whose only way out is the
 * CONNECT tunnel that cordon's GIT_SSH_COMMAND (cordon-helper connect) opens
 * through the proxy. Judged by the clone's content and by sshd's own log.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, git } from '../../helpers/cordon.js';
import { createWorld, worldSkipReason, type World } from '../../world/world.js';

const SSHD = '/usr/sbin/sshd';
const noSshd = spawnSync('sh', ['-c', `test -x ${SSHD} && command -v ssh && command -v ssh-keygen`]).status === 0 ? undefined : 'sshd/ssh not installed (apt-get install openssh-server openssh-client)';
const skip = worldSkipReason() ?? noSshd;
const T = { timeout: 60_000 };

describe('git over SSH through the CONNECT tunnel', { skip }, () => {
  let w: World;
  let root: string;
  let sshd: ChildProcess | undefined;
  let commit: string;
  before(async () => {
    w = await createWorld();
    root = realpathSync(mkdtempSync('/var/tmp/cordon-ssh-'));
    chmodSync(root, 0o755);
    for (const d of ['proj', 'home', 'keys', 'sshd']) mkdirSync(join(root, d));
    // A repository to serve, and keys: the client's lives outside ~/.ssh (which cordon hides).
    const work = join(root, 'work');
    mkdirSync(work);
    git(work, 'init', '-q');
    writeFileSync(join(work, 'f.txt'), 'over ssh\n');
    git(work, 'add', '-A');
    git(work, 'commit', '-qm', 'ssh fixture');
    commit = git(work, 'rev-parse', 'HEAD').trim();
    spawnSync('git', ['clone', '-q', '--bare', work, join(root, 'repo.git')]);
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(root, 'sshd', 'host_key')]);
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(root, 'keys', 'id')]);
    writeFileSync(join(root, 'sshd', 'authorized_keys'), readFileSync(join(root, 'keys', 'id.pub')));
    chmodSync(join(root, 'sshd', 'authorized_keys'), 0o600);
    writeFileSync(join(root, 'sshd', 'config'), [
      'Port 22', 'ListenAddress 0.0.0.0', 'ListenAddress ::',
      `HostKey ${join(root, 'sshd', 'host_key')}`,
      `AuthorizedKeysFile ${join(root, 'sshd', 'authorized_keys')}`,
      'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no',
      'UsePAM no', 'StrictModes no', `PidFile ${join(root, 'sshd', 'pid')}`, 'LogLevel VERBOSE',
    ].join('\n') + '\n');
    mkdirSync('/run/sshd', { recursive: true });
    const log = join(root, 'sshd', 'log');
    sshd = spawn('ip', ['netns', 'exec', w.host('api').netns, SSHD, '-D', '-e', '-f', join(root, 'sshd', 'config'), '-E', log], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      await new Promise((r) => setTimeout(r, 30));
      try { if (readFileSync(log, 'utf8').includes('Server listening')) break; } catch { /* not yet */ }
    }
  });
  after(async () => {
    sshd?.kill('SIGTERM');
    await w?.close();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const cordon = (args: string[], script: string) =>
    w.run([process.execPath, CLI, ...args, '--', '/bin/sh', '-c', script], {
      cwd: join(root, 'proj'),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(root, 'home'), LANG: 'C.UTF-8' },
      timeoutMs: 45_000,
    });
  // The test adds only key and host-key options to the command cordon set.
  const clone = () => `GIT_SSH_COMMAND="$GIT_SSH_COMMAND -i ${join(root, 'keys', 'id')} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes" git clone -q ssh://root@`;

  it('git clone over ssh works through the proxy, and only for an allowed host', T, async () => {
    const api = w.host('api');
    const r = await cordon(['--allow-domain', api.fqdn], `${clone()}${api.fqdn}${join(root, 'repo.git')} c && git -C c rev-parse HEAD`);
    assert.equal(r.stdout.trim(), commit, r.stderr);
    const log = readFileSync(join(root, 'sshd', 'log'), 'utf8');
    // The connection reached sshd from the root namespace's side of the veth (the proxy), not from the sandbox.
    const from = /Accepted publickey for root from (\S+)/.exec(log)?.[1];
    assert.ok(from === api.gateway4 || from === api.gateway6 || from === `::ffff:${api.gateway4}`, `sshd saw ${from}`);
    // Control: the same clone without that host allowed is refused by the proxy.
    const no = await cordon(['--allow-domain', w.host('evil').fqdn], `${clone()}${api.fqdn}${join(root, 'repo.git')} d; echo exit=$?`);
    assert.match(no.stderr, /403|refused/);
    assert.match(no.stdout, /exit=128/);
  });
});
