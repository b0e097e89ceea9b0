/**
 * A shared directory made writable (sticky and writable by every user, as
 * srt's settings make /tmp): no placeholder appears in it, a protected name
 * that exists stays read-only, one the command creates is moved aside after
 * the run, and another user's entry made there during the run is left alone.
 * Through the real CLI, as root and as an unprivileged user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { cordonAsync, own, runners, testUser } from '../../helpers/cordon.js';
import { tempDir } from '../../helpers/tmp.js';

const until = async (p: string) => {
  for (let i = 0; i < 600 && !existsSync(p); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(p), `${p} never appeared`);
};

for (const { who, world, opts } of runners()) {
  test(`a shared directory: no placeholders; what the command created there is moved aside, another user's entry is not (${who})`, async () => {
    const w = world();
    const shared = realpathSync(tempDir('/var/tmp/cordon-shared-'));
    chmodSync(shared, 0o1777);
    mkdirSync(join(shared, '.vscode'));
    writeFileSync(join(shared, '.vscode', 'settings.json'), '{}');
    own(w, opts);
    const u = testUser();
    const me = opts.asUser && u ? u : { uid: 0, gid: 0 };
    const other = opts.asUser || !u ? { uid: 0, gid: 0 } : u;
    chownSync(join(shared, '.vscode'), me.uid, me.gid);
    chownSync(join(shared, '.vscode', 'settings.json'), me.uid, me.gid);
    const script = [
      `cd ${shared}`,
      // Existing: read-only.
      '(echo X > .vscode/settings.json) 2>/dev/null && echo WROTE-VSCODE',
      // Missing: nothing holds the name during the run; the command makes them.
      'mkdir .claude && echo HOOK > .claude/settings.json && echo PLANTED > CLAUDE.md && echo OK > ordinary.txt',
      'touch READY',
      'while [ ! -e GO ]; do sleep 0.05; done',
    ].join('; ');
    const child = cordonAsync(w, ['--allow-write', shared, '--', '/bin/sh', '-c', script], opts);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const closed = once(child, 'close');
    let midRun: string[];
    try {
      await until(join(shared, 'READY'));
      midRun = readdirSync(shared).sort();
      // Another user makes a protected name there while the run goes on: theirs, not the command's.
      mkdirSync(join(shared, '.cursor'));
      writeFileSync(join(shared, '.cursor', 'rules'), 'THEIRS');
      chownSync(join(shared, '.cursor'), other.uid, other.gid);
    } finally {
      writeFileSync(join(shared, 'GO'), '');
    }
    const [code] = await closed;
    // Mid-run, the directory held only what its users made: no empty directory named after a protected name.
    assert.deepEqual(midRun, ['.claude', '.vscode', 'CLAUDE.md', 'READY', 'ordinary.txt']);
    assert.equal(code, 0, stderr);
    assert.equal(stdout, '', 'the existing name stayed read-only');
    assert.equal(readFileSync(join(shared, '.vscode', 'settings.json'), 'utf8'), '{}');
    assert.equal(readFileSync(join(shared, '.claude.cordon-untrusted', 'settings.json'), 'utf8'), 'HOOK\n');
    assert.equal(readFileSync(join(shared, 'CLAUDE.md.cordon-untrusted'), 'utf8'), 'PLANTED\n');
    assert.ok(!existsSync(join(shared, '.claude')) && !existsSync(join(shared, 'CLAUDE.md')));
    assert.equal(readFileSync(join(shared, '.cursor', 'rules'), 'utf8'), 'THEIRS', "another user's entry is where they put it");
    assert.equal(lstatSync(join(shared, '.cursor')).uid, other.uid);
    assert.equal(readFileSync(join(shared, 'ordinary.txt'), 'utf8'), 'OK\n');
    assert.match(stderr, new RegExp(`created ${shared}/\\.claude .*moved to ${shared}/\\.claude\\.cordon-untrusted`));
    assert.match(stderr, /created .*\/CLAUDE\.md /);
    assert.doesNotMatch(stderr, /\.cursor/);
  });
}
