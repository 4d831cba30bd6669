#!/usr/bin/env bash
# The embedded stack: a Tansu broker (memory-only Kafka) and a project-local PostgreSQL cluster.
#   scripts/stack.sh up | down | status | kafka-restart | kafka-crash | kafka-rotate | keeper-start | keeper-stop | pg-crash
# `up` is idempotent; `down` leaves no process behind. When CHORUS_KAFKA_BROKERS or
# CHORUS_DATABASE_URL are set, that external server is used and nothing local is started for it.
# CHORUS_EMBEDDED_DATA, CHORUS_EMBEDDED_KAFKA_PORT and CHORUS_EMBEDDED_PG_PORT run a second, private
# stack beside the usual one (scripts/chaos.sh does, to restart a broker and a database no one else uses).
# kafka-restart: stop the broker and start it again (every topic and offset is lost: memory only).
# With the broker, `up` starts its keeper (scripts/kafka-keeper.py): Tansu keeps every record batch and
# its fetches stall past ~1,800 in one partition, so the keeper restarts it at a drained moment once a
# partition holds CHORUS_KAFKA_KEEPER_ROTATE_AT records (500). CHORUS_KAFKA_KEEPER=off leaves it out.
# kafka-crash: kill -9 of the broker, then start it again (kafka-rotate: the same, for the keeper).
# pg-crash: `pg_ctl stop -m immediate` (a crash: no checkpoint, recovery on start), then start again.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data="${CHORUS_EMBEDDED_DATA:-$root/.data}"
run="$data/run"
logs="$data/logs"
pgdata="$data/postgres"
secrets="$data/secrets"
kafka_port=${CHORUS_EMBEDDED_KAFKA_PORT:-9092}
pg_port=${CHORUS_EMBEDDED_PG_PORT:-5433}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

say() { printf 'stack: %s\n' "$*"; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

# PostgreSQL refuses to run as root: run it as the `postgres` system user then.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_superuser() { if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Runs a command with only descriptors 0-2 open. A long-lived server must not keep its caller's other
# descriptors: a parent that learns of its child's exit from one closing (Foundation's Process does)
# would otherwise wait for the server too.
without_inherited_fds() {
  local fd n
  for fd in /proc/$BASHPID/fd/*; do
    n=${fd##*/}
    if [ "$n" -gt 2 ] && [ -e "/proc/$BASHPID/fd/$n" ]; then eval "exec $n>&-"; fi
  done
  if declare -F "$1" >/dev/null; then "$@"; else exec "$@"; fi
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}

# --- Kafka --------------------------------------------------------------------------------------
kafka_pid() { [ -f "$run/tansu.pid" ] && kill -0 "$(cat "$run/tansu.pid")" 2>/dev/null && cat "$run/tansu.pid"; }

