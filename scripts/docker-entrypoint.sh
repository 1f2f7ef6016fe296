#!/usr/bin/env bash
# The container image's ENTRYPOINT (Dockerfile): one image, one role per container.
#   docker-entrypoint.sh web|gateway|worker   a long-running app, as scripts/up.sh starts it
#   docker-entrypoint.sh migrate              applies prisma/migrations to DATABASE_URL, then exits
#   docker-entrypoint.sh seed-demo            the demo team, links and Chinook (DEMO_TARGET_ADMIN_URL)
#   docker-entrypoint.sh healthcheck [ROLE]   exit 0 when ROLE's readiness endpoint answers 2xx
# It runs the same commands outside a container (e2e/deploy starts each app through it), so what the
# image runs is what the test command checks. `exec` hands the app PID 1's signals: SIGTERM from
# `docker stop` or the kubelet reaches the gateway's drain and the worker's graceful close directly.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export NEXT_TELEMETRY_DISABLED=1 PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1

# The role of the process this container runs, for `healthcheck` without an argument: Docker runs
# HEALTHCHECK as a separate process that does not see the app's arguments. /tmp is writable even
# under a read-only root filesystem (the chart mounts an emptyDir there).
ROLE_FILE="${TMPDIR:-/tmp}/portcullis-role"
remember_role() { printf '%s\n' "$1" > "$ROLE_FILE" 2>/dev/null || true; }

# The address to probe a server bound to HOST on (a wildcard bind answers on loopback).
probe_host() {
  case "$1" in
    0.0.0.0 | "" | :: | "[::]") echo 127.0.0.1 ;;
    \[*) echo "$1" ;;
    *:*) echo "[$1]" ;;
    *) echo "$1" ;;
  esac
}

healthcheck() {
  local role="${1:-${PORTCULLIS_ROLE:-}}" url
  [ -n "$role" ] || role="$(cat "$ROLE_FILE" 2>/dev/null || true)"
  case "$role" in
    gateway) url="http://127.0.0.1:${GATEWAY_PORT:-3001}/readyz" ;;
    worker) url="http://$(probe_host "${WORKER_METRICS_HOST:-127.0.0.1}"):${WORKER_METRICS_PORT:-3002}/readyz" ;;
    web) url="http://$(probe_host "${WEB_HOST:-127.0.0.1}"):${WEB_PORT:-3000}/api/health" ;;
    *) echo "healthcheck: unknown role '${role}' (web, gateway or worker)" >&2; return 2 ;;
  esac
  exec node -e '
    fetch(process.argv[1], { signal: AbortSignal.timeout(4000) }).then(
      (r) => { if (!r.ok) console.error(`${process.argv[1]}: HTTP ${r.status}`); process.exit(r.ok ? 0 : 1); },
      (e) => { console.error(`${process.argv[1]}: ${e.cause?.code ?? e.message}`); process.exit(1); },
    );' "$url"
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
  web)
    remember_role web
    cd apps/web
    exec node ../../scripts/web-server.mjs "$@"
    ;;
  gateway)
    remember_role gateway
    exec node --import tsx apps/gateway/src/main.ts "$@"
    ;;
  worker)
    remember_role worker
    exec node --import tsx apps/worker/src/main.ts "$@"
    ;;
  migrate)
    exec node --import tsx packages/db/src/migrate/cli.ts "$@"
    ;;
  seed-demo)
    exec node --import tsx packages/db/src/seed/main.ts "$@"
    ;;
  healthcheck)
    healthcheck "$@"
    ;;
  portcullis)
    # The operator CLI inside the image: `docker compose run --rm gateway portcullis key create …`.
    exec node --import tsx apps/cli/src/main.ts "$@"
    ;;
  *)
    echo "usage: docker-entrypoint.sh web|gateway|worker|migrate|seed-demo|healthcheck [ROLE]|portcullis ARGS" >&2
    exit 64
    ;;
esac
