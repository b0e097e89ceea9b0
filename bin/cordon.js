#!/usr/bin/env node
// Thin launcher: everything lives in dist/src (built by `npm run build`).
import { main } from '../dist/src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
