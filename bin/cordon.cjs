#!/usr/bin/env node
// Thin launcher. dist/bundle/*.cjs are built by `npm run build` (esbuild):
// CommonJS, because Node's ESM loader costs ~5-10 ms of every start. The
// repository scan of the working directory starts first (early.cjs), so it
// runs in its own process while Node loads the rest of cordon (main.cjs).
'use strict';
const argv = process.argv.slice(2);
const scan = require('../dist/bundle/early.cjs').startEarlyScan(argv);
require('../dist/bundle/main.cjs').main(argv, { scan }).then((code) => {
  process.exitCode = code;
});
