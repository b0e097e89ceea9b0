/**
 * `cordon check` through the real CLI: the answer and the rule for allowed and
 * denied reads, writes, deletes and connections, exit 0 / 1, 125 on a usage
 * error; nothing runs. Each answer is compared with what the command meets
 * inside the sandbox for the same path, so check cannot drift from the walls.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cordon, makeWorld, sh } from '../../helpers/cordon.js';

test('check read/write/delete: allowed and denied, by which rule; the sandbox agrees', () => {
  const w = makeWorld();
  const cases: { args: string[]; status: number; out: RegExp; inside?: string }[] = [
    { args: ['read', 'README.md'], status: 0, out: /^allowed: read README\.md \(.*\/proj\/README\.md\): no rule hides it/, inside: 'cat README.md >/dev/null' },
    { args: ['read', '~/.ssh/id_rsa'], status: 1, out: /^denied: read ~\/\.ssh\/id_rsa \(.*\/home\/\.ssh\/id_rsa\): hidden by .*\/home\/\.ssh \(deny-read <- default: credential store\)/, inside: `cat ${join(w.home, '.ssh', 'id_rsa')}` },
    { args: ['write', 'src/new.js'], status: 0, out: /^allowed: write src\/new\.js .*: read-write by .*\/proj \(read-write <- default: working directory\)/, inside: 'echo x > src/new.js' },
    { args: ['write', '.git/hooks/x'], status: 1, out: /^denied: write \.git\/hooks\/x .*: read-only by .*\/proj\/\.git\/hooks \(read-only <- protected: git hook scripts\)/, inside: 'echo x > .git/hooks/x' },
    { args: ['write', '.git/config'], status: 1, out: /read-only by .*\/proj\/\.git\/config \(read-only <- protected: git core\.hooksPath/, inside: 'echo x >> .git/config' },
    { args: ['write', join(w.outside, 'f')], status: 1, out: /^denied: write .*: no rule makes it writable \(writable: .*\/proj\)/, inside: `echo x > ${join(w.outside, 'f')}` },
    { args: ['delete', 'src/main.js'], status: 0, out: /^allowed: delete src\/main\.js/, inside: 'rm src/main.js' },
    { args: ['delete', '.git'], status: 1, out: /^denied: delete \.git .*: it is a mount point in the sandbox/, inside: 'mv .git .git2' },
    { args: ['delete', w.proj], status: 1, out: /its directory .* is read-only/, inside: `rmdir ${w.proj}` },
  ];
  for (const c of cases) {
    const r = cordon(w, ['check', ...c.args]);
    assert.equal(r.status, c.status, `check ${c.args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, c.out);
    // Inside the sandbox the same operation succeeds exactly when check said allowed.
    if (c.inside) {
      const inside = sh(w, `${c.inside} 2>/dev/null && echo DONE; true`);
      assert.equal(inside.stdout, c.status === 0 ? 'DONE\n' : '', `inside: ${c.inside}: ${inside.stderr}`);
    }
  }
});

test('check names the project file a rule came from, and the settings flags apply', () => {
  const w = makeWorld();
  mkdirSync(join(w.proj, '.cordon'));
  const file = join(w.proj, '.cordon', 'settings.json');
  writeFileSync(file, JSON.stringify({ filesystem: { denyWrite: ['src'] } }));
  let r = cordon(w, ['check', 'write', 'src/main.js']);
  assert.equal(r.status, 1);
  assert.ok(r.stdout.includes(`read-only by ${join(w.proj, 'src')} (read-only <- ${file}: filesystem.denyWrite[0])`), r.stdout);
  r = cordon(w, ['check', '--allow-write', w.outside, 'write', join(w.outside, 'f')]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /<- --allow-write\)/);
  r = cordon(w, ['check', '--json', 'write', 'src/main.js']);
  const j = JSON.parse(r.stdout);
  assert.equal(j.allowed, false);
  assert.equal(j.operation, 'write');
  assert.deepEqual(j.rule, { path: join(w.proj, 'src'), access: 'read-only', source: `${file}: filesystem.denyWrite[0]` });
});

test('check offers allowWrite only where it would work: not for what stays read-only whichever grant reaches it', () => {
  const w = makeWorld();
  let r = cordon(w, ['check', 'write', join(w.home, 'notes.txt')]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /filesystem\.allowWrite or --allow-write makes a path writable/);
  r = cordon(w, ['check', 'write', join(w.home, '.bashrc')]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /and none would: .*\.bashrc \(shell startup file\) stays read-only at the root of any writable path/);
  r = cordon(w, ['check', 'write', join(w.home, '.local', 'bin', 'git')]);
  assert.match(r.stdout, /and none would: .*\.local\/bin \(on PATH of later shells\) stays read-only whichever grant reaches it/);
  // And the sandbox agrees: with the grant it would have offered, it is still read-only.
  r = cordon(w, ['check', '--allow-write', w.home, 'write', join(w.home, '.bashrc')]);
  assert.equal(r.status, 1, r.stdout);
});

test('check connect: a denied domain, an allowed address, no network at all', () => {
  const w = makeWorld();
  const net = ['--allow-domain', '*.example.com', '--allow-domain', '127.0.0.1:8080', '--deny-domain', 'bad.example.com'];
  let r = cordon(w, ['check', ...net, 'connect', 'bad.example.com']);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /^denied: connect bad\.example\.com \(bad\.example\.com:443\): connection to bad\.example\.com:443 refused: denied by --deny-domain\[0\] \("bad\.example\.com"\); deny rules win over network\.allowedDomains \[command line: --deny-domain\[0\]\]\n$/);
  r = cordon(w, ['check', ...net, 'connect', '127.0.0.1:8080']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^allowed: connect 127\.0\.0\.1:8080: allowed by 127\.0\.0\.1:8080 \(command line: --allow-domain\[1\]\).*dial 127\.0\.0\.1/);
  r = cordon(w, ['check', ...net, 'connect', 'other.org:80']);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /not in network\.allowedDomains/);
  r = cordon(w, ['check', 'connect', 'example.com']);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /no network \(mode none <- default: no domain is allowed\)/);
  // A project file's deny is named with its file.
  mkdirSync(join(w.proj, '.cordon'));
  writeFileSync(join(w.proj, '.cordon', 'settings.json'), JSON.stringify({ network: { deniedDomains: ['*.example.com'] } }));
  r = cordon(w, ['check', ...net, 'connect', 'api.example.com']);
  assert.equal(r.status, 1);
  assert.ok(r.stdout.includes(`[${join(w.proj, '.cordon', 'settings.json')}: network.deniedDomains[0]]`), r.stdout);
});

test('check: a malformed query is a usage error (125), and nothing is run or left behind', () => {
  const w = makeWorld();
  for (const args of [['check'], ['check', 'frob', 'x'], ['check', 'read'], ['check', 'read', 'a', 'b'], ['check', '-c', 'true']]) {
    const r = cordon(w, args);
    assert.equal(r.status, 125, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /check takes read\|write\|delete PATH or connect HOST\[:PORT\]|needs a value/);
  }
  const r = cordon(w, ['check', 'connect', '::1']);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /not HOST\[:PORT\]/);
  assert.ok(!existsSync(join(w.proj, '.envrc')), 'no placeholder made');
});
