/**
 * A project under /tmp (where people clone) sees its parent directories as
 * the host has them, read-only: the private /tmp shows /tmp/<x> for the
 * project's /tmp/<x> and nothing else of the host's /tmp (plan.ts:
 * hostInTmp). Run through the real CLI, as root and as an unprivileged user:
 * what a monorepo needs from its parents works (a parent node_modules, the
 * root package.json, the parent repository); every way to change a parent
 * from inside fails; the project stays writable; the rest of the host /tmp
 * stays invisible.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, git, makeWorld, sh, testUser, type World } from '../../helpers/cordon.js';
import { tempDir } from '../../helpers/tmp.js';

interface TmpWorld { readonly w: World; readonly top: string; readonly mono: string; readonly app: string; readonly elsewhere: string }

/** /tmp/cordon-tmpproj-X/mono (a repository with node_modules) holding packages/app (the project) and packages/other. */
function tmpWorld(owner?: { uid: number; gid: number }): TmpWorld {
  const w = makeWorld(owner ? { owner } : {});
  const top = realpathSync(tempDir('/tmp/cordon-tmpproj-'));
  const mono = join(top, 'mono');
  const app = join(mono, 'packages', 'app');
  const files: Record<string, string> = {
    'top.txt': 'TOP',
    'mono/package.json': '{"name":"mono","private":true,"workspaces":["packages/*"]}\n',
    'mono/node_modules/dep/index.js': 'module.exports = "DEP-FROM-PARENT";\n',
    'mono/packages/other/file.txt': 'SIBLING',
    'mono/packages/app/index.js': 'console.log(require("dep"));\n',
  };
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(top, p, '..'), { recursive: true });
    writeFileSync(join(top, p), c);
  }
  writeFileSync(join(mono, '.gitignore'), 'node_modules/\n');
  git(mono, 'init', '-q');
  git(mono, 'add', '-A');
  git(mono, 'commit', '-qm', 'init');
  // Elsewhere in the host's /tmp: another program's or user's files.
  const elsewhere = realpathSync(tempDir('/tmp/cordon-elsewhere-'));
  writeFileSync(join(elsewhere, 'secret.txt'), 'ELSEWHERE');
  for (const d of [top, elsewhere]) spawnSync('chmod', ['-R', 'go+rX', d]);
  if (owner) spawnSync('chown', ['-R', `${owner.uid}:${owner.gid}`, top]);
  return { w, top, mono, app, elsewhere };
}

function runners(): { who: string; owner?: { uid: number; gid: number }; opts: { asUser?: string } }[] {
  const u = testUser();
  return [{ who: 'root', opts: {} }, ...(u ? [{ who: 'an unprivileged user', owner: u, opts: { asUser: u.name } }] : [])];
}

/** What the sandbox may show of the host's /tmp besides the project's /tmp/<x>: cordon's helper, when cordon itself lives in /tmp. */
const helperTop = ROOT.startsWith('/tmp/') ? ROOT.split('/')[2] : undefined;

