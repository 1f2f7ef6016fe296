#!/usr/bin/env bash
# `pnpm bench`: every package's benchmark, one at a time (they measure; they must not compete for the
# two cores), against the project-local test PostgreSQL and Redis; then the quick start's wall time.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$ROOT"
ensure_system_packages
ensure_node_modules
source scripts/test-services.sh
npx turbo run bench --concurrency=1 --output-logs=full "$@"
# The quick start's wall time, cold (a fresh clone: install, build, initdb, seed) and warm (run again).
# QUICKSTART_BENCH=0 skips it.
if [ "${QUICKSTART_BENCH:-1}" != 0 ]; then
  say "quick start wall time (a fresh clone of this repository, its own ports)"
  node scripts/bench-quickstart.mjs
fi
