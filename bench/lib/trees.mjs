// Benchmark working trees: built once under $CORDON_BENCH_WORK/trees/ (default
// /var/tmp/cordon-bench, outside cordon's package), reused while
// their marker file matches the spec and generator version.
//
// Why the shape matters: a sandbox that protects nested git repositories has to
// find them, and that walk's cost grows with the tree. So the large trees look
// like a real checkout (source dirs, a deep node_modules, docs) and hold
// repositories at several depths, including a submodule whose `.git` is a file
// pointing into the parent's `.git/modules/`.
//
// Trees are built in `<name>.partial/` and renamed into place only when
// complete, so an interrupted build is never mistaken for a finished one.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRng } from './rng.mjs';

// Bump when the generated shape changes: old trees are then rebuilt.
export const GENERATOR_VERSION = 1;

export const TREE_SPECS = {
  small: { name: 'small', kind: 'small', files: 6, seed: 1 },
  '20k': { name: '20k', kind: 'workspace', files: 20_000, seed: 20 },
  '200k': { name: '200k', kind: 'workspace', files: 200_000, seed: 200 },
  // The 20k workspace with 50 nested repositories in all (an agent's monorepo of clones).
  '20k-50repos': { name: '20k-50repos', kind: 'workspace', files: 20_000, seed: 20, repos: 50 },
};

// Nested repositories of a workspace tree, by depth of their working
// directory below the root (the root repository itself is depth 0).
const NESTED_REPOS = [
  { dir: 'packages/alpha', kind: 'repo', share: 0.08 },                       // depth 2
  { dir: 'vendor/github.com/acme/beta', kind: 'repo', share: 0.04 },          // depth 4
  { dir: 'services/api/internal/plugins/ext/gamma', kind: 'repo', share: 0.03 }, // depth 6
  { dir: 'libs/sub', kind: 'submodule', module: 'sub', share: 0.035 },        // depth 2, .git is a file
];

const DIR_WORDS = ['components', 'utils', 'core', 'api', 'models', 'services', 'hooks', 'views', 'store', 'lib',
  'helpers', 'internal', 'common', 'config', 'types', 'handlers', 'routes', 'middleware', 'adapters', 'features',
  'widgets', 'layout', 'forms', 'auth', 'db', 'cache', 'events', 'parsers', 'render', 'io'];
const FILE_WORDS = ['index', 'main', 'util', 'helper', 'client', 'server', 'parse', 'format', 'validate', 'render',
  'button', 'modal', 'table', 'list', 'item', 'user', 'session', 'token', 'request', 'response', 'logger', 'queue',
  'worker', 'schema', 'reducer', 'selector', 'context', 'provider', 'router', 'store', 'merge', 'diff', 'stream'];
const PKG_WORDS = ['lodash', 'chalk', 'debug', 'ms', 'semver', 'glob', 'minimatch', 'yargs', 'commander', 'acorn',
  'esbuild', 'rollup', 'react', 'scheduler', 'tslib', 'uuid', 'mime', 'qs', 'express', 'body', 'parser', 'cookie',
  'send', 'etag', 'fresh', 'depd', 'statuses', 'inherits', 'once', 'wrappy', 'picomatch', 'braces', 'fill', 'range',
  'micromatch', 'readdirp', 'chokidar', 'postcss', 'nanoid', 'source', 'map', 'js', 'tokens', 'babel', 'types', 'core'];
const SCOPES = ['@babel', '@types', '@esbuild', '@rollup', '@jest', '@eslint', '@smithy', '@aws-sdk'];

// ~64 KiB of code-looking text; file contents are slices of it.
const FILLER = Buffer.from(Array.from({ length: 1400 }, (_, i) =>
  `export function f${i}(a, b) { return a * ${i % 97} + b; } // line ${i}\n`).join(''));

function fileSize(rng) {
  if (rng.chance(0.01)) return rng.int(2_000, 20_000); // the odd bundle or fixture
  const r = rng.next();
  return 40 + Math.floor(420 * r * r); // most files are a few hundred bytes
}

/** A plan collects files (relative path + size) with unique names per directory. */
function createPlan() {
  const files = [];
  const names = new Map(); // dir -> Set of names
  let bytes = 0;
  const add = (dir, name, size) => {
    let set = names.get(dir);
    if (!set) names.set(dir, (set = new Set()));
    let unique = name;
    for (let i = 2; set.has(unique); i++) {
      const dot = name.indexOf('.', 1);
      unique = dot > 0 ? `${name.slice(0, dot)}${i}${name.slice(dot)}` : `${name}${i}`;
    }
    set.add(unique);
    files.push({ rel: dir ? `${dir}/${unique}` : unique, size });
    bytes += size;
  };
  return { files, add, get bytes() { return bytes; } };
}

