#!/usr/bin/env bash
# Creates (once) the `litellm` role and database in the embedded PostgreSQL cluster, for LiteLLM's spend
# logs in `make bench`, and prints its URL. The password is generated once into .data/secrets.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secret="$root/.data/secrets/litellm-password"
pg_port=${CHORUS_EMBEDDED_PG_PORT:-5433}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -z "${CHORUS_DATABASE_URL:-}" ] || { echo "bench: an external database is configured; LiteLLM runs without one" >&2; exit 1; }
if [ ! -s "$secret" ]; then (umask 077; python3 -c 'import secrets; print(secrets.token_hex(16))' >"$secret"); fi
password=$(cat "$secret")
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
superuser=$([ "$(id -u)" = 0 ] && echo postgres || id -un)
sql() { as_pg "$pgbin/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$root/.data/run" -p "$pg_port" -U "$superuser" -d postgres "$@"; }
if [ "$(sql -c "SELECT count(*) FROM pg_roles WHERE rolname = 'litellm'")" = 0 ]; then
  sql -c "CREATE ROLE litellm LOGIN PASSWORD '$password'"
else
  sql -c "ALTER ROLE litellm PASSWORD '$password'"
fi
if [ "$(sql -c "SELECT count(*) FROM pg_database WHERE datname = 'litellm'")" = 0 ]; then
  sql -c "CREATE DATABASE litellm OWNER litellm"
fi
echo "postgresql://litellm:$password@127.0.0.1:$pg_port/litellm"
