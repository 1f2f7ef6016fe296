#!/usr/bin/env bash
# Runs every test: typecheck, unit and integration suites (vitest, real PostgreSQL and Redis started
# here), and the end-to-end suite (Playwright in Debian's Chromium against the real stack).
# `.ci/run` calls exactly this.
set -uo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$ROOT"
set -e
ensure_system_packages --with-browser
ensure_node_modules
STARTED_PG=0; STARTED_REDIS=0
source scripts/test-services.sh
set +e
TEST_STARTED_PG=$STARTED_PG; TEST_STARTED_REDIS=$STARTED_REDIS
cleanup() {
  [ "$TEST_STARTED_REDIS" = 1 ] && stop_redis "$ROOT/.data/test/redis" "$TEST_REDIS_PORT"
  [ "$TEST_STARTED_PG" = 1 ] && stop_postgres "$ROOT/.data/test/pg"
}
trap cleanup EXIT

REPORTS="$ROOT/.data/test/reports"; rm -rf "$REPORTS"; mkdir -p "$REPORTS"
status=0

say "typecheck"
npx turbo run typecheck --continue --output-logs=errors-only || status=1

say "lint"
npx eslint . || status=1

say "unit, integration and chaos suites"
npx vitest run --reporter=default --reporter=json --outputFile.json="$REPORTS/vitest.json" || status=1

say "deployment artifacts: Dockerfile, docker-compose.yml, Helm chart, the image's entrypoint run outside a container"; npx vitest run --config e2e/deploy/vitest.config.ts --reporter=default --reporter=json --outputFile.json="$REPORTS/vitest-deploy.json" || status=1

say "protocol and interop suites again on Node 22 and 24"
REPORTS="$REPORTS" bash scripts/test-node-versions.sh || status=1

say "end-to-end suite (Playwright, Chromium)"
(cd e2e && PLAYWRIGHT_JSON_OUTPUT_NAME="$REPORTS/playwright.json" node_modules/.bin/playwright test --reporter=list,json) || status=1

node scripts/test-summary.mjs "$REPORTS" || status=1
exit $status
