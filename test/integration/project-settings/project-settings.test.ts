/**
 * A hostile project's .cordon/settings.json, through the real CLI: every key
 * that would widen the user's policy is refused (exit 125, the file and the
 * key named, nothing run), each case on its own; a narrowing file works; a
 * trusted file works until it changes; a link as .cordon or settings.json is
 * refused; and no sandbox can forge a trust record (tried from inside, as
 * root and as an unprivileged user).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CLI, cordon, makeWorld, own, ROOT, runners, sh, type World } from '../../helpers/cordon.js';
import { tempDir } from '../../helpers/tmp.js';

const settingsOf = (w: World) => join(w.proj, '.cordon', 'settings.json');
function project(w: World, json: unknown): string {
  mkdirSync(join(w.proj, '.cordon'), { recursive: true });
  writeFileSync(settingsOf(w), typeof json === 'string' ? json : JSON.stringify(json));
  return settingsOf(w);
}
function userSettings(w: World, json: unknown): void {
  mkdirSync(join(w.home, '.config', 'cordon'), { recursive: true });
  writeFileSync(join(w.home, '.config', 'cordon', 'settings.json'), JSON.stringify(json));
}
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Refused before anything runs: exit 125, one line naming the file and the key. */
function assertRefused(w: World, key: string, extra: readonly string[] = [], why?: RegExp): string {
  const r = cordon(w, [...extra, '--', 'touch', 'RAN']);
  assert.equal(r.status, 125, `${key}: ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^cordon: ${escape(settingsOf(w))}: ${escape(key)}`), r.stderr);
  if (why) assert.match(r.stderr, why);
  assert.ok(!existsSync(join(w.proj, 'RAN')), `${key}: nothing may run`);
  return r.stderr;
}

