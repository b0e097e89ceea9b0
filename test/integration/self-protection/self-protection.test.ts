/**
 * cordon never runs what the command could have written. cordon installed
 * inside the project (`npm install cordon`, then `npx cordon`), its settings
 * files, its user settings directory and its state directory: the command
 * tries to rewrite each (directly and by renaming a parent) and must fail,
 * as root and as an unprivileged user; the next cordon start must run the
 * code it ran before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, cpSync, existsSync, linkSync, mkdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CLI as CLI_PATH, makeWorld, ROOT, testUser, type World } from '../../helpers/cordon.js';

/** A copy of this package inside the world's project, as npm would install it. */
function installInProject(w: World): string {
  const pkg = join(w.proj, 'node_modules', 'cordon');
  mkdirSync(pkg, { recursive: true });
  for (const p of ['package.json', 'bin', 'dist/bundle', 'native/build']) cpSync(join(ROOT, p), join(pkg, p), { recursive: true });
  // As npm links it: node_modules/.bin/cordon -> ../cordon/bin/cordon.cjs.
  mkdirSync(join(w.proj, 'node_modules', '.bin'));
  symlinkSync('../cordon/bin/cordon.cjs', join(w.proj, 'node_modules', '.bin', 'cordon'));
  return pkg;
}

function run(w: World, cli: string, args: string[], asUser?: string, env: NodeJS.ProcessEnv = {}) {
  return runArgv(w, [process.execPath, cli, ...args], asUser, env);
}

function runArgv(w: World, argv: string[], asUser?: string, env: NodeJS.ProcessEnv = {}) {
  const e = { ...w.env, ...env };
  const [cmd, ...rest] = asUser ? ['runuser', '-u', asUser, '--', 'env', ...Object.entries(e).map(([k, v]) => `${k}=${v}`), ...argv] : argv;
  return spawnSync(cmd!, rest, { cwd: w.proj, env: e, encoding: 'utf8', timeout: 60_000 });
}

