/**
 * The filesystem walls, attacked from inside with real tools. Every deny is
 * judged on the host afterwards (did the file change? does it exist?), not
 * by trusting what the sandboxed command printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, git, makeWorld, sh, cordon, testUser } from '../../helpers/cordon.js';
import { spawnSync } from 'node:child_process';
import { tempDir } from '../../helpers/tmp.js';

test('writes: inside the project succeed, everywhere else fail; /tmp is private', () => {
  const w = makeWorld();
  const r = sh(w, `echo in > inside.txt && echo $TMPDIR > /tmp/cordon-private-$$ && cat /tmp/cordon-private-*; ls /tmp | grep -c "^cordon-private-"; echo x > ${w.outside}/new.txt; echo x >> ${w.outside}/file.txt; echo x > ${w.home}/notes.txt; touch /etc/cordon-pwned; echo done`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\/tmp\n1\ndone\n$/, 'only our own file is in the private /tmp');
  assert.equal(readFileSync(join(w.proj, 'inside.txt'), 'utf8'), 'in\n');
  assert.ok(!existsSync(join(w.outside, 'new.txt')));
  assert.equal(readFileSync(join(w.outside, 'file.txt'), 'utf8'), 'outside');
  assert.equal(readFileSync(join(w.home, 'notes.txt'), 'utf8'), 'notes');
  assert.ok(!existsSync('/etc/cordon-pwned'));
  assert.ok(!readdirSync('/tmp').some((n) => n.startsWith('cordon-private-')), 'nothing reached the host /tmp');
  assert.match(r.stderr, /Read-only file system/);
});

test('reads: credential stores are hidden by default; allowRead re-opens one file; settings can re-allow', () => {
  const w = makeWorld();
  const r = sh(w, `cat ${w.home}/.ssh/id_rsa ${w.home}/.aws/credentials ${w.home}/.npmrc ${w.home}/.ssh/known_hosts 2>&1; ls -A ${w.home}/.ssh; cat ${w.home}/notes.txt`);
  assert.doesNotMatch(r.stdout, /SSH-PRIVATE-KEY|AWS-SECRET|NPM-SECRET|KNOWN-HOSTS/);
  assert.match(r.stdout, /notes$/);
  const r2 = sh(w, `cat ${w.home}/.ssh/known_hosts; cat ${w.home}/.ssh/id_rsa`, ['--allow-read', '~/.ssh/known_hosts']);
  assert.match(r2.stdout, /^KNOWN-HOSTS$/);
  assert.doesNotMatch(r2.stdout, /SSH-PRIVATE-KEY/);
  const settings = join(w.outside, 's.json');
  writeFileSync(settings, JSON.stringify({ filesystem: { allowRead: ['~/.aws'] } }));
  assert.match(sh(w, `cat ${w.home}/.aws/credentials`, ['--settings', settings]).stdout, /AWS-SECRET/);
});

test('reads: deny globs (**/.env) and a deny deeper than an allow still wins', () => {
  const w = makeWorld();
  mkdirSync(join(w.proj, 'svc', 'api'), { recursive: true });
  writeFileSync(join(w.proj, '.env'), 'ROOT-ENV');
  writeFileSync(join(w.proj, 'svc', 'api', '.env'), 'API-ENV');
  writeFileSync(join(w.proj, 'svc', 'api', 'ok.txt'), 'OK');
  const r = sh(w, 'cat .env svc/api/.env svc/api/ok.txt 2>/dev/null; echo; echo leak > .env; cat .env', ['--deny-read', '**/.env']);
  assert.doesNotMatch(r.stdout, /ROOT-ENV|API-ENV|leak/);
  assert.match(r.stdout, /OK/);
  assert.equal(readFileSync(join(w.proj, '.env'), 'utf8'), 'ROOT-ENV');
  mkdirSync(join(w.home, '.ssh', 'pub'));
  writeFileSync(join(w.home, '.ssh', 'pub', 'key.pub'), 'PUBLIC');
  writeFileSync(join(w.home, '.ssh', 'pub', 'private'), 'PRIVATE');
  const r2 = sh(w, `cat ${w.home}/.ssh/pub/key.pub; cat ${w.home}/.ssh/pub/private; cat ${w.home}/.ssh/id_rsa`, ['--allow-read', '~/.ssh/pub', '--deny-read', '~/.ssh/pub/private']);
  assert.match(r2.stdout, /PUBLIC/);
  assert.doesNotMatch(r2.stdout, /PRIVATE|SSH-PRIVATE-KEY/);
});