/** Each widening key with a value that widens, set in the project file of a world whose user settings allow nothing extra. */
const WIDENING: { key: string; json: (w: World) => unknown; extra?: string[]; user?: unknown; why?: RegExp }[] = [
  { key: 'filesystem.allowWrite[0]', json: (w) => ({ filesystem: { allowWrite: [w.outside] } }), why: /would widen what your own settings allow .*read-only without it.*cordon trust .*or give --allow-write on the command line/ },
  { key: 'filesystem.allowWrite[0]', json: () => ({ filesystem: { allowWrite: ['~'] } }) },
  { key: 'filesystem.allowWrite[0]', json: () => ({ filesystem: { allowWrite: ['src'] } }), extra: ['--no-delete', '.'], why: /read-write-no-delete without it/ },
  { key: 'filesystem.allowWriteNoDelete[0]', json: (w) => ({ filesystem: { allowWriteNoDelete: [w.outside] } }) },
  { key: 'filesystem.allowWriteNoDelete[0]', json: () => ({ filesystem: { allowWriteNoDelete: ['.git/objects'] } }), extra: ['--no-delete', '.'], why: /lies in a read-write-no-delete path/ },
  { key: 'filesystem.allowRead[0]', json: () => ({ filesystem: { allowRead: ['~/.ssh'] } }), why: /re-open .*\.ssh, which .*default: credential store/ },
  { key: 'filesystem.allowRead[0]', json: () => ({ filesystem: { allowRead: ['~/.ssh/**'] } }), why: /re-open .*\.ssh\/(id_rsa|known_hosts)/ },
  { key: 'filesystem.allowRead[0]', json: () => ({ filesystem: { allowRead: ['~/notes.txt'] } }), user: { filesystem: { denyRead: ['~/notes.txt'] } } },
  { key: 'filesystem.allowRead[0]', json: () => ({ filesystem: { allowRead: ['/tmp'] } }), why: /show the host's \/tmp/ },
  { key: 'filesystem.denyWrite[0]', json: () => ({ filesystem: { denyWrite: [hostTmpDir()] } }), why: /show the host's \/tmp\/cordon-hostile-/ },
  { key: 'filesystem.allowGitConfig', json: () => ({ filesystem: { allowGitConfig: true } }) },
  { key: 'network.allowedDomains[0]', json: () => ({ network: { allowedDomains: ['example.com'] } }), why: /or give --allow-domain on the command line/ },
  { key: 'network.allowedDomains[0]', json: () => ({ network: { allowedDomains: ['example.com:8443'] } }), user: { network: { allowedDomains: ['example.com:443'] } } },
  { key: 'network.mode', json: () => ({ network: { mode: 'filtered' } }) },
  { key: 'network.mode', json: () => ({ network: { mode: 'dangerously-unfiltered' } }), user: { network: { allowedDomains: ['example.com'] } } },
  { key: 'network.denyPrivateAddresses', json: () => ({ network: { denyPrivateAddresses: false } }), user: { network: { denyPrivateAddresses: true } } },
  { key: 'network.allowAllUnixSockets', json: () => ({ network: { allowAllUnixSockets: true } }) },
  { key: 'network.allowLocalBinding', json: () => ({ network: { allowLocalBinding: true } }) },
  { key: 'network.allowMachLookup', json: () => ({ network: { allowMachLookup: ['com.apple.trustd'] } }) },
  { key: 'network.allowPlaintextHeaderSet', json: () => ({ network: { allowPlaintextHeaderSet: true } }) },
  { key: 'network.ambiguousRequestTarget', json: () => ({ network: { ambiguousRequestTarget: 'asSpelled' } }) },
  { key: 'network.httpProxyPort', json: () => ({ network: { httpProxyPort: 8080 } }) },
  { key: 'network.socksProxyPort', json: () => ({ network: { socksProxyPort: 1080 } }) },
  { key: 'network.parentProxy', json: () => ({ network: { parentProxy: { http: 'http://proxy.invalid:3128' } } }) },
  { key: 'network.mitmProxy', json: () => ({ network: { mitmProxy: { socketPath: '/x', domains: ['a.example'] } } }) },
  { key: 'network.tlsTerminate', json: () => ({ network: { tlsTerminate: {} } }) },
  { key: 'credentials.broker', json: () => ({ credentials: { broker: [{ env: 'T', hosts: ['example.com'], header: 'x-api-key' }] } }) },
  { key: 'network.stripResponseHeaders', json: () => ({ network: { stripResponseHeaders: ['set-cookie'] } }) },
  { key: 'credentials.allowPlaintextInject', json: () => ({ credentials: { allowPlaintextInject: true } }) },
  { key: 'credentials.sigv4', json: () => ({ credentials: { sigv4: { presigned: 'passthrough' } } }) },
  { key: 'credentials.files', json: () => ({ credentials: { files: [{ path: '/x' }] } }) },
  { key: 'filesystem.disabled', json: () => ({ filesystem: { disabled: true } }) },
  { key: 'enableWeakerNestedSandbox', json: () => ({ enableWeakerNestedSandbox: true }) },
  { key: 'allowNestedUserNamespaces', json: () => ({ allowNestedUserNamespaces: true }) },
  { key: 'enableWeakerNetworkIsolation', json: () => ({ enableWeakerNetworkIsolation: true }) },
  { key: 'allowAppleEvents', json: () => ({ allowAppleEvents: true }) },
  { key: 'allowPty', json: () => ({ allowPty: true }) },
  { key: 'ignoreViolations', json: () => ({ ignoreViolations: { '*': ['/usr/bin'] } }) },
  { key: 'mandatoryDenySearchDepth', json: () => ({ mandatoryDenySearchDepth: 1 }) },
  { key: 'ripgrep', json: () => ({ ripgrep: { command: 'rg' } }), why: /never chooses what runs/ },
  { key: 'seccomp', json: () => ({ seccomp: { applyPath: '/x' } }) },
  { key: 'bwrapPath', json: () => ({ bwrapPath: '/usr/bin/bwrap' }), why: /never chooses what runs/ },
  { key: 'socatPath', json: () => ({ socatPath: '/usr/bin/socat' }) },
  { key: 'javaAgentJarPath', json: () => ({ javaAgentJarPath: '/x.jar' }) },
  { key: 'windows', json: () => ({ windows: { backend: 'mxc' } }) },
  { key: 'git.safeDirectories', json: () => ({ git: { safeDirectories: ['/x'] } }) },
];

let tmpSeq = 0;
/** A host directory under /tmp, which the private /tmp hides. */
function hostTmpDir(): string {
  return realpathSync(tempDir(`/tmp/cordon-hostile-${tmpSeq++}-`));
}

for (const c of WIDENING) {
  test(`a project file's ${c.key} = ${JSON.stringify(c.json(makeWorldStub()))}${c.extra ? ` (with ${c.extra.join(' ')})` : ''} is refused, nothing run`, () => {
    const w = makeWorld();
    if (c.user) userSettings(w, c.user);
    project(w, c.json(w));
    assertRefused(w, c.key, c.extra ?? [], c.why);
  });
}

/** For test names only. */
function makeWorldStub(): World {
  return { root: '/w', home: '~', proj: '/w/proj', outside: '/w/outside', env: {} };
}

test("a project file's network.allowUnixSockets naming a socket no other source grants is refused; granted by the user, it loads", async () => {
  const w = makeWorld();
  const sock = join(w.outside, 'agent.sock');
  const server = createServer();
  await new Promise<void>((r) => server.listen(sock, r));
  try {
    project(w, { network: { allowUnixSockets: [sock] } });
    assertRefused(w, 'network.allowUnixSockets[0]', [], new RegExp(`no other source grants the socket ${escape(sock)}`));
    userSettings(w, { network: { allowUnixSockets: [sock] } });
    const r = cordon(w, ['--', 'true']);
    assert.equal(r.status, 0, r.stderr);
  } finally {
    server.close();
  }
});

test('a widening file is refused by explain and check too, and --ignore-project-settings leaves it out', () => {
  const w = makeWorld();
  project(w, { filesystem: { allowWrite: [w.outside] } });
  for (const args of [['explain'], ['check', 'write', join(w.outside, 'f')]]) {
    const r = cordon(w, args);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /filesystem\.allowWrite\[0\]/);
  }
  const r = cordon(w, ['--ignore-project-settings', '--', 'touch', 'RAN']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(w.proj, 'RAN')));
});

