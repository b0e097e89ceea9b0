/**
 * Per-command policy overlays (spawn/exec `policy`, policy/overlay.ts) with
 * real commands: a narrowed command cannot do what the handle's other
 * commands do at the same moment (write, read, connect), as root and as an
 * unprivileged user; an overlay that would widen is refused, naming the key,
 * with nothing run, and works with `widen: true`; a wrong key is refused
 * before anything starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '../../helpers/tmp.js';
import { makeWorld, ROOT, testUser } from '../../helpers/cordon.js';

process.env.XDG_STATE_HOME = realpathSync(tempDir(join(tmpdir(), 'cordon-lib-overlay-state-')));
const { createSandbox, CordonError } = await import('cordon');

async function server(): Promise<{ s: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const s = createServer((req, res) => { paths.push(req.url ?? ''); res.end('ok\n'); });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { s, port: (s.address() as AddressInfo).port, paths };
}

/** The status, or 000 when no connection was made at all. */
const get = (url: string) => `curl --noproxy '' -s -o /dev/null -w '%{http_code}\\n' ${url}`;

/** Rejects with a CordonError of `code` whose message names `key`. */
async function refused(p: Promise<unknown>, code: string, key: string): Promise<InstanceType<typeof CordonError>> {
  const e = await p.then(() => assert.fail('expected a refusal'), (x: unknown) => x);
  assert.ok(e instanceof CordonError, String(e));
  assert.equal(e.code, code, e.message);
  assert.ok(e.message.includes(key), `${key} in: ${e.message}`);
  return e;
}

test('a narrowed command cannot write where the handle\'s other command, running at the same moment, can (directly, through a link it plants, by renaming its own directory)', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  mkdirSync(join(w.proj, 'out'));
  const sb = await createSandbox({ cwd: w.proj, env: w.env });
  try {
    // Both run for the same second: each writes five times, 0.1 s apart.
    const loop = (body: string) => `for i in 1 2 3 4 5; do ${body}; sleep 0.1; done`;
    const [wide, narrow] = await Promise.all([
      sb.exec('/bin/sh', ['-c', loop('touch wide-$i && echo ok')]),
      sb.exec('/bin/sh', ['-c', [
        loop('touch narrow-$i 2>/dev/null && echo wrote || echo refused'),
        'touch out/mine && echo out-ok',
        'ln -s .. out/up && (touch out/up/via-link 2>/dev/null && echo wrote || echo link-refused)',
        'mv out out-moved 2>/dev/null && echo moved || echo rename-refused',
        'touch src/main.js 2>/dev/null && echo wrote || echo existing-refused',
      ].join('; ')], { policy: { filesystem: { allowWrite: ['./out'] } } }),
    ]);
    assert.equal(wide.stdout, 'ok\n'.repeat(5), wide.stderr);
    assert.equal(narrow.stdout, `${'refused\n'.repeat(5)}out-ok\nlink-refused\nrename-refused\nexisting-refused\n`, narrow.stderr);
    for (const i of [1, 2, 3, 4, 5]) {
      assert.ok(existsSync(join(w.proj, `wide-${i}`)));
      assert.ok(!existsSync(join(w.proj, `narrow-${i}`)));
    }
    assert.ok(existsSync(join(w.proj, 'out', 'mine')));
    assert.ok(!existsSync(join(w.proj, 'via-link')));
  } finally {
    await sb.close();
  }
});

