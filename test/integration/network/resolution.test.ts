/**
 * Allowed names are resolved as absolute names (src/network/resolve.ts
 * resolveAll): with a resolv.conf search domain and `ndots:5` (Kubernetes'
 * default), glibc would look up `NAME.<search domain>` first and cordon would
 * dial it if it existed. Real cordon, real curl, the test world's recording
 * DNS responder: what it was asked is the verdict.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../../helpers/cordon.js';
import { createWorld, worldSkipReason, type World } from '../../world/world.js';

const skip = worldSkipReason();
const SEARCH = 'corp.test.cordon';

describe('name resolution', { skip }, () => {
  let w: World;
  let dir: string;
  before(async () => {
    w = await createWorld({ search: SEARCH });
    dir = realpathSync(mkdtempSync('/var/tmp/cordon-resolve-'));
    for (const d of ['proj', 'home']) mkdirSync(join(dir, d));
  });
  after(async () => {
    await w?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an allowed name is looked up as it is, never with the search domain; a hosts-file name still resolves', { timeout: 60_000 }, async () => {
    const api = w.host('api');
    w.clearRecords();
    const r = await w.run([process.execPath, CLI, '--allow-domain', 'nx.example', '--allow-domain', api.fqdn, '--', '/bin/sh', '-c',
      `curl -sS -m 10 -o /dev/null -w '%{http_code}\\n' http://nx.example/; curl -sS -m 10 -o /dev/null -w '%{http_code}\\n' http://${api.fqdn}/`], {
      cwd: join(dir, 'proj'), env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: join(dir, 'home'), LANG: 'C.UTF-8' }, timeoutMs: 45_000,
    });
    assert.equal(r.stdout, '403\n200\n', r.stderr); // nx.example does not resolve: refused (resolve-failed)
    await w.settle();
    const asked = w.records(w.resolver).filter((x) => x.event === 'query').map((x) => x.qname ?? '');
    assert.ok(asked.some((q) => q.replace(/\.$/, '') === 'nx.example'), `the name was looked up: ${JSON.stringify(asked)}`);
    assert.deepEqual(asked.filter((q) => q.replace(/\.$/, '').endsWith(SEARCH)), [], 'no lookup with the search domain');
  });
});