test('a .cordon that is a link, or a settings.json that is a link out of the project, is refused: never followed', () => {
  const w = makeWorld();
  mkdirSync(join(w.outside, 'conf'));
  writeFileSync(join(w.outside, 'conf', 'settings.json'), JSON.stringify({ filesystem: { allowWrite: [w.outside] } }));
  symlinkSync(join(w.outside, 'conf'), join(w.proj, '.cordon'));
  let r = cordon(w, ['--', 'touch', 'RAN']);
  assert.equal(r.status, 125);
  assert.match(r.stderr, new RegExp(`^cordon: ${escape(join(w.proj, '.cordon'))} is a symbolic link \\(to ${escape(join(w.outside, 'conf'))}\\): cordon reads project settings only from a regular file inside the project`));
  rmSync(join(w.proj, '.cordon'));
  mkdirSync(join(w.proj, '.cordon'));
  symlinkSync(join(w.outside, 'conf', 'settings.json'), join(w.proj, '.cordon', 'settings.json'));
  r = cordon(w, ['--', 'touch', 'RAN']);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /settings\.json is a symbolic link/);
  // Not trustable either: cordon trust reads it the same way.
  r = cordon(w, ['trust']);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /is a symbolic link/);
  assert.ok(!existsSync(join(w.proj, 'RAN')));
});

test('names from the project reach the terminal with their control characters escaped (no escape sequence of the repository runs there)', () => {
  const w = makeWorld();
  // OSC 52 writes the clipboard, CSI 2K and CR erase the line cordon was printing.
  symlinkSync('x\u001b]52;c;QUJD\u0007\u001b[2K\rfake', join(w.proj, '.cordon'));
  for (const args of [['--', 'true'], ['explain', '--', 'true'], ['--debug', '--', 'true']]) {
    const r = cordon(w, args);
    assert.equal(r.status, 125, args.join(' '));
    assert.doesNotMatch(r.stdout + r.stderr, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, args.join(' '));
    assert.match(r.stderr, /to x\\u001b\]52;c;QUJD\\u0007\\u001b\[2K\\u000dfake\)/);
  }
});

