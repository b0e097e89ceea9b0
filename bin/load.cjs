// Loads one of cordon's CommonJS bundles with a V8 code cache beside it
// (`<file>.cache`): compiling the 140 KB bundle, and the functions a run
// compiles lazily, costs ~10 ms of CPU per start; a cache made after a whole
// run skips most of it. The cache is as trusted as the bundle (same
// directory, same owner); it is written only where that directory is
// writable, and is used only for the exact file it was made from: its header
// names the bundle's inode, size and modification time (V8 itself checks only
// the source's length, and rejects a cache from another V8 or other flags).
// The header also says whether the run that made it ran a whole sandbox: a
// cache made by `--version` or a failed run is replaced after the first run
// that does, since it lacks the functions such a run compiles.
'use strict';
const { closeSync, fstatSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { dirname } = require('node:path');
const { Script } = require('node:vm');

const MAGIC = 'cordon-code-cache/1';

/**
 * { exports, cacheUsed, saveCache(full) }: saveCache writes a fresh cache when
 * there was none, V8 rejected it, or `full` (this run ran a sandbox) and the
 * cache was made by a run that did not.
 */
function loadCached(file) {
  const fd = openSync(file, 'r');
  let source, stamp;
  try {
    const st = fstatSync(fd, { bigint: true });
    stamp = `${MAGIC} ${st.ino} ${st.size} ${st.mtimeNs} `;
    source = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let cachedData;
  let cachedFull = false;
  try {
    const raw = readFileSync(`${file}.cache`);
    const kind = raw.subarray(stamp.length, stamp.length + 2).toString('latin1');
    if (raw.subarray(0, stamp.length).toString('latin1') === stamp && (kind === 'F\n' || kind === 'P\n')) {
      cachedData = raw.subarray(stamp.length + 2);
      cachedFull = kind === 'F\n';
    }
  } catch {
    /* no cache yet */
  }
  const script = new Script(wrap(source), { filename: file, cachedData });
  const module = { exports: {} };
  script.runInThisContext().call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  const stale = cachedData === undefined || script.cachedDataRejected === true;
  return {
    exports: module.exports,
    cacheUsed: !stale,
    saveCache(full = false) {
      if (!stale && (cachedFull || !full)) return;
      const tmp = `${file}.cache.${process.pid}.tmp`;
      try {
        writeFileSync(tmp, Buffer.concat([Buffer.from(`${stamp}${full ? 'F' : 'P'}\n`, 'latin1'), script.createCachedData()]), { mode: 0o644 });
        renameSync(tmp, `${file}.cache`);
      } catch {
        try { unlinkSync(tmp); } catch { /* never written */ }
      }
    },
  };
}

module.exports = { loadCached };
