// Loads one of cordon's CommonJS bundles with a V8 code cache beside it
// (`<file>.cache`): compiling the 140 KB bundle, and the functions a run
// compiles lazily, costs ~10 ms of CPU per start; a cache made after a whole
// run skips most of it. The cache is as trusted as the bundle (same
// directory, same owner); it is written only where that directory is
// writable, and is used only for the exact file it was made from: its header
// names the bundle's inode, size and modification time (V8 itself checks only
// the source's length, and rejects a cache from another V8 or other flags).
'use strict';
const { closeSync, fstatSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync } = require('node:fs');
const { createRequire, wrap } = require('node:module');
const { dirname } = require('node:path');
const { Script } = require('node:vm');

const MAGIC = 'cordon-code-cache/1';

/** { exports, saveCache() }: saveCache() writes a fresh cache when there was none or V8 rejected it. */
function loadCached(file) {
  const fd = openSync(file, 'r');
  let source, stamp;
  try {
    const st = fstatSync(fd, { bigint: true });
    stamp = `${MAGIC} ${st.ino} ${st.size} ${st.mtimeNs}\n`;
    source = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let cachedData;
  try {
    const raw = readFileSync(`${file}.cache`);
    if (raw.subarray(0, stamp.length).toString('latin1') === stamp) cachedData = raw.subarray(stamp.length);
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
    saveCache() {
      if (!stale) return;
      const tmp = `${file}.cache.${process.pid}.tmp`;
      try {
        writeFileSync(tmp, Buffer.concat([Buffer.from(stamp, 'latin1'), script.createCachedData()]), { mode: 0o644 });
        renameSync(tmp, `${file}.cache`);
      } catch {
        try { unlinkSync(tmp); } catch { /* never written */ }
      }
    },
  };
}

module.exports = { loadCached };
