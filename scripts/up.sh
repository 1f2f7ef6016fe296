#!/usr/bin/env bash
# The quick start: installs what is missing, starts PostgreSQL and Redis (project-local unless
# DATABASE_URL / REDIS_URL are set), migrates, seeds the demo, and runs the dashboard, gateway and
# worker in the foreground. Ctrl-C stops everything this script started.
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$ROOT"

ensure_system_packages
ensure_node_modules
ensure_env_file

# Variables given by the caller win over .env.
CALLER_DATABASE_URL="${DATABASE_URL:-}"; CALLER_REDIS_URL="${REDIS_URL:-}"
set -a; source .env; set +a
DATABASE_URL="$CALLER_DATABASE_URL"; REDIS_URL="$CALLER_REDIS_URL"

STARTED_PG=0; STARTED_REDIS=0; PIDS=()
PG_PORT="${PG_PORT:-54329}"; REDIS_PORT="${REDIS_PORT:-63799}"

cleanup() {
  trap - INT TERM EXIT
  echo; say "stopping"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  [ "$STARTED_REDIS" = 1 ] && stop_redis "$ROOT/.data/redis" "$REDIS_PORT"
  [ "$STARTED_PG" = 1 ] && stop_postgres "$ROOT/.data/pg"
  say "stopped"
}
trap cleanup INT TERM EXIT

if [ -z "$DATABASE_URL" ]; then
  start_postgres "$ROOT/.data/pg" "$PG_PORT"
  export DATABASE_URL="postgresql://portcullis:portcullis@127.0.0.1:${PG_PORT}/portcullis"
else
  say "using the PostgreSQL server in DATABASE_URL"
fi
if [ -z "$REDIS_URL" ]; then
  start_redis "$ROOT/.data/redis" "$REDIS_PORT"
  export REDIS_URL="redis://127.0.0.1:${REDIS_PORT}"
else
  say "using the Redis server in REDIS_URL"
fi

# What the operator CLI (`pnpm portcullis`) connects to when run from this checkout.
mkdir -p .data
(umask 077; printf 'DATABASE_URL=%s\nREDIS_URL=%s\n' "$DATABASE_URL" "$REDIS_URL" > .data/stack.env)

say "migrating the metadata database"
node --import tsx packages/db/src/migrate/cli.ts
say "seeding the demo"
SEED_OUTPUT="$(node --import tsx packages/db/src/seed/main.ts)"

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
start_app web bash -c "cd apps/web && exec node_modules/.bin/next start -p ${WEB_PORT:-3000}"

wait_http() {
  local name="$1" url="$2"
  for _ in $(seq 1 120); do
    node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url" && return 0
    sleep 0.5
  done
  tail -30 ".data/logs/$name.log"; die "$name did not come up at $url (log: .data/logs/$name.log)"
}
wait_http gateway "http://127.0.0.1:${GATEWAY_PORT:-3001}/healthz"
wait_http worker "http://127.0.0.1:${WORKER_METRICS_PORT:-3002}/healthz"
wait_http web "http://127.0.0.1:${WEB_PORT:-3000}/api/health"

echo "$SEED_OUTPUT"
echo "Logs: .data/logs/{web,gateway,worker}.log — Ctrl-C stops everything."
tail -n 0 -F .data/logs/gateway.log .data/logs/worker.log .data/logs/web.log 2>/dev/null &
PIDS+=("$!")
# Exit (and clean up) as soon as any app dies.
wait -n "${PIDS[@]}" || true
