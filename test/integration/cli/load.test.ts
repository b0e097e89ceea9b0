/**
 * bin/load.cjs: the launcher's V8 code cache. It must speed up, never
 * change, what runs: a cache is used only for the exact file it was made
 * from, a rejected or foreign one is ignored and replaced, and a directory
 * the caller cannot write gets no cache and no stray file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, testUser } from '../../helpers/cordon.js';
import { spawnSync } from 'node:child_process';

const LOAD = join(ROOT, 'bin', 'load.cjs');

/**
 * Loads `file` in a fresh Node process (V8's in-process compilation cache
 * would hide whether the code cache was used), saves the cache if asked;
 * `as`: another user.
 */
function load(file: string, opts: { save?: boolean; full?: boolean; as?: string } = {}): { answer: string; cacheUsed: boolean } {
  const script = `const m = require(${JSON.stringify(LOAD)}).loadCached(${JSON.stringify(file)}); ${opts.save ? `m.saveCache(${opts.full === true});` : ''} console.log(JSON.stringify({ answer: m.exports.answer(), cacheUsed: m.cacheUsed }));`;
  const argv = [process.execPath, '-e', script];
  const r = opts.as ? spawnSync('runuser', ['-u', opts.as, '--', ...argv], { encoding: 'utf8' }) : spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as { answer: string; cacheUsed: boolean };
}

function bundleDir(): string {
  const d = mkdtempSync('/var/tmp/cordon-load-');
  chmodSync(d, 0o755);
  process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  return d;
}
// Enough code that V8 writes a real cache; `tag` is the only difference between versions.
const source = (tag: string) => `'use strict';\n${Array.from({ length: 50 }, (_, i) => `function f${i}(x) { return x * ${i} + ${i}; }`).join('\n')}\nexports.answer = () => '${tag}' + f7(1);\n`;

test('a cache is written after the first load and used by the next; what runs is the same', () => {
  const file = join(bundleDir(), 'main.cjs');
  writeFileSync(file, source('one'));
  assert.deepEqual(load(file, { save: true }), { answer: 'one14', cacheUsed: false });
  const cache = readFileSync(`${file}.cache`);
  assert.match(cache.subarray(0, cache.indexOf(10) + 1).toString('latin1'), /^cordon-code-cache\/1 \d+ \d+ \d+ P\n$/);
  assert.deepEqual(load(file), { answer: 'one14', cacheUsed: true });
});

test('a cache made by a run that ran no sandbox is replaced by one that did, and not the other way round', () => {
  const file = join(bundleDir(), 'main.cjs');
  writeFileSync(file, source('one'));
  const kind = () => { const c = readFileSync(`${file}.cache`); return c.subarray(c.indexOf(10) - 1, c.indexOf(10)).toString(); };
  load(file, { save: true });
  assert.equal(kind(), 'P');
  assert.deepEqual(load(file, { save: true, full: true }), { answer: 'one14', cacheUsed: true });
  assert.equal(kind(), 'F');
  const before = readFileSync(`${file}.cache`);
  load(file, { save: true });
  assert.ok(readFileSync(`${file}.cache`).equals(before), 'a partial run keeps the full cache');
});

test('a rebuilt bundle of the same length never runs on the old cache', () => {
  const file = join(bundleDir(), 'main.cjs');
  writeFileSync(file, source('one'));
  load(file, { save: true });
  writeFileSync(file, source('two')); // same length: V8 alone would accept the old cache
  assert.equal(statSync(file).size, Buffer.byteLength(source('one')));
  assert.deepEqual(load(file, { save: true }), { answer: 'two14', cacheUsed: false });
  assert.deepEqual(load(file), { answer: 'two14', cacheUsed: true });
});

test('a corrupt cache is rejected by V8, the bundle still runs, and the cache is replaced', () => {
  const file = join(bundleDir(), 'main.cjs');
  writeFileSync(file, source('one'));
  load(file, { save: true });
  const raw = readFileSync(`${file}.cache`);
  const headerEnd = raw.indexOf(10) + 1;
  writeFileSync(`${file}.cache`, Buffer.concat([raw.subarray(0, headerEnd), Buffer.alloc(raw.length - headerEnd, 0x5a)]));
  assert.deepEqual(load(file, { save: true }), { answer: 'one14', cacheUsed: false });
  assert.deepEqual(load(file), { answer: 'one14', cacheUsed: true });
});

test('where the bundle directory is not writable, no cache and no stray file', { skip: testUser() ? false : 'needs root to run as another user' }, () => {
  const dir = bundleDir();
  const file = join(dir, 'main.cjs');
  writeFileSync(file, source('one'));
  assert.deepEqual(load(file, { save: true, as: testUser()!.name }), { answer: 'one14', cacheUsed: false });
  assert.deepEqual(readdirSync(dir), ['main.cjs']);
});
