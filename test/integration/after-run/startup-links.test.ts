/**
 * A protected name that a later run would refuse to hold read-only (a
 * symbolic link to its writable path or above, or a second name of a file)
 * stops that run until someone removes it. A shell startup file a writable
 * root lacks is no shell's there, so the command may make one; but such a
 * link or second name, there or at any protected name in a plain directory
 * or a nested repository (where a later run may start), and any link on the
 * way to one, is moved aside after the run; a plain file, and a link that
 * was there before the run, stay. A protected name that is the user's link
 * leading nowhere holds nothing and stops nothing. Attacked from inside
 * through the real CLI, as root and as an unprivileged user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertMovedAside, cordon, git, own, runners, sh } from '../../helpers/cordon.js';

for (const { who, world, opts } of runners()) {
  test(`links to the writable path or above it, and second names, that the command gives missing shell startup files at a writable root are moved aside, so the next run is not refused; plain files, links within the project, dangling links and older links stay (${who})`, () => {
    const w = world();
    // The user's own link from before the run, whose target is missing: theirs, left as it is.
    symlinkSync('nowhere', join(w.proj, '.login'));
    own(w, opts);
    const r = sh(w, [
      'ln -s / .zshrc',
      'ln -s .. .bash_profile',
      'ln -s . .zprofile',
      'ln -s missing/later .zlogin',
      'mkdir bash && echo rc > bash/aliases && ln -s bash/aliases .bash_aliases',
      'echo mine > rc && ln rc .bashrc && ln rc .profile',
      'echo plain > .kshrc',
      'ln -sf / .login 2>/dev/null || true',
    ].join(' && '), [], opts);
    assert.equal(r.status, 0, r.stderr);
    for (const n of ['.zshrc', '.bash_profile', '.zprofile', '.bashrc', '.profile']) {
      assertMovedAside(w.proj, n);
      assert.ok(r.stderr.includes(`the command made ${join(w.proj, n)} `) && r.stderr.includes(`(shell startup file) a symbolic link to a writable path or a directory above one, or another name of a file`), `${n} named:\n${r.stderr}`);
    }
    assert.equal(readlinkSync(join(w.proj, '.zshrc.cordon-untrusted')), '/');
    assert.equal(readFileSync(join(w.proj, '.kshrc'), 'utf8'), 'plain\n', 'a plain file there is no shell\'s: left');
    // A dotfiles project's link within it, and a dangling one (the next run holds neither against the grant): left.
    assert.equal(readlinkSync(join(w.proj, '.bash_aliases')), 'bash/aliases');
    assert.equal(readlinkSync(join(w.proj, '.zlogin')), 'missing/later');
    assert.equal(readlinkSync(join(w.proj, '.login')), 'nowhere', 'the user\'s link from before the run: read-only for the run, left');
    // The next run from there starts.
    const next = cordon(w, ['--', 'true'], opts);
    assert.equal(next.status, 0, next.stderr);
  });
}

for (const { who, world, opts } of runners()) {
  test(`at the root of a nested repository, one there before the run or one the command makes, a link the command gives a missing shell startup file is moved aside too (${who})`, () => {
    const w = world();
    mkdirSync(join(w.proj, 'sub'));
    git(join(w.proj, 'sub'), 'init', '-q');
    own(w, opts);
    const r = sh(w, 'ln -s / sub/.zshrc && echo plain > sub/.kshrc && git init -q made && ln -s .. made/.profile', [], opts);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readlinkSync(join(w.proj, 'sub', '.zshrc.cordon-untrusted')), '/');
    assert.equal(readlinkSync(join(w.proj, 'made', '.profile.cordon-untrusted')), '..');
    assert.equal(readFileSync(join(w.proj, 'sub', '.kshrc'), 'utf8'), 'plain\n');
    for (const [p, n] of [['sub', '.zshrc'], ['made', '.profile']] as const) assert.ok(!lstatSync(join(w.proj, p, n), { throwIfNoEntry: false }), `${p}/${n}`);
    const next = cordon(w, ['--', 'true'], opts);
    assert.equal(next.status, 0, next.stderr);
  });
}

for (const { who, world, opts } of runners()) {
  test(`what the command puts where a shell startup link with a missing target leads is moved aside, so that link does not make the next run refuse (${who})`, () => {
    const w = world();
    symlinkSync('nothere', join(w.proj, '.zshrc'));
    symlinkSync('d/rc', join(w.proj, '.bashrc'));
    own(w, opts);
    const r = sh(w, 'ln -s / nothere && mkdir d && ln -s / d/rc && echo RAN', [], opts);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'RAN\n');
    assert.equal(readlinkSync(join(w.proj, 'nothere.cordon-untrusted')), '/');
    assert.equal(readlinkSync(join(w.proj, 'd', 'rc.cordon-untrusted')), '/', 'the link in it, not the directory the command made');
    assert.deepEqual([readlinkSync(join(w.proj, '.zshrc')), readlinkSync(join(w.proj, '.bashrc'))], ['nothere', 'd/rc'], 'the links themselves: the user\'s, left');
    assert.match(r.stderr, /made .*\/nothere \(shell startup file: .*\/\.zshrc leads there\) a symbolic link/);
    const next = cordon(w, ['--', 'true'], opts);
    assert.equal(next.status, 0, next.stderr);
  });
}

for (const { who, world, opts } of runners()) {
  test(`a build that fills in where a dangling shell startup link leads with plain files and directories keeps them (${who})`, () => {
    const w = world();
    symlinkSync('build/shell/bashrc', join(w.proj, '.bashrc'));
    own(w, opts);
    const r = sh(w, 'mkdir -p build/shell build/bin && echo app > build/bin/app && echo rc > build/shell/bashrc', [], opts);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(w.proj, 'build', 'bin', 'app'), 'utf8'), 'app\n');
    assert.equal(readFileSync(join(w.proj, 'build', 'shell', 'bashrc'), 'utf8'), 'rc\n');
    assert.doesNotMatch(r.stderr, /moved/);
    const next = cordon(w, ['--', 'true'], opts);
    assert.equal(next.status, 0, next.stderr);
  });
}

for (const { who, world, opts } of runners()) {
  test(`in a plain directory, a link the command gives a protected name that leads to that directory or above it, through /proc, or to a file of two names, or a second name it gives one, is moved aside, so a later run started there is not refused; plain files, links that lead elsewhere and names of one file that are all protected stay (${who})`, () => {
    // (An older link stays: the helper moves only what changed since the run started, setaside.test.ts.)
    const w = world();
    own(w, opts);
    const r = sh(w, [
      'mkdir -p src/deep docs',
      'ln -s / src/CLAUDE.md',
      'ln -s .. src/.bashrc',
      'ln -s . src/.vscode',
      'ln -s ../.. src/deep/.envrc',
      'echo notes > docs/notes.md && ln docs/notes.md src/deep/AGENTS.md',
      'echo plain > docs/CLAUDE.md',
      'ln -s notes.md docs/GEMINI.md',
      'echo g > docs/g.md && ln -s g.md docs/AGENTS.md',
      'ln -s ../docs src/.idea',
      'mkdir -p f a/.github pair && ln -s /proc/self/cwd/up f/CLAUDE.md && ln -s .. f/up',
      'ln -s / a/.github/copilot-instructions.md',
      'echo both > pair/CLAUDE.md && ln pair/CLAUDE.md pair/AGENTS.md',
    ].join(' && '), [], opts);
    assert.equal(r.status, 0, r.stderr);
    const moved = [['src', 'CLAUDE.md'], ['src', '.bashrc'], ['src', '.vscode'], ['src/deep', '.envrc'], ['src/deep', 'AGENTS.md'], ['docs', 'GEMINI.md'], ['f', 'CLAUDE.md'], ['a/.github', 'copilot-instructions.md']];
    for (const [d, n] of moved) {
      assertMovedAside(w.proj, `${d}/${n}`);
      const start = d === 'a/.github' ? 'a' : d!;
      assert.ok(r.stderr.includes(`the command made ${join(w.proj, d!, n!)} `) && r.stderr.includes(`: a run started in ${join(w.proj, start)} would refuse to hold ${join(w.proj, d!, n!)} (`), `${d}/${n} named:\n${r.stderr}`);
    }
    assert.equal(readlinkSync(join(w.proj, 'src', 'CLAUDE.md.cordon-untrusted')), '/');
    // What a run from there would hold without refusing: a plain file, a link to a file, a link to a directory beside it.
    assert.equal(readFileSync(join(w.proj, 'docs', 'CLAUDE.md'), 'utf8'), 'plain\n');
    assert.equal(readlinkSync(join(w.proj, 'docs', 'AGENTS.md')), 'g.md');
    assert.equal(readlinkSync(join(w.proj, 'src', '.idea')), '../docs');
    assert.equal(readFileSync(join(w.proj, 'docs', 'notes.md'), 'utf8'), 'notes\n', 'the other name of the second name stays');
    // Two names of one file, both protected names there: a run there holds both, so they stay.
    assert.equal(readFileSync(join(w.proj, 'pair', 'AGENTS.md'), 'utf8'), 'both\n');
    assert.equal(lstatSync(join(w.proj, 'pair', 'CLAUDE.md')).nlink, 2);
    for (const d of ['src', 'src/deep', 'docs', 'f', 'a', 'pair']) {
      const next = cordon(w, ['--', 'true'], { ...opts, cwd: join(w.proj, d) });
      assert.equal(next.status, 0, `${d}: ${next.stderr}`);
    }
  });
}

for (const { who, world, opts } of runners()) {
  test(`a link that leads nowhere yet, left by one run at a protected name in a plain directory or a nested repository, and pointed above the writable path by the next run: that run's link is moved aside, so no later run is refused (${who})`, () => {
    const w = world();
    mkdirSync(join(w.proj, 'sub'));
    git(join(w.proj, 'sub'), 'init', '-q');
    own(w, opts);
    const first = sh(w, 'mkdir -p src && ln -s ../later src/.bashrc && ln -s ../later2 sub/.bashrc && ln -s ../later3 src/CLAUDE.md', [], opts);
    assert.equal(first.status, 0, first.stderr);
    // Links that lead nowhere: a run started beside them holds nothing there, and starts.
    for (const d of ['src', 'sub']) assert.equal(cordon(w, ['--', 'true'], { ...opts, cwd: join(w.proj, d) }).status, 0, d);
    // A second on, so the first run's links are older than the second run (a change time within the second before a run counts as its own).
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
    const second = sh(w, 'ln -s / later && ln -s .. later2 && ln -s src later3', [], opts);
    assert.equal(second.status, 0, second.stderr);
    for (const n of ['later', 'later2', 'later3']) assertMovedAside(w.proj, n, second.stderr);
    assert.match(second.stderr, /the command made .*\/later a symbolic link \(to "\/"\): a run started in .*\/src would refuse to hold .*\/src\/\.bashrc/);
    for (const d of ['.', 'src', 'sub']) {
      const next = cordon(w, ['--', 'true'], { ...opts, cwd: join(w.proj, d) });
      assert.equal(next.status, 0, `${d}: ${next.stderr}`);
    }
    assert.equal(readlinkSync(join(w.proj, 'src', '.bashrc')), '../later', 'the first run\'s link, which leads nowhere again, stays');
  });
}

for (const { who, world, opts } of runners()) {
  test(`the user's protected names that are links leading nowhere (or into a loop) hold nothing and stop no run: they stay as they are; what the command puts where one leads is moved aside, and one it replaces is made again (${who})`, () => {
    const w = world();
    symlinkSync('docs/CLAUDE.md', join(w.proj, 'CLAUDE.md'));
    symlinkSync('AGENTS.md', join(w.proj, 'AGENT.md'));
    symlinkSync('.vscode', join(w.proj, '.vscode'));
    symlinkSync('nowhere', join(w.proj, '.envrc'));
    own(w, opts);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
    const r = sh(w, 'mkdir docs && echo steer > docs/CLAUDE.md && ln -sfn / .envrc && echo RAN', [], opts);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'RAN\n');
    assert.equal(readFileSync(join(w.proj, 'docs', 'CLAUDE.md.cordon-untrusted'), 'utf8'), 'steer\n');
    assert.ok(!existsSync(join(w.proj, 'docs', 'CLAUDE.md')));
    assert.match(r.stderr, /the command created .*\/docs\/CLAUDE\.md \(agent instructions \(Claude Code\): .*\/CLAUDE\.md leads there\)/);
    assert.equal(readlinkSync(join(w.proj, '.envrc')), 'nowhere', 'the link the command replaced is made again');
    assert.equal(readlinkSync(join(w.proj, '.envrc.cordon-untrusted')), '/');
    for (const [n, t] of [['CLAUDE.md', 'docs/CLAUDE.md'], ['AGENT.md', 'AGENTS.md'], ['.vscode', '.vscode']]) assert.equal(readlinkSync(join(w.proj, n!)), t, `${n} stays`);
    const next = cordon(w, ['--', 'true'], opts);
    assert.equal(next.status, 0, next.stderr);
    assert.doesNotMatch(next.stderr, /moved|created/, 'nothing of the user\'s is taken for the command\'s');
    assert.equal(readlinkSync(join(w.proj, 'AGENT.md')), 'AGENTS.md');
  });
}

for (const { who, world, opts } of runners()) {
  test(`a .cordon the command makes or changes in a plain directory, which a run started there or below would read as its project settings, is moved aside; the user's own stays (${who})`, () => {
    const w = world();
    mkdirSync(join(w.proj, 'docs', '.cordon'), { recursive: true });
    writeFileSync(join(w.proj, 'docs', '.cordon', 'settings.json'), '{}\n');
    mkdirSync(join(w.proj, 'lib', '.cordon'), { recursive: true });
    writeFileSync(join(w.proj, 'lib', '.cordon', 'settings.json'), '{}\n');
    own(w, opts);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
    const widen = JSON.stringify({ filesystem: { allowWrite: ['/var'] } });
    const r = sh(w, `mkdir -p src/deep/.cordon && printf '%s' '${widen}' > src/deep/.cordon/settings.json && printf '%s' '${widen}' > lib/.cordon/settings.json && echo RAN`, [], opts);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'RAN\n');
    for (const d of ['src/deep', 'lib']) {
      assert.ok(!existsSync(join(w.proj, d, '.cordon')), `${d}/.cordon was moved aside`);
      assert.ok(existsSync(join(w.proj, d, '.cordon.cordon-untrusted', 'settings.json')));
      assert.ok(r.stderr.includes(`the command made or changed ${join(w.proj, d, '.cordon')} (cordon's own project settings, which a run started in ${join(w.proj, d)} or below reads)`), `${d} named:\n${r.stderr}`);
    }
    assert.equal(readFileSync(join(w.proj, 'docs', '.cordon', 'settings.json'), 'utf8'), '{}\n', 'the user\'s own, unchanged: left');
    for (const d of ['src/deep', 'lib', 'docs']) {
      const next = cordon(w, ['--', 'true'], { ...opts, cwd: join(w.proj, d) });
      assert.equal(next.status, 0, `${d}: ${next.stderr}`);
    }
  });
}

for (const { who, world, opts } of runners()) {
  test(`.github/copilot-instructions.md, a name of two components, in plain directories: a .github link the command makes (a loop, or to its own directory), and second names there, stop no later run (${who})`, () => {
    const w = world();
    for (const d of ['loop', 'pair', 'inner', 'here']) mkdirSync(join(w.proj, d));
    own(w, opts);
    const r = sh(w, [
      'ln -s .github loop/.github',
      'echo x > pair/CLAUDE.md && ln pair/CLAUDE.md pair/copilot-instructions.md',
      'mkdir -p inner/.github && echo y > inner/.github/copilot-instructions.md && ln inner/.github/copilot-instructions.md inner/.github/AGENTS.md',
      'ln -s . here/.github && ln -s .. here/copilot-instructions.md',
    ].join(' && '), [], opts);
    assert.equal(r.status, 0, r.stderr);
    for (const d of ['loop', 'pair', 'inner', 'inner/.github', 'here', '.']) {
      const next = cordon(w, ['--', 'true'], { ...opts, cwd: join(w.proj, d) });
      assert.equal(next.status, 0, `${d}: ${next.stderr}`);
    }
    assert.equal(readlinkSync(join(w.proj, 'loop', '.github')), '.github', 'a loop leads nowhere: it stays, and holds nothing');
  });
}

for (const { who, world, opts } of runners()) {
  test(`the user's protected link that leads nowhere through another link, or through a name a .. climbs out of: what the command makes where it really leads, or a link it makes on the way, is moved aside (${who})`, () => {
    const w = world();
    mkdirSync(join(w.proj, 'cfg'));
    symlinkSync('cfg', join(w.proj, 'cfgl'));
    symlinkSync('cfgl/ai/CLAUDE.md', join(w.proj, 'CLAUDE.md'));
    symlinkSync('x/../docs/AGENTS.md', join(w.proj, 'AGENTS.md'));
    writeFileSync(join(w.proj, 'NOTES.md'), 'notes\n');
    symlinkSync('m/../NOTES.md', join(w.proj, 'GEMINI.md'));
    own(w, opts);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1100);
    const r = sh(w, 'mkdir -p cfg/ai && echo steer > cfg/ai/CLAUDE.md && mkdir -p sub/docs sub/inner && ln -s sub/inner x && echo steer > sub/docs/AGENTS.md && mkdir m && echo steer > NOTES.md', [], opts);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!existsSync(join(w.proj, 'CLAUDE.md')), 'CLAUDE.md leads nowhere again');
    assert.equal(readFileSync(join(w.proj, 'cfg', 'ai', 'CLAUDE.md.cordon-untrusted'), 'utf8'), 'steer\n');
    assert.ok(!existsSync(join(w.proj, 'AGENTS.md')), 'AGENTS.md leads nowhere again');
    assert.equal(readlinkSync(join(w.proj, 'x.cordon-untrusted')), 'sub/inner');
    assert.equal(readlinkSync(join(w.proj, 'cfgl')), 'cfg', 'the user\'s link on the way stays');
    assert.ok(!existsSync(join(w.proj, 'GEMINI.md')), 'GEMINI.md leads nowhere again: the m its .. climbs out of was moved aside');
    assert.ok(lstatSync(join(w.proj, 'm.cordon-untrusted')).isDirectory());
  });
}