kafka_up() {
  if [ -n "${CHORUS_KAFKA_BROKERS:-}" ]; then say "kafka: external ($CHORUS_KAFKA_BROKERS)"; return; fi
  if kafka_pid >/dev/null; then say "kafka: running (pid $(kafka_pid), 127.0.0.1:$kafka_port)"; return; fi
  port_open "$kafka_port" && die "kafka: port 127.0.0.1:$kafka_port is taken by another process; stop it or set CHORUS_EMBEDDED_KAFKA_PORT"
  [ -x "$root/.deps/bin/tansu" ] || die "kafka: .deps/bin/tansu is missing; run scripts/setup.sh"
  mkdir -p "$run" "$logs"
  # One Tokio worker thread: Tansu's cost per request is mostly threads waking each other; on the
  # 2-core reference machine one worker took 25% less CPU per fetch and gave the pipeline lower
  # latency than the default of one per core (docs/benchmarks.md). CHORUS_EMBEDDED_KAFKA_THREADS changes it.
  (without_inherited_fds nohup env TOKIO_WORKER_THREADS="${CHORUS_EMBEDDED_KAFKA_THREADS:-1}" "$root/.deps/bin/tansu" broker \
    --listener-url "tcp://127.0.0.1:$kafka_port" \
    --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
    --storage-engine memory://tansu/ </dev/null >>"$logs/tansu.log" 2>&1) &
  echo $! > "$run/tansu.pid"
  wait_for 20 kafka port_open "$kafka_port" || die "kafka: broker did not answer on 127.0.0.1:$kafka_port within 20 s (see $logs/tansu.log)"
  say "kafka: started (pid $(cat "$run/tansu.pid"), 127.0.0.1:$kafka_port, memory-only)"
}

kafka_down() {
  local pid; pid=$(kafka_pid) || { rm -f "$run/tansu.pid"; return 0; }
  kill "$pid" 2>/dev/null || true
  wait_for 10 kafka-stop bash -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null || true
  rm -f "$run/tansu.pid"
  say "kafka: stopped"
}

kafka_kill() {
  if pid=$(kafka_pid); then kill -9 "$pid"; wait_for 10 kafka-exit bash -c "! kill -0 $pid 2>/dev/null" || true; fi
  rm -f "$run/tansu.pid"
}

keeper_pid() { [ -f "$run/kafka-keeper.pid" ] && kill -0 "$(cat "$run/kafka-keeper.pid")" 2>/dev/null && cat "$run/kafka-keeper.pid"; }

keeper_up() {
  [ -z "${CHORUS_KAFKA_BROKERS:-}" ] || return 0
  if [ "${CHORUS_KAFKA_KEEPER:-on}" = off ]; then say "kafka-keeper: off (CHORUS_KAFKA_KEEPER=off)"; return; fi
  if keeper_pid >/dev/null; then return; fi
  [ -x "$root/.deps/venv/bin/python" ] || die "kafka-keeper: .deps/venv is missing; run scripts/setup.sh"
  (without_inherited_fds nohup "$root/.deps/venv/bin/python" "$root/scripts/kafka-keeper.py" --port "$kafka_port" --pidfile "$run/tansu.pid" \
    </dev/null >>"$logs/kafka-keeper.log" 2>&1) &
  echo $! > "$run/kafka-keeper.pid"
  say "kafka-keeper: started (pid $(cat "$run/kafka-keeper.pid"), log $logs/kafka-keeper.log)"
}

keeper_down() {
  local pid; pid=$(keeper_pid) || { rm -f "$run/kafka-keeper.pid"; return 0; }
  kill "$pid" 2>/dev/null || true
  wait_for 10 kafka-keeper-stop bash -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null || true
  rm -f "$run/kafka-keeper.pid"
}

# --- PostgreSQL ---------------------------------------------------------------------------------
pg_running() { [ -f "$pgdata/postmaster.pid" ] && as_pg "$pgbin/pg_ctl" -D "$pgdata" status >/dev/null 2>&1; }

pg_psql() { as_pg "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$run" -p "$pg_port" -U "$(pg_superuser)" "$@"; }

pg_up() {
  if [ -n "${CHORUS_DATABASE_URL:-}" ]; then say "postgres: external"; return; fi
  [ -n "$pgbin" ] || die "postgres: no server binaries under /usr/lib/postgresql; run scripts/setup.sh"
  mkdir -p "$run" "$logs" "$secrets"
  chmod 700 "$secrets"
  if [ "$(id -u)" = 0 ]; then chown postgres "$run" "$logs"; fi
  if [ ! -f "$pgdata/PG_VERSION" ]; then
    say "postgres: initdb $pgdata"
    mkdir -p "$pgdata"
    [ "$(id -u)" = 0 ] && chown postgres "$pgdata"
    as_pg "$pgbin/initdb" -D "$pgdata" -U "$(pg_superuser)" -E UTF8 --locale=C \
      --auth-local=peer --auth-host=scram-sha-256 >"$logs/initdb.log" 2>&1 \
      || die "postgres: initdb failed (see $logs/initdb.log)"
    cat >> "$pgdata/postgresql.conf" <<CONF
# --- chorus embedded cluster ---
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$run'
max_connections = 200
shared_buffers = 256MB
log_min_messages = warning
CONF
  fi
  if pg_running; then
    say "postgres: running (127.0.0.1:$pg_port)"
  else
    port_open "$pg_port" && die "postgres: port 127.0.0.1:$pg_port is taken by another process; stop it or set CHORUS_EMBEDDED_PG_PORT"
    (exec </dev/null >/dev/null; without_inherited_fds as_pg "$pgbin/pg_ctl" -D "$pgdata" -l "$logs/postgres.log" -w -t 60 start) \
      || die "postgres: did not start (see $logs/postgres.log)"
    say "postgres: started (127.0.0.1:$pg_port)"
  fi
  # Role and database `chorus`, with a random password kept in a pgpass file (libpq's passfile).
  local pw_file="$secrets/pgpass"
  if [ ! -s "$pw_file" ]; then
    local pw; pw=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    printf '127.0.0.1:%s:*:chorus:%s\n127.0.0.1:%s:*:chorus_billing:%s\n' "$pg_port" "$pw" "$pg_port" "$pw" > "$pw_file.tmp"
    chmod 600 "$pw_file.tmp"; mv "$pw_file.tmp" "$pw_file"
  fi
  local pw; pw=$(head -1 "$pw_file" | cut -d: -f5)
  pg_psql -d postgres -v pw="$pw" <<'SQL'
SELECT format('CREATE ROLE chorus LOGIN PASSWORD %L', :'pw') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chorus') \gexec
SELECT format('ALTER ROLE chorus PASSWORD %L', :'pw') \gexec
SELECT format('CREATE ROLE chorus_billing LOGIN PASSWORD %L', :'pw') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chorus_billing') \gexec
SELECT format('ALTER ROLE chorus_billing PASSWORD %L', :'pw') \gexec
SELECT 'CREATE DATABASE chorus OWNER chorus' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'chorus') \gexec
SQL
}

