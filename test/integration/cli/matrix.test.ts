/**
 * Black-box CLI matrix: the cordon command as a user and a script see it.
 * Each row: argv → exit status and what must (not) appear.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { fnv1a } from '../../../src/platform/linux/scan.js';
import { ROOT_NAME_LIST } from '../../../src/policy/protected.js';
import { CONFIG_NEEDLES } from '../../../src/policy/git-config.js';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { chownSync, cordon, makeWorld, testUser } from '../../helpers/cordon.js';

interface Row { argv: string[]; status: number; stdout?: RegExp; stderr?: RegExp; notStdout?: RegExp; cwd?: string; env?: NodeJS.ProcessEnv }

test('CLI matrix', () => {
  const w = makeWorld();
  const bad = join(w.outside, 'bad.json');
  writeFileSync(bad, '{"filesystem":{"denyRead":["~/.ssh"],"alowWrite":["."]}}');
  const srt = join(w.outside, 'srt.json');
  writeFileSync(srt, JSON.stringify({ network: { allowedDomains: [], deniedDomains: [] }, filesystem: { denyRead: ['~/.ssh'], allowWrite: ['.'], denyWrite: [] } }));
  const proxyPort = join(w.outside, 'proxy-port.json');
  writeFileSync(proxyPort, JSON.stringify({ network: { allowedDomains: ['example.com'], deniedDomains: [], httpProxyPort: 8080 }, filesystem: { denyRead: [], allowWrite: ['.'], denyWrite: [] } }));
  const bwrapSame = join(w.outside, 'bwrap-same.json');
  writeFileSync(bwrapSame, JSON.stringify({ bwrapPath: '/usr/bin/bwrap', seccomp: { applyPath: '/nonexistent/apply-seccomp' }, mandatoryDenySearchDepth: 5 }));
  const bwrapOther = join(w.outside, 'bwrap-other.json');
  writeFileSync(bwrapOther, JSON.stringify({ bwrapPath: '/opt/nonexistent/bwrap' }));
  // A program named like a subcommand, on PATH: `cordon -- explain` runs it.
  const bin = join(w.outside, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'explain'), '#!/bin/sh\necho "program explain $*"\n', { mode: 0o755 });
  writeFileSync(join(bin, 'check'), '#!/bin/sh\necho "program check $*"\n', { mode: 0o755 });
  const withBin = { PATH: `${bin}:${w.env.PATH}` };
  const rows: Row[] = [
    { argv: ['--help'], status: 0, stdout: /usage: cordon \[options\] COMMAND \[ARGS\.\.\.\]/ },
    { argv: ['help'], status: 0, stdout: /usage: cordon \[options\] COMMAND/ },
    { argv: ['--version'], status: 0, stdout: /^cordon \d+\.\d+\.\d+\n$/ },
    { argv: [], status: 125, stderr: /^cordon: no command given; see cordon --help\n$/ },
    // As with srt, the first word that is not an option starts the command; what follows is the command's.
    { argv: ['echo', 'srt-style', '--debug', '-c', 'x'], status: 0, stdout: /^srt-style --debug -c x\n$/ },
    { argv: ['--read-only', 'src', 'sh', '-c', 'echo x > src/new 2>/dev/null || echo ro'], status: 0, stdout: /^ro\n$/ },
    { argv: ['--', 'explain', 'a'], env: withBin, status: 0, stdout: /^program explain a\n$/ },
    { argv: ['--debug', 'explain', 'b'], env: withBin, status: 0, stdout: /^program explain b\n$/ },
    { argv: ['explain', 'echo', 'hi'], env: withBin, status: 0, stdout: /bwrap argv:\n[^]*echo hi/, notStdout: /program explain/ },
    { argv: ['--', 'check', 'read', 'x'], env: withBin, status: 0, stdout: /^program check read x\n$/ },
    { argv: ['check', 'read', 'README.md'], env: withBin, status: 0, stdout: /^allowed: read README\.md /, notStdout: /program check/ },
    { argv: ['check', 'write', '/etc/passwd'], status: 1, stdout: /^denied: write \/etc\/passwd: no rule makes it writable/ },
    { argv: ['trust', '--frob'], status: 125, stderr: /unknown option --frob; usage: cordon trust/ },
    { argv: ['doctor', 'ls'], status: 125, stderr: /doctor runs no command \(to run a program named doctor: cordon -- doctor ls\)/ },
    { argv: ['--frobnicate', '--', 'true'], status: 125, stderr: /unknown option --frobnicate/ },
    { argv: ['--settings', bad, '--', 'true'], status: 125, stderr: /filesystem\.alowWrite: expected one of the known keys .*did you mean "allowWrite"/ },
    { argv: ['--settings', srt, '--', 'echo', 'srt-ok'], status: 0, stdout: /^srt-ok\n$/ },
    { argv: ['--settings', srt, 'echo', 'srt-ok'], status: 0, stdout: /^srt-ok\n$/ },
    // srt keys cordon does not implement: refused with the key named, never ignored; accepted when they ask for nothing more.
    { argv: ['--settings', proxyPort, 'echo', 'ran'], status: 125, stderr: /^cordon: \S+proxy-port\.json: network\.httpProxyPort = 8080 is not implemented in cordon: srt hands HTTP traffic to your proxy at this port.*Remove it\n$/, notStdout: /ran/ },
    { argv: ['--settings', bwrapSame, 'echo', 'same-bwrap'], status: 0, stdout: /^same-bwrap\n$/ },
    { argv: ['--settings', bwrapOther, 'echo', 'ran'], status: 125, stderr: /bwrapPath = "\/opt\/nonexistent\/bwrap" is not implemented in cordon: .*CORDON_BWRAP=\/opt\/nonexistent\/bwrap/, notStdout: /ran/ },
    { argv: ['--', 'echo', 'a b', '$HOME', '*'], status: 0, stdout: /^a b \$HOME \*\n$/ },
    { argv: ['-c', 'echo "$((6*7))"'], status: 0, stdout: /^42\n$/ },
    { argv: ['--debug', '--', 'true'], status: 0, stderr: /cordon\[debug\] compiled: \d+ mounts[^]*timings \(ms\): node start-up [\d.]+, compile [\d.]+, placeholders [\d.]+, sandbox setup [\d.]+, command [\d.]+, cleanup [\d.]+, after-run check [\d.]+; total/ },
    { argv: ['--no-delete', 'src', '--', 'true'], status: 125, stderr: /read-write-no-delete inside .* which is read-write/ },
    { argv: ['explain', '--', 'true'], status: 0, stdout: /bwrap argv:\n .*--unshare-all .*--ro-bind \/ \/ /s },
    { argv: ['explain'], status: 0, stdout: /\.ssh  deny-read  <- default: credential store/ },
    { argv: ['explain', '--deny-read', 'secret'], status: 0, stdout: /secret \(missing\)  deny-read  <- --deny-read/ },
    { argv: ['doctor'], status: 0, stdout: /ok\s+bubblewrap: .*\nok\s+user namespaces/ },
    // Run inside a credential store: it stays hidden, and cordon says so.
    { cwd: join(w.home, '.ssh'), argv: ['--', '/bin/ls', '-A'], status: 0, stdout: /^$/, stderr: /^cordon: warning: the working directory \S+\/home\/\.ssh is hidden by \S+\/home\/\.ssh \(default: credential store\): .*--allow-read /m },
    // Run in /: the working directory would make every file writable.
    { cwd: '/', argv: ['--', 'true'], status: 125, stderr: /^cordon: \/ would be writable \(default: working directory\): .*--read-only \/ .*\n$/ },
    { cwd: '/', argv: ['--read-only', '/', '--', '/bin/sh', '-c', 'touch /tmp/t && echo tmp-ok; touch /cordon-matrix 2>/dev/null || echo root-ro'], status: 0, stdout: /^tmp-ok\nroot-ro\n$/ },
  ];
  for (const row of rows) {
    const r = cordon(w, row.argv, { ...(row.cwd ? { cwd: row.cwd } : {}), ...(row.env ? { env: row.env } : {}) });
    const label = `cordon ${row.argv.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    assert.equal(r.status, row.status, label);
    if (row.stdout) assert.match(r.stdout, row.stdout, label);
    if (row.stderr) assert.match(r.stderr, row.stderr, label);
    if (row.notStdout) assert.doesNotMatch(r.stdout, row.notStdout, label);
  }
  // Neither run in / scanned the machine: the project's runs left their scan cache (the scan before a run also
  // reports the names protected at repository roots), nothing left one for /.
  // The scan before a run also reads each git dir's config (its key names the needles it looks for).
  const cache = (roots: string[]) => join(w.home, '.local', 'state', 'cordon', 'cache', `scan-${fnv1a(JSON.stringify([roots, [], ROOT_NAME_LIST, CONFIG_NEEDLES]))}.cache`);
  assert.ok(existsSync(cache([w.proj])), 'the project scan has its cache (the name is computed right)');
  assert.ok(!existsSync(cache(['/'])), 'no scan of /');
});

test('explain --json is the plan that runs, and runs nothing', () => {
  const w = makeWorld();
  const r = cordon(w, ['explain', '--json', '--read-only', 'src', '--', 'touch', 'ran']);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.version, 2);
  assert.ok(j.plan.mounts.some((m: { kind: string; path: string }) => m.kind === 'bind-ro' && m.path === `${w.proj}/src`));
  assert.deepEqual(j.plan.helperArgs.slice(-2), ['touch', 'ran']);
  assert.ok(j.plan.seccomp.table.length > 5);
});

// Root, and an unprivileged user where the suite runs as root (as CI does).
function callers(): { label: string; owner?: { uid: number; gid: number }; asUser?: string }[] {
  const u = testUser();
  return [{ label: 'root' }, ...(u ? [{ label: u.name, owner: { uid: u.uid, gid: u.gid }, asUser: u.name }] : [])];
}

test('srt settings mean what they meant: a file with filesystem.allowWrite names the whole writable set', () => {
  for (const who of callers()) {
    const w = makeWorld(who.owner ? { owner: who.owner } : {});
    mkdirSync(join(w.proj, 'out'));
    if (who.owner) chownSync(join(w.proj, 'out'), who.owner.uid, who.owner.gid);
    const file = (name: string, fsKeys: object) => {
      const f = join(w.outside, `${name}.json`);
      writeFileSync(f, JSON.stringify({ network: { allowedDomains: [], deniedDomains: [] }, filesystem: { denyRead: [], denyWrite: [], ...fsKeys } }));
      return f;
    };
    const none = file('none', { allowWrite: [] });
    const dot = file('dot', { allowWrite: ['.'] });
    const out = file('out', { allowWrite: ['./out'] });
    const cordonOnly = join(w.outside, 'cordon-only.json');
    writeFileSync(cordonOnly, JSON.stringify({ filesystem: { denyRead: ['~/notes.txt'] } }));
    // Each attempt is judged on the host afterwards, not by what the command printed.
    const attempt = (tag: string) => `echo ${tag} > cwd-${tag}.txt 2>/dev/null; echo ${tag} > out/out-${tag}.txt 2>/dev/null; echo ${tag} > /tmp/t && cat /tmp/t`;
    const cases: { tag: string; args: string[]; cwd: boolean; out: boolean }[] = [
      { tag: 'empty', args: ['--settings', none], cwd: false, out: false },
      { tag: 'dot', args: ['--settings', dot], cwd: true, out: true },
      { tag: 'out', args: ['--settings', out], cwd: false, out: true },
      // A file without the key (cordon's own format) keeps the default: the working directory.
      { tag: 'nokey', args: ['--settings', cordonOnly], cwd: true, out: true },
      // The union of the files that have the key; --allow-write on the command line still adds.
      { tag: 'union', args: ['--settings', none, '--settings', out], cwd: false, out: true },
      { tag: 'cli', args: ['--settings', none, '--allow-write', '.'], cwd: true, out: true },
    ];
    for (const c of cases) {
      const r = cordon(w, [...c.args, '/bin/sh', '-c', attempt(c.tag)], who.asUser ? { asUser: who.asUser } : {});
      const label = `${who.label} ${c.tag}: ${r.stderr}`;
      assert.equal(r.status, 0, label);
      assert.equal(r.stdout, `${c.tag}\n`, `${label}: the private /tmp is writable in every case`);
      assert.equal(existsSync(join(w.proj, `cwd-${c.tag}.txt`)), c.cwd, `${label}: working directory writable`);
      assert.equal(existsSync(join(w.proj, 'out', `out-${c.tag}.txt`)), c.out, `${label}: ./out writable`);
    }
    // explain says where the writable set came from.
    const explained = cordon(w, ['explain', '--settings', out], who.asUser ? { asUser: who.asUser } : {});
    assert.match(explained.stdout, /out\.json: filesystem\.allowWrite\[0\]/, explained.stderr);
    assert.doesNotMatch(explained.stdout, /default: working directory/);
  }
});

test("srt's ~/.srt-settings.json is the user settings file when cordon has none, unless --ignore-user-settings", () => {
  for (const who of callers()) {
    const w = makeWorld(who.owner ? { owner: who.owner } : {});
    const as = who.asUser ? { asUser: who.asUser } : {};
    const srtFile = join(w.home, '.srt-settings.json');
    writeFileSync(srtFile, JSON.stringify({ network: { allowedDomains: [], deniedDomains: [] }, filesystem: { denyRead: ['~/notes.txt'], allowWrite: ['./out'], denyWrite: [] } }));
    mkdirSync(join(w.proj, 'out'));
    if (who.owner) spawnSync('chown', ['-R', `${who.owner.uid}:${who.owner.gid}`, join(w.proj, 'out'), srtFile]);
    const probe = ['/bin/sh', '-c', `cat ${w.home}/notes.txt 2>/dev/null; echo; echo x > cwd.txt 2>/dev/null && echo cwd-writable; true`];
    const read = cordon(w, probe, as);
    assert.equal(read.status, 0, `${who.label}: ${read.stderr}`);
    assert.equal(read.stdout, '\n', `${who.label}: its denyRead hides the file, and its allowWrite leaves the working directory read-only`);
    assert.match(cordon(w, ['explain'], as).stdout, /notes\.txt  deny-read  <- \S+\/home\/\.srt-settings\.json: filesystem\.denyRead\[0\]/);
    const ignored = cordon(w, ['--ignore-user-settings', ...probe], as);
    assert.equal(ignored.stdout, 'notes\ncwd-writable\n', `${who.label}: --ignore-user-settings: ${ignored.stderr}`);
    // A file srt would refuse is refused here too, never skipped.
    writeFileSync(srtFile, '{"network":{"allowedDomains":[],"deniedDomains":[],"httpProxyPort":8080},"filesystem":{"denyRead":[],"allowWrite":[],"denyWrite":[]}}');
    const refused = cordon(w, probe, as);
    assert.equal(refused.status, 125);
    assert.match(refused.stderr, /\.srt-settings\.json: network\.httpProxyPort = 8080 is not implemented in cordon/);
    writeFileSync(srtFile, '');
    assert.match(cordon(w, probe, as).stderr, /\.srt-settings\.json: the file is empty; a settings file is a JSON object/);
    // A writable glob srt on Linux skips (it grants nothing there) is refused, not granted; a trailing /** loads.
    writeFileSync(srtFile, '{"network":{"allowedDomains":[],"deniedDomains":[]},"filesystem":{"denyRead":[],"allowWrite":["./*"],"denyWrite":[]}}');
    rmSync(join(w.proj, 'cwd.txt'), { force: true });
    const glob = cordon(w, probe, as);
    assert.equal(glob.status, 125);
    assert.match(glob.stderr, /\.srt-settings\.json: filesystem\.allowWrite\[0\] is the glob "\.\/\*", which srt on Linux skips/);
    assert.ok(!existsSync(join(w.proj, 'cwd.txt')));
    writeFileSync(srtFile, '{"network":{"allowedDomains":[],"deniedDomains":[]},"filesystem":{"denyRead":[],"allowWrite":["./out/**"],"denyWrite":[]}}');
    assert.equal(cordon(w, probe, as).status, 0);
    // A key of cordon's that widens, which srt drops; a grant through a link to a directory above it, which srt skips.
    writeFileSync(srtFile, '{"network":{"allowedDomains":[],"deniedDomains":[]},"filesystem":{"denyRead":[],"allowWrite":[],"allowWriteNoDelete":["."],"denyWrite":[]}}');
    assert.match(cordon(w, probe, as).stderr, /\.srt-settings\.json: filesystem\.allowWriteNoDelete is a key of cordon's, which srt ignores/);
    symlinkSync('..', join(w.proj, 'out', 'up'));
    writeFileSync(srtFile, '{"network":{"allowedDomains":[],"deniedDomains":[]},"filesystem":{"denyRead":[],"allowWrite":["./out/up"],"denyWrite":[]}}');
    const up = cordon(w, probe, as);
    assert.equal(up.status, 125);
    assert.match(up.stderr, /allowWrite\[0\] \(\.\/out\/up\) goes through \S+\/out\/up, a link to \S+ above it, which srt skips/);
    // cordon's own user file, when there is one, is the user file: srt's is not read.
    mkdirSync(join(w.home, '.config', 'cordon'), { recursive: true });
    writeFileSync(join(w.home, '.config', 'cordon', 'settings.json'), '{"filesystem":{"denyRead":[]}}');
    if (who.owner) spawnSync('chown', ['-R', `${who.owner.uid}:${who.owner.gid}`, join(w.home, '.config')]);
    const own = cordon(w, probe, as);
    assert.equal(own.stdout, 'notes\ncwd-writable\n', `${who.label}: ${own.stderr}`);
  }
});
