/**
 * The never-writable and hidden-by-default lists (src/policy/protected.ts,
 * src/policy/defaults.ts), attacked from inside through the real CLI, as
 * root and as an unprivileged user. Every outcome is judged on the host
 * afterwards (does the file hold what it held? does it exist?), and every
 * deny has a control run in which the same attempt succeeds, so a test
 * cannot pass because the attempt was broken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cordon, makeWorld, testUser, type World } from '../../helpers/cordon.js';

interface Caller { readonly label: string; readonly owner?: { uid: number; gid: number }; readonly asUser?: string }

// Root, and an unprivileged user where the suite runs as root (as CI does).
function callers(): Caller[] {
  const u = testUser();
  return [{ label: 'root' }, ...(u ? [{ label: u.name, owner: { uid: u.uid, gid: u.gid }, asUser: u.name }] : [])];
}

/** Files in the world, owned by the caller (as makeWorld's own are). */
function put(w: World, who: Caller, files: readonly [rel: string, content: string][]): void {
  for (const [rel, content] of files) {
    const p = join(w.root, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  if (who.owner) spawnSync('chown', ['-R', `${who.owner.uid}:${who.owner.gid}`, w.root]);
}

function run(w: World, who: Caller, args: string[], script: string) {
  const r = cordon(w, [...args, '/bin/sh', '-c', script], who.asUser ? { asUser: who.asUser } : {});
  assert.equal(r.status, 0, `${who.label}: ${r.stderr}`);
  return r;
}

/** Secrets in $HOME that no command should read by default (each file holds its own marker). */
const HIDDEN_IN_HOME = [
  '.claude/.credentials.json', '.codex/auth.json', '.gemini/oauth_creds.json', '.config/github-copilot/apps.json',
  '.config/containers/auth.json', '.config/sops/age/keys.txt', '.s3cfg', '.boto', '.terraformrc',
  '.pulumi/credentials.json', '.mylogin.cnf',
  '.bash_history', '.zsh_history', '.zhistory', '.histfile', '.sh_history', '.local/share/fish/fish_history',
  '.python_history', '.node_repl_history', '.psql_history', '.mysql_history', '.sqlite_history',
  '.rediscli_history', '.irb_history', '.lesshst', '.viminfo',
];

const marker = (rel: string) => `SECRET-${rel.replace(/[^A-Za-z0-9]/g, '_')}`;

test('hidden by default: agent tokens, tool credentials and histories in $HOME', () => {
  for (const who of callers()) {
    const w = makeWorld(who.owner ? { owner: who.owner } : {});
    put(w, who, HIDDEN_IN_HOME.map((rel) => [join('home', rel), marker(rel)]));
    const script = HIDDEN_IN_HOME.map((rel) => `cat ${w.home}/${rel} 2>/dev/null`).join('; ') + '; echo end';
    const r = run(w, who, [], script);
    assert.equal(r.stdout, 'end\n', `${who.label}: nothing is read`);
    // Control: re-opened, every one of them reads (so the attempts above were real).
    const open = run(w, who, HIDDEN_IN_HOME.flatMap((rel) => ['--allow-read', `${w.home}/${rel}`]), script);
    for (const rel of HIDDEN_IN_HOME) assert.match(open.stdout, new RegExp(marker(rel)), `${who.label}: control for ${rel}`);
    // Written over from inside with $HOME writable: the secret stays, nothing is replaced.
    run(w, who, ['--allow-write', w.home], HIDDEN_IN_HOME.map((rel) => `echo x > ${w.home}/${rel} 2>/dev/null`).join('; ') + '; true');
    for (const rel of HIDDEN_IN_HOME) assert.equal(readFileSync(join(w.home, rel), 'utf8'), marker(rel), `${who.label}: ${rel} unchanged`);
  }
});

/**
 * The command that runs the rest of its arguments in a private mount
 * namespace in which /etc is an overlay whose changes live in the world's
 * `upper` directory, and /var/backups is the world's `backups` directory.
 * The host-wide fixtures below exist only there: another cordon run going on
 * at the same time never sees them, so it neither hides them nor is stopped
 * when they go (a hidden file removed on the host stops the run that hides it).
 */
function hostFixtures(w: World): { within: string[]; etc: string; backups: string } {
  const etc = join(w.root, 'sys', 'upper');
  const work = join(w.root, 'sys', 'work');
  const backups = join(w.root, 'sys', 'backups');
  for (const d of [etc, work, backups]) mkdirSync(d, { recursive: true, mode: 0o755 });
  const script = 'set -e; mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc; mount --bind "$3" /var/backups; shift 3; exec "$@"';
  return { within: ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', script, 'sh', etc, work, backups], etc, backups };
}

test('hidden by default: host secrets outside $HOME (/var/backups/*shadow*, /etc/kubernetes, /etc/wireguard, /etc/ssl/private)', () => {
  const tag = `cordon-test-${process.pid}`;
  const fixtures = [join('/var/backups', `${tag}-shadow.bak`), join('/etc/kubernetes', `${tag}-admin.conf`), join('/etc/wireguard', `${tag}.conf`), join('/etc/ssl/private', `${tag}.key`)];
  let userChecked = 0;
  for (const who of callers()) {
    const w = makeWorld(who.owner ? { owner: who.owner } : {});
    const sys = hostFixtures(w);
    for (const f of fixtures) {
      const at = f.startsWith('/etc/') ? join(sys.etc, f.slice('/etc/'.length)) : join(sys.backups, f.slice('/var/backups/'.length));
      mkdirSync(dirname(at), { recursive: true, mode: 0o755 });
      writeFileSync(at, marker(f), { mode: 0o644 });
    }
    // As on the host: /etc/ssl/private is root's alone.
    chmodSync(join(sys.etc, 'ssl', 'private'), 0o700);
    const within = (args: string[], script: string) => {
      const r = cordon(w, [...args, '/bin/sh', '-c', script], { within: sys.within, ...(who.asUser ? { asUser: who.asUser } : {}) });
      assert.equal(r.status, 0, `${who.label}: ${r.stderr}`);
      return r;
    };
    // Control first: only a fixture this caller can read tells anything about
    // cordon, and re-opened, each of those reads.
    const script = fixtures.map((f) => `cat ${f} 2>/dev/null`).join('; ') + '; echo end';
    const canRead = (f: string) => !who.asUser || spawnSync(sys.within[0]!, [...sys.within.slice(1), 'runuser', '-u', who.asUser, '--', 'test', '-r', f]).status === 0;
    const readable = fixtures.filter(canRead);
    const open = within(readable.flatMap((f) => ['--allow-read', f]), script);
    assert.deepEqual(fixtures.filter((f) => open.stdout.includes(marker(f))), readable, `${who.label}: control`);
    if (!who.asUser) assert.deepEqual(readable, fixtures, 'root reads every fixture');
    else userChecked = readable.length;
    const r = within([], script);
    assert.equal(r.stdout, 'end\n', `${who.label}: none of ${fixtures.join(', ')} is read`);
  }
  if (testUser()) assert.ok(userChecked > 0, 'the unprivileged user could read at least one fixture when re-opened');
  for (const f of fixtures) assert.ok(!existsSync(f), `${f} exists only in the test's own mount namespace`);
});

/** Names protected at the root of every writable path that this suite adds; each is attempted missing and existing. */
const NEW_NAMES = ['.devcontainer.json', 'CLAUDE.md', 'CLAUDE.local.md', 'AGENTS.md', 'AGENTS.override.md', 'GEMINI.md', '.windsurfrules', '.clinerules', '.aider.conf.yml', 'opencode.json', 'opencode.jsonc', '.opencode', '.continue', '.roo', '.kiro', '.amazonq'];

test('never writable at the root of a writable path: agent instructions and settings, .devcontainer.json', () => {
  for (const who of callers()) {
    const w = makeWorld(who.owner ? { owner: who.owner } : {});
    const existing = join(w.outside, 'existing');
    put(w, who, NEW_NAMES.map((n) => [join('outside', 'existing', n), `ORIGINAL ${n}`]));
    const attempt = (dir: string) => NEW_NAMES.map((n) => [
      `(echo evil >> ${dir}/${n}) 2>/dev/null && echo "BROKE append ${n}"`,
      `(rm -f ${dir}/${n} && echo evil > ${dir}/${n}) 2>/dev/null && echo "BROKE replace ${n}"`,
      `(mv ${dir}/${n} ${dir}/${n}.old) 2>/dev/null && echo "BROKE rename ${n}"`,
      `(mkdir -p ${dir}/${n} && echo evil > ${dir}/${n}/x) 2>/dev/null && echo "BROKE dir ${n}"`,
    ].join('; ')).join('; ') + '; echo end';
    // Missing ones in the project (the working directory), existing ones in another writable path.
    const r = run(w, who, ['--allow-write', existing], `${attempt(w.proj)}; ${attempt(existing)}`);
    assert.equal(r.stdout, 'end\nend\n', `${who.label}: ${r.stdout}`);
    for (const n of NEW_NAMES) {
      assert.ok(!existsSync(join(w.proj, n)), `${who.label}: ${n} was not created (and its placeholder is gone)`);
      assert.equal(readFileSync(join(existing, n), 'utf8'), `ORIGINAL ${n}`, `${who.label}: ${n} unchanged`);
    }
    // Control: an unprotected name next to them is writable.
    run(w, who, [], 'echo ok > NOTES.md');
    assert.equal(readFileSync(join(w.proj, 'NOTES.md'), 'utf8'), 'ok\n');
  }
});

/** Guarded after the run (AFTER_RUN_NAMES): no placeholder, so the command can make one while it runs; none is left where an agent looks. */
const AFTER_RUN = ['AGENT.md', 'QWEN.md', 'CRUSH.md', 'WARP.md', '.rules', '.goosehints', '.roomodes', '.junie/guidelines.md', '.qwen/settings.json', '.kilocode/mcp.json', '.crush.json', '.github/copilot-instructions.md'];

test('agent instructions and settings guarded after the run: existing ones read-only, new ones moved aside, at a writable root and a nested repository\'s root', () => {
  for (const who of callers()) {
    const w = makeWorld(who.owner ? { owner: who.owner } : {});
    const existing = join(w.outside, 'existing');
    put(w, who, AFTER_RUN.map((n) => [join('outside', 'existing', n), `ORIGINAL ${n}`]));
    const nested = join(w.proj, 'deep', 'a', 'b', 'c');
    const plant = (dir: string) => AFTER_RUN.map((n) => `(mkdir -p "$(dirname ${dir}/${n})"; echo evil >> ${dir}/${n}) 2>/dev/null && echo "WROTE ${n}"`).join('; ');
    const r = run(w, who, ['--allow-write', existing], `${plant(existing)}; { ${plant(w.proj)}; ${plant(nested)}; } >/dev/null; echo end`);
    assert.equal(r.stdout, 'end\n', `${who.label}: an existing one was writable: ${r.stdout}`);
    for (const n of AFTER_RUN) {
      assert.equal(readFileSync(join(existing, n), 'utf8'), `ORIGINAL ${n}`, `${who.label}: ${n} unchanged`);
      assert.ok(!existsSync(join(w.proj, n)), `${who.label}: ${n} left at the writable root`);
      // A name of two components is watched at writable roots only.
      if (!n.startsWith('.github/')) assert.ok(!existsSync(join(nested, n)), `${who.label}: ${n} left at the nested repository's root`);
    }
    assert.match(r.stderr, /the command created .*\/AGENT\.md \(agent instructions \(Amp\)\).*moved to .*AGENT\.md\.cordon-untrusted/);
  }
});

test('a grant at or in a protected name of the project or of $HOME (./.claude, ./*, ~/*, a glob over a cache) leaves the name read-only', () => {
  for (const who of callers()) {
    const w = makeWorld(who.owner ? { owner: who.owner } : {});
    put(w, who, [['proj/.claude/settings.json', '{}'], ['proj/.vscode/tasks.json', '{}'], ['proj/CLAUDE.md', '# real'], ['home/.cache/pip/keep', 'wheel']]);
    const attempt = ['.claude/settings.json', '.vscode/tasks.json', 'CLAUDE.md'].map((f) => `(echo evil >> ${w.proj}/${f}) 2>/dev/null && echo "BROKE ${f}"`)
      .concat([`(echo evil >> ${w.home}/.bashrc) 2>/dev/null && echo "BROKE .bashrc"`, `(echo evil >> ${w.home}/.cache/pip/keep) 2>/dev/null && echo "BROKE pip"`]).join('; ') + '; echo end';
    for (const args of [['--allow-write', './.claude', '--allow-write', './.vscode', '--allow-write', './CLAUDE.md'], ['--allow-write', './*'], ['--allow-write', '~/*', '--allow-write', '~/.cache/*']]) {
      const r = run(w, who, args, attempt);
      assert.equal(r.stdout, 'end\n', `${who.label}, ${args.join(' ')}: ${r.stdout}`);
      assert.match(r.stderr, /is never writable in a sandbox, so it is read-only in this run/);
    }
    assert.equal(readFileSync(join(w.proj, 'CLAUDE.md'), 'utf8'), '# real');
    assert.equal(readFileSync(join(w.home, '.bashrc'), 'utf8'), '# rc');
    // Control: a grant of an ordinary child of the project is writable.
    const ok = run(w, who, ['--allow-write', './src'], `echo x >> ${w.proj}/src/main.js && echo wrote`);
    assert.equal(ok.stdout, 'wrote\n');
    // A nested repository's names, granted from outside its tree; the working directory's names under a grant above it.
    put(w, who, [['proj/deep/a/b/c/.claude/settings.json', '{}']]);
    const nested = cordon(w, ['--allow-write', '../deep/a/b/c/.claude', '/bin/sh', '-c', `(echo evil >> ${w.proj}/deep/a/b/c/.claude/settings.json) 2>/dev/null && echo BROKE; echo end`], { cwd: join(w.proj, 'src'), ...(who.asUser ? { asUser: who.asUser } : {}) });
    assert.equal(nested.stdout, 'end\n', `${who.label}: ${nested.stderr}`);
    const above = run(w, who, ['--allow-write', '..'], `(echo evil > ${w.proj}/.envrc) 2>/dev/null && echo BROKE; echo end`);
    assert.equal(above.stdout, 'end\n', `${who.label}: ${above.stderr}`);
    assert.ok(!existsSync(join(w.proj, '.envrc')) || readFileSync(join(w.proj, '.envrc'), 'utf8') === '', `${who.label}: .envrc planted in the working directory`);
  }
});

test('glob grants: dir/** is dir with its protections, a match through a link the project ships is refused, a ** match outside every writable path is refused, and a granted .github keeps copilot-instructions.md', () => {
  for (const who of callers()) {
    const w = makeWorld(who.owner ? { owner: who.owner } : {});
    put(w, who, [['home/sub/x/keep', 'k'], ['proj/.github/workflows/ci.yml', 'on: push']]);
    symlinkSync(w.home, join(w.proj, 'build'));
    if (who.owner) spawnSync('chown', ['-h', `${who.owner.uid}:${who.owner.gid}`, join(w.proj, 'build')]);
    const as = who.asUser ? { asUser: who.asUser } : {};
    // ~/** is ~: .bashrc and cordon's own state stay read-only.
    const star = run(w, who, ['--allow-write', '~/**'], `(echo evil >> ${w.home}/.bashrc) 2>/dev/null && echo BROKE; echo ok > ${w.home}/sub/x/new && echo wrote`);
    assert.equal(star.stdout, 'wrote\n', `${who.label}: ${star.stderr}`);
    assert.equal(readFileSync(join(w.home, '.bashrc'), 'utf8'), '# rc');
    for (const g of ['./build/*', './build/**']) {
      const r = cordon(w, ['--allow-write', g, '/bin/sh', '-c', `echo evil >> ${w.home}/.bashrc`], as);
      assert.equal(r.status, 125, `${who.label}, ${g}: ${r.stderr}`);
      assert.match(r.stderr, /through the symlink|symbolic link/);
    }
    // A ** match that is itself a link the project ships (sub/build -> $HOME, a file link too): refused, not followed.
    mkdirSync(join(w.proj, 'sub'));
    symlinkSync(w.home, join(w.proj, 'sub', 'build'));
    symlinkSync(join(w.home, '.bashrc'), join(w.proj, 'sub', 'notes.txt'));
    if (who.owner) spawnSync('chown', ['-R', '-h', `${who.owner.uid}:${who.owner.gid}`, join(w.proj, 'sub')]);
    for (const g of ['**/build', '**/notes.txt']) {
      const r = cordon(w, ['--allow-write', g, '/bin/sh', '-c', `echo evil >> ${w.home}/.bashrc`], as);
      assert.equal(r.status, 125, `${who.label}, ${g}: ${r.stderr}`);
      assert.match(r.stderr, /a symbolic link to \S+, which lies in no other writable path/);
    }
    // Nor a ** re-open of a read through such a link (sub/keys -> ~/.ssh).
    symlinkSync(join(w.home, '.ssh'), join(w.proj, 'sub', 'keys'));
    const reopen = cordon(w, ['--allow-read', '**/keys', '/bin/sh', '-c', `cat ${w.proj}/sub/keys/id_rsa`], as);
    assert.equal(reopen.status, 125, `${who.label}: ${reopen.stdout} ${reopen.stderr}`);
    assert.doesNotMatch(reopen.stdout, /SSH-PRIVATE-KEY/);
    assert.match(reopen.stderr, /\*\*\/keys \(--allow-read\) reaches \S+\/\.ssh through the symlink/);
    rmSync(join(w.proj, 'sub'), { recursive: true });
    const deep = cordon(w, ['--allow-write', '~/**/x', '/bin/sh', '-c', 'true'], as);
    assert.equal(deep.status, 125, `${who.label}: ${deep.stderr}`);
    assert.match(deep.stderr, /matches \S+\/home\/sub\/x, which lies in no other writable path/);
    assert.equal(readFileSync(join(w.home, '.bashrc'), 'utf8'), '# rc');
    // From a subdirectory, the repository root not writable: the granted .github's copilot-instructions.md is still guarded.
    const gh = cordon(w, ['--allow-write', '../.github', '/bin/sh', '-c', `echo evil > ${w.proj}/.github/copilot-instructions.md && echo made`], { cwd: join(w.proj, 'src'), ...as });
    assert.equal(gh.stdout, 'made\n', `${who.label}: ${gh.stderr}`);
    assert.ok(!existsSync(join(w.proj, '.github', 'copilot-instructions.md')), `${who.label}: ${gh.stderr}`);
  }
});

/** In $HOME: [path, exists before the run]. An existing one must not change; a missing one must not be there after the run. */
const HOME_FILES: [string, boolean][] = [
  ['.bash_aliases', true],
  ['.aws/config', true],
  ['.npmrc', true],
  ['.cargo/config.toml', true],
  ['.cargo/config', false],
  ['.local/lib/python3.12/site-packages/existing.pth', true],
  ['.local/lib/python3.12/site-packages/usercustomize.py', false],
  ['.local/lib/python3.12/site-packages/sitecustomize.py', false],
  ['.local/lib/python3.13/site-packages/new.pth', false],
  ['.srt-settings.json', false],
  // What a PATH entry in $HOME runs through a shim or a link, and caches whose code later tools run as it is.
  ['.pyenv/libexec/pyenv', true],
  ['.pyenv/versions/3.11.7/bin/python3', true],
  ['.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/cargo', true],
  ['.nvm/versions/node/v20.0.0/bin/node', true],
  ['.asdf/asdf.sh', true],
  ['miniconda3/etc/profile.d/conda.sh', true],
  ['.npm/_npx/0123abcd/node_modules/server/index.js', true],
  ['.cache/pre-commit/repo1/hook.py', true],
  ['.cache/pip/wheels/ab/pkg-1.0-py3-none-any.whl', false],
  ['go/pkg/mod/example.com/m@v1.0.0/m.go', false],
  // What shell startup files source from $HOME, and IPython's configuration.
  ['.fzf.bash', false],
  ['.p10k.zsh', false],
  ['.oh-my-zsh/oh-my-zsh.sh', true],
  ['.ipython/profile_default/ipython_config.py', true],
];

/**
 * A missing name in $HOME may be held by a placeholder (the write fails
 * inside) or watched and moved aside after the run (the write succeeds
 * inside, and nothing is left at the path): either way the host must not
 * find the command's file there, which is what is judged. An existing one
 * must refuse the write inside.
 */
test('never writable in $HOME, whichever grant reaches it: shell aliases, Python user site, AWS, npm and cargo configuration, version managers, code caches', () => {
  for (const who of callers()) {
    const w = makeWorld(who.owner ? { owner: who.owner } : {});
    put(w, who, HOME_FILES.filter(([, exists]) => exists).map(([rel]) => [join('home', rel), `ORIGINAL ${rel}`]));
    const attempt = HOME_FILES.map(([rel]) => `(mkdir -p "$(dirname ${w.home}/${rel})"; echo evil >> ${w.home}/${rel}) 2>/dev/null && echo "BROKE ${rel}"`).join('; ') + '; echo end';
    const check = (label: string, stdout: string) => {
      assert.match(stdout, /end\n$/, `${who.label}, ${label}`);
      for (const [rel, exists] of HOME_FILES) {
        const p = join(w.home, rel);
        if (exists) {
          assert.ok(!stdout.includes(`BROKE ${rel}\n`), `${who.label}, ${label}: ${rel} refused the write`);
          assert.equal(readFileSync(p, 'utf8'), `ORIGINAL ${rel}`, `${who.label}, ${label}: ${rel} unchanged`);
        } else assert.ok(!existsSync(p), `${who.label}, ${label}: ${rel} not left behind`);
      }
    };
    // $HOME writable as a whole.
    check('$HOME writable', run(w, who, ['--allow-write', w.home, '--allow-read', `${w.home}/.aws`, '--allow-read', `${w.home}/.npmrc`], attempt).stdout);
    // A grant above one of them, or beneath it.
    check('grants above and beneath', run(w, who, ['--allow-write', `${w.home}/.aws`, '--allow-write', `${w.home}/.local/lib/python3.12/site-packages`, '--allow-write', `${w.home}/.cargo`, '--allow-read', `${w.home}/.aws`], attempt).stdout);
    // Control: elsewhere in $HOME the same commands write.
    run(w, who, ['--allow-write', w.home], `mkdir -p ${w.home}/.local/share/x && echo ok > ${w.home}/.local/share/x/f && echo ok > ${w.home}/plain.txt`);
    assert.equal(readFileSync(join(w.home, 'plain.txt'), 'utf8'), 'ok\n');
    // A version manager or a cache named itself is the user's choice (a toolchain installed, a store filled): writable.
    const named = run(w, who, ['--allow-write', `${w.home}/.pyenv`, '--allow-write', `${w.home}/.npm`], `echo new > ${w.home}/.pyenv/versions/3.11.7/bin/python3 && mkdir -p ${w.home}/.npm/_cacache && echo ok > ${w.home}/.npm/_cacache/x && echo wrote`);
    assert.equal(named.stdout, 'wrote\n', `${who.label}: ${named.stderr}`);
  }
});

test('a never-writable path that is also read-denied cannot be planted when it does not exist (--deny-read .envrc; ~/.npmrc, ~/.aws/config, ~/.ssh)', () => {
  for (const who of callers()) {
    const w = makeWorld(who.owner ? { owner: who.owner } : {});
    // In a writable root: a deny on a missing protected name hides nothing and must not unguard it.
    const proj = run(w, who, ['--deny-read', '.envrc', '--deny-read', 'AGENTS.md'], '(echo evil > .envrc) 2>/dev/null && echo BROKE-envrc; (echo evil > AGENTS.md) 2>/dev/null && echo BROKE-agents; echo end');
    assert.equal(proj.stdout, 'end\n', `${who.label}: ${proj.stdout}`);
    assert.ok(!existsSync(join(w.proj, '.envrc')) && !existsSync(join(w.proj, 'AGENTS.md')), who.label);
    // In $HOME, with the stores missing (see the test above for how a missing name there is guarded).
    for (const rel of ['.npmrc', '.aws', '.ssh']) rmSync(join(w.home, rel), { recursive: true, force: true });
    run(w, who, ['--allow-write', w.home], [
      `echo "script-shell=/tmp/evil" > ${w.home}/.npmrc`,
      `mkdir -p ${w.home}/.aws && echo "credential_process=/tmp/evil" > ${w.home}/.aws/config`,
      `mkdir -p ${w.home}/.ssh && echo key > ${w.home}/.ssh/authorized_keys`,
      'true',
    ].map((c) => `(${c}) 2>/dev/null`).join('; '));
    for (const rel of ['.npmrc', '.aws/config', '.ssh/authorized_keys']) assert.ok(!existsSync(join(w.home, rel)), `${who.label}: ${rel} not left behind`);
    // Control: a name next to them is written.
    run(w, who, ['--allow-write', w.home], `echo x > ${w.home}/.npmrc-not`);
    assert.ok(existsSync(join(w.home, '.npmrc-not')));
  }
});