test('a narrowed command cannot read what the handle gives the others, nor connect where they connect, at the same moment', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  const a = await server();
  const b = await server();
  writeFileSync(join(w.proj, 'secret.txt'), 'PROJECT-SECRET');
  const sb = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { allowedDomains: [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`] } } });
  try {
    const script = [1, 2, 3].map(() => `grep -q PROJECT-SECRET secret.txt 2>/dev/null && echo read || echo hidden; ${get(`http://127.0.0.1:${a.port}/`)}; ${get(`http://127.0.0.1:${b.port}/`)}; sleep 0.2`).join('; ');
    const [plain, narrow, offline] = await Promise.all([
      sb.exec('/bin/sh', ['-c', script]),
      sb.exec('/bin/sh', ['-c', script], { policy: { filesystem: { denyRead: ['./secret.txt'] }, network: { allowedDomains: [`127.0.0.1:${a.port}`] } } }),
      sb.exec('/bin/sh', ['-c', script], { policy: { network: { mode: 'none' } } }),
    ]);
    assert.equal(plain.stdout, 'read\n200\n200\n'.repeat(3), plain.stderr);
    assert.equal(narrow.stdout, 'hidden\n200\n403\n'.repeat(3), narrow.stderr);
    // No network at all: curl finds no proxy to talk to.
    assert.equal(offline.stdout, 'read\n000\n000\n'.repeat(3), offline.stderr);
    assert.equal(a.paths.length, 6);
    assert.equal(b.paths.length, 3);
    const net = narrow.violations.filter((v) => v.type === 'net.refused');
    assert.equal(net.length, 3);
  } finally {
    await sb.close();
    a.s.close();
    b.s.close();
  }
});

test('an overlay that would widen is refused, naming the key, and nothing runs; with widen: true it applies', { timeout: 90_000 }, async () => {
  const w = makeWorld();
  const a = await server();
  const b = await server();
  const sb = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { allowedDomains: [`127.0.0.1:${a.port}`], denyPrivateAddresses: true } } });
  const none = await createSandbox({ cwd: w.proj, env: w.env });
  // A host daemon's socket, which the handle does not grant.
  const socket = join(w.outside, 'daemon.sock');
  const daemon = createNetServer((c) => c.end('DAEMON\n'));
  await new Promise<void>((r) => daemon.listen(socket, r));
  try {
    const mark = (n: string) => `touch ran-${n}; echo ran`;
    const cases: [string, Record<string, unknown>, string, typeof sb][] = [
      ['write', { filesystem: { allowWrite: ['.', w.outside] } }, 'filesystem.allowWrite[1]', sb],
      ['no-delete', { filesystem: { allowWriteNoDelete: [w.outside] } }, 'filesystem.allowWriteNoDelete[0]', sb],
      ['read', { filesystem: { allowRead: [join(w.home, '.ssh')] } }, 'filesystem.allowRead[0]', sb],
      ['domain', { network: { allowedDomains: [`127.0.0.1:${b.port}`] } }, 'network.allowedDomains[0]', sb],
      ['private', { network: { denyPrivateAddresses: false } }, 'network.denyPrivateAddresses', sb],
      ['unfiltered', { network: { mode: 'dangerously-unfiltered' } }, 'network.mode', sb],
      ['mode', { network: { mode: 'filtered', allowedDomains: [`127.0.0.1:${a.port}`] } }, 'network.mode', none],
      ['gitconfig', { filesystem: { allowGitConfig: true } }, 'filesystem.allowGitConfig', sb],
      ['socket', { network: { allowUnixSockets: [socket] } }, 'network.allowUnixSockets[0]', sb],
      ['ignore', { ignoreViolations: { '*': ['/'] } }, 'ignoreViolations', sb],
      ['ripgrep', { ripgrep: { command: '/bin/true' } }, 'ripgrep', sb],
    ];
    for (const [name, policy, key, handle] of cases) {
      await refused(handle.exec('/bin/sh', ['-c', mark(name)], { policy }), 'CORDON_ERR_OVERLAY_WIDENS', key);
      // spawn: the same refusal as its 'error', then 'close' with 125.
      const child = handle.spawn('/bin/sh', ['-c', mark(name)], { policy });
      const [err, code] = await new Promise<[Error | undefined, number]>((r) => { let e: Error | undefined; child.on('error', (x: Error) => { e = x; }); child.on('close', (c: number) => r([e, c])); });
      assert.equal(code, 125);
      assert.equal((err as InstanceType<typeof CordonError>).code, 'CORDON_ERR_OVERLAY_WIDENS');
    }
    assert.deepEqual(readdirSync(w.proj).filter((n) => n.startsWith('ran-')), [], 'nothing ran');

    // The same overlays, widening on purpose.
    const wrote = await sb.exec('/bin/sh', ['-c', `touch ${w.outside}/widened && echo ok`], { policy: { filesystem: { allowWrite: ['.', w.outside] } }, widen: true });
    assert.equal(wrote.stdout, 'ok\n', wrote.stderr);
    assert.ok(existsSync(join(w.outside, 'widened')));
    const read = await sb.exec('/bin/cat', [join(w.home, '.ssh', 'id_rsa')], { policy: { filesystem: { allowRead: [join(w.home, '.ssh')] } }, widen: true });
    assert.equal(read.stdout, 'SSH-PRIVATE-KEY');
    const other = await sb.exec('/bin/sh', ['-c', `${get(`http://127.0.0.1:${a.port}/`)}; ${get(`http://127.0.0.1:${b.port}/`)}`], { policy: { network: { allowedDomains: [`127.0.0.1:${b.port}`] } }, widen: true });
    assert.equal(other.stdout, '403\n200\n', 'the overlay\'s list is the command\'s whole list');
    const online = await none.exec('/bin/sh', ['-c', get(`http://127.0.0.1:${a.port}/`)], { policy: { network: { mode: 'filtered', allowedDomains: [`127.0.0.1:${a.port}`] } }, widen: true });
    assert.equal(online.stdout, '200\n');
    // ...and the handle's other commands still have only the handle's policy.
    const after = await sb.exec('/bin/sh', ['-c', `touch ${w.outside}/after 2>/dev/null && echo wrote || echo refused; ${get(`http://127.0.0.1:${b.port}/`)}`]);
    assert.equal(after.stdout, 'refused\n403\n');
  } finally {
    await Promise.all([sb.close(), none.close()]);
    daemon.close();
    a.s.close();
    b.s.close();
  }
});

test('narrowing overlays are accepted: a subset of the writable paths and domains, more denies, a stricter mode, no-delete', { timeout: 60_000 }, async () => {
  const w = makeWorld();
  mkdirSync(join(w.proj, 'out'));
  writeFileSync(join(w.proj, 'out', 'keep'), 'k');
  const sb = await createSandbox({ cwd: w.proj, env: w.env });
  try {
    const r = await sb.exec('/bin/sh', ['-c', 'echo new > out/new && echo wrote; rm out/keep 2>/dev/null && echo deleted || echo kept; grep -q readme README.md 2>/dev/null && echo read || echo hidden'], {
      policy: { filesystem: { allowWriteNoDelete: ['./out'], denyRead: ['./README.md'], denyWrite: ['./src'] }, network: { mode: 'none', deniedDomains: ['example.com'] } },
    });
    assert.equal(r.stdout, 'wrote\nkept\nhidden\n', r.stderr);
    assert.ok(existsSync(join(w.proj, 'out', 'keep')));
  } finally {
    await sb.close();
  }
});

test('a wrong overlay is refused before anything starts: an unknown key, a wrong type, not an object, a wrong widen', async () => {
  const w = makeWorld();
  const sb = await createSandbox({ cwd: w.proj, env: w.env });
  try {
    const bad: [unknown, unknown, string, string][] = [
      [{ filesystem: { alowWrite: ['.'] } }, undefined, 'CORDON_ERR_SETTINGS_INVALID', 'filesystem.alowWrite'],
      [{ network: { allowedDomains: 'example.com' } }, undefined, 'CORDON_ERR_SETTINGS_INVALID', 'network.allowedDomains'],
      [{ network: { allowedDomains: ['http://example.com/x'] } }, undefined, 'CORDON_ERR_SETTINGS_INVALID', 'network.allowedDomains[0]'],
      [{ network: { httpProxyPort: 8080 } }, true, 'CORDON_ERR_SETTINGS_INVALID', 'network.httpProxyPort'],
      ['{"filesystem":{}}', undefined, 'CORDON_ERR_USAGE', 'options.policy'],
      [[], undefined, 'CORDON_ERR_USAGE', 'options.policy'],
      [{}, 'yes', 'CORDON_ERR_USAGE', 'options.widen'],
    ];
    for (const [policy, widen, code, key] of bad) {
      const opts = { policy, widen } as unknown as Parameters<typeof sb.spawn>[2];
      assert.throws(() => sb.spawn('/bin/sh', ['-c', 'touch ran'], opts), (e: unknown) => e instanceof CordonError && e.code === code && e.message.includes(key));
      await refused(sb.exec('/bin/sh', ['-c', 'touch ran'], opts), code, key);
    }
    assert.ok(!existsSync(join(w.proj, 'ran')));
  } finally {
    await sb.close();
  }
});

test('as an unprivileged user: a narrowed command cannot write where the handle\'s other command writes; a widening overlay is refused', { timeout: 60_000 }, () => {
  const u = testUser()!;
  const w = makeWorld({ owner: u });
  const program = `
    const { createSandbox } = await import(${JSON.stringify(join(ROOT, 'dist', 'bundle', 'sandbox.mjs'))});
    const sb = await createSandbox({ cwd: ${JSON.stringify(w.proj)} });
    const [wide, narrow] = await Promise.all([
      sb.exec('/bin/sh', ['-c', 'for i in 1 2 3; do touch wide-$i && echo ok; sleep 0.1; done']),
      sb.exec('/bin/sh', ['-c', 'for i in 1 2 3; do touch narrow-$i 2>/dev/null && echo wrote || echo refused; sleep 0.1; done; touch src/ok && echo src-ok'], { policy: { filesystem: { allowWrite: ['./src'] } } }),
    ]);
    const widening = await sb.exec('/bin/sh', ['-c', 'touch ran'], { policy: { filesystem: { allowWrite: ['.', ${JSON.stringify(w.outside)}] } } }).then(() => 'ran', (e) => e.code);
    await sb.close();
    process.stdout.write(JSON.stringify({ wide: wide.stdout, narrow: narrow.stdout, widening }));`;
  const env = Object.entries(w.env).map(([k, v]) => `${k}=${v}`);
  const r = spawnSync('runuser', ['-u', u.name, '--', 'env', '-i', ...env, process.execPath, '--input-type=module', '-e', program], { cwd: w.proj, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { wide: 'ok\nok\nok\n', narrow: 'refused\nrefused\nrefused\nsrc-ok\n', widening: 'CORDON_ERR_OVERLAY_WIDENS' });
  for (const i of [1, 2, 3]) assert.ok(!existsSync(join(w.proj, `narrow-${i}`)));
  assert.ok(!existsSync(join(w.proj, 'ran')));
});

for (const who of ['root', 'an unprivileged user'] as const) {
  test(`an overlay's writable lists are the whole writable set: the handle's no-delete paths go too, and a no-delete-only overlay takes the handle's read-write paths away (${who})`, { timeout: 60_000 }, () => {
    const u = who === 'root' ? undefined : testUser()!;
    const w = makeWorld(u ? { owner: u } : {});
    for (const d of ['w', 'keep']) mkdirSync(join(w.proj, d));
    writeFileSync(join(w.proj, 'w', 'victim'), 'v');
    writeFileSync(join(w.proj, 'keep', 'f'), 'f\n');
    if (u) spawnSync('chown', ['-R', `${u.uid}:${u.gid}`, join(w.proj, 'w'), join(w.proj, 'keep')]);
    const program = `
      const { createSandbox } = await import(${JSON.stringify(join(ROOT, 'dist', 'bundle', 'sandbox.mjs'))});
      const sb = await createSandbox({ cwd: ${JSON.stringify(w.proj)}, settings: { filesystem: { allowWrite: ['./w'], allowWriteNoDelete: ['./keep'] } } });
      const probe = 'echo y >> keep/f 2>/dev/null && echo appended || echo append-refused; touch keep/new 2>/dev/null && echo created || echo create-refused; rm w/victim 2>/dev/null && echo deleted || echo delete-refused; touch w/new 2>/dev/null && echo w-created || echo w-refused';
      const none = await sb.exec('/bin/sh', ['-c', probe], { policy: { filesystem: { allowWrite: [] } } });
      const keepOnly = await sb.exec('/bin/sh', ['-c', probe + '; rm keep/f 2>/dev/null && echo keep-deleted || echo keep-kept'], { policy: { filesystem: { allowWriteNoDelete: ['./keep'] } } });
      await sb.close();
      process.stdout.write(JSON.stringify({ none: none.stdout, keepOnly: keepOnly.stdout }));`;
    const env = Object.entries(w.env).map(([k, v]) => `${k}=${v}`);
    const argv = ['env', '-i', ...env, process.execPath, '--input-type=module', '-e', program];
    const r = u ? spawnSync('runuser', ['-u', u.name, '--', ...argv], { cwd: w.proj, encoding: 'utf8', timeout: 60_000 }) : spawnSync(argv[0]!, argv.slice(1), { cwd: w.proj, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      none: 'append-refused\ncreate-refused\ndelete-refused\nw-refused\n',
      keepOnly: 'appended\ncreated\ndelete-refused\nw-refused\nkeep-kept\n',
    });
    assert.ok(existsSync(join(w.proj, 'w', 'victim')));
    assert.ok(!existsSync(join(w.proj, 'w', 'new')));
  });
}

test('what the proxies apply to every command is fixed by the first: a later command whose project asks for other request rules is refused, nothing run', async () => {
  const w = makeWorld();
  const other = join(w.root, 'other-project');
  mkdirSync(join(other, '.cordon'), { recursive: true });
  writeFileSync(join(other, '.cordon', 'settings.json'), JSON.stringify({ network: { requestRules: [{ hosts: ['127.0.0.1'], methods: ['GET'] }] } }));
  const sandbox = await createSandbox({ cwd: w.proj, settings: { network: { allowedDomains: ['127.0.0.1'] } } });
  try {
    const first = await sandbox.exec('true', []);
    assert.equal(first.exitCode, 0);
    // Its own directory is writable to it: had it run, `ran` would be there.
    const e = await refused(sandbox.exec('touch', ['ran'], { cwd: other }), 'CORDON_ERR_SETTINGS_INVALID', 'request rules');
    assert.match(e.message, /than the handle's proxies apply/);
    assert.ok(!existsSync(join(other, 'ran')), 'nothing ran');
    // A command whose environment names an upstream proxy the handle's proxies do not go through: refused too, not dialed directly.
    const viaProxy = await refused(sandbox.exec('touch', ['ran-proxy'], { env: { ...process.env, HTTPS_PROXY: 'http://user:secret@127.0.0.1:9' } }), 'CORDON_ERR_SETTINGS_INVALID', 'upstream proxies');
    assert.ok(!viaProxy.message.includes('secret'));
    assert.ok(!existsSync(join(w.proj, 'ran-proxy')), 'nothing ran');
    // The handle's own commands go on.
    assert.equal((await sandbox.exec('true', [])).exitCode, 0);
  } finally {
    await sandbox.close();
  }
});
