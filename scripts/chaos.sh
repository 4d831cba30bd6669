#!/usr/bin/env bash
# The fault suite (`make chaos`; `--short` runs a few scenarios, as `make test` does).
#   scripts/chaos.sh [--short]
# It restarts a broker and crashes a database, so it runs on a PRIVATE stack: its own Tansu and
# PostgreSQL cluster (data under .data/chaos, ports 19092 and 15433 unless CHORUS_CHAOS_KAFKA_PORT /
# CHORUS_CHAOS_PG_PORT say otherwise), started here and stopped on exit. The shared stack is never touched.
# Expects the tests built (`swift build --build-tests`); SWIFT_SCRATCH_PATH names a scratch path other than .build.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mode=full
[ "${1:-}" = --short ] && mode=short
scratch=${SWIFT_SCRATCH_PATH:-$root/.build}
kafka_port=${CHORUS_CHAOS_KAFKA_PORT:-19092}
pg_port=${CHORUS_CHAOS_PG_PORT:-15433}

export CHORUS_HOME=$root
export CHORUS_EMBEDDED_DATA=$root/.data/chaos CHORUS_EMBEDDED_KAFKA_PORT=$kafka_port CHORUS_EMBEDDED_PG_PORT=$pg_port
# No broker keeper during the faults; the keeper's own test starts one (`keeper-start`) with low marks,
# so a few hundred requests take it through both kinds of rotation.
export CHORUS_KAFKA_KEEPER=off CHORUS_KAFKA_KEEPER_ROTATE_AT=60 CHORUS_KAFKA_KEEPER_FORCE_AT=150 CHORUS_KAFKA_KEEPER_INTERVAL=0.5
stack() { env -u CHORUS_KAFKA_BROKERS -u CHORUS_DATABASE_URL "$root/scripts/stack.sh" "$@"; }
# A fresh cluster every run: nothing from an earlier run (or an older schema) leaks into this one.
stack down >/dev/null 2>&1 || true
rm -rf "$CHORUS_EMBEDDED_DATA"
stack up >/dev/null
trap 'stack down >/dev/null' EXIT

export CHORUS_KAFKA_BROKERS=127.0.0.1:$kafka_port
export CHORUS_DATABASE_URL=postgresql://chorus@127.0.0.1:$pg_port/chorus
export CHORUS_DATABASE_PASSWORD_FILE=$CHORUS_EMBEDDED_DATA/secrets/pgpass
export CHORUS_TEST_DATABASE_URL="$CHORUS_DATABASE_URL?passfile=$CHORUS_DATABASE_PASSWORD_FILE"
export CHORUS_CHAOS=$mode
"$scratch/debug/chorus" init >/dev/null

# The tests ask for broker and database faults through files in this folder (`<id>.cmd` holding a
# stack.sh command; answered by `<id>.done` holding its exit status). Run from here, the restarted
# servers are this script's children, not the test process's.
control=$(mktemp -d)
export CHORUS_CHAOS_CONTROL=$control
(
  while true; do
    for cmd in "$control"/*.cmd; do
      [ -e "$cmd" ] || continue
      status=0
      stack "$(cat "$cmd")" >>"$control/stack.log" 2>&1 || status=$?
      echo "$status" > "${cmd%.cmd}.done.tmp"; mv "${cmd%.cmd}.done.tmp" "${cmd%.cmd}.done"; rm -f "$cmd"
    done
    sleep 0.1
  done
) &
controller=$!
trap 'kill $controller 2>/dev/null; rm -rf "$control"; stack down >/dev/null' EXIT

cd "$root"
swift test --scratch-path "$scratch" --skip-build --filter ChaosTests
