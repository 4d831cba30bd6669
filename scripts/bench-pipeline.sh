#!/usr/bin/env bash
# `make bench`: pipeline overhead and throughput, side by side with LiteLLM (issue #8).
#
# One run, one machine: the provider simulator (fixed latency ± jitter), the six services (release
# build, a private topic namespace and catalog, like Tests/PipelineTests/PipelineHarness.swift), LiteLLM
# in front of the same simulator, and `bench-pipeline`, an open-loop load generator (requests sent on
# schedule whatever the answers do; latency from each request's due time to its answer).
#
# Scenarios: litellm, single-http, single-kafka (one model per request) at BENCH_RATES, then fusion
# (pool of 3 + judge, best-of) at rising BENCH_FUSION_RATES until a rate is not sustained.
# Overhead = end to end minus the model critical path (slowest pool call + judge call, from the stored
# trail's responses.latency_ms); LiteLLM keeps no such trail, so its model time is the simulator's own
# (the x-simulator-elapsed-ms header, which LiteLLM passes on as llm_provider-x-simulator-elapsed-ms).
#
# Writes bench-results/pipeline.json, prints a table, appends a dated section to docs/benchmarks.md.
# Settings (environment):
#   BENCH_SCENARIOS      default "litellm single-http single-kafka fusion"
#   BENCH_RATES          default "50 100 200 500"        (req/s, the single-model scenarios)
#   BENCH_FUSION_RATES   default "10 25 50 100 200 300 500 750" (req/s, stops at the first unsustained one)
#   BENCH_DURATION       default 10s per rate; BENCH_MAX_REQUESTS default 100000 per rate
#   BENCH_LATENCY / BENCH_JITTER   default 100ms / 10ms
#   BENCH_SMOKE=1        2 s per rate, one rate each, no docs/benchmarks.md row (well under a minute of load)
#   BENCH_SCRATCH        SwiftPM scratch path (default .build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CHORUS_HOME="$root"
export PKG_CONFIG_PATH="$root/.deps/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

scenarios=${BENCH_SCENARIOS:-litellm single-http single-kafka fusion}
rates=${BENCH_RATES:-50 100 200 500}
fusion_rates=${BENCH_FUSION_RATES:-10 25 50 100 200 300 500 750}
duration=${BENCH_DURATION:-10s}
max_requests=${BENCH_MAX_REQUESTS:-100000}
latency=${BENCH_LATENCY:-100ms}
jitter=${BENCH_JITTER:-10ms}
if [ "${BENCH_SMOKE:-}" = 1 ]; then
  duration=${BENCH_DURATION:-2s}; rates=${BENCH_RATES:-100}; fusion_rates=${BENCH_FUSION_RATES:-50}