const u = testUser();
for (const { who, asUser } of [{ who: 'root', asUser: undefined as string | undefined }, ...(u ? [{ who: 'an unprivileged user', asUser: u.name }] : [])]) {
  const world = () => (asUser ? makeWorld({ owner: u! }) : makeWorld());
  const own = (w: World) => { if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.root]); };

  test(`cordon installed in the project: the command cannot replace its helper, bundle or bin, directly or by renaming a parent (${who})`, () => {
    const w = world();
    const pkg = installInProject(w);
    own(w);
    const cli = join(pkg, 'bin', 'cordon.cjs');
    const files = ['native/build/cordon-helper', 'dist/bundle/main.cjs', 'bin/cordon.cjs', 'bin/load.cjs', 'package.json'].map((f) => join(pkg, f));
    const before = files.map((f) => readFileSync(f));
    const script = [
      ...files.map((f) => `printf '#!/bin/sh\\ntouch PWNED\\n' > ${f} 2>/dev/null && echo WROTE ${f}`),
      `mv ${pkg}/native/build ${pkg}/native/b2 2>/dev/null && echo MOVED build`,
      `mv ${pkg}/native ${pkg}/n2 2>/dev/null && echo MOVED native`,
      `mv ${pkg} ${w.proj}/node_modules/c2 2>/dev/null && echo MOVED pkg`,
      `mv ${w.proj}/node_modules ${w.proj}/nm2 2>/dev/null && echo MOVED node_modules`,
      // What npx runs: the bin link, and a node planted first on npx's PATH.
      `rm -f ${w.proj}/node_modules/.bin/cordon 2>/dev/null && echo REMOVED bin-link`,
      `printf '#!/bin/sh\\ntouch PWNED\\n' > ${w.proj}/node_modules/.bin/node 2>/dev/null && chmod +x ${w.proj}/node_modules/.bin/node 2>/dev/null && echo PLANTED node`,
      // The sh npm starts the bin with (first on its PATH too), and the project's npm settings.
      `printf '#!/bin/sh\\ntouch PWNED\\n' > ${w.proj}/node_modules/.bin/sh 2>/dev/null && chmod +x ${w.proj}/node_modules/.bin/sh 2>/dev/null && echo PLANTED sh`,
      `printf 'script-shell=${w.proj}/evil\\n' > ${w.proj}/.npmrc 2>/dev/null && echo PLANTED npmrc`,
      'echo inside > ok.txt; true',
    ].join('; ');
    const r = run(w, cli, ['--', '/bin/sh', '-c', script], asUser);
    assert.equal(r.status, 0, r.stderr);
    // The bin link can be removed while the run lasts (no mount holds a link); it is made again after.
    assert.equal(r.stdout, 'REMOVED bin-link\n', 'nothing else of cordon was written or moved');
    assert.match(r.stderr, /replaced the link .*node_modules\/\.bin\/cordon -> \.\.\/cordon\/bin\/cordon\.cjs.*made again/);
    assert.equal(readlinkSync(join(w.proj, 'node_modules', '.bin', 'cordon')), '../cordon/bin/cordon.cjs');
    assert.ok(!existsSync(join(w.proj, 'node_modules', '.bin', 'node')), 'no node planted where npx looks first');
    assert.ok(!existsSync(join(w.proj, 'node_modules', '.bin', 'sh')), 'no sh planted where npm looks first');
    assert.ok(!existsSync(join(w.proj, '.npmrc')), 'no npm settings planted in the project');
    files.forEach((f, i) => assert.deepEqual(readFileSync(f), before[i], f));
    assert.equal(readFileSync(join(w.proj, 'ok.txt'), 'utf8'), 'inside\n', 'the project itself stays writable');
    // The next start runs the same code it ran before.
    const again = run(w, cli, ['--', 'true'], asUser);
    assert.equal(again.status, 0, again.stderr);
  });

  test(`npx cordon: the project's .npmrc and node_modules/.bin/sh stay as they are, and a NODE_OPTIONS npm sets never reaches cordon's own process (${who})`, () => {
    const w = world();
    installInProject(w);
    writeFileSync(join(w.proj, 'package.json'), '{"name":"p","version":"1.0.0","private":true}\n');
    const marker = join(w.outside, 'HOST-REQUIRE');
    const evil = join(w.outside, 'evil.cjs');
    writeFileSync(evil, `require('fs').appendFileSync(${JSON.stringify(marker)}, process.argv.join(' ') + '\\n');\n`);
    // Project npm settings from before (written by hand, or by a run of a cordon that did not guard them).
    const npmrc = `node-options=--require ${evil}\n`;
    writeFileSync(join(w.proj, '.npmrc'), npmrc);
    mkdirSync(join(w.root, 'npm-cache'));
    own(w);
    const env = { PATH: `${dirname(process.execPath)}:${w.env.PATH}`, npm_config_cache: join(w.root, 'npm-cache'), npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
    const npx = (args: string[]) => runArgv(w, ['npx', '--offline', 'cordon', ...args], asUser, env);
    const r = npx(['--', '/bin/sh', '-c', [
      'printf "%s|" "$NODE_OPTIONS"',
      `printf '#!/bin/sh\\ntouch ${w.outside}/PWNED-sh\\nexec /bin/sh "$@"\\n' > node_modules/.bin/sh 2>/dev/null && chmod +x node_modules/.bin/sh && echo PLANTED sh`,
      `printf 'script-shell=${w.outside}/evil-shell\\n' >> .npmrc 2>/dev/null && echo WROTE npmrc`,
      `mv .npmrc npmrc.old 2>/dev/null && echo MOVED npmrc`,
      'true',
    ].join('; ')]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `--require ${evil}|`, 'the command gets NODE_OPTIONS as npm set it, and nothing was planted');
    assert.equal(readFileSync(join(w.proj, '.npmrc'), 'utf8'), npmrc);
    assert.ok(!existsSync(join(w.proj, 'node_modules', '.bin', 'sh')));
    const again = npx(['--', 'true']);
    assert.equal(again.status, 0, again.stderr);
    assert.ok(!existsSync(marker), `cordon's own process on the host loaded what NODE_OPTIONS named: ${existsSync(marker) ? readFileSync(marker, 'utf8') : ''}`);
    assert.ok(!existsSync(join(w.outside, 'PWNED-sh')));
  });

  test(`npx cordon from its cache (npm_config_local_prefix): node_modules can be removed and made again inside (npm ci), and a planted node_modules/.bin/sh is moved aside after the run (${who})`, () => {
    const w = world();
    mkdirSync(join(w.proj, 'node_modules', '.bin'), { recursive: true });
    symlinkSync('../dep/index.js', join(w.proj, 'node_modules', '.bin', 'dep'));
    own(w);
    const r = run(w, CLI_PATH, ['--', '/bin/sh', '-c', 'rm -rf node_modules && mkdir -p node_modules/.bin && printf "#!/bin/sh\\ntouch PWNED\\n" > node_modules/.bin/sh && echo reinstalled'], asUser, { npm_config_local_prefix: w.proj });
    assert.equal(r.stdout, 'reinstalled\n', r.stderr);
    assert.ok(!existsSync(join(w.proj, 'node_modules', '.bin', 'sh')), 'the planted sh is where npm looks first');
    assert.match(r.stderr, /the command created .*node_modules\/\.bin\/sh \(what `npx cordon` runs/);
  });

  test(`user settings that a sandbox still running created (--allow-write ~) are loaded by no other start, and are moved aside when it ends (${who})`, async () => {
    const w = world();
    const marker = join(w.outside, 'BROKER-RAN');
    own(w);
    // What the command writes: a brokered credential whose program cordon would run on the host, and a wider policy.
    const planted = JSON.stringify({ filesystem: { allowWrite: ['.', w.outside] }, network: { allowedDomains: ['example.invalid'], tlsTerminate: {} }, credentials: { broker: [{ env: 'X_TOKEN', hosts: ['example.invalid'], header: 'x-api-key', from: { command: ['/bin/sh', '-c', `touch ${marker}; echo abcdefghijkl`] } }] } });
    const ready = join(w.proj, 'READY');
    const ids = u && asUser ? { uid: u.uid, gid: u.gid } : {};
    const first = spawn(process.execPath, [CLI_PATH, '--allow-write', w.home, '--', '/bin/sh', '-c', `mkdir -p "$XDG_CONFIG_HOME/cordon" && printf '%s' '${planted}' > "$XDG_CONFIG_HOME/cordon/settings.json" && touch ${ready} && exec sleep 30`], { cwd: w.proj, env: w.env, stdio: 'ignore', ...ids });
    const closed = new Promise((r) => first.on('close', r));
    try {
      for (const deadline = Date.now() + 20_000; !existsSync(ready);) {
        assert.ok(Date.now() < deadline, 'the first sandbox never started');
        await new Promise((r) => setTimeout(r, 20));
      }
      const r = run(w, CLI_PATH, ['--', '/bin/sh', '-c', `echo escaped > ${w.outside}/ESCAPED`], asUser);
      assert.equal(r.status, 125, r.stderr);
      assert.match(r.stderr, new RegExp(`the settings file ${w.home}/\\.config/cordon/settings\\.json is writable by a sandbox that is still running \\(cordon pid ${first.pid}, writable path ${w.home}\\)`));
      assert.ok(!existsSync(join(w.outside, 'ESCAPED')));
    } finally {
      first.kill('SIGTERM');
      await closed;
    }
    assert.ok(!existsSync(join(w.home, '.config', 'cordon', 'settings.json')), 'moved aside after the run');
    const after = run(w, CLI_PATH, ['--', 'true'], asUser);
    assert.equal(after.status, 0, after.stderr);
    assert.ok(!existsSync(marker), 'the planted program ran on the host');
  });

  test(`user settings reached through a link a sandbox still running could swap (a stow-style ~/.config) are loaded by no other start (${who})`, async () => {
    const w = world();
    mkdirSync(join(w.home, 'dotfiles', 'config', 'cordon'), { recursive: true });
    writeFileSync(join(w.home, 'dotfiles', 'config', 'cordon', 'settings.json'), '{}');
    symlinkSync('dotfiles/config', join(w.home, '.config'));
    own(w);
    const ready = join(w.proj, 'READY');
    const ids = u && asUser ? { uid: u.uid, gid: u.gid } : {};
    // The link itself is what it could swap, between another start's load and its check: that start must not load at all.
    const first = spawn(process.execPath, [CLI_PATH, '--allow-write', w.home, '--', '/bin/sh', '-c', `touch ${ready} && exec sleep 30`], { cwd: w.proj, env: w.env, stdio: 'ignore', ...ids });
    const closed = new Promise((r) => first.on('close', r));
    try {
      for (const deadline = Date.now() + 20_000; !existsSync(ready);) {
        assert.ok(Date.now() < deadline, 'the first sandbox never started');
        await new Promise((r) => setTimeout(r, 20));
      }
      const r = run(w, CLI_PATH, ['--', 'true'], asUser);
      assert.equal(r.status, 125, r.stderr);
      assert.match(r.stderr, new RegExp(`the settings file ${w.home}/\\.config/cordon/settings\\.json \\(through the link ${w.home}/\\.config\\) is writable by a sandbox that is still running`));
    } finally {
      first.kill('SIGTERM');
      await closed;
    }
    const after = run(w, CLI_PATH, ['--', 'true'], asUser);
    assert.equal(after.status, 0, after.stderr);
  });

  test(`settings files in use, the user settings directory and the state directory come out of the run unchanged (${who})`, () => {
    const w = world();
    const cfgHome = join(w.proj, 'cfg'); // XDG_CONFIG_HOME pointed into the project
    mkdirSync(join(cfgHome, 'cordon'), { recursive: true });
    writeFileSync(join(cfgHome, 'cordon', 'settings.json'), '{"filesystem":{"denyRead":["~/notes.txt"]}}');
    mkdirSync(join(w.proj, 'conf'));
    writeFileSync(join(w.proj, 'conf', 'extra.json'), '{"filesystem":{"denyWrite":["src"]}}');
    const stateHome = join(w.proj, 'state');
    mkdirSync(stateHome);
    own(w);
    const env = { XDG_CONFIG_HOME: cfgHome, XDG_STATE_HOME: stateHome };
    const wide = '{"filesystem":{"allowWrite":["/"]}}';
    const script = [
      `echo '${wide}' > ${cfgHome}/cordon/settings.json 2>/dev/null && echo WROTE user`,
      `mv ${cfgHome}/cordon ${cfgHome}/c2 2>/dev/null && echo MOVED userdir`,
      `mv ${cfgHome} ${w.proj}/cfg2 2>/dev/null && echo MOVED cfg`,
      `mkdir -p ${cfgHome}/cordon/x 2>/dev/null && echo MKDIR in userdir`,
      `echo '${wide}' > conf/extra.json 2>/dev/null && echo WROTE extra`,
      'mv conf conf2 2>/dev/null && echo MOVED conf',
      `touch ${stateHome}/cordon/journal-1-x.json 2>/dev/null && echo WROTE state`,
      `mv ${stateHome}/cordon ${stateHome}/c2 2>/dev/null && echo MOVED state`,
      `mv ${stateHome} ${w.proj}/s2 2>/dev/null && echo MOVED statehome`,
      'true',
    ].join('; ');
    const r = run(w, join(ROOT, 'bin', 'cordon.cjs'), ['--settings', 'conf/extra.json', '--', '/bin/sh', '-c', script], asUser, env);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(readFileSync(join(cfgHome, 'cordon', 'settings.json'), 'utf8'), '{"filesystem":{"denyRead":["~/notes.txt"]}}');
    assert.equal(readFileSync(join(w.proj, 'conf', 'extra.json'), 'utf8'), '{"filesystem":{"denyWrite":["src"]}}');
    assert.ok(statSync(join(stateHome, 'cordon')).isDirectory());

    // A run that did not use it makes a second name for it; a run that uses it would keep only its own name
    // read-only, so cordon refuses a settings file with more than one name, nothing run, the file unchanged.
    const link = run(w, join(ROOT, 'bin', 'cordon.cjs'), ['--', '/bin/sh', '-c', 'ln conf/extra.json evil && echo LINKED'], asUser, env);
    assert.equal(link.stdout, 'LINKED\n', link.stderr);
    const through = run(w, join(ROOT, 'bin', 'cordon.cjs'), ['--settings', 'conf/extra.json', '--', '/bin/sh', '-c', `echo '${wide}' > evil; echo RAN`], asUser, env);
    assert.equal(through.status, 125, through.stderr);
    assert.equal(through.stdout, '');
    assert.match(through.stderr, /conf\/extra\.json: settings file has 2 hard links, and through another name a sandboxed command could rewrite it/);
    assert.equal(readFileSync(join(w.proj, 'conf', 'extra.json'), 'utf8'), '{"filesystem":{"denyWrite":["src"]}}');
    if (asUser) {
      // One the user cannot write (another owner's, as a read-only store that links identical files keeps them): it loads.
      const store = join(w.root, 'store');
      mkdirSync(store);
      writeFileSync(join(store, 'a.json'), '{"filesystem":{"denyWrite":["src"]}}', { mode: 0o444 });
      linkSync(join(store, 'a.json'), join(store, 'b.json'));
      chownSync(store, 0, 0);
      const stored = run(w, join(ROOT, 'bin', 'cordon.cjs'), ['--settings', join(store, 'a.json'), '--', '/bin/sh', '-c', 'echo RAN'], asUser, env);
      assert.equal(stored.stdout, 'RAN\n', stored.stderr);
    }
  });
}

for (const { who, asUser } of [{ who: 'root', asUser: undefined as string | undefined }, ...(u ? [{ who: 'an unprivileged user', asUser: u.name }] : [])]) {
  const world = () => (asUser ? makeWorld({ owner: u! }) : makeWorld());
  const own = (w: World) => { if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.root]); };
  const wide = '{"filesystem":{"allowWrite":["/"]}}';

  test(`a settings file or the state directory reached through a link into the writable project comes out of the run unchanged (${who})`, () => {
    const w = world();
    // A dotfiles repository in the project: ~/.config/cordon/settings.json is a link to a file in
    // it, and XDG_STATE_HOME names a link to a directory in it.
    mkdirSync(join(w.proj, 'dots', 'sub'), { recursive: true });
    writeFileSync(join(w.proj, 'dots', 'sub', 'cordon.json'), '{"filesystem":{"denyRead":["~/notes.txt"]}}');
    mkdirSync(join(w.home, '.config', 'cordon'), { recursive: true });
    symlinkSync(join(w.proj, 'dots', 'sub', 'cordon.json'), join(w.home, '.config', 'cordon', 'settings.json'));
    mkdirSync(join(w.proj, 'dots', 'state'));
    symlinkSync(join(w.proj, 'dots', 'state'), join(w.home, 'state'));
    own(w);
    const env = { XDG_STATE_HOME: join(w.home, 'state') };
    assert.equal(run(w, join(ROOT, 'bin', 'cordon.cjs'), ['--', 'true'], asUser, env).status, 0);
    assert.ok(statSync(join(w.proj, 'dots', 'state', 'cordon')).isDirectory());
    const script = [
      `echo '${wide}' > dots/sub/cordon.json 2>/dev/null && echo WROTE user`,
      'mv dots/sub dots/s2 2>/dev/null && echo MOVED sub',
      'touch dots/state/cordon/journal-1-x.json 2>/dev/null && echo WROTE state',
      'mkdir -p dots/state/cordon/trust/x 2>/dev/null && echo MKDIR trust',
      'mv dots/state dots/s3 2>/dev/null && echo MOVED state',
      'mv dots dots2 2>/dev/null && echo MOVED dots',
      'cat ~/notes.txt 2>/dev/null',
      'true',
    ].join('; ');
    const r = run(w, join(ROOT, 'bin', 'cordon.cjs'), ['--', '/bin/sh', '-c', script], asUser, env);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.equal(readFileSync(join(w.proj, 'dots', 'sub', 'cordon.json'), 'utf8'), '{"filesystem":{"denyRead":["~/notes.txt"]}}');
    assert.ok(!existsSync(join(w.proj, 'dots', 'state', 'cordon', 'journal-1-x.json')));
    assert.ok(!existsSync(join(w.proj, 'dots', 'state', 'cordon', 'trust', 'x')));
  });

  test(`a run with another XDG_STATE_HOME and a writable home cannot forge what a run with the default one trusts (${who})`, () => {
    const w = world();
    mkdirSync(join(w.root, 'elsewhere'));
    own(w);
    // The default state directory exists: a run with the default environment made it.
    assert.equal(run(w, join(ROOT, 'bin', 'cordon.cjs'), ['--', 'true'], asUser).status, 0);
    const state = join(w.home, '.local', 'state', 'cordon');
    assert.ok(statSync(state).isDirectory());
    const r = run(w, join(ROOT, 'bin', 'cordon.cjs'), ['--allow-write', w.home, '--', '/bin/sh', '-c', [
      `mkdir -p ${state}/trust 2>/dev/null; echo '{}' > ${state}/trust/forged.json 2>/dev/null && echo WROTE trust`,
      `mv ${state} ${state}.old 2>/dev/null && echo MOVED state`,
      `mkdir -p ${join(w.home, '.cache', 'cordon', 'x')} 2>/dev/null && echo MADE cache`,
      'true',
    ].join('; ')], asUser, { XDG_STATE_HOME: join(w.root, 'elsewhere') });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.ok(!existsSync(join(state, 'trust', 'forged.json')));
    assert.ok(!existsSync(join(w.home, '.cache', 'cordon', 'x')), 'made, then moved aside after the run');
  });
}

