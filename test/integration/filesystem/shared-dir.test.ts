/**
 * A shared directory made writable (the machine's /dev/shm here: sticky,
 * writable by every user, as srt's settings make /tmp): no placeholder
 * appears in it, a protected name that exists stays read-only, and what the
 * command creates there (itself, by a hard link to another user's file, or
 * by renaming another user's directory in) is moved aside after the run.
 * Another user's own entry made there during the run is left alone where
 * the sticky bit kept the command from placing it (an unprivileged caller),
 * and moved where it did not (root owns /dev/shm). Through the real CLI, as
 * root and as an unprivileged user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lchownSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cordon, cordonAsync, own, runners, testUser } from '../../helpers/cordon.js';

const SHM = '/dev/shm';
const NAMES = ['.claude', 'CLAUDE.md', 'AGENTS.md', '.cursor', '.vscode', '.envrc'];
const mine = (n: string) => [n, `${n}.cordon-untrusted`, `${n}.cordon-untrusted-2`].map((x) => join(SHM, x));
const clean = () => { for (const n of NAMES) for (const p of mine(n)) rmSync(p, { recursive: true, force: true }); };

const until = async (p: string) => {
  for (let i = 0; i < 600 && !existsSync(p); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(p), `${p} never appeared`);
};

for (const { who, world, opts } of runners()) {
  test(`a shared directory: no placeholders; what the command put there is moved aside, another user's own entry only where the sticky bit bound the command (${who})`, async () => {
    assert.equal(lstatSync(SHM).mode & 0o1777, 0o1777, `${SHM} is not sticky and writable by all here`);
    assert.ok(NAMES.every((n) => !existsSync(join(SHM, n))), `this test makes ${NAMES.join(' ')} in ${SHM}: remove the ones there first`);
    const w = world();
    own(w, opts);
    const u = testUser();
    const me = opts.asUser && u ? u : { uid: 0, gid: 0 };
    const other = opts.asUser || !u ? { uid: 0, gid: 0 } : u;
    // Another user's, in a directory of theirs on the same filesystem: a file the command may write, and a directory it may write.
    const theirs = mkdtempSync(join(SHM, 'cordon-theirs-'));
    mkdirSync(join(theirs, 'dir'), { recursive: true });
    writeFileSync(join(theirs, 'victim'), 'THEIRS');
    chmodSync(join(theirs, 'victim'), 0o666);
    chmodSync(join(theirs, 'dir'), 0o777);
    chmodSync(theirs, 0o777);
    for (const p of [theirs, join(theirs, 'dir'), join(theirs, 'victim')]) chownSync(p, other.uid, other.gid);
    const run = w.proj;
    try {
      mkdirSync(join(SHM, '.vscode'));
      writeFileSync(join(SHM, '.vscode', 'settings.json'), '{}');
      chownSync(join(SHM, '.vscode'), me.uid, me.gid);
      const script = [
        `cd ${SHM}`,
        // Existing: read-only.
        '(echo X > .vscode/settings.json) 2>/dev/null && echo WROTE-VSCODE',
        // Missing: nothing holds the names during the run; the command makes them, by every route.
        'mkdir .claude && echo HOOK > .claude/settings.json && echo PLANTED > CLAUDE.md',
        `ln ${theirs}/victim AGENTS.md && echo EVIL > AGENTS.md`,
        `mv ${theirs}/dir .envrc && echo EVIL > .envrc/x`,
        `touch ${run}/READY`,
        `while [ ! -e ${run}/GO ]; do sleep 0.05; done`,
      ].join('; ');
      const child = cordonAsync(w, ['--allow-write', SHM, '--', '/bin/sh', '-c', script], opts);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => { stdout += d; });
      child.stderr.on('data', (d) => { stderr += d; });
      const closed = once(child, 'close');
      let midRun: string[] = [];
      try {
        await until(join(run, 'READY'));
        midRun = readdirSync(SHM).filter((n) => NAMES.includes(n)).sort();
        // Another user makes a protected name there while the run goes on.
        mkdirSync(join(SHM, '.cursor'));
        writeFileSync(join(SHM, '.cursor', 'rules'), 'THEIRS');
        chownSync(join(SHM, '.cursor', 'rules'), other.uid, other.gid);
        chownSync(join(SHM, '.cursor'), other.uid, other.gid);
      } finally {
        writeFileSync(join(run, 'GO'), '');
      }
      const [code] = await closed;
      // Mid-run, the directory held only what its users made: no empty directory named after a protected name.
      assert.deepEqual(midRun, ['.claude', '.envrc', '.vscode', 'AGENTS.md', 'CLAUDE.md']);
      assert.equal(stdout, '', 'the existing name stayed read-only');
      assert.equal(readFileSync(join(SHM, '.vscode', 'settings.json'), 'utf8'), '{}');
      assert.equal(readFileSync(join(SHM, '.claude.cordon-untrusted', 'settings.json'), 'utf8'), 'HOOK\n');
      assert.equal(readFileSync(join(SHM, 'CLAUDE.md.cordon-untrusted'), 'utf8'), 'PLANTED\n');
      assert.match(stderr, /created \/dev\/shm\/\.claude .*moved to \/dev\/shm\/\.claude\.cordon-untrusted/);
      for (const n of ['.claude', 'CLAUDE.md']) assert.ok(!existsSync(join(SHM, n)), n);
      if (opts.asUser) {
        // A hard link to another user's file the command may write, and another user's directory it renamed in, are
        // the command's; the sticky bit lets no one but root move another user's entry: the run fails, saying so.
        assert.notEqual(code, 0, stderr);
        assert.match(stderr, /created \/dev\/shm\/AGENTS\.md .*could not be moved aside \(EPERM/);
        assert.match(stderr, /created \/dev\/shm\/\.envrc .*could not be moved aside \(EPERM/);
        assert.equal(readFileSync(join(SHM, '.cursor', 'rules'), 'utf8'), 'THEIRS', "another user's entry, which the sticky bit kept the command from placing, is where they put it");
        assert.doesNotMatch(stderr, /\.cursor/);
      } else {
        assert.equal(code, 0, stderr);
        assert.equal(readFileSync(join(SHM, 'AGENTS.md.cordon-untrusted'), 'utf8'), 'EVIL\n', "a hard link to another user's file the command may write is the command's");
        assert.equal(readFileSync(join(SHM, '.envrc.cordon-untrusted', 'x'), 'utf8'), 'EVIL\n', "another user's directory the command renamed in is the command's");
        // root owns /dev/shm: the sticky bit does not stop a command running as root from renaming another user's entry there.
        assert.equal(readFileSync(join(SHM, '.cursor.cordon-untrusted', 'rules'), 'utf8'), 'THEIRS');
        assert.match(stderr, /created \/dev\/shm\/\.cursor /);
      }
    } finally {
      clean();
      rmSync(theirs, { recursive: true, force: true });
    }
  });
}

for (const { who, world, opts } of runners()) {
  test(`another user's links, many-named files, private directories and repositories in a shared directory never stop a run; what of theirs the command could write is still held, their link it replaces is moved aside, and its own link and repository there too (${who})`, () => {
    const u = testUser();
    if (!u) return;
    const other = opts.asUser ? { uid: 0, gid: 0 } : u;
    const top = ['.zshrc', 'CLAUDE.md', 'AGENT.md', '.bashrc', '.envrc', '.github', '.git', '.profile', '.vscode', 'GEMINI.md'];
    assert.ok(top.every((n) => !lstatSync(join(SHM, n), { throwIfNoEntry: false })), `this test makes ${top.join(' ')} in ${SHM}: remove the ones there first`);
    const made: string[] = [];
    const dir = (name: string, mode = 0o755) => { const d = mkdtempSync(join(SHM, `cordon-${name}-`)); chmodSync(d, mode); made.push(d); return d; };
    const chownAll = (p: string) => spawnSync('chown', ['-hR', `${other.uid}:${other.gid}`, p]);
    try {
      // At the shared directory's root: links to / (above the writable path), a file with two names that only they may
      // write, a private directory holding a protected name, a .git file.
      for (const n of ['.zshrc', 'CLAUDE.md', 'AGENT.md', '.envrc']) symlinkSync('/', join(SHM, n));
      writeFileSync(join(SHM, '.bashrc'), 'theirs\n');
      const names = dir('names');
      linkSync(join(SHM, '.bashrc'), join(names, 'bashrc'));
      // Their .github: a link to / inside it (they may enter it) or, for a caller that is not root, a private one.
      mkdirSync(join(SHM, '.github'), { mode: opts.asUser ? 0o700 : 0o755 });
      if (opts.asUser) writeFileSync(join(SHM, '.github', 'copilot-instructions.md'), 'theirs\n');
      else symlinkSync('/', join(SHM, '.github', 'copilot-instructions.md'));
      writeFileSync(join(SHM, '.git'), 'gitdir: /nowhere\n');
      // What of theirs anyone may write: held read-only as anywhere.
      mkdirSync(join(SHM, '.vscode'), { mode: 0o777 });
      writeFileSync(join(SHM, 'GEMINI.md'), 'theirs\n');
      // Their repositories: a config of two names, a link to / at its root, a git dir with no hooks; one anyone may write;
      // one in a directory only they may enter.
      const repo = dir('repo');
      mkdirSync(join(repo, '.git', 'hooks'), { recursive: true });
      for (const d of ['objects', 'refs']) mkdirSync(join(repo, '.git', d));
      writeFileSync(join(repo, '.git', 'HEAD'), 'ref: refs/heads/main\n');
      writeFileSync(join(repo, '.git', 'config'), '[core]\n');
      linkSync(join(repo, '.git', 'config'), join(repo, 'config-2'));
      symlinkSync('/', join(repo, '.vscode'));
      const bare = dir('nohooks');
      mkdirSync(join(bare, '.git'));
      for (const d of ['objects', 'refs']) mkdirSync(join(bare, '.git', d));
      writeFileSync(join(bare, '.git', 'HEAD'), 'ref: refs/heads/main\n');
      const shared = dir('sharedrepo', 0o777);
      for (const d of ['.git', '.git/hooks', '.git/objects', '.git/refs']) mkdirSync(join(shared, d), { mode: 0o777 });
      writeFileSync(join(shared, '.git', 'HEAD'), 'ref: refs/heads/main\n');
      writeFileSync(join(shared, '.git', 'config'), '[core]\n');
      const hidden = dir('hidden', 0o700);
      mkdirSync(join(hidden, 'r', '.git'), { recursive: true });
      // A repository of theirs whose config names programs and includes in a directory only they may enter, and whose
      // .git/info leads there.
      const home = dir('home', 0o700);
      const named = dir('named');
      assert.equal(spawnSync('git', ['init', '-q', named]).status, 0);
      // And a private directory of theirs outside every writable path (a home of theirs).
      const away = mkdtempSync('/var/tmp/cordon-their-home-');
      made.push(away);
      for (const [k, v] of [['core.editor', `${home}/editor`], ['include.path', `${home}/inc`], ['core.hooksPath', `${home}/hooks`], ['core.pager', `${away}/pager`], ['core.sshCommand', `${away}/ssh`]]) assert.equal(spawnSync('git', ['-C', named, 'config', k!, v!]).status, 0);
      rmSync(join(named, '.git', 'info'), { recursive: true, force: true });
      symlinkSync(join(home, 'info'), join(named, '.git', 'info'));
      // A repository of theirs whose git dir only they may enter.
      const privateGit = dir('privategit');
      assert.equal(spawnSync('git', ['init', '-q', privateGit]).status, 0);
      chmodSync(join(privateGit, '.git'), 0o700);
      // Private, but opened to root by an ACL entry (user 0: rwx; mask rwx): root's command may write there.
      const acl = dir('acl', 0o700);
      const entries: [number, number, number][] = [[0x01, 7, 0xffffffff], [0x02, 7, 0], [0x04, 0, 0xffffffff], [0x10, 7, 0xffffffff], [0x20, 0, 0xffffffff]];
      const blob = Buffer.concat([Buffer.from([2, 0, 0, 0]), ...entries.map(([tag, perm, id]) => { const b = Buffer.alloc(8); b.writeUInt16LE(tag, 0); b.writeUInt16LE(perm, 2); b.writeUInt32LE(id, 4); return b; })]);
      // A directory of theirs anyone may write, and (for a caller that is not root) more private directories of theirs
      // than a run closes one by one: the command cannot enter those.
      const open = dir('open', 0o777);
      if (opts.asUser) for (let i = 0; i < 70; i++) mkdirSync(join(names, `private-${i}`), { mode: 0o700 });
      for (const p of [...top.filter((n) => n !== '.profile').map((n) => join(SHM, n)), ...made]) chownAll(p);
      chmodSync(away, 0o700);
      for (const p of [open, shared, join(shared, '.git'), join(shared, '.git', 'hooks'), join(SHM, '.vscode')]) chmodSync(p, 0o777);
      chmodSync(join(SHM, 'GEMINI.md'), 0o666);
      const set = spawnSync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], "system.posix_acl_access", bytes.fromhex(sys.argv[2]), follow_symlinks=False)', acl, blob.toString('hex')], { encoding: 'utf8' });
      assert.equal(set.status, 0, set.stderr);
      chmodSync(join(shared, '.git', 'config'), 0o666);
      const w = world();
      own(w, opts);
      const script = [
        `ln -s / ${SHM}/.profile`,
        `mkdir ${open}/mine && cd ${open}/mine && git init -q . && git config core.fsmonitor 'touch /nowhere' && cd /`,
        `(echo x > ${SHM}/.vscode/tasks.json; echo EVIL >> ${SHM}/GEMINI.md; echo x > ${shared}/.git/hooks/pre-commit; echo '[core] fsmonitor = x' >> ${shared}/.git/config) 2>/dev/null`,
        // Run as root, the command may rename another user's entry in a directory root owns: their link it replaces.
        `(rm -f ${SHM}/.envrc && echo EVIL > ${SHM}/.envrc) 2>/dev/null`,
        // Where root's command may write through an ACL: a repository of its own.
        `(mkdir ${acl}/r && cd ${acl}/r && git init -q . && git config core.fsmonitor 'touch /nowhere') 2>/dev/null`,
        'echo RAN',
      ].join('; ');
      const r = cordon(w, ['--allow-write', SHM, '--', '/bin/sh', '-c', script], opts);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, 'RAN\n');
      for (const n of ['.zshrc', 'CLAUDE.md', 'AGENT.md']) assert.equal(readlinkSync(join(SHM, n)), '/', `${n}: theirs, left`);
      assert.equal(readFileSync(join(SHM, '.git'), 'utf8'), 'gitdir: /nowhere\n', 'their .git file: left');
      assert.equal(readlinkSync(join(repo, '.vscode')), '/');
      // What of theirs the command could write was held read-only.
      assert.deepEqual(readdirSync(join(SHM, '.vscode')), []);
      assert.equal(readFileSync(join(SHM, 'GEMINI.md'), 'utf8'), 'theirs\n');
      assert.ok(!existsSync(join(shared, '.git', 'hooks', 'pre-commit')));
      assert.equal(readFileSync(join(shared, '.git', 'config'), 'utf8'), '[core]\n');
      // Their link the command replaced (only root can, in a directory root owns): what replaced it is moved aside.
      if (opts.asUser) assert.equal(readlinkSync(join(SHM, '.envrc')), '/');
      else {
        assert.ok(!lstatSync(join(SHM, '.envrc'), { throwIfNoEntry: false }), r.stderr);
        assert.equal(readFileSync(join(SHM, '.envrc.cordon-untrusted'), 'utf8'), 'EVIL\n');
        assert.match(r.stderr, /\/\.envrc was another user's entry at a protected name, which cordon does not hold, and it was replaced while the command ran/);
      }
      // The command's own, also in a directory of theirs: moved aside.
      assert.ok(!lstatSync(join(SHM, '.profile'), { throwIfNoEntry: false }), 'the command\'s own link was moved aside');
      assert.equal(readlinkSync(join(SHM, '.profile.cordon-untrusted')), '/');
      assert.ok(existsSync(join(open, 'mine', '.git', 'config.cordon-untrusted')), r.stderr);
      if (!opts.asUser) assert.ok(existsSync(join(acl, 'r', '.git', 'config.cordon-untrusted')), `the ACL let root's command in: its repository there is moved aside too. ${r.stderr}`);
      assert.doesNotMatch(readFileSync(join(open, 'mine', '.git', 'config'), 'utf8'), /fsmonitor/);
    } finally {
      for (const n of top) rmSync(join(SHM, n), { recursive: true, force: true });
      for (const n of ['.profile', '.envrc']) rmSync(join(SHM, `${n}.cordon-untrusted`), { force: true });
      for (const d of made) rmSync(d, { recursive: true, force: true });
    }
  });
}

for (const { who, world, opts } of runners()) {
  test(`another user's git work in their own repository in a shared directory while the run goes on (a rebase, a new info/attributes) is theirs: left, and the run ends well (${who})`, async () => {
    const u = testUser();
    if (!u) return;
    const other = opts.asUser ? { uid: 0, gid: 0 } : u;
    const repo = mkdtempSync(join(SHM, 'cordon-their-work-'));
    try {
      chmodSync(repo, 0o755);
      assert.equal(spawnSync('git', ['init', '-q', repo]).status, 0);
      spawnSync('chown', ['-hR', `${other.uid}:${other.gid}`, repo]);
      const w = world();
      own(w, opts);
      const child = cordonAsync(w, ['--allow-write', SHM, '--', '/bin/sh', '-c', `touch ${w.proj}/READY; while [ ! -e ${w.proj}/GO ]; do sleep 0.05; done`], opts);
      let stderr = '';
      child.stderr.on('data', (d) => { stderr += d; });
      const closed = once(child, 'close');
      try {
        await until(join(w.proj, 'READY'));
        for (const [p, make] of [[join(repo, '.git', 'rebase-merge'), () => mkdirSync(join(repo, '.git', 'rebase-merge'))], [join(repo, '.git', 'info', 'attributes'), () => writeFileSync(join(repo, '.git', 'info', 'attributes'), '* text\n')]] as const) {
          make();
          spawnSync('chown', ['-h', `${other.uid}:${other.gid}`, p]);
        }
      } finally {
        writeFileSync(join(w.proj, 'GO'), '');
      }
      const [code] = await closed;
      assert.equal(code, 0, stderr);
      assert.ok(existsSync(join(repo, '.git', 'rebase-merge')) && existsSync(join(repo, '.git', 'info', 'attributes')), stderr);
      assert.doesNotMatch(stderr, /cordon-their-work/);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });
}
