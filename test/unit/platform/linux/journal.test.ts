import { test } from 'node:test';
import assert from 'node:assert/strict';
import { claimName, inheritLiveRuns, liveJournals, processStart, recordSandboxed, recoverJournals, sandboxedAreas, writableByLiveRun, type Journal } from '../../../../src/platform/linux/journal.js';
import { alive } from '../../../../src/platform/linux/placeholders.js';
import { tempDir } from '../../../helpers/tmp.js';
import type { Policy } from '../../../../src/policy/policy.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const journal = (over: Partial<Journal>): Journal => ({ version: 1, pid: 1, start: '1', writable: ['/p'], readOnly: [], watch: [], ...over });

test('writableByLiveRun: a program inside a live run\'s writable path counts, unless that run keeps it read-only', () => {
  const live = [journal({ writable: ['/p'], readOnly: ['/p/node_modules/cordon'] })];
  assert.equal(writableByLiveRun(['/usr/bin/node', '/p/node_modules/cordon/bin'], live), undefined);
  assert.deepEqual(writableByLiveRun(['/usr/bin/node', '/p/.venv/bin/tool'], live), { program: '/p/.venv/bin/tool', run: live[0], root: '/p' });
});

test('inheritLiveRuns: what a live run created counts as new here, and its watched paths in this run\'s writable paths are watched here too', () => {
  const policy = {
    watch: [{ path: '/p/.git/commondir', kind: 'git-file', repo: '/p' }],
    rescan: { roots: ['/p'], patterns: [], known: ['/p', '/p/old', '/p/made-by-a'], unreadable: 0, writable: ['/p'], keepConfig: false },
  } as unknown as Policy;
  const a = journal({
    writable: ['/p'],
    rescan: { roots: ['/p'], patterns: [], known: ['/p', '/p/old'], unreadable: 0, writable: ['/p'], keepConfig: false },
    watch: [{ path: '/p/.git/commondir', kind: 'git-file', repo: '/p' }, { path: '/h/.profile', kind: 'created', repo: '/h' }, { path: '/p/x/.git', kind: 'repository', repo: '/p/x' }],
  });
  const got = inheritLiveRuns(policy, [a]);
  assert.deepEqual(got.rescan?.known, ['/p', '/p/old'], 'made-by-a is new to this run too');
  assert.deepEqual(got.watch.map((w) => w.path), ['/p/.git/commondir', '/p/x/.git'], 'once each, and only in this run\'s writable paths');
  assert.equal(inheritLiveRuns(policy, []), policy, 'no live run: the policy as it was');
});

test('inheritLiveRuns: a git dir a live run saw with another identity (made again since it started) is new here too', () => {
  const ids = { '/p/.git': '1:1:1', '/p/old/.git': '1:2:2', '/p/same/.git': '1:3:3', '/q/r/.git': '1:4:4' };
  const policy = {
    watch: [],
    rescan: { roots: ['/p', '/q'], patterns: [], known: ['/p', '/p/old', '/p/same', '/q/r'], ids, unreadable: 0, writable: ['/p', '/q'], keepConfig: false },
  } as unknown as Policy;
  const a = journal({ writable: ['/p'], rescan: { roots: ['/p'], patterns: [], known: ['/p', '/p/old', '/p/same'], ids: { ...ids, '/p/old/.git': '1:2:1' }, unreadable: 0, writable: ['/p'], keepConfig: false } });
  assert.deepEqual(inheritLiveRuns(policy, [a]).rescan?.ids, { '/p/.git': '1:1:1', '/p/same/.git': '1:3:3', '/q/r/.git': '1:4:4' }, 'old is new here; /q is not that run\'s');
  const same = journal({ writable: ['/p'], rescan: { roots: ['/p'], patterns: [], known: ['/p', '/p/old', '/p/same'], ids: { '/p/.git': '1:1:1', '/p/old/.git': '1:2:2', '/p/same/.git': '1:3:3' }, unreadable: 0, writable: ['/p'], keepConfig: false } });
  assert.equal(inheritLiveRuns(policy, [same]), policy, 'the same identities: nothing changes');
});

test('inheritLiveRuns: links are looked for since the earliest start of a live run sharing a writable path (its own inherited start too), not one apart', () => {
  const rescan = { roots: ['/p/sub'], patterns: [], known: ['/p/sub'], unreadable: 0, writable: ['/p/sub'], keepConfig: false };
  const policy = { watch: [], rescan } as unknown as Policy;
  const above = journal({ writable: ['/p'], since: '3000' });
  const below = journal({ writable: ['/p/sub/x'], since: '2000', rescan: { ...rescan, writable: ['/p/sub/x'], linksSince: '1000' } });
  const apart = journal({ writable: ['/q', '/p2'], since: '10' });
  assert.equal(inheritLiveRuns(policy, [above]).rescan?.linksSince, '3000', 'a live run above this run\'s writable path');
  assert.equal(inheritLiveRuns(policy, [above, below, apart]).rescan?.linksSince, '1000', 'the earliest, inherited by a run below it; /q and /p2 are not this run\'s');
  assert.equal(inheritLiveRuns(policy, [apart]), policy, 'no live run shares a path: the policy as it was');
  assert.equal(inheritLiveRuns(policy, [journal({ writable: ['/p'], since: 'soon' })]).rescan?.linksSince, undefined, 'a start that is not one is left out');
});