/** Source-like project: a random directory tree up to maxDepth, ~12 files a directory. */
function genProject(plan, prefix, count, rng, { maxDepth = 5, exts = ['.ts', '.ts', '.tsx', '.js', '.json', '.md'] } = {}) {
  if (count <= 0) return;
  const dirs = [{ path: prefix, depth: 0 }];
  const nDirs = Math.max(0, Math.round(count / 12) - 1);
  for (let i = 0; i < nDirs; i++) {
    let parent = rng.pick(dirs);
    if (parent.depth >= maxDepth) parent = dirs[0];
    dirs.push({ path: `${parent.path}/${rng.pick(DIR_WORDS)}${rng.chance(0.3) ? rng.int(1, 9) : ''}`, depth: parent.depth + 1 });
  }
  for (let i = 0; i < count; i++) {
    const d = i < dirs.length ? dirs[i] : rng.pick(dirs); // every directory gets a file
    plan.add(d.path, `${rng.pick(FILE_WORDS)}${rng.pick(exts)}`, fileSize(rng));
  }
}

/** node_modules-like tree: many packages, a few big ones, some nested node_modules. */
function genNodeModules(plan, prefix, count, rng, nest = 0) {
  let left = count;
  if (nest === 0 && left > 20) {
    plan.add(prefix, '.package-lock.json', 4_000);
    for (let i = 0; i < 8; i++) plan.add(`${prefix}/.bin`, rng.pick(PKG_WORDS), 300);
    left -= 9;
  }
  while (left > 0) {
    const scoped = rng.chance(0.2);
    const name = `${rng.pick(PKG_WORDS)}${rng.chance(0.5) ? `-${rng.pick(PKG_WORDS)}` : ''}`;
    const pkg = scoped ? `${prefix}/${rng.pick(SCOPES)}/${name}` : `${prefix}/${name}`;
    let size = rng.chance(0.02) ? rng.int(300, 1500) : rng.chance(0.1) ? rng.int(50, 300) : rng.int(3, 25);
    size = Math.min(size, left);
    left -= size;
    plan.add(pkg, 'package.json', rng.int(400, 1500));
    size -= 1;
    if (size >= 2) { plan.add(pkg, 'README.md', rng.int(500, 4000)); plan.add(pkg, 'LICENSE', 1070); size -= 2; }
    if (nest < 3 && size >= 20 && rng.chance(0.15)) {
      const nested = Math.floor(size * 0.4);
      genNodeModules(plan, `${pkg}/node_modules`, nested, rng, nest + 1);
      size -= nested;
    }
    const dist = Math.floor(size / 2);
    genProject(plan, `${pkg}/dist`, dist, rng, { maxDepth: 3, exts: ['.js', '.js', '.d.ts', '.js.map', '.mjs', '.cjs'] });
    genProject(plan, `${pkg}/lib`, size - dist, rng, { maxDepth: 3, exts: ['.js', '.js', '.d.ts', '.json'] });
  }
}

function planSmall(spec) {
  const plan = createPlan();
  plan.add('', 'README.md', 400);
  plan.add('', 'package.json', 300);
  plan.add('', '.gitignore', 30);
  plan.add('src', 'index.js', 250);
  plan.add('src', 'util.js', 180);
  plan.add('test', 'index.test.js', 220);
  if (plan.files.length !== spec.files) throw new Error(`small tree plan has ${plan.files.length} files, spec says ${spec.files}`);
  return { plan, repos: [] };
}

function planWorkspace(spec) {
  const n = spec.files;
  const rng = createRng(spec.seed);
  const plan = createPlan();
  // Root project files.
  for (const [name, size] of [['package.json', 1800], ['package-lock.json', 150_000], ['README.md', 6000],
    ['tsconfig.json', 700], ['.gitignore', 120], ['.editorconfig', 200], ['LICENSE', 11_000]]) plan.add('', name, size);
  plan.add('', '.gitmodules', 90);
  plan.add('.vscode', 'settings.json', 300);
  plan.add('.idea', 'workspace.xml', 2500);
  const fixed = plan.files.length;
  const share = (f) => Math.round(n * f);
  for (const r of NESTED_REPOS) {
    const k = share(r.share);
    const nm = Math.round(k * 0.3);
    genProject(plan, `${r.dir}/src`, k - nm - 2, rng, { maxDepth: 4 });
    genNodeModules(plan, `${r.dir}/node_modules`, nm, rng, 1);
    plan.add(r.dir, 'package.json', 900);
    plan.add(r.dir, 'README.md', 1500);
  }
  genNodeModules(plan, 'node_modules', share(0.58), rng);
  genProject(plan, 'test', share(0.05), rng, { maxDepth: 4, exts: ['.test.ts', '.test.ts', '.spec.ts', '.snap'] });
  genProject(plan, 'docs', share(0.02), rng, { maxDepth: 3, exts: ['.md', '.md', '.png', '.svg'] });
  genProject(plan, 'scripts', share(0.005), rng, { maxDepth: 1, exts: ['.mjs', '.sh'] });
  // src takes the remainder, so the tree has exactly spec.files files.
  genProject(plan, 'src', n - plan.files.length, rng, { maxDepth: 6 });
  if (plan.files.length !== n) throw new Error(`workspace plan has ${plan.files.length} files, spec says ${n} (fixed ${fixed})`);
  return { plan, repos: [...NESTED_REPOS, ...extraRepos(plan, spec, rng)] };
}

