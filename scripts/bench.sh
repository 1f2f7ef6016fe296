#!/usr/bin/env bash
# `pnpm bench`: every package's benchmark, one at a time (they measure; they must not compete for the
# two cores), against the project-local test PostgreSQL and Redis.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$ROOT"
ensure_system_packages
ensure_node_modules
source scripts/test-services.sh
exec npx turbo run bench --concurrency=1 --output-logs=full "$@"
