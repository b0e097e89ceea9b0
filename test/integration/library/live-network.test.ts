/**
 * Live updates of a handle's network lists (sandbox.setNetwork) with real
 * clients inside a running command: curl through the real relay and proxies
 * (plain HTTP, a CONNECT tunnel, SOCKS5) and a kept-alive connection held
 * open across the update, to loopback servers on the host. Allowed, then
 * refused after the update, and the reverse, within one running command;
 * deny lists too; the update is validated like settings and changes nothing
 * when refused; a running command keeps its network mode; a command's
 * overlay stays narrower than the handle after an update.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '../../helpers/tmp.js';
import { makeWorld, ROOT, testUser } from '../../helpers/cordon.js';

process.env.XDG_STATE_HOME = realpathSync(tempDir(join(tmpdir(), 'cordon-lib-live-state-')));
const { createSandbox, CordonError } = await import('cordon');
type SandboxChild = import('cordon').SandboxChild;

async function server(): Promise<{ s: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const s = createServer((req, res) => { paths.push(req.url ?? ''); res.end('ok\n'); });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { s, port: (s.address() as AddressInfo).port, paths };
}

/**
 * One line per way out to 127.0.0.1:PORT: `http 200`, `connect 200` (the
 * CONNECT answer), `socks 200`; a refusal is `http 403`, `connect 403`,
 * `socks 000` (SOCKS5 answers "not allowed", so no HTTP status at all).
 */
const PROBE = `probe() {
  echo "http $(curl --noproxy '' -s -o /dev/null -w '%{http_code}' -x "$HTTP_PROXY" http://127.0.0.1:$1/http)"
  echo "connect $(curl --noproxy '' -s -o /dev/null -w '%{http_connect}' -p -x "$HTTP_PROXY" http://127.0.0.1:$1/connect)"
  echo "socks $(curl --noproxy '' -s -o /dev/null -w '%{http_code}' -x "$CORDON_SOCKS_PROXY" http://127.0.0.1:$1/socks)"
}`;
const allowed = 'http 200\nconnect 200\nsocks 200\n';
const refused = 'http 403\nconnect 403\nsocks 000\n';

/** A command that runs `steps` one at a time: each prints, then waits for a line on stdin. */
function stepper(sb: Awaited<ReturnType<typeof createSandbox>>, steps: readonly string[], opts: Parameters<typeof sb.spawn>[2] = {}) {
  const child: SandboxChild = sb.spawn('/bin/sh', ['-c', `${PROBE}\n${steps.map((s) => `${s}; echo --; read _`).join('\n')}`], opts);
  let out = '';
  let waiting: { n: number; resolve: (s: string) => void } | undefined;
  let seen = 0;
  const check = () => {
    const parts = out.split('--\n');
    if (waiting && parts.length - 1 >= waiting.n) {
      const w = waiting;
      waiting = undefined;
      w.resolve(parts[w.n - 1]!);
    }
  };
  child.on('spawn', () => child.stdout!.on('data', (d: Buffer) => { out += d.toString(); check(); }));
  const closed = new Promise<number>((r) => child.on('close', (c: number) => r(c)));
  return {
    child,
    /** The next step's output (then the step waits for next()). */
    output(): Promise<string> {
      seen++;
      return new Promise((resolve) => { waiting = { n: seen, resolve }; check(); });
    },
    next(): void { child.stdin!.write('\n'); },
    async end(): Promise<number> { child.stdin!.end('\n\n\n\n\n\n'); return closed; },
  };
}

test('allowed, then refused after setNetwork, within one running command: HTTP, CONNECT, SOCKS5', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  const a = await server();
  const b = await server();
  const sb = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { allowedDomains: [`127.0.0.1:${a.port}`] } } });
  try {
    const run = stepper(sb, [`probe ${a.port}; probe ${b.port}`, `probe ${a.port}; probe ${b.port}`]);
    assert.equal(await run.output(), allowed + refused);
    sb.setNetwork({ allowedDomains: [`127.0.0.1:${b.port}`] });
    run.next();
    assert.equal(await run.output(), refused + allowed);
    assert.equal(await run.end(), 0);
    assert.deepEqual(a.paths, ['/http', '/connect', '/socks']);
    assert.deepEqual(b.paths, ['/http', '/connect', '/socks']);
    // Each refusal after the update names the rule it was judged by.
    const after = run.child.violations.filter((v) => v.type === 'net.refused' && v.port === a.port);
    assert.equal(after.length, 3);
    for (const v of after) assert.equal(v.type === 'net.refused' && v.reason, 'ip-literal-not-allowlisted');
  } finally {
    await sb.close();
    a.s.close();
    b.s.close();
  }
});

