/**
 * Filesystem refusals reach the caller (violations.ts, native/violations.h):
 * real commands in a real sandbox, as root and as an unprivileged user. A
 * refused write is reported exactly once, with the path, the rule and the
 * fix; allowed writes and calls that fail for reasons of their own (EEXIST,
 * ENOENT, EXDEV) are not reported; the walls refuse as before; the command
 * can neither forge a report nor flood cordon with them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, own, runners, sh, type World } from '../../helpers/cordon.js';
import type { FsRefusal, RefusalStats } from '../../../src/platform/linux/violations.js';
import { MAX_EVENTS } from '../../../src/platform/linux/violations.js';

const DRIVER = join(ROOT, 'dist', 'test', 'helpers', 'refusals.js');

interface Reported { exitCode: number; events: FsRefusal[]; stats: RefusalStats; stderr: string }

function run(w: World, script: string, opts: { asUser?: string }, rules: readonly string[] = []): Reported {
  const env = { ...w.env, OUTSIDE: w.outside };
  const args = [DRIVER, ...rules, '--', '/bin/sh', '-c', script];
  const r = opts.asUser
    ? spawnSync('runuser', ['-u', opts.asUser, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, ...args], { cwd: w.proj, encoding: 'utf8', timeout: 120_000 })
    : spawnSync(process.execPath, args, { cwd: w.proj, env, encoding: 'utf8', timeout: 120_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  assert.ok(last.startsWith('{'), `no report (exit ${r.status ?? r.signal}): ${r.stderr}`);
  return { ...(JSON.parse(last) as Omit<Reported, 'stderr'>), stderr: r.stderr };
}

/** The fields a test pins: everything but the pid and the mechanism's detail, which are checked apart. */
function brief(events: readonly FsRefusal[]) {
  for (const e of events) {
    assert.equal(e.type, 'fs.refused');
    assert.ok(Number.isInteger(e.pid) && e.pid! > 0, `pid ${e.pid}`);
    assert.match(e.detail ?? '', /: (EROFS|EACCES|EBUSY)/);
  }
  return events.map((e) => ({ op: e.op, path: e.path, rule: e.rule, fix: e.fix }));
}

const outsideRule = 'built-in: not writable (outside filesystem.allowWrite)';