test('a state directory cordon did not make is refused, nothing run; two first runs at once both start', async () => {
  const w = makeWorld();
  const forged = join(w.root, 'forged');
  mkdirSync(join(forged, 'cordon'), { recursive: true, mode: 0o700 });
  spawnSync('chmod', ['700', join(forged, 'cordon')]);
  // What a sandbox with a writable parent could have prepared: a scan cache that hides a repository.
  mkdirSync(join(forged, 'cordon', 'cache'), { mode: 0o700 });
  writeFileSync(join(forged, 'cordon', 'cache', 'scan-0000000000000000.cache'), 'forged');
  const r = run(w, join(ROOT, 'bin', 'cordon.cjs'), ['--', 'touch', 'RAN'], undefined, { XDG_STATE_HOME: forged });
  assert.equal(r.status, 125);
  assert.match(r.stderr, /state directory .*forged\/cordon was not made by cordon \(it has no \.cordon-state marker\).*rm -r/);
  assert.ok(!existsSync(join(w.proj, 'RAN')), 'nothing ran');

  const fresh = join(w.root, 'fresh-state');
  const both = await Promise.all([0, 1].map((i) => new Promise<number | null>((resolve) => {
    const c = spawn(process.execPath, [join(ROOT, 'bin', 'cordon.cjs'), '--', 'touch', `RAN${i}`], { cwd: w.proj, env: { ...w.env, XDG_STATE_HOME: fresh }, stdio: 'ignore' });
    c.on('close', resolve);
  })));
  assert.deepEqual(both, [0, 0]);
  assert.ok(existsSync(join(fresh, 'cordon', '.cordon-state')));
});