fi
scratch=${BENCH_SCRATCH:-.build}
bin="$root/$scratch/release"
venv="$root/.deps/bench-venv"
work="$root/bench-results/pipeline-run"
run_id="bench-$(date +%s)"
namespace=""
namespaces=()
services=(ingest dispatcher provider-worker gpu-inference judge billing)
export PGPASSFILE=${PGPASSFILE:-$root/.data/secrets/pgpass}
database_url=${CHORUS_DATABASE_URL:-postgresql://chorus@127.0.0.1:5433/chorus}

say() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
psql_chorus() { psql "$database_url" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# --- Build and start ------------------------------------------------------------------------------
uptime_at_start=$(uptime)
say "building (release)"
swift build -c release --scratch-path "$scratch" >"$root/bench-results.build.log" 2>&1 \
  || { tail -30 "$root/bench-results.build.log" >&2; die "the release build failed (bench-results.build.log)"; }
rm -f "$root/bench-results.build.log"
rm -rf "$work"; mkdir -p "$work"
# The embedded stack, unless it runs already (or external servers are configured).
if ! (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null && [ -z "${CHORUS_KAFKA_BROKERS:-}" ]; then
  scripts/stack.sh up && "$bin/chorus" init
fi

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done; kill -9 "$pid" 2>/dev/null || true; done
  # The embedded broker keeps topics in memory: a run's namespace would stay there for good (~50 MB each).
  delete_topics "${namespaces[@]}"
}
delete_topics() { # delete_topics NAMESPACE...: the embedded broker keeps every topic in memory
  [ $# -gt 0 ] || return 0
  "$root/.deps/venv/bin/python" - "$@" <<'PY' 2>/dev/null || say "could not delete the run's topics ($*)"
import sys
from confluent_kafka.admin import AdminClient
admin = AdminClient({"bootstrap.servers": "127.0.0.1:9092"})
topics = [t for t in admin.list_topics(timeout=10).topics if any(t.startswith(n + ".") for n in sys.argv[1:])]
for future in (admin.delete_topics(topics, operation_timeout=10) if topics else {}).values():
    future.result()
PY
}
trap cleanup EXIT

sim_port=$(free_port)
setsid "$bin/provider-simulator" --port "$sim_port" --latency "$latency" --jitter "$jitter" >"$work/simulator.log" 2>&1 &
pids+=($!); sim_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$sim_port/_sim/health" >/dev/null && break; sleep 0.1; done
# The judge answers with a verdict the judge stage accepts, so fusion takes its normal path.
curl -sf -X POST "http://127.0.0.1:$sim_port/_sim/models/sim-judge" \
  -d '{"content": "{\"winner\": \"A\", \"reason\": \"A is correct and complete.\"}"}' >/dev/null

cat >"$work/models.yaml" <<YAML
providers:
  sim: {kind: openai, base_url: "http://127.0.0.1:$sim_port/v1", timeout: 10s, max_retries: 2}
models:
  sim-a: {providers: [{provider: sim, upstream: sim-a, price: {input: "1", output: "2"}}]}
  sim-b: {providers: [{provider: sim, upstream: sim-b, price: {input: "1", output: "2"}}]}
  sim-c: {providers: [{provider: sim, upstream: sim-c, price: {input: "1", output: "2"}}]}
  sim-judge: {providers: [{provider: sim, upstream: sim-judge, price: {input: "1", output: "2"}}]}
presets:
  bench: {pool: [sim-a, sim-b, sim-c], judge: sim-judge, mode: best-of}
default_preset: bench
YAML

declare -A pid_of
declare -A metrics_port
# start_services TAG: the six services in a fresh topic namespace (the previous ones stopped, their topics
# deleted). Every rate runs on fresh topics: Tansu's fetch cost grows with the record batches a
# partition retains (docs/benchmarks.md), so a rate measured on the topics of the rates before it
# would measure that history, not the rate.
start_services() {
  local old=$namespace
  for service in "${!pid_of[@]}"; do kill -TERM "${pid_of[$service]}" 2>/dev/null || true; done
  for service in "${!pid_of[@]}"; do
    for _ in $(seq 1 100); do kill -0 "${pid_of[$service]}" 2>/dev/null || break; sleep 0.1; done
    kill -9 "${pid_of[$service]}" 2>/dev/null || true
  done
  [ -z "$old" ] || delete_topics "$old"
  namespace="$run_id-$1"; namespaces+=("$namespace")
  for service in "${services[@]}"; do
    CHORUS_CATALOG_PATH="$work/models.yaml" CHORUS_KAFKA_NAMESPACE="$namespace" CHORUS_HTTP_PORT=0 CHORUS_METRICS_PORT=0 \
    CHORUS_HTTP_RATE_LIMIT=1000000 CHORUS_HTTP_BURST=1000000 \
      setsid "$bin/$service" >"$work/$service.log" 2>&1 &
    pids+=($!); pid_of[$service]=$!
  done
  local deadline=$((SECONDS + 120))
  for service in "${services[@]}"; do
    until grep -q "partitions assigned" "$work/$service.log"; do
      kill -0 "${pid_of[$service]}" 2>/dev/null || die "$service exited: $(tail -5 "$work/$service.log")"
      [ $SECONDS -lt $deadline ] || die "$service got no partitions within 120 s"
      sleep 0.2
    done
  done
  http_port=$(grep -o 'http\.port=[0-9]*' "$work/ingest.log" | head -1 | cut -d= -f2)
  metrics_port[ingest]=$http_port
  for service in "${services[@]:1}"; do
    metrics_port[$service]=$(grep -o 'metrics\.port=[0-9]*' "$work/$service.log" | head -1 | cut -d= -f2)
  done
  # Warm-up, unmeasured: the first requests of a fresh namespace pay for topic metadata and connections.
  [ -n "${api_key:-}" ] || return 0
  BENCH_API_KEY=$api_key "$bin/bench-pipeline" http --url "http://127.0.0.1:$http_port/v1/chat/completions" --model sim-a \
    --rate 10 --duration 1s --label warmup >"$work/warmup-http.out" 2>&1 || true
  "$bin/bench-pipeline" kafka --namespace "$namespace" --project "$project" --pool sim-a,sim-b,sim-c --judge sim-judge \
    --rate 10 --duration 1s --label warmup >"$work/warmup-kafka.out" 2>&1 || true
  say "services up in $namespace; warm-up: $(grep -h -o '"answered":[0-9]*,' "$work"/warmup-*.out | tr -d '\n') of 10 each"
}
start_services setup
project=bench
"$bin/chorus" project create "$project" >/dev/null 2>&1 || true
api_key=$("$bin/chorus" keys create --project "$project" --label bench | tail -1)
[ -n "$api_key" ] || die "no API key"

# --- LiteLLM --------------------------------------------------------------------------------------
litellm_pgid=""
litellm_mode=""
start_litellm() {
  "$venv/bin/python" -c "import litellm" 2>/dev/null || die "LiteLLM is missing: python3 -m venv .deps/bench-venv && .deps/bench-venv/bin/pip install -r scripts/requirements-bench.txt"
  litellm_port=$(free_port)
  cat >"$work/litellm.yaml" <<YAML
model_list:
  - model_name: sim-a
    litellm_params: {model: openai/sim-a, api_base: "http://127.0.0.1:$sim_port/v1", api_key: bench}
general_settings:
  master_key: sk-bench
litellm_settings:
  drop_params: true
YAML
  local database
  database=$(scripts/bench-litellm-db.sh 2>"$work/litellm-db.log") || database=""
  # As its users run it: spend logs on PostgreSQL (that needs Prisma's engines, which Prisma downloads
  # on first use). Where that cannot work, LiteLLM runs without a database, and the report says so.
  if [ -n "$database" ] && launch_litellm "$database" 180; then litellm_mode="spend logs on PostgreSQL"; return; fi
  [ -z "$database" ] || { cp "$work/litellm.log" "$work/litellm-with-database.log"; say "LiteLLM did not start with its database (see litellm-with-database.log); running it without one"; }
  launch_litellm "" 120 || { tail -20 "$work/litellm.log" >&2; die "LiteLLM did not start"; }
  litellm_mode="no database (spend logging off: $(head -c 300 "$work/litellm-db.log" 2>/dev/null; grep -m1 -o -i 'prisma[^"]*' "$work/litellm-with-database.log" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' | head -c 200))"
}

