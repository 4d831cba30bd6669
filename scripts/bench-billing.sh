#!/usr/bin/env bash
# Benchmark: billing.daily_spend for one project over 30 days with 1,000,000 rows in the ledger.
# Fills a throwaway project (10 projects × 100,000 rows over 30 days), times the query (median of
# 21 runs, server-side execution time from EXPLAIN ANALYZE), writes bench-results/billing.json,
# and removes the rows again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
url=${CHORUS_DATABASE_URL:-postgresql://chorus@127.0.0.1:5433/chorus}
export PGPASSFILE=${PGPASSFILE:-$root/.data/secrets/pgpass}
run=bench$(date +%s)
q() { psql "$url" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

echo "bench-billing: inserting 1,000,000 usage rows (10 projects over 30 days)"
q <<SQL
INSERT INTO projects (id) SELECT '$run-' || p FROM generate_series(0, 9) p;
INSERT INTO usage_events (event_id, request_id, project_id, call_id, role, round, model, provider, prompt_tokens,
                          completion_tokens, cached_prompt_tokens, device_nanos, billable, occurred_at, cost_usd)
SELECT '$run-' || n, '$run-r' || (n / 3), '$run-' || (n % 10), '$run-c' || n, 'pool', 0,
       (ARRAY['gpt-4o-mini','claude-haiku','gemini-flash','smollm2-135m'])[1 + (n / 10) % 4],
       (ARRAY['openai','anthropic','gemini','local'])[1 + (n / 10) % 4],
       200 + n % 500, 50 + n % 200, 0, ((n / 10) % 4 = 3)::int * 40000000, true,
       now() - ((n / 40) % 30) * interval '1 day' - (n % 3600) * interval '1 second', (n % 1000) * 0.000000150
FROM generate_series(1, 1000000) n;
-- The rollup billing keeps as it records usage (here built in one pass for the generated rows).
INSERT INTO usage_daily (day, project_id, model, provider, calls, input_tokens, output_tokens, device_nanos, cost_usd)
SELECT (occurred_at AT TIME ZONE 'UTC')::date, project_id, model, provider, count(*), sum(prompt_tokens),
       sum(completion_tokens), sum(device_nanos), sum(cost_usd)
FROM usage_events WHERE event_id LIKE '$run-%' GROUP BY 1, 2, 3, 4
ON CONFLICT (project_id, day, model, provider) DO UPDATE SET calls = usage_daily.calls + excluded.calls,
    input_tokens = usage_daily.input_tokens + excluded.input_tokens, output_tokens = usage_daily.output_tokens + excluded.output_tokens,
    device_nanos = usage_daily.device_nanos + excluded.device_nanos, cost_usd = usage_daily.cost_usd + excluded.cost_usd;
ANALYZE usage_events;
ANALYZE usage_daily;
SQL

query="SELECT day, model, provider, calls, input_tokens, output_tokens, gpu_seconds, cost_usd FROM billing.daily_spend WHERE project = '$run-3' AND day >= (now() AT TIME ZONE 'UTC')::date - 30"
times=()
for i in $(seq 1 21); do
  t=$(q -c "EXPLAIN (ANALYZE, FORMAT JSON) $query" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Execution Time"])')
  times+=("$t")
done
# The same answer computed from the ledger itself, without the rollup: the "before".
raw="SELECT (occurred_at AT TIME ZONE 'UTC')::date AS day, model, provider, count(*), sum(prompt_tokens), sum(completion_tokens), sum(device_nanos), sum(cost_usd) FROM usage_events WHERE billable AND project_id = '$run-3' AND (occurred_at AT TIME ZONE 'UTC')::date >= (now() AT TIME ZONE 'UTC')::date - 30 GROUP BY 1, 2, 3"
raw_times=()
for i in $(seq 1 7); do
  t=$(q -c "EXPLAIN (ANALYZE, FORMAT JSON) $raw" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Execution Time"])')
  raw_times+=("$t")
done
raw_median=$(printf '%s\n' "${raw_times[@]}" | sort -n | sed -n 4p)
rows=$(q -c "SELECT count(*) FROM ($query) s")
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 11p)
total=$(q -c "SELECT count(*) FROM usage_events")
echo "bench-billing: daily_spend, one project, 30 days: median ${median} ms over 21 runs ($rows result rows, $total rows in the ledger)"
echo "bench-billing: the same aggregation from the ledger without the rollup: median ${raw_median} ms over 7 runs"
mkdir -p bench-results
cat > bench-results/billing.json <<JSON
{"daily_spend_one_project_30_days_ms_p50": $median, "ledger_aggregation_without_rollup_ms_p50": $raw_median, "ledger_rows": $total, "result_rows": $rows, "runs": 21,
 "machine": "$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(. /etc/os-release; echo "$PRETTY_NAME")", "date": "$(date -u +%Y-%m-%d)"}
JSON
q <<SQL
DELETE FROM usage_events WHERE event_id LIKE '$run-%';
DELETE FROM usage_daily WHERE project_id LIKE '$run-%';
DELETE FROM projects WHERE id LIKE '$run-%';
SQL
echo "bench-billing: wrote bench-results/billing.json"
