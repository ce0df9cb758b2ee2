#!/usr/bin/env bash
# make bench: build, then run bench/bench.py against nginx on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export IMX_BIN="$PWD/build/server/indexmux"
exec /usr/bin/python3 bench/bench.py "$@"
