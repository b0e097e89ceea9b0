import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandPath, expandShallowGlob, globBase, globToRegExp, isWithin, pathResolver, resolvePath } from '../../../src/policy/paths.js';
import { tempDir } from '../../helpers/tmp.js';


const ctx = { cwd: '/work/proj', home: '/home/u' };

test('expandPath: ~, relative, absolute, trailing slash', () => {
  assert.equal(expandPath('~', ctx), '/home/u');
  assert.equal(expandPath('~/.ssh/', ctx), '/home/u/.ssh');
  assert.equal(expandPath('.', ctx), '/work/proj');
  assert.equal(expandPath('../x', ctx), '/work/x');
  assert.equal(expandPath('/a//b/../c', ctx), '/a/c');
  assert.throws(() => expandPath('~root/x', ctx), /~user paths/);
  assert.throws(() => expandPath('', ctx), /empty path/);
});

test('globToRegExp: ** spans components, * does not, dotfiles match', () => {
  const re = globToRegExp('/p/**/.env');
  assert.ok(re.test('/p/.env'));
  assert.ok(re.test('/p/a/b/.env'));
  assert.ok(!re.test('/p/a/.env.bak'));
  const star = globToRegExp('/h/.aws/*');
  assert.ok(star.test('/h/.aws/credentials'));
  assert.ok(star.test('/h/.aws/.hidden'));
  assert.ok(!star.test('/h/.aws/a/b'));
  assert.ok(globToRegExp('/x/[ab].txt').test('/x/a.txt'));
  assert.ok(!globToRegExp('/x/[!ab].txt').test('/x/a.txt'));
  assert.equal(globBase('/p/src/**/*.pem'), '/p/src');
});

test('resolvePath follows symlinks, including in the missing remainder', () => {
  const d = realpathSync(tempDir(join(tmpdir(), 'cordon-paths-')));
  mkdirSync(join(d, 'real'));
  symlinkSync(join(d, 'real'), join(d, 'link'));
  writeFileSync(join(d, 'real', 'f'), '');
  assert.deepEqual(resolvePath(join(d, 'link', 'f')), { path: join(d, 'real', 'f'), kind: 'file' });
  assert.deepEqual(resolvePath(join(d, 'link', 'new', 'x')), { path: join(d, 'real', 'new', 'x'), kind: 'missing' });
  symlinkSync(join(d, 'loop'), join(d, 'loop'));
  assert.throws(() => resolvePath(join(d, 'loop')), /symlink loop/);
  assert.deepEqual(expandShallowGlob(join(d, 'real', '*')), [join(d, 'real', 'f')]);
});

test('expandShallowGlob: a matching name that is not valid UTF-8 is never returned; its directory is named instead', () => {
  const d = realpathSync(tempDir(join(tmpdir(), 'cordon-paths-')));
  mkdirSync(join(d, 'keys'));
  writeFileSync(join(d, 'keys', 'a.pem'), '');
  writeFileSync(Buffer.concat([Buffer.from(join(d, 'keys') + '/'), Buffer.from([0xff]), Buffer.from('.pem')]), '');
  writeFileSync(Buffer.concat([Buffer.from(join(d, 'keys') + '/'), Buffer.from([0xfe]), Buffer.from('.txt')]), '');
  const unnamable: string[] = [];
  assert.deepEqual(expandShallowGlob(join(d, 'keys', '*.pem'), unnamable), [join(d, 'keys', 'a.pem')]);
  assert.deepEqual(unnamable, [join(d, 'keys')]);
  const none: string[] = [];
  expandShallowGlob(join(d, 'keys', '*.key'), none);
  assert.deepEqual(none, [], 'a name the glob does not match is no concern');
});

test('expandShallowGlob: a wildcard that matches a file, then more path, matches nothing there (no ENOTDIR)', () => {
  const d = realpathSync(tempDir(join(tmpdir(), 'cordon-paths-')));
  writeFileSync(join(d, 'key.pem'), '');
  mkdirSync(join(d, 'sub'));
  writeFileSync(join(d, 'sub', 'secret'), '');
  assert.deepEqual(expandShallowGlob(join(d, '*', 'secret')), [join(d, 'sub', 'secret')]);
  assert.deepEqual(expandShallowGlob(join(d, '*', 'nothing')), []);
  // A loop matched on the way is the user's to fix, as resolvePath says.
  symlinkSync(join(d, 'loop'), join(d, 'loop'));
  assert.throws(() => expandShallowGlob(join(d, 'l*', 'x')), /symlink loop/);
});