/**
 * A copy of cordon in a directory `tools` outside the project, and a sandbox
 * started by this checkout's cordon that may write there: it runs `script`,
 * then says it is ready; the caller gets it once it is.
 */
async function copyWithWriter(w: World, script: (pkg: string) => string, beforeWriter: (pkg: string) => void = () => {}): Promise<{ shared: string; pkg: string; running: ChildProcess; stop: () => Promise<void> }> {
  const shared = join(w.outside, 'tools');
  const pkg = join(shared, 'cordon');
  mkdirSync(pkg, { recursive: true });
  for (const p of ['package.json', 'bin', 'dist/bundle', 'native/build']) cpSync(join(ROOT, p), join(pkg, p), { recursive: true });
  beforeWriter(pkg);
  const running = spawn(process.execPath, [join(ROOT, 'bin', 'cordon.cjs'), '--allow-write', shared, '--', '/bin/sh', '-c', `${script(pkg)}; touch "$READY"; exec sleep 30`], { cwd: w.proj, env: { ...w.env, READY: join(w.proj, 'READY') }, stdio: 'ignore' });
  const stop = async () => {
    running.kill('SIGTERM');
    await new Promise((r) => running.on('close', r));
  };
  const deadline = Date.now() + 20_000;
  while (!existsSync(join(w.proj, 'READY'))) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error('the first sandbox never started');
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { shared, pkg, running, stop };
}

