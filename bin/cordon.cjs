#!/usr/bin/env node
// Thin launcher. dist/bundle/*.cjs are built by `npm run build` (esbuild):
// CommonJS, because Node's ESM loader costs ~5-10 ms of every start. The
// repository scans of the writable roots start first (early.cjs), so they
// run in their own processes while Node loads the rest of cordon (main.cjs).
// Both load with a V8 code cache (see load.cjs).
'use strict';
const { join } = require('node:path');
const { loadCached } = require('./load.cjs');

const argv = process.argv.slice(2);
const bundle = join(__dirname, '..', 'dist', 'bundle');
const early = loadCached(join(bundle, 'early.cjs'));
const scans = early.exports.startEarlyScans(argv);
const main = loadCached(join(bundle, 'main.cjs'));
main.exports.main(argv, { scans }).then((code) => {
  process.exitCode = code;
  // After the run, so the cache holds the functions a run compiles too.
  const full = main.exports.launched();
  early.saveCache(full);
  main.saveCache(full);
});
