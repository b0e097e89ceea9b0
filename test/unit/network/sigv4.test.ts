/**
 * sigv4.ts: AWS's published example signs to AWS's published signature;
 * verify() finds how a client spelled its canonical request (AWS's rule, or
 * botocore's query as sent) and nothing else; Authorization values that are
 * not well-formed SigV4 are not read as one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalForms, parseAuthorization, sign, signsAsIs, signsChunks, unsignable, verify, type SigV4Authorization } from '../../../src/network/sigv4.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
// AWS's example (IAM ListUsers, 2015-08-30): its documented signature.
const EXAMPLE = { method: 'GET', target: '/?Action=ListUsers&Version=2010-05-08', rawHeaders: ['Content-Type', 'application/x-www-form-urlencoded; charset=utf-8', 'Host', 'iam.amazonaws.com', 'X-Amz-Date', '20150830T123600Z'], payloadHash: EMPTY };
const AUTH: SigV4Authorization = { accessKeyId: 'AKIDEXAMPLE', date: '20150830', region: 'us-east-1', service: 'iam', signedHeaders: ['content-type', 'host', 'x-amz-date'], signature: '0'.repeat(64) };

test("AWS's example request signs to AWS's signature, and that signature verifies as AWS's spelling", () => {
  const a = sign(EXAMPLE, AUTH, 'AKIDEXAMPLE', SECRET, { path: 'normalized', query: 'encoded' });
  assert.equal(a, 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7');
  const parsed = parseAuthorization(a)!;
  assert.deepEqual(verify(EXAMPLE, parsed, SECRET), { path: 'normalized', query: 'encoded' });
  assert.equal(verify(EXAMPLE, parsed, `${SECRET}x`), undefined, 'another secret');
  assert.equal(verify({ ...EXAMPLE, target: '/?Action=ListUsers&Version=2010-05-09' }, parsed, SECRET), undefined, 'another request');
  assert.equal(verify({ ...EXAMPLE, rawHeaders: [...EXAMPLE.rawHeaders.slice(0, 4), 'X-Amz-Date', '20150830T123601Z'] }, parsed, SECRET), undefined, 'another time');
});

test('verify finds the spelling the client signed: a query as sent (botocore) or encoded again; a path as sent (S3) or normalised', () => {
  const raw = { method: 'GET', target: "/a/./b//c/../d%20e/?q=a+b&star=*!'()", rawHeaders: ['Host', 'x.example', 'X-Amz-Date', '20150830T123600Z'], payloadHash: EMPTY };
  const auth = { ...AUTH, service: 'execute-api', signedHeaders: ['host', 'x-amz-date'] };
  for (const form of canonicalForms('execute-api')) {
    const signed = parseAuthorization(sign(raw, auth, 'AKIDEXAMPLE', SECRET, form))!;
    const found = verify(raw, signed, SECRET)!;
    // Spellings that give the same canonical request are one: the first that matches is signed again the same way.
    assert.equal(sign(raw, auth, 'AKIDEXAMPLE', SECRET, found), sign(raw, auth, 'AKIDEXAMPLE', SECRET, form));
  }
  assert.deepEqual(canonicalForms('s3')[0], { path: 'as-sent', query: 'encoded' });
  assert.deepEqual(canonicalForms('sts')[0], { path: 'normalized', query: 'encoded' });
});

test('parseAuthorization reads only well-formed AWS4-HMAC-SHA256 values', () => {
  const good = 'AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=' + 'a'.repeat(64);
  assert.deepEqual(parseAuthorization(good), { accessKeyId: 'AKID', date: '20250101', region: 'us-east-1', service: 's3', signedHeaders: ['host', 'x-amz-date'], signature: 'a'.repeat(64) });
  for (const bad of [
    good.replace('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256'),
    good.replace('aws4_request', 'aws5_request'),
    good.replace('/20250101/', '/2025-01-01/'),
    good.replace('Signature=' + 'a'.repeat(64), 'Signature=' + 'A'.repeat(64)),
    good.replace('SignedHeaders=host;x-amz-date', 'SignedHeaders=host;X-Amz-Date'),
    `${good}, Signature=${'b'.repeat(64)}`,
    good.replace('Credential=AKID/', 'Credential=/'),
    'Bearer x',
  ]) assert.equal(parseAuthorization(bad), undefined, bad);
});

test('payload hashes: a hash and the unsigned forms are signed as they are; chunk-signed streams are not', () => {
  for (const h of [EMPTY, 'UNSIGNED-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER']) assert.ok(signsAsIs(h) && !signsChunks(h), h);
  for (const h of ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD']) assert.ok(!signsAsIs(h) && signsChunks(h), h);
  assert.ok(!signsAsIs(EMPTY.toUpperCase()) && !signsAsIs('x'));
});

test('unsignable: host must be signed, every signed header present, one X-Amz-Date on the scope\'s day', () => {
  assert.equal(unsignable(AUTH, EXAMPLE), undefined);
  assert.match(unsignable({ ...AUTH, signedHeaders: ['x-amz-date'] }, EXAMPLE)!, /leave out host/);
  assert.match(unsignable({ ...AUTH, signedHeaders: [...AUTH.signedHeaders, 'x-amz-security-token'] }, EXAMPLE)!, /x-amz-security-token is not in the request/);
  assert.match(unsignable({ ...AUTH, date: '20150831' }, EXAMPLE)!, /not the date of its credential scope/);
  assert.match(unsignable(AUTH, { rawHeaders: [...EXAMPLE.rawHeaders, 'X-Amz-Date', '20150830T123600Z'] })!, /no single X-Amz-Date/);
});
