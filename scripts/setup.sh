#!/usr/bin/env bash
# Installs what is missing (Debian/Ubuntu, as root), then builds.
#   setup.sh        what cordon itself needs (the demo)
#   setup.sh test   also what the test suite drives: the clients tested through
#                   cordon's proxies, openssl for the test world's CA, ...
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-run}
need=()
command -v bwrap >/dev/null || need+=(bubblewrap)
command -v cc >/dev/null || need+=(gcc)
[ -e /usr/include/stdio.h ] || need+=(libc6-dev)
command -v git >/dev/null || need+=(git)
command -v node >/dev/null || need+=(nodejs npm)
if [ "$mode" = test ]; then
  command -v python3 >/dev/null || need+=(python3)
  command -v curl >/dev/null || need+=(curl)
  command -v ip >/dev/null || need+=(iproute2)
  command -v runuser >/dev/null || need+=(util-linux)
  command -v useradd >/dev/null || need+=(passwd)
  command -v openssl >/dev/null || need+=(openssl)
  command -v pgrep >/dev/null || need+=(procps)
  # Clients the network tests drive through cordon's proxies.
  command -v wget >/dev/null || need+=(wget)
  command -v go >/dev/null || need+=(golang-go)
  command -v javac >/dev/null || need+=(openjdk-17-jdk-headless)
  /usr/bin/python3 -c 'import pip, requests, httpx' 2>/dev/null || need+=(python3-pip python3-requests python3-httpx)
  /usr/bin/python3 -c 'import botocore' 2>/dev/null || need+=(python3-botocore)
  { command -v ssh >/dev/null && [ -x /usr/sbin/sshd ]; } || need+=(openssh-client openssh-server)
  command -v strace >/dev/null || need+=(strace)
  # libFuzzer: the relay's parsers are fuzzed for a bounded time (scripts/fuzz.mjs).
  command -v clang >/dev/null || need+=(clang)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "cordon setup: missing ${need[*]}; run as root or install them" >&2; exit 1; fi
  echo "cordon setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then echo "cordon setup: Node.js >= 20 is required (found $(node --version))" >&2; exit 1; fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
{ [ -x native/build/cordon-helper ] && [ -x native/build/cordon-relay ]; } || node scripts/build-native.mjs
npm run --silent build