test('a home that is a link: a ** rule below it still matches, and running from it is refused as from any home', () => {
  const w = makeWorld();
  // HOME names a link to the real home, as /home -> /var/home does on some systems.
  const link = join(w.root, 'home-link');
  symlinkSync(w.home, link);
  mkdirSync(join(w.home, 'app'));
  writeFileSync(join(w.home, 'app', '.env'), 'HOME-ENV');
  writeFileSync(join(w.home, 'app', 'important'), 'keep');
  const r = cordon(w, ['--allow-write', '~/app', '--deny-read', '~/**/.env', '--read-only', '~/**/important', '--', '/bin/sh', '-c', 'cd ~/app && cat .env; echo x > important 2>/dev/null && echo WROTE; true'], { env: { HOME: link } });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /HOME-ENV|WROTE/);
  assert.equal(readFileSync(join(w.home, 'app', 'important'), 'utf8'), 'keep');
  // Run from that home, the working directory is refused as a writable root as from any home.
  const fromHome = cordon(w, ['--', '/bin/sh', '-c', 'echo RAN'], { cwd: w.home, env: { HOME: link } });
  assert.equal(fromHome.status, 125);
  assert.equal(fromHome.stdout, '');
  assert.match(fromHome.stderr, new RegExp(`the working directory ${w.home} is your home directory`));
});

test("a read deny on the host's /tmp shows nothing of it in the private /tmp, not even names", () => {
  const w = makeWorld();
  const host = tempDir('/tmp/cordon-tmpnames-');
  mkdirSync(join(host, 'agent-sock-dir'));
  writeFileSync(join(host, 'agent-sock-dir', 'agent.4242'), 'x');
  const r = sh(w, 'ls -aR /tmp', ['--deny-read', `${host}/*/*`]);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /cordon-tmpnames|agent-sock-dir|agent\.4242/);
});

test('read-only inside a writable path, and denyWrite beats allowWrite', () => {
  const w = makeWorld();
  const r = sh(w, 'echo x >> src/main.js || echo no-append; echo y > src/new.js || echo no-create; echo z > README.md', ['--read-only', 'src']);
  assert.equal(r.stdout, 'no-append\nno-create\n');
  assert.equal(readFileSync(join(w.proj, 'src', 'main.js'), 'utf8'), 'console.log(1)');
  assert.ok(!existsSync(join(w.proj, 'src', 'new.js')));
  assert.equal(readFileSync(join(w.proj, 'README.md'), 'utf8'), 'z\n');
  const r2 = sh(w, `echo x > ${w.outside}/a`, ['--allow-write', w.outside, '--deny-write', w.outside]);
  assert.notEqual(r2.status, 0);
  assert.ok(!existsSync(join(w.outside, 'a')));
});

for (const asUser of [undefined, testUser()?.name]) {
  test(`read-write-no-delete: create, append and overwrite in place work; unlink, rmdir, rename away, atomic-rename saves and every truncation fail (${asUser ?? 'root'})`, () => {
    const w = asUser ? makeWorld({ owner: testUser()! }) : makeWorld();
    mkdirSync(join(w.proj, 'd'));
    writeFileSync(join(w.proj, 'data.bin'), 'ABCDEFGH');
    if (asUser) spawnSync('chown', ['-R', `${testUser()!.uid}:${testUser()!.gid}`, w.proj]);
    const r = sh(w, [
      'echo new > created.txt && echo more >> README.md && mkdir made && echo ok-create',
      'printf xy | dd of=data.bin bs=1 seek=2 conv=notrunc 2>/dev/null && echo ok-overwrite-in-place',
      'rm README.md 2>/dev/null || echo no-rm',
      'rmdir d 2>/dev/null || echo no-rmdir',
      'mv src/main.js moved.js 2>/dev/null || echo no-mv',
      'echo tmp > .save.tmp && (mv .save.tmp README.md 2>/dev/null || echo no-atomic-save)',
      'truncate -s 0 created.txt 2>/dev/null || echo no-truncate',
      // A subshell: a failed redirection on the special builtin `:` would end sh itself.
      '(: > README.md) 2>/dev/null || echo no-o-trunc',
      `python3 -c "import os; os.truncate('data.bin', 1)" 2>/dev/null || echo no-ftruncate`,
    ].join('; '), ['--no-delete', '.'], asUser ? { asUser } : {});
    assert.equal(r.stdout, 'ok-create\nok-overwrite-in-place\nno-rm\nno-rmdir\nno-mv\nno-atomic-save\nno-truncate\nno-o-trunc\nno-ftruncate\n', r.stderr);
    assert.ok(existsSync(join(w.proj, 'README.md')) && existsSync(join(w.proj, 'd')) && existsSync(join(w.proj, 'src', 'main.js')));
    assert.equal(readFileSync(join(w.proj, 'README.md'), 'utf8'), 'readme' + 'more\n');
    assert.equal(readFileSync(join(w.proj, 'created.txt'), 'utf8'), 'new\n');
    assert.equal(readFileSync(join(w.proj, 'data.bin'), 'utf8'), 'ABxyEFGH');
    // Control: without --no-delete the same deletes and truncations succeed (so the test can fail).
    const c = sh(w, 'rm README.md && rmdir d && truncate -s 0 created.txt && echo deleted', [], asUser ? { asUser } : {});
    assert.equal(c.stdout, 'deleted\n');
  });
}