for (const { who, world, opts } of runners()) {
  test(`a refused write is reported once, with the path, the rule and the fix; the walls still refuse (${who})`, () => {
    const w = world();
    const config = readFileSync(join(w.proj, '.git', 'config'), 'utf8');
    const r = run(w, [
      'echo x > "$HOME/.bashrc"',
      'echo y > "$OUTSIDE/new.txt"',
      'echo z >> .git/config',
      'echo x > "$HOME/.bashrc"', // the same refusal again: reported once
      'exit 0',
    ].join('; '), opts);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(brief(r.events), [
      { op: 'write', path: join(w.home, '.bashrc'), rule: `built-in: protected: shell startup file (${join(w.home, '.bashrc')}), at the root of any writable path`, fix: null },
      { op: 'create', path: join(w.outside, 'new.txt'), rule: outsideRule, fix: `filesystem.allowWrite: add ${JSON.stringify(w.outside)}` },
      { op: 'write', path: join(w.proj, '.git', 'config'), rule: r.events[2]?.rule ?? '', fix: null },
    ]);
    assert.match(r.events[2]!.rule, /^built-in: protected: git .*\(.*\.git\/config\)$/);
    assert.match(r.events[0]!.detail!, /^open\(O_WRONLY\|O_CREAT\|O_TRUNC\): EROFS$/);
    assert.equal(r.stats.repeated, 1);
    // Reporting changed nothing the walls do.
    assert.equal(readFileSync(join(w.home, '.bashrc'), 'utf8'), '# rc');
    assert.ok(!existsSync(join(w.outside, 'new.txt')));
    assert.equal(readFileSync(join(w.proj, '.git', 'config'), 'utf8'), config);
  });

  test(`through the CLI: --violations-json holds exactly the refused writes, each with its rule and fix (${who})`, () => {
    const w = world();
    const file = join(w.root, 'violations.json');
    const r = sh(w, 'echo x > "$HOME/.bashrc"; echo y > "$OUTSIDE/new.txt"; echo z >> .git/config; echo ok > allowed.txt; exit 0', ['--violations-json', file, '--no-summary'], { ...opts, env: { OUTSIDE: w.outside } });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(readFileSync(file, 'utf8')) as (FsRefusal & { v: number; time: string; commandId: string; message: string })[];
    assert.deepEqual(got.map((e) => ({ v: e.v, type: e.type, op: e.op, path: e.path, rule: e.rule, fix: e.fix })), [
      { v: 1, type: 'fs.refused', op: 'write', path: join(w.home, '.bashrc'), rule: `built-in: protected: shell startup file (${join(w.home, '.bashrc')}), at the root of any writable path`, fix: null },
      { v: 1, type: 'fs.refused', op: 'create', path: join(w.outside, 'new.txt'), rule: outsideRule, fix: `filesystem.allowWrite: add ${JSON.stringify(w.outside)}` },
      { v: 1, type: 'fs.refused', op: 'write', path: join(w.proj, '.git', 'config'), rule: got[2]?.rule ?? '', fix: null },
    ]);
    assert.match(got[2]!.rule, /^built-in: protected: git /);
    assert.equal(new Set(got.map((e) => e.commandId)).size, 1);
    for (const e of got) assert.ok(e.message.includes(JSON.stringify(e.path)), e.message);
  });

  test(`allowed writes, and calls that fail for reasons of their own, are not reported (${who})`, () => {
    const w = world();
    const r = run(w, [
      'echo ok > f && mkdir -p d/e && mv f d/e/g && cp d/e/g h && chmod 600 h && touch h && ln -s h l && ln h hard && rm -r d h l hard',
      'rm -f nothing-here',
      'mkdir /usr 2>/dev/null', // EEXIST before EROFS
      'echo > /no/such/dir/x 2>/dev/null', // ENOENT
      'mkdir "$HOME/.ssh" 2>/dev/null', // hidden, but there (an empty directory): EEXIST
      'echo > /dev/null; : > /tmp/t; rm /tmp/t',
      'touch "$OUTSIDE/file.txt" 2>/dev/null; test -w "$OUTSIDE/file.txt"', // utimensat on a read-only mount: refused (below)
      'git status --short > /dev/null',
      'exit 0',
    ].join('; '), opts);
    assert.equal(r.exitCode, 0, r.stderr);
    // touch opens with O_CREAT first (EROFS on an existing file: a refusal), then its utimensat is refused too.
    assert.deepEqual(brief(r.events).map((e) => [e.op, e.path]), [['write', join(w.outside, 'file.txt')]]);
  });

  test(`a directory the host moves out of the writable path while the command works in it: its calls there are not judged by where it went (${who})`, () => {
    const w = world();
    const held = join(w.proj, 'held');
    // On the host, while the command waits in ./held: move it outside (read-only in the sandbox).
    const mover = spawn('/bin/sh', ['-c', 'i=0; while [ ! -e "$1/.ready" ] && [ $i -lt 600 ]; do sleep 0.02; i=$((i+1)); done; mv "$1" "$2"', 'mover', held, join(w.outside, 'held')], { stdio: 'ignore' });
    const r = run(w, [
      'mkdir held && cd held && : > .ready',
      `i=0; while [ -e ${JSON.stringify(held)} ] && [ $i -lt 600 ]; do sleep 0.02; i=$((i+1)); done`,
      // The kernel answers these by where the directory is now, which the sandbox cannot name: not reported.
      'echo x > moved 2>/dev/null; echo y > ../sibling 2>/dev/null',
      'echo z > "$OUTSIDE/direct" 2>/dev/null', // a refusal by path, still reported
      'exit 0',
    ].join('\n'), opts);
    mover.kill();
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(existsSync(join(w.outside, 'held', '.ready')), 'the host moved it while the command waited in it');
    assert.deepEqual(brief(r.events).map((e) => [e.op, e.path]), [['create', join(w.outside, 'direct')]]);
  });

  test(`a move to a read-only place reports what was refused, not the rename that could not cross mounts (${who})`, () => {
    const w = world();
    // mv: rename() fails with EXDEV (not a refusal: not reported), then mv
    // removes the target before copying, which the read-only mount refuses.
    const r = run(w, 'echo a > f; mv f "$HOME/f2"; test -e f', opts);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(brief(r.events), [{ op: 'delete', path: join(w.home, 'f2'), rule: outsideRule, fix: `filesystem.allowWrite: add ${JSON.stringify(w.home)}` }]);
    assert.match(r.events[0]!.detail!, /^unlink: EROFS$/);
    assert.equal(r.stats.records, 2); // the rename was heard of, and judged no refusal
  });

  test(`renaming a directory pinned because it holds a repository names the mount, not a write grant; no setting is offered (${who})`, () => {
    const w = world();
    assert.equal(spawnSync('git', ['init', '-q', join(w.proj, 'libs', 'sub')]).status, 0);
    own(w, opts);
    const r = run(w, 'mv libs libs2; rmdir libs/sub; test -d libs/sub/.git', opts);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(brief(r.events).map((e) => [e.op, e.path, e.fix]), [['rename', join(w.proj, 'libs'), null], ['delete', join(w.proj, 'libs', 'sub'), null]]);
    for (const e of r.events) assert.match(e.rule, /^built-in: a mount point in the sandbox: pinned: /);
  });

  test(`a relative path that is longer than PATH_MAX once anchored to the working directory is still reported (${who})`, () => {
    const w = world();
    own(w, opts);
    // "./" repeated: the call's own path is short enough for the kernel, the cwd plus it is not.
    const script = [
      'import os',
      'tail = ".git/config"',
      'p = "./" * ((4100 - len(os.getcwd()) - 1 - len(tail)) // 2) + tail',
      'assert len(p) < 4096 and len(os.getcwd()) + 1 + len(p) > 4096',
      'for f in (lambda: os.rename(p, ".git/config.new"), lambda: os.unlink(p)):',
      '    try: f()',
      '    except OSError as e: print(e.errno)',
    ].join('\n');
    const r = run(w, `python3 -c '${script}'`, opts);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(brief(r.events).map((e) => [e.op, e.path, e.fix]), [['rename', join(w.proj, '.git', 'config'), null], ['delete', join(w.proj, '.git', 'config'), null]]);
  });

  test(`a write to cordon's own files (its state directory) is reported with no setting to allow it: a grant there would be refused too (${who})`, () => {
    const w = world();
    const r = run(w, 'mkdir -p "$HOME/.local/state/cordon"; echo x > "$HOME/.local/state/cordon/x"; exit 0', opts);
    assert.equal(r.exitCode, 0, r.stderr);
    const own = r.events.filter((e) => e.path === join(w.home, '.local', 'state', 'cordon', 'x'));
    assert.equal(own.length, 1, JSON.stringify(r.events));
    assert.match(own[0]!.rule, /^built-in: protected: cordon's runtime directory/);
    assert.equal(own[0]!.fix, null);
  });

  test(`a grant that reaches another repository's hooks, config or info/attributes leaves them read-only, and no setting is offered for them (or for a file in /) (${who})`, () => {
    const w = world();
    const other = join(w.outside, 'other');
    assert.equal(spawnSync('git', ['init', '-q', other]).status, 0);
    const git = join(other, '.git');
    const config = readFileSync(join(git, 'config'), 'utf8');
    own(w, opts);
    const script = [
      `echo x > ${git}/hooks/pre-commit`,
      `printf '[core]\\n\\tfsmonitor = x\\n' >> ${git}/config`,
      `echo '* filter=x' > ${git}/info/attributes`,
      `echo ok > ${git}/info/exclude`,
      'echo x > /cordon-test-root-file',
      'exit 0',
    ].join('; ');
    const r = run(w, script, opts, ['--allow-write', join(git, 'hooks'), '--allow-write', join(git, 'config'), '--allow-write', join(git, 'info')]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.ok(!existsSync(join(git, 'hooks', 'pre-commit')));
    assert.equal(readFileSync(join(git, 'config'), 'utf8'), config);
    assert.ok(!existsSync(join(git, 'info', 'attributes')));
    assert.equal(readFileSync(join(git, 'info', 'exclude'), 'utf8').split('\n').at(-2), 'ok', 'the rest of the grant works');
    const by = (p: string) => r.events.find((e) => e.path === p);
    assert.deepEqual([by(join(git, 'hooks', 'pre-commit'))?.rule, by(join(git, 'hooks', 'pre-commit'))?.fix], [`built-in: protected: git hook scripts (${join(git, 'hooks')})`, null]);
    assert.equal(by(join(git, 'config'))?.fix, null);
    assert.equal(by('/cordon-test-root-file')?.fix, null, '/ is never writable');
    assert.ok(!existsSync('/cordon-test-root-file'));
  });

  test(`a create through a link to a missing file is reported at the path the kernel would create (${who})`, () => {
    const w = world();
    own(w, opts);
    const r = run(w, `ln -s ${w.outside}/f lf; ln -s ../outside/g lg; ln -s lf chain; echo x > lf; echo y > lg; echo z > chain; exit 0`, opts);
    assert.equal(r.exitCode, 0, r.stderr);
    const fix = `filesystem.allowWrite: add ${JSON.stringify(w.outside)}`;
    assert.deepEqual(brief(r.events), [
      { op: 'create', path: join(w.outside, 'f'), rule: outsideRule, fix },
      { op: 'create', path: join(w.outside, 'g'), rule: outsideRule, fix },
    ], 'a link to a link (chain) is not followed by the reporter: not reported (docs/violations.md, Limits)');
    assert.ok(!existsSync(join(w.outside, 'f')) && !existsSync(join(w.outside, 'g')));
  });

  test(`a refused call is judged on the tree it met, not the one the command leaves right after it (${who})`, () => {
    const w = world();
    // A temporary file renamed over a protected one (EBUSY: a mount point), then
    // unlinked at once, as an atomic writer cleans up: 20 repositories' configs,
    // each refusal reported although the source is gone when it is described.
    const repos = Array.from({ length: 20 }, (_, i) => `r${i}`);
    for (const r of repos) assert.equal(spawnSync('git', ['init', '-q', join(w.proj, r)]).status, 0);
    own(w, opts);
    const script = [
      'import os, sys',
      'for r in sys.argv[1:]:',
      '    t = r + "/.git/tmp"',
      '    open(t, "w").close()',
      '    try: os.rename(t, r + "/.git/config")',
      '    except OSError: pass',
      '    os.unlink(t)',
    ].join('\n');
    const r = run(w, `python3 -c '${script}' ${repos.join(' ')}`, opts);
    assert.equal(r.exitCode, 0, r.stderr);
    const reported = r.events.filter((e) => e.op === 'rename' && /^rename \(replacing\): EBUSY$/.test(e.detail ?? '')).map((e) => e.path).sort();
    assert.deepEqual(reported, repos.map((x) => join(w.proj, x, '.git', 'config')).sort());
    for (const x of repos) assert.ok(!existsSync(join(w.proj, x, '.git', 'tmp')));
  });

  test(`no-delete: deleting, truncating and renaming away are reported with the no-delete rule; creating is not (${who})`, () => {
    const w = world();
    // The working directory itself (no-delete may not lie beneath a read-write path).
    const keep = join(w.proj, 'keep');
    mkdirSync(keep);
    for (const n of ['a', 'b', 'c']) writeFileSync(join(keep, n), n);
    own(w, opts);
    const r = run(w, 'rm keep/a; true > keep/b; mv keep/c keep/moved; echo new > keep/new; exit 0', opts, ['--no-delete', w.proj]);
    assert.equal(r.exitCode, 0, r.stderr);
    const rule = `filesystem.allowWriteNoDelete: ${JSON.stringify(w.proj)} (--no-delete)`;
    const fix = `filesystem.allowWrite: add ${JSON.stringify(keep)}`;
    assert.deepEqual(brief(r.events), [
      { op: 'delete', path: join(keep, 'a'), rule, fix },
      { op: 'write', path: join(keep, 'b'), rule, fix },
      { op: 'rename', path: join(keep, 'c'), rule, fix },
    ]);
    assert.match(r.events[1]!.detail!, /O_TRUNC.*EACCES \(Landlock: truncate\)/);
    for (const n of ['a', 'b', 'c']) assert.equal(readFileSync(join(keep, n), 'utf8'), n);
    assert.equal(readFileSync(join(keep, 'new'), 'utf8'), 'new\n');
  });

  test(`a write into a hidden directory names the read rule and how to re-open it; where $HOME keeps it read-only anyway, no setting is offered (${who})`, () => {
    const w = world();
    const gnupg = join(w.home, '.gnupg');
    mkdirSync(gnupg);
    own(w, opts);
    const r = run(w, 'echo x > "$HOME/.gnupg/new"; echo x > "$HOME/.ssh/new"; exit 0', opts);
    const ssh = join(w.home, '.ssh');
    assert.deepEqual(brief(r.events), [
      { op: 'create', path: join(gnupg, 'new'), rule: `built-in: credential store (${gnupg})`, fix: `filesystem.allowRead: add ${JSON.stringify(gnupg)}, and filesystem.allowWrite: add ${JSON.stringify(gnupg)}` },
      { op: 'create', path: join(ssh, 'new'), rule: `built-in: protected: authorized_keys and ssh config (ProxyCommand) (${ssh})`, fix: null },
    ]);
    assert.ok(!existsSync(join(ssh, 'new')) && !existsSync(join(gnupg, 'new')));
    // The fix offered works: with both the write is made.
    const fixed = run(w, 'echo x > "$HOME/.gnupg/new"; exit 0', opts, ['--allow-read', gnupg, '--allow-write', gnupg]);
    assert.deepEqual(fixed.events, []);
    assert.ok(existsSync(join(gnupg, 'new')));
  });

  // The kernel's own answers, as strace inside the sandbox sees them, are the
  // reference: every call that failed with a wall's errno is reported, and
  // nothing else is.
  test(`exactly the calls the walls refused are reported, as strace inside sees them (${who})`, { skip: spawnSync('strace', ['-V']).status !== 0 ? 'strace missing (apt-get install -y strace)' : false }, () => {
    const w = world();
    const workload = [
      'echo >> "$HOME/notes.txt"', // existing, read-only mount: EROFS
      'touch "$OUTSIDE/n1" "$OUTSIDE/file.txt"', // create; existing (open, then utimensat)
      'mkdir "$OUTSIDE/d1" "$OUTSIDE"', // EROFS; EEXIST
      'rmdir "$OUTSIDE"',
      'rm -f "$OUTSIDE/file.txt" "$OUTSIDE/none"', // unlink on a read-only mount: EROFS, there or not
      'ln -s x "$OUTSIDE/l"; ln "$PWD/README.md" "$OUTSIDE/h"',
      'chmod 600 "$OUTSIDE/file.txt" "$HOME/.ssh"', // the hidden directory is a read-only tmpfs
      'echo > "$HOME/.aws/credentials"; echo > "$HOME/.ssh/none/x"', // hidden: EROFS; no such directory: ENOENT
      'echo > "$PWD/.git/config"; echo > "$PWD/.git/hooks/pre-commit"; echo > "$PWD/.vscode/settings.json"',
      `python3 -c "import os\nfor f in (lambda: os.rmdir('.git'), lambda: os.unlink('.git/config'), lambda: os.rename('src', '.git/x')):\n  try: f()\n  except OSError: pass"`, // EBUSY, EBUSY, EXDEV
      'mkdir -p "$PWD/a/b" && echo > "$PWD/a/b/c" && mv "$PWD/a" "$PWD/z" && rm -r "$PWD/z"', // allowed
    ].join('; ');
    const calls = 'open,openat,creat,mkdir,mkdirat,unlink,unlinkat,rmdir,symlink,symlinkat,link,linkat,chmod,fchmodat,truncate,utimensat,chown,lchown,fchownat,mknod,mknodat,rename,renameat,renameat2';
    const r = run(w, `strace -f -qq -o /tmp/trace -e trace=${calls} -e status=failed /bin/sh -c '${workload.replaceAll("'", "'\\''")}' 2>/dev/null; echo TRACE-BEGIN >&2; cat /tmp/trace >&2; exit 0`, opts);
    assert.equal(r.exitCode, 0, r.stderr);
    const trace = r.stderr.slice(r.stderr.indexOf('TRACE-BEGIN'));
    const refusedByKernel = new Set<string>();
    for (const line of trace.split('\n')) {
      const m = /^\d+\s+(\w+)\((.*)\)\s+= -1 (EROFS|EACCES|EBUSY|EPERM) /.exec(line);
      if (!m) continue;
      const paths = [...m[2]!.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]!);
      // The path the call creates is the last one of link and symlink; the first of the others.
      const path = /^(sym)?link/.test(m[1]!) ? paths.at(-1)! : paths[0]!;
      refusedByKernel.add(path.startsWith('/') ? path : join(w.proj, path)); // python's are relative to the project
    }
    assert.ok(refusedByKernel.size >= 12, `the workload was refused too little to compare: ${[...refusedByKernel].join(', ')}\n${trace}`);
    const reported = new Set(r.events.map((e) => e.path));
    assert.deepEqual({ reportedOnly: [...reported].filter((p) => !refusedByKernel.has(p)), refusedOnly: [...refusedByKernel].filter((p) => !reported.has(p)) }, { reportedOnly: [], refusedOnly: [] }, trace.split('\n').filter((l) => /\s= -1 E(ROFS|ACCES|BUSY|PERM) /.test(l)).join('\n'));
  });

  test(`the command can neither forge a report nor flood cordon with them (${who})`, () => {
    const w = world();
    // Every descriptor the command might hope is the report pipe (fd 10 outside): none is open.
    const forge = `python3 -c "import os\nrec = b'u\\x001\\x000\\x00-P:0\\x00/etc/forged\\x00\\x00\\x00'\nfor fd in range(3, 256):\n  try: os.write(fd, rec); print('WROTE', fd)\n  except OSError: pass"`;
    const f = run(w, forge, opts);
    assert.equal(f.exitCode, 0, f.stderr);
    assert.doesNotMatch(f.stderr, /WROTE/);
    assert.deepEqual(f.events, []);
    // Thousands of distinct refusals: the command finishes, at most MAX_EVENTS are reported, each once.
    const flood = run(w, 'python3 -c "import os\nfor i in range(5000):\n  for p in (\'/usr/x%d\' % i, \'/usr/same\'):\n    try: os.unlink(p)\n    except OSError: pass"', opts);
    assert.equal(flood.exitCode, 0, flood.stderr);
    assert.ok(flood.events.length > 0 && flood.events.length <= MAX_EVENTS, `${flood.events.length} events`);
    assert.equal(new Set(flood.events.map((e) => e.path)).size, flood.events.length);
    // Every call is accounted for: described, or counted as dropped (the reports may then be incomplete).
    assert.ok(flood.stats.records + flood.stats.dropped + flood.stats.skipped >= 10_000, JSON.stringify(flood.stats));
    assert.ok(flood.events.every((e) => e.op === 'delete' && /^\/usr\/(x\d+|same)$/.test(e.path) && e.rule === outsideRule));
  });
}
