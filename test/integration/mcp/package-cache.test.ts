/**
 * The package cache's walls, tried from inside (platform/linux/package-cache.ts):
 * a project's runs share its cache at /tmp/.cache; another project's run
 * cannot see it writable, cannot write it at its host path even with the
 * directory above cordon's caches granted writable, cannot rename or replace
 * cordon's directories; a link planted where cordon makes a project's cache
 * is refused, never followed; two runs of one project at once both work;
 * the user's own ~/.npm stays read-only. As root and as an unprivileged user.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, git, own, runners, sh, type RunResult, type World } from '../../helpers/cordon.js';

const show = (r: RunResult) => `exit ${r.status}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
const packages = (w: World) => join(w.home, '.cache', 'cordon', 'packages');
/** The host directory of a project's cache: the one entry named after it. */
function cacheOf(w: World, name: string): string {
  const hits = readdirSync(packages(w)).filter((e) => e.startsWith(`${name}-`));
  assert.equal(hits.length, 1, `one cache for ${name}: ${hits.join(' ')}`);
  return join(packages(w), hits[0]!);
}

/** A second project beside the world's, a git repository of its own. */
function projectB(w: World, opts: { asUser?: string }): string {
  const b = join(w.root, 'projb');
  if (!existsSync(b)) {
    mkdirSync(b);
    git(b, 'init', '-q');
    own(w, opts);
  }
  return b;
}

function cordonAsync(w: World, opts: { asUser?: string }, script: string): Promise<RunResult> {
  const env = w.env as Record<string, string>;
  const argv = [CLI, '--', '/bin/sh', '-c', script];
  const c = opts.asUser
    ? spawn('runuser', ['-u', opts.asUser, '--', 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), process.execPath, ...argv], { cwd: w.proj, env })
    : spawn(process.execPath, argv, { cwd: w.proj, env });
  let stdout = '';
  let stderr = '';
  c.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  c.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => c.on('close', (status, signal) => resolve({ status, signal, stdout, stderr })));
}