for (const asUser of [undefined, testUser()?.name]) {
  test(`no-delete: a file of its stdout or stderr the caller opened for writing (>> logs/x.log) is refused, since it could be truncated through that descriptor; read-only stdin is not (${asUser ?? 'root'})`, () => {
    const w = asUser ? makeWorld({ owner: testUser()! }) : makeWorld();
    writeFileSync(join(w.proj, 'log.txt'), 'important\n');
    if (asUser) spawnSync('chown', ['-R', `${testUser()!.uid}:${testUser()!.gid}`, w.root]);
    const shell = (line: string) => {
      const argv = ['/bin/sh', '-c', line, 'sh', process.execPath, CLI];
      const [cmd, ...rest] = asUser ? ['runuser', '-u', asUser, '--', 'env', ...Object.entries(w.env).map(([k, v]) => `${k}=${v}`), ...argv] : argv;
      return spawnSync(cmd!, rest, { cwd: w.proj, env: w.env, encoding: 'utf8' });
    };
    const truncate = `--no-delete . -- python3 -c "import os; os.ftruncate(1, 0); os.ftruncate(2, 0)"`;
    for (const [redirect, which] of [['>> log.txt', 'stdout'], ['2>> log.txt', 'stderr'], ['> /dev/null 2>> log.txt', 'stderr']] as const) {
      const r = shell(`"$1" "$2" ${truncate} ${redirect}`);
      assert.equal(r.status, 125, `${redirect}: ${r.stderr}`);
      // cordon's own stderr is the file too when the command's is: the refusal is appended there, nothing truncated.
      const log = readFileSync(join(w.proj, 'log.txt'), 'utf8');
      assert.ok(log.startsWith('important\n'), `${redirect}: ${log}`);
      assert.match(r.stderr + log, new RegExp(`the command's ${which} is ${w.proj}/log\\.txt, in the read-write-no-delete path ${w.proj}, opened for writing before the sandbox.*tee -a`));
      writeFileSync(join(w.proj, 'log.txt'), 'important\n');
    }
    // Read from it, or write through a pipe: runs.
    const read = shell(`"$1" "$2" --no-delete . -- cat < log.txt`);
    assert.equal(read.stdout, 'important\n', read.stderr);
    const piped = shell(`"$1" "$2" --no-delete . -- echo more | tee -a log.txt >/dev/null`);
    assert.equal(piped.status, 0, piped.stderr);
    assert.equal(readFileSync(join(w.proj, 'log.txt'), 'utf8'), 'important\nmore\n');
    // A read-write path inside the no-delete one may truncate anyway (Landlock's rights add up): not refused.
    mkdirSync(join(w.proj, 'logs'));
    if (asUser) spawnSync('chown', [`${testUser()!.uid}:${testUser()!.gid}`, join(w.proj, 'logs')]);
    const inner = shell(`"$1" "$2" --no-delete . --allow-write logs -- echo line >> logs/x.log`);
    assert.equal(inner.status, 0, inner.stderr);
    assert.equal(readFileSync(join(w.proj, 'logs', 'x.log'), 'utf8'), 'line\n');
    // Control: without --no-delete the same descriptor empties the file (so the test can fail).
    const control = shell(`"$1" "$2" -- python3 -c "import os; os.ftruncate(1, 0)" >> log.txt`);
    assert.equal(control.status, 0, control.stderr);
    assert.equal(readFileSync(join(w.proj, 'log.txt'), 'utf8'), '');
  });
}