launch_litellm() { # launch_litellm DATABASE_URL SECONDS: starts LiteLLM, true once it answers
  local database=$1 limit=$2
  # exec all the way down: $! is LiteLLM's pid and process group.
  (cd "$work" && exec env ${database:+DATABASE_URL=$database} LITELLM_LOG=ERROR LITELLM_LOCAL_MODEL_COST_MAP=True setsid "$venv/bin/python" "$venv/bin/litellm" --config "$work/litellm.yaml" \
     --host 127.0.0.1 --port "$litellm_port" >"$work/litellm.log" 2>&1) &
  pids+=($!); litellm_pgid=$!
  local deadline=$((SECONDS + limit))
  while [ $SECONDS -lt $deadline ]; do
    curl -sf "http://127.0.0.1:$litellm_port/health/liveliness" >/dev/null 2>&1 && return 0
    kill -0 "$litellm_pgid" 2>/dev/null || { litellm_pgid=""; return 1; }
    sleep 0.5
  done
  kill -9 -- "-$litellm_pgid" 2>/dev/null || true; litellm_pgid=""
  return 1
}

# --- Measuring ------------------------------------------------------------------------------------
process_groups() {
  # Read at each snapshot: the broker's keeper may restart it (new pid) during a run.
  local tansu_pid; tansu_pid=$(cat "$root/.data/run/tansu.pid" 2>/dev/null || echo 0)
  for service in "${services[@]}"; do echo "$service ${pid_of[$service]}"; done
  echo "provider-simulator $sim_pid"
  [ -n "$litellm_pgid" ] && echo "litellm $litellm_pgid"
  echo "tansu(shared) pid:$tansu_pid"
}
# snapshot FILE: per process group, CPU seconds (user + system) and resident kB; PostgreSQL by name.
snapshot() { process_groups | python3 scripts/bench-pipeline-report.py --snapshot >"$1"; }
lag_sampler() { # lag_sampler FILE: the largest summed chorus_consumer_lag per service, sampled every second
  while true; do
    for service in "${services[@]}"; do
      curl -s -m 1 "http://127.0.0.1:${metrics_port[$service]}/metrics" 2>/dev/null \
        | awk -v s="$service" '/^chorus_consumer_lag\{/ { l += $NF } END { print s, l + 0 }'
    done >>"$1"
    sleep 1
  done
}

