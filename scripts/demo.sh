#!/usr/bin/env bash
# The main job on the embedded default: six services, one prompt in each fusion mode with real
# local models, the fused answers with their candidates, then a billing query.
# Run through `make demo`, which sets up, builds and starts the stack first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

echo "== starting the six services"
scripts/services.sh start
# Ready when every consumer has its partitions (group join takes ~3 s on the embedded broker).
for service in ingest dispatcher provider-worker gpu-inference judge billing; do
  for _ in $(seq 1 300); do
    grep -q "partitions assigned" ".data/logs/$service.log" 2>/dev/null && break
    if ! scripts/services.sh status | grep -q "$service: up"; then
      echo "demo: error: $service stopped; its log says:" >&2; tail -n 5 ".data/logs/$service.log" >&2; exit 1
    fi
    sleep 0.1
  done
done

ask() {
  echo
  echo "== $1: $2"
  bin/chorus ask "$2" --mode "$1" --max-tokens 48 --temperature 0 || true
}
ask best-of "What is the capital of France?"
ask merge "Name the three primary colors."
ask debate "Is 17 a prime number? Answer yes or no."
ask vote "What is 2 + 2? Answer with a number."

echo
echo "== who spent what (SQL over the usage ledger and the answers)"
url=${CHORUS_DATABASE_URL:-postgresql://chorus@127.0.0.1:5433/chorus}
export PGPASSFILE=${PGPASSFILE:-$root/.data/secrets/pgpass}
psql "$url" -X -q -P pager=off <<'SQL'
SELECT u.project_id AS project, u.model, u.provider, count(*) AS calls,
       sum(u.prompt_tokens) AS prompt_tokens, sum(u.completion_tokens) AS completion_tokens,
       round(sum(u.device_nanos) / 1e9, 3) AS device_seconds
FROM usage_events u GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
SELECT a.payload->>'mode' AS mode, count(*) AS answers, sum((a.payload->>'cost_usd')::numeric) AS cost_usd
FROM answers a WHERE a.status <> 'rejected' GROUP BY 1 ORDER BY 1;
SQL
echo
echo "The services keep running: try bin/chorus ask \"...\" --mode vote, bin/chorus tail, bin/chorus request show ID."
echo "make down stops everything."
