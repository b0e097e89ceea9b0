/**
 * Every place git reads code from (policy.ts: protectGitSurfaces), attacked
 * from inside with real git, as root and as an unprivileged user: a directory
 * that is itself a git dir (no `.git` in sight), linked worktrees, every route
 * by which core.hooksPath reaches git (the repository's config, an included
 * file, the global and XDG files, a worktree's config.worktree, husky 9), a
 * `**` read deny reached through a symbolic link, a tree too deep to scan, and
 * more git dirs than cordon protects one by one.
 * Each attack is judged on the host afterwards; where it could make git run
 * code, a control first shows that it does, without cordon.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cordon, makeWorld, own, runners, sh, type World } from '../../helpers/cordon.js';
import { GIT_DIRS_MAX } from '../../../src/policy/policy.js';

/** Each attempt in a subshell: prints BROKE: ATTEMPT for every one that succeeded. */
function attempts(list: readonly string[]): string {
  return list.map((a) => `(${a}) >/dev/null 2>&1 && echo "BROKE: ${a.replace(/"/g, '')}"`).join('; ') + '; echo end';
}

/** git on the host in dir, as a user would run it: status (fsmonitor) and a commit (hooks). */
function hostGit(w: World, dir: string): void {
  // safe.directory: the files may belong to the test's unprivileged user; git must not refuse them for that.
  const env = { ...w.env, GIT_CONFIG_NOSYSTEM: '1' };
  spawnSync('git', ['-c', 'safe.directory=*', 'status', '--short'], { cwd: dir, env });
  spawnSync('git', ['-c', 'safe.directory=*', '-c', 'user.email=t@example.invalid', '-c', 'user.name=t', 'commit', '-q', '--allow-empty', '-m', 'x'], { cwd: dir, env });
}

const payload = (mark: string) => `#!/bin/sh\ntouch ${mark}\n`;