test('processStart: this process has one; a pid that does not exist has none, nor a zombie (killed, not yet reaped), which alive() counts as gone too', async () => {
  assert.match(processStart('self') ?? '', /^\d+$/);
  assert.equal(processStart(2 ** 22 + 1), undefined);
  // The background sleep's parent becomes the exec'd `sleep 5`, which never reaps it.
  const parent = spawn('/bin/sh', ['-c', 'sleep 0.1 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const zombie = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString()))));
  assert.match(processStart(zombie) ?? '', /^\d+$/, 'running: a start time');
  for (let i = 0; i < 100 && processStart(zombie) !== undefined; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(processStart(zombie), undefined);
  process.kill(zombie, 0); // still there, as a zombie
  assert.equal(alive(zombie), false);
  parent.kill();
});

/** A state directory with a killed run's journal (its cordon's pid cannot exist), under `name`. */
function stateWithKilledRun(name: (file: string) => string, over: Partial<Journal> = {}): { dir: string; file: string } {
  const dir = realpathSync(tempDir(join(tmpdir(), 'cordon-journal-recover-')));
  const file = join(dir, 'journal-4194305-x.json');
  writeFileSync(name(file), JSON.stringify(journal({ pid: 2 ** 22 + 1, ...over })), { mode: 0o600 });
  return { dir, file };
}

test('recoverJournals waits while another process finishes a journal it claimed, then takes it over if that process died first', () => {
  const claimer = spawn('sleep', ['0.5']);
  const { dir } = stateWithKilledRun((f) => `${f}.recovering-${claimer.pid}`);
  const t = Date.now();
  const finished: Journal[] = [];
  assert.equal(recoverJournals(dir, (j) => finished.push(j)), 1);
  assert.ok(Date.now() - t >= 400, `returned after ${Date.now() - t} ms, while the claimer still ran`);
  assert.equal(finished.length, 1);
  assert.deepEqual(readdirSync(dir), [], 'the claimed journal is removed once finished');
  rmSync(dir, { recursive: true });
});

test('a claim whose pid is another process\'s now (another start time: the pid was used again), or this process\'s own, is taken over at once: it neither holds recovery up nor hides the journal', () => {
  const other = spawn('sleep', ['30']);
  for (const name of [(f: string) => `${f}.recovering-${other.pid}-1`, (f: string) => `${f}.recovering-${process.pid}`, (f: string) => claimName(f).replace(/-\d+$/, '-1')]) {
    const { dir } = stateWithKilledRun(name);
    const t = Date.now();
    let n = 0;
    assert.equal(recoverJournals(dir, () => { n++; }), 1, name('journal'));
    assert.equal(n, 1);
    assert.ok(Date.now() - t < 1000, `waited ${Date.now() - t} ms for a claim no live process holds`);
    assert.deepEqual(readdirSync(dir), []);
    rmSync(dir, { recursive: true });
  }
  other.kill();
});

test('a run whose cordon was killed is live while its sandbox is (liveJournals), and recoverJournals waits for that sandbox to be gone before it finishes the run', () => {
  const sandbox = spawn('sleep', ['0.5']);
  const start = processStart(sandbox.pid!)!;
  const { dir } = stateWithKilledRun((f) => f, { sandbox: { pid: sandbox.pid!, start } });
  assert.equal(liveJournals(dir).length, 1, 'its sandbox still runs');
  const t = Date.now();
  let n = 0;
  assert.equal(recoverJournals(dir, () => { n++; }), 1);
  assert.ok(Date.now() - t >= 400, `finished after ${Date.now() - t} ms, while its sandbox still ran`);
  assert.equal(n, 1);
  assert.equal(liveJournals(dir).length, 0);
  rmSync(dir, { recursive: true });
});

test('the writable paths of past runs: the last 256 kept, most recent last; one recorded again moves to the end unless it is recent already; two processes at once lose none', async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-sandboxed-')));
  try {
    for (let i = 0; i < 300; i++) recordSandboxed(dir, [`/r/${i}`]);
    const list = sandboxedAreas(dir, []);
    assert.equal(list.length, 256);
    assert.deepEqual([list[0], list.at(-1)], ['/r/44', '/r/299']);
    recordSandboxed(dir, ['/r/44']);
    assert.equal(sandboxedAreas(dir, []).at(-1), '/r/44', 'an old one recorded again is the most recent');
    recordSandboxed(dir, ['/r/298']);
    assert.equal(sandboxedAreas(dir, []).at(-1), '/r/44', 'a recent one is left where it is');
    // A live run's paths count too.
    assert.ok(sandboxedAreas(dir, [{ writable: ['/live'] } as never]).includes('/live'));
    const module = fileURLToPath(new URL('../../../../src/platform/linux/journal.js', import.meta.url));
    const writer = (tag: string) => spawn(process.execPath, ['--input-type=module', '-e', `const { recordSandboxed } = await import(${JSON.stringify(module)}); for (let i = 0; i < 60; i++) recordSandboxed(${JSON.stringify(dir)}, ['/${tag}/' + i]);`], { stdio: 'ignore' });
    await Promise.all(['a', 'b'].map((t) => new Promise((resolve) => writer(t).on('close', resolve))));
    const after = sandboxedAreas(dir, []);
    for (const t of ['a', 'b']) for (let i = 0; i < 60; i++) assert.ok(after.includes(`/${t}/${i}`), `/${t}/${i} kept`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
