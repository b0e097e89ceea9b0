/**
 * Clients that must just work: real tools inside real cordon, each fetching
 * from a test-world host through cordon's proxies with no proxy code of its
 * own (only the variables cordon sets), unless the test says otherwise.
 * Verdicts come from the world's recorders: the request reached the test host,
 * from the root namespace's side of its veth (the proxy's dial; the sandbox
 * has no route), and nothing else was attempted (no refusals on cordon's
 * stderr, no DNS query for an unknown name, nothing at the other hosts).
 *
 * Every client is pointed at test-world URLs only (registries, index, repo);
 * a client that tried an outside host anyway would be refused by the proxy
 * (only the world's names are allowed) and fail `assertNothingElse`.
 *
 * Tools that are not installed are skipped with the package that provides them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ROOT } from '../../helpers/cordon.js';
import { createWorld, worldSkipReason, type World, type WorldRecord, type RunResult, type TestHost } from '../../world/world.js';

const skip = worldSkipReason();
const T = { timeout: 60_000 };
/** In the checkout: read on the host only. Commands under cordon read their copy in the world (see `fixtures`). */
const FIXTURES = join(ROOT, 'test', 'integration', 'network', 'fixtures');
const NPM_PKG = 'cordon-client-fixture';
const PY_PKG = 'cordon-client-fixture';
const UPLOAD_BYTES = 4 * 1024 * 1024;

