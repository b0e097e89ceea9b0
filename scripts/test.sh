#!/usr/bin/env bash
# The whole test suite: unit, CLI matrix and kernel-level integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
node scripts/build-native.mjs
node scripts/run-tests.mjs "$@"
