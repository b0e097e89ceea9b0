// The file-heavy workload bench/violations.mjs runs inside each sandbox. It
// times itself (so the sandbox's start is not counted) and prints one JSON
// line: milliseconds per phase. Phases, in a fresh directory under the
// working directory: create N files (open O_CREAT|O_WRONLY|O_TRUNC + write),
// read them, stat them, rewrite them in place (O_WRONLY|O_TRUNC), rename
// them, delete them; then `git status` in the working directory (a
// committed repository: reads, plus git's index refresh, which writes).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const n = Number(process.argv[2] ?? 2000);
const gitRuns = Number(process.argv[3] ?? 3);
const dir = join(process.cwd(), `work-${process.pid}`);
const out = {};
const phase = (name, fn) => {
  const t = process.hrtime.bigint();
  fn();
  out[name] = Number(process.hrtime.bigint() - t) / 1e6;
};
mkdirSync(dir);
const names = Array.from({ length: n }, (_, i) => join(dir, `f${i}.txt`));
phase('create', () => { for (const f of names) writeFileSync(f, 'hello\n'); });
phase('read', () => { for (const f of names) readFileSync(f); });
phase('stat', () => { for (const f of names) statSync(f); });
phase('rewrite', () => { for (const f of names) writeFileSync(f, 'again\n'); });
phase('rename', () => { for (const f of names) renameSync(f, `${f}.r`); });
phase('delete', () => { for (const f of names) unlinkSync(`${f}.r`); });
rmdirSync(dir);
phase('git status', () => { for (let i = 0; i < gitRuns; i++) execFileSync('git', ['status', '--porcelain'], { stdio: ['ignore', 'ignore', 'inherit'] }); });
console.log(JSON.stringify(out));
