#!/usr/bin/env bash
# Runs the six Chorus services of the embedded default as background processes.
#   scripts/services.sh start [SERVICE...] | stop [SERVICE...] | status | restart SERVICE | kill SERVICE
# Logs go to .data/logs/<service>.log, pids to .data/run/<service>.pid. `stop` sends SIGTERM
# (graceful: stop consuming, finish in-flight work, commit) and waits; `kill` sends SIGKILL.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
run="$root/.data/run"
logs="$root/.data/logs"
configuration=${CHORUS_BUILD_CONFIGURATION:-debug}
bin="$root/.build/$configuration"
all=(ingest dispatcher provider-worker gpu-inference judge billing)
export CHORUS_HOME="${CHORUS_HOME:-$root}"

say() { printf 'services: %s\n' "$*"; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

pid_of() { local f="$run/$1.pid"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; }

start_one() {
  local name=$1
  if pid_of "$name" >/dev/null; then say "$name: running (pid $(pid_of "$name"))"; return; fi
  [ -x "$bin/$name" ] || die "$name: $bin/$name is missing; run make build"
  mkdir -p "$run" "$logs"
  nohup "$bin/$name" >>"$logs/$name.log" 2>&1 &
  echo $! > "$run/$name.pid"
  say "$name: started (pid $!, log .data/logs/$name.log)"
}

stop_one() {
  local name=$1 signal=${2:-TERM} pid
  pid=$(pid_of "$name") || { rm -f "$run/$name.pid"; return 0; }
  kill -"$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; say "$name: did not stop in 15 s; killed"; fi
  rm -f "$run/$name.pid"
  say "$name: stopped"
}

command=${1:-}; shift || true
names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${all[@]}")
case "$command" in
  start) for n in "${names[@]}"; do start_one "$n"; done ;;
  stop) for n in "${names[@]}"; do stop_one "$n"; done ;;
  kill) for n in "${names[@]}"; do stop_one "$n" KILL; done ;;
  restart) for n in "${names[@]}"; do stop_one "$n"; start_one "$n"; done ;;
  status)
    for n in "${all[@]}"; do
      if p=$(pid_of "$n"); then say "$n: up (pid $p)"; else say "$n: down"; fi
    done ;;
  *) echo "usage: scripts/services.sh start|stop|kill|restart|status [SERVICE...]" >&2; exit 2 ;;
esac