for (const run of runners()) {
  describe(`package caches, as ${run.who}`, () => {
    it('a project\'s runs share its cache at /tmp/.cache; the tools are pointed into it; another project\'s run starts with its own, empty', () => {
      const w = run.world();
      const a = sh(w, 'echo "$npm_config_cache $GOMODCACHE $PIP_CACHE_DIR" && mkdir -p /tmp/.cache/npm && echo from-a > /tmp/.cache/npm/marker', [], run.opts);
      assert.equal(a.status, 0, show(a));
      assert.equal(a.stdout.trim(), '/tmp/.cache/npm /tmp/.cache/go-mod /tmp/.cache/pip');
      const again = sh(w, 'cat /tmp/.cache/npm/marker', [], run.opts);
      assert.equal(again.stdout.trim(), 'from-a', show(again));
      assert.equal(readFileSync(join(cacheOf(w, 'proj'), 'npm', 'marker'), 'utf8'), 'from-a\n');
      // A subdirectory of the repository is the same project.
      const sub = sh(w, 'cat /tmp/.cache/npm/marker', [], { ...run.opts, cwd: join(w.proj, 'src') });
      assert.equal(sub.stdout.trim(), 'from-a', show(sub));
      const b = projectB(w, run.opts);
      const other = sh(w, 'test ! -e /tmp/.cache/npm/marker && echo empty > /tmp/.cache/mine', [], { ...run.opts, cwd: b });
      assert.equal(other.status, 0, show(other));
      assert.notEqual(cacheOf(w, 'projb'), cacheOf(w, 'proj'));
      assert.ok(!existsSync(join(cacheOf(w, 'proj'), 'mine')));
    });

    it('another project\'s run cannot write a project\'s cache at its host path, nor rename or replace cordon\'s directories, even with ~/.cache granted writable', () => {
      const w = run.world();
      assert.equal(sh(w, 'mkdir -p /tmp/.cache/npm && echo good > /tmp/.cache/npm/pkg.js', [], run.opts).status, 0);
      const victim = cacheOf(w, 'proj');
      const b = projectB(w, run.opts);
      const cache = join(w.home, '.cache');
      const attempts = {
        write: `echo evil > ${victim}/npm/pkg.js`,
        create: `echo evil > ${victim}/npm/evil.js`,
        mkdir: `mkdir ${victim}/evil`,
        remove: `rm -rf ${victim}/npm`,
        renameCache: `mv ${victim} ${packages(w)}/moved`,
        renamePackages: `mv ${packages(w)} ${cache}/cordon/moved`,
        renameRoot: `mv ${cache}/cordon ${cache}/moved && mkdir -p ${cache}/cordon/packages`,
        link: `ln -s ${w.outside} ${packages(w)}/projb-evil`,
      };
      for (const [what, script] of Object.entries(attempts)) {
        const r = sh(w, script, ['--allow-write', cache], { ...run.opts, cwd: b });
        assert.notEqual(r.status, 0, `${what} must fail\n${show(r)}`);
      }
      // The grant itself works: ~/.cache outside cordon's directory is writable.
      const ok = sh(w, `echo mine > ${cache}/other-tool`, ['--allow-write', cache], { ...run.opts, cwd: b });
      assert.equal(ok.status, 0, show(ok));
      assert.equal(readFileSync(join(victim, 'npm', 'pkg.js'), 'utf8'), 'good\n');
      assert.deepEqual(readdirSync(join(victim, 'npm')), ['pkg.js']);
      assert.ok(lstatSync(join(cache, 'cordon')).isDirectory() && !existsSync(join(cache, 'moved')));
      assert.ok(readdirSync(packages(w)).every((e) => !e.startsWith('projb-evil') && e !== 'moved'));
    });

    it('a run whose working directory is inside cordon\'s caches cannot write there', () => {
      const w = run.world();
      assert.equal(sh(w, 'true', [], run.opts).status, 0);
      const victim = cacheOf(w, 'proj');
      const r = sh(w, 'echo evil > planted', [], { ...run.opts, cwd: victim });
      assert.notEqual(r.status, 0, show(r));
      assert.ok(!existsSync(join(victim, 'planted')));
    });

    it('a link planted where cordon makes a project\'s cache is refused (exit 125), never followed', () => {
      const w = run.world();
      assert.equal(sh(w, 'true', [], run.opts).status, 0);
      const dir = cacheOf(w, 'proj');
      rmdirSync(dir);
      symlinkSync(w.outside, dir);
      own(w, run.opts);
      const before = readdirSync(w.outside);
      const r = sh(w, 'echo evil > /tmp/.cache/planted', [], run.opts);
      assert.equal(r.status, 125, show(r));
      assert.match(r.stderr, /package cache .*not a directory \(a symbolic link or a file\)/);
      assert.deepEqual(readdirSync(w.outside), before);
    });

    it('a cache directory removed between runs is made again (the run after it may have its sandbox started ahead)', () => {
      const w = run.world();
      // Two runs: the second starts its sandbox ahead from the first's launch record (cli/early.ts).
      for (let i = 0; i < 2; i++) assert.equal(sh(w, 'true', [], run.opts).status, 0);
      const dir = cacheOf(w, 'proj');
      rmdirSync(dir);
      const r = sh(w, 'echo again > /tmp/.cache/x && cat /tmp/.cache/x', [], run.opts);
      assert.equal(r.status, 0, show(r));
      assert.equal(readFileSync(join(cacheOf(w, 'proj'), 'x'), 'utf8'), 'again\n');
    });

    it('two runs of one project at the same moment both work and share the cache', async () => {
      const w = run.world();
      const rs = await Promise.all([1, 2].map((n) => cordonAsync(w, run.opts, `mkdir -p /tmp/.cache/npm && echo ${n} > /tmp/.cache/npm/run-${n} && sleep 0.3 && ls /tmp/.cache/npm`)));
      for (const r of rs) assert.equal(r.status, 0, show(r));
      assert.deepEqual(readdirSync(join(cacheOf(w, 'proj'), 'npm')).sort(), ['run-1', 'run-2']);
    });

    it('the user\'s ~/.npm stays read-only; a cache variable naming it is replaced by the project\'s cache, one naming a writable place stands', () => {
      const w = run.world();
      mkdirSync(join(w.home, '.npm'), { recursive: true });
      own(w, run.opts);
      const r = sh(w, 'echo "$npm_config_cache $NPM_CONFIG_CACHE"; touch ~/.npm/x', [], { ...run.opts, env: { NPM_CONFIG_CACHE: join(w.home, '.npm') } });
      assert.notEqual(r.status, 0, show(r));
      assert.equal(r.stdout.trim(), '/tmp/.cache/npm /tmp/.cache/npm');
      assert.ok(!existsSync(join(w.home, '.npm', 'x')));
      const mine = sh(w, 'echo "$NPM_CONFIG_CACHE"', [], { ...run.opts, env: { NPM_CONFIG_CACHE: join(w.proj, '.npm-cache') } });
      assert.equal(mine.stdout.trim(), join(w.proj, '.npm-cache'), show(mine));
    });

    it('filesystem.packageCache false: caches start empty in the private /tmp and nothing is kept', () => {
      const w = run.world();
      assert.equal(sh(w, 'mkdir -p /tmp/.cache/npm && echo kept > /tmp/.cache/npm/marker', [], run.opts).status, 0);
      const settings = join(w.root, 'off.json');
      writeFileSync(settings, JSON.stringify({ filesystem: { packageCache: false } }));
      own(w, run.opts);
      const r = sh(w, 'test ! -e /tmp/.cache/npm/marker && echo "$npm_config_cache" && mkdir -p /tmp/.cache/npm && echo gone > /tmp/.cache/npm/off', ['--settings', settings], run.opts);
      assert.equal(r.status, 0, show(r));
      assert.equal(r.stdout.trim(), '/tmp/.cache/npm');
      assert.ok(!existsSync(join(cacheOf(w, 'proj'), 'npm', 'off')));
    });
  });
}