test('a domain an untrusted project file repeats is taken away by setNetwork as well: the project only narrows the handle as it is now', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  const a = await server();
  mkdirSync(join(w.proj, '.cordon'), { recursive: true });
  writeFileSync(join(w.proj, '.cordon', 'settings.json'), JSON.stringify({ network: { allowedDomains: [`127.0.0.1:${a.port}`] } }));
  const sb = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { allowedDomains: ['127.0.0.1', '203.0.113.9'] } } });
  try {
    const run = stepper(sb, [`probe ${a.port}`, `probe ${a.port}`]);
    assert.equal(await run.output(), allowed);
    sb.setNetwork({ allowedDomains: ['203.0.113.9'] });
    run.next();
    assert.equal(await run.output(), refused);
    assert.equal(await run.end(), 0);
    assert.deepEqual(a.paths, ['/http', '/connect', '/socks']);
  } finally {
    await sb.close();
    a.s.close();
  }
});

test('refused, then allowed after setNetwork, within one running command; a deny added and removed the same way', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  const a = await server();
  const sb = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { mode: 'filtered', allowedDomains: [] } } });
  try {
    const run = stepper(sb, [`probe ${a.port}`, `probe ${a.port}`, `probe ${a.port}`, `probe ${a.port}`]);
    assert.equal(await run.output(), refused);
    sb.setNetwork({ allowedDomains: [`127.0.0.1:${a.port}`] });
    run.next();
    assert.equal(await run.output(), allowed);
    sb.setNetwork({ deniedDomains: ['127.0.0.1'] });
    run.next();
    assert.equal(await run.output(), refused, 'a deny wins over the allow that is still there');
    sb.setNetwork({ deniedDomains: [] });
    run.next();
    assert.equal(await run.output(), allowed);
    assert.equal(await run.end(), 0);
    assert.equal(a.paths.length, 6);
  } finally {
    await sb.close();
    a.s.close();
  }
});

test('a kept-alive client connection: its next request is judged by the rules of the moment', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  const a = await server();
  const sb = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { allowedDomains: [`127.0.0.1:${a.port}`] } } });
  // One TCP connection to the HTTP proxy, a request on it, a pause (a line on stdin), a second request on the same connection.
  const client = `
    const net = require('node:net');
    const s = net.connect(3128, '127.0.0.1');
    let buf = '';
    const req = (p) => s.write('GET http://127.0.0.1:${a.port}' + p + ' HTTP/1.1\\r\\nHost: 127.0.0.1:${a.port}\\r\\n\\r\\n');
    const status = () => new Promise((r) => { const f = () => { const m = /^HTTP\\/1\\.1 (\\d+)[^]*?\\r\\n\\r\\n/.exec(buf); const len = m && /content-length: (\\d+)/i.exec(m[0]); if (m && len && buf.length >= m[0].length + Number(len[1])) { buf = buf.slice(m[0].length + Number(len[1])); s.off('data', d); r(m[1]); } }; const d = (x) => { buf += x; f(); }; s.on('data', d); f(); });
    (async () => {
      req('/first'); console.log('first ' + await status());
      await new Promise((r) => process.stdin.once('data', r));
      req('/second'); console.log('second ' + await status());
      s.end(); process.stdin.destroy();
    })();`;
  try {
    const child = sb.spawn('/usr/bin/node', ['-e', client]);
    let out = '';
    const lines = (n: number) => new Promise<void>((r) => { const f = () => { if (out.split('\n').length > n) r(); else setTimeout(f, 20); }; f(); });
    child.on('spawn', () => child.stdout!.on('data', (d: Buffer) => { out += d.toString(); }));
    const closed = new Promise<number>((r) => child.on('close', (c: number) => r(c)));
    await lines(1);
    assert.equal(out, 'first 200\n');
    sb.setNetwork({ allowedDomains: [] });
    child.stdin!.write('go\n');
    assert.equal(await closed, 0);
    assert.equal(out, 'first 200\nsecond 403\n');
    assert.deepEqual(a.paths, ['/first']);
  } finally {
    await sb.close();
    a.s.close();
  }
});

test('setNetwork is validated like settings and changes nothing when it refuses; it cannot change the mode', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  const a = await server();
  const sb = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { allowedDomains: [`127.0.0.1:${a.port}`] } } });
  try {
    const run = stepper(sb, [`probe ${a.port}`, `probe ${a.port}`]);
    assert.equal(await run.output(), allowed);
    const bad: [unknown, string, string][] = [
      [{ allowedDomains: ['example.com', 'http://x/'] }, 'CORDON_ERR_SETTINGS_INVALID', 'network.allowedDomains[1]'],
      [{ deniedDomains: 'example.com' }, 'CORDON_ERR_SETTINGS_INVALID', 'network.deniedDomains'],
      [{ mode: 'none' }, 'CORDON_ERR_USAGE', 'network.mode'],
      [{ denyPrivateAddresses: true }, 'CORDON_ERR_USAGE', 'denyPrivateAddresses'],
      [null, 'CORDON_ERR_USAGE', 'setNetwork'],
    ];
    for (const [lists, code, key] of bad) {
      assert.throws(() => sb.setNetwork(lists as never), (e: unknown) => e instanceof CordonError && e.code === code && e.message.includes(key), key);
    }
    run.next();
    assert.equal(await run.output(), allowed, 'the rules are the ones before the refused calls');
    assert.equal(await run.end(), 0);
  } finally {
    await sb.close();
    a.s.close();
  }
  assert.throws(() => sb.setNetwork({ allowedDomains: [] }), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_USAGE' && /closed/.test(e.message));
});

