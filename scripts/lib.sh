# shellcheck shell=bash
# Helpers shared by scripts/demo.sh and bench/run.sh: free ports, child processes, bounded waits,
# config templates and the cutover binary. Source it; it defines functions and CHILD_PIDS only.

CHILD_PIDS=()

# free_ports N: print N distinct free TCP ports on 127.0.0.1, one a line. All N sockets are held
# open until the last is bound, so the ports differ; the kernel then hands them to us or a racer.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

# The access log lines of bench/config's proxy configs, off (bench/run.sh's stage accesslog turns
# them on): pass "${BENCH_ACCESS_LOG_OFF[@]}" when rendering cutover.yaml, haproxy.cfg or
# nginx-proxy.conf.
# shellcheck disable=SC2034  # used by bench/run.sh and bench/profile.sh
BENCH_ACCESS_LOG_OFF=(CUTOVER_ACCESS_LOG="" HAPROXY_LOG="" HAPROXY_LOG_GLOBAL="" HAPROXY_LOG_FORMAT=""
                      NGINX_ACCESS_LOG="access_log off;")

# render TEMPLATE OUT KEY=VALUE...: copy TEMPLATE to OUT replacing every @KEY@ with VALUE.
render() {
  local tmpl=$1 out=$2 expr=() kv key val
  shift 2
  for kv in "$@"; do
    key=${kv%%=*}
    val=${kv#*=}
    val=${val//\\/\\\\}; val=${val//|/\\|}; val=${val//&/\\&}
    expr+=(-e "s|@${key}@|${val}|g")
  done
  sed "${expr[@]}" "$tmpl" > "$out"
  if grep -q '@[A-Z_]*@' "$out"; then
    echo "render: unfilled placeholder in $out: $(grep -o '@[A-Z_]*@' "$out" | head -n 1)" >&2
    return 1
  fi
}

# spawn LOG CMD...: start CMD in the background with stdout+stderr to LOG; remember its pid.
# The pid is in SPAWNED_PID afterwards.
spawn() {
  local log=$1
  shift
  : > "$log"   # exists before the child runs, so callers may read it at once
  "$@" > "$log" 2>&1 &
  SPAWNED_PID=$!
  CHILD_PIDS+=("$SPAWNED_PID")
}

# stop_pid PID: SIGTERM, wait up to 5 s, then SIGKILL. Only for pids we started. Never fails.
stop_pid() {
  local pid=$1 i
  if kill -TERM "$pid" 2> /dev/null; then
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2> /dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2> /dev/null || true
  fi
  wait "$pid" 2> /dev/null || true
}

# stop_children: stop everything spawn() started, newest first.
stop_children() {
  local i
  for ((i = ${#CHILD_PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${CHILD_PIDS[i]}"; done
  CHILD_PIDS=()
}

# wait_http URL SECONDS [PID]: poll until URL answers 2xx; fail after SECONDS or
# as soon as PID (the server being waited for) has exited.
wait_http() {
  local url=$1 secs=$2 pid=${3:-} i
  for ((i = 0; i < secs * 10; i++)); do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    curl -sf -o /dev/null -m 1 "$url" && return 0
    sleep 0.1
  done
  return 1
}

# start_nginx DIR CONF LOG: Debian's nginx in the foreground as our child, everything under DIR.
start_nginx() {
  local dir=$1 conf=$2 log=$3
  mkdir -p "$dir/tmp"
  spawn "$log" nginx -p "$dir" -e "$dir/nginx-error.log" -c "$conf" -g 'daemon off;'
}

# ensure_cutover REPO LOG [PREFIX]: set CUTOVER_BIN, building REPO/build/cutover (Release) if it
# is missing. PREFIX starts the progress line.
ensure_cutover() {
  local repo=$1 log=$2 prefix=${3:-}
  CUTOVER_BIN=${CUTOVER_BIN:-$repo/build/cutover}
  [ -x "$CUTOVER_BIN" ] && return 0
  echo "${prefix}building cutover (Release, into build/; a few minutes the first time; log $log)"
  if ! (cd "$repo" && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2) > "$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "build failed; full log: $log" >&2
    return 1
  fi
  [ -x "$CUTOVER_BIN" ] || { echo "build finished but $CUTOVER_BIN is missing" >&2; return 1; }
}

# start_cutover DIR CONFIG LOG LISTENER: run cutover with cwd DIR (so any relative state file stays
# there); wait for its "listening" lines; set CUTOVER_PID, CUTOVER_LISTEN (host:port of LISTENER)
# and CUTOVER_ADMIN (http://host:port). Config may use port 0 everywhere.
start_cutover() {
  local dir=$1 config=$2 log=$3 listener=$4 i
  # shellcheck disable=SC2016  # expanded by the inner bash
  spawn "$log" bash -c 'cd "$1" && exec "$2" --config "$3"' cutover "$dir" "$CUTOVER_BIN" "$config"
  CUTOVER_PID=$SPAWNED_PID
  CUTOVER_LISTEN="" CUTOVER_ADMIN=""
  for ((i = 0; i < 100; i++)); do
    kill -0 "$CUTOVER_PID" 2>/dev/null || break
    CUTOVER_LISTEN=$(sed -n "s/.*listening listener=${listener} address=\([0-9.]*:[0-9]*\).*/\1/p" "$log" | head -n 1)
    CUTOVER_ADMIN=$(sed -n 's/.*listening admin address=\([0-9.]*:[0-9]*\).*/\1/p' "$log" | head -n 1)
    [ -n "$CUTOVER_LISTEN" ] && [ -n "$CUTOVER_ADMIN" ] && break
    sleep 0.1
  done
  if [ -z "$CUTOVER_LISTEN" ] || [ -z "$CUTOVER_ADMIN" ]; then
    echo "cutover did not report its listening addresses within 10 s; its output ($log):" >&2
    tail -n 20 "$log" >&2
    return 1
  fi
  CUTOVER_ADMIN="http://$CUTOVER_ADMIN"
  wait_http "$CUTOVER_ADMIN/readyz" 10 "$CUTOVER_PID" || {
    echo "cutover admin $CUTOVER_ADMIN/readyz did not answer; its output ($log):" >&2
    tail -n 20 "$log" >&2
    return 1
  }
}
