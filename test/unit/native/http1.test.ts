/**
 * native/http1.h, the response framing the relay trusts to know where an
 * answer ends: every framing rule of RFC 9112 §6.3 it implements, and the
 * inputs it must refuse rather than guess at. Driven through a tiny C
 * program (native/test/http1-check.c) compiled here with the system compiler.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../helpers/cordon.js';

let bin = '';
before(() => {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-http1-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  bin = join(dir, 'http1-check');
  const r = spawnSync(process.env.CC || 'cc', ['-O1', '-Wall', '-Wextra', '-Werror', '-std=gnu11', '-fsanitize=address,undefined', '-o', bin, join(ROOT, 'native', 'test', 'http1-check.c')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

const check = (mode: 'response' | 'chunk', input: string) => {
  const r = spawnSync(bin, [mode], { input: Buffer.from(input, 'latin1'), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
};
const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;

test('bodies: length, chunked, until the close, none', () => {
  assert.equal(check('response', head(['HTTP/1.1 200 OK', 'Content-Length: 12'])), '200 length 12 keep');
  assert.equal(check('response', head(['HTTP/1.1 200 OK', 'transfer-encoding: Chunked'])), '200 chunked keep');
  assert.equal(check('response', head(['HTTP/1.1 200 OK', 'Transfer-Encoding: gzip, chunked'])), '200 chunked keep');
  assert.equal(check('response', head(['HTTP/1.1 200 OK'])), '200 close close');
  assert.equal(check('response', head(['HTTP/1.1 200 OK', 'Transfer-Encoding: gzip'])), '200 close close', 'a coding other than chunked last runs to the close');
  // Two Transfer-Encoding fields: not framed by guesswork either; every byte goes to the client until the close.
  assert.equal(check('response', head(['HTTP/1.1 200 OK', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'])), '200 close close');
  for (const s of ['100 Continue', '103 Early Hints', '204 No Content', '304 Not Modified']) {
    assert.equal(check('response', head([`HTTP/1.1 ${s}`, 'Content-Length: 100'])), `${s.slice(0, 3)} none keep`, s);
  }
});

test('Transfer-Encoding wins over Content-Length; connection close and HTTP/1.0 are seen', () => {
  assert.equal(check('response', head(['HTTP/1.1 200 OK', 'Content-Length: 5', 'Transfer-Encoding: chunked'])), '200 chunked keep');
  assert.equal(check('response', head(['HTTP/1.1 200 OK', 'Content-Length: 5', 'Connection: keep-alive, Close'])), '200 length 5 close');
  assert.equal(check('response', head(['HTTP/1.0 200 OK', 'Content-Length: 5'])), '200 length 5 close');
  assert.equal(check('response', head(['HTTP/1.0 200 OK', 'Content-Length: 5', 'Connection: keep-alive'])), '200 length 5 keep');
});

test('what cannot be framed with certainty is malformed', () => {
  const bad: string[][] = [
    ['HTTP/1.1 200 OK', 'Content-Length: 5', 'Content-Length: 6'],
    ['HTTP/1.1 200 OK', 'Content-Length: 5', 'Content-Length: 5'],
    ['HTTP/1.1 200 OK', 'Content-Length: 5, 5'],
    ['HTTP/1.1 200 OK', 'Content-Length: -1'],
    ['HTTP/1.1 200 OK', 'Content-Length: 0x10'],
    ['HTTP/1.1 200 OK', 'Content-Length: 99999999999999999999'],
    ['HTTP/1.1 200 OK', ' Content-Length: 5'],
    ['HTTP/1.1 200 OK', 'Content-Length : 5'],
    ['HTTP/1.1 200 OK', 'X: a', ' folded'],
    ['HTTP/2 200 OK', 'Content-Length: 5'],
    ['HTTP/1.1 20 OK'],
    ['HTTP/1.1 099 Low'],
    ['ICY 200 OK'],
  ];
  for (const lines of bad) assert.equal(check('response', head(lines)), 'malformed', JSON.stringify(lines));
  assert.equal(check('response', 'HTTP/1.1 200 OK\nContent-Length: 5\n\n'), 'malformed', 'bare LF');
  assert.equal(check('response', 'HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n'), 'malformed', 'bare CR');
});

test('chunk-size lines: hex, extensions, nothing else', () => {
  assert.equal(check('chunk', '1f'), '31');
  assert.equal(check('chunk', '0'), '0');
  assert.equal(check('chunk', 'A;name="quoted value"'), '10');
  assert.equal(check('chunk', '5 ;ext'), '5');
  assert.equal(check('chunk', 'fffffffffffffff'), String(0xfffffffffffffffn));
  for (const bad of ['', ';ext', 'g', '5g', '-1', '0x5', 'ffffffffffffffff', '5\n', '5 x', '5\0']) {
    assert.equal(check('chunk', bad), 'malformed', JSON.stringify(bad));
  }
});