test('no-delete where the kernel cannot enforce it is refused, naming the rule: under the private /tmp, /dev, a read-write path', () => {
  const w = makeWorld();
  const underTmp = tempDir('/tmp/cordon-nd-');
  for (const [args, outer] of [[['--no-delete', underTmp], "/tmp, which is read-write \\(the sandbox's private /tmp\\)"], [['--no-delete', '/dev/shm'], "/dev, which is read-write \\(the sandbox's own /dev\\)"]] as const) {
    const r = sh(w, 'touch ran', [...args]);
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, new RegExp(`read-write-no-delete inside ${outer}`));
    assert.ok(!existsSync(join(w.proj, 'ran')));
  }
});

test('git in a no-delete project: reads work, a commit fails at once, no lock file is left for git on the host; --allow-write .git lets it commit', () => {
  const w = makeWorld();
  const r = sh(w, 'git status --short >/dev/null && echo status-ok; echo x > new.txt; git add new.txt 2>/dev/null || echo add-refused; git -c user.email=a@b.invalid -c user.name=a commit -qm x 2>/dev/null || echo commit-refused', ['--no-delete', '.']);
  assert.equal(r.stdout, 'status-ok\nadd-refused\ncommit-refused\n', r.stderr);
  assert.ok(!existsSync(join(w.proj, '.git', 'index.lock')), 'no stale index.lock');
  git(w.proj, 'status', '--short');
  const ok = sh(w, 'git add new.txt && git -c user.email=a@b.invalid -c user.name=a commit -qm x && echo committed', ['--no-delete', '.', '--allow-write', '.git']);
  assert.equal(ok.stdout, 'committed\n', ok.stderr);
  assert.ok(!existsSync(join(w.proj, '.git', 'index.lock')));
});

test('symlinks and hard links cannot carry a read or a write past a rule', () => {
  const w = makeWorld();
  symlinkSync(join(w.outside, 'file.txt'), join(w.proj, 'out-link'));
  symlinkSync(join(w.home, '.ssh', 'id_rsa'), join(w.proj, 'key-link'));
  symlinkSync(w.outside, join(w.proj, 'dir-link'));
  const r = sh(w, [
    'echo pwn > out-link', 'echo pwn > dir-link/new.txt', 'cat key-link',
    `ln ${w.outside}/file.txt hard 2>&1 || echo no-hardlink`,
    `ln ${w.home}/.ssh/id_rsa hard2 2>&1 || echo no-hardlink2`,
    `ln -s ${w.home}/.aws/credentials inside-link && cat inside-link`,
  ].join('; '));
  assert.doesNotMatch(r.stdout, /SSH-PRIVATE-KEY|AWS-SECRET/);
  assert.match(r.stdout, /no-hardlink\n/);
  assert.match(r.stdout, /no-hardlink2/);
  assert.equal(readFileSync(join(w.outside, 'file.txt'), 'utf8'), 'outside');
  assert.ok(!existsSync(join(w.outside, 'new.txt')));
  assert.ok(!existsSync(join(w.proj, 'hard')));
});

test('a rule on a symlink applies to its target', () => {
  const w = makeWorld();
  symlinkSync(join(w.home, 'notes.txt'), join(w.proj, 'notes-link'));
  const r = sh(w, `cat ${w.home}/notes.txt`, ['--deny-read', 'notes-link']);
  assert.doesNotMatch(r.stdout, /notes/);
});