for (const { who, world, opts } of runners()) {
  test(`a narrowing project file applies inside: a hidden file, a read-only directory, no network where the user allowed a domain (${who})`, () => {
    const w = world();
    userSettings(w, { network: { allowedDomains: ['example.com'] } });
    project(w, { filesystem: { denyRead: ['README.md'], denyWrite: ['src'] }, network: { mode: 'none', deniedDomains: ['evil.example.com'] } });
    own(w, opts);
    // From a subdirectory: the project file's paths are the project's, not the working directory's.
    const r = sh(w, 'grep -q readme ../README.md && echo READ; echo x > ../src/new.js && echo WROTE; echo "proxy=${HTTPS_PROXY:-none}"; echo ok > ../ok.txt', ['--allow-write', w.proj], { ...opts, cwd: join(w.proj, 'deep') });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'proxy=none\n');
    assert.ok(!existsSync(join(w.proj, 'src', 'new.js')));
    assert.ok(existsSync(join(w.proj, 'ok.txt')), 'the rest of the project stays writable');
    const ex = cordon(w, ['explain'], opts);
    assert.equal(ex.status, 0, ex.stderr);
    assert.match(ex.stdout, new RegExp(`settings loaded: .*${escape(settingsOf(w))} \\(project: may only narrow\\)`));
    assert.match(ex.stdout, new RegExp(`network: none .*<- ${escape(settingsOf(w))}: network\\.mode`));
    assert.match(ex.stdout, new RegExp(`${escape(join(w.proj, 'README.md'))}  deny-read  <- ${escape(settingsOf(w))}: filesystem\\.denyRead\\[0\\]`));
  });

  test(`a project file's glob whose wildcard matches a file, with more path after it, applies where it matches and runs (${who})`, () => {
    const w = world();
    // `*` matches README.md (a file) as well as sub/: nothing can be under the file; sub/secret is hidden.
    mkdirSync(join(w.proj, 'sub'), { recursive: true });
    writeFileSync(join(w.proj, 'sub', 'secret'), 'top secret\n');
    project(w, { filesystem: { denyRead: ['*/secret', '*/nothing'] } });
    own(w, opts);
    const r = sh(w, 'cat sub/secret 2>/dev/null; echo ran', [], opts);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'ran\n');
  });

  test(`no sandbox can forge a trust record: not by writing the state directory, renaming it, or running cordon trust inside (${who})`, () => {
    const w = world();
    const widening = JSON.stringify({ filesystem: { allowWrite: [w.outside] } });
    const file = settingsOf(w);
    const record = JSON.stringify({ version: 1, path: file, sha256: createHash('sha256').update(widening).digest('hex'), trustedAt: '2026-01-01T00:00:00.000Z' });
    const name = `${createHash('sha256').update(file).digest('hex')}.json`;
    // Two state directories: the default one in $HOME (writable here with --allow-write ~), and one inside the project.
    for (const { extra, env, state } of [
      { extra: ['--allow-write', '~'], env: {}, state: join(w.home, '.local', 'state', 'cordon') },
      { extra: [], env: { XDG_STATE_HOME: join(w.proj, 'state') }, state: join(w.proj, 'state', 'cordon') },
    ]) {
      rmSync(join(w.proj, '.cordon'), { recursive: true, force: true });
      own(w, opts);
      // Once without a trust directory, once with one (made by trusting another, narrowing, file).
      for (const round of [0, 1]) {
        if (round === 1) {
          project(w, { filesystem: { denyRead: ['README.md'] } });
          own(w, opts);
          const t = cordon(w, ['trust'], { ...opts, env });
          assert.equal(t.status, 0, t.stderr);
          assert.ok(existsSync(join(state, 'trust')));
        }
        const trust = join(state, 'trust');
        const script = [
          `mkdir ${round === 0 ? trust : join(trust, 'new')} 2>/dev/null && echo MKDIR`,
          `printf '%s' '${record}' > ${join(trust, name)} 2>/dev/null && echo WROTE`,
          `mv ${state} ${state}.old 2>/dev/null && echo MOVED`,
          `mv ${join(state, '..')} ${join(state, '..')}.old 2>/dev/null && echo MOVED-PARENT`,
          ...(round === 1 ? [`rm -rf ${trust} 2>/dev/null; test -d ${trust} || echo REMOVED`, `ln -s /tmp ${join(trust, 'x')} 2>/dev/null && echo LINKED`] : []),
          // cordon itself, run inside: a project file of the command's own in a subdirectory, trusted from there.
          'mkdir -p sub/.cordon && printf "{}" > sub/.cordon/settings.json',
          `${process.execPath} ${CLI} trust sub/.cordon/settings.json 2>/tmp/err && echo TRUSTED; echo "INSIDE: $(cat /tmp/err)"`,
        ].join('; ');
        // cordon's own checkout is readable inside even where it lies under /tmp (a clone there is hidden by the private /tmp).
        const r = sh(w, script, [...extra, '--allow-read', ROOT], { ...opts, env });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^INSIDE: cordon: cannot (create|write) .* \((EROFS|EACCES|EPERM)\)\n$/, `round ${round}: nothing of the state directory may change from inside`);
        // The repository then ships the widening file whose hash the command knew: still refused.
        project(w, widening);
        own(w, opts);
        const after = cordon(w, [...extra, '--', 'touch', 'RAN'], { ...opts, env });
        assert.equal(after.status, 125, after.stderr);
        assert.match(after.stderr, /filesystem\.allowWrite\[0\]/);
        assert.ok(!existsSync(join(w.proj, 'RAN')));
        const list = cordon(w, ['trust', '--list', '--json'], { ...opts, env });
        assert.equal(list.status, 0, list.stderr);
        const trusted = (JSON.parse(list.stdout) as { trusted: { path: string; sha256: string }[] }).trusted;
        assert.ok(!trusted.some((t) => t.sha256 === JSON.parse(record).sha256), list.stdout);
        rmSync(join(w.proj, '.cordon'), { recursive: true, force: true });
      }
      assert.deepEqual(readdirSync(join(state, 'trust')), [name], 'only the record cordon trust wrote on the host');
    }
  });
}

