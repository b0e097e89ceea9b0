/**
 * git configuration as git reads it (src/policy/git-config.ts): the cheap
 * pre-filter that spares a git process for most files, and the wrapper
 * around git's own parser, on git's tricky syntax. The parser is the real
 * git (the one thing this module must agree with).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { expandGitPath, GitConfigReader, includePath, mayMatter, PROGRAM_KEY_NAMES, programWords, parseConfigList, readCommonDir, readGitFile, readWorktreeRoot } from '../../../src/policy/git-config.js';
import { CordonError } from '../../../src/errors.js';
import { tempDir } from '../../helpers/tmp.js';

const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

function dir(): string {
  return realpathSync(tempDir(join(tmpdir(), 'cordon-gitcfg-')));
}

/** A reader whose home is an empty directory, so the host's own ~/.gitconfig plays no part. */
function reader(home: string, env: NodeJS.ProcessEnv = ENV): GitConfigReader {
  return new GitConfigReader({ home, env: { ...env, XDG_CONFIG_HOME: join(home, '.config') } });
}

/** The hooksPath values git itself reads from `text` as a repository's config (the oracle). */
function gitSays(d: string, text: string): string[] {
  const f = join(d, 'oracle');
  writeFileSync(f, text);
  const r = spawnSync('git', ['config', '--file', f, '--get-all', 'core.hookspath'], { encoding: 'utf8', env: { ...ENV, HOME: d, GIT_CONFIG_NOSYSTEM: '1' } });
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** What git lists for a config text, as cordon asks it (git config --list -z). */
function gitList(d: string, text: string): string {
  const f = join(d, 'listed');
  writeFileSync(f, text);
  return spawnSync('git', ['config', '--file', f, '--no-includes', '--list', '-z'], { encoding: 'utf8', env: { ...ENV, HOME: d, GIT_CONFIG_NOSYSTEM: '1' } }).stdout;
}

test('pre-filter: only text that holds a needle (any case) can set core.hooksPath, an include, init.templateDir or a program', () => {
  for (const t of ['[core]\n\thooksPath = x\n', '[CORE]\nHOOKSPATH=x', '[core] HooksPath = x', '[include]\npath = a', '[IncludeIf "gitdir:/x/"]\npath=a', '\ufeff[core]hookspath',
    '[init]\n\ttemplateDir = /t', '[core]\n\tfsmonitor = /x', '[core]\n\tPAGER = /x', '[filter "f"]\n\tclean = ./c', '[diff "d"]\n\ttextconv = ./t', '[alias]\n\tx = !/bin/x', '[credential]\n\thelper = /x', '[mergetool "m"]\n\tpath = /x', '[browser "b"]\n\tpath = /x', '[man "v"]\n\tpath = /x']) {
    assert.equal(mayMatter(Buffer.from(t)), true, t);
  }
  // Nothing else can: key names take no escapes and no continuation lines (git's config.c).
  for (const t of ['', '[core]\n\tbare = false\n\tfilemode = true\n', '[core]\n\thooks\\\nPath = x\n', '[remote "origin"]\n\turl = x\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n', '[branch "main"]\n\tremote = origin\n\tmerge = refs/heads/main\n']) {
    assert.equal(mayMatter(Buffer.from(t)), false, t);
    assert.deepEqual(gitSays(dir(), t), [], `git agrees that ${JSON.stringify(t)} sets no core.hooksPath`);
  }
});

test('the config git init writes, and a clone\'s, pass as plain: no git process for an ordinary repository', () => {
  const d = dir();
  assert.equal(spawnSync('git', ['init', '-q', join(d, 'r')], { env: { ...ENV, HOME: d, GIT_CONFIG_NOSYSTEM: '1' } }).status, 0);
  const cfg = readFileSync(join(d, 'r', '.git', 'config'));
  assert.match(cfg.toString(), /logallrefupdates/, 'the key whose name holds "update"');
  assert.equal(mayMatter(cfg), false);
  // A program setting whose value names no file by a path is found in PATH: no parse for it either.
  assert.equal(mayMatter(Buffer.from('[credential "https://source.example/x"]\n\thelper = gcloud.sh\n[core]\n\tpager = less -R\n')), false);
  assert.equal(mayMatter(Buffer.from('[credential "https://source.example/x"]\n\thelper = /opt/gcloud.sh\n')), true);
  assert.equal(mayMatter(Buffer.from('[core]\n\tpager = \\\n\t\t~/bin/pager\n')), true, 'a value continued onto the next line');
  assert.equal(mayMatter(Buffer.from(`${cfg}[remote "origin"]\n\turl = https://github.com/acme/app.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n[branch "main"]\n\tremote = origin\n\tmerge = refs/heads/main\n`)), false);
});

test('every setting that runs a program passes the pre-filter, and git lists it as one', () => {
  for (const name of PROGRAM_KEY_NAMES) {
    const parts = name.replace(/\*/g, 'sub').split('.');
    const key = parts.pop()!;
    const bang = name.startsWith('alias.') || name.endsWith('.update') ? '!' : '';
    const text = parts.length === 2 ? `[${parts[0]} "${parts[1]}"]\n\t${key} = ${bang}/opt/prog\n` : `[${parts[0]}]\n\t${key} = ${bang}/opt/prog\n`;
    assert.equal(mayMatter(Buffer.from(text.toUpperCase())), true, text);
    const listed = gitList(dir(), text);
    assert.deepEqual(parseConfigList(listed).programs, ['/opt/prog'], text);
  }
});

test('programWords: every word a command line could run a file by, through an interpreter, an assignment or a quoted script', () => {
  const has = (key: string, value: string, words: string[]) => { for (const w of words) assert.ok(programWords(key, value).includes(w), `${w} in ${value}`); };
  has('core.editor', 'sh /w/p02', ['sh', '/w/p02']);
  has('core.sshcommand', 'FOO=1 /w/p03 -v', ['/w/p03']);
  assert.equal(programWords('core.sshcommand', 'FOO=1 /w/p03 -v')[0], '/w/p03', 'the command is the first word that is no assignment');
  assert.equal(programWords('core.askpass', 'exec /w/p04')[0], '/w/p04');
  has('credential.helper', '!/w/p12 get', ['/w/p12']);
  has('alias.st', "!sh -c '/w/p17 && cd /w/x'", ['/w/p17', '/w/x']);
  has('diff.t.textconv', 'python3 tools/x.py', ['tools/x.py']);
  has('core.pager', 'PATH=/w/bin:/usr/bin less', ['/w/bin', '/usr/bin']);
  assert.deepEqual(programWords('submodule.x.update', 'checkout'), [], 'a mode, not a command');
  assert.deepEqual(programWords('alias.l', 'log --oneline'), [], 'a git subcommand');
});

test('programWords: the first word is the program a setting runs, a file when it has a path', () => {
  const commandOf = (key: string, value: string) => programWords(key, value)[0];
  assert.equal(commandOf('core.pager', '/opt/p/pager --x'), '/opt/p/pager');
  assert.equal(commandOf('core.editor', '"/a b/ed" -w'), '/a b/ed');
  assert.equal(commandOf('filter.x.clean', './tools/clean %f'), './tools/clean');
  assert.equal(commandOf('core.fsmonitor', '~/bin/fsm'), '~/bin/fsm');
  assert.equal(commandOf('alias.x', '!./run.sh arg'), './run.sh');
  assert.equal(commandOf('alias.st', 'status -s'), undefined, 'not a shell alias');
  assert.equal(commandOf('core.pager', 'less -R'), 'less', 'no path: looked up in PATH');
  assert.equal(commandOf('core.fsmonitor', 'true'), 'true');
});

test("the parser wrapper reads what git reads: inline comments, the key on the section line, quotes, escapes, case, last value", () => {
  const d = dir();
  const cases: [string, string[]][] = [
    ['[core]\n\thooksPath = .husky/_ ; a comment\n', ['.husky/_']],
    ['[core] hooksPath = on-the-section-line\n', ['on-the-section-line']],
    ['[core]\n\thooksPath = "quoted # not a comment" # a comment\n', ['quoted # not a comment']],
    ['[core]\n\thooksPath = a\\\nb\n', ['ab']],
    ['[CoRe]\n\tHoOkSpAtH = upper\n', ['upper']],
    ['[core]\n\thooksPath = first\n[user]\n\tname = x\n[core]\n\thooksPath = second\n', ['first', 'second']],
    ['[core "sub"]\n\thooksPath = not-core\n[core.sub]\n\thooksPath = legacy-not-core\n', []],
    ['\ufeff[core]\n\thooksPath = after-a-bom\n', ['after-a-bom']],
  ];
  for (const [text, want] of cases) {
    const f = join(d, 'config');
    writeFileSync(f, text);
    const got = reader(d).repo(d).own.find((c) => c.path === f)!.values.hooksPath;
    assert.deepEqual(got, want, text);
    assert.deepEqual(gitSays(d, text), want, `git reads ${JSON.stringify(text)} the same way`);
  }
});

test('parseConfigList: -z records, keys lower-cased by git, a key without value', () => {
  const out = ['core.hookspath\n.husky/_', 'core.worktree\n../..', 'include.path\n../x', 'includeif.gitdir:/a/b.c/.path\n~/y', 'include.path', 'user.name\nx\ny', ''].join('\0');
  assert.deepEqual(parseConfigList(out), { hooksPath: ['.husky/_'], worktree: ['../..'], includes: ['../x', '~/y'], templateDir: [], programs: [], programWords: [] });
  const more = ['init.templatedir\n~/.git-template', 'core.pager\n/w/bin/pager -R', 'diff.x.textconv\n./tools/tc', 'alias.a\n!sh -c x', 'alias.b\nlog', 'core.fsmonitor\ntrue', ''].join('\0');
  assert.deepEqual(parseConfigList(more), { hooksPath: [], worktree: [], includes: [], templateDir: ['~/.git-template'], programs: ['/w/bin/pager', './tools/tc'], programWords: [] });
});

test('expandGitPath: ~/ is $HOME, relative is relative to the base, ~user and %(prefix) are not ours', () => {
  assert.equal(expandGitPath('~/.githooks', '/h', '/w'), '/h/.githooks');
  assert.equal(expandGitPath('.husky/_', '/h', '/w'), '/w/.husky/_');
  assert.equal(expandGitPath('../x/./y', '/h', '/w/t'), '/w/x/y');
  assert.equal(expandGitPath('/abs//p/', '/h', '/w'), '/abs/p');
  assert.equal(expandGitPath(':(optional)hooks', '/h', '/w'), '/w/hooks');
  assert.equal(expandGitPath('~other/hooks', '/h', '/w'), undefined);
  assert.equal(expandGitPath('%(prefix)/share', '/h', '/w'), undefined);
});

test('includes are followed as git follows them: relative to the including file, ~/, includeIf, nested, cycles', () => {
  const d = dir();
  const git = join(d, 'repo', '.git');
  mkdirSync(join(d, 'shared', 'more'), { recursive: true });
  mkdirSync(git, { recursive: true });
  writeFileSync(join(git, 'config'), '[include]\n\tpath = ../../shared/team.inc\n[includeIf "gitdir:/nowhere/"]\n\tpath = ~/cond.inc\n[include]\n\tpath = missing.inc\n');
  writeFileSync(join(d, 'shared', 'team.inc'), '[include]\n\tpath = more/deeper.inc\n');
  writeFileSync(join(d, 'shared', 'more', 'deeper.inc'), '[core]\n\thooksPath = from-deeper\n[include]\n\tpath = ../team.inc\n');
  writeFileSync(join(d, 'cond.inc'), '[core]\n\thooksPath = /abs/from-cond\n');
  const own = reader(d).repo(git).own;
  const byPath = new Map(own.map((f) => [f.path, f]));
  assert.equal(byPath.get(join(d, 'shared', 'team.inc'))?.from, join(git, 'config'));
  assert.equal(byPath.get(join(d, 'shared', 'more', 'deeper.inc'))?.from, join(d, 'shared', 'team.inc'));
  assert.deepEqual(byPath.get(join(d, 'shared', 'more', 'deeper.inc'))?.values.hooksPath, ['from-deeper']);
  assert.deepEqual(byPath.get(join(d, 'cond.inc'))?.values.hooksPath, ['/abs/from-cond'], 'an includeIf counts as taken');
  assert.ok(byPath.has(join(git, 'missing.inc')), 'a missing include is listed: git reads it once it exists');
  assert.equal(own.filter((f) => f.path === join(d, 'shared', 'team.inc')).length, 1, 'a cycle is read once');
});

test('system and global files: the caller-named ones and the default ones, and GIT_CONFIG_COUNT settings', () => {
  const d = dir();
  mkdirSync(join(d, '.config', 'git'), { recursive: true });
  writeFileSync(join(d, '.gitconfig'), '[core]\n\thooksPath = .githooks\n');
  writeFileSync(join(d, '.config', 'git', 'config'), '[include]\n\tpath = xdg.inc\n');
  writeFileSync(join(d, '.config', 'git', 'xdg.inc'), '[core]\n\thooksPath = ~/xdg-hooks\n');
  writeFileSync(join(d, 'named'), '[core]\n\thooksPath = named-hooks\n');
  const env = { ...ENV, GIT_CONFIG_GLOBAL: join(d, 'named'), GIT_CONFIG_COUNT: '2', GIT_CONFIG_KEY_0: 'user.name', GIT_CONFIG_VALUE_0: 'x', GIT_CONFIG_KEY_1: 'Core.HooksPath', GIT_CONFIG_VALUE_1: 'env-hooks' };
  const outer = reader(d, env).outer();
  const hooks = outer.flatMap((f) => f.values.hooksPath);
  for (const h of ['.githooks', '~/xdg-hooks', 'named-hooks', 'env-hooks']) assert.ok(hooks.includes(h), `${h} in ${hooks.join(', ')}`);
});

test('worktree and gitfile redirects are read as git reads them', () => {
  const d = dir();
  const wt = join(d, 'main', '.git', 'worktrees', 'feature');
  mkdirSync(wt, { recursive: true });
  writeFileSync(join(wt, 'commondir'), '../..\n');
  writeFileSync(join(wt, 'gitdir'), join(d, 'elsewhere', 'feature', '.git') + '\n');
  assert.equal(readCommonDir(wt), join(d, 'main', '.git'));
  assert.equal(readWorktreeRoot(wt), join(d, 'elsewhere', 'feature'));
  writeFileSync(join(d, 'main', '.git', 'config'), '[core]\n\thooksPath = common-hooks\n');
  writeFileSync(join(wt, 'config.worktree'), '[core]\n\thooksPath = wt-hooks\n');
  const cfg = reader(d).repo(wt);
  assert.equal(cfg.commonDir, join(d, 'main', '.git'));
  assert.deepEqual(cfg.own.flatMap((f) => f.values.hooksPath), ['common-hooks', 'wt-hooks']);
  mkdirSync(join(d, 'sub'));
  writeFileSync(join(d, 'sub', '.git'), 'gitdir: ../main/.git/modules/sub\n');
  assert.equal(readGitFile(join(d, 'sub', '.git')), join(d, 'main', '.git', 'modules', 'sub'));
});

test('hostile files: a FIFO never blocks, a link is followed as git follows it, garbage is refused with the file named', () => {
  const d = dir();
  const git = join(d, 'g');
  mkdirSync(git);
  assert.equal(spawnSync('mkfifo', [join(git, 'config')]).status, 0);
  assert.deepEqual(reader(d).repo(git).own.flatMap((f) => f.values.hooksPath), [], 'a FIFO is no config (and git would hang on it, running nothing)');
  const g2 = join(d, 'g2');
  mkdirSync(g2);
  writeFileSync(join(d, 'real-config'), '[core]\n\thooksPath = via-link\n');
  symlinkSync(join(d, 'real-config'), join(g2, 'config'));
  assert.deepEqual(reader(d).repo(g2).own.flatMap((f) => f.values.hooksPath), ['via-link']);
  const g3 = join(d, 'g3');
  mkdirSync(g3);
  writeFileSync(join(g3, 'config'), '[core\n\thooksPath = x\n');
  assert.throws(() => reader(d).repo(g3), (e: unknown) => e instanceof CordonError && e.code === 'CORDON_ERR_POLICY' && e.message.includes(join(g3, 'config')) && /bad config/.test(e.message));
});

test("never the caller's PATH: a git planted in a directory on PATH (an activated .venv/bin, node_modules/.bin) is not run", () => {
  const d = dir();
  const g = join(d, 'g');
  mkdirSync(g);
  const planted = join(d, 'venv-bin');
  mkdirSync(planted);
  const mark = join(d, 'RAN');
  writeFileSync(join(planted, 'git'), `#!/bin/sh\ntouch ${mark}\nexec /usr/bin/git "$@"\n`, { mode: 0o755 });
  writeFileSync(join(g, 'config'), '[core]\n\thooksPath = x\n');
  assert.deepEqual(reader(d, { PATH: `${planted}:/usr/bin:/bin` }).repo(g).own.flatMap((f) => f.values.hooksPath), ['x']);
  assert.ok(!existsSync(mark), 'the planted git ran');
});

test('includePath: walked as the kernel walks it, a link followed before the .. after it; what could redirect it comes with it', () => {
  const d = dir();
  mkdirSync(join(d, 'real', 'x'), { recursive: true });
  mkdirSync(join(d, 'git'));
  symlinkSync('real', join(d, 'shared'));
  symlinkSync('../real/x', join(d, 'git', 'incd'));
  // The links met, then the entries a .. climbs out of.
  assert.deepEqual(includePath('../shared/git.inc', '/h', join(d, 'git')), { path: join(d, 'real', 'git.inc'), through: [join(d, 'shared'), join(d, 'git')] });
  // The link first, then ..: beside where it leads (real/), not beside it (git/).
  assert.deepEqual(includePath('incd/../local', '/h', join(d, 'git')), { path: join(d, 'real', 'local'), through: [join(d, 'git', 'incd'), join(d, 'real', 'x')] });
  // A name that is not there: judged as written, and held (the command could make it a link).
  assert.deepEqual(includePath('none/../local', '/h', join(d, 'git')), { path: join(d, 'git', 'local'), through: [join(d, 'git', 'none')] });
  assert.deepEqual(includePath('~/inc', '/h', '/x'), { path: '/h/inc', through: [] });
  assert.equal(includePath('', '/h', '/x'), undefined);
});