/** spec.repos in all: the rest are plain repositories in source directories at depths 2 to 7, none inside another. */
function extraRepos(plan, spec, rng) {
  const want = (spec.repos ?? NESTED_REPOS.length) - NESTED_REPOS.length;
  if (want <= 0) return [];
  const taken = NESTED_REPOS.map((r) => r.dir);
  const dirs = [...new Set(plan.files.map((f) => f.rel.slice(0, f.rel.lastIndexOf('/'))))]
    .filter((d) => (d.startsWith('src/') || d.startsWith('test/')) && d.split('/').length >= 2 && d.split('/').length <= 7).sort();
  const out = [];
  for (let tries = 0; out.length < want && tries < want * 50; tries++) {
    const d = rng.pick(dirs);
    if (taken.some((t) => d === t || d.startsWith(`${t}/`) || t.startsWith(`${d}/`))) continue;
    taken.push(d);
    out.push({ dir: d, kind: 'repo' });
  }
  if (out.length < want) throw new Error(`found room for ${out.length} of ${want} extra repositories`);
  return out;
}

function git(args, cwd) {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`git ${args.join(' ')} failed in ${cwd}: ${r.error?.message ?? r.stderr.trim()}`);
  }
}

function writeTree(dir, plan, repos) {
  const made = new Set();
  for (const f of plan.files) {
    const slash = f.rel.lastIndexOf('/');
    const sub = slash < 0 ? '' : f.rel.slice(0, slash);
    if (!made.has(sub)) { mkdirSync(join(dir, sub), { recursive: true }); made.add(sub); }
    const data = f.size <= FILLER.length
      ? FILLER.subarray((f.size * 7919) % (FILLER.length - f.size + 1)).subarray(0, f.size)
      : Buffer.concat(Array(Math.ceil(f.size / FILLER.length)).fill(FILLER)).subarray(0, f.size);
    writeFileSync(join(dir, f.rel), data);
  }
  git(['init', '-q'], dir);
  for (const r of repos) {
    const wt = join(dir, r.dir);
    if (r.kind === 'repo') {
      git(['init', '-q'], wt);
    } else {
      // Submodule layout: libs/sub/.git is a file, the gitdir is .git/modules/sub.
      // Both links are written relative, as git does, so the tree can be moved.
      const gitdir = join(dir, '.git', 'modules', r.module);
      mkdirSync(join(dir, '.git', 'modules'), { recursive: true });
      git(['init', '-q', `--separate-git-dir=${gitdir}`], wt);
      const depth = r.dir.split('/').length;
      writeFileSync(join(wt, '.git'), `gitdir: ${'../'.repeat(depth)}.git/modules/${r.module}\n`);
      git(['config', '-f', join(gitdir, 'config'), 'core.worktree', `${'../'.repeat(3)}${r.dir}`], dir);
    }
  }
  const sub = repos.find((r) => r.kind === 'submodule');
  if (sub) writeFileSync(join(dir, '.gitmodules'), `[submodule "${sub.module}"]\n\tpath = ${sub.dir}\n\turl = ../${sub.module}.git\n`);
}

/**
 * Returns the tree for a spec, building it unless a matching one exists.
 * { name, path, files, bytes, repos, buildMs, reused }
 */
export function ensureTree(workDir, spec, { rebuild = false, log = () => {} } = {}) {
  const treesDir = join(workDir, 'trees');
  const path = join(treesDir, spec.name);
  const markerPath = join(treesDir, `${spec.name}.ready.json`);
  if (!rebuild && existsSync(markerPath) && existsSync(path)) {
    try {
      const m = JSON.parse(readFileSync(markerPath, 'utf8'));
      if (m.version === GENERATOR_VERSION && m.files === spec.files && m.seed === spec.seed) {
        return { ...m, name: spec.name, path, reused: true };
      }
    } catch { /* unreadable marker: rebuild */ }
  }
  log(`building tree ${spec.name} (${spec.files} files) in ${path} ...`);
  const t0 = process.hrtime.bigint();
  const partial = `${path}.partial`;
  rmSync(markerPath, { force: true });
  rmSync(partial, { recursive: true, force: true });
  rmSync(path, { recursive: true, force: true });
  const { plan, repos } = spec.kind === 'small' ? planSmall(spec) : planWorkspace(spec);
  mkdirSync(partial, { recursive: true });
  writeTree(partial, plan, repos);
  renameSync(partial, path);
  const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const marker = {
    version: GENERATOR_VERSION, files: spec.files, seed: spec.seed, bytes: plan.bytes,
    repos: ['.', ...repos.map((r) => r.dir)], buildMs: Math.round(buildMs), builtAt: new Date().toISOString(),
  };
  writeFileSync(markerPath, JSON.stringify(marker, null, 2) + '\n');
  log(`built tree ${spec.name}: ${spec.files} files, ${(plan.bytes / 1e6).toFixed(1)} MB, ${(buildMs / 1000).toFixed(1)} s`);
  return { ...marker, name: spec.name, path, reused: false };
}
