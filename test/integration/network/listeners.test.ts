/**
 * Every listener cordon opens is reachable only by the session that owns it.
 * cordon listens in two places (src/ and native/ hold no other listen()):
 *
 *  1. the proxies' Unix sockets (proxy/proxies.ts), in a 0700 directory of
 *     cordon's state directory, one per session (a library handle, a CLI
 *     run); every connection must open with a live command's secret of
 *     that session (proxy/auth.ts);
 *  2. the relay's TCP listeners, 127.0.0.1:3128 and :1080, inside the
 *     network namespace of one sandbox (native/cordon-relay.c): one per
 *     command, carrying that command's secret.
 *
 * (The relay's dialer talks over a socketpair, the helper's notifications
 * over a seccomp descriptor: neither is a listener.)
 *
 * Each is tried by the others that could reach for it: another session's
 * secret, an ended command's, none at all, another local user; for the
 * relay, this host's network namespace (as root and as another user),
 * another handle's sandbox, another cordon run's sandbox, a sandbox with no
 * network, and another user entering the sandbox's namespace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { chmodSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { tempDir } from '../../helpers/tmp.js';
import { CLI, makeWorld, testUser } from '../../helpers/cordon.js';
import { preamble } from '../../../src/proxy/auth.js';
import { startNetworkSession } from '../../../src/network-session.js';
import { networkSpec } from '../../../src/policy/policy.js';
import { parseSettings } from '../../../src/policy/settings.js';

process.env.XDG_STATE_HOME = realpathSync(tempDir(join(tmpdir(), 'cordon-listeners-state-')));
const { createSandbox } = await import('cordon');

async function server(): Promise<{ s: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const s = createServer((req, res) => { paths.push(req.url ?? ''); res.end('ok\n'); });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { s, port: (s.address() as AddressInfo).port, paths };
}

/** Bytes sent to a Unix socket (a preamble, then `data`) and everything answered until it closes. */
function exchange(path: string, pre: Buffer | undefined, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('close', () => resolve(Buffer.concat(parts).toString()));
    s.on('error', reject);
    if (pre) s.write(pre);
    s.write(data);
  });
}

function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

test('the proxies\' Unix sockets: only a live command of their own session opens anything; another session\'s secret, an ended command\'s, none, and another local user get nothing', { timeout: 60_000 }, async () => {
  const u = testUser()!;
  const target = await server();
  // A state directory others may pass through (0711), so the session's own directory is what stops them.
  const state = tempDir(join('/var/tmp', 'cordon-listeners-'));
  chmodSync(state, 0o711);
  const spec = { ...networkSpec([parseSettings(JSON.stringify({ network: { allowedDomains: [`127.0.0.1:${target.port}`] } }), 't')], { denyRead: [], allowRead: [], allowWrite: [], denyWrite: [], allowWriteNoDelete: [] }), unixSockets: [] };
  const foreignA: string[] = [];
  const sessionA = await startNetworkSession(spec, state, '/unused-relay', (e) => foreignA.push(e.reason ?? ''));
  const sessionB = await startNetworkSession(spec, state, '/unused-relay');
  try {
    const a = sessionA.attach(() => {});
    const b = sessionB.attach(() => {});
    const ended = sessionA.attach(() => {});
    ended.release();
    const get = (p: string) => `GET http://127.0.0.1:${target.port}${p} HTTP/1.1\r\nHost: 127.0.0.1:${target.port}\r\nConnection: close\r\n\r\n`;
    for (const socket of [a.bridge.httpSocket, a.bridge.socksSocket]) {
      const isHttp = socket === a.bridge.httpSocket;
      const req = isHttp ? get('/other') : '\x05\x01\x00';
      assert.equal(await exchange(socket, preamble(b.bridge.secret), req), '', 'another session\'s secret');
      assert.equal(await exchange(socket, preamble(ended.bridge.secret), req), '', 'an ended command\'s secret');
      assert.equal(await exchange(socket, undefined, req.padEnd(60, ' ')), '', 'no secret');
    }
    assert.equal(foreignA.filter((r) => r === 'no-session-secret').length, 6);
    // Control: the session's own live command is answered.
    assert.match(await exchange(a.bridge.httpSocket, preamble(a.bridge.secret), get('/own')), /^HTTP\/1\.1 200 /);
    assert.deepEqual(target.paths, ['/own']);

    // Its directory is private to this user; another local user cannot even connect.
    const dir = dirname(a.bridge.httpSocket);
    assert.notEqual(dir, dirname(b.bridge.httpSocket));
    const st = statSync(dir);
    assert.equal(st.mode & 0o777, 0o700);
    assert.equal(st.uid, process.getuid!());
    const probe = `const s = require('node:net').connect(process.argv[1]); s.on('connect', () => { console.log('connected'); s.destroy(); }); s.on('error', (e) => console.log(e.code));`;
    for (const socket of [a.bridge.httpSocket, a.bridge.socksSocket]) {
      const r = spawnSync('runuser', ['-u', u.name, '--', process.execPath, '-e', probe, socket], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.stdout.trim(), 'EACCES', r.stderr);
    }
    a.release();
    b.release();
  } finally {
    await Promise.all([sessionA.close(), sessionB.close()]);
    target.s.close();
  }
});

