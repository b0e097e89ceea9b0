#!/bin/sh
':' //; if [ -n "${NODE_EXTRA_CA_CERTS+x}" ]; then export CORDON_NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS"; unset NODE_EXTRA_CA_CERTS; else unset CORDON_NODE_EXTRA_CA_CERTS; fi; if [ -n "${NODE_OPTIONS+x}" ]; then export CORDON_NODE_OPTIONS="$NODE_OPTIONS"; unset NODE_OPTIONS; else unset CORDON_NODE_OPTIONS; fi; exec node "$0" "$@"
// Thin launcher, read twice: by sh (the line above; to JS it is a string and
// a comment) and then by Node (the rest).
//
// The sh line starts Node without NODE_EXTRA_CA_CERTS: with it set, Node
// parses its whole root certificate store before running any JavaScript
// (~35 ms of every start on a machine here). cordon's own process makes no
// TLS connection, so it does not need it (a later feature that does must
// load that file itself); the value travels in CORDON_NODE_EXTRA_CA_CERTS and
// is put back below, so the sandboxed command gets the caller's environment
// unchanged. `node bin/cordon.cjs` skips the sh line and works the same.
// NODE_OPTIONS travels the same way, in CORDON_NODE_OPTIONS: cordon's own
// process, which acts on the host, takes no `--require` or `--import` from it
// (npm sets it from a project's .npmrc `node-options`, which a command in an
// earlier run could have written); the command still gets it.
//
// dist/bundle/*.cjs are built by `npm run build` (esbuild): CommonJS, because
// Node's ESM loader costs ~5-10 ms of every start. The repository scans of
// the writable roots start first (early.cjs), so they run in their own
// processes while Node loads the rest of cordon (main.cjs). Both load with a
// V8 code cache (see load.cjs). The sandbox's process is started ahead too,
// from what the last run like this one launched, so that bubblewrap builds
// the sandbox while cordon compiles the policy (used only if it is exactly
// what the plan asks for; see early.ts).
'use strict';
const { join } = require('node:path');
const { loadCached } = require('./load.cjs');

for (const name of ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS']) {
  const moved = process.env[`CORDON_${name}`];
  if (moved !== undefined) {
    process.env[name] = moved;
    delete process.env[`CORDON_${name}`];
  }
}
const argv = process.argv.slice(2);
const bundle = join(__dirname, '..', 'dist', 'bundle');
const early = loadCached(join(bundle, 'early.cjs'));
const work = early.exports.startEarly(argv);
const main = loadCached(join(bundle, 'main.cjs'));
main.exports.main(argv, work).then((code) => {
  process.exitCode = code;
  // After the run, so the cache holds the functions a run compiles too.
  const full = main.exports.launched();
  early.saveCache(full);
  main.saveCache(full);
  // The run is over (its step after the run too): cordon ends now, whatever
  // a proxy connection or timer might still hold (unref'd: an exit that
  // comes by itself is not delayed).
  setTimeout(() => process.exit(code), 2000).unref();
});