/** Runs a command on the host (fixture building, tool detection); throws with its stderr. */
function sh(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: opts.cwd, env: opts.env ?? process.env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status ?? r.signal}: ${r.error?.message ?? ''}${r.stderr}`);
  return r.stdout;
}
function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
/** The interpreter `python3` on PATH really is (a pyenv shim picks by cwd; pin it once). */
function python(): { exe?: string; pip: boolean; requests: boolean } {
  if (!which('python3')) return { pip: false, requests: false };
  const r = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', cwd: '/var/tmp' });
  const exe = r.status === 0 ? r.stdout.trim() : undefined;
  if (!exe) return { pip: false, requests: false };
  const ok = (args: string[]) => spawnSync(exe, args, { stdio: 'ignore' }).status === 0;
  return { exe, pip: ok(['-m', 'pip', '--version']), requests: ok(['-c', 'import requests']) };
}

/** The real cargo and rustc (rustup's proxies would look for toolchains under the test's $HOME). */
function rust(tool: 'cargo' | 'rustc'): string | undefined {
  if (!which(tool)) return undefined;
  const r = which('rustup') ? spawnSync('rustup', ['which', tool], { encoding: 'utf8' }) : undefined;
  return r?.status === 0 ? r.stdout.trim() : which(tool);
}

const PY = python();
const JAVA = which('java') && which('keytool') ? which('java') : undefined;
const CARGO = rust('cargo');
const RUSTC = rust('rustc');
const GO = which('go');
/** The first python3 that can import httpx: PATH's, else Debian's (apt-get install python3-httpx). */
const HTTPX_PY = [PY.exe, '/usr/bin/python3'].find((exe) => exe !== undefined && spawnSync(exe, ['-c', 'import httpx'], { stdio: 'ignore' }).status === 0);
const HTTPX = HTTPX_PY !== undefined;
const tools = {
  curl: which('curl') ? undefined : 'curl is not installed (apt-get install curl)',
  wget: which('wget') ? undefined : 'wget is not installed (apt-get install wget)',
  git: which('git') ? undefined : 'git is not installed (apt-get install git)',
  python: PY.exe ? undefined : 'python3 is not installed (apt-get install python3)',
  requests: !PY.exe ? 'python3 is not installed (apt-get install python3)' : PY.requests ? undefined : `requests is not importable by ${PY.exe} (apt-get install python3-requests, or pip install requests)`,
  httpx: HTTPX ? undefined : `httpx is not importable by ${PY.exe ?? 'python3'} or /usr/bin/python3 (apt-get install python3-httpx)`,
  pip: !PY.exe ? 'python3 is not installed (apt-get install python3-pip)' : PY.pip ? undefined : `${PY.exe} -m pip is not available (apt-get install python3-pip)`,
  npm: which('npm') ? undefined : 'npm is not installed (apt-get install npm)',
  java: JAVA ? undefined : 'java/keytool are not installed (apt-get install default-jdk-headless: JDK 11+ for the source launcher)',
  go: GO ? undefined : 'go is not installed (apt-get install golang-go)',
  cargo: CARGO && RUSTC ? undefined : 'cargo is not installed (apt-get install cargo, or rustup)',
};

// ---------------------------------------------------------------- fixtures (in world.filesDir, served under /files/)

interface Fixtures {
  readonly hello: string;
  readonly gitCommit: string;
  readonly npmTarballPath: string;
  readonly wheelName: string;
}

const CRATE = 'cordonfix';

function buildFixtures(w: World, scratch: string, api: TestHost): Fixtures {
  const files = w.filesDir;
  const base = `https://${api.fqdn}/files`;
  const hello = 'hello from the test world';
  writeFileSync(join(files, 'hello.txt'), `${hello}\n`);

  // git: a bare repository for dumb HTTP (info/refs and objects/info/packs from update-server-info).
  let gitCommit = '';
  if (!tools.git) {
    const work = join(scratch, 'git-work');
    mkdirSync(work);
    const g = (cwd: string, ...a: string[]) => sh('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', '-c', 'init.defaultBranch=main', ...a], { cwd });
    g(work, 'init', '-q');
    writeFileSync(join(work, 'README'), 'cloned through cordon\n');
    g(work, 'add', 'README');
    g(work, 'commit', '-qm', 'fixture commit');
    gitCommit = g(work, 'rev-parse', 'HEAD').trim();
    g(scratch, 'clone', '-q', '--bare', work, join(files, 'repo.git'));
    g(join(files, 'repo.git'), 'repack', '-a', '-d', '-q');
    g(join(files, 'repo.git'), 'update-server-info');
  }

  // npm: the registry's metadata document is GET <registry><name>, i.e. the
  // *file* files/npm/<name>; the usual <name>/-/<name>-1.0.0.tgz beside it would
  // need files/npm/<name> to be a directory too, so tarballs live under npm-tarballs/.
  const npmTarballPath = `/files/npm-tarballs/${NPM_PKG}/-/${NPM_PKG}-1.0.0.tgz`;
  {
    const stage = join(scratch, 'npm-stage', 'package');
    mkdirSync(stage, { recursive: true });
    writeFileSync(join(stage, 'package.json'), JSON.stringify({ name: NPM_PKG, version: '1.0.0', main: 'index.js', license: 'MIT' }, null, 2) + '\n');
    writeFileSync(join(stage, 'index.js'), `module.exports = '${NPM_PKG}@1.0.0 from the test world';\n`);
    const tgz = join(files, npmTarballPath.slice('/files/'.length));
    mkdirSync(join(tgz, '..'), { recursive: true });
    sh('tar', ['-czf', tgz, '-C', join(scratch, 'npm-stage'), 'package']);
    const buf = readFileSync(tgz);
    const version = {
      name: NPM_PKG,
      version: '1.0.0',
      main: 'index.js',
      license: 'MIT',
      dist: {
        tarball: `https://${api.fqdn}${npmTarballPath}`,
        integrity: `sha512-${createHash('sha512').update(buf).digest('base64')}`,
        shasum: createHash('sha1').update(buf).digest('hex'),
      },
    };
    mkdirSync(join(files, 'npm'));
    writeFileSync(join(files, 'npm', NPM_PKG), JSON.stringify({ name: NPM_PKG, 'dist-tags': { latest: '1.0.0' }, versions: { '1.0.0': version } }));
  }

  // pip: a wheel and a PEP 503 project page at simple/<name>/index.html, the
  // layout a static index uses. pip asks for <index>/<name>/ and accepts only
  // text/html (or the PEP 691 types) as the answer's Content-Type.
  let wheelName = '';
  if (PY.exe) {
    mkdirSync(join(files, 'wheels'));
    const whl = sh(PY.exe, [join(FIXTURES, 'make_wheel.py'), join(files, 'wheels'), PY_PKG, '0.1']).trim();
    wheelName = whl.slice(whl.lastIndexOf('/') + 1);
    const sha = createHash('sha256').update(readFileSync(whl)).digest('hex');
    mkdirSync(join(files, 'simple', PY_PKG), { recursive: true });
    writeFileSync(join(files, 'simple', PY_PKG, 'index.html'), `<!DOCTYPE html>\n<html><body>\n<a href="${base}/wheels/${wheelName}#sha256=${sha}">${wheelName}</a>\n</body></html>\n`);
  }
  // cargo: a sparse registry (config.json + index file co/rd/cordonfix, one
  // JSON line per version with the .crate's sha256) and the .crate (a .tar.gz
  // of cordonfix-0.1.0/{Cargo.toml,src/lib.rs}).
  {
    const stage = join(scratch, 'crate-stage', `${CRATE}-0.1.0`);
    mkdirSync(join(stage, 'src'), { recursive: true });
    writeFileSync(join(stage, 'Cargo.toml'), `[package]\nname = "${CRATE}"\nversion = "0.1.0"\nedition = "2021"\n`);
    writeFileSync(join(stage, 'src', 'lib.rs'), `pub const MARKER: &str = "${CRATE} from the test world";\n`);
    mkdirSync(join(files, 'cargo-dl'));
    const crate = join(files, 'cargo-dl', `${CRATE}-0.1.0.crate`);
    sh('tar', ['-czf', crate, '-C', join(scratch, 'crate-stage'), `${CRATE}-0.1.0`]);
    const cksum = createHash('sha256').update(readFileSync(crate)).digest('hex');
    mkdirSync(join(files, 'cargo', CRATE.slice(0, 2), CRATE.slice(2, 4)), { recursive: true });
    writeFileSync(join(files, 'cargo', 'config.json'), JSON.stringify({ dl: `${base}/cargo-dl/{crate}-{version}.crate` }));
    writeFileSync(join(files, 'cargo', CRATE.slice(0, 2), CRATE.slice(2, 4), CRATE), JSON.stringify({ name: CRATE, vers: '0.1.0', deps: [], cksum, features: {}, yanked: false }) + '\n');
  }
  return { hello, gitCommit, npmTarballPath, wheelName };
}

