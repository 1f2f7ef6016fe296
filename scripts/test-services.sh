#!/usr/bin/env bash
# Starts the test PostgreSQL and Redis (separate from the dev stack's) and exports their URLs.
# `source scripts/test-services.sh` in a shell to run `pnpm vitest ...` by hand.
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
TEST_PG_PORT="${TEST_PG_PORT:-54339}"
TEST_REDIS_PORT="${TEST_REDIS_PORT:-63809}"
if [ -z "${TEST_PG_URL:-}" ]; then
  start_postgres "$ROOT/.data/test/pg" "$TEST_PG_PORT" fast
  export TEST_PG_URL="postgresql://portcullis:portcullis@127.0.0.1:${TEST_PG_PORT}/postgres"
fi
if [ -z "${TEST_REDIS_URL:-}" ]; then
  start_redis "$ROOT/.data/test/redis" "$TEST_REDIS_PORT"
  export TEST_REDIS_URL="redis://127.0.0.1:${TEST_REDIS_PORT}"
fi
export TEST_REDIS_PORT TEST_PG_PORT