test('a running command keeps its network mode: one started with no network gains none; a command started after the update gets the new lists', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  const a = await server();
  const sb = await createSandbox({ cwd: w.proj, env: w.env });
  try {
    const run = stepper(sb, [`probe ${a.port}`, `probe ${a.port}`]);
    const none = 'http 000\nconnect 000\nsocks 000\n';
    assert.equal(await run.output(), none);
    sb.setNetwork({ allowedDomains: [`127.0.0.1:${a.port}`] });
    run.next();
    assert.equal(await run.output(), none);
    const later = await sb.exec('/bin/sh', ['-c', `${PROBE}\nprobe ${a.port}`]);
    assert.equal(later.stdout, allowed);
    assert.equal(await run.end(), 0);
  } finally {
    await sb.close();
    a.s.close();
  }
});

test('after an update, a narrowing overlay still allows only what the handle allows; a widening one keeps its own list; the handle\'s denies reach both', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  const a = await server();
  const b = await server();
  const c = await server();
  const sb = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { allowedDomains: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] } } });
  try {
    const steps = [1, 2, 3].map(() => `probe ${a.port}; probe ${b.port}; probe ${c.port}`);
    const narrow = stepper(sb, steps, { policy: { network: { allowedDomains: [`127.0.0.1:${a.port}`] } } });
    const wide = stepper(sb, steps, { policy: { network: { allowedDomains: [`127.0.0.1:${a.port}`, `127.0.0.1:${c.port}`] } }, widen: true });
    assert.equal(await narrow.output(), allowed + refused + refused);
    assert.equal(await wide.output(), allowed + refused + allowed);
    // The handle no longer allows a: the narrowed command loses it; the widened one keeps its own list.
    sb.setNetwork({ allowedDomains: [`127.0.0.1:${b.port}`] });
    narrow.next();
    wide.next();
    assert.equal(await narrow.output(), refused + refused + refused);
    assert.equal(await wide.output(), allowed + refused + allowed);
    // A deny of the handle's reaches every command.
    sb.setNetwork({ deniedDomains: [`127.0.0.1:${c.port}`] });
    narrow.next();
    wide.next();
    assert.equal(await narrow.output(), refused + refused + refused);
    assert.equal(await wide.output(), allowed + refused + refused);
    assert.deepEqual(await Promise.all([narrow.end(), wide.end()]), [0, 0]);
  } finally {
    await sb.close();
    for (const s of [a, b, c]) s.s.close();
  }
});

test('as an unprivileged user: allowed, then refused after setNetwork, within one running command', { timeout: 60_000 }, async () => {
  const u = testUser()!;
  const w = makeWorld({ owner: u });
  const a = await server();
  const program = `
    const { createSandbox } = await import(${JSON.stringify(join(ROOT, 'dist', 'bundle', 'sandbox.mjs'))});
    const sb = await createSandbox({ cwd: ${JSON.stringify(w.proj)}, settings: { network: { allowedDomains: ['127.0.0.1:${a.port}'] } } });
    const child = sb.spawn('/bin/sh', ['-c', ${JSON.stringify(`${PROBE}\nprobe ${a.port}; echo --; read _; probe ${a.port}`)}]);
    let out = '';
    child.on('spawn', () => child.stdout.on('data', (d) => {
      out += d;
      if (out.endsWith('--\\n')) { sb.setNetwork({ allowedDomains: [] }); child.stdin.end('\\n'); }
    }));
    await new Promise((r) => child.on('close', r));
    await sb.close();
    process.stdout.write(out);`;
  const env = Object.entries(w.env).map(([k, v]) => `${k}=${v}`);
  try {
    // Not spawnSync: the server answering the sandbox lives in this process.
    const r = await run('runuser', ['-u', u.name, '--', 'env', '-i', ...env, process.execPath, '--input-type=module', '-e', program], w.proj);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${allowed}--\n${refused}`);
    assert.deepEqual(a.paths, ['/http', '/connect', '/socks']);
  } finally {
    a.s.close();
  }
});

function run(cmd: string, args: string[], cwd: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
