/**
 * The CLI's sinks of the event stream, with real cordon, real curl inside,
 * the real proxies and relay, and a loopback HTTP server on the host: the
 * audit log has every event of the run (one JSON object a line, one command
 * id), the summary on stderr lists what was refused and the setting that
 * would allow it, --no-summary silences it, --violations-json writes the
 * refusals, and the command can change none of these files. As root and as
 * an unprivileged user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chmodSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, own, ROOT, runners, type World } from '../../helpers/cordon.js';

interface Run { status: number | null; stdout: string; stderr: string }

/** cordon, asynchronously (the loopback server answers in this process). */
function run(w: World, args: readonly string[], opts: { asUser?: string }): Promise<Run> {
  const cmd = opts.asUser ? 'runuser' : process.execPath;
  const argv = opts.asUser ? ['-u', opts.asUser, '--', 'env', ...Object.entries(w.env).map(([k, v]) => `${k}=${v}`), process.execPath, CLI, ...args] : [CLI, ...args];
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, argv, { cwd: w.proj, env: w.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => c.kill('SIGKILL'), 60_000);
    c.on('error', reject);
    c.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

async function loopbackServer(): Promise<{ server: Server; port: number; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => { paths.push(req.url ?? ''); res.end('hello\n'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, paths };
}

for (const r of runners()) {
  test(`the audit log, the summary and --violations-json of a run with an allowed and two refused connections (${r.who})`, { timeout: 90_000 }, async () => {
    const w = r.world();
    const { server, port, paths } = await loopbackServer();
    try {
      const audit = join(w.proj, 'audit.jsonl');
      const violations = join(w.proj, 'violations.json');
      // The command tries to rewrite both files, and to turn the violations file into a link to a file outside.
      writeFileSync(join(w.outside, 'target'), 'untouched\n');
      own(w, r.opts);
      const script = [
        `curl --noproxy '' -sS -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:${port}/ok`,
        `curl -sS -o /dev/null -w '%{http_code}\\n' http://refused.test/x`,
        `curl -sS -o /dev/null --socks5-hostname 127.0.0.1:1080 http://refused.test:8080/y 2>/dev/null || echo socks-refused`,
        'echo forged >> audit.jsonl 2>/dev/null || echo audit-read-only',
        'echo forged > violations.json 2>/dev/null || echo violations-read-only',
        `ln -sf ${w.outside}/target violations.json 2>/dev/null || echo no-link`,
      ].join('; ');
      const res = await run(w, ['--allow-domain', `127.0.0.1:${port}`, '--audit-log', audit, '--violations-json', violations, '--', '/bin/sh', '-c', script], r.opts);
      assert.equal(res.stdout, '200\n403\nsocks-refused\naudit-read-only\nviolations-read-only\nno-link\n', res.stderr);
      assert.equal(res.status, 0);
      assert.deepEqual(paths, ['/ok'], 'only the allowed request reached the server');

      const lines = readFileSync(audit, 'utf8').trim().split('\n');
      const all = lines.map((l) => JSON.parse(l));
      // The command's attempts on the two files are refusals of their own.
      const fs = all.filter((e) => e.type === 'fs.refused');
      assert.deepEqual([...new Set(fs.map((e) => e.path))].sort(), [audit, violations]);
      const events = all.filter((e) => e.type !== 'fs.refused');
      assert.deepEqual(events.map((e) => e.type), ['command.start', 'net.allowed', 'net.done', 'net.refused', 'net.refused', 'command.exit']);
      const id = events[0].commandId;
      assert.match(id, /^[A-Za-z0-9_-]{22}$/);
      for (const e of all) {
        assert.equal(e.v, 1);
        assert.equal(e.commandId, id, 'one command id for the whole run');
        assert.ok(!Number.isNaN(Date.parse(e.time)) && e.time.endsWith('Z'));
        assert.equal(typeof e.message, 'string');
      }
      assert.deepEqual(events[0].argv.slice(0, 2), ['/bin/sh', '-c']);
      assert.equal(events[0].cwd, w.proj);
      assert.deepEqual(pick(events[1], ['host', 'port', 'proxy', 'via', 'address', 'rule']), { host: '127.0.0.1', port, proxy: 'http', via: 'http', address: '127.0.0.1', rule: `--allow-domain[0]: "127.0.0.1:${port}"` });
      assert.deepEqual(pick(events[2], ['host', 'port', 'via', 'method', 'url', 'status', 'bytesUp']), { host: '127.0.0.1', port, via: 'http', method: 'GET', url: '/ok', status: 200, bytesUp: 0 });
      assert.deepEqual(pick(events[3], ['host', 'port', 'proxy', 'via', 'reason', 'fix']), { host: 'refused.test', port: 80, proxy: 'http', via: 'http', reason: 'not-allowlisted', fix: 'network.allowedDomains: add "refused.test"' });
      assert.deepEqual(pick(events[4], ['host', 'port', 'proxy', 'via', 'reason', 'fix']), { host: 'refused.test', port: 8080, proxy: 'socks5', via: 'socks5', reason: 'not-allowlisted', fix: 'network.allowedDomains: add "refused.test"' });
      assert.deepEqual(pick(events[5], ['exitCode', 'signal']), { exitCode: 0, signal: null });

      // The summary: a count and one line per refusal, each naming what would allow it.
      assert.match(res.stderr, new RegExp(`cordon: ${2 + fs.length} operations were refused:\n {2}connection to refused\\.test:80 refused: not in network\\.allowedDomains; add "refused\\.test" to allow it\n {2}connection to refused\\.test:8080 refused: `));

      const v = JSON.parse(readFileSync(violations, 'utf8'));
      assert.deepEqual(v, all.filter((e) => e.type.endsWith('.refused')), '--violations-json holds exactly the refusals');
      assert.equal(readFileSync(join(w.outside, 'target'), 'utf8'), 'untouched\n');
    } finally {
      server.close();
    }
  });
}

test('--no-summary: nothing about refusals on stderr; without --violations-json no file is written; a run with no refusal prints no summary', { timeout: 60_000 }, async () => {
  const w = runners()[0]!.world();
  const quiet = await run(w, ['--no-summary', '--allow-domain', 'allowed.test', '--', '/bin/sh', '-c', 'curl -sS -o /dev/null -w "%{http_code}\\n" http://refused.test/'], {});
  assert.equal(quiet.stdout, '403\n');
  assert.equal(quiet.stderr, '');
  const clean = await run(w, ['--', '/bin/sh', '-c', 'echo fine'], {});
  assert.equal(clean.stdout, 'fine\n');
  assert.equal(clean.stderr, '');
  const loud = await run(w, ['--allow-domain', 'allowed.test', '--', '/bin/sh', '-c', 'curl -sS -o /dev/null http://refused.test/ 2>/dev/null; exit 3'], {});
  assert.equal(loud.status, 3);
  assert.match(loud.stderr, /^cordon: 1 operation was refused:\n {2}connection to refused\.test:80 refused/);
  assert.ok(!existsSync(join(w.proj, 'violations.json')));
});

test('refusals past the first 1000 (decoys first, then the one that matters) are counted in the summary and said to be only in the audit log', { timeout: 120_000 }, async () => {
  const w = runners()[0]!.world();
  const audit = join(w.proj, 'audit.jsonl');
  const violations = join(w.proj, 'v.json');
  // 1003 refused CONNECTs on one connection each, then the last: a name the kept list will not hold.
  const py = [
    'import socket',
    'def connect(host, port):',
    '    s = socket.create_connection(("127.0.0.1", 3128)); s.sendall(b"CONNECT %s:%d HTTP/1.1\\r\\n\\r\\n" % (host, port)); s.recv(1000); s.close()',
    'for i in range(1003): connect(b"decoy.test", 1000 + i)',
    'connect(b"the-one-that-matters.test", 443)',
  ].join('\n');
  writeFileSync(join(w.proj, 'flood.py'), py);
  const res = await run(w, ['--allow-domain', 'allowed.test', '--audit-log', audit, '--violations-json', violations, '--', 'python3', 'flood.py'], {});
  assert.equal(res.status, 0, res.stderr.slice(-2000));
  assert.match(res.stderr, /^cordon: 1004 operations were refused:/m);
  assert.match(res.stderr, /and 4 more after the first 1000, not kept here \(--audit-log FILE records every one\)/);
  assert.match(res.stderr, /v\.json lists the first 1000 refusals; 4 more came after them and are in no list/);
  assert.equal(JSON.parse(readFileSync(violations, 'utf8')).length, 1000);
  assert.match(readFileSync(audit, 'utf8'), /the-one-that-matters\.test/);
});

test('a run cordon fails ends its audit log with command.exit carrying the error', { timeout: 60_000 }, async () => {
  const w = runners()[0]!.world();
  const audit = join(w.proj, 'audit.jsonl');
  const res = await run(w, ['--audit-log', audit, '--settings', join(w.proj, 'missing.json'), '--', 'true'], {});
  assert.equal(res.status, 125, res.stderr);
  const events = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(events.map((e) => e.type), ['command.start', 'command.exit']);
  assert.equal(events[1].exitCode, 125);
  assert.equal(events[1].error.code, 'CORDON_ERR_SETTINGS_MISSING');
});

function pick(o: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}

test('the step after the run: each path it set aside is an after-run.set-aside event of the run', { timeout: 60_000 }, async () => {
  const w = runners()[0]!.world();
  const audit = join(w.proj, 'audit.jsonl');
  const res = await run(w, ['--audit-log', audit, '--', '/bin/sh', '-c', 'git init -q sub && git -C sub config core.fsmonitor "touch /tmp/x; false" && mkdir -p sub/.git/hooks && echo true > sub/.git/hooks/pre-commit'], {});
  assert.equal(res.status, 0, res.stderr);
  const events = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const moved = events.filter((e) => e.type === 'after-run.set-aside');
  const sub = join(w.proj, 'sub', '.git');
  assert.deepEqual(moved.map((e) => [e.path, e.action, e.movedTo]).sort(), [
    [join(sub, 'config'), 'moved', join(sub, 'config.cordon-untrusted')],
    [join(sub, 'hooks'), 'moved', join(sub, 'hooks.cordon-untrusted')],
  ]);
  assert.ok(moved.every((e) => e.commandId === events[0].commandId && /git on the host would run code/.test(e.why)));
  assert.match(moved[0].message, /moved aside/);
  assert.equal(events.at(-1).type, 'command.exit', 'the step after the run comes before the end');
  assert.match(res.stderr, /warning: the command created a git repository/);
});

for (const r of runners()) {
  test(`a refused write is an fs.refused event in the audit log, the summary and --violations-json, with the setting that would allow it (${r.who})`, { timeout: 60_000 }, async () => {
    const w = r.world();
    const audit = join(w.proj, 'audit.jsonl');
    const violations = join(w.proj, 'v.json');
    own(w, r.opts);
    const res = await run(w, ['--audit-log', audit, '--violations-json', violations, '--', '/bin/sh', '-c', `echo x > ${w.outside}/planted 2>/dev/null || echo refused; echo fine > ok.txt`], r.opts);
    assert.equal(res.stdout, 'refused\n', res.stderr);
    assert.ok(!existsSync(join(w.outside, 'planted')));
    const events = readFileSync(audit, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const fs = events.filter((e) => e.type === 'fs.refused');
    assert.deepEqual(fs.map((e) => [e.op, e.path, e.fix]), [['create', join(w.outside, 'planted'), `filesystem.allowWrite: add "${w.outside}"`]]);
    assert.equal(fs[0].commandId, events[0].commandId);
    assert.equal(typeof fs[0].pid, 'number');
    assert.deepEqual(JSON.parse(readFileSync(violations, 'utf8')), fs);
    assert.match(res.stderr, new RegExp(`cordon: 1 operation was refused:\\n {2}create of "${w.outside}/planted".*to allow it: filesystem\\.allowWrite: add "${w.outside}"`));
  });
}

for (const r of runners()) {
  test(`a refused write whose path cordon cannot read (not dumpable, an execute-only program, a path in secret memory) makes the list say it is partial, never whole (${r.who})`, { timeout: 60_000 }, async () => {
    const w = r.world();
    copyFileSync('/usr/bin/touch', join(w.proj, 'xo-touch'));
    chmodSync(join(w.proj, 'xo-touch'), 0o111);
    const cc = spawnSync(process.env.CC || 'cc', ['-O2', '-Wall', '-o', join(w.proj, 'secret-open'), join(ROOT, 'test', 'fixtures', 'secret-path-open.c')], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    own(w, r.opts);
    const violations = join(w.proj, 'v.json');
    // PR_SET_DUMPABLE is 4.
    const py = `import ctypes; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\ntry: open("${w.outside}/by-py", "w")\nexcept OSError: print("py-refused")`;
    // Also a path, or openat2's flags, in secret memory (memfd_secret), which no other process can read.
    for (const cmd of [['python3', '-c', py], ['/bin/sh', '-c', `./xo-touch ${w.outside}/by-xo 2>/dev/null || echo xo-refused`], ['./secret-open', `${w.outside}/by-secret`], ['./secret-open', `${w.outside}/by-secret-how`, 'how']]) {
      const res = await run(w, ['--violations-json', violations, '--', ...cmd], r.opts);
      assert.equal(res.status, 0, res.stderr);
      assert.match(res.stdout, /^(py-|xo-)?refused\n$/);
      assert.match(res.stderr, /not all refused operations were reported: 0 listed, [1-9]\d* calls? not described .*could not read/, res.stderr);
    }
    assert.ok(!existsSync(join(w.outside, 'by-py')) && !existsSync(join(w.outside, 'by-xo')) && !existsSync(join(w.outside, 'by-secret')) && !existsSync(join(w.outside, 'by-secret-how')));
  });
}

for (const r of runners()) {
  test(`a command that makes more distinct refusals than are reported (decoys first, then the one that matters) is not summarised as if the list were whole (${r.who})`, { timeout: 120_000 }, async () => {
    const w = r.world();
    own(w, r.opts);
    // 1100 distinct refused creates outside the writable root, then one in .git: past MAX_EVENTS (1000) nothing is reported.
    const script = 'i=0; while [ $i -lt 1100 ]; do command : 2>/dev/null > /usr/cordon-decoy-$i; i=$((i+1)); done; command : 2>/dev/null > .git/config; exit 0';
    const res = await run(w, ['--', '/bin/sh', '-c', script], r.opts);
    assert.equal(res.status, 0, res.stderr);
    // At most MAX_EVENTS of the 1101 distinct refusals are listed (fewer when the helper drops records): the run must say so.
    assert.match(res.stderr, /cordon: \d+ operations were refused/);
    assert.match(res.stderr, /not all refused operations were reported/, `the summary reads as complete: ${res.stderr.slice(-600)}`);
  });
}

for (const r of runners()) {
  test(`a link at the name of --audit-log or --violations-json, or on the way to it, that an earlier command planted: refused before anything runs, its target untouched (${r.who})`, { timeout: 120_000 }, async () => {
    const w = r.world();
    const rc = join(w.outside, 'rc.sh');
    writeFileSync(rc, 'echo rc\n');
    own(w, r.opts);
    // An earlier run's command plants the links in the project it may write (here as the first run does).
    const plant = await run(w, ['--', '/bin/sh', '-c', `ln -s ${rc} audit.jsonl && ln -s ${w.outside} logs && ln -s ${rc} v.json && mkfifo fifo.json && echo planted`], r.opts);
    assert.equal(plant.stdout, 'planted\n', plant.stderr);
    const cases: [string[], RegExp][] = [
      [['--audit-log', 'audit.jsonl'], /--audit-log audit\.jsonl: it is a symbolic link/],
      [['--violations-json', 'v.json'], /--violations-json v\.json: it is a symbolic link/],
      [['--audit-log', 'logs/a.jsonl'], new RegExp(`--audit-log logs/a\\.jsonl: its directory ${join(w.proj, 'logs')} is reached through a symbolic link \\(it is ${w.outside}\\)`)],
      [['--violations-json', 'fifo.json'], /--violations-json fifo\.json: (it is not a regular file|cannot open for writing \(ENXIO\))/],
    ];
    for (const [args, message] of cases) {
      const res = await run(w, [...args, '--', '/bin/sh', '-c', 'echo ran'], r.opts);
      assert.equal(res.status, 125, `${args.join(' ')}: ${res.stderr}`);
      assert.equal(res.stdout, '', 'nothing ran');
      assert.match(res.stderr, message);
    }
    assert.equal(readFileSync(rc, 'utf8'), 'echo rc\n');
    assert.ok(!existsSync(join(w.outside, 'a.jsonl')));
    // A hard link to a file outside: another name writes the same file.
    const victim = join(w.proj, 'victim.txt');
    writeFileSync(victim, 'keep\n');
    own(w, r.opts);
    await run(w, ['--', '/bin/sh', '-c', 'ln victim.txt hard.json'], r.opts);
    const hard = await run(w, ['--violations-json', 'hard.json', '--', '/bin/sh', '-c', 'echo ran'], r.opts);
    assert.equal(hard.status, 125, hard.stderr);
    assert.match(hard.stderr, /--violations-json hard\.json: it has 2 hard links/);
    assert.equal(readFileSync(victim, 'utf8'), 'keep\n');
  });
}

test('a second sandbox in the same place that links to a running command\'s audit log is told of when that run ends', { timeout: 60_000 }, async () => {
  const r = runners()[0]!;
  const w = r.world();
  const audit = join(w.proj, 'audit.jsonl');
  const first = run(w, ['--audit-log', audit, '--', '/bin/sh', '-c', 'sleep 2'], r.opts);
  await new Promise((resolve) => setTimeout(resolve, 700));
  const second = await run(w, ['--', '/bin/sh', '-c', 'ln audit.jsonl alias.jsonl && echo linked'], r.opts);
  assert.equal(second.stdout, 'linked\n', second.stderr);
  const a = await first;
  assert.equal(a.status, 0, a.stderr);
  assert.match(a.stderr, new RegExp(`cordon: warning: --audit-log ${audit} gained 1 more name \\(hard links\\) during the run`));
});