test('a cordon whose programs a running sandbox can write refuses to start until that sandbox ends', async () => {
  const w = makeWorld();
  const { shared, pkg, running, stop } = await copyWithWriter(w, () => 'true');
  try {
    const r = run(w, join(pkg, 'bin', 'cordon.cjs'), ['--', 'touch', 'RAN']);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, new RegExp(`${pkg}/\\S+ is writable by a sandbox that is still running \\(cordon pid ${running.pid}, writable path ${shared}\\)`));
    assert.ok(!existsSync(join(w.proj, 'RAN')));
  } finally {
    await stop();
  }
  const after = run(w, join(pkg, 'bin', 'cordon.cjs'), ['--', 'touch', 'RAN']);
  assert.equal(after.status, 0, after.stderr);
});

test("while a sandbox that can write cordon's helper runs, cordon runs none of its programs before refusing: not its start-up scan, not a sandbox started ahead", async () => {
  const w = makeWorld();
  const pwned = join(w.outside, 'PWNED');
  // The running sandbox replaces the copy's helper with a program of its own, which would run on the host.
  const { pkg, stop } = await copyWithWriter(w, (copy) => `printf '#!/bin/sh\\ntouch ${pwned}\\n' > ${join(copy, 'native', 'build', 'cordon-helper')}`, (copy) => {
    // A first run of that copy: the next one like it starts its scan and its sandbox ahead (early.ts).
    const first = run(w, join(copy, 'bin', 'cordon.cjs'), ['--', 'true']);
    assert.equal(first.status, 0, first.stderr);
  });
  try {
    const r = run(w, join(pkg, 'bin', 'cordon.cjs'), ['--', 'true']);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /is writable by a sandbox that is still running/);
    assert.ok(!existsSync(pwned), 'cordon ran the helper the sandbox wrote');
  } finally {
    await stop();
  }
});