// Twice: with the helper making the read-only mounts (Linux >= 5.12), and with
// bubblewrap making every mount (older kernels, or CORDON_BWRAP_MOUNTS=1).
for (const [label, env] of [['helper mounts', {}], ['bubblewrap mounts', { CORDON_BWRAP_MOUNTS: '1' }]] as const) test(`files that run on the host later are never writable, existing or not (${label})`, () => {
  const w = makeWorld();
  mkdirSync(join(w.proj, '.claude'));
  writeFileSync(join(w.proj, '.claude', 'settings.json'), '{}');
  git(w.proj, 'add', '-A');
  git(w.proj, 'commit', '-qm', 'agent settings');
  writeFileSync(join(w.proj, 'deep', 'a', 'b', 'c', '.profile'), '# nested');
  const attempts = [
    'echo "[core] fsmonitor = evil" >> .git/config',
    'echo evil > .git/hooks/pre-commit',
    'mkdir -p .git/hooks && echo evil > .git/hooks/post-checkout',
    'echo evil > .envrc', 'echo {} > .mcp.json', 'mkdir -p .vscode && echo {} > .vscode/tasks.json',
    'echo {} > .claude/settings.json', 'mkdir .claude/commands', 'echo x > .gitmodules', 'echo x >> deep/a/b/c/.profile',
    'echo evil > deep/a/b/c/.git/hooks/pre-commit', 'echo "[core]" >> deep/a/b/c/.git/config',
    'mv .git .git-old && mkdir .git', 'rm -rf .git/hooks', 'mv .envrc x', 'rmdir .vscode',
    // Undo the protecting mounts themselves.
    'umount .envrc', 'umount -l .git/hooks', 'umount .git/config && echo x >> .git/config',
  ];
  const r = sh(w, attempts.map((a) => `(${a}) 2>/dev/null && echo "BROKE: ${a.replace(/"/g, '')}"`).join('; ') + '; echo end', [], { env });
  assert.equal(r.status, 0, r.stderr);
  // Which path made the mounts is visible in explain: the test covers the one it names.
  const explained = cordon(w, ['explain'], { env }).stdout;
  assert.equal(/\[helper\] --ro-bind \S+\/\.envrc/.test(explained), label === 'helper mounts', explained);
  assert.equal(r.stdout, 'end\n', r.stdout);
  assert.equal(readFileSync(join(w.proj, '.claude', 'settings.json'), 'utf8'), '{}');
  assert.doesNotMatch(readFileSync(join(w.proj, '.git', 'config'), 'utf8'), /fsmonitor/);
  // Placeholders are gone afterwards and git saw nothing.
  for (const n of ['.envrc', '.mcp.json', '.vscode', '.gitmodules', '.idea']) assert.ok(!existsSync(join(w.proj, n)), n);
  assert.equal(readFileSync(join(w.proj, 'deep', 'a', 'b', 'c', '.profile'), 'utf8'), '# nested');
  assert.ok(!existsSync(join(w.proj, '.git-old')));
  assert.equal(git(w.proj, 'status', '--porcelain'), '');
});

test('git inside a protected repository stays clean and works (status, add -A, commit)', () => {
  const w = makeWorld();
  const r = sh(w, 'git status --porcelain; echo ---; echo change >> README.md && git add -A && git -c user.email=a@b.c -c user.name=n commit -qm inside && git status --porcelain && git log --oneline | wc -l');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '---\n3\n');
  assert.equal(git(w.proj, 'log', '-1', '--format=%s').trim(), 'inside');
});

test('core.hooksPath and submodule git dirs are protected too', () => {
  const w = makeWorld();
  git(w.proj, 'config', 'core.hooksPath', '.husky');
  mkdirSync(join(w.proj, '.husky'));
  const sub = join(w.proj, '.git', 'modules', 'lib', 'inner');
  mkdirSync(join(sub, 'hooks'), { recursive: true });
  writeFileSync(join(sub, 'HEAD'), 'ref: refs/heads/main\n');
  writeFileSync(join(sub, 'config'), '[core]\n');
  mkdirSync(join(w.proj, 'lib'));
  writeFileSync(join(w.proj, 'lib', '.git'), 'gitdir: ../.git/modules/lib/inner\n');
  const r = sh(w, ['echo evil > .husky/pre-commit', `echo evil > ${sub}/hooks/post-checkout`, `echo '[core]fsmonitor=x' >> ${sub}/config`, "echo 'gitdir: /tmp/evil' > lib/.git"].map((a) => `(${a}) 2>/dev/null && echo BROKE`).join('; ') + '; echo end');
  assert.equal(r.stdout, 'end\n');
  assert.equal(readFileSync(join(w.proj, 'lib', '.git'), 'utf8'), 'gitdir: ../.git/modules/lib/inner\n');
  assert.deepEqual(readdirSync(join(w.proj, '.husky')), []);
});

test('cordon settings in use cannot be rewritten from inside', () => {
  const w = makeWorld();
  const f = join(w.proj, 'cordon.json');
  writeFileSync(f, JSON.stringify({ filesystem: { denyRead: ['~/notes.txt'] } }));
  const r = sh(w, 'echo "{}" > cordon.json 2>/dev/null || echo refused', ['--settings', f]);
  assert.equal(r.stdout, 'refused\n');
  // And with the home directory named writable, its rc files are protected, and user settings the command makes never load.
  const r2 = cordon(w, ['--allow-write', '~', '--', '/bin/sh', '-c', 'echo evil >> .bashrc 2>/dev/null || echo refused; mkdir -p .config/cordon && echo "{\\"filesystem\\":{\\"allowWrite\\":[\\"~/.ssh\\"]}}" > .config/cordon/settings.json && echo made'], { cwd: w.home });
  assert.equal(r2.stdout, 'refused\nmade\n', r2.stderr);
  assert.equal(readFileSync(join(w.home, '.bashrc'), 'utf8'), '# rc');
  assert.ok(!existsSync(join(w.home, '.config', 'cordon')), 'moved aside after the run');
  assert.match(r2.stderr, /created .*\/\.config .*moved to .*\.config\.cordon-untrusted/);
});

