#!/usr/bin/env node
// Thin launcher for dist/bundle/main.cjs, the whole CLI in one CommonJS file
// built by `npm run build` (esbuild). One CommonJS file starts faster than
// ES modules: Node's ESM loader costs ~5-10 ms of every sandboxed command's
// start-up before any of cordon runs.
'use strict';
require('../dist/bundle/main.cjs').main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