scrape_metrics() { # scrape_metrics PREFIX: every service's /metrics into PREFIX.SERVICE.prom
  for service in "${services[@]}"; do
    curl -s -m 2 "http://127.0.0.1:${metrics_port[$service]}/metrics" >"$1.$service.prom" 2>/dev/null || true
  done
}

wait_idle() { # the pipeline has no request in flight (or 90 s passed): each rate starts from an empty pipeline
  local deadline=$((SECONDS + 90)) pending lag quiet=0
  while [ $SECONDS -lt $deadline ]; do
    pending=$(psql_chorus -c "SELECT count(*) FROM open_requests o JOIN requests r ON r.id = o.request_id
                              WHERE o.namespace = '$namespace' AND r.deadline_at > now()" 2>/dev/null || echo 0)
    # Requests not yet taken in by ingest. (Not the judge's lag: it commits a request's events only once
    # the request is answered, and has been seen to keep some uncommitted for good.)
    lag=$(curl -s -m 1 "http://127.0.0.1:${metrics_port[ingest]}/metrics" 2>/dev/null \
          | awk '/^chorus_consumer_lag\{/ { l += $NF } END { print l + 0 }')
    if [ "$pending" = 0 ] && [ "$lag" = 0 ]; then quiet=$((quiet + 1)); [ $quiet -ge 2 ] && return 0; else quiet=0; fi
    sleep 1
  done
  say "the pipeline was still busy after 90 s ($pending requests pending, lag $lag)"
}

run_load() { # run_load SCENARIO RATE ARGS...: one rate of one scenario
  local scenario=$1 rate=$2; shift 2
  local tag="$scenario-$rate" started ended
  [ "$scenario" = litellm ] || wait_idle
  scrape_metrics "$work/$tag.before"; snapshot "$work/$tag.before"; started=$(date +%s.%N)
  lag_sampler "$work/$tag.lag" & local sampler=$!
  "$bin/bench-pipeline" "$@" --rate "$rate" --duration "$duration" --max-requests "$max_requests" \
    --label "$tag" --records "$work/$tag.records" >"$work/$tag.summary" 2>"$work/$tag.err" \
    || { kill "$sampler"; wait "$sampler" 2>/dev/null; cat "$work/$tag.err" >&2; die "bench-pipeline failed ($tag)"; }
  ended=$(date +%s.%N); kill "$sampler"; wait "$sampler" 2>/dev/null || true
  snapshot "$work/$tag.after"; scrape_metrics "$work/$tag.after"; echo "$started $ended" >"$work/$tag.window"
  say "$tag: $(cat "$work/$tag.summary")"
}

# An overloaded system keeps working off its backlog after the load stops: higher rates would measure
# that backlog, not the rate. A ladder stops at its first unsustained rate.
sustained_or_stop() {
  grep -q '"sustained":true' "$work/$1-$2.summary" && return 0
  say "$1 did not sustain $2 req/s: its higher rates are skipped"; return 1
}

for scenario in $scenarios; do
  case "$scenario" in
    litellm)
      start_litellm
      BENCH_API_KEY=sk-bench "$bin/bench-pipeline" http --url "http://127.0.0.1:$litellm_port/v1/chat/completions" --model sim-a \
        --rate 10 --duration 1s --label warmup >"$work/warmup-litellm.out" 2>&1 || true
      for rate in $rates; do
        BENCH_API_KEY=sk-bench run_load litellm "$rate" http --url "http://127.0.0.1:$litellm_port/v1/chat/completions" --model sim-a
                sustained_or_stop litellm "$rate" || break
      done
      # LiteLLM stops here so that it costs the other scenarios nothing.
      kill -TERM -- "-$litellm_pgid" 2>/dev/null || true; sleep 2; kill -9 -- "-$litellm_pgid" 2>/dev/null || true ;;
    single-http)
      for rate in $rates; do
        start_services "single-http-$rate"
        BENCH_API_KEY=$api_key run_load single-http "$rate" http --url "http://127.0.0.1:$http_port/v1/chat/completions" --model sim-a
        sustained_or_stop single-http "$rate" || break
      done ;;
    single-kafka)
      for rate in $rates; do
        start_services "single-kafka-$rate"
        run_load single-kafka "$rate" kafka --namespace "$namespace" --project "$project" --pool sim-a
        sustained_or_stop single-kafka "$rate" || break
      done ;;
    fusion)
      for rate in $fusion_rates; do
        start_services "fusion-$rate"
        run_load fusion "$rate" kafka --namespace "$namespace" --project "$project" --pool sim-a,sim-b,sim-c --judge sim-judge
        grep -q '"sustained":true' "$work/fusion-$rate.summary" || break
      done ;;
    *) die "unknown scenario $scenario" ;;
  esac
