/**
 * The library (src/sandbox.ts), imported by its package name as users do:
 * the walls hold for commands run through a handle, two handles with
 * different policies live in one process, many commands run at once,
 * spawn has child_process's shape (pipes, kill, AbortSignal), close() ends
 * everything and is safe twice, and the host process's signals are left
 * alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempDir } from '../../helpers/tmp.js';
import { spawnSync } from 'node:child_process';
import { makeWorld, ROOT, testUser } from '../../helpers/cordon.js';

// cordon's state directory for this test process only (it is read once per process).
process.env.XDG_STATE_HOME = realpathSync(tempDir(join(tmpdir(), 'cordon-lib-state-')));
const { createSandbox, CordonError } = await import('cordon');

test('exec: the command\'s output and exit status; it writes in its working directory and nowhere else', async () => {
  const w = makeWorld();
  const sb = await createSandbox({ cwd: w.proj, env: w.env });
  try {
    const r = await sb.exec('/bin/sh', ['-c', `echo out; echo err >&2; touch made; touch ${w.outside}/x 2>/dev/null || echo refused; cat ${w.home}/.ssh/id_rsa 2>/dev/null || echo hidden; exit 7`]);
    assert.equal(r.exitCode, 7);
    assert.equal(r.signal, null);
    assert.equal(r.stdout, 'out\nrefused\nhidden\n');
    assert.equal(r.stderr, 'err\n');
    assert.ok(existsSync(join(w.proj, 'made')));
    assert.ok(!existsSync(join(w.outside, 'x')));
  } finally {
    await sb.close();
  }
});

test('two handles with different policies in one process, each with commands running at the same time', async () => {
  const w = makeWorld();
  const data = join(w.outside, 'data');
  mkdirSync(data);
  const wide = await createSandbox({ cwd: w.proj, env: w.env, settings: { filesystem: { allowWrite: ['.', data] } } });
  const narrow = await createSandbox({ cwd: w.proj, env: w.env });
  try {
    const runs = await Promise.all([0, 1, 2].flatMap((i) => [
      wide.exec('/bin/sh', ['-c', `echo ${i} > ${data}/wide-${i} && echo ok`]),
      narrow.exec('/bin/sh', ['-c', `echo ${i} > ${data}/narrow-${i} 2>/dev/null && echo ok || echo refused`]),
    ]));
    assert.deepEqual(runs.map((r) => r.stdout.trim()), ['ok', 'refused', 'ok', 'refused', 'ok', 'refused']);
    for (const i of [0, 1, 2]) {
      assert.equal(readFileSync(join(data, `wide-${i}`), 'utf8'), `${i}\n`);
      assert.ok(!existsSync(join(data, `narrow-${i}`)));
    }
  } finally {
    await Promise.all([wide.close(), narrow.close()]);
  }
});

test('spawn: pipes both ways, kill() and an AbortSignal end the command; the host\'s own signal handlers are not touched, and cordon\'s go with the last command', async () => {
  const w = makeWorld();
  const sb = await createSandbox({ cwd: w.proj, env: w.env });
  const handlers = process.listenerCount('SIGINT') + process.listenerCount('SIGTERM');
  try {
    const cat = sb.spawn('/bin/cat');
    const echoed = new Promise<string>((resolve) => {
      let out = '';
      cat.on('spawn', () => {
        cat.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
        cat.stdin!.end('through the sandbox\n');
      });
      cat.on('close', () => resolve(out));
    });
    assert.equal(await echoed, 'through the sandbox\n');
    assert.equal(cat.exitCode, 0);

    const sleeper = sb.spawn('/bin/sleep', ['30']);
    await new Promise((r) => sleeper.once('spawn', r));
    // A host with no handler of its own gets cordon's while commands run (host-exit.ts: the step after
    // the run, then the signal again); one with its own handlers keeps them alone. None stays afterwards.
    assert.equal(process.listenerCount('SIGINT') + process.listenerCount('SIGTERM'), handlers === 0 ? 2 : handlers);
    setTimeout(() => sleeper.kill('SIGTERM'), 200);
    const [code] = await new Promise<[number, string | null]>((r) => sleeper.once('close', (c: number, s: string | null) => r([c, s])));
    assert.equal(code, 128 + 15);

    const ac = new AbortController();
    const started = Date.now();
    const aborted = sb.exec('/bin/sleep', ['30'], { signal: ac.signal });
    setTimeout(() => ac.abort(), 200);
    const r = await aborted;
    assert.equal(r.exitCode, 128 + 9);
    assert.ok(Date.now() - started < 20_000);
  } finally {
    await sb.close();
  }
  assert.equal(process.listenerCount('SIGINT') + process.listenerCount('SIGTERM'), handlers, 'a handler stayed on the host process');
});

test('close() kills what still runs, is safe twice, and the handle runs nothing afterwards', async () => {
  const w = makeWorld();
  const sb = await createSandbox({ cwd: w.proj, env: w.env });
  const long = sb.spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
  await new Promise((r) => long.once('spawn', r));
  const closed = new Promise<number>((r) => long.once('close', r));
  await sb.close();
  await sb.close();
  assert.equal(await closed, 128 + 9);
  await assert.rejects(sb.exec('/bin/true'), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_USAGE');
});

test('a second close() called while the first still ends commands waits for the same end', async () => {
  const w = makeWorld();
  const sb = await createSandbox({ cwd: w.proj, env: w.env });
  const long = sb.spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
  await new Promise((r) => long.once('spawn', r));
  const first = sb.close();
  const second = sb.close();
  assert.equal(first, second);
  await second;
  assert.equal(long.exitCode, 128 + 9, 'ended by the time the second close() resolves');
});

test('kill() takes a signal by name or number, as child_process does, and refuses one that does not exist', async () => {
  const w = makeWorld();
  const sb = await createSandbox({ cwd: w.proj, env: w.env });
  try {
    const c = sb.spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => c.once('spawn', r));
    assert.throws(() => c.kill('SIGFOO' as NodeJS.Signals), (e: unknown) => e instanceof TypeError && (e as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_SIGNAL');
    const closed = new Promise<number>((r) => c.once('close', (code: number) => r(code)));
    assert.equal(c.kill(9), true);
    assert.equal(await closed, 128 + 9, 'ended by SIGKILL (9), not by a signal numbered otherwise');
  } finally {
    await sb.close();
  }
});

test('settings nested deeper than any settings are, or circular, are refused with a code; nothing runs', async () => {
  const w = makeWorld();
  let deep: unknown[] = [];
  for (let i = 0; i < 200_000; i++) deep = [deep];
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  for (const settings of [{ credentials: { files: deep } }, { network: { filterRequest: deep } }, circular]) {
    await assert.rejects(createSandbox({ cwd: w.proj, env: w.env, settings }), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_SETTINGS_INVALID' && /nested more than 64 levels/.test(e.message));
  }
  const sb = await createSandbox({ cwd: w.proj, env: w.env });
  try {
    await assert.rejects(sb.exec('/bin/sh', ['-c', 'touch ran'], { policy: { credentials: { envVars: deep } } }), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_SETTINGS_INVALID');
    assert.ok(!existsSync(join(w.proj, 'ran')));
  } finally {
    await sb.close();
  }
  // A settings file as deep: refused by the CLI the same way.
  writeFileSync(join(w.proj, 'deep.json'), `{"credentials":{"files":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`);
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'cordon.cjs'), '--settings', 'deep.json', '--', '/bin/sh', '-c', 'touch ran'], { cwd: w.proj, env: w.env, encoding: 'utf8' });
  assert.equal(r.status, 125);
  assert.match(r.stderr, /deep\.json: nested more than 64 levels/);
  assert.ok(!existsSync(join(w.proj, 'ran')));
});

test('an error from a part loaded on demand (a CA file that is not one, read when the first command starts the proxies) is the exported CordonError', async () => {
  const w = makeWorld();
  writeFileSync(join(w.outside, 'ca.pem'), 'not a certificate\n');
  writeFileSync(join(w.outside, 'ca.key'), 'not a key\n');
  const sb = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { allowedDomains: ['example.com'], tlsTerminate: { caCertPath: join(w.outside, 'ca.pem'), caKeyPath: join(w.outside, 'ca.key') } } } });
  try {
    await assert.rejects(sb.exec('/bin/sh', ['-c', 'touch ran']), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_SETTINGS_INVALID' && /caCertPath holds no PEM certificate/.test(e.message));
    assert.ok(!existsSync(join(w.proj, 'ran')));
  } finally {
    await sb.close();
  }
});

test('options are a settings file\'s keys, validated like one: an unknown key or a wrong type is refused, never ignored', async () => {
  const w = makeWorld();
  await assert.rejects(createSandbox({ cwd: w.proj, env: w.env, settings: { filesystem: { alowWrite: ['.'] } } }), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_SETTINGS_INVALID' && /alowWrite/.test(e.message));
  await assert.rejects(createSandbox({ cwd: w.proj, env: w.env, settings: { network: { allowedDomains: 'example.com' } } }), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_SETTINGS_INVALID');
});

test('the policy\'s warnings reach the caller: a granted Unix socket that is not one is named in warnings, and nothing is granted', async () => {
  const w = makeWorld();
  writeFileSync(join(w.outside, 'plain-file'), 'not a socket');
  const sb = await createSandbox({ cwd: w.proj, env: w.env, settings: { network: { allowUnixSockets: [join(w.outside, 'plain-file')] } } });
  try {
    const r = await sb.exec('python3', ['-c', 'import socket; socket.socket(socket.AF_UNIX)']);
    assert.notEqual(r.exitCode, 0, 'with no grant left, Unix sockets stay refused');
    assert.ok(r.warnings.some((x) => x.includes(`${join(w.outside, 'plain-file')} is not a Unix socket`)), JSON.stringify(r.warnings));
  } finally {
    await sb.close();
  }
});

test('a secret-looking variable of the env option is withheld unless the handle passes it; a command\'s policy may pass one only with widen', async () => {
  const w = makeWorld();
  const env = { ...w.env, GITHUB_TOKEN: 'ghp_lib1', NPM_TOKEN: 'npm_lib2', ORDINARY: 'plain' };
  const sb = await createSandbox({ cwd: w.proj, env, settings: { environment: { pass: ['NPM_TOKEN'] } } });
  try {
    const r = await sb.exec('env');
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(!r.stdout.includes('ghp_lib1'), 'GITHUB_TOKEN reached the command');
    assert.match(r.stdout, /^NPM_TOKEN=npm_lib2$/m);
    assert.match(r.stdout, /^ORDINARY=plain$/m);
    await assert.rejects(sb.exec('env', [], { policy: { environment: { pass: ['GITHUB_TOKEN'] } } }), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_OVERLAY_WIDENS' && /environment\.pass\[0\]/.test(e.message));
    const widened = await sb.exec('env', [], { policy: { environment: { pass: ['GITHUB_TOKEN'] } }, widen: true });
    assert.match(widened.stdout, /^GITHUB_TOKEN=ghp_lib1$/m);
    // A narrowing overlay's pass list is the command's whole list: naming none withholds the handle's too.
    const narrowed = await sb.exec('env', [], { policy: { environment: { pass: [] } } });
    assert.ok(!narrowed.stdout.includes('npm_lib2'), 'NPM_TOKEN reached the command');
  } finally {
    await sb.close();
  }
});

test('the relay a filtered command\'s connections go through starts with no environment: none of the host\'s secrets enter the sandbox\'s namespaces with it', async () => {
  const w = makeWorld();
  const sb = await createSandbox({ cwd: w.proj, env: { ...w.env, GITHUB_TOKEN: 'ghp_relay1' }, settings: { network: { allowedDomains: ['example.invalid'] } } });
  try {
    const child = sb.spawn('sleep', ['3']);
    await new Promise((r) => child.once('spawn', r));
    // This process's own children named cordon-relay (stat: "pid (comm) state ppid ..."); it starts once the sandbox is up.
    const find = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
      try {
        const m = /^\d+ \((.*)\) \S+ (\d+) /.exec(readFileSync(`/proc/${d}/stat`, 'utf8'));
        return m?.[1] === 'cordon-relay' && Number(m[2]) === process.pid;
      } catch { return false; }
    });
    let relays = find();
    for (let i = 0; i < 40 && relays.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      relays = find();
    }
    assert.ok(relays.length > 0, 'no relay running');
    for (const pid of relays) assert.equal(readFileSync(`/proc/${pid}/environ`, 'utf8'), '', `relay ${pid} has an environment`);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
  } finally {
    await sb.close();
  }
});

test('as an unprivileged user: a program that imports cordon runs commands with the same walls', { skip: process.getuid?.() !== 0 ? 'needs root to create the test user (CI runs as root)' : false }, () => {
  const u = testUser()!;
  const w = makeWorld({ owner: u });
  // The embedding program, run as that user with the world's HOME (its own state directory).
  const program = `
    const { createSandbox } = await import(${JSON.stringify(join(ROOT, 'dist', 'bundle', 'sandbox.mjs'))});
    const sb = await createSandbox({ cwd: ${JSON.stringify(w.proj)} });
    const r = await sb.exec('/bin/sh', ['-c', 'touch made; touch ${w.outside}/x 2>/dev/null || echo refused; cat ${w.home}/.ssh/id_rsa 2>/dev/null || echo hidden; echo ok > .git/hooks/pre-commit 2>/dev/null || echo hook-refused']);
    await sb.close();
    process.stdout.write(JSON.stringify(r));`;
  const env = Object.entries(w.env).map(([k, v]) => `${k}=${v}`);
  // Not this test process's XDG_STATE_HOME: the user's own state directory, under the world's HOME.
  const r = spawnSync('runuser', ['-u', u.name, '--', 'env', '-i', ...env, process.execPath, '--input-type=module', '-e', program], { cwd: w.proj, encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { exitCode: number; stdout: string; commandId: string; violations: { type: string; op: string; path: string; commandId: string }[] };
  assert.equal(out.exitCode, 0);
  assert.equal(out.stdout, 'refused\nhidden\nhook-refused\n');
  // The refusals reach that user's program too, as events of this command.
  assert.deepEqual(out.violations.map((v) => [v.type, v.op, v.path]), [['fs.refused', 'create', join(w.outside, 'x')], ['fs.refused', 'create', join(w.proj, '.git', 'hooks', 'pre-commit')]]);
  for (const v of out.violations) assert.equal(v.commandId, out.commandId);
  assert.ok(existsSync(join(w.proj, 'made')));
  assert.ok(!existsSync(join(w.outside, 'x')));
  assert.ok(!existsSync(join(w.proj, '.git', 'hooks', 'pre-commit')));
});

test('a protected path the host replaces while a command runs stops the command: its spawn emits a CordonError CORDON_ERR_HELD_MOUNT naming the path, and the replaced config is moved aside', async () => {
  const w = makeWorld();
  spawnSync('git', ['init', '-q'], { cwd: w.proj });
  const sb = await createSandbox({ cwd: w.proj, env: w.env });
  try {
    const child = sb.spawn('/bin/sh', ['-c', 'echo READY; sleep 20']);
    const errors: unknown[] = [];
    child.on('error', (e: unknown) => errors.push(e));
    const closed = new Promise<number>((resolve) => child.on('close', (code: number) => resolve(code)));
    await new Promise<void>((resolve) => child.on('spawn', () => child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('READY')) resolve(); })));
    assert.equal(spawnSync('git', ['config', 'user.name', 'someone'], { cwd: w.proj }).status, 0, 'the host rewrites the config (a rename over it)');
    assert.equal(await closed, 125);
    const e = errors[0];
    assert.ok(e instanceof CordonError && e.code === 'CORDON_ERR_HELD_MOUNT', String(e));
    assert.match((e as Error).message, new RegExp(`${join(w.proj, '.git', 'config')}, which this run hides, holds read-only or pins, was replaced, moved or removed on the host`));
    assert.ok(existsSync(join(w.proj, '.git', 'config.cordon-untrusted')), 'the replaced config is moved aside');
    assert.ok(child.warnings.some((m) => m.includes('config.cordon-untrusted')), child.warnings.join('\n'));
  } finally {
    await sb.close();
  }
});
