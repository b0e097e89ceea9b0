#!/usr/bin/env node
// Thin launcher. dist/bundle/*.cjs are built by `npm run build` (esbuild):
// CommonJS, because Node's ESM loader costs ~5-10 ms of every start. The
// repository scans of the writable roots start first (early.cjs), so they
// run in their own processes while Node loads the rest of cordon (main.cjs).
'use strict';
const argv = process.argv.slice(2);
const scans = require('../dist/bundle/early.cjs').startEarlyScans(argv);
require('../dist/bundle/main.cjs').main(argv, { scans }).then((code) => {
  process.exitCode = code;
});