test('the relay\'s listener is reachable only inside its own sandbox: not from this host (root or another user), another handle\'s sandbox, another cordon run, a sandbox with no network, or another user entering its namespace', { timeout: 120_000 }, async () => {
  const u = testUser()!;
  const w = makeWorld();
  const target = await server();
  const allow = { network: { allowedDomains: [`127.0.0.1:${target.port}`] } };
  const owner = await createSandbox({ cwd: w.proj, env: w.env, settings: allow });
  const other = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { mode: 'filtered', allowedDomains: [] } } });
  const offline = await createSandbox({ cwd: w.proj, env: w.env });
  const marker = `listener-${randomBytes(6).toString('hex')}`;
  const via = (path: string) => `curl --noproxy '' -s -o /dev/null -w '%{http_code}' -x http://127.0.0.1:3128 http://127.0.0.1:${target.port}/${path}`;
  try {
    // The owner: one request, then it waits (its relay listening) while the others try, then one more.
    const child = owner.spawn('/bin/sh', ['-c', `: ${marker}; ${via('owner-before')}; echo; read _; ${via('owner-after')}; echo`]);
    let out = '';
    child.on('spawn', () => child.stdout!.on('data', (d: Buffer) => { out += d.toString(); }));
    const closed = new Promise<number>((r) => child.on('close', (c: number) => r(c)));
    while (!out.includes('\n')) await new Promise((r) => setTimeout(r, 20));
    assert.equal(out, '200\n');

    // A process of the sandbox, in its network namespace (not this one's).
    const ownNet = readlinkSync('/proc/self/ns/net');
    const pid = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).find((p) => {
      try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(marker) && readlinkSync(`/proc/${p}/ns/net`) !== ownNet; } catch { return false; }
    });
    assert.ok(pid, 'the sandbox\'s process');

    const attempts = await Promise.all([
      run('/bin/sh', ['-c', via('host-root')]),
      run('runuser', ['-u', u.name, '--', '/bin/sh', '-c', via('host-user')]),
      run('runuser', ['-u', u.name, '--', 'nsenter', `--net=/proc/${pid}/ns/net`, '/bin/sh', '-c', via('nsenter-user')]),
      other.exec('/bin/sh', ['-c', `${via('other-handle')}; nsenter --net=/proc/${pid}/ns/net /bin/sh -c "${via('other-handle-nsenter')}" 2>/dev/null || echo " no-nsenter"`]),
      offline.exec('/bin/sh', ['-c', via('no-network')]),
      run(process.execPath, [CLI, '--network', 'filtered', '--', '/bin/sh', '-c', via('other-run')], { cwd: w.proj, env: w.env }),
    ]);
    const [hostRoot, hostUser, nsenterUser, otherHandle, noNetwork, otherRun] = attempts;
    assert.equal(hostRoot!.stdout, '000', 'nothing listens there in this host\'s namespace');
    assert.equal(hostUser!.stdout, '000');
    assert.notEqual(nsenterUser!.status, 0);
    assert.match(nsenterUser!.stderr, /Permission denied|Operation not permitted/);
    assert.equal(otherHandle!.stdout, '403 no-nsenter\n', 'its own relay, judged by its own rules');
    assert.equal(noNetwork!.stdout, '000');
    assert.equal(otherRun!.stdout, '403', otherRun!.stderr);

    child.stdin!.end('\n');
    assert.equal(await closed, 0);
    assert.equal(out, '200\n200\n');
    assert.deepEqual(target.paths, ['/owner-before', '/owner-after'], 'only the owner\'s requests arrived');
  } finally {
    await Promise.all([owner.close(), other.close(), offline.close()]);
    target.s.close();
  }
});