test('a trusted file may widen; an edit makes it untrusted again; --revoke ends the trust; --list says which is which', () => {
  const w = makeWorld();
  const file = project(w, { filesystem: { allowWrite: ['.', w.outside] } });
  assertRefused(w, 'filesystem.allowWrite[1]');
  const t = cordon(w, ['trust']);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, new RegExp(`^trusted: ${escape(file)} \\(sha256 [0-9a-f]{16}…\\): it may now widen your settings through filesystem\\.allowWrite\\. Any change to the file makes it untrusted again\\n$`));
  let r = sh(w, `echo x > ${join(w.outside, 'made')} && echo OK`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'OK\n');
  const ex = cordon(w, ['explain']);
  assert.match(ex.stdout, new RegExp(`${escape(file)} \\(project: trusted, may widen\\)`));
  assert.match(ex.stdout, new RegExp(`${escape(w.outside)}  read-write  <- ${escape(file)}: filesystem\\.allowWrite\\[1\\]`));
  let list = cordon(w, ['trust', '--list']);
  assert.match(list.stdout, new RegExp(`^trusted   ${escape(file)}  \\(sha256 [0-9a-f]{16}…, trusted `));

  // One byte more: untrusted again, refused.
  writeFileSync(file, `${JSON.stringify({ filesystem: { allowWrite: ['.', w.outside] } })}\n`);
  assertRefused(w, 'filesystem.allowWrite[1]');
  list = cordon(w, ['trust', '--list']);
  assert.match(list.stdout, new RegExp(`^changed   ${escape(file)}`));
  // Trusted again, then revoked: refused even with the bytes it had.
  assert.equal(cordon(w, ['trust', file]).status, 0);
  assert.equal(cordon(w, ['--', 'true']).status, 0);
  r = cordon(w, ['trust', '--revoke', file]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^revoked: /);
  assertRefused(w, 'filesystem.allowWrite[1]');
  assert.equal(cordon(w, ['trust', '--revoke', file]).status, 125, 'nothing left to revoke');
  // The same bytes trusted at one path are not trusted at another.
  assert.equal(cordon(w, ['trust']).status, 0);
  const other = join(w.root, 'other');
  mkdirSync(join(other, '.cordon'), { recursive: true });
  mkdirSync(join(other, '.git'));
  writeFileSync(join(other, '.cordon', 'settings.json'), `${JSON.stringify({ filesystem: { allowWrite: ['.', w.outside] } })}\n`);
  r = cordon(w, ['--', 'true'], { cwd: other });
  assert.equal(r.status, 125, r.stderr);
});

test('cordon trust: only a project settings file, and a valid one', () => {
  const w = makeWorld();
  writeFileSync(join(w.proj, 'mine.json'), '{}');
  let r = cordon(w, ['trust', 'mine.json']);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /is not a project settings file \(\.cordon\/settings\.json\)/);
  r = cordon(w, ['trust']);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /no \.cordon\/settings\.json in .* or above it up to the repository root/);
  project(w, '{"filesystem":{"alowWrite":[]}}');
  r = cordon(w, ['trust']);
  assert.equal(r.status, 125);
  assert.match(r.stderr, /filesystem\.alowWrite: expected one of the known keys/);
  assert.equal(cordon(w, ['trust', '--list']).stdout, 'no project settings file is trusted\n');
});
