#!/usr/bin/env bash
# `pnpm bench`: every package's benchmark, one at a time (they measure; they must not compete for the
# two cores), against the project-local test PostgreSQL and Redis; then the quick start's wall time.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$ROOT"
ensure_system_packages
ensure_node_modules
source scripts/test-services.sh
# Besides each package's main benchmark, the scale curves (issue 16): catalog size, 1,000 links, a
# million-row result, GATEWAY_PROCESSES 1 vs 2 (apps/gateway/bench/scale-curves.ts) and audit ingestion
# with 1 and 2 workers (apps/worker/bench/scale-ingest.ts): 2.5 min on a quiet machine, ~9 on a busy one. BENCH_SCALE=0
# skips them, BENCH_SCALE_CURVES=catalog,links,rows,processes picks some; each file names its size knobs.
# Activity at volume (apps/web/bench/activity.bench.ts) generates its own audit trail in a throwaway
# cluster: 5 million events by default here (~15 min on a quiet machine); the issue's 50 million is
# BENCH_AUDIT_EVENTS=50000000 (hours on 2 cores, and tens of GB of disk for events and rollups).
export BENCH_AUDIT_EVENTS="${BENCH_AUDIT_EVENTS:-5000000}"
npx turbo run bench --concurrency=1 --output-logs=full "$@"
# The quick start's wall time, cold (a fresh clone: install, build, initdb, seed) and warm (run again).
# QUICKSTART_BENCH=0 skips it.
if [ "${QUICKSTART_BENCH:-1}" != 0 ]; then
  say "quick start wall time (a fresh clone of this repository, its own ports)"
  node scripts/bench-quickstart.mjs
fi
