#!/usr/bin/env bash
# A throwaway PostgreSQL server for the end-to-end tests, on 127.0.0.1 only.
#
#   eval "$(bash scripts/postgres.sh start)"   # install if missing, init, start; prints exports
#   bash scripts/postgres.sh stop              # stop the server (the cluster stays for reuse)
#   bash scripts/postgres.sh status
#
# `start` is idempotent: it installs the Debian `postgresql` package when no server binaries
# are found (needs root and apt), creates a cluster under .tools/postgres (git-ignored) owned
# by the `postgres` system user when run as root, starts it on a free loopback port (or
# reuses the running one), creates the role and database `helpdesk` with a generated
# password, and prints `export PGHOST=... PGPORT=... PGUSER=... PGPASSWORD=... PGDATABASE=...`
# on stdout (everything else goes to stderr). meltano.yml, dbt's profile and the tests read
# those standard libpq variables.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGROOT="${HELPDESK_PG_ROOT:-$ROOT/.tools/postgres}"
DATA="$PGROOT/data"
SOCKETS="$PGROOT/run"  # unix socket and server log, owned by the server user
DB_NAME=helpdesk
DB_USER=helpdesk

log() { echo "postgres.sh: $*" >&2; }

find_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/pg_ctl" ] && [ -x "$dir/initdb" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

install_server() {
  if find_bin >/dev/null; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo="sudo -n"  # e.g. a GitHub Actions runner
  fi
  if { [ "$(id -u)" != 0 ] && [ -z "$sudo" ]; } || ! command -v apt-get >/dev/null; then
    log "no PostgreSQL server found and cannot install it (needs apt-get as root):"
    log "install the Debian package 'postgresql' and retry"
    exit 1
  fi
  log "installing PostgreSQL from Debian packages"
  $sudo apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    postgresql postgresql-client >&2
  find_bin >/dev/null || { log "apt-get installed no PostgreSQL server binaries"; exit 1; }
}

# Run a server binary as the cluster's owner: `postgres` when we are root (the server
# refuses to run as root), ourselves otherwise.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 - <<'EOF'
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
EOF
}

running() {
  [ -f "$DATA/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

psql_admin() {
  as_owner "$BIN/psql" -h "$SOCKETS" -p "$(cat "$PGROOT/port")" -U postgres -d postgres \
    -v ON_ERROR_STOP=1 -qAt "$@"
}

# As root the server runs as `postgres`, which must reach the cluster directory: a checkout
# under a private home (/root/...) is out of its reach, so the cluster then lives under
# /var/lib/postgresql instead (one per checkout).
place_cluster() {
  mkdir -p "$PGROOT"
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$PGROOT"; then
    local home
    home="/var/lib/postgresql/tap-helpdesk-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)"
    mkdir -p "$home"
    chown postgres:postgres "$home"
    DATA="$home/data"
    SOCKETS="$home/run"
  fi
}

start() {
  install_server
  BIN="$(find_bin)"
  place_cluster
  if [ ! -s "$PGROOT/password" ]; then
    python3 -c "import secrets; print(secrets.token_urlsafe(18))" > "$PGROOT/password"
  fi
  chmod 600 "$PGROOT/password"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    log "initialising a cluster in $DATA"
    rm -rf "$DATA"
    mkdir -p "$DATA" "$SOCKETS"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA" "$SOCKETS"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  fi
  mkdir -p "$SOCKETS"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$SOCKETS"
  if ! running; then
    free_port > "$PGROOT/port"
    log "starting PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$(cat "$PGROOT/port")"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$SOCKETS/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $(cat "$PGROOT/port") -k $SOCKETS -c fsync=off" \
      >/dev/null
  fi
  local password
  password="$(cat "$PGROOT/password")"
  psql_admin <<SQL
do \$\$ begin
  if not exists (select from pg_roles where rolname = '$DB_USER') then
    create role $DB_USER login;
  end if;
end \$\$;
alter role $DB_USER password '$password';
SQL
  if [ -z "$(psql_admin -c "select 1 from pg_database where datname = '$DB_NAME'")" ]; then
    psql_admin -c "create database $DB_NAME owner $DB_USER encoding 'UTF8'"
  fi
  echo "export PGHOST=127.0.0.1 PGPORT=$(cat "$PGROOT/port") PGUSER=$DB_USER" \
    "PGPASSWORD=$password PGDATABASE=$DB_NAME"
}

stop() {
  BIN="$(find_bin)" || exit 0
  [ -d "$PGROOT" ] || exit 0
  place_cluster
  if running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    log "stopped"
  fi
}

status() {
  BIN="$(find_bin)" || { echo "not installed"; exit 1; }
  place_cluster
  if running; then
    echo "running on 127.0.0.1:$(cat "$PGROOT/port") (data: $DATA)"
  else
    echo "stopped"
    exit 1
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
