import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describe, printable, summary, SUMMARY_LINES } from '../../../src/events/describe.js';
import { stamp } from '../../../src/events/stream.js';
import type { Violation } from '../../../src/events/types.js';

const refusal = (path: string) => stamp('id', { type: 'fs.refused', op: 'write', path, rule: 'filesystem.denyWrite[0]: ".env"', fix: null }) as Violation;

test('every event type has a sentence', () => {
  assert.equal(describe({ type: 'command.start', argv: ['sh', '-c', 'a b'], cwd: '/p' }), 'started "sh" "-c" "a b" in "/p"');
  assert.equal(describe({ type: 'command.exit', exitCode: 130, signal: 'SIGINT' }), 'ended by SIGINT (exit status 130)');
  assert.equal(describe({ type: 'command.exit', exitCode: 125, signal: null, error: { code: 'CORDON_ERR_LAUNCH', message: 'no bwrap' } }), 'cordon failed (CORDON_ERR_LAUNCH): no bwrap');
  assert.equal(describe({ type: 'net.allowed', host: 'a.com', port: 443, proxy: 'http', via: 'connect', rule: 'network.allowedDomains[0]: "a.com"', address: '1.2.3.4' }), 'connection to a.com:443 allowed by network.allowedDomains[0]: "a.com" (dialed 1.2.3.4)');
  assert.equal(describe({ type: 'net.refused', host: 'b.com', port: 80, proxy: 'socks5', via: 'socks5', reason: 'not-allowlisted', rule: 'r', fix: 'network.allowedDomains: add "b.com"' }), 'connection to b.com:80 refused (not-allowlisted) by r; to allow it: network.allowedDomains: add "b.com"');
  assert.equal(describe({ type: 'request.refused', host: 'b.com', port: 80, proxy: 'http', method: 'POST', url: '/x', reason: 'method', rule: 'r', fix: null }), '"POST" request for "/x" to b.com:80 refused (method) by r; no setting allows it');
  assert.equal(describe({ type: 'net.done', host: 'a.com', port: 443, proxy: 'http', via: 'connect', bytesUp: 517, bytesDown: 150000 }), 'tunnel to a.com:443 closed: 517 bytes sent, 150000 received');
  assert.equal(describe({ type: 'net.done', host: 'a.com', port: 443, proxy: 'http', via: 'https', bytesUp: 0, bytesDown: 7, method: 'GET', url: '/x\u001b[2J', status: 404 }), '"GET" request for "/x\\u001b[2J" to a.com:443 answered 404: 0 bytes sent, 7 received');
  assert.match(describe({ type: 'after-run.set-aside', path: '/p/.git', action: 'moved', movedTo: '/p/.git.cordon-untrusted', why: 'a git directory' }), /moved to "\/p\/\.git\.cordon-untrusted"/);
  assert.equal(describe({ type: 'after-run.warning', message: 'x' }), 'x');
});

test('a host that is not a plain name is quoted (it cannot forge a line)', () => {
  assert.equal(describe({ type: 'net.refused', host: 'a\nb', port: 80, proxy: 'http', via: 'http', reason: 'invalid-host', rule: 'r', fix: null }), 'connection to "a\\nb":80 refused (invalid-host) by r; no setting allows it');
});

test('summary: nothing when nothing was refused; identical refusals counted; at most SUMMARY_LINES distinct ones listed', () => {
  assert.equal(summary([]), '');
  const s = summary([refusal('/a'), refusal('/a'), refusal('/b')]);
  assert.equal(s, 'cordon: 3 operations were refused:\n  write of "/a" refused by filesystem.denyWrite[0]: ".env"; no setting allows it (2 times)\n  write of "/b" refused by filesystem.denyWrite[0]: ".env"; no setting allows it\n');
  const many = summary(Array.from({ length: SUMMARY_LINES + 3 }, (_, i) => refusal(`/f${i}`)));
  const lines = many.trim().split('\n');
  assert.equal(lines.length, 1 + SUMMARY_LINES + 1);
  assert.match(lines.at(-1)!, /and 3 more distinct refusals \(--violations-json FILE lists them all\)/);
  assert.equal(summary([refusal('/x')]).split('\n')[0], 'cordon: 1 operation was refused:');
  // Refusals past the kept ones (decoys first, then the one that matters) are counted and said to be elsewhere.
  const past = summary(Array.from({ length: SUMMARY_LINES + 1 }, (_, i) => refusal(`/d${i}`)), 4).trim().split('\n');
  assert.equal(past[0], `cordon: ${SUMMARY_LINES + 5} operations were refused:`);
  assert.match(past.at(-2)!, /and 1 more distinct refusals \(--violations-json FILE lists the first 21\)/);
  assert.equal(past.at(-1), '  and 4 more after the first 21, not kept here (--audit-log FILE records every one)');
});

test('printable: control characters from the sandbox reach the terminal as escapes (C0, DEL, C1 such as CSI)', () => {
  assert.equal(printable('a\u001b[31mb\u009b2Jc\u007f\nd'), 'a\\u001b[31mb\\u009b2Jc\\u007f\\u000ad');
  assert.equal(printable('plain ünïcode'), 'plain ünïcode');
});