// ---------------------------------------------------------------- the tests

/**
 * Each client runs twice: with HTTPS tunnelled as the client sent it (the
 * client trusts the world's CA through the caller's variables), and with it
 * terminated by cordon (network.tlsTerminate, the world's CA given as an extra
 * CA): then the client trusts only what cordon's variables name, and the
 * audit log shows each CONNECT terminated and the requests inside it.
 */
for (const mode of ['tunnelled', 'terminated'] as const) describe(`clients that must just work, through cordon's proxies (HTTPS ${mode})`, { skip }, () => {
  const terminated = mode === 'terminated';
  /** Controls, and what only tunnelled HTTPS does, run once. */
  const once = terminated ? (_title: string, ..._rest: unknown[]) => undefined : it;
  let w: World;
  let api: TestHost;
  let fx: Fixtures;
  let root: string;
  let proj: string;
  let home: string;
  /** The client programs, copied into the world: a checkout under /tmp is hidden by the sandbox's private /tmp. */
  let fixtures: string;
  let trustStore = '';
  const timings: Record<string, number> = {};

  before(async () => {
    w = await createWorld();
    api = w.host('api');
    root = realpathSync(mkdtempSync('/var/tmp/cordon-clients-'));
    proj = join(root, 'proj');
    home = join(root, 'home');
    mkdirSync(proj, { recursive: true });
    mkdirSync(home, { recursive: true });
    mkdirSync(join(root, 'scratch'));
    fixtures = join(root, 'fixtures');
    cpSync(FIXTURES, fixtures, { recursive: true });
    fx = buildFixtures(w, join(root, 'scratch'), api);
    if (JAVA) {
      trustStore = join(root, 'trust.p12');
      sh('keytool', ['-importcert', '-noprompt', '-alias', 'cordon-test-world', '-file', w.caCert, '-keystore', trustStore, '-storetype', 'PKCS12', '-storepass', 'changeit'], { env: { PATH: process.env.PATH } });
    }
  });
  after(async () => {
    await w?.close();
    if (root) rmSync(root, { recursive: true, force: true });
    if (Object.keys(timings).length > 0) console.log(`# cordon run timings (ms): ${JSON.stringify(timings)}`);
  });

  const baseEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, LANG: 'C.UTF-8', ...(terminated ? {} : w.tlsEnv) });
  const tlsSettings = () => {
    const f = join(root, 'tls-terminate.json');
    if (!existsSync(f)) writeFileSync(f, JSON.stringify({ network: { tlsTerminate: { extraCaCertPaths: [w.caCert] } } }));
    return f;
  };
  const allow = (): string[] => ['--allow-domain', api.fqdn, ...(terminated ? ['--settings', tlsSettings()] : [])];
  const audits = new WeakMap<RunResult, string>();
  /** Runs `script` under cordon in a fresh directory of the project (the writable place). */
  const cordon = async (label: string, args: string[], script: string, env: NodeJS.ProcessEnv = {}): Promise<RunResult> => {
    const cwd = join(proj, label);
    mkdirSync(cwd, { recursive: true });
    const audit = join(root, `audit-${mode}-${label}.jsonl`);
    const t = performance.now();
    const r = await w.run([process.execPath, CLI, ...args, '--audit-log', audit, '--', '/bin/sh', '-c', script], { cwd, env: { ...baseEnv(), ...env }, timeoutMs: 30_000 });
    timings[`${mode}:${label}`] = Math.round(performance.now() - t);
    audits.set(r, audit);
    return r;
  };
  const fresh = async () => { await w.settle(); w.clearRecords(); };
  const requests = async (pred: (r: WorldRecord) => boolean = () => true) => { await w.settle(); return w.records(api).filter((x) => x.event === 'request' && pred(x)); };
  const show = (r: RunResult) => `exit ${r.status}${r.timedOut ? ' (timed out)' : ''}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;

  /** The request came from the root namespace's end of the host's veth: the proxy dialled it. */
  const assertViaProxy = (recs: readonly WorldRecord[]) => {
    assert.ok(recs.length > 0, 'at least one request reached the test host');
    for (const x of recs) assert.ok([api.gateway4, api.gateway6].includes(x.peer), `request ${x.method} ${x.path} came from ${x.peer}, not from the proxy side (${api.gateway4} / ${api.gateway6})`);
  };
  /** Nothing but the test host was attempted: no refusal, no unknown-name lookup, nothing at other hosts. */
  const assertNothingElse = async (r: RunResult) => {
    if (terminated) {
      // cordon opened the tunnels: a CONNECT terminated, and the requests inside it judged one by one.
      const events = readFileSync(audits.get(r)!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; via?: string; tls?: string; host?: string });
      assert.ok(events.some((e) => e.type === 'net.allowed' && e.via === 'connect' && e.tls === 'terminated' && e.host === api.fqdn), `a CONNECT to ${api.fqdn} was terminated`);
      assert.ok(events.some((e) => e.type === 'net.allowed' && e.via === 'https' && e.host === api.fqdn), 'a request inside it was judged');
    }
    // The summary lists network refusals as `connection to HOST:PORT refused` (a client's refused file writes, such as pip's ~/.rustup, are no concern here).
    assert.doesNotMatch(r.stderr, /^\s+(connection to .* refused|".*" request for .* refused)/m, 'the client tried a name or address that is not allowed');
    await w.settle();
    assert.deepEqual(w.records(w.resolver), [], 'no DNS query for a name outside the world\'s hosts file');
    assert.deepEqual(w.records(w.host('evil')), [], 'nothing reached the other test host');
    assert.deepEqual(w.records(w.hostService), [], 'nothing reached the host services');
  };
  /** The control: the same client without --allow-domain fails and nothing is recorded anywhere. */
  const assertBlocked = async (r: RunResult, why: RegExp) => {
    assert.notEqual(r.status, 0, `without --allow-domain the client must fail\n${show(r)}`);
    assert.match(r.stdout + r.stderr, why, `it must fail for want of a network, not for another reason\n${show(r)}`);
    await w.settle();
    assert.deepEqual(w.records(api), [], 'nothing reached the test host');
    await assertNothingElse(r);
  };

  describe('curl', { skip: tools.curl }, () => {
    it('plain HTTP (absolute-form), HTTPS (CONNECT) and SOCKS5 (--proxy "$CORDON_SOCKS_PROXY", socks5h) reach the host', T, async () => {
      await fresh();
      const r = await cordon('curl-basic', allow(), [
        `curl -sS http://${api.fqdn}/files/hello.txt?via=http`,
        `curl -sS https://${api.fqdn}/files/hello.txt?via=connect`,
        `curl -sS --proxy "$CORDON_SOCKS_PROXY" https://${api.fqdn}/files/hello.txt?via=socks; echo "socks=$?"`,
      ].join(' && '));
      // A host whose TLS cordon opens is not reachable past it, through SOCKS5.
      assert.equal(r.stdout, `${fx.hello}\n`.repeat(terminated ? 2 : 3) + (terminated ? 'socks=97\n' : 'socks=0\n'), show(r));
      const reqs = await requests();
      assert.deepEqual(reqs.map((x) => `${x.proto} ${x.method} ${x.path}`).sort(), [
        'http GET /files/hello.txt?via=http',
        'https GET /files/hello.txt?via=connect',
        ...(terminated ? [] : ['https GET /files/hello.txt?via=socks']),
      ]);
      assert.ok(reqs.every((x) => x.host === api.fqdn));
      assertViaProxy(reqs);
      if (terminated) {
        assert.match(r.stderr, /the SOCKS5 tunnel to \S+:443 was refused: network\.tlsTerminate opens its TLS, which only the HTTP proxy does/);
        await w.settle();
        assert.deepEqual(w.records(w.resolver), []);
        assert.deepEqual(w.records(w.host('evil')), []);
      } else {
        await assertNothingElse(r);
      }
    });

    it(`an upload of ${UPLOAD_BYTES / 1024 / 1024} MiB arrives whole over CONNECT${terminated ? ', sized and chunked' : ' and over SOCKS5'}`, T, async () => {
      await fresh();
      const r = await cordon('curl-upload', allow(), [
        `head -c ${UPLOAD_BYTES} /dev/urandom > "$TMPDIR/up"`,
        `curl -sS --data-binary @"$TMPDIR/up" -H 'content-type: application/octet-stream' https://${api.fqdn}/upload?via=connect`,
        terminated
          ? `curl -sS -H 'Transfer-Encoding: chunked' --data-binary @"$TMPDIR/up" -H 'content-type: application/octet-stream' https://${api.fqdn}/upload?via=chunked`
          : `curl -sS --proxy "$CORDON_SOCKS_PROXY" --data-binary @"$TMPDIR/up" -H 'content-type: application/octet-stream' https://${api.fqdn}/upload?via=socks`,
      ].join(' && '));
      assert.equal(r.stdout, `{"bytes":${UPLOAD_BYTES}}\n`.repeat(2), show(r));
      const reqs = await requests((x) => x.method === 'POST');
      assert.deepEqual(reqs.map((x) => [x.path, x.bytes]).sort(), [[terminated ? '/upload?via=chunked' : '/upload?via=connect', UPLOAD_BYTES], [terminated ? '/upload?via=connect' : '/upload?via=socks', UPLOAD_BYTES]]);
      assertViaProxy(reqs);
      await assertNothingElse(r);
    });

    it(terminated ? 'a client offering HTTP/2 settles on HTTP/1.1 through termination (ALPN)' : 'HTTP/2 over CONNECT, as gRPC clients use it (h2 ALPN, application/grpc POST)', T, async () => {
      await fresh();
      // A gRPC-shaped call: the world's server is no gRPC server, but what a
      // gRPC client needs from the proxy is exactly this: h2 end to end in the tunnel.
      const r = await cordon('curl-h2', allow(), `printf '\\0\\0\\0\\0\\5hello' > "$TMPDIR/msg" && curl -sS --http2 -o /dev/null -w '%{http_version} %{http_code}\\n' -H 'content-type: application/grpc' -H 'te: trailers' --data-binary @"$TMPDIR/msg" https://${api.fqdn}/test.Echo/Say`);
      assert.equal(r.stdout, terminated ? '1.1 200\n' : '2 200\n', show(r));
      const reqs = await requests();
      assert.deepEqual(reqs.map((x) => [x.method, x.path, x.httpVersion, x.bytes]), [['POST', '/test.Echo/Say', terminated ? '1.1' : '2.0', 10]]);
      assert.ok(w.records(api).some((x) => x.event === 'tls' && x.sni === api.fqdn && (terminated || x.alpn === 'h2')));
      assertViaProxy(reqs);
      await assertNothingElse(r);
    });

    once('control: without --allow-domain the same requests fail and nothing is recorded', T, async () => {
      await fresh();
      const r = await cordon('curl-control', [], [
        `curl -sS -m 5 http://${api.fqdn}/files/hello.txt?via=http; a=$?`,
        `curl -sS -m 5 https://${api.fqdn}/files/hello.txt?via=connect; b=$?`,
        `curl -sS -m 5 --socks5-hostname 127.0.0.1:1080 https://${api.fqdn}/files/hello.txt?via=socks; c=$?`,
        'echo "$a $b $c"; [ $a -ne 0 ] && [ $b -ne 0 ] && [ $c -ne 0 ] && exit 1',
      ].join('; '));
      assert.match(r.stdout, /^[1-9]\d* [1-9]\d* [1-9]\d*\n$/, show(r));
      await assertBlocked(r, /curl: \(7\)/);
    });
  });

  describe('wget', { skip: tools.wget }, () => {
    it('plain HTTP and HTTPS (CONNECT) through http_proxy/https_proxy', T, async () => {
      await fresh();
      const r = await cordon('wget', allow(), `wget -q -O - http://${api.fqdn}/files/hello.txt?via=wget-http && wget -q --ca-certificate="$SSL_CERT_FILE" -O - https://${api.fqdn}/files/hello.txt?via=wget-https`);
      assert.equal(r.stdout, `${fx.hello}\n`.repeat(2), show(r));
      const reqs = await requests();
      assert.deepEqual(reqs.map((x) => `${x.proto} ${x.path}`).sort(), ['http /files/hello.txt?via=wget-http', 'https /files/hello.txt?via=wget-https']);
      assertViaProxy(reqs);
      await assertNothingElse(r);
    });
  });

  describe('git over HTTPS (dumb HTTP)', { skip: tools.git }, () => {
    const clone = (label: string, args: string[]) => cordon(label, args,
      `git clone -q https://${api.fqdn}/files/repo.git clone && git -C clone log -1 --format=%H`,
      { GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0' });

    it('git clone brings the commit', T, async () => {
      await fresh();
      const r = await clone('git', allow());
      assert.equal(r.status, 0, show(r));
      assert.equal(r.stdout, `${fx.gitCommit}\n`);
      const reqs = await requests();
      assert.ok(reqs.some((x) => x.proto === 'https' && x.path?.startsWith('/files/repo.git/info/refs')), JSON.stringify(reqs));
      assert.ok(reqs.some((x) => x.path?.startsWith('/files/repo.git/objects/')), 'objects were fetched over dumb HTTP');
      assertViaProxy(reqs);
      await assertNothingElse(r);
    });

    once('control: without --allow-domain the clone fails and nothing is recorded', T, async () => {
      await fresh();
      await assertBlocked(await clone('git-control', []), /unable to access .*(Failed to connect|Couldn't connect)/);
    });
  });

  describe('python3', () => {
    const run = (label: string, client: 'urllib' | 'requests' | 'httpx') => cordon(label, allow(), `"${client === 'httpx' ? HTTPX_PY : PY.exe}" "${join(fixtures, 'fetch.py')}" ${client} https://${api.fqdn}/files/hello.txt?via=${client}`);

    const cases = [
      { client: 'urllib', title: 'urllib.request.urlopen honours HTTPS_PROXY', skip: tools.python },
      { client: 'requests', title: 'requests honours HTTPS_PROXY', skip: tools.requests },
      { client: 'httpx', title: 'httpx honours HTTPS_PROXY (ALL_PROXY names the HTTP proxy, so no socksio is needed)', skip: tools.httpx },
    ] as const;
    for (const { client, title, skip } of cases) {
      it(title, { ...T, skip }, async () => {
        await fresh();
        const r = await run(`python-${client}`, client);
        assert.equal(r.stdout, `${client} 200 ${fx.hello}\n`, show(r));
        const reqs = await requests();
        assert.deepEqual(reqs.map((x) => `${x.proto} ${x.path}`), [`https /files/hello.txt?via=${client}`]);
        assertViaProxy(reqs);
        await assertNothingElse(r);
      });
    }
  });

  describe('pip', { skip: tools.pip }, () => {
    // No config files (a machine's pip.conf could add an extra index), no version check, no cache, no prompts.
    const pipEnv = { PIP_CONFIG_FILE: '/dev/null', PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1' };

    it('pip download of a wheel by URL', T, async () => {
      await fresh();
      const r = await cordon('pip-url', allow(), `"${PY.exe}" -m pip download --no-deps --no-index --no-cache-dir -d dl https://${api.fqdn}/files/wheels/${fx.wheelName} && ls dl`, pipEnv);
      assert.equal(r.stdout.trim().split('\n').pop(), fx.wheelName, show(r));
      const reqs = await requests();
      assert.deepEqual(reqs.map((x) => `${x.proto} ${x.method} ${x.path}`), [`https GET /files/wheels/${fx.wheelName}`]);
      assertViaProxy(reqs);
      await assertNothingElse(r);
    });

    it('pip download --index-url from a PEP 503 simple index', T, async () => {
      await fresh();
      const r = await cordon('pip-index', allow(), `"${PY.exe}" -m pip download --no-deps --index-url https://${api.fqdn}/files/simple/ --no-cache-dir -d dl ${PY_PKG} && ls dl`, pipEnv);
      const reqs = await requests();
      assertViaProxy(reqs);
      assert.ok(reqs.some((x) => x.path === `/files/simple/${PY_PKG}/`), JSON.stringify(reqs));
      await assertNothingElse(r);
      assert.equal(r.stdout.trim().split('\n').pop(), fx.wheelName, show(r));
      assert.ok(reqs.some((x) => x.path === `/files/wheels/${fx.wheelName}`));
    });
  });

  describe('npm', { skip: tools.npm }, () => {
    const install = (label: string, args: string[], flags = '') => cordon(label, args, [
      `printf '{"name":"app","version":"1.0.0","private":true}\\n' > package.json`,
      // No --cache: cordon points npm's cache into the private /tmp (~/.npm is read-only).
      `npm install --registry https://${api.fqdn}/files/npm/ --no-audit --no-fund --ignore-scripts${flags} ${NPM_PKG}`,
      `node -p "require('${NPM_PKG}')"`,
    ].join(' && '), {
      // Only the command line and cordon's variables: no user or global npmrc, no update check.
      NPM_CONFIG_USERCONFIG: join(home, 'no-user-npmrc'), NPM_CONFIG_GLOBALCONFIG: join(home, 'no-global-npmrc'), NPM_CONFIG_UPDATE_NOTIFIER: 'false',
    });

    it('npm install from a registry in the world (metadata served as application/octet-stream)', T, async () => {
      await fresh();
      const r = await install('npm', allow());
      assert.equal(r.status, 0, show(r));
      assert.match(r.stdout, new RegExp(`${NPM_PKG}@1\\.0\\.0 from the test world\\n$`));
      assert.ok(!existsSync(join(home, '.npm')), 'the host cache is not touched');
      const reqs = await requests();
      assert.deepEqual(reqs.map((x) => `${x.proto} ${x.method} ${x.path}`).sort(), [
        `https GET ${fx.npmTarballPath}`,
        `https GET /files/npm/${NPM_PKG}`,
      ]);
      assertViaProxy(reqs);
      await assertNothingElse(r);
    });

    once('control: without --allow-domain the install fails and nothing is recorded', T, async () => {
      await fresh();
      // No retries: with npm's defaults (fetch-retries 2, back-off up to 60 s) a blocked install takes ~70 s to fail.
      // --offline=false: with no network cordon tells npm it is offline (package-cache.ts offlineEnv); this control must reach the wall.
      await assertBlocked(await install('npm-control', [], ' --fetch-retries 0 --offline=false'), /ENETUNREACH/);
    });
  });

  describe('node', () => {
    const node = process.execPath;
    const major = Number(process.versions.node.split('.')[0]);

    once('Node 20: https.get and fetch() ignore HTTPS_PROXY and NODE_USE_ENV_PROXY, fail fast (no route) and reach nothing', { ...T, skip: major === 20 ? undefined : `pinned to Node 20; Node ${process.versions.node} may honour NODE_USE_ENV_PROXY (Node ≥ 22.21 / 24): re-check this expectation` }, async () => {
      await fresh();
      const r = await cordon('node-direct', allow(), `"${node}" "${join(fixtures, 'direct-client.mjs')}" https://${api.fqdn}/files/hello.txt`);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 2, show(r));
      for (const [line, name] of [[lines[0]!, 'https.get'], [lines[1]!, 'fetch']] as const) {
        const m = new RegExp(`^${name.replace('.', '\\.')} ERROR (\\S+) (\\d+)$`).exec(line);
        assert.ok(m, `${name} must fail without explicit proxy config: ${line}`);
        assert.equal(m[1], 'ENETUNREACH', line);
        assert.ok(Number(m[2]) < 2000, `fails fast: ${line}`);
      }
      await w.settle();
      assert.deepEqual(w.records(api), [], 'nothing reached the test host');
      await assertNothingElse(r);
    });

    it('a Node client that uses the proxy explicitly works: absolute-form HTTP and a CONNECT tunnel with TLS inside', T, async () => {
      await fresh();
      const r = await cordon('node-proxy', allow(), `"${node}" "${join(fixtures, 'proxy-client.mjs')}" http://${api.fqdn}/files/hello.txt?via=node-absolute https://${api.fqdn}/files/hello.txt?via=node-connect`);
      assert.equal(r.stdout, [
        `http://${api.fqdn}/files/hello.txt?via=node-absolute 200 ${fx.hello}`,
        `https://${api.fqdn}/files/hello.txt?via=node-connect 200 ${fx.hello}`,
      ].join('\n') + '\n', show(r));
      const reqs = await requests();
      assert.deepEqual(reqs.map((x) => `${x.proto} ${x.path}`).sort(), ['http /files/hello.txt?via=node-absolute', 'https /files/hello.txt?via=node-connect']);
      assertViaProxy(reqs);
      await assertNothingElse(r);
    });
  });

  // Java reads a key store, not PEM: tunnelled, it is given the world's (keytool's); terminated, it takes cordon's
  // trust.p12 from JAVA_TOOL_OPTIONS, with nothing of the caller's.
  describe('java', { skip: tools.java }, () => {
    const fetch = (label: string, env: NodeJS.ProcessEnv) => cordon(label, allow(),
      `java "${join(fixtures, 'Fetch.java')}" https://${api.fqdn}/files/hello.txt http://${api.fqdn}/files/hello.txt`, env);

    it('HttpClient and HttpURLConnection use the default ProxySelector (JAVA_TOOL_OPTIONS from cordon) for HTTPS and HTTP', T, async () => {
      await fresh();
      // The world's trust store travels in JDK_JAVA_OPTIONS (read by the `java` launcher; cordon leaves it alone).
      const r = await fetch('java', terminated ? {} : { JDK_JAVA_OPTIONS: `-Djavax.net.ssl.trustStore=${trustStore} -Djavax.net.ssl.trustStorePassword=changeit` });
      assert.equal(r.status, 0, show(r));
      assert.match(r.stdout, /^https\.proxyHost=127\.0\.0\.1 https\.proxyPort=3128$/m);
      for (const client of ['httpclient', 'urlconnection']) {
        assert.equal(r.stdout.split('\n').filter((l) => l.startsWith(`${client} 200 ${fx.hello}`)).length, 2, `${client}: ${show(r)}`);
      }
      assert.match(r.stdout, /^urlconnection 200 .* usingProxy=true$/m);
      const reqs = await requests();
      assert.deepEqual(reqs.map((x) => `${x.proto} ${x.path}`).sort(), [
        'http /files/hello.txt?via=httpclient',
        'http /files/hello.txt?via=urlconnection',
        'https /files/hello.txt?via=httpclient',
        'https /files/hello.txt?via=urlconnection',
      ]);
      assertViaProxy(reqs);
      await assertNothingElse(r);
    });

    it('an outer JAVA_TOOL_OPTIONS survives: cordon appends its proxy properties', T, async () => {
      await fresh();
      const r = await fetch('java-outer-options', {
        JAVA_TOOL_OPTIONS: `-Dcordon.outer=kept -Djavax.net.ssl.trustStore=${trustStore} -Djavax.net.ssl.trustStorePassword=changeit`,
      });
      assert.match(r.stdout, /^cordon\.outer=kept$/m, show(r));
      assert.match(r.stdout, /^https\.proxyHost=127\.0\.0\.1 /m);
      assert.equal(r.status, 0, show(r));
      // The caller's trust store (from JAVA_TOOL_OPTIONS) and cordon's proxy both took effect.
      const reqs = await requests();
      assert.equal(reqs.length, 4, JSON.stringify(reqs));
      assertViaProxy(reqs);
      await assertNothingElse(r);
    });
  });

  describe('cargo', { skip: tools.cargo }, () => {
    const fetchDeps = (label: string, args: string[], retries: number) => cordon(label, args, [
      'mkdir -p src .cargo',
      `printf '[package]\\nname = "app"\\nversion = "0.1.0"\\nedition = "2021"\\n\\n[dependencies]\\n${CRATE} = { version = "0.1", registry = "world" }\\n' > Cargo.toml`,
      `printf '[registries.world]\\nindex = "sparse+https://${api.fqdn}/files/cargo/"\\n\\n[net]\\nretry = ${retries}\\n' > .cargo/config.toml`,
      'touch src/lib.rs',
      `"${CARGO}" fetch`,
      `ls "$CARGO_HOME"/registry/cache/*/`,
    ].join(' && '), { CARGO_HOME: '/tmp/cargo-home', RUSTC: RUSTC!, CARGO_HTTP_CAINFO: w.caCert, CARGO_TERM_COLOR: 'never' });

    it('cargo fetch from a sparse registry in the world', T, async () => {
      await fresh();
      const r = await fetchDeps('cargo', allow(), 2);
      assert.equal(r.status, 0, show(r));
      assert.equal(r.stdout.trim().split('\n').pop(), `${CRATE}-0.1.0.crate`, show(r));
      const reqs = await requests();
      assert.deepEqual([...new Set(reqs.map((x) => `${x.proto} ${x.method} ${x.path}`))].sort(), [
        `https GET /files/cargo-dl/${CRATE}-0.1.0.crate`,
        `https GET /files/cargo/${CRATE.slice(0, 2)}/${CRATE.slice(2, 4)}/${CRATE}`,
        'https GET /files/cargo/config.json',
      ]);
      assertViaProxy(reqs);
      await assertNothingElse(r);
    });

    once('control: without --allow-domain the fetch fails and nothing is recorded', T, async () => {
      await fresh();
      await assertBlocked(await fetchDeps('cargo-control', [], 0), /Couldn't connect|Failed to connect/);
    });
  });

  describe('go', { skip: tools.go }, () => {
    it('net/http (ProxyFromEnvironment) reaches the host over CONNECT', T, async () => {
      await fresh();
      // Standard library only; GOTOOLCHAIN=local and GOPROXY=off: nothing is downloaded.
      const r = await cordon('go', allow(), `go run "${join(fixtures, 'fetch.go')}" https://${api.fqdn}/files/hello.txt?via=go`, {
        // No GOCACHE: cordon points Go's build cache into the private /tmp (~/.cache is read-only).
        GOTOOLCHAIN: 'local', GOPROXY: 'off', GOFLAGS: '-mod=mod', GO111MODULE: 'auto', GOPATH: '/tmp/go-path', GOTELEMETRY: 'off',
      });
      assert.equal(r.stdout, `go 200 ${fx.hello}\n`, show(r));
      assert.ok(!existsSync(join(home, '.cache', 'go-build')), 'the host cache is not touched');
      const reqs = await requests();
      assert.deepEqual(reqs.map((x) => `${x.proto} ${x.path}`), ['https /files/hello.txt?via=go']);
      assertViaProxy(reqs);
      await assertNothingElse(r);
    });
  });
});