test('many runs in parallel in one directory all succeed and leave nothing behind', async () => {
  const w = makeWorld();
  const { cordonAsync } = await import('../../helpers/cordon.js');
  const before = readdirSync(w.proj).sort();
  const runs = Array.from({ length: 8 }, (_, i) => new Promise<string>((resolve) => {
    // --no-summary: the refused touch is reported (docs/violations.md); this test is about the runs, not the report.
    const c = cordonAsync(w, ['--no-summary', '--', '/bin/sh', '-c', `echo ${i} > out-${i}.txt; sleep 0.${i}; test -d .vscode && ! touch .vscode/x 2>/dev/null`]);
    let err = '';
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('close', (code) => resolve(`${code ?? -1}${err ? ` ${err.trim()}` : ''}`));
  }));
  assert.deepEqual(await Promise.all(runs), ['0', '0', '0', '0', '0', '0', '0', '0']);
  const after = readdirSync(w.proj).filter((n) => !n.startsWith('out-')).sort();
  assert.deepEqual(after, before);
});

test("cordon's state directory (placeholder holds, scan cache) stays read-only when $HOME is writable", () => {
  const w = makeWorld();
  const rt = join(w.home, '.local', 'state', 'cordon');
  const r = sh(w, `ls -d ${rt} >/dev/null && echo seen; echo x > ${w.home}/ok.txt && echo wrote-home; echo '{}' > ${rt}/hold-1-x.json 2>/dev/null || echo refused`, ['--allow-write', '~']);
  assert.equal(r.stdout, 'seen\nwrote-home\nrefused\n', r.stderr);
  assert.ok(!existsSync(join(rt, 'hold-1-x.json')));
});

const tmpUser = testUser();
for (const { who, asUser } of [{ who: 'root', asUser: undefined as string | undefined }, ...(tmpUser ? [{ who: 'an unprivileged user', asUser: tmpUser.name }] : [])]) {
  test(`a read rule at /tmp itself shows the host's /tmp read-only, never writable (${who})`, () => {
    const w = makeWorld(asUser ? { owner: tmpUser! } : {});
    const seen = `cordon-tmp-seen-${process.pid}-${who.length}`;
    writeFileSync(join('/tmp', seen), 'host\n');
    try {
      for (const rule of [['--allow-read', '/tmp'], ['--read-only', '/tmp']]) {
        const marker = `cordon-tmp-leak-${process.pid}-${rule[0]!.slice(2)}-${who.length}`;
        const r = sh(w, `cat /tmp/${seen}; echo x > /tmp/${marker} || echo refused; mkdir /tmp/${marker}.d 2>/dev/null || echo refused; mv /tmp/${seen} /tmp/${marker}.mv 2>/dev/null || echo refused`, rule, { asUser });
        assert.equal(r.stdout, 'host\nrefused\nrefused\nrefused\n', `${rule.join(' ')}: ${r.stderr}`);
        for (const leaked of [marker, `${marker}.d`, `${marker}.mv`]) assert.ok(!existsSync(join('/tmp', leaked)), `${rule.join(' ')} wrote the host's /tmp: ${leaked}`);
        assert.ok(existsSync(join('/tmp', seen)));
      }
    } finally {
      spawnSync('rm', ['-f', join('/tmp', seen)]);
    }
  });
}

test('a write deny under a file: refused with the file named and the fix, nothing run (no misleading cause)', () => {
  const w = makeWorld();
  writeFileSync(join(w.proj, 'f2'), 'a file\n');
  const r = sh(w, 'touch ran', ['--deny-write', './f2/secret']);
  assert.equal(r.status, 125, r.stderr);
  assert.match(r.stderr, new RegExp(`${join(w.proj, 'f2')} is a file, not a directory.*Name ${join(w.proj, 'f2')} itself in the rule`));
  assert.doesNotMatch(r.stderr, /symbolic link/);
  assert.ok(!existsSync(join(w.proj, 'ran')));
});
