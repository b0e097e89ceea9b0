/**
 * `cordon-helper scan --match-no-links NAME`: basename matches (M records)
 * like `--match`, without the L records (a stat of every symbolic link,
 * thousands in a pnpm node_modules). cordon's scan after a run uses it for
 * the protected names (Rescan.names). A cache file written by one kind of
 * scan is never replayed for the other: it would add or drop the L records.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildHelper, killAll, runHelper, scanRecords } from '../../helpers/native.js';

buildHelper();
const T = { timeout: 30_000 };
/** Longer than the scanner's 2 s racy window: older directories are replayed from the cache. */
const AGE_MS = 2_300;

const temps: string[] = [];
after(() => {
  killAll();
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function tree(): { root: string; cacheDir: string } {
  const base = mkdtempSync(join(tmpdir(), 'cordon-nolinks-'));
  temps.push(base);
  const root = join(base, 'root');
  for (const d of ['.git', 'sub/.git', 'sub/.vscode', 'node_modules/pkg']) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, 'sub', '.envrc'), 'x');
  writeFileSync(join(root, 'node_modules', 'pkg', 'CLAUDE.md'), 'x');
  symlinkSync('sub', join(root, 'to-sub')); // a link to a directory
  symlinkSync('pkg', join(root, 'node_modules', 'link'));
  symlinkSync('sub/.envrc', join(root, '.envrc')); // a matching name that is a link
  const cacheDir = join(base, 'state');
  mkdirSync(cacheDir, { mode: 0o700 });
  return { root, cacheDir };
}

const names = ['.envrc', '.vscode', 'CLAUDE.md'];
const args = (flag: string, root: string, cache?: string) => ['scan', ...(cache ? ['--cache', cache] : []), ...names.flatMap((n) => [flag, n]), '--', root];

describe('scan --match-no-links', () => {
  it('reports the same matches as --match, and no link records', T, async () => {
    const { root } = tree();
    const plain = await runHelper(args('--match-no-links', root));
    assert.equal(plain.code, 0, plain.stderr);
    assert.deepEqual(scanRecords(plain.stdout), [
      `G\t${root}`,
      `G\t${root}/sub`,
      `M\t${root}/.envrc`,
      `M\t${root}/node_modules/pkg/CLAUDE.md`,
      `M\t${root}/sub/.envrc`,
      `M\t${root}/sub/.vscode`,
    ]);
    const withLinks = await runHelper(args('--match', root));
    assert.deepEqual(scanRecords(withLinks.stdout).filter((r) => !r.startsWith('L')), scanRecords(plain.stdout));
    assert.deepEqual(scanRecords(withLinks.stdout).filter((r) => r.startsWith('L')), [`L\t${root}/node_modules/link`, `L\t${root}/to-sub`], 'control: --match reports them');
  });

  it('a cache written by --match is not replayed for --match-no-links, nor the other way round', T, async () => {
    const { root, cacheDir } = tree();
    const uncached = async (flag: string) => scanRecords((await runHelper(args(flag, root))).stdout);
    const want = { '--match': await uncached('--match'), '--match-no-links': await uncached('--match-no-links') };
    await sleep(AGE_MS); // else every directory is racy and read again, whatever the cache says
    for (const [first, second] of [['--match', '--match-no-links'], ['--match-no-links', '--match']] as const) {
      const cache = join(cacheDir, `${first}.cache`);
      const made = await runHelper(args(first, root, cache));
      assert.deepEqual(scanRecords(made.stdout), want[first]);
      assert.deepEqual(scanRecords((await runHelper(args(first, root, cache))).stdout), want[first], 'replayed: the same records');
      const other = await runHelper(args(second, root, cache));
      assert.equal(other.code, 0, other.stderr);
      assert.deepEqual(scanRecords(other.stdout), want[second], `${second} with ${first}'s cache file`);
    }
  });
});