done

# --- Report ---------------------------------------------------------------------------------------
# Model critical path per request from the trail: the slowest pool call plus the judge call(s).
for summary in "$work"/*.summary; do
  tag=$(basename "$summary" .summary)
  case "$tag" in litellm-*) continue ;; esac
  psql_chorus >"$work/$tag.critical" <<SQL
CREATE TEMP TABLE run (id text, e2e double precision, model double precision);
\copy run FROM '$work/$tag.records' (FORMAT text, NULL '')
SELECT run.id, run.e2e, max(r.latency_ms) FILTER (WHERE c.role = 'pool') + coalesce(sum(r.latency_ms) FILTER (WHERE c.role = 'judge'), 0)
FROM run JOIN responses r ON r.request_id = run.id JOIN calls c ON c.id = r.call_id
GROUP BY run.id, run.e2e;
SQL
done

{ echo "start: $uptime_at_start"; echo "end: $(uptime)"; } >"$work/uptime"
BENCH_LITELLM_MODE="$litellm_mode" BENCH_LATENCY="$latency" BENCH_JITTER="$jitter" BENCH_DURATION="$duration" \
  python3 scripts/bench-pipeline-report.py "$work" "$root/bench-results/pipeline.json" \
  $([ "${BENCH_SMOKE:-}" = 1 ] || echo "$root/docs/benchmarks.md")
