#!/usr/bin/env bash
# The quick start: installs what is missing, starts PostgreSQL and Redis (project-local unless
# DATABASE_URL / REDIS_URL are set), migrates, seeds the demo, and runs the dashboard, gateway and
# worker in the foreground. Ctrl-C stops everything this script started.
# The local services protect themselves: the apps connect to PostgreSQL as a non-superuser role and to
# Redis with a password, both random and kept in .env (0600); the dashboard and the worker's metrics
# listen on loopback unless WEB_HOST / WORKER_METRICS_HOST say otherwise.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$ROOT"
# Everything this script and the apps write (logs with SQL text, the audit spool, keys) is private.
umask 077

ensure_system_packages
ensure_node_modules
ensure_env_file

# Variables given by the caller win over .env (ports included: a second stack must not take the first's).
CALLER_DATABASE_URL="${DATABASE_URL:-}"; CALLER_REDIS_URL="${REDIS_URL:-}"
CALLER_ENV="$(export -p)"
set -a; source .env; set +a
eval "$CALLER_ENV"
DATABASE_URL="$CALLER_DATABASE_URL"; REDIS_URL="$CALLER_REDIS_URL"

STARTED_PG=0; STARTED_REDIS=0; PIDS=()
PG_PORT="${PG_PORT:-54329}"; REDIS_PORT="${REDIS_PORT:-63799}"
WEB_HOST="${WEB_HOST:-127.0.0.1}"; export WEB_HOST
# Where the demo seed creates its target role and database; the superuser only when we run the cluster.
SEED_ADMIN_URL="${DEMO_TARGET_ADMIN_URL:-}"

cleanup() {
  trap - INT TERM EXIT
  echo; say "stopping"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  [ "$STARTED_REDIS" = 1 ] && stop_redis "$ROOT/.data/redis" "$REDIS_PORT" "$REDIS_PASSWORD"
  [ "$STARTED_PG" = 1 ] && stop_postgres "$ROOT/.data/pg"
  say "stopped"
}
trap cleanup INT TERM EXIT

if [ -z "$DATABASE_URL" ]; then
  # A new cluster's superuser password is random and removed at once by bootstrap_metadata.
  start_postgres "$ROOT/.data/pg" "$PG_PORT" "" "$(random_secret 24)"
  bootstrap_metadata "$ROOT/.data/pg" "$PG_PORT" "$METADATA_DB_PASSWORD"
  export DATABASE_URL
  if [ -z "$SEED_ADMIN_URL" ]; then
    SEED_ADMIN_URL="$PG_SUPERUSER_URL"
    # The demo's Chinook lives on this cluster, on loopback: allow exactly that address and that one
    # database as a target (the metadata database stays refused; other loopback targets too).
    export TARGET_ALLOW_ADDRESSES="${TARGET_ALLOW_ADDRESSES:+$TARGET_ALLOW_ADDRESSES,}127.0.0.1:${PG_PORT}"
    export TARGET_STACK_DATABASES="${TARGET_STACK_DATABASES:+$TARGET_STACK_DATABASES,}chinook"
  fi
else
  say "using the PostgreSQL server in DATABASE_URL"
fi
if [ -z "$REDIS_URL" ]; then
  start_redis "$ROOT/.data/redis" "$REDIS_PORT" "$REDIS_PASSWORD"
  export REDIS_URL="redis://:${REDIS_PASSWORD}@127.0.0.1:${REDIS_PORT}"
else
  say "using the Redis server in REDIS_URL"
fi

# What the operator CLI (`pnpm portcullis`) connects to when run from this checkout.
mkdir -p .data
(umask 077; printf 'DATABASE_URL=%s\nREDIS_URL=%s\n' "$DATABASE_URL" "$REDIS_URL" > .data/stack.env)

say "migrating the metadata database"
node --import tsx packages/db/src/migrate/cli.ts
say "seeding the demo"
SEED_OUTPUT="$(DEMO_TARGET_ADMIN_URL="$SEED_ADMIN_URL" node --import tsx packages/db/src/seed/main.ts)"

# Build the dashboard when its sources changed since the last build.
if [ ! -f apps/web/.next/BUILD_ID ] || [ -n "$(find apps/web/src packages -newer apps/web/.next/BUILD_ID \( -name '*.ts' -o -name '*.tsx' -o -name '*.css' \) -not -path '*/node_modules/*' -print -quit)" ]; then
  say "building the dashboard (first run takes a minute or two)"
  (cd apps/web && node_modules/.bin/next build --webpack > "$ROOT/.data/web-build.log" 2>&1) || { tail -40 "$ROOT/.data/web-build.log"; die "dashboard build failed (log: .data/web-build.log)"; }
fi

mkdir -p .data/logs
start_app() {
  local name="$1"; shift
  # Each app logs to .data/logs/<name>.log; the terminal shows them prefixed.
  ( exec "$@" ) > ".data/logs/$name.log" 2>&1 &
  PIDS+=("$!")
}
start_app gateway node --import tsx apps/gateway/src/main.ts
start_app worker node --import tsx apps/worker/src/main.ts
# Through scripts/web-server.mjs (not `next start`): it hands the dashboard the socket's peer address,
# which Next.js alone does not (TRUST_PROXY decides how much of X-Forwarded-For to believe on top).
start_app web bash -c "cd apps/web && WEB_PORT=${WEB_PORT:-3000} exec node ../../scripts/web-server.mjs"

# The address to probe a server bound to HOST on (a wildcard bind answers on loopback).
probe_host() { case "$1" in 0.0.0.0|""|::|"[::]") echo 127.0.0.1 ;; \[*) echo "$1" ;; *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }
wait_http() {
  local name="$1" url="$2"
  for _ in $(seq 1 120); do
    node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url" && return 0
    sleep 0.5
  done
  tail -30 ".data/logs/$name.log"; die "$name did not come up at $url (log: .data/logs/$name.log)"
}
wait_http gateway "http://127.0.0.1:${GATEWAY_PORT:-3001}/healthz"
wait_http worker "http://$(probe_host "${WORKER_METRICS_HOST:-127.0.0.1}"):${WORKER_METRICS_PORT:-3002}/healthz"
wait_http web "http://$(probe_host "$WEB_HOST"):${WEB_PORT:-3000}/api/health"

echo "$SEED_OUTPUT"
echo "Logs: .data/logs/{web,gateway,worker}.log — Ctrl-C stops everything."
tail -n 0 -F .data/logs/gateway.log .data/logs/worker.log .data/logs/web.log 2>/dev/null &
PIDS+=("$!")
# Exit (and clean up) as soon as any app dies.
wait -n "${PIDS[@]}" || true