test('pathResolver agrees with resolvePath on every kind of path, and remembers nothing wrong', () => {
  const d = realpathSync(tempDir(join(tmpdir(), 'cordon-paths-')));
  mkdirSync(join(d, 'real'));
  symlinkSync(join(d, 'real'), join(d, 'link'));
  symlinkSync(join(d, 'nowhere'), join(d, 'dangling'));
  symlinkSync(join(d, 'loop'), join(d, 'loop'));
  writeFileSync(join(d, 'real', 'f'), '');
  const cases = [
    join(d, 'real'), join(d, 'real', 'f'), join(d, 'real', 'f', 'under-a-file'), join(d, 'real', 'missing'),
    join(d, 'link'), join(d, 'link', 'f'), join(d, 'link', 'new', 'x'), join(d, 'dangling'), join(d, 'dangling', 'x'),
    join(d, 'missing', 'deeper', 'still'), `${d}/real/../link/f`, '/',
  ];
  const resolve = pathResolver();
  // Twice: the second pass answers from memory and must say the same.
  for (let pass = 0; pass < 2; pass++) {
    for (const c of cases) assert.deepEqual(resolve(c), resolvePath(c.includes('..') ? join(c) : c), `${c} (pass ${pass})`);
    assert.throws(() => resolve(join(d, 'loop')), /symlink loop/);
  }
  assert.deepEqual(resolve(join(d, 'link', 'f')), { path: join(d, 'real', 'f'), kind: 'file' });
  assert.deepEqual(resolve(join(d, 'dangling', 'x')), { path: join(d, 'dangling', 'x'), kind: 'missing' });
});

test('pathResolver.walked: directories a scan walked are taken as directories of their own, only below a root that resolves to itself, never over what it knew', () => {
  const d = realpathSync(tempDir(join(tmpdir(), 'cordon-paths-walked-')));
  mkdirSync(join(d, 'root', 'a'), { recursive: true });
  symlinkSync(join(d, 'root'), join(d, 'linked-root'));
  const resolve = pathResolver();
  // Taken without a look: the scan saw root/a/b/c (gone since, in this test).
  resolve.walked(join(d, 'root'), join(d, 'root', 'a', 'b', 'c'));
  assert.deepEqual(resolve(join(d, 'root', 'a', 'b', 'c')), { path: join(d, 'root', 'a', 'b', 'c'), kind: 'dir' });
  assert.deepEqual(resolve(join(d, 'root', 'a', 'b')), { path: join(d, 'root', 'a', 'b'), kind: 'dir' });
  assert.deepEqual(resolve(join(d, 'root', 'a', 'b', 'c', 'x')), { path: join(d, 'root', 'a', 'b', 'c', 'x'), kind: 'missing' });
  // A root that is a link (or not normal), a path outside the root, the root itself: nothing taken.
  const fresh = pathResolver();
  fresh.walked(join(d, 'linked-root'), join(d, 'linked-root', 'x'));
  fresh.walked(join(d, 'root'), join(d, 'elsewhere', 'y'));
  fresh.walked(`${d}/root/`, `${d}/root/z`);
  fresh.walked(join(d, 'root'), `${d}/root/a/../q`);
  for (const p of [join(d, 'linked-root', 'x'), join(d, 'elsewhere', 'y'), join(d, 'root', 'z'), join(d, 'root', 'q')]) assert.equal(fresh(p).kind, 'missing', p);
  // What it knew stays.
  const knew = pathResolver();
  assert.equal(knew(join(d, 'root', 'a', 'k')).kind, 'missing');
  knew.walked(join(d, 'root'), join(d, 'root', 'a', 'k'));
  assert.equal(knew(join(d, 'root', 'a', 'k')).kind, 'missing');
});

test('isWithin respects component boundaries', () => {
  assert.ok(isWithin('/a/b', '/a'));
  assert.ok(isWithin('/a', '/a'));
  assert.ok(!isWithin('/ab', '/a'));
  assert.ok(isWithin('/x', '/'));
});