/** git on the host for the test's setup (the world may belong to the unprivileged user: safe.directory). */
function g(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', ['-c', 'safe.directory=*', '-c', 'user.email=t@example.invalid', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

for (const { who, world, opts } of runners()) {
  test(`an embedded bare repository (no .git anywhere): its config and hooks stay the host's, pushing to it works (${who})`, () => {
    const w = world();
    const bare = join(w.proj, 'vendor', 'tool.git');
    mkdirSync(join(w.proj, 'vendor'));
    assert.equal(spawnSync('git', ['init', '-q', '--bare', bare]).status, 0);
    const mark = join(w.outside, 'MARK');
    writeFileSync(join(w.outside, 'plant'), payload(mark), { mode: 0o755 });
    // Control: what the attack does without cordon.
    const copy = join(w.outside, 'copy.git');
    spawnSync('cp', ['-a', bare, copy]);
    g(w.outside, '--git-dir', copy, 'config', 'core.fsmonitor', join(w.outside, 'plant'));
    g(w.outside, '--git-dir', copy, 'config', 'core.bare', 'false');
    g(w.outside, '--git-dir', copy, 'config', 'core.worktree', '..');
    hostGit(w, copy);
    assert.ok(existsSync(mark), 'control: git status inside a git dir with a work tree runs its core.fsmonitor');
    rmSync(mark);
    own(w, opts);

    const before = readFileSync(join(bare, 'config'), 'utf8');
    const r = sh(w, attempts([
      `git -C vendor/tool.git config core.fsmonitor ${w.outside}/plant`,
      `printf '[core]\\n\\tbare = false\\n\\tworktree = ..\\n\\tfsmonitor = ${w.outside}/plant\\n' >> vendor/tool.git/config`,
      `cp ${w.outside}/plant vendor/tool.git/hooks/post-update`,
      'mv vendor/tool.git vendor/moved.git',
      'rm -rf vendor/tool.git/hooks',
    ]) + '; git push -q vendor/tool.git HEAD:refs/heads/pushed && echo pushed', [], opts);
    assert.equal(r.stdout, 'end\npushed\n', r.stderr);
    assert.equal(readFileSync(join(bare, 'config'), 'utf8'), before);
    assert.deepEqual(readdirSync(join(bare, 'hooks')).filter((n) => !n.endsWith('.sample')), []);
    hostGit(w, bare);
    assert.ok(!existsSync(mark), 'git on the host ran the plant');
    assert.match(spawnSync('git', ['-c', 'safe.directory=*', 'branch', '--list', 'pushed'], { cwd: bare, encoding: 'utf8' }).stdout, /pushed/, 'objects and refs stay writable');
  });

  test(`linked worktrees: their commondir, gitdir and config.worktree stay the host's; a new worktree can be added, and is cut loose after the run (${who})`, () => {
    const w = world();
    const feature = join(w.outside, 'feature');
    g(w.proj, 'worktree', 'add', '-q', feature);
    const admin = join(w.proj, '.git', 'worktrees', 'feature');
    const commondir = readFileSync(join(admin, 'commondir'), 'utf8');
    const gitdir = readFileSync(join(admin, 'gitdir'), 'utf8');
    const mark = join(w.outside, 'MARK');
    writeFileSync(join(w.outside, 'plant'), payload(mark), { mode: 0o755 });
    own(w, opts);
    const r = sh(w, attempts([
      // Send the worktree (outside the project) to a repository of the command's making.
      'cp -r .git ../evil-common; echo ../../../evil-common > .git/worktrees/feature/commondir',
      `echo ${w.proj}/x/.git > .git/worktrees/feature/gitdir`,
      'mv .git/worktrees/feature .git/worktrees/gone',
      'mv .git/worktrees .git/worktrees-gone',
    ]) + `; git config extensions.worktreeConfig true 2>/dev/null; printf '[core]\\n\\tfsmonitor = ${w.outside}/plant\\n' > .git/worktrees/feature/config.worktree 2>/dev/null; `
      + 'git worktree add -q wt-new && git -C wt-new status --short && echo added', [], opts);
    assert.equal(r.stdout, 'end\nadded\n', r.stderr);
    assert.equal(readFileSync(join(admin, 'commondir'), 'utf8'), commondir);
    assert.equal(readFileSync(join(admin, 'gitdir'), 'utf8'), gitdir);
    // A config.worktree the command created is not left where git reads it (after-run.ts).
    assert.ok(!existsSync(join(admin, 'config.worktree')) || !/fsmonitor/.test(readFileSync(join(admin, 'config.worktree'), 'utf8')));
    hostGit(w, feature);
    assert.ok(!existsSync(mark), 'git in the worktree outside the project ran the plant');
    // The new worktree was made (`added` above), and is cut loose after the run: its git dir names no repository or configuration.
    assert.ok(existsSync(join(w.proj, '.git', 'worktrees', 'wt-new', 'commondir.cordon-untrusted')), 'the new worktree was made, and cut loose');
    assert.ok(!existsSync(join(w.proj, '.git', 'worktrees', 'wt-new', 'commondir')));
  });

  test(`core.hooksPath, by every route git reads it, names a directory the command cannot write (${who})`, () => {
    const w = world();
    const nested = join(w.proj, 'deep', 'a', 'b', 'c');
    // Global (relative: every repository's .hooks-global), XDG (absolute), the repository's own config with the key on the
    // section line and an inline comment, an include and an includeIf, and husky 9.
    writeFileSync(join(w.home, '.gitconfig'), '[core]\n\thooksPath = .hooks-global\n');
    mkdirSync(join(w.home, '.config', 'git'), { recursive: true });
    writeFileSync(join(w.home, '.config', 'git', 'config'), `[core]\n\thooksPath = ${w.proj}/xdg-hooks\n`);
    writeFileSync(join(w.proj, '.git', 'config'), readFileSync(join(w.proj, '.git', 'config'), 'utf8')
      + '[core] hooksPath = .husky/_ ; husky 9\n[include]\n\tpath = ../team.gitconfig\n[includeIf "gitdir:/nowhere/"]\n\tpath = ../cond.gitconfig\n');
    writeFileSync(join(w.proj, 'team.gitconfig'), '[CORE]\n\tHooksPath = "team hooks" # quoted, with a comment\n');
    writeFileSync(join(w.proj, 'cond.gitconfig'), '[core]\n\thooksPath = cond-hooks\n');
    mkdirSync(join(w.proj, '.husky', '_'), { recursive: true });
    writeFileSync(join(w.proj, '.husky', 'pre-commit'), 'npm test\n');
    // A linked worktree inside the project with its own config.worktree.
    g(w.proj, 'config', 'extensions.worktreeConfig', 'true');
    g(w.proj, 'worktree', 'add', '-q', join(w.proj, 'wt'));
    writeFileSync(join(w.proj, '.git', 'worktrees', 'wt', 'config.worktree'), '[core]\n\thooksPath = wt-hooks\n');
    own(w, opts);
    const dirs = ['.hooks-global', 'deep/a/b/c/.hooks-global', 'xdg-hooks', '.husky/_', 'team hooks', 'cond-hooks', 'wt/wt-hooks', 'wt/.hooks-global'];
    const r = sh(w, attempts([
      ...dirs.map((d) => `mkdir -p '${d}' && echo evil > '${d}/pre-commit'`),
      'echo evil > .husky/pre-commit',
      'echo evil > .husky/post-checkout',
      `printf '[core]\\n\\tfsmonitor = evil\\n' >> team.gitconfig`,
      'mv .husky .husky-old',
    ]), [], opts);
    assert.equal(r.stdout, 'end\n', r.stderr);
    for (const d of dirs) assert.ok(!existsSync(join(w.proj, d, 'pre-commit')), d);
    assert.equal(readFileSync(join(w.proj, '.husky', 'pre-commit'), 'utf8'), 'npm test\n');
    assert.ok(!existsSync(join(w.proj, '.husky', 'post-checkout')));
    assert.doesNotMatch(readFileSync(join(w.proj, 'team.gitconfig'), 'utf8'), /fsmonitor/);
    assert.ok(existsSync(nested), 'the nested repository is still there');
    // Control: the rest of the project stays writable, and git works inside.
    const ok = sh(w, 'echo x > free.txt && git add free.txt && git -c user.email=a@b.c -c user.name=n commit -q -m inside --no-verify && echo committed', [], opts);
    assert.equal(ok.stdout, 'committed\n', ok.stderr);
  });

  test(`an included file reached through a link, or through a .. after a name the command could make a link: git on the host still reads the host's file (${who})`, () => {
    const w = world();
    const mark = join(w.outside, 'PWNED');
    // a) include.path through a linked directory; b) a .. after a name that does not exist yet (git resolves the link first).
    mkdirSync(join(w.proj, 'sharedreal'));
    writeFileSync(join(w.proj, 'sharedreal', 'git.inc'), '[user]\n\tname = host\n');
    symlinkSync('sharedreal', join(w.proj, 'shared'));
    mkdirSync(join(w.proj, 'elsewhere', 'x'), { recursive: true });
    writeFileSync(join(w.proj, '.git', 'config'), readFileSync(join(w.proj, '.git', 'config'), 'utf8') + '[include]\n\tpath = ../shared/git.inc\n\tpath = incd/../local2\n');
    own(w, opts);
    const evil = `[core]\\n\\tfsmonitor = touch ${mark}\\n`;
    const r = sh(w, [
      `rm shared && mkdir shared && printf '${evil}' > shared/git.inc && echo REPLACED-link`,
      `printf '${evil}' > elsewhere/local2 && ln -s ../elsewhere/x .git/incd && echo PLANTED-incd`,
      'true',
    ].join('; '), [], opts);
    assert.equal(r.status, 0, r.stderr);
    // Control: without cordon, both would have taken (the link can be swapped, the name made).
    assert.equal(r.stdout, 'REPLACED-link\nPLANTED-incd\n');
    assert.equal(readlinkSync(join(w.proj, 'shared')), 'sharedreal', 'the link is made again');
    assert.ok(!existsSync(join(w.proj, '.git', 'incd')), 'the name a .. climbs out of is moved aside');
    assert.match(r.stderr, /shared/);
    hostGit(w, w.proj);
    assert.ok(!existsSync(mark), 'git on the host ran the fsmonitor the command planted');
    assert.equal(spawnSync('git', ['-c', 'safe.directory=*', 'config', 'user.name'], { cwd: w.proj, env: { ...w.env, GIT_CONFIG_NOSYSTEM: '1' }, encoding: 'utf8' }).stdout, 'host\n', 'the host file is what git includes');
  });

  test(`init.templateDir and the programs git runs by path (the global configuration's, a repository's own, absolute or from its work tree) stay the host's (${who})`, () => {
    const w = world();
    // A template in the project (a dotfiles repository): git copies its hooks into every repository it makes.
    mkdirSync(join(w.proj, 'git-template', 'hooks'), { recursive: true });
    mkdirSync(join(w.proj, 'tools'), { recursive: true });
    writeFileSync(join(w.proj, 'tools', 'pager'), '#!/bin/sh\ncat\n');
    writeFileSync(join(w.proj, 'tools', 'textconv'), '#!/bin/sh\ncat "$1"\n');
    // Scripts run through an interpreter, after an assignment, behind `!` or inside `sh -c '…'`.
    const scripts = ['p02', 'p03', 'p12', 'p14', 'p16.py', 'p17'];
    for (const n of scripts) writeFileSync(join(w.proj, 'tools', n), '#!/bin/sh\n');
    const t = join(w.proj, 'tools');
    writeFileSync(join(w.home, '.gitconfig'), `[init]\n\ttemplateDir = ${w.proj}/git-template\n[core]\n\tpager = ${t}/pager -R\n\teditor = sh ${t}/p02\n\tsshCommand = FOO=1 ${t}/p03\n`
      + `[credential]\n\thelper = !${t}/p12 get\n[alias]\n\tx = !${t}/alias-run\n\tst = !sh -c '${t}/p17'\n`);
    writeFileSync(join(w.proj, '.git', 'config'), readFileSync(join(w.proj, '.git', 'config'), 'utf8') + `[diff "tc"]\n\ttextconv = ./tools/textconv\n[diff "py"]\n\ttextconv = python3 tools/p16.py\n[remote "origin"]\n\tuploadpack = ${t}/p14\n`);
    own(w, opts);
    const r = sh(w, attempts([
      `printf '#!/bin/sh\\ntouch /tmp/pwn\\n' > git-template/hooks/post-checkout`,
      'echo evil > tools/pager',
      'echo evil > tools/textconv',
      'echo evil > tools/alias-run',
      ...scripts.map((n) => `echo evil > tools/${n}`),
      'mv tools tools-old',
    ]), [], opts);
    assert.equal(r.stdout, 'end\n', r.stderr);
    assert.ok(!existsSync(join(w.proj, 'git-template', 'hooks', 'post-checkout')));
    assert.equal(readFileSync(join(w.proj, 'tools', 'pager'), 'utf8'), '#!/bin/sh\ncat\n');
    assert.equal(readFileSync(join(w.proj, 'tools', 'textconv'), 'utf8'), '#!/bin/sh\ncat "$1"\n');
    assert.ok(!existsSync(join(w.proj, 'tools', 'alias-run')));
    for (const n of scripts) assert.equal(readFileSync(join(w.proj, 'tools', n), 'utf8'), '#!/bin/sh\n', n);
    // Control: the rest of the project stays writable.
    const ok = sh(w, 'echo x > free.txt && echo wrote', [], opts);
    assert.equal(ok.stdout, 'wrote\n', ok.stderr);
  });

  test(`a ** read deny also hides a match reached through a symbolic link to a directory elsewhere (${who})`, () => {
    const w = world();
    mkdirSync(join(w.outside, 'conf', 'sub'), { recursive: true });
    writeFileSync(join(w.outside, 'conf', '.env'), 'LINKED-SECRET');
    writeFileSync(join(w.outside, 'conf', 'sub', '.env'), 'DEEP-SECRET');
    writeFileSync(join(w.outside, 'conf', 'public.txt'), 'PUBLIC');
    symlinkSync(join(w.outside, 'conf'), join(w.proj, 'conf-link'));
    writeFileSync(join(w.proj, '.env'), 'ROOT-SECRET');
    own(w, opts);
    const read = 'cat .env conf-link/.env conf-link/sub/.env conf-link/public.txt 2>/dev/null; echo';
    const control = sh(w, read, [], opts);
    assert.match(control.stdout, /LINKED-SECRET/, 'control: without the deny the file is readable through the link');
    const r = sh(w, read, ['--deny-read', '**/.env'], opts);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /SECRET/);
    assert.match(r.stdout, /PUBLIC/, 'what the link reaches is still readable, but the matches');
  });

  test(`a tree deeper than a path can name: closed (read-only) for later runs, which still run, with a warning naming it and the fix (${who})`, () => {
    const w = world();
    own(w, opts);
    // The command builds a 6 000-deep chain (one chdir at a time: its paths are three times PATH_MAX).
    // Not deeper: each mkdir costs the kernel a walk of its depth (Landlock, the refusal reports), so the
    // run grows with the square of the depth, and a loaded machine would hit the test's timeout.
    const DEPTH = 6000;
    const build = `${process.execPath} -e "const fs=require('fs');for(let i=0;i<${DEPTH};i++){fs.mkdirSync('d');process.chdir('d')}"`;
    const first = sh(w, `mkdir chain && cd chain && ${build} && echo built`, [], opts);
    assert.match(first.stdout, /built/, first.stderr);
    assert.doesNotMatch(first.stderr, /Segmentation|core dumped|CORDON_ERR_INTERNAL/);
    // Below where the scan stopped, a repository could hide: that directory is read-only now, the rest works.
    const where = `${join(w.proj, 'chain')}/d/d/d`;
    const closed = sh(w, `touch ran.txt && echo ran; cd chain && ${process.execPath} -e "const fs=require('fs');for(let i=0;i<${DEPTH};i++)process.chdir('d');try{fs.mkdirSync('x');console.log('PLANTED')}catch(e){console.log(e.code)}"`, [], opts);
    assert.equal(closed.status, 0, closed.stderr);
    assert.equal(closed.stdout, 'ran\nEROFS\n', 'the project works; the unscanned depth is read-only');
    assert.match(closed.stderr, new RegExp(`could not look at everything below ${where}.*read-only in this run. Remove what should not be there`));
    assert.equal(spawnSync('rm', ['-rf', join(w.proj, 'chain')]).status, 0);
    const later = sh(w, 'touch ran.txt && echo ran', [], opts);
    assert.equal(later.status, 0, later.stderr);
    assert.equal(later.stdout, 'ran\n');
    assert.equal(cordon(w, ['--', 'true'], opts).status, 0, 'and again, from the cache');
  });

  test(`more git dirs than cordon protects one by one: the rest are read-only whole, and the command still runs (${who})`, () => {
    const w = world();
    // GIT_DIRS_MAX + 5 bare git dirs (HEAD, objects/, refs/: what git discovers) in b/, besides the project and deep/a/b/c.
    const bare = (i: number) => join(w.proj, 'b', String(i).padStart(4, '0'));
    for (let i = 0; i < GIT_DIRS_MAX + 5; i++) {
      mkdirSync(join(bare(i), 'objects'), { recursive: true });
      mkdirSync(join(bare(i), 'refs'));
      writeFileSync(join(bare(i), 'HEAD'), 'ref: refs/heads/main\n');
    }
    const mark = join(w.outside, 'MARK');
    writeFileSync(join(w.outside, 'plant'), payload(mark), { mode: 0o755 });
    own(w, opts);
    // Kept: the project, b/0000 … b/0998 (the shallowest, then by path). Closed: b/0999 … b/1004 and deep/a/b/c.
    const plant = `printf '[core]\\n\\tbare = false\\n\\tworktree = ..\\n\\tfsmonitor = ${w.outside}/plant\\n'`;
    const r = sh(w, attempts([
      `${plant} > b/1004/config`,
      `mkdir b/1004/hooks && cp ${w.outside}/plant b/1004/hooks/post-update`,
      'mv b/1004 b/moved',
      'rm -rf b/1004',
      `${plant} > deep/a/b/c/.git/config`,
      `${plant} > b/0000/config`,
      'mv b b-moved',
    ]) + '; touch made && echo works', [], opts);
    assert.equal(r.stdout, 'end\nworks\n', r.stderr);
    assert.match(r.stderr, new RegExp(`warning: ${w.proj} holds ${GIT_DIRS_MAX + 7} git directories .*: ${bare(GIT_DIRS_MAX - 1)}, ${bare(GIT_DIRS_MAX)}, ${bare(GIT_DIRS_MAX + 1)} and 4 more \\(holding the other 7\\) are read-only in this run`));
    assert.ok(!existsSync(join(bare(GIT_DIRS_MAX + 4), 'config')) && !existsSync(join(bare(GIT_DIRS_MAX + 4), 'hooks')));
    for (const d of [bare(GIT_DIRS_MAX + 4), bare(0), join(w.proj, 'deep', 'a', 'b', 'c')]) hostGit(w, d);
    assert.ok(!existsSync(mark), 'git on the host ran the plant');
  });
}

test('a git dir whose info/ is a link out of every writable path: its missing info/attributes is not watched there (nothing the command could make), and no internal error is reported', () => {
  const w = makeWorld(); // the project is a repository
  rmSync(join(w.proj, '.git', 'info'), { recursive: true, force: true });
  symlinkSync('/', join(w.proj, '.git', 'info'));
  const r = cordon(w, ['--', 'true']);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /internal error|lies in no writable path/);
});
