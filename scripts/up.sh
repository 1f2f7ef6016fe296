#!/usr/bin/env bash
# The quick start: installs what is missing, starts PostgreSQL and Redis (project-local unless
# DATABASE_URL / REDIS_URL are set), migrates, seeds the demo, and runs the dashboard, gateway and
# worker under scripts/supervise.mjs in the foreground: a crashed app or local store is restarted with
# backoff while the rest keeps serving; Ctrl-C (or SIGTERM) stops the apps first, then Redis, then
# PostgreSQL. PORTCULLIS_DATA_DIR and the *_PORT variables let a second stack run in the same checkout.
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
CALLER_SET=" "
for name in WEB_PORT GATEWAY_PORT GATEWAY_INTERNAL_PORT WEB_PUBLIC_URL NEXTAUTH_URL GATEWAY_PUBLIC_URL GATEWAY_INTERNAL_URL GATEWAY_AUDIT_SPOOL_DIR; do
  [ -n "${!name+x}" ] && CALLER_SET+="$name "
done
CALLER_ENV="$(export -p)"
set -a; source .env; set +a
eval "$CALLER_ENV"
DATABASE_URL="$CALLER_DATABASE_URL"; REDIS_URL="$CALLER_REDIS_URL"
given() { [[ "$CALLER_SET" == *" $1 "* ]]; }

