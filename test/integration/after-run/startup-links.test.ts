/**
 * A shell startup file a writable root lacks is no shell's there, so the
 * command may make one; but a symbolic link there (to the root, or above
 * it) or a second name of a file would make every later run from there
 * refuse to hold the name read-only, until someone removes it. Those are
 * moved aside after the run; a plain file, and a link that was there
 * before the run, stay. Attacked from inside through the real CLI, as root
 * and as an unprivileged user, also through a link whose target is missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { cordon, git, own, runners, sh } from '../../helpers/cordon.js';

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
      'echo mine > .bashrc && ln .bashrc .profile',
      'echo plain > .kshrc',
      'ln -sf / .login 2>/dev/null || true',
    ].join(' && '), [], opts);
    assert.equal(r.status, 0, r.stderr);
    for (const n of ['.zshrc', '.bash_profile', '.zprofile', '.bashrc', '.profile']) {
      assert.ok(!existsSync(join(w.proj, n)) && lstatSync(join(w.proj, n), { throwIfNoEntry: false }) === undefined, `${n} was moved aside`);
      assert.ok(lstatSync(join(w.proj, `${n}.cordon-untrusted`), { throwIfNoEntry: false }), `${n}.cordon-untrusted is there`);
      assert.match(r.stderr, new RegExp(`made ${w.proj.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/${n.replace('.', '\\.')} \\(shell startup file\\) a symbolic link to a writable path or a directory above one, or another name of a file`));
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
  test(`in a plain directory, a link the command gives a protected name that leads to that directory or above it or to a file of two names, or a second name it gives one, is moved aside, so a later run started there is not refused; plain files and links that lead elsewhere stay (${who})`, () => {
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
    ].join(' && '), [], opts);
    assert.equal(r.status, 0, r.stderr);
    const moved = [['src', 'CLAUDE.md'], ['src', '.bashrc'], ['src', '.vscode'], ['src/deep', '.envrc'], ['src/deep', 'AGENTS.md'], ['docs', 'GEMINI.md']];
    for (const [d, n] of moved) {
      assert.ok(!lstatSync(join(w.proj, d!, n!), { throwIfNoEntry: false }), `${d}/${n} was moved aside`);
      assert.ok(lstatSync(join(w.proj, d!, `${n}.cordon-untrusted`), { throwIfNoEntry: false }), `${d}/${n}.cordon-untrusted is there`);
      assert.ok(r.stderr.includes(`the command made ${join(w.proj, d!, n!)} (`) && r.stderr.includes(`held by a run started in ${join(w.proj, d!)}) a symbolic link to a writable path or a directory above one, or another name of a file`), `${d}/${n} named:\n${r.stderr}`);
    }
    assert.equal(readlinkSync(join(w.proj, 'src', 'CLAUDE.md.cordon-untrusted')), '/');
    // What a run from there would hold without refusing: a plain file, a link to a file, a link to a directory beside it.
    assert.equal(readFileSync(join(w.proj, 'docs', 'CLAUDE.md'), 'utf8'), 'plain\n');
    assert.equal(readlinkSync(join(w.proj, 'docs', 'AGENTS.md')), 'g.md');
    assert.equal(readlinkSync(join(w.proj, 'src', '.idea')), '../docs');
    assert.equal(readFileSync(join(w.proj, 'docs', 'notes.md'), 'utf8'), 'notes\n', 'the other name of the second name stays');
    for (const d of ['src', 'src/deep', 'docs']) {
      const next = cordon(w, ['--', 'true'], { ...opts, cwd: join(w.proj, d) });
      assert.equal(next.status, 0, `${d}: ${next.stderr}`);
    }
  });
}