for (const { who, owner, opts } of runners()) {
  test(`a project under /tmp reads its parents: node_modules, package.json, the parent repository, a sibling (${who})`, () => {
    const t = tmpWorld(owner);
    const r = sh(t.w, [
      'node index.js',
      'cat ../../package.json',
      'git rev-parse --show-toplevel',
      'git log --format=%s',
      'cat ../other/file.txt && echo',
      `cat ${t.top}/top.txt`,
    ].join(' && '), [], { ...opts, cwd: t.app });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `DEP-FROM-PARENT\n${readFileSync(join(t.mono, 'package.json'), 'utf8')}${t.mono}\ninit\nSIBLING\nTOP`);
  });

  test(`a project under /tmp cannot change its parents, by any route (${who})`, () => {
    const t = tmpWorld(owner);
    const attempts: Record<string, string> = {
      'write a parent file': 'echo X > ../../package.json',
      'append to a parent file': 'echo X >> ../../package.json',
      'truncate a parent file': 'truncate -s 0 ../../package.json',
      'create in a parent': 'echo X > ../../planted.js',
      'create in /tmp/<x>': `echo X > ${t.top}/planted.js`,
      'write in a parent node_modules': 'echo "module.exports=\\"EVIL\\"" > ../../node_modules/dep/index.js',
      'remove from a parent node_modules': 'rm -f ../../node_modules/dep/index.js',
      'write a sibling': 'echo X > ../other/file.txt',
      'plant a git hook in the parent repository': 'mkdir -p ../../.git/hooks && echo "#!/bin/sh" > ../../.git/hooks/pre-commit',
      'write through a symlink made in the project': 'ln -s ../../package.json link && echo X > link',
      'hard-link a parent file into the project': 'ln ../../package.json hard && echo X > hard',
      'rename a parent': 'mv ../../../mono ../../../mono2',
      'rename /tmp/<x>': `mv ${t.top} ${t.top}.moved`,
      'remove from /tmp/<x>': `rm -rf ${t.top}/top.txt ${t.top}/mono/node_modules`,
      'rename the project away': 'mv ../app ../app2',
      'chmod a parent file': 'chmod 666 ../../package.json',
      'touch a parent file': 'touch -d 2000-01-01 ../../package.json',
    };
    const before = {
      pkg: readFileSync(join(t.mono, 'package.json'), 'utf8'),
      dep: readFileSync(join(t.mono, 'node_modules', 'dep', 'index.js'), 'utf8'),
      hooks: readdirSync(join(t.mono, '.git', 'hooks')).sort(),
      topEntries: readdirSync(t.top).sort(),
      monoEntries: readdirSync(t.mono).sort(),
    };
    for (const [what, script] of Object.entries(attempts)) {
      const r = sh(t.w, `${script} 2>/dev/null && echo CHANGED; true`, [], { ...opts, cwd: t.app });
      assert.equal(r.status, 0, `${what}: ${r.stderr}`);
      assert.equal(r.stdout, '', `${what}: ${r.stdout}`);
    }
    assert.equal(readFileSync(join(t.mono, 'package.json'), 'utf8'), before.pkg);
    assert.equal(readFileSync(join(t.mono, 'node_modules', 'dep', 'index.js'), 'utf8'), before.dep);
    assert.deepEqual(readdirSync(join(t.mono, '.git', 'hooks')).sort(), before.hooks);
    assert.deepEqual(readdirSync(t.top).sort(), before.topEntries);
    assert.deepEqual(readdirSync(t.mono).sort(), before.monoEntries);
    assert.equal(readFileSync(join(t.mono, 'packages', 'other', 'file.txt'), 'utf8'), 'SIBLING');
    assert.equal(readFileSync(join(t.top, 'top.txt'), 'utf8'), 'TOP');
    assert.ok(existsSync(join(t.app, 'index.js')));
  });

  test(`a project under /tmp is writable, and the rest of the host's /tmp stays private and empty (${who})`, () => {
    const t = tmpWorld(owner);
    const r = sh(t.w, [
      'echo OUT > out.txt && mkdir -p build && echo B > build/b && mv build dist && rm dist/b && echo WROTE',
      `test -e ${t.elsewhere} || echo ELSEWHERE-HIDDEN`,
      `cat ${t.elsewhere}/secret.txt 2>/dev/null || echo SECRET-HIDDEN`,
      'echo S > /tmp/scratch && cat /tmp/scratch',
      'ls -A /tmp',
    ].join('; '), [], { ...opts, cwd: t.app });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 4), ['WROTE', 'ELSEWHERE-HIDDEN', 'SECRET-HIDDEN', 'S']);
    // /tmp inside: the project's /tmp/<x>, the command's own file, the project's package cache
    // (/tmp/.cache, package-cache.ts), and cordon's helper if cordon lives in /tmp.
    const shown = lines.slice(4).sort();
    assert.deepEqual(shown.filter((n) => n !== helperTop && n !== '.cache'), [basename(t.top), 'scratch'].sort());
    assert.equal(readFileSync(join(t.app, 'out.txt'), 'utf8'), 'OUT\n');
    assert.ok(existsSync(join(t.app, 'dist')) && !existsSync(join(t.app, 'build')));
    assert.ok(!existsSync('/tmp/scratch'), 'the private /tmp reached the host');
    assert.equal(readFileSync(join(t.elsewhere, 'secret.txt'), 'utf8'), 'ELSEWHERE');
  });

  test(`a read deny inside /tmp/<x> still hides, and a re-allowed host dir under /tmp is read-only (${who})`, () => {
    const t = tmpWorld(owner);
    writeFileSync(join(t.mono, '.env'), 'PARENT-SECRET');
    if (owner) spawnSync('chown', [`${owner.uid}:${owner.gid}`, join(t.mono, '.env')]);
    const r = sh(t.w, [
      'cat ../../.env; echo',
      `cat ${t.elsewhere}/secret.txt && echo`,
      `echo X > ${t.elsewhere}/secret.txt 2>/dev/null && echo CHANGED`,
      `echo X > ${t.elsewhere}/new.txt 2>/dev/null && echo CHANGED`,
      `mv ${t.elsewhere} ${t.elsewhere}.moved 2>/dev/null && echo CHANGED`,
      'true',
    ].join('; '), ['--deny-read', join(t.mono, '.env'), '--allow-read', t.elsewhere], { ...opts, cwd: t.app });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '\nELSEWHERE\n');
    assert.equal(readFileSync(join(t.elsewhere, 'secret.txt'), 'utf8'), 'ELSEWHERE');
    assert.ok(!existsSync(join(t.elsewhere, 'new.txt')));
  });
}
