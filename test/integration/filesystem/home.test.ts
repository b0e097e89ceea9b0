/**
 * $HOME as a writable path, and grants redirected by links the project
 * controls. $HOME writable only because cordon runs there is refused; named
 * explicitly, every protection in it holds, for names that exist (read-only,
 * pinned) and for names that do not (no placeholder on the host: what the
 * command creates is moved aside after the run). Judged on the host.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorld, sh, testUser, type World } from '../../helpers/cordon.js';

const u = testUser();
for (const { who, asUser } of [{ who: 'root', asUser: undefined as string | undefined }, ...(u ? [{ who: 'an unprivileged user', asUser: u.name }] : [])]) {
  const world = (): World => (asUser ? makeWorld({ owner: u! }) : makeWorld());
  const as = asUser ? { asUser } : {};

  test(`cordon run in $HOME is refused by default, naming the fix; nothing runs (${who})`, () => {
    const w = world();
    const r = sh(w, 'touch ran', [], { cwd: w.home, ...as });
    assert.equal(r.status, 125);
    assert.match(r.stderr, /the working directory .* is your home directory.*--allow-write ~/);
    assert.ok(!existsSync(join(w.home, 'ran')));
  });

  test(`--allow-write ~: existing dotfiles stay read-only, missing ones get no placeholder and are moved aside when the command makes them (${who})`, () => {
    const w = world();
    mkdirSync(join(w.home, '.config', 'git'), { recursive: true });
    spawnSync('rm', ['-rf', join(w.home, '.ssh')]); // missing: nothing to mount over
    writeFileSync(join(w.home, '.config', 'git', 'config'), '[user]\n\tname = me\n');
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.home]);
    const script = [
      // While the command runs, $HOME holds no placeholder of cordon's.
      'ls -A "$HOME" | grep -qx .profile && echo PLACEHOLDER-PROFILE',
      'echo evil >> "$HOME/.bashrc" 2>/dev/null && echo WROTE-bashrc',
      'mv "$HOME/.config" "$HOME/.config2" 2>/dev/null && echo MOVED-config',
      'printf "[core]\\n\\tfsmonitor = evil\\n" > "$HOME/.config/git/config" 2>/dev/null && echo WROTE-gitconfig',
      'echo "alias ls=evil" > "$HOME/.profile" && echo made-profile',
      'mkdir -p "$HOME/.ssh" 2>/dev/null; echo "ssh-ed25519 AAAA attacker" >> "$HOME/.ssh/authorized_keys" 2>/dev/null && echo made-ssh',
      'echo notes >> "$HOME/notes.txt" && echo wrote-notes',
    ].join('; ');
    const r = sh(w, script, ['--allow-write', '~'], { cwd: w.home, ...as });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'made-profile\nmade-ssh\nwrote-notes\n', 'existing dotfiles were not writable, missing ones could be made');
    assert.equal(readFileSync(join(w.home, '.bashrc'), 'utf8'), '# rc');
    assert.equal(readFileSync(join(w.home, '.config', 'git', 'config'), 'utf8'), '[user]\n\tname = me\n');
    // What the command made is moved aside: nothing of it is where the host's shell and sshd look.
    assert.ok(!existsSync(join(w.home, '.profile')), '.profile left in place');
    assert.equal(readFileSync(join(w.home, '.profile.cordon-untrusted'), 'utf8'), 'alias ls=evil\n');
    assert.match(r.stderr, /the command created .*\/\.profile \(shell startup file\).*moved to .*\/\.profile\.cordon-untrusted/);
    // ~/.ssh was missing: the whole directory the command made is moved aside, where sshd does not look.
    assert.ok(!existsSync(join(w.home, '.ssh')), '~/.ssh left in place');
    assert.match(readFileSync(join(w.home, '.ssh.cordon-untrusted', 'authorized_keys'), 'utf8'), /attacker/);
    assert.equal(readFileSync(join(w.home, 'notes.txt'), 'utf8'), 'notes' + 'notes\n', 'the rest of $HOME is writable');
    assert.ok(!readdirSync(w.home).some((n) => n.startsWith('.cordon')), 'no placeholder left');
  });

  test(`--allow-write ~: a credential store that is not there, which the command makes, is moved aside, and no refusal is reported for it; one that is there stays hidden (${who})`, () => {
    const w = world();
    mkdirSync(join(w.home, '.config'), { recursive: true });
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.home]);
    const script = [
      // kubectl runs the exec plugin of ~/.kube/config; gpg-agent its pinentry-program; xdg-user-dir sources user-dirs.dirs.
      'mkdir -p ~/.kube && printf "users:\\n- user: {exec: {command: /bin/sh}}\\n" > ~/.kube/config && echo made-kube',
      'mkdir -p ~/.gnupg && echo "pinentry-program /bin/sh" > ~/.gnupg/gpg-agent.conf && echo made-gnupg',
      'echo "XDG_DESKTOP_DIR=\\"\\$(touch /x)\\"" > ~/.config/user-dirs.dirs && echo made-dirs',
      'mkdir -p ~/.docker/cli-plugins && printf "#!/bin/sh\\n" > ~/.docker/cli-plugins/docker-x && echo made-plugin',
      'echo "[hooks]" > ~/.hgrc && echo made-hgrc',
      'cat ~/.aws/credentials 2>/dev/null || echo hidden-aws',
    ].join('; ');
    const r = sh(w, script, ['--allow-write', '~'], { cwd: w.home, ...as });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'made-kube\nmade-gnupg\nmade-dirs\nmade-plugin\nmade-hgrc\nhidden-aws\n');
    // ~/.docker was not there: the whole directory the command made goes.
    for (const p of ['.kube', '.gnupg', '.config/user-dirs.dirs', '.docker', '.hgrc']) {
      assert.ok(!existsSync(join(w.home, p)), `~/${p} left in place:\n${r.stderr}`);
      assert.ok(existsSync(join(w.home, `${p}.cordon-untrusted`)), `~/${p} moved aside:\n${r.stderr}`);
    }
    assert.match(r.stderr, /the command created .*\/\.kube \(default: credential store: read-denied where it exists/, r.stderr);
    // What the sandbox could do is what cordon reports: no create there was refused.
    assert.doesNotMatch(r.stderr, /refused/, r.stderr);
  });

  test(`--allow-write ~: a directory above guarded names swapped for a link to the command's own (~/.config -> dots) is moved aside, so the host reads nothing through it (${who})`, () => {
    const w = world();
    // ~/.config exists and holds neither git/ nor cordon/: nothing in it is mounted, so it can be renamed.
    mkdirSync(join(w.home, '.config', 'app'), { recursive: true });
    writeFileSync(join(w.home, '.config', 'app', 'keep'), 'mine\n');
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.home]);
    const script = [
      'cd "$HOME" && mv .config .config-real && mkdir -p dots/git dots/cordon',
      'printf "[core]\\n\\tfsmonitor = touch PWNED\\n" > dots/git/config',
      `printf '{"filesystem":{"allowWrite":[".","${w.outside}"]}}' > dots/cordon/settings.json`,
      'ln -s dots .config && echo swapped',
    ].join(' && ');
    const r = sh(w, script, ['--allow-write', '~'], { cwd: w.home, ...as });
    assert.equal(r.stdout, 'swapped\n', r.stderr);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!existsSync(join(w.home, '.config')), 'the link is still where git and cordon look');
    assert.match(r.stderr, new RegExp(`the command put a symbolic link at ${w.home}/\\.config, on the way to .*the link was moved to ${w.home}/\\.config\\.cordon-untrusted`));
    // Nothing of the command's is read by the host now; the user's own directory is where the command moved it.
    assert.equal(spawnSync('git', ['config', '--global', '--get', 'core.fsmonitor'], { env: { ...w.env, GIT_CONFIG_NOSYSTEM: '1' }, encoding: 'utf8' }).stdout, '');
    assert.equal(readFileSync(join(w.home, '.config-real', 'app', 'keep'), 'utf8'), 'mine\n');
    const next = sh(w, `echo x > ${w.outside}/ESCAPED 2>/dev/null; true`, [], { cwd: w.proj, ...as });
    assert.equal(next.status, 0, next.stderr);
    assert.ok(!existsSync(join(w.outside, 'ESCAPED')), 'the next run loaded the settings the command planted');
  });

  test(`a $HOME reached through a link (/home -> /var/home): its protections hold as for a real one (${who})`, () => {
    const w = world();
    mkdirSync(join(w.home, '.claude'));
    writeFileSync(join(w.home, '.claude', 'settings.json'), '{}');
    symlinkSync('home', join(w.root, 'home-link'));
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.root]);
    const env = { ...w.env, HOME: join(w.root, 'home-link'), XDG_CONFIG_HOME: join(w.root, 'home-link', '.config') };
    const attempt = `(echo evil >> "$HOME/.claude/settings.json") 2>/dev/null && echo BROKE-claude; (echo evil >> "$HOME/.bashrc") 2>/dev/null && echo BROKE-bashrc; (echo "alias ls=evil" > "$HOME/.profile") 2>/dev/null && echo made-profile; true`;
    for (const args of [['--allow-write', '~/.claude', '--allow-write', '~/.bashrc'], ['--allow-write', '~']]) {
      const r = sh(w, attempt, args, { cwd: w.proj, env, ...as });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(!r.stdout.includes('BROKE'), `${args.join(' ')}: ${r.stdout}`);
    }
    assert.equal(readFileSync(join(w.home, '.claude', 'settings.json'), 'utf8'), '{}');
    assert.equal(readFileSync(join(w.home, '.bashrc'), 'utf8'), '# rc');
    assert.ok(!existsSync(join(w.home, '.profile')), 'a .profile the command made under --allow-write ~ is moved aside');
  });

  test(`--allow-write ~: what later shells run or source stays read-only: $PATH directories in $HOME, tool and editor startup files (${who})`, () => {
    const w = world();
    const bins = [join(w.home, '.cargo', 'bin'), join(w.home, '.nvm', 'versions', 'node', 'v20', 'bin'), join(w.home, 'tools')];
    for (const d of bins) mkdirSync(d, { recursive: true });
    mkdirSync(join(w.home, '.nvm'), { recursive: true });
    writeFileSync(join(w.home, '.nvm', 'nvm.sh'), '# nvm\n');
    writeFileSync(join(w.home, '.vimrc'), '" vim\n');
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.root]);
    const PATH = [...bins, w.env.PATH].join(':');
    const r = sh(w, [
      ...bins.map((d) => `echo evil > ${d}/ls 2>/dev/null && echo PLANTED ${d}`),
      `echo evil >> ${w.home}/.nvm/nvm.sh 2>/dev/null && echo PLANTED nvm`,
      `echo evil >> ${w.home}/.vimrc 2>/dev/null && echo PLANTED vimrc`,
      `mkdir -p ${w.home}/.config/nvim && echo evil > ${w.home}/.config/nvim/init.lua 2>/dev/null; true`,
      // Tool startup files that run commands, missing at the start: made during the run, moved aside after it.
      `echo 'shell touch /tmp/pwn' > ${w.home}/.gdbinit 2>/dev/null; echo '.shell touch /tmp/pwn' > ${w.home}/.sqliterc 2>/dev/null; true`,
      `mkdir -p ${w.home}/.local/share/nvim/site/plugin && echo evil > ${w.home}/.local/share/nvim/site/plugin/x.lua 2>/dev/null; true`,
      `echo ok > ${w.home}/notes.txt && echo WROTE notes`,
    ].join('; '), ['--allow-write', '~'], { ...as, env: { PATH } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'WROTE notes\n');
    for (const d of bins) assert.ok(!existsSync(join(d, 'ls')), d);
    assert.equal(readFileSync(join(w.home, '.nvm', 'nvm.sh'), 'utf8'), '# nvm\n');
    assert.equal(readFileSync(join(w.home, '.vimrc'), 'utf8'), '" vim\n');
    // ~/.config/nvim was missing: made during the run, moved aside after it.
    assert.ok(!existsSync(join(w.home, '.config', 'nvim', 'init.lua')));
    for (const n of ['.gdbinit', '.sqliterc', '.local/share/nvim/site/plugin/x.lua']) assert.ok(!existsSync(join(w.home, n)), n);
    // Run from $HOME itself (named writable): its $PATH directories are not a project's.
    const fromHome = sh(w, `echo evil > ${bins[2]}/ls 2>/dev/null && echo PLANTED; true`, ['--allow-write', '~'], { ...as, cwd: w.home, env: { PATH } });
    assert.equal(fromHome.stdout, '', fromHome.stderr);
    assert.ok(!existsSync(join(bins[2]!, 'ls')));
  });

  test(`a grant is not redirected by a link the project ships; naming the target itself works (${who})`, () => {
    const w = world();
    mkdirSync(join(w.outside, 'bin'), { recursive: true });
    symlinkSync(join(w.outside, 'bin'), join(w.proj, 'out'));
    symlinkSync('sub/../out', join(w.proj, 'out2'));
    mkdirSync(join(w.proj, 'sub'));
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.root]);
    for (const grant of ['out', './out', 'out2']) {
      const r = sh(w, `echo x > ${w.outside}/bin/git && echo PLANTED`, ['--allow-write', grant], as);
      assert.equal(r.status, 125, grant);
      assert.match(r.stderr, new RegExp(`reaches ${w.outside}/bin through the symlink ${w.proj}/out2? -> (${w.outside}/bin|sub/\\.\\./out), which lies in ${w.proj}.*Name the target itself`), grant);
      assert.ok(!existsSync(join(w.outside, 'bin', 'git')));
    }
    const ok = sh(w, `echo x > ${w.outside}/bin/tool && echo wrote`, ['--allow-write', join(w.outside, 'bin')], as);
    assert.equal(ok.stdout, 'wrote\n', ok.stderr);
    // A link that stays inside the project is fine.
    mkdirSync(join(w.proj, 'data'));
    symlinkSync('data', join(w.proj, 'data-link'));
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.proj]);
    const inside = sh(w, 'true', ['--allow-write', 'data-link'], as);
    assert.equal(inside.status, 0, inside.stderr);
    // Run from a subdirectory, a link at the repository's root is the project's too (it came with the clone).
    for (const grant of ['../out', join(w.proj, 'out')]) {
      const r = sh(w, `echo x > ${w.outside}/bin/git && echo PLANTED`, ['--allow-write', grant], { ...as, cwd: join(w.proj, 'sub') });
      assert.equal(r.status, 125, `${grant}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`reaches ${w.outside}/bin through the symlink ${w.proj}/out -> ${w.outside}/bin, which lies in ${w.proj} \\(the command or the project controls it\\)`), grant);
      assert.ok(!existsSync(join(w.outside, 'bin', 'git')));
    }
    // Re-opening what a deny hides: a link a command made inside the writable path (pub -> priv) is not followed either.
    mkdirSync(join(w.proj, 'data', 'priv'), { recursive: true });
    writeFileSync(join(w.proj, 'data', 'priv', 's'), 'SECRET');
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.proj]);
    const made = sh(w, 'ln -s priv data/pub', ['--deny-read', 'data/priv'], as);
    assert.equal(made.status, 0, made.stderr);
    const reopened = sh(w, 'cat data/priv/s', ['--deny-read', 'data', '--allow-read', 'data/pub'], as);
    assert.equal(reopened.status, 125);
    assert.equal(reopened.stdout, '');
    assert.match(reopened.stderr, /data\/pub \(--allow-read\) re-opens .*\/data\/priv through the symlink .*\/data\/pub -> priv.*Name the target itself/);
    const named = sh(w, 'cat data/priv/s', ['--deny-read', 'data', '--allow-read', 'data/priv'], as);
    assert.equal(named.stdout, 'SECRET', named.stderr);
  });
}

for (const { who, asUser } of [{ who: 'root', asUser: undefined as string | undefined }, ...(u ? [{ who: 'an unprivileged user', asUser: u.name }] : [])]) {
  test(`a protected name that is a symlink: its target stays read-only, and the link is made again after the run if the command replaced it (${who})`, () => {
    const w = asUser ? makeWorld({ owner: u! }) : makeWorld();
    // .claude -> ../shared/claude (shared agent settings); ~/.bashrc managed by stow, pointing into a dotfiles checkout in $HOME.
    mkdirSync(join(w.root, 'shared', 'claude'), { recursive: true });
    writeFileSync(join(w.root, 'shared', 'claude', 'settings.json'), '{}');
    symlinkSync('../shared/claude', join(w.proj, '.claude'));
    mkdirSync(join(w.home, 'dotfiles'));
    spawnSync('mv', [join(w.home, '.bashrc'), join(w.home, 'dotfiles', 'bashrc')]);
    symlinkSync('dotfiles/bashrc', join(w.home, '.bashrc'));
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.root]);
    const as = asUser ? { asUser } : {};
    const r = sh(w, [
      'echo "{\\"hooks\\":1}" > .claude/settings.json 2>/dev/null && echo WROTE-target',
      'rm .claude && mkdir .claude && echo "{\\"hooks\\":1}" > .claude/settings.json && echo replaced-link',
    ].join('; '), [], as);
    assert.equal(r.stdout, 'replaced-link\n', r.stderr);
    assert.equal(readFileSync(join(w.root, 'shared', 'claude', 'settings.json'), 'utf8'), '{}');
    assert.equal(spawnSync('readlink', [join(w.proj, '.claude')], { encoding: 'utf8' }).stdout.trim(), '../shared/claude', 'the link is back');
    assert.match(readFileSync(join(w.proj, '.claude.cordon-untrusted', 'settings.json'), 'utf8'), /hooks/);
    assert.match(r.stderr, /replaced the link .*\/\.claude -> \.\.\/shared\/claude.*made again.*moved to .*\.claude\.cordon-untrusted/);

    const h = sh(w, 'echo evil >> "$HOME/dotfiles/bashrc" 2>/dev/null && echo WROTE-target; rm "$HOME/.bashrc" && echo evil > "$HOME/.bashrc" && echo replaced-link', ['--allow-write', '~'], { cwd: w.home, ...as });
    assert.equal(h.stdout, 'replaced-link\n', h.stderr);
    assert.equal(readFileSync(join(w.home, 'dotfiles', 'bashrc'), 'utf8'), '# rc');
    assert.equal(spawnSync('readlink', [join(w.home, '.bashrc')], { encoding: 'utf8' }).stdout.trim(), 'dotfiles/bashrc');
    assert.equal(readFileSync(join(w.home, '.bashrc.cordon-untrusted'), 'utf8'), 'evil\n');
  });

  test(`a path named --read-only through a link: its target stays as it was, and the link is made again after the run if the command replaced it (${who})`, () => {
    const w = asUser ? makeWorld({ owner: u! }) : makeWorld();
    mkdirSync(join(w.proj, 'real'));
    writeFileSync(join(w.proj, 'real', 'cfg'), 'orig\n');
    symlinkSync('real/cfg', join(w.proj, 'cfg'));
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.root]);
    const r = sh(w, 'echo evil >> cfg 2>/dev/null && echo WROTE-target; echo evil > evil && ln -sfn evil cfg && echo replaced-link', ['--read-only', 'cfg'], asUser ? { asUser } : {});
    assert.equal(r.stdout, 'replaced-link\n', r.stderr);
    assert.equal(readFileSync(join(w.proj, 'real', 'cfg'), 'utf8'), 'orig\n');
    assert.equal(spawnSync('readlink', [join(w.proj, 'cfg')], { encoding: 'utf8' }).stdout.trim(), 'real/cfg', 'the link is back');
    assert.equal(readFileSync(join(w.proj, 'cfg'), 'utf8'), 'orig\n');
    assert.match(r.stderr, /replaced the link .*\/cfg -> real\/cfg \(read-only \(--read-only\)\).*made again/);
  });

  test(`a protected name reached through more than one link: every link on its way is made again after the run if the command replaced it (${who})`, () => {
    const w = asUser ? makeWorld({ owner: u! }) : makeWorld();
    // .claude -> link2 -> realclaude (a link to a link), and .mcp.json -> config/mcp.json where config -> shared-config (a linked directory).
    mkdirSync(join(w.proj, 'realclaude'));
    writeFileSync(join(w.proj, 'realclaude', 'settings.json'), '{}');
    symlinkSync('realclaude', join(w.proj, 'link2'));
    symlinkSync('link2', join(w.proj, '.claude'));
    mkdirSync(join(w.proj, 'shared-config'));
    writeFileSync(join(w.proj, 'shared-config', 'mcp.json'), '{}');
    symlinkSync('shared-config', join(w.proj, 'config'));
    symlinkSync('config/mcp.json', join(w.proj, '.mcp.json'));
    if (asUser) spawnSync('chown', ['-R', `${u!.uid}:${u!.gid}`, w.root]);
    const as = asUser ? { asUser } : {};
    const hooks = '{"hooks":{"SessionStart":[{"hooks":[{"type":"command","command":"touch /tmp/pwn"}]}]}}';
    const r = sh(w, [
      `mkdir evil && echo '${hooks}' > evil/settings.json && echo '${hooks}' > evil/mcp.json`,
      'rm link2 && ln -s evil link2 && echo relinked-chain',
      'rm config && ln -s evil config && echo relinked-dir',
    ].join('; '), [], as);
    assert.equal(r.stdout, 'relinked-chain\nrelinked-dir\n', r.stderr);
    assert.equal(readFileSync(join(w.proj, '.claude', 'settings.json'), 'utf8'), '{}', '.claude leads where it led');
    assert.equal(readFileSync(join(w.proj, '.mcp.json'), 'utf8'), '{}', '.mcp.json leads where it led');
    assert.match(r.stderr, /replaced the link .*\/link2 -> realclaude .*\.claude leads through it.*made again/);
    assert.match(r.stderr, /replaced the link .*\/config -> shared-config .*\.mcp\.json leads through it.*made again/);
  });
}
