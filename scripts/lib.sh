#!/usr/bin/env bash
# Shared by scripts/up.sh and scripts/test.sh: installs what the project needs and runs
# project-local PostgreSQL and Redis (own data directories, own ports, loopback only).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PNPM=(npx -y pnpm@10.34.8)
export PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1 NEXT_TELEMETRY_DISABLED=1 TURBO_TELEMETRY_DISABLED=1

say() { printf '\033[1;34m▸\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m✗\033[0m %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

pg_bin_dir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

# Debian packages: PostgreSQL server (with contrib: pg_trgm, pgcrypto), Redis, and optionally Chromium.
ensure_system_packages() {
  local want=()
  pg_bin_dir >/dev/null || want+=(postgresql postgresql-contrib)
  command -v redis-server >/dev/null || want+=(redis-server)
  if [ "${1:-}" = "--with-browser" ]; then
    command -v chromium >/dev/null || want+=(chromium)
    # The tests start their own sshd (SSH tunnels, issue 17), with their own host keys, config and port;
    # installing the package starts no daemon where there is no init system, and the tests never use one.
    [ -x /usr/sbin/sshd ] || want+=(openssh-server)
    command -v docker-compose >/dev/null || want+=(docker-compose) # e2e/deploy: `docker-compose config`, PyYAML
    [ -x /usr/sbin/haproxy ] || want+=(haproxy) # apps/gateway/test/scale-out: two gateways behind a real load balancer
  fi
  if [ ${#want[@]} -gt 0 ]; then
    say "installing Debian packages: ${want[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
  fi
  # Debian's postgresql package starts a system cluster on 5432; we never use it, and leave it be.
}

ensure_node_modules() {
  cd "$ROOT"
  local stamp="node_modules/.portcullis-install-stamp"
  if [ ! -f "$stamp" ] || [ pnpm-lock.yaml -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
    say "installing npm packages (pnpm)"
    CI=true "${PNPM[@]}" install --frozen-lockfile --reporter=append-only 2>&1 | grep -v -E '^(npm warn|Progress)' | tail -5
    touch "$stamp"
  fi
  if [ ! -f packages/db/src/generated/prisma/client.ts ] || [ prisma/schema.prisma -nt packages/db/src/generated/prisma/client.ts ]; then
    say "generating the Prisma client"
    bash scripts/prisma-generate.sh >/dev/null
  fi
}

# start_postgres DATA_DIR PORT [fast] [SUPERUSER_PASSWORD] — creates the cluster on first use; reuses a
# running one. The superuser is `portcullis`; its password defaults to "portcullis" (the test
# clusters); up.sh passes a random one and then removes it (bootstrap_metadata). Sets STARTED_PG=1
# when this call started the server.
start_postgres() {
  local data port="$2" mode="${3:-}" superuser_password="${4:-portcullis}" bin runas=()
  data="$(realpath -m "$1")"
  bin="$(pg_bin_dir)" || die "PostgreSQL server binaries not found (apt-get install postgresql)"
  # The server refuses to run as root; run it as the `postgres` system user when we are root.
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    runas=(runuser -u postgres --)
    # `postgres` must be able to reach the data directory; in a checkout under a private directory
    # (/root is 0700, so is a mktemp -d) it cannot. The cluster then lives in a directory of its own
    # under /var/lib/postgresql, linked from the project's data directory (which stays the one path
    # every script and the supervisor use).
    mkdir -p "$(dirname "$data")"
    if [ ! -e "$data/PG_VERSION" ] && ! runuser -u postgres -- test -x "$(dirname "$data")" 2>/dev/null; then
      local home
      home="/var/lib/postgresql/portcullis/$(printf '%s' "$data" | sha256sum | cut -c1-16)"
      mkdir -p "$home"; chown postgres "$home"; chmod 700 "$home"
      if [ -d "$data" ] && [ ! -L "$data" ]; then rmdir "$data" 2>/dev/null || die "$data is not empty and the postgres user cannot reach it"; fi
      ln -sfn "$home" "$data"
      say "the postgres user cannot reach ${data}: its cluster lives in ${home} (linked from there)"
      data="$home"
    fi
    mkdir -p "$data"; chown postgres "$data"
  else
    mkdir -p "$data"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    say "creating a PostgreSQL cluster in ${data#$ROOT/} (port $port)"
    local pwfile; pwfile="$(mktemp)"; printf '%s\n' "$superuser_password" > "$pwfile"
    # initdb runs as `postgres` when we are root: it alone may read the file.
    [ "${#runas[@]}" -gt 0 ] && chown postgres "$pwfile"; chmod 600 "$pwfile"
    "${runas[@]}" "$bin/initdb" -D "$data" -U portcullis --pwfile="$pwfile" --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null || { rm -f "$pwfile"; die "initdb failed"; }
    rm -f "$pwfile"
    {
      echo "listen_addresses = '127.0.0.1'"
      echo "port = $port"
      echo "unix_socket_directories = '$data'"
      echo "max_connections = 300"
      echo "shared_buffers = 256MB"
      echo "log_min_messages = warning"
      if [ "$mode" = fast ]; then echo "fsync = off"; echo "synchronous_commit = off"; echo "full_page_writes = off"; fi
    } >> "$data/postgresql.conf"
  fi
  if "${runas[@]}" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    STARTED_PG=0
  else
    # Port and socket directory from the arguments, not only from postgresql.conf: a copied or moved
    # .data, or PG_PORT given on a later run, must not bring the server up somewhere else.
    "${runas[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 -o "-p $port -c unix_socket_directories='$data'" start >/dev/null \
      || die "PostgreSQL did not start; see ${data}/server.log"
    STARTED_PG=1
  fi
}

stop_postgres() {
  local data bin runas=()
  data="$(realpath -m "$1")"
  bin="$(pg_bin_dir)" || return 0
  [ "$(id -u)" = 0 ] && runas=(runuser -u postgres --)
  "${runas[@]}" "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# start_redis DIR PORT [PASSWORD] — append-only persistence so queued audit jobs survive a restart.
# With a password, the server requires it (kept in a 0600 config file, not on the command line where
# `ps` shows it); a server already running on the port without one (the old scheme) gets it set live.
start_redis() {
  local dir port="$2" password="${3:-}"
  dir="$(realpath -m "$1")"
  mkdir -p "$dir"; chmod 700 "$dir"
  if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
    STARTED_REDIS=0
    if [ -n "$password" ]; then
      redis-cli -p "$port" config set requirepass "$password" >/dev/null \
        || die "Redis on port $port runs without a password and refused to take one"
    fi
    return 0
  fi
  if [ -n "$password" ] && [ "$(REDISCLI_AUTH="$password" redis-cli --no-auth-warning -p "$port" ping 2>/dev/null)" = PONG ]; then
    STARTED_REDIS=0; return 0
  fi
  local conf="$dir/redis.conf"
  (umask 077; if [ -n "$password" ]; then printf 'requirepass "%s"\n' "$password"; fi > "$conf")
  redis-server "$conf" --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log" --appendonly yes --save "" --maxmemory-policy noeviction >/dev/null
  for _ in $(seq 1 50); do
    [ "$(REDISCLI_AUTH="$password" redis-cli --no-auth-warning -p "$port" ping 2>/dev/null)" = PONG ] && { STARTED_REDIS=1; return 0; }
    sleep 0.1
  done
  die "Redis did not start; see $dir/redis.log"
}

stop_redis() {
  local port="$2" password="${3:-}"
  REDISCLI_AUTH="$password" redis-cli --no-auth-warning -p "$port" shutdown nosave >/dev/null 2>&1 || true
}

# bootstrap_metadata DATA_DIR PORT PASSWORD — as the cluster's superuser (through the Unix socket in
# the data directory: trust, but only the OS user running the cluster can open it), gives the apps
# the non-superuser role portcullis_app with PASSWORD, owner of database `portcullis`; removes the
# superuser's password (no TCP login as superuser at all). Upgrades an old-scheme cluster in place.
# Sets DATABASE_URL (the app role, TCP) and PG_SUPERUSER_URL (the socket, for the demo seed only).
bootstrap_metadata() {
  local data port="$2" password="$3"
  data="$(realpath -m "$1")"
  PG_SUPERUSER_URL="postgresql://portcullis@localhost/postgres?host=${data}&port=${port}"
  PG_SUPERUSER_URL="$PG_SUPERUSER_URL" METADATA_DB_PASSWORD="$password" \
    node --import tsx "$ROOT/packages/db/src/migrate/bootstrap-cli.ts" || die "could not prepare the metadata database role"
  DATABASE_URL="postgresql://portcullis_app:${password}@127.0.0.1:${port}/portcullis"
}

random_secret() { node -e 'process.stdout.write(require("crypto").randomBytes(Number(process.argv[1])).toString("base64url"))' "${1:-32}"; }

# Generates .env on first run with fresh secrets; later runs keep it, add the secrets a newer version
# needs (an .env of the old scheme has no database or Redis password) and keep it private (0600).
ensure_env_file() {
  cd "$ROOT"
  if [ ! -f .env ]; then
    say "writing .env with fresh secrets (kept for later runs)"
    local secret_key auth_secret internal_token
    secret_key="k1:$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64"))')"
    auth_secret="$(random_secret 32)"
    internal_token="$(random_secret 32)"
    (umask 077; sed -e "s#^PORTCULLIS_SECRET_KEYS=.*#PORTCULLIS_SECRET_KEYS=$secret_key#" \
        -e "s#^NEXTAUTH_SECRET=.*#NEXTAUTH_SECRET=$auth_secret#" \
        -e "s#^GATEWAY_INTERNAL_TOKEN=.*#GATEWAY_INTERNAL_TOKEN=$internal_token#" .env.example > .env)
  fi
  chmod 600 .env
  local name
  for name in METADATA_DB_PASSWORD REDIS_PASSWORD AUDIT_CHAIN_KEY DEMO_PASSWORD; do
    if ! grep -q "^${name}=." .env; then
      say "adding a random ${name} to .env"
      local value
      case "$name" in
        AUDIT_CHAIN_KEY) value="$(node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("hex"))')" ;;
        DEMO_PASSWORD) value="$(random_secret 12)" ;;
        *) value="$(random_secret 24)" ;;
      esac
      if grep -q "^${name}=" .env; then sed -i "s#^${name}=.*#${name}=${value}#" .env; else printf '%s=%s\n' "$name" "$value" >> .env; fi
    fi
  done
  chmod 600 .env
  # Private to the user running the stack; 0711 so the `postgres` system user (root runs the cluster
  # as it) can reach .data/pg, which is its own 0700 directory.
  mkdir -p .data; chmod 711 .data
}