pg_down() {
  if pg_running; then
    as_pg "$pgbin/pg_ctl" -D "$pgdata" -m fast -w -t 60 stop >/dev/null
    say "postgres: stopped"
  fi
}

# --- commands -----------------------------------------------------------------------------------
status() {
  local ok=0
  if [ -n "${CHORUS_KAFKA_BROKERS:-}" ]; then say "kafka: external ($CHORUS_KAFKA_BROKERS)"
  elif kafka_pid >/dev/null; then say "kafka: up (pid $(kafka_pid), 127.0.0.1:$kafka_port)"
  else say "kafka: down"; ok=1; fi
  if pid=$(keeper_pid); then say "kafka-keeper: up (pid $pid, $(grep -c 'rotation .* done' "$logs/kafka-keeper.log" 2>/dev/null || true) rotations logged)"; fi
  if [ -n "${CHORUS_DATABASE_URL:-}" ]; then say "postgres: external"
  elif pg_running; then say "postgres: up (127.0.0.1:$pg_port, data $pgdata)"
  else say "postgres: down"; ok=1; fi
  return $ok
}

case "${1:-}" in
  up) kafka_up; keeper_up; pg_up ;;
  down) keeper_down; kafka_down; pg_down ;;
  status) status ;;
  kafka-restart) kafka_down; kafka_up ;;
  kafka-crash) kafka_kill; say "kafka: crashed (kill -9)"; kafka_up ;;
  # The keeper's restart: memory only, so there is nothing to flush, and Tansu takes ~6 s to exit on SIGTERM.
  kafka-rotate) kafka_kill; say "kafka: emptied (kill -9)"; kafka_up ;;
  keeper-start) CHORUS_KAFKA_KEEPER=on keeper_up ;;  # even where CHORUS_KAFKA_KEEPER=off (scripts/chaos.sh)
  keeper-stop) keeper_down ;;
  pg-crash)
    as_pg "$pgbin/pg_ctl" -D "$pgdata" -m immediate -w -t 60 stop >/dev/null || true
    say "postgres: crashed (stop -m immediate)"
    pg_up ;;
  *) echo "usage: scripts/stack.sh up|down|status|kafka-restart|kafka-crash|kafka-rotate|keeper-start|keeper-stop|pg-crash" >&2; exit 2 ;;
esac