# Everything this stack writes: PostgreSQL, Redis, logs, the audit spool, stack.env, the build log.
DATA="${PORTCULLIS_DATA_DIR:-.data}"
case "$DATA" in /*) ;; *) DATA="$ROOT/$DATA" ;; esac
DATA="$(realpath -m "$DATA")"
# 0711: the `postgres` system user (root runs the cluster as it) must reach $DATA/pg, its own 0700 dir.
mkdir -p "$DATA/logs"; chmod 711 "$DATA"
# One stack per data directory: a second one would share its PostgreSQL and Redis and crash-loop on its ports.
if [ -f "$DATA/supervisor.pid" ]; then
  running="$(cat "$DATA/supervisor.pid")"
  if [ -n "$running" ] && grep -qs "supervise.mjs" "/proc/$running/cmdline"; then
    die "a stack already runs from $DATA (supervisor pid $running): stop it first, or give this one its own PORTCULLIS_DATA_DIR and ports"
  fi
fi
export PORTCULLIS_DATA_DIR="$DATA"
export WEB_PORT="${WEB_PORT:-3000}" GATEWAY_PORT="${GATEWAY_PORT:-3001}" GATEWAY_INTERNAL_PORT="${GATEWAY_INTERNAL_PORT:-3003}"
export WORKER_METRICS_PORT="${WORKER_METRICS_PORT:-3002}"
# A port given by the caller moves the loopback URLs .env derives from it (unless the URL was given too).
with_port() {
  local url="$1" port="$2"
  if [[ "$url" =~ ^(https?://(localhost|127\.0\.0\.1|\[::1\]))(:[0-9]+)?(/.*)?$ ]]; then echo "${BASH_REMATCH[1]}:${port}${BASH_REMATCH[4]}"; else echo "$url"; fi
}
if given WEB_PORT; then
  given WEB_PUBLIC_URL || WEB_PUBLIC_URL="$(with_port "${WEB_PUBLIC_URL:-http://localhost:3000}" "$WEB_PORT")"
  given NEXTAUTH_URL || NEXTAUTH_URL="$(with_port "${NEXTAUTH_URL:-http://localhost:3000}" "$WEB_PORT")"
fi
if given GATEWAY_PORT && ! given GATEWAY_PUBLIC_URL; then GATEWAY_PUBLIC_URL="$(with_port "${GATEWAY_PUBLIC_URL:-http://localhost:3001}" "$GATEWAY_PORT")"; fi
if given GATEWAY_INTERNAL_PORT && ! given GATEWAY_INTERNAL_URL && [ -n "${GATEWAY_INTERNAL_URL:-}" ]; then
  GATEWAY_INTERNAL_URL="$(with_port "$GATEWAY_INTERNAL_URL" "$GATEWAY_INTERNAL_PORT")"
fi
# The default spool follows the data directory (a path set in .env or by the caller is kept).
if ! given GATEWAY_AUDIT_SPOOL_DIR && { [ -z "${GATEWAY_AUDIT_SPOOL_DIR:-}" ] || [ "$GATEWAY_AUDIT_SPOOL_DIR" = .data/spool ]; }; then
  GATEWAY_AUDIT_SPOOL_DIR="$DATA/spool"
fi
# File audit sinks write under the data directory too, unless .env or the caller names another root.
[ -n "${AUDIT_EXPORT_DIR:-}" ] || AUDIT_EXPORT_DIR="$DATA/audit-export"
export WEB_PUBLIC_URL NEXTAUTH_URL GATEWAY_PUBLIC_URL GATEWAY_AUDIT_SPOOL_DIR AUDIT_EXPORT_DIR
[ -n "${GATEWAY_INTERNAL_URL:-}" ] && export GATEWAY_INTERNAL_URL

STARTED_PG=0; STARTED_REDIS=0; LOCAL_PG=0; LOCAL_REDIS=0
PG_PORT="${PG_PORT:-54329}"; REDIS_PORT="${REDIS_PORT:-63799}"
WEB_HOST="${WEB_HOST:-127.0.0.1}"; export WEB_HOST
# Where the demo seed creates its target role and database; the superuser only when we run the cluster.
SEED_ADMIN_URL="${DEMO_TARGET_ADMIN_URL:-}"

# Until the supervisor takes over, a failure stops the stores this script started.
cleanup() {
  trap - INT TERM EXIT
  [ "$STARTED_REDIS" = 1 ] && stop_redis "$DATA/redis" "$REDIS_PORT" "$REDIS_PASSWORD"
  [ "$STARTED_PG" = 1 ] && stop_postgres "$DATA/pg"
  true
}
trap cleanup INT TERM EXIT

if [ -z "$DATABASE_URL" ]; then
  # A new cluster's superuser password is random and removed at once by bootstrap_metadata.
  start_postgres "$DATA/pg" "$PG_PORT" "" "$(random_secret 24)"
  LOCAL_PG=1
  bootstrap_metadata "$DATA/pg" "$PG_PORT" "$METADATA_DB_PASSWORD"
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
  start_redis "$DATA/redis" "$REDIS_PORT" "$REDIS_PASSWORD"
  LOCAL_REDIS=1
  export REDIS_URL="redis://:${REDIS_PASSWORD}@127.0.0.1:${REDIS_PORT}"
else
  say "using the Redis server in REDIS_URL"
fi

# What the operator CLI (`pnpm portcullis`) connects to when run from this checkout.
# The target allowances too: `connection test` / `connection add` must judge the demo's loopback
# Chinook as the apps do.
(umask 077; {
  printf 'DATABASE_URL=%s\nREDIS_URL=%s\n' "$DATABASE_URL" "$REDIS_URL"
  # The links the CLI prints point at this stack's gateway, not the default port.
  if [ -n "${GATEWAY_PUBLIC_URL:-}" ]; then printf 'GATEWAY_PUBLIC_URL=%s\n' "$GATEWAY_PUBLIC_URL"; fi
  if [ -n "${TARGET_NETWORKS:-}" ]; then printf 'TARGET_NETWORKS=%s\n' "$TARGET_NETWORKS"; fi
  if [ -n "${TARGET_ALLOW_ADDRESSES:-}" ]; then printf 'TARGET_ALLOW_ADDRESSES=%s\n' "$TARGET_ALLOW_ADDRESSES"; fi
  if [ -n "${TARGET_STACK_DATABASES:-}" ]; then printf 'TARGET_STACK_DATABASES=%s\n' "$TARGET_STACK_DATABASES"; fi
} > "$DATA/stack.env")

say "migrating the metadata database"
node --import tsx packages/db/src/migrate/cli.ts
say "seeding the demo"
SEED_OUTPUT="$(DEMO_TARGET_ADMIN_URL="$SEED_ADMIN_URL" node --import tsx packages/db/src/seed/main.ts)"

# Build the dashboard when its sources changed since the last build. PORTCULLIS_NEXT_DIST_DIR (under
# apps/web; next.config's distDir follows it) lets a second stack serve a build of its own.
WEB_BUILD="apps/web/${PORTCULLIS_NEXT_DIST_DIR:-.next}/BUILD_ID"
if [ ! -f "$WEB_BUILD" ] || [ -n "$(find apps/web/src packages -newer "$WEB_BUILD" \( -name '*.ts' -o -name '*.tsx' -o -name '*.css' \) -not -path '*/node_modules/*' -print -quit)" ]; then
  say "building the dashboard (first run takes a minute or two)"
  (cd apps/web && node_modules/.bin/next build --webpack > "$DATA/web-build.log" 2>&1) || { tail -40 "$DATA/web-build.log"; die "dashboard build failed (log: $DATA/web-build.log)"; }
fi

# The supervisor's plan: the apps (stop group 1 before 2: the gateway drains its calls and lands their
# audit events while the worker still consumes them), then the project-local stores, Redis before
# PostgreSQL. Its grace periods sit above the apps' own (the gateway's drain, the worker's 30 s cut-off).
SUPERVISE_CONFIG="$DATA/supervise.json"
ROOT="$ROOT" DATA="$DATA" LOCAL_PG="$LOCAL_PG" LOCAL_REDIS="$LOCAL_REDIS" PG_PORT="$PG_PORT" REDIS_PORT="$REDIS_PORT" node -e '
const { ROOT, DATA, LOCAL_PG, LOCAL_REDIS, PG_PORT, REDIS_PORT } = process.env;
const grace = Number(process.env.GATEWAY_SHUTDOWN_GRACE_MS || 25000) + 10000;
const store = (name, pidFile, start, stop, dir, port) => ({
  name, pidFile,
  start: ["bash", "-c", `source "$1/scripts/lib.sh"; ${start}`, "supervise", ROOT, dir, port],
  stop: ["bash", "-c", `source "$1/scripts/lib.sh"; ${stop}`, "supervise", ROOT, dir, port],
});
const stores = [];
if (LOCAL_REDIS === "1") stores.push(store("redis", `${DATA}/redis/redis.pid`, "start_redis \"$2\" \"$3\" \"$REDIS_PASSWORD\"", "stop_redis \"$2\" \"$3\" \"$REDIS_PASSWORD\"", `${DATA}/redis`, REDIS_PORT));
if (LOCAL_PG === "1") stores.push(store("postgres", `${DATA}/pg/postmaster.pid`, "start_postgres \"$2\" \"$3\"", "stop_postgres \"$2\"", `${DATA}/pg`, PG_PORT));
const node = process.execPath;
process.stdout.write(JSON.stringify({
  logDir: `${DATA}/logs`,
  apps: [
    { name: "web", command: [node, "../../scripts/web-server.mjs"], cwd: `${ROOT}/apps/web`, stopGroup: 1, graceMs: 15000 },
    { name: "gateway", command: [node, "--import", "tsx", "apps/gateway/src/main.ts"], cwd: ROOT, stopGroup: 1, graceMs: grace },
    { name: "worker", command: [node, "--import", "tsx", "apps/worker/src/main.ts"], cwd: ROOT, stopGroup: 2, graceMs: 35000 },
  ],
  stores,
}, null, 2));
' > "$SUPERVISE_CONFIG"

# The address to probe a server bound to HOST on (a wildcard bind answers on loopback).
probe_host() { case "$1" in 0.0.0.0|""|::|"[::]") echo 127.0.0.1 ;; \[*) echo "$1" ;; *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }
SUPERVISOR=$$
wait_http() {
  local name="$1" url="$2"
  for _ in $(seq 1 180); do
    kill -0 "$SUPERVISOR" 2>/dev/null || exit 0
    node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url" && return 0
    sleep 0.5
  done
  printf '\033[1;33m!\033[0m %s did not answer at %s within 90 s; the supervisor keeps trying (log: %s)\n' "$name" "$url" "$DATA/logs/$name.log"
  return 1
}
# Readiness runs beside the supervisor (which this shell becomes below): apps answering, then the demo
# complete (schema snapshot and descriptions), then the configs and the "ready" line. A part that is
# not ready is a warning; the stack keeps serving.
ready_phase() {
  local ok=1
  wait_http gateway "http://127.0.0.1:${GATEWAY_PORT}/healthz" || ok=0
  wait_http worker "http://$(probe_host "${WORKER_METRICS_HOST:-127.0.0.1}"):${WORKER_METRICS_PORT}/healthz" || ok=0
  wait_http web "http://$(probe_host "$WEB_HOST"):${WEB_PORT}/api/health" || ok=0
  if [ "$ok" = 1 ]; then
    say "waiting for the demo's schema snapshot and descriptions"
    if ! node --import tsx packages/db/src/seed/demo-ready.ts; then
      ok=0
      printf '\033[1;33m!\033[0m the demo is not complete yet (schema snapshot or descriptions missing): the links work, descriptions may be absent; see %s\n' "$DATA/logs/worker.log"
    fi
  fi
  kill -0 "$SUPERVISOR" 2>/dev/null || exit 0
  echo "$SEED_OUTPUT"
  if [ "$ok" = 1 ]; then
    say "ready: dashboard ${WEB_PUBLIC_URL:-http://localhost:$WEB_PORT}, gateway ${GATEWAY_PUBLIC_URL:-http://localhost:$GATEWAY_PORT}"
  else
    printf '\033[1;33m!\033[0m started with warnings (above); still serving\n'
  fi
  echo "Logs: $DATA/logs/{web,gateway,worker,supervisor}.log — Ctrl-C stops everything."
}
# In a process group of its own (job control on for this one fork): a terminal Ctrl-C goes to the
# supervisor alone, which ends this group when it stops; once it is done the supervisor shows the apps'
# output on the terminal too.
set -m
( trap - INT TERM EXIT; ready_phase ) &
export PORTCULLIS_READY_PID=$!
set +m

# The supervisor owns the stores from here: it restarts them and stops them last.
trap - INT TERM EXIT
echo $$ > "$DATA/supervisor.pid"
exec node scripts/supervise.mjs "$SUPERVISE_CONFIG"
