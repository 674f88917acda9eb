#!/usr/bin/env bash
# Load benchmark, fifteen stages, all run by default (about 30 minutes):
#   proxies: cutover against HAProxy 2.6 and nginx, each with ONE worker, each in front of the same
#            two nginx backends with a 90/10 split, each driven by the same wrk run; plus the
#            backend alone as a reference; PROXIES_ROUNDS (3) interleaved rounds, medians. Also
#            drawn as a PNG chart (gnuplot).
#   workers2: stage proxies again with two workers each (cutover `workers: 2`, HAProxy `nbthread 2`,
#            nginx `worker_processes 2`); on a 2-CPU machine the second worker shares the CPUs with
#            wrk and the backends. WORKERS2_BIND (all) binds each proxy's workers one per CPU (all,
#            cutover or none).
#   accesslog: stage proxies with every proxy writing a JSON access log line per request (cutover to
#            a file, HAProxy to stdout, nginx buffered to a file), plus the same cutover without
#            its log in the same rounds: requests/s as ratios and the cost of cutover's log.
#   mirror:  "mirror 100 %": cutover at weight 0 mirroring every GET to target, cutover at weight 0
#            without mirror, and nginx with its mirror directive, same backends, same wrk run,
#            MIRROR_ROUNDS (3) interleaved rounds, medians reported.
#   tcp:     L4 relay: backend direct, cutover (tcp listener, 90/10), HAProxy `mode tcp` (90/10), in
#            front of two echo backends (build/cutover_tcp_load): a throughput run (TCP_CONNS
#            connections each echoing TCP_MIB MiB) and a connection-rate run (TCP_CONNS loops of
#            connect + 64-byte round trip + close for TCP_RATE_SECONDS). Well under a minute.
#   websocket: WS_CONNS (64) WebSocket tunnels each with one WS_BYTES (64) byte message in flight
#            (ping-pong, echoed by one build/cutover_ws_load echo backend): backend direct, cutover
#            (route with `upgrade: [websocket]`, weight 0), HAProxy and nginx, one worker each,
#            WS_ROUNDS (3) interleaved rounds of WS_SECONDS (5) s, median messages/s and p99 round trip.
#   h2:      HTTP/2 in (cleartext, prior knowledge), HTTP/1.1 out: cutover, HAProxy (`proto h2`) and nginx
#            (`listen ... http2`), one worker each, 90/10 split as in stage proxies, driven by h2load
#            (16 connections x 10 streams); H2_ROUNDS (3) interleaved rounds of H2_SECONDS (10) s,
#            median requests/s and p99 (from h2load's per-request log).
#   grpc:    unary gRPC calls (h2load POSTs of one length-prefixed message, te: trailers), HTTP/2 in and
#            out: backend direct, cutover (`protocol: http2` clusters), HAProxy (`server ... proto h2`)
#            and nginx (`grpc_pass`), one worker each, all in front of one build/cutover_grpc_echo
#            backend; each proxy checked first with grpcio calls (grpc-status 0, echo intact) and every
#            run with the backend's count of calls answered with grpc-status 0; GRPC_ROUNDS (3)
#            interleaved rounds of GRPC_SECONDS (10) s, median calls/s and p99.
#   close:   a new connection per request (wrk -H 'Connection: close'), the three proxies of stage
#            proxies, CLOSE_ROUNDS (3) runs of CLOSE_DURATION (5s) each, medians.
#   cost:    CPU time per request of each proxy process (utime + stime from /proc/PID/stat around each
#            wrk run, divided by the requests wrk counted): cutover, HAProxy and nginx under the
#            keep-alive load of stage proxies and the Connection: close load of stage close, and
#            cutover mirror against cutover no-mirror under stage mirror's load; COST_ROUNDS (5)
#            interleaved rounds of DURATION over all eight (load, proxy) pairs, medians and ratios.
#            COST_B=/path/to/cutover (COST_B_NAME=label): a second cutover build measured beside
#            the first under the keep-alive and close loads (an A/B of two builds in one run).
#   idle:    IDLE_CONNS (10,000) idle keep-alive connections, each after one request, held against
#            each proxy: VmRSS growth per connection (bench/idle_conns.py).
#   large:   a LARGE_MIB (1024) MiB download through each proxy with curl, LARGE_ROUNDS (3), median MiB/s.
#   flip:    weight change to effect: admin PUT 0 <-> 100, then requests on an open connection until
#            one comes from the new side; FLIP_ROUNDS (200) times, median and p99 in us (bench/flip.py).
#   soak:    by hand, alone, never in the default run: SOAK_MINUTES (10) of keep-alive and close load
#            with mirror on, a weight change every second, a reload every 10 s and a write hold every
#            minute; zero failed requests, RSS and descriptors printed per minute (bench/soak.py).
#   fleet:   convergence of a fleet: FLEET_ROUNDS (200) weight changes through node 1 of FLEET_SIZES (3 10)
#            cutover nodes sharing one 3-member etcd, from the admin call until every node reported
#            it applied (the call's answer), p50/p99 in ms (bench/fleet_converge.py).
#   micro:   the Google Benchmark micro-benchmarks of build/cutover_micro (bench/micro): ns and heap
#            allocations per operation of the per-request pure functions.
# Prints markdown tables and writes bench/results/latest.md (and latest.png with stage proxies).
#   ./bench/run.sh          ./bench/run.sh mirror idle          DURATION=30s WARMUP=3s ./bench/run.sh
# Exit 0 when every run completed without errors (and the mirror stage saw matching mirrors),
# 1 otherwise. See bench/README.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$repo/scripts/lib.sh"
conf=$repo/bench/config
results=$repo/bench/results

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
PROXIES_ROUNDS=${PROXIES_ROUNDS:-3}       # proxies stage: interleaved rounds, medians
WORKERS2_BIND=${WORKERS2_BIND:-all}       # workers2 stage: all | cutover | none: whose workers are bound one per CPU
WRK=(wrk -t1 -c64 -d"$DURATION" --latency)
SPLIT_REQUESTS=1000   # sequential requests per proxy to check the 90/10 split before loading it
MIRROR_ROUNDS=${MIRROR_ROUNDS:-3}   # mirror stage: rounds of (cutover no-mirror, cutover mirror, nginx mirror)
MIRROR_PATH=/same/    # answered identically by both backends, so mirrored copies compare equal
TCP_CONNS=${TCP_CONNS:-16}                # tcp stage: concurrent connections of each run
TCP_MIB=${TCP_MIB:-64}                    # tcp stage: MiB each connection writes (and reads back)
TCP_RATE_SECONDS=${TCP_RATE_SECONDS:-3}   # tcp stage: length of the connection-rate run
WS_CONNS=${WS_CONNS:-64}                  # websocket stage: tunnels at once
WS_BYTES=${WS_BYTES:-64}                  # websocket stage: size of each message
WS_SECONDS=${WS_SECONDS:-5}               # websocket stage: length of each measured run
WS_ROUNDS=${WS_ROUNDS:-3}                 # websocket stage: interleaved rounds (medians reported)
H2_ROUNDS=${H2_ROUNDS:-3}                 # h2 stage: interleaved rounds (medians reported)
H2_SECONDS=${H2_SECONDS:-10}              # h2 stage: length of each measured run (as DURATION's 10s)
GRPC_ROUNDS=${GRPC_ROUNDS:-3}             # grpc stage: interleaved rounds (medians reported)
GRPC_SECONDS=${GRPC_SECONDS:-10}          # grpc stage: length of each measured run
GRPC_CHECK_CALLS=${GRPC_CHECK_CALLS:-100} # grpc stage: grpcio calls through each contender before the load
CLOSE_ROUNDS=${CLOSE_ROUNDS:-3}           # close stage: wrk runs per proxy (median reported)
CLOSE_DURATION=${CLOSE_DURATION:-5s}      # close stage: length of each run
COST_ROUNDS=${COST_ROUNDS:-5}             # cost stage: interleaved rounds over every (load, proxy) pair, medians
IDLE_CONNS=${IDLE_CONNS:-10000}           # idle stage: connections held open against each proxy
LARGE_MIB=${LARGE_MIB:-1024}              # large stage: size of the download
LARGE_ROUNDS=${LARGE_ROUNDS:-3}           # large stage: downloads per proxy (median reported)
FLIP_ROUNDS=${FLIP_ROUNDS:-200}           # flip stage: weight changes measured
FLEET_ROUNDS=${FLEET_ROUNDS:-200}         # fleet stage: weight changes per fleet size
FLEET_SIZES=${FLEET_SIZES:-3 10}          # fleet stage: node counts measured
MICRO_MIN_TIME=${MICRO_MIN_TIME:-0.2}     # micro stage: seconds per benchmark and repetition
ALL_STAGES=(proxies workers2 accesslog mirror tcp websocket h2 grpc close cost idle large flip fleet micro)

say() { printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# soak: by hand only, never part of "all" (10 minutes; bench/soak.py says what it does).
if [ "${1:-}" = soak ]; then
  [ $# -eq 1 ] || die "stage soak runs alone"
  "$repo/scripts/setup.sh" --bench >/dev/null
  ensure_cutover "$repo" "$(mktemp)" "bench: "
  exec env CUTOVER_BIN="$CUTOVER_BIN" python3 "$repo/bench/soak.py"
fi
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=("${ALL_STAGES[@]}")
for stage in "${stages[@]}"; do
  [[ " ${ALL_STAGES[*]} " == *" $stage "* ]] || die "unknown stage '$stage' (stages: ${ALL_STAGES[*]}; default all)"
done
want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
for v in PROXIES_ROUNDS MIRROR_ROUNDS CLOSE_ROUNDS COST_ROUNDS IDLE_CONNS LARGE_MIB LARGE_ROUNDS FLIP_ROUNDS FLEET_ROUNDS WS_CONNS WS_BYTES WS_SECONDS WS_ROUNDS H2_ROUNDS H2_SECONDS GRPC_ROUNDS GRPC_SECONDS GRPC_CHECK_CALLS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/cutover-bench.XXXXXX")
chmod 755 "$work"   # nginx workers run as an unprivileged user when we are root
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  stop_children
  if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ]; then say "bench: work directory kept: $work" >&2; else rm -rf "$work"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "bench: checking packages (scripts/setup.sh --bench) and the cutover binary"
"$repo/scripts/setup.sh" --bench || die "scripts/setup.sh --bench failed (it needs root or sudo)"
ensure_cutover "$repo" "$work/build.log" "bench: " || die "could not build cutover"

mapfile -t ports < <(free_ports 5)
SOURCE_PORT=${ports[0]} TARGET_PORT=${ports[1]} HAPROXY_PORT=${ports[2]} NGINX_PORT=${ports[3]}
NGINX_MIRROR_PORT=${ports[4]}
ports_kv=(SOURCE_PORT="$SOURCE_PORT" TARGET_PORT="$TARGET_PORT")
# The access log lines of the proxies' configs: off, except in stage accesslog (access_log_kv DIR).
log_kv=("${BENCH_ACCESS_LOG_OFF[@]}")
access_log_kv() {
  local dir=$1
  # HAProxy: one JSON line per request to stdout (its out.log), fields as close to the others' as
  # its log-format has them.
  log_kv=(CUTOVER_ACCESS_LOG="access_log: {path: $dir/cutover-access.log}"
          HAPROXY_LOG="log stdout format raw local0"
          HAPROXY_LOG_GLOBAL="log global"
          HAPROXY_LOG_FORMAT="log-format '{\"time\":\"%tr\",\"client\":\"%ci:%cp\",\"method\":\"%HM\",\"path\":\"%HPO\",\"status\":%ST,\"server\":\"%s\",\"upstream_ms\":%Tr,\"duration_ms\":%Ta,\"bytes_in\":%U,\"bytes_out\":%B}'"
          NGINX_ACCESS_LOG="access_log $dir/nginx-access.log bench_json buffer=64k flush=1s;")
}

mkdir -p "$work/backends"
render "$conf/backends.nginx.conf" "$work/backends/nginx.conf" DIR="$work/backends" "${ports_kv[@]}"
start_nginx "$work/backends" "$work/backends/nginx.conf" "$work/backends/out.log"
for port in "$SOURCE_PORT" "$TARGET_PORT"; do
  wait_http "http://127.0.0.1:$port/" 10 "$SPAWNED_PID" || die "backend nginx did not start (see $work/backends)"
done
nginx_version=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([^ ]*\).*|\1|p')
haproxy_version=$(haproxy -v | sed -n 's/^HAProxy version \([0-9.]*\).*/\1/p')

# wrk_parse FILE: print "REQUESTS_PER_S P99_MS ERRORS" from wrk --latency output (errors = socket
# errors + non-2xx/3xx responses); "- - -" when the output has no Requests/sec line.
wrk_parse() {
  awk '
    /^Requests\/sec:/ { rps = $2 }
    $1 == "99%" {
      v = $2; ms = v + 0
      if (v ~ /us$/) ms /= 1000; else if (v ~ /ms$/) ; else if (v ~ /m$/) ms *= 60000; else if (v ~ /s$/) ms *= 1000
      p99 = ms
    }
    /Socket errors:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) err += $i }
    /Non-2xx or 3xx responses:/ { err += $NF }
    END {
      if (rps == "") { print "- - -"; exit }
      printf "%.0f %.2f %d\n", rps, p99, err
    }' "$1"
}

# wrk_requests FILE: the number of requests wrk completed ("N requests in ..."), or 0.
wrk_requests() { awk '/ requests in / { n = $1 } END { print n + 0 }' "$1"; }

# median VALUE...: median of the numeric values (non-numbers such as "-" skipped), or "-".
median() {
  printf '%s\n' "$@" | grep -E '^[0-9]+(\.[0-9]+)?$' | sort -g |
    awk '{ v[NR] = $1 } END { if (!NR) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# sum_or_dash COUNT...: the sum of the counts, or "-" when one is not a number (a run without a result).
sum_or_dash() { printf '%s\n' "$@" | awk '$1 !~ /^[0-9]+$/ { bad = 1 } { n += $1 } END { if (bad || !NR) print "-"; else print n }'; }

# num FORMAT VALUE: printf FORMAT VALUE when VALUE is a number, else VALUE as it is ("-").
# shellcheck disable=SC2059  # the format is the argument
num() { if [[ $2 =~ ^[0-9]+(\.[0-9]+)?$ ]]; then printf -- "$1" "$2"; else printf '%s' "$2"; fi; }

# split_share URL: percent of SPLIT_REQUESTS sequential requests answered by target, or "-".
split_share() {
  timeout 60 curl -s -m 5 "$1/split/[1-$SPLIT_REQUESTS]" 2> /dev/null |
    awk '$0 == "source" { s++ } $0 == "target" { t++ }
         END { if (s + t) printf "%.1f\n", 100 * t / (s + t); else print "-" }'
}

# rounds N COUNT FN: N rounds over contenders 0..COUNT-1, each round in an order rotated by one, so
# that no contender always runs first on a warming or cooling machine: FN INDEX ROUND each.
rounds() {
  local n=$1 count=$2 fn=$3 round j
  for ((round = 1; round <= n; round++)); do
    for ((j = 0; j < count; j++)); do "$fn" $(((j + round - 1) % count)) "$round"; done
  done
}
# stop_all STAGE PID...: stop the stage's processes, saying which had exited during its runs.
stop_all() {
  local stage=$1 pid
  shift
  for pid in "$@"; do
    kill -0 "$pid" 2> /dev/null || say "bench: $stage: a process (pid $pid) exited during the runs; see $work" >&2
    stop_pid "$pid"
  done
}

# Stage proxies' contenders, all started before the first run and measured in PROXIES_ROUNDS
# interleaved rounds (the order rotating), so drift of this shared machine hits each alike.
pnames=() purls=() psplit=() prps=() pp99=() perrs=() pstarted=()
# contender NAME URL [nosplit]: one more contender (URL empty: could not start).
contender() {
  pnames+=("$1") purls+=("$2") psplit+=("${3:-split}") prps+=("") pp99+=("") perrs+=("") pstarted+=("$2")
}
# measure_round I ROUND: warm up contender I, run wrk, keep the result (nothing if it did not start).
measure_round() {
  local i=$1 round=$2 name=${pnames[$1]} url=${purls[$1]} out r p e
  [ -n "$url" ] || return 0
  out=$work/wrk-$((i + 1))-${name%% *}$wrk_tag-$round.txt
  say "bench: round $round/$PROXIES_ROUNDS: $name: warm-up $WARMUP, then ${WRK[*]} $url/"
  wrk -t1 -c64 -d"$WARMUP" "$url/" > /dev/null 2>&1 || true
  "${WRK[@]}" "$url/" > "$out" 2>&1 || true
  read -r r p e < <(wrk_parse "$out")
  prps[i]+="$r " pp99[i]+="$p " perrs[i]+="$e "
}

# --- stages "proxies" and "workers2": backend direct, cutover, HAProxy, nginx at 90/10 ------------
# bind_cpus PROXY FILE WORKERS: in PROXY's rendered config FILE, worker i bound to CPU i when stage
# workers2 binds it (WORKERS2_BIND): cutover `worker_cpu_affinity: auto`, HAProxy
# `cpu-map auto:1/1-N 0-(N-1)`, nginx `worker_cpu_affinity auto`. One worker: nothing changes.
bind_cpus() {
  [ "$3" -gt 1 ] || return 0
  case $WORKERS2_BIND in all) ;; cutover) [ "$1" = cutover ] || return 0 ;; none) return 0 ;;
    *) die "WORKERS2_BIND=$WORKERS2_BIND: expected all, cutover or none" ;; esac
  case $1 in
    cutover) sed -i 's/^workers: .*/&\nworker_cpu_affinity: auto/' "$2" ;;
    haproxy) sed -i "s/^\( *\)nbthread .*/&\n\1cpu-map auto:1\/1-$3 0-$(($3 - 1))/" "$2" ;;
    nginx) sed -i 's/^worker_processes .*/&\nworker_cpu_affinity auto;/' "$2" ;;
  esac
}
# proxies_stage WORKERS OUT: the contenders with WORKERS workers each (cutover `workers`, HAProxy
# `nbthread`, nginx `worker_processes`), PROXIES_ROUNDS interleaved rounds; the medians go to the
# arrays ${OUT}names, ${OUT}rps, ${OUT}p99, ${OUT}errs, ${OUT}shares, ${OUT}pruns.
proxies_stage() {
local workers=$1
local -n o_names=${2}names o_rps=${2}rps o_p99=${2}p99 o_errs=${2}errs o_shares=${2}shares o_pruns=${2}pruns
local kv=("${ports_kv[@]}" WORKERS="$workers") ppids=() cutover_pid="" i vals r p e runs pid
wrk_tag=""; [ "$workers" = 1 ] || wrk_tag="-${workers}workers"; [ "$3" != accesslog ] || wrk_tag=-accesslog
pnames=() purls=() psplit=() prps=() pp99=() perrs=() pstarted=()
say "bench: stage ${3}: backend direct, cutover, HAProxy, nginx (90/10 split), $workers worker(s) each, $PROXIES_ROUNDS rounds"
contender "backend direct (reference)" "http://127.0.0.1:$SOURCE_PORT" nosplit

mkdir -p "$work/cutover$wrk_tag"
render "$conf/cutover.yaml" "$work/cutover$wrk_tag/cutover.yaml" "${kv[@]}" "${log_kv[@]}"
bind_cpus cutover "$work/cutover$wrk_tag/cutover.yaml" "$workers"
if start_cutover "$work/cutover$wrk_tag" "$work/cutover$wrk_tag/cutover.yaml" "$work/cutover$wrk_tag/cutover.log" bench; then
  contender "cutover" "http://$CUTOVER_LISTEN"
  ppids+=("$CUTOVER_PID") cutover_pid=$CUTOVER_PID
else
  say "bench: cutover did not start (log $work/cutover$wrk_tag/cutover.log)" >&2
  contender "cutover" ""
fi

if [ "$3" = accesslog ]; then  # the same cutover without its log: the cost of logging
  mkdir -p "$work/cutover-nolog$wrk_tag"
  render "$conf/cutover.yaml" "$work/cutover-nolog$wrk_tag/cutover.yaml" "${kv[@]}" CUTOVER_ACCESS_LOG=""
  if start_cutover "$work/cutover-nolog$wrk_tag" "$work/cutover-nolog$wrk_tag/cutover.yaml" \
      "$work/cutover-nolog$wrk_tag/cutover.log" bench; then
    contender "cutover, no access log" "http://$CUTOVER_LISTEN"
    ppids+=("$CUTOVER_PID")
  else
    contender "cutover, no access log" ""
  fi
fi

mkdir -p "$work/haproxy$wrk_tag"
render "$conf/haproxy.cfg" "$work/haproxy$wrk_tag/haproxy.cfg" "${kv[@]}" "${log_kv[@]}" PROXY_PORT="$HAPROXY_PORT" MAXCONN=1024 NOFILE=4096
bind_cpus haproxy "$work/haproxy$wrk_tag/haproxy.cfg" "$workers"
spawn "$work/haproxy$wrk_tag/out.log" haproxy -db -f "$work/haproxy$wrk_tag/haproxy.cfg"
ppids+=("$SPAWNED_PID")
hname="HAProxy $haproxy_version"
if wait_http "http://127.0.0.1:$HAPROXY_PORT/" 10 "$SPAWNED_PID"; then
  contender "$hname" "http://127.0.0.1:$HAPROXY_PORT"
else
  say "bench: HAProxy did not start: $(tail -n 3 "$work/haproxy$wrk_tag/out.log" | tr '\n' ' ')" >&2
  contender "$hname" ""
fi

mkdir -p "$work/nginx-proxy$wrk_tag"
render "$conf/nginx-proxy.conf" "$work/nginx-proxy$wrk_tag/nginx.conf" DIR="$work/nginx-proxy$wrk_tag" "${kv[@]}" "${log_kv[@]}" PROXY_PORT="$NGINX_PORT" MAXCONN=1024 NOFILE=4096
bind_cpus nginx "$work/nginx-proxy$wrk_tag/nginx.conf" "$workers"
start_nginx "$work/nginx-proxy$wrk_tag" "$work/nginx-proxy$wrk_tag/nginx.conf" "$work/nginx-proxy$wrk_tag/out.log"
ppids+=("$SPAWNED_PID")
if wait_http "http://127.0.0.1:$NGINX_PORT/" 10 "$SPAWNED_PID"; then
  contender "nginx $nginx_version" "http://127.0.0.1:$NGINX_PORT"
else
  say "bench: nginx did not start (see $work/nginx-proxy$wrk_tag)" >&2
  contender "nginx $nginx_version" ""
fi

for i in "${!pnames[@]}"; do  # the split, once, before any load
  if [ -z "${purls[i]}" ]; then o_shares+=("-"); elif [ "${psplit[i]}" = nosplit ]; then o_shares+=("n/a"); else o_shares+=("$(split_share "${purls[i]}")"); fi
done
rounds "$PROXIES_ROUNDS" ${#pnames[@]} measure_round
[ -z "$cutover_pid" ] || kill -0 "$cutover_pid" 2> /dev/null ||
  say "bench: cutover exited during the runs; log: $work/cutover$wrk_tag/cutover.log" >&2
for pid in "${ppids[@]}"; do stop_pid "$pid"; done
for i in "${!pnames[@]}"; do
  read -r -a vals <<< "${prps[i]}"; r=$(num %.0f "$(median "${vals[@]}")")
  runs=$(printf '%s / ' "${vals[@]}"); runs=${runs% / }
  read -r -a vals <<< "${pp99[i]}"; p=$(num %.2f "$(median "${vals[@]}")")
  read -r -a vals <<< "${perrs[i]}"
  e=$(printf '%s\n' "${vals[@]}" | awk '$1 ~ /^[0-9]+$/ { s += $1; n++ } END { print n ? s : "-" }')
  o_names+=("${pnames[i]}") o_rps+=("$r") o_p99+=("$p") o_errs+=("$e") o_pruns+=("${runs:--}")
done
}
# shellcheck disable=SC2034  # filled and read through namerefs (proxies_stage, proxies_table)
names=() rps=() p99=() errs=() shares=() pruns=()
# shellcheck disable=SC2034
w2names=() w2rps=() w2p99=() w2errs=() w2shares=() w2pruns=()
if want proxies; then proxies_stage 1 "" proxies; fi
if want workers2; then proxies_stage 2 w2 workers2; fi
# shellcheck disable=SC2034
alnames=() alrps=() alp99=() alerrs=() alshares=() alpruns=()
if want accesslog; then
  access_log_kv "$work/accesslog-logs"
  mkdir -p "$work/accesslog-logs"
  proxies_stage 1 al accesslog
  for f in "$work"/accesslog-logs/*.log "$work"/haproxy-accesslog/out.log; do
    [ -f "$f" ] && say "bench: accesslog: $(wc -l < "$f") lines in $f"
  done
  log_kv=("${BENCH_ACCESS_LOG_OFF[@]}")
fi

# --- stage "mirror": mirror 100 % ----------------------------------------------------------------
# Three contenders in front of the same backends, all sending every primary request to source:
# cutover at weight 0 without mirror (the baseline), cutover at weight 0 mirroring 100 % of GETs to
# target (responses compared), nginx with `mirror` to target (responses discarded). All three run
# side by side (idle while another is measured) and are measured in MIRROR_ROUNDS interleaved
# rounds, the order rotating each round; the table shows per-contender medians.
mnames=() murls=() mshares=() mfiles=() mcut_admin=""
declare -A mrps=() mp99=() merrs=() mruns=()
mcounts=(0 0 0 0 0)   # cutover mirror over the measured runs: match mismatch error dropped requests
mirror_fail=""        # why the mirror counts cannot be trusted, if so

# mirror_counts ADMIN: "match mismatch error dropped" of route app from ADMIN/metrics; fails when
# the metric is absent.
mirror_counts() {
  curl -sf -m 5 "$1/metrics" | awk '
    /^cutover_mirror_requests_total\{/ && /route="app"/ && match($0, /result="[a-z_]+"/) {
      c[substr($0, RSTART + 8, RLENGTH - 9)] = $NF; seen = 1
    }
    END { if (!seen) exit 1; printf "%.0f %.0f %.0f %.0f\n", c["match"], c["mismatch"], c["error"], c["dropped"] }'
}
# mirror_settle ADMIN: wait (up to 7 s; the mirror timeout is 5 s) until no mirror is in flight.
mirror_settle() {
  local i n
  for ((i = 0; i < 70; i++)); do
    n=$(curl -sf -m 2 "$1/v1/shadow" | grep -o '"in_flight":[0-9]*' | head -n 1 | cut -d: -f2)
    [ "${n:-1}" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
# mirror_measure INDEX ROUND: warm up and run wrk against contender INDEX on MIRROR_PATH (nothing if
# it did not start); for the cutover mirror contender, add the mirror counter deltas of the measured
# run to mcounts.
mirror_measure() {
  local i=$1 round=$2 name=${mnames[$1]} url=${murls[$1]} out r p e before after k
  [ -n "$url" ] || return 0
  out=$work/mirror-$round-$i-${name// /-}.txt
  say "bench: mirror round $round/$MIRROR_ROUNDS: $name: warm-up $WARMUP, then ${WRK[*]} $url$MIRROR_PATH"
  wrk -t1 -c64 -d"$WARMUP" "$url$MIRROR_PATH" > /dev/null 2>&1 || true
  if [ "$name" = "cutover mirror" ]; then
    mirror_settle "$mcut_admin" || true
    before=$(mirror_counts "$mcut_admin") || mirror_fail="no cutover_mirror_requests_total{route=\"app\"} in $mcut_admin/metrics"
  fi
  "${WRK[@]}" "$url$MIRROR_PATH" > "$out" 2>&1 || true
  read -r r p e < <(wrk_parse "$out")
  mrps[$i]+="$r " mp99[$i]+="$p " merrs[$i]+="$e " mruns[$i]+="${mruns[$i]:+ / }$r"
  mfiles+=("$out")
  if [ "$name" = "cutover mirror" ] && [ -n "${before:-}" ]; then
    mirror_settle "$mcut_admin" || say "bench: cutover mirror: mirrors still in flight 7 s after the run" >&2
    if after=$(mirror_counts "$mcut_admin"); then
      read -r -a before <<< "$before"
      read -r -a after <<< "$after"
      for k in 0 1 2 3; do mcounts[k]=$((mcounts[k] + after[k] - before[k])); done
      mcounts[4]=$((mcounts[4] + $(wrk_requests "$out")))
    else
      mirror_fail="$mcut_admin/metrics stopped answering"
    fi
  fi
}
# mirror_contender NAME URL: add a contender that is up; its primary target share checked now.
mirror_contender() {
  mnames+=("$1") murls+=("$2") mshares+=("$(split_share "$2")")
}
# mirror_missing NAME WHY: add a contender that could not be started.
mirror_missing() {
  say "bench: $1: not measured: $2" >&2
  mnames+=("$1") murls+=("") mshares+=("-")
}

if want mirror; then
say "bench: stage mirror: cutover no-mirror, cutover mirror 100 %, nginx $nginx_version mirror; $MIRROR_ROUNDS rounds"
mpids=()
for variant in nomirror mirror; do
  mkdir -p "$work/cutover-$variant"
  render "$conf/cutover-$variant.yaml" "$work/cutover-$variant/cutover.yaml" "${ports_kv[@]}"
  name="cutover ${variant/nomirror/no-mirror}"
  if start_cutover "$work/cutover-$variant" "$work/cutover-$variant/cutover.yaml" "$work/cutover-$variant/cutover.log" bench; then
    mpids+=("$CUTOVER_PID")
    [ "$variant" = mirror ] && mcut_admin=$CUTOVER_ADMIN
    mirror_contender "$name" "http://$CUTOVER_LISTEN"
  else
    mirror_missing "$name" "did not start (log $work/cutover-$variant/cutover.log)"
  fi
done
mkdir -p "$work/nginx-mirror"
render "$conf/nginx-mirror.conf" "$work/nginx-mirror/nginx.conf" DIR="$work/nginx-mirror" "${ports_kv[@]}" PROXY_PORT="$NGINX_MIRROR_PORT"
start_nginx "$work/nginx-mirror" "$work/nginx-mirror/nginx.conf" "$work/nginx-mirror/out.log"
mpids+=("$SPAWNED_PID")
if wait_http "http://127.0.0.1:$NGINX_MIRROR_PORT$MIRROR_PATH" 10 "$SPAWNED_PID"; then
  mirror_contender "nginx $nginx_version mirror" "http://127.0.0.1:$NGINX_MIRROR_PORT"
else
  mirror_missing "nginx $nginx_version mirror" "did not start (see $work/nginx-mirror)"
fi

rounds "$MIRROR_ROUNDS" ${#mnames[@]} mirror_measure
stop_all mirror "${mpids[@]}"
if [ -s "$work/nginx-mirror/nginx-error.log" ]; then
  say "bench: nginx mirror logged errors: $(tail -n 3 "$work/nginx-mirror/nginx-error.log" | tr '\n' ' ')" >&2
fi
fi

# --- helpers of the stages tcp and websocket: a load tool of bench/ and its echo backend ---------
# load_tool VAR TARGET: VAR (unless the caller set it) = build/TARGET, built first if missing.
load_tool() {
  [ -n "${!1:-}" ] || printf -v "$1" '%s' "$repo/build/$2"
  [ -x "${!1}" ] && return 0
  # The test suite configures build/ without the load tools: switched back on here.
  (cd "$repo" && cmake -S . -B build -DCUTOVER_BENCH_TOOLS=ON && cmake --build build -j2 --target "$2") > "$work/$2-build.log" 2>&1 ||
    die "could not build $2 (log $work/$2-build.log)"
}
# echo_backend VAR TOOL: start `TOOL serve`, an echo server that prints its port first; the port in VAR.
echo_backend() {
  local log=$work/echo-backend-$1.log i
  spawn "$log" "$2" serve
  for ((i = 0; i < 50; i++)); do [ -s "$log" ] && break; sleep 0.1; done
  printf -v "$1" '%s' "$(head -n 1 "$log")"
  [[ ${!1} =~ ^[0-9]+$ ]] || die "$2 serve did not start (log $log)"
}
# wait_port PORT PID: wait up to 5 s until 127.0.0.1:PORT accepts a connection; fail at once when PID exits.
wait_port() {
  local i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$2" 2> /dev/null || return 1
    (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null && return 0
    sleep 0.1
  done
  return 1
}

# three_proxies STAGE TAG CUTOVER_CONFIG SCHEME CONTENDER_FN PIDS_VAR KEY=VALUE...: start cutover
# (bench/config/CUTOVER_CONFIG), HAProxy (haproxy-TAG.cfg) and nginx (nginx-TAG.conf), one worker
# each, their configs rendered with the KEY=VALUEs (plus DIR and PROXY_PORT) into $work/NAME-TAG;
# CONTENDER_FN NAME SCHEMEHOST:PORT for each that came up ("" for one that did not), their pids
# appended to the array PIDS_VAR.
three_proxies() {
  local stage=$1 tag=$2 cutover_config=$3 scheme=$4 contender=$5 ports
  local -n up_pids=$6
  shift 6
  mapfile -t ports < <(free_ports 2)
  mkdir -p "$work/cutover-$tag" "$work/haproxy-$tag" "$work/nginx-$tag"
  render "$conf/$cutover_config" "$work/cutover-$tag/cutover.yaml" "$@"
  if start_cutover "$work/cutover-$tag" "$work/cutover-$tag/cutover.yaml" "$work/cutover-$tag/cutover.log" bench; then
    up_pids+=("$CUTOVER_PID")
    "$contender" "cutover" "$scheme$CUTOVER_LISTEN"
  else
    say "bench: $stage: cutover did not start (log $work/cutover-$tag/cutover.log)" >&2
    "$contender" "cutover" ""
  fi
  render "$conf/haproxy-$tag.cfg" "$work/haproxy-$tag/haproxy.cfg" "$@" PROXY_PORT="${ports[0]}"
  spawn "$work/haproxy-$tag/out.log" haproxy -db -f "$work/haproxy-$tag/haproxy.cfg"
  up_pids+=("$SPAWNED_PID")
  if wait_port "${ports[0]}" "$SPAWNED_PID"; then
    "$contender" "HAProxy $haproxy_version" "${scheme}127.0.0.1:${ports[0]}"
  else
    say "bench: $stage: HAProxy did not start: $(tail -n 3 "$work/haproxy-$tag/out.log" | tr '\n' ' ')" >&2
    "$contender" "HAProxy $haproxy_version" ""
  fi
  render "$conf/nginx-$tag.conf" "$work/nginx-$tag/nginx.conf" DIR="$work/nginx-$tag" "$@" PROXY_PORT="${ports[1]}"
  start_nginx "$work/nginx-$tag" "$work/nginx-$tag/nginx.conf" "$work/nginx-$tag/out.log"
  up_pids+=("$SPAWNED_PID")
  if wait_port "${ports[1]}" "$SPAWNED_PID"; then
    "$contender" "nginx $nginx_version" "${scheme}127.0.0.1:${ports[1]}"
  else
    say "bench: $stage: nginx did not start (see $work/nginx-$tag)" >&2
    "$contender" "nginx $nginx_version" ""
  fi
}

# --- stage "tcp": the L4 relay against HAProxy mode tcp ----------------------------------------
tnames=() tthr=() trate=() terrs=()
if want tcp; then
say "bench: stage tcp: backend direct, cutover tcp listener, HAProxy mode tcp (90/10 split)"
load_tool TCP_LOAD cutover_tcp_load
echo_backend TCP_SOURCE_PORT "$TCP_LOAD"
echo_backend TCP_TARGET_PORT "$TCP_LOAD"
tcp_kv=(SOURCE_PORT="$TCP_SOURCE_PORT" TARGET_PORT="$TCP_TARGET_PORT")
# tcp_measure NAME HOST:PORT: both runs; append one row (errors summed over both).
tcp_measure() {
  local out=$work/tcp-$((${#tnames[@]} + 1))-${1%% *}.txt thr secs e1 rate n e2
  say "bench: tcp: $1: throughput ($TCP_CONNS x $TCP_MIB MiB echoed), then connection rate ($TCP_CONNS loops, ${TCP_RATE_SECONDS}s)"
  read -r thr secs e1 < <(timeout 60 "$TCP_LOAD" throughput "$2" "$TCP_CONNS" "$TCP_MIB" || echo "- - 1")
  read -r rate n e2 < <(timeout 60 "$TCP_LOAD" rate "$2" "$TCP_CONNS" "$TCP_RATE_SECONDS" || echo "- - 1")
  printf 'throughput: %s MiB/s (both directions) in %s s, %s errors\nrate: %s connections/s, %s connections, %s errors\n' \
    "$thr" "$secs" "$e1" "$rate" "$n" "$e2" > "$out"
  tnames+=("$1") tthr+=("$thr") trate+=("$rate") terrs+=($((e1 + e2)))
}
tcp_measure "backend direct (reference)" "127.0.0.1:$TCP_SOURCE_PORT"
mkdir -p "$work/cutover-tcp"
render "$conf/cutover-tcp.yaml" "$work/cutover-tcp/cutover.yaml" "${tcp_kv[@]}"
if start_cutover "$work/cutover-tcp" "$work/cutover-tcp/cutover.yaml" "$work/cutover-tcp/cutover.log" bench; then
  tcp_measure "cutover" "$CUTOVER_LISTEN"
  stop_pid "$CUTOVER_PID"
else
  tnames+=("cutover") tthr+=("-") trate+=("-") terrs+=("-")
fi
mapfile -t tports < <(free_ports 1)
mkdir -p "$work/haproxy-tcp"
render "$conf/haproxy-tcp.cfg" "$work/haproxy-tcp/haproxy.cfg" "${tcp_kv[@]}" PROXY_PORT="${tports[0]}"
spawn "$work/haproxy-tcp/out.log" haproxy -db -f "$work/haproxy-tcp/haproxy.cfg"
hpid=$SPAWNED_PID
wait_port "${tports[0]}" "$hpid" || true   # a proxy that is not up shows as errors
tcp_measure "HAProxy $haproxy_version mode tcp" "127.0.0.1:${tports[0]}"
stop_pid "$hpid"
fi

# --- stage "websocket": WebSocket ping-pong through each proxy -----------------------------------
# All contenders in front of one ws_load echo backend, started first and measured in WS_ROUNDS
# interleaved rounds (the order rotating), each run after a 1 s warm-up; medians per contender.
wnames=() waddrs=() wrps=() wp99=() werrs=() wruns=()
if want websocket; then
say "bench: stage websocket: $WS_CONNS tunnels, $WS_BYTES-byte ping-pong, backend direct, cutover, HAProxy, nginx; $WS_ROUNDS rounds of ${WS_SECONDS}s"
load_tool WS_LOAD cutover_ws_load
echo_backend WS_PORT "$WS_LOAD"
ws_kv=(SOURCE_PORT="$WS_PORT" TARGET_PORT="$WS_PORT")
wpids=()
# ws_contender NAME HOST:PORT: one more contender ("" when it did not start).
ws_contender() { wnames+=("$1") waddrs+=("$2") wrps+=("") wp99+=("") werrs+=("") wruns+=(""); }
ws_contender "backend direct (reference)" "127.0.0.1:$WS_PORT"
three_proxies websocket ws cutover-ws.yaml "" ws_contender wpids "${ws_kv[@]}"
# ws_measure I ROUND: warm up contender I, then one measured run; keep its figures (nothing if it
# did not start).
ws_measure() {
  local i=$1 out=$work/ws-$(($1 + 1))-${wnames[$1]%% *}-$2.txt r p50 p99 n e
  [ -n "${waddrs[i]}" ] || return 0
  say "bench: websocket round $2/$WS_ROUNDS: ${wnames[i]}: warm-up 1s, then $WS_CONNS tunnels for ${WS_SECONDS}s"
  timeout 30 "$WS_LOAD" run "${waddrs[i]}" /ws "$WS_CONNS" 1 "$WS_BYTES" > /dev/null 2>&1 || true
  read -r r p50 p99 n e < <(timeout $((WS_SECONDS + 30)) "$WS_LOAD" run "${waddrs[i]}" /ws "$WS_CONNS" "$WS_SECONDS" "$WS_BYTES" ||
    echo "- - - - -")
  printf 'messages/s %s, round trip p50 %s us, p99 %s us, %s messages, %s errors\n' "$r" "$p50" "$p99" "$n" "$e" > "$out"
  wrps[i]+="$r " wp99[i]+="$p99 " werrs[i]+="$e " wruns[i]+="${wruns[i]:+ / }$r"
}
rounds "$WS_ROUNDS" ${#wnames[@]} ws_measure
stop_all websocket "${wpids[@]}"
fi

# --- stage "h2": HTTP/2 downstream (cleartext, prior knowledge), HTTP/1.1 to the backends ---------
# cutover (bench/config/cutover.yaml: its http listener speaks h2c prior knowledge), HAProxy `proto
# h2` and nginx `listen ... http2`, all in front of the backends of stage proxies with the 90/10
# split; started first, then measured in H2_ROUNDS interleaved rounds (the order rotating) with
# h2load, each run after its own 1 s warm-up (--warm-up-time); medians per contender.
H2LOAD=(h2load -c 16 -m 10 -t 1 -D "$H2_SECONDS" --warm-up-time=1)
h2names=() h2urls=() h2shares=() h2rps=() h2p99=() h2errs=() h2runs=()
# h2_split_share URL: percent of SPLIT_REQUESTS requests on one HTTP/2 connection (nghttp, streams
# concurrent up to the server's limit) answered by target, or "-". (curl 7.88's
# --http2-prior-knowledge fails every request of a URL range after the first.)
h2_split_share() {
  timeout 60 nghttp -m "$SPLIT_REQUESTS" "$1/split/" 2> /dev/null |
    awk '$0 == "source" { s++ } $0 == "target" { t++ }
         END { if (s + t) printf "%.1f\n", 100 * t / (s + t); else print "-" }'
}
# h2_parse OUT LOG: print "REQUESTS_PER_S P99_MS ERRORS SUCCEEDED" from h2load's output OUT
# ("finished in ..., N req/s"; errors: its failed requests, which include the errored ones and
# non-2xx/3xx answers; succeeded: its 2xx/3xx answers) and its --log-file LOG (a line per request:
# start time, status, duration in µs; the p99 by nearest rank); "- - - -" when OUT has no
# "finished in" line.
h2_parse() {
  local rps err ok p99
  read -r rps err ok < <(awk '
    /^finished in / { for (i = 1; i < NF; i++) if ($(i + 1) == "req/s,") rps = $i }
    /^requests: / { for (i = 2; i < NF; i++) { if ($(i + 1) == "failed,") err = $i; if ($(i + 1) == "succeeded,") ok = $i } }
    END { if (rps == "") print "- - -"; else printf "%.0f %d %d\n", rps, err, ok }' "$1")
  [ "$rps" != - ] || { echo "- - - -"; return; }
  p99=$(cut -f 3 "$2" 2> /dev/null | sort -n |
    awk '{ v[NR] = $1 } END { if (!NR) { print "-"; exit } k = int(0.99 * NR); if (k < 0.99 * NR) k++; printf "%.2f\n", v[k] / 1000 }')
  echo "$rps $p99 $err $ok"
}
if want h2; then
say "bench: stage h2: HTTP/2 (h2c prior knowledge) in, HTTP/1.1 out, cutover, HAProxy, nginx (90/10 split); $H2_ROUNDS rounds of ${H2_SECONDS}s"
h2pids=()
# h2_contender NAME URL: one more contender ("" when it did not start); its target share checked now.
h2_contender() {
  local share=-
  [ -z "$2" ] || share=$(h2_split_share "$2")
  h2names+=("$1") h2urls+=("$2") h2shares+=("$share") h2rps+=("") h2p99+=("") h2errs+=("") h2runs+=("")
}
three_proxies h2 h2 cutover.yaml http:// h2_contender h2pids "${ports_kv[@]}" "${log_kv[@]}" WORKERS=1 MAXCONN=1024 NOFILE=4096
# h2_measure I ROUND: one h2load run against contender I (its warm-up included); keep its figures
# (nothing if it did not start). h2load appends to its --log-file, so every run gets a new one.
h2_measure() {
  local i=$1 base=$work/h2-$(($1 + 1))-${h2names[$1]%% *}-$2 r p e
  [ -n "${h2urls[i]}" ] || return 0
  say "bench: h2 round $2/$H2_ROUNDS: ${h2names[i]}: ${H2LOAD[*]} --log-file=FILE ${h2urls[i]}/"
  rm -f "$base.log"
  timeout $((H2_SECONDS + 30)) "${H2LOAD[@]}" --log-file="$base.log" "${h2urls[i]}/" 2>&1 |
    grep -v -e '^progress: ' -e '^spawning thread' -e 'Warm-up' -e 'Main benchmark' -e 'Stopped all clients' > "$base.txt" || true
  read -r r p e _ < <(h2_parse "$base.txt" "$base.log")
  h2rps[i]+="$r " h2p99[i]+="$p " h2errs[i]+="$e " h2runs[i]+="${h2runs[i]:+ / }$r"
}
rounds "$H2_ROUNDS" ${#h2names[@]} h2_measure
stop_all h2 "${h2pids[@]}"
if [ -s "$work/nginx-h2/nginx-error.log" ]; then
  say "bench: h2: nginx logged errors: $(tail -n 3 "$work/nginx-h2/nginx-error.log" | tr '\n' ' ')" >&2
fi
fi

# --- stage "grpc": unary gRPC calls, HTTP/2 in and out ---------------------------------------------
# Backend direct, cutover (clusters with `protocol: http2`), HAProxy (`server ... proto h2`) and nginx
# (`grpc_pass grpc://`), one worker each, all in front of one cutover_grpc_echo backend (90/10 split
# over two names for it, as the other stages split). Each proxy is checked first with grpcio calls
# (bench/grpc_check.py: grpc-status 0 and the echo intact), then measured in GRPC_ROUNDS interleaved
# rounds with h2load POSTing one length-prefixed message per call; the backend's count of calls
# answered with grpc-status 0 (GET /calls) is read around every run, and must cover h2load's
# succeeded calls (warm-up calls and those in flight at the end are answered but not counted by it).
GRPC_PATH=/bench.Echo/Echo
gnames=() gurls=() gchecks=() grps=() gp99=() gerrs=() gruns=() gcalls=()
# grpc_calls: "OK BAD RESET" from the backend's GET /calls, or "- - -".
grpc_calls() {
  curl -s -m 5 --http2-prior-knowledge "http://127.0.0.1:$GRPC_PORT/calls" 2> /dev/null |
    awk '$1 == "ok" && $3 == "bad" && $5 == "reset" { print $2, $4, $6; found = 1 } END { if (!found) print "- - -" }'
}
if want grpc; then
say "bench: stage grpc: unary gRPC calls (h2load 16 connections x 10 streams), backend direct, cutover, HAProxy, nginx; $GRPC_ROUNDS rounds of ${GRPC_SECONDS}s"
load_tool GRPC_ECHO cutover_grpc_echo
echo_backend GRPC_PORT "$GRPC_ECHO"
# One call's request body: flag 0 (uncompressed), length 15 (big-endian), then the message, a
# protobuf string field 1 of 13 bytes (the echo backend does not decode it).
printf '\000\000\000\000\017\012\015cutover-bench' > "$work/grpc-call.bin"
GRPC_H2LOAD=(h2load -c 16 -m 10 -t 1 -D "$GRPC_SECONDS" --warm-up-time=1 -d "$work/grpc-call.bin"
             -H 'content-type: application/grpc' -H 'te: trailers')
# The command as it can be pasted: arguments with spaces in single quotes.
grpc_h2load_shown=$(for a in "${GRPC_H2LOAD[@]}"; do [[ $a == *' '* ]] && a="'$a'"; printf '%s ' "$a"; done)
grpc_h2load_shown=${grpc_h2load_shown% }
grpc_kv=(GRPC_PORT="$GRPC_PORT" MAXCONN=1024 NOFILE=4096)
gpids=()
# grpc_contender NAME URL: one more contender ("" when it did not start), checked now with grpcio.
grpc_contender() {
  local check=-
  if [ -n "$2" ]; then
    check=$(timeout 60 /usr/bin/python3 "$repo/bench/grpc_check.py" "${2#http://}" "$work/grpc-call.bin" "$GRPC_CHECK_CALLS" 2>&1 | tail -n 1) || true
    say "bench: grpc: $1: $GRPC_CHECK_CALLS grpcio calls: $check"
  fi
  gnames+=("$1") gurls+=("$2") gchecks+=("$check") grps+=("") gp99+=("") gerrs+=("") gruns+=("") gcalls+=("")
}
grpc_contender "backend direct (reference)" "http://127.0.0.1:$GRPC_PORT"
three_proxies grpc grpc cutover-grpc.yaml http:// grpc_contender gpids "${grpc_kv[@]}"
# grpc_measure I ROUND: one h2load run against contender I (its warm-up included), the backend's
# counts read before and after; keep its figures (nothing if it did not start). Errors: h2load's
# failed calls, calls the backend counted bad, and succeeded calls beyond those the backend answered
# with grpc-status 0 (a proxy's own 200 with another grpc-status would be one). Calls the proxy reset
# at the backend are noted, not counted: h2load closes its connections with calls in flight.
grpc_measure() {
  local i=$1 base=$work/grpc-$(($1 + 1))-${gnames[$1]%% *}-$2 r p e ok ok0 bad0 reset0 ok1 bad1 reset1 answered
  [ -n "${gurls[i]}" ] || return 0
  say "bench: grpc round $2/$GRPC_ROUNDS: ${gnames[i]}: $grpc_h2load_shown --log-file=FILE ${gurls[i]}$GRPC_PATH"
  rm -f "$base.log"
  read -r ok0 bad0 reset0 < <(grpc_calls)
  timeout $((GRPC_SECONDS + 30)) "${GRPC_H2LOAD[@]}" --log-file="$base.log" "${gurls[i]}$GRPC_PATH" 2>&1 |
    grep -v -e '^progress: ' -e '^spawning thread' -e 'Warm-up' -e 'Main benchmark' -e 'Stopped all clients' > "$base.txt" || true
  read -r ok1 bad1 reset1 < <(grpc_calls)
  read -r r p e ok < <(h2_parse "$base.txt" "$base.log")
  if [[ $e =~ ^[0-9]+$ && $ok0$ok1$bad0$bad1$reset0$reset1 =~ ^[0-9]+$ ]]; then
    answered=$((ok1 - ok0))
    e=$((e + bad1 - bad0 + (ok > answered ? ok - answered : 0)))
    printf 'backend: %s calls answered with grpc-status 0, %s bad, %s reset by the proxy before their answer was through; h2load: %s succeeded\n' \
      "$answered" $((bad1 - bad0)) $((reset1 - reset0)) "$ok" >> "$base.txt"
  else
    e=- answered=-
  fi
  grps[i]+="$r " gp99[i]+="$p " gerrs[i]+="$e " gruns[i]+="${gruns[i]:+ / }$r" gcalls[i]+="${gcalls[i]:+; }$answered / $ok"
}
rounds "$GRPC_ROUNDS" ${#gnames[@]} grpc_measure
stop_all grpc "${gpids[@]}"
if [ -s "$work/nginx-grpc/nginx-error.log" ]; then
  say "bench: grpc: nginx logged errors: $(tail -n 3 "$work/nginx-grpc/nginx-error.log" | tr '\n' ' ')" >&2
fi
fi

# --- helpers of the stages close, idle, large: one 90/10 proxy of stage proxies at a time --------
# up_proxy KIND DIR [MAXCONN]: start cutover | haproxy | nginx with its stage-proxies config
# (connection limit MAXCONN, default 1024) under DIR; sets UP_NAME, UP_URL, UP_PID (to stop) and
# UP_RSS_PIDS (the processes holding the connections: nginx's worker, not its master) and
# UP_MAXCONN (the client connections it can hold: HAProxy needs two descriptors per connection, so
# `ulimit -Hn` caps it at half of that).
up_proxy() {
  local kind=$1 dir=$2 maxconn=${3:-1024} nofile port i
  nofile=$(ulimit -Hn)
  [ "$nofile" = unlimited ] && nofile=1048576
  mkdir -p "$dir"
  UP_NAME="" UP_URL="" UP_PID="" UP_RSS_PIDS="" UP_MAXCONN=$maxconn
  case $kind in
    cutover)
      render "$conf/cutover.yaml" "$dir/cutover.yaml" "${ports_kv[@]}" "${log_kv[@]}" WORKERS=1 || return 1
      start_cutover "$dir" "$dir/cutover.yaml" "$dir/cutover.log" bench || return 1
      UP_NAME=cutover UP_URL=http://$CUTOVER_LISTEN UP_PID=$CUTOVER_PID UP_RSS_PIDS=$CUTOVER_PID
      UP_MAXCONN=$((nofile - 100))
      ;;
    haproxy)
      port=$(free_ports 1)
      [ "$maxconn" -le $(((nofile - 100) / 2)) ] || maxconn=$(((nofile - 100) / 2)) UP_MAXCONN=$(((nofile - 100) / 2))
      render "$conf/haproxy.cfg" "$dir/haproxy.cfg" "${ports_kv[@]}" "${log_kv[@]}" WORKERS=1 PROXY_PORT="$port" MAXCONN="$maxconn" NOFILE="$nofile" || return 1
      spawn "$dir/out.log" haproxy -db -f "$dir/haproxy.cfg"
      UP_PID=$SPAWNED_PID
      wait_http "http://127.0.0.1:$port/" 10 "$UP_PID" || return 1
      UP_NAME="HAProxy $haproxy_version" UP_URL=http://127.0.0.1:$port UP_RSS_PIDS=$UP_PID
      ;;
    nginx)
      port=$(free_ports 1)
      # nginx starts closing idle keep-alive connections when fewer than 1/16 of worker_connections
      # are free: twice the wanted connections (within the descriptor limit) keeps it from that.
      i=$((2 * maxconn)); [ "$i" -le "$nofile" ] || i=$nofile
      [ "$maxconn" -le $((i * 15 / 16 - 100)) ] || UP_MAXCONN=$((i * 15 / 16 - 100))
      render "$conf/nginx-proxy.conf" "$dir/nginx.conf" DIR="$dir" "${ports_kv[@]}" "${log_kv[@]}" WORKERS=1 PROXY_PORT="$port" \
        MAXCONN="$i" NOFILE="$nofile" || return 1
      start_nginx "$dir" "$dir/nginx.conf" "$dir/out.log"
      UP_PID=$SPAWNED_PID
      wait_http "http://127.0.0.1:$port/" 10 "$UP_PID" || return 1
      for ((i = 0; i < 20; i++)); do UP_RSS_PIDS=$(pgrep -P "$UP_PID" | head -n 1) && [ -n "$UP_RSS_PIDS" ] && break; sleep 0.1; done
      UP_NAME="nginx $nginx_version" UP_URL=http://127.0.0.1:$port
      ;;
  esac
}
CONTENDERS=(cutover haproxy nginx)

# --- stage "close": a new connection per request -------------------------------------------------
cnames=() crps=() cp99=() cerrs=() cruns=()
if want close; then
say "bench: stage close: new connection per request (Connection: close), $CLOSE_ROUNDS rounds of $CLOSE_DURATION"
for kind in "${CONTENDERS[@]}"; do
  if ! up_proxy "$kind" "$work/close-$kind"; then
    say "bench: close: $kind did not start (see $work/close-$kind)" >&2
    cnames+=("$kind") crps+=(-) cp99+=(-) cerrs+=(-) cruns+=(-)
    [ -n "$UP_PID" ] && stop_pid "$UP_PID"
    continue
  fi
  wrk -t1 -c64 -d"$WARMUP" -H 'Connection: close' "$UP_URL/" > /dev/null 2>&1 || true
  rs=() ps=() es=0 runs=""
  for ((round = 1; round <= CLOSE_ROUNDS; round++)); do
    out=$work/close-$kind-$round.txt
    say "bench: close: $UP_NAME round $round: wrk -t1 -c64 -d$CLOSE_DURATION --latency -H 'Connection: close' $UP_URL/"
    wrk -t1 -c64 -d"$CLOSE_DURATION" --latency -H 'Connection: close' "$UP_URL/" > "$out" 2>&1 || true
    read -r r p e < <(wrk_parse "$out")
    rs+=("$r") ps+=("$p") runs+="${runs:+ / }$r"
    [[ $e =~ ^[0-9]+$ ]] && es=$((es + e)) || es=-
    mfiles+=("$out")
  done
  cnames+=("$UP_NAME") crps+=("$(median "${rs[@]}")") cp99+=("$(median "${ps[@]}")") cerrs+=("$es") cruns+=("$runs")
  stop_pid "$UP_PID"
done
fi

# --- stage "cost": CPU time per request of each proxy process ------------------------------------
# All contenders up at once (the configs of stages proxies and mirror), measured in COST_ROUNDS
# interleaved rounds over every (load, contender) pair, the order rotating: per run, the utime +
# stime of the proxy's processes (/proc/PID/stat; nginx: master and workers) before and after the
# wrk run, divided by the requests wrk counted. CPU time is what a proxy costs whatever the machine
# does besides, so it drifts less than requests/s on a shared machine (but caches, frequency and
# the kernel's share of loopback TCP still move it).
conames=() coloads=() courls=() copids=() coadmins=() cous=() couser=() cosys=() corps=() coerrs=() coruns=()
if want cost; then
say "bench: stage cost: CPU µs per request of each proxy (keep-alive, Connection: close, mirror), $COST_ROUNDS rounds"
clk_tck=$(getconf CLK_TCK)
cost_pids=()
# cost_contender LOAD NAME URL PIDS [ADMIN]: one (load, contender) pair; URL empty: did not start.
cost_contender() {
  coloads+=("$1") conames+=("$2") courls+=("$3") copids+=("$4") coadmins+=("${5:-}")
  cous+=("") couser+=("") cosys+=("") corps+=("") coerrs+=("") coruns+=("")
}
# cpu_ticks PID...: "UTIME STIME" summed over the processes, in clock ticks (/proc/PID/stat fields
# 14 and 15, counted after the command name, which may hold spaces).
cpu_ticks() {
  local pid u=0 s=0 f
  for pid in "$@"; do
    read -r -a f < <(sed 's/^.*) //' "/proc/$pid/stat") || return 1
    u=$((u + f[11])) s=$((s + f[12]))
  done
  echo "$u $s"
}
# cost_start_cutover NAME TEMPLATE KV...: start a cutover (bench/config/TEMPLATE rendered with the KVs) for
# the stage; sets CO_URL, CO_PIDS, CO_ADMIN
# (CO_URL empty when it did not start).
cost_start_cutover() {
  local name=$1 template=$2 dir=$work/cost-$1
  shift 2
  mkdir -p "$dir"
  CO_URL="" CO_PIDS="" CO_ADMIN=""
  render "$conf/$template" "$dir/cutover.yaml" "$@" || return 0
  if start_cutover "$dir" "$dir/cutover.yaml" "$dir/cutover.log" bench; then
    cost_pids+=("$CUTOVER_PID")
    CO_URL=http://$CUTOVER_LISTEN CO_PIDS=$CUTOVER_PID CO_ADMIN=$CUTOVER_ADMIN
  else
    say "bench: cost: $name did not start (log $dir/cutover.log)" >&2
  fi
}
cost_start_cutover cutover cutover.yaml "${ports_kv[@]}" "${log_kv[@]}" WORKERS=1
co_url=$CO_URL co_pids=$CO_PIDS
co_b_url="" co_b_pids=""
if [ -n "${COST_B:-}" ]; then  # the same config, another build of cutover
  [ -x "$COST_B" ] || die "COST_B=$COST_B is not an executable"
  co_a_bin=$CUTOVER_BIN CUTOVER_BIN=$COST_B
  cost_start_cutover cutover-b cutover.yaml "${ports_kv[@]}" "${log_kv[@]}" WORKERS=1
  CUTOVER_BIN=$co_a_bin co_b_url=$CO_URL co_b_pids=$CO_PIDS
fi
cost_start_cutover nomirror cutover-nomirror.yaml "${ports_kv[@]}"
co_nm_url=$CO_URL co_nm_pids=$CO_PIDS
cost_start_cutover mirror cutover-mirror.yaml "${ports_kv[@]}"
co_m_url=$CO_URL co_m_pids=$CO_PIDS co_m_admin=$CO_ADMIN
mapfile -t cports < <(free_ports 2)
mkdir -p "$work/cost-haproxy" "$work/cost-nginx"
co_h_url="" co_h_pids="" co_n_url="" co_n_pids=""
render "$conf/haproxy.cfg" "$work/cost-haproxy/haproxy.cfg" "${ports_kv[@]}" "${log_kv[@]}" WORKERS=1 PROXY_PORT="${cports[0]}" MAXCONN=1024 NOFILE=4096
spawn "$work/cost-haproxy/out.log" haproxy -db -f "$work/cost-haproxy/haproxy.cfg"
cost_pids+=("$SPAWNED_PID")
if wait_http "http://127.0.0.1:${cports[0]}/" 10 "$SPAWNED_PID"; then
  co_h_url=http://127.0.0.1:${cports[0]} co_h_pids=$SPAWNED_PID
else
  say "bench: cost: HAProxy did not start: $(tail -n 3 "$work/cost-haproxy/out.log" | tr '\n' ' ')" >&2
fi
render "$conf/nginx-proxy.conf" "$work/cost-nginx/nginx.conf" DIR="$work/cost-nginx" "${ports_kv[@]}" "${log_kv[@]}" WORKERS=1 PROXY_PORT="${cports[1]}" MAXCONN=1024 NOFILE=4096
start_nginx "$work/cost-nginx" "$work/cost-nginx/nginx.conf" "$work/cost-nginx/out.log"
cost_pids+=("$SPAWNED_PID")
if wait_http "http://127.0.0.1:${cports[1]}/" 10 "$SPAWNED_PID"; then
  co_n_url=http://127.0.0.1:${cports[1]} co_n_pids="$SPAWNED_PID $(pgrep -P "$SPAWNED_PID" | tr '\n' ' ')"
else
  say "bench: cost: nginx did not start (see $work/cost-nginx)" >&2
fi
for load in keep-alive close; do
  cost_contender "$load" cutover "$co_url" "$co_pids"
  [ -z "${COST_B:-}" ] || cost_contender "$load" "${COST_B_NAME:-cutover B}" "$co_b_url" "$co_b_pids"
  cost_contender "$load" "HAProxy $haproxy_version" "$co_h_url" "$co_h_pids"
  cost_contender "$load" "nginx $nginx_version" "$co_n_url" "$co_n_pids"
done
cost_contender mirror "cutover no-mirror" "$co_nm_url" "$co_nm_pids"
cost_contender mirror "cutover mirror" "$co_m_url" "$co_m_pids" "$co_m_admin"
# cost_measure I ROUND: warm up pair I, then one measured wrk run between two CPU readings.
cost_measure() {
  local i=$1 round=$2 load=${coloads[$1]} name=${conames[$1]} url=${courls[$1]} out before after r p e n ub sb ua sa t u s shown
  [ -n "$url" ] || return 0
  local -a pids args
  read -r -a pids <<< "${copids[i]}"
  args=()
  case $load in
    close) args=(-H 'Connection: close'); url+=/ ;;
    mirror) url+=$MIRROR_PATH ;;
    *) url+=/ ;;
  esac
  out=$work/cost-$round-$i-$load-${name%% *}.txt
  shown=""; [ ${#args[@]} -eq 0 ] || shown=" -H \"${args[1]}\""
  say "bench: cost round $round/$COST_ROUNDS: $load: $name: warm-up $WARMUP, then ${WRK[*]}$shown $url"
  wrk -t1 -c64 -d"$WARMUP" "${args[@]}" "$url" > /dev/null 2>&1 || true
  [ -z "${coadmins[i]}" ] || mirror_settle "${coadmins[i]}" || true
  before=$(cpu_ticks "${pids[@]}") || { say "bench: cost: $name is gone" >&2; return 0; }
  "${WRK[@]}" "${args[@]}" "$url" > "$out" 2>&1 || true
  # The mirrors of the measured requests are part of their cost: wait for them to finish.
  [ -z "${coadmins[i]}" ] || mirror_settle "${coadmins[i]}" || true
  after=$(cpu_ticks "${pids[@]}") || { say "bench: cost: $name is gone" >&2; return 0; }
  read -r r p e < <(wrk_parse "$out")
  n=$(wrk_requests "$out")
  read -r ub sb <<< "$before"
  read -r ua sa <<< "$after"
  # µs per request: total, user, system
  read -r t u s < <(awk -v n="$n" -v hz="$clk_tck" -v ub="$ub" -v sb="$sb" -v ua="$ua" -v sa="$sa" 'BEGIN {
    if (n <= 0) { print "- - -"; exit }
    printf "%.2f %.2f %.2f\n", ((ua - ub) + (sa - sb)) * 1e6 / hz / n, (ua - ub) * 1e6 / hz / n, (sa - sb) * 1e6 / hz / n }')
  echo "cpu: $t us per request ($u user + $s system) over $n requests, $((ua - ub + sa - sb)) ticks of 1/$clk_tck s" >> "$out"
  cous[i]+="$t " couser[i]+="$u " cosys[i]+="$s " corps[i]+="$r " coerrs[i]+="$e " coruns[i]+="${coruns[i]:+ / }$t"
  mfiles+=("$out")
}
rounds "$COST_ROUNDS" ${#conames[@]} cost_measure
stop_all cost "${cost_pids[@]}"
fi

# --- stage "idle": memory per idle keep-alive downstream connection ------------------------------
inames=() iper=() iopen=() ibefore=() iafter=() iwant=()
if want idle; then
say "bench: stage idle: $IDLE_CONNS idle keep-alive connections held against each proxy"
ulimit -n "$(ulimit -Hn)" 2> /dev/null || true
if [ "$(ulimit -n)" -lt $((IDLE_CONNS + 200)) ]; then
  say "bench: idle: ulimit -n is $(ulimit -n), below the $((IDLE_CONNS + 200)) needed; the stage will count failures" >&2
fi
for kind in "${CONTENDERS[@]}"; do
  if ! up_proxy "$kind" "$work/idle-$kind" $((IDLE_CONNS + 500)); then
    say "bench: idle: $kind did not start (see $work/idle-$kind)" >&2
    inames+=("$kind") iper+=(-) iopen+=(-) ibefore+=(-) iafter+=(-) iwant+=("$IDLE_CONNS")
    [ -n "$UP_PID" ] && stop_pid "$UP_PID"
    continue
  fi
  n=$IDLE_CONNS
  if [ $((UP_MAXCONN - 10)) -lt "$n" ]; then
    n=$((UP_MAXCONN - 10))
    say "bench: idle: $UP_NAME: only $n connections fit in ulimit -Hn $(ulimit -Hn)" >&2
  fi
  say "bench: idle: $UP_NAME: opening $n connections, one request each (VmRSS of pid $UP_RSS_PIDS)"
  hostport=${UP_URL#http://}
  # shellcheck disable=SC2086  # UP_RSS_PIDS is a list
  if read -r before after open fails < <(timeout 300 python3 "$repo/bench/idle_conns.py" "${hostport%:*}" "${hostport##*:}" \
    "$n" $UP_RSS_PIDS 2> "$work/idle-$kind/client.err"); then
    per=$(awk -v b="$before" -v a="$after" -v n="$open" 'BEGIN { if (n > 0) printf "%.2f", (a - b) / n; else print "-" }')
    [ "$fails" = 0 ] || say "bench: idle: $UP_NAME: $fails connections failed: $(head -n 1 "$work/idle-$kind/client.err")" >&2
  else
    before=- after=- open=- per=-
    say "bench: idle: $UP_NAME: client failed: $(tail -n 2 "$work/idle-$kind/client.err" | tr '\n' ' ')" >&2
  fi
  inames+=("$UP_NAME") iper+=("$per") iopen+=("$open") ibefore+=("$before") iafter+=("$after") iwant+=("$n")
  stop_pid "$UP_PID"
done
fi

# --- stage "large": 1 GiB through each proxy -----------------------------------------------------
lnames=() lthr=() lruns=() lerrs=()
if want large; then
say "bench: stage large: $LARGE_MIB MiB downloaded through each proxy, $LARGE_ROUNDS rounds"
mkdir -p "$work/backends/www/files"
truncate -s "${LARGE_MIB}M" "$work/backends/www/files/large"   # sparse: served from the page cache
# large_measure NAME URL: LARGE_ROUNDS downloads with curl; append the median MiB/s.
large_measure() {
  local name=$1 url=$2/files/large rs=() nerr=0 runs="" round out speed size code
  for ((round = 1; round <= LARGE_ROUNDS; round++)); do
    out=$(timeout 120 curl -s -o /dev/null -m 100 -w '%{speed_download} %{size_download} %{http_code}' "$url" || echo "0 0 000")
    read -r speed size code <<< "$out"
    if [ "$code" != 200 ] || [ "$size" != $((LARGE_MIB * 1048576)) ]; then
      nerr=$((nerr + 1)); say "bench: large: $name: status $code, $size bytes" >&2; continue
    fi
    speed=$(awk -v s="$speed" 'BEGIN { printf "%.0f", s / 1048576 }')
    rs+=("$speed") runs+="${runs:+ / }$speed"
  done
  say "bench: large: $name: $runs MiB/s"
  lnames+=("$name") lthr+=("$(median "${rs[@]}")") lruns+=("${runs:--}") lerrs+=("$nerr")
}
large_measure "backend direct (reference)" "http://127.0.0.1:$SOURCE_PORT"
for kind in "${CONTENDERS[@]}"; do
  if up_proxy "$kind" "$work/large-$kind"; then
    large_measure "$UP_NAME" "$UP_URL"
  else
    say "bench: large: $kind did not start (see $work/large-$kind)" >&2
    lnames+=("$kind") lthr+=(-) lruns+=(-) lerrs+=(-)
  fi
  [ -n "$UP_PID" ] && stop_pid "$UP_PID"
done
fi

# --- stage "flip": weight change to effect -------------------------------------------------------
flip_line=""
if want flip; then
say "bench: stage flip: $FLIP_ROUNDS weight changes 0 <-> 100 through the admin API, each followed by requests"
if up_proxy cutover "$work/flip-cutover"; then
  flip_line=$(timeout 120 python3 "$repo/bench/flip.py" "$CUTOVER_ADMIN" "$UP_URL" app "$FLIP_ROUNDS" 2> "$work/flip.err") ||
    { say "bench: flip: $(tail -n 1 "$work/flip.err")" >&2; flip_line=""; }
else
  say "bench: flip: cutover did not start (see $work/flip-cutover)" >&2
fi
[ -n "$UP_PID" ] && stop_pid "$UP_PID"
fi

# --- stage "fleet": convergence of a fleet through etcd ------------------------------------------
fleet_lines=""
if want fleet; then
say "bench: stage fleet: $FLEET_ROUNDS weight changes through node 1 of fleets of $FLEET_SIZES nodes, 3-member etcd"
# shellcheck disable=SC2086 # FLEET_SIZES is a list of numbers
fleet_lines=$(CUTOVER_BIN="$CUTOVER_BIN" timeout 900 /usr/bin/python3 "$repo/bench/fleet_converge.py" "$FLEET_ROUNDS" $FLEET_SIZES \
              2> "$work/fleet.err") || { say "bench: fleet: $(tail -n 1 "$work/fleet.err")" >&2; fleet_lines=""; }
fi

# --- stage "micro": Google Benchmark micro-benchmarks (bench/micro) ------------------------------
if want micro; then
say "bench: stage micro: build/cutover_micro (ns/op and heap allocations per operation)"
MICRO=${MICRO:-$repo/build/cutover_micro}
(cd "$repo" && cmake -S . -B build -DCUTOVER_BENCH_TOOLS=ON && cmake --build build -j2 --target cutover_micro) > "$work/micro-build.log" 2>&1 ||
  say "bench: micro: could not build cutover_micro (log $work/micro-build.log; is libbenchmark-dev installed?)" >&2
if [ -x "$MICRO" ]; then
  "$MICRO" --benchmark_min_time="$MICRO_MIN_TIME" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
    --benchmark_format=json > "$work/micro.json" 2> "$work/micro.err" || say "bench: micro: cutover_micro failed" >&2
fi
fi

# --- report ------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else printf "-" }'; }

# proxies_table OUT: the markdown table of proxies_stage's results in the arrays ${OUT}names...
proxies_table() {
  local -n t_names=${1}names t_rps=${1}rps t_p99=${1}p99 t_errs=${1}errs t_shares=${1}shares t_pruns=${1}pruns
  local i share h=- n=-
  for i in "${!t_names[@]}"; do
    [[ ${t_names[i]} == HAProxy* ]] && h=${t_rps[i]}
    [[ ${t_names[i]} == nginx* ]] && n=${t_rps[i]}
  done
  echo "| proxy | requests/s | p99 ms | vs HAProxy | vs nginx | target share | requests/s per run | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|"
  for i in "${!t_names[@]}"; do
    share=${t_shares[i]}
    [[ $share == [0-9]* ]] && share="$share %"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${t_names[i]}" "${t_rps[i]}" "${t_p99[i]}" \
      "$(ratio "${t_rps[i]}" "$h")" "$(ratio "${t_rps[i]}" "$n")" "$share" "${t_pruns[i]}" "${t_errs[i]}"
  done
}
table=$work/table.md w2table=$work/workers2-table.md
: > "$table"; : > "$w2table"
if want proxies; then proxies_table "" > "$table"; fi
if want workers2; then proxies_table w2 > "$w2table"; fi
altable=$work/accesslog-table.md al_cost=-
: > "$altable"
if want accesslog; then
  proxies_table al > "$altable"
  # The cost of cutover's access log: requests/s with it against the same build without it.
  al_with=- al_without=-
  for i in "${!alnames[@]}"; do
    [ "${alnames[i]}" = cutover ] && al_with=${alrps[i]}
    [ "${alnames[i]}" = "cutover, no access log" ] && al_without=${alrps[i]}
  done
  al_cost=$(awk -v a="$al_with" -v b="$al_without" \
    'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.1f %%", 100 * (1 - a / b); else printf "-" }')
fi

# Mirror stage: per contender the median requests/s and the median p99 over its runs (each median
# taken on its own), errors summed ("-" when a run gave no result).
mtable=$work/mirror-table.md mnotes=()
: > "$mtable"
if want mirror; then
  m_r=() m_p=() m_e=()
  for i in "${!mnames[@]}"; do
    m_r[i]=- m_p[i]=- m_e[i]=-
    [ -n "${murls[i]}" ] || continue
    read -r -a vals <<< "${mrps[$i]}"; m_r[i]=$(num %.0f "$(median "${vals[@]}")")
    read -r -a vals <<< "${mp99[$i]}"; m_p[i]=$(num %.2f "$(median "${vals[@]}")")
    read -r -a vals <<< "${merrs[$i]}"; m_e[i]=$(sum_or_dash "${vals[@]}")
  done
  mi() { local i; for i in "${!mnames[@]}"; do [ "${mnames[i]}" = "$1" ] && echo "$i" && return; done; echo -1; }
  i_base=$(mi "cutover no-mirror") i_mir=$(mi "cutover mirror") i_ngx=$(mi "nginx $nginx_version mirror")
  r_base=- r_ngx=- r_mir=- p_mir=-
  [ "$i_base" -ge 0 ] && r_base=${m_r[i_base]}
  [ "$i_ngx" -ge 0 ] && r_ngx=${m_r[i_ngx]}
  [ "$i_mir" -ge 0 ] && r_mir=${m_r[i_mir]} p_mir=${m_p[i_mir]}
  counts="${mcounts[0]} / ${mcounts[1]} / ${mcounts[2]} / ${mcounts[3]}"
  [ -z "$mirror_fail" ] && [ "$r_mir" != - ] || counts="-"
  {
    echo "| mirror 100 % (GET $MIRROR_PATH, weight 0) | requests/s | p99 ms | vs cutover no-mirror | vs nginx mirror | target share | requests/s per run | mirrors match / mismatch / error / dropped | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for i in "${!mnames[@]}"; do
      share=${mshares[i]}
      [[ $share == [0-9]* ]] && share="$share %"
      case ${mnames[i]} in
        "cutover mirror") mc=$counts ;;
        nginx*) mc="not counted" ;;
        *) mc="n/a" ;;
      esac
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${mnames[i]}" "${m_r[i]}" "${m_p[i]}" \
        "$(ratio "${m_r[i]}" "$r_base")" "$(ratio "${m_r[i]}" "$r_ngx")" "$share" "${mruns[$i]:--}" "$mc" "${m_e[i]}"
    done
  } > "$mtable"
  # target met? VALUE OP LIMIT
  met() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { if (v !~ /^[0-9.]+$/) print "not measured"; else if (op == ">=" ? v >= l : v <= l) print "met"; else print "missed" }'; }
  q_base=$(ratio "$r_mir" "$r_base") q_ngx=$(ratio "$r_mir" "$r_ngx")
  mnotes+=("- cutover mirror, over its $MIRROR_ROUNDS measured runs: ${mcounts[4]} requests answered to wrk; mirrored copies by result: match ${mcounts[0]}, mismatch ${mcounts[1]}, error ${mcounts[2]}, dropped ${mcounts[3]} (\`cutover_mirror_requests_total{route=\"app\"}\` before and after each run, once no mirror was in flight; requests still in flight when wrk stopped were mirrored but not counted by wrk)${mirror_fail:+; NOT TRUSTED: $mirror_fail}")
  if [ -n "$mirror_fail" ] || [ "${mcounts[0]}" -eq 0 ]; then
    mnotes+=("- mirroring targets: not assessed: no matching mirror was counted")
  else
    mnotes+=("- mirroring targets (copying every request costs at most 40 % of the throughput, is 3x nginx's mirror, keeps p99 within 5 ms): cutover mirror / cutover no-mirror = $q_base (≥ 0.60: $(met "$q_base" ">=" 0.6)); cutover mirror / nginx mirror = $q_ngx (≥ 3: $(met "$q_ngx" ">=" 3)); cutover mirror p99 = $p_mir ms (≤ 5: $(met "$p_mir" "<=" 5))")
  fi
fi

ttable=$work/tcp-table.md
: > "$ttable"
if want tcp; then
  t_haproxy_thr=- t_haproxy_rate=-
  for i in "${!tnames[@]}"; do [[ ${tnames[i]} == HAProxy* ]] && t_haproxy_thr=${tthr[i]} t_haproxy_rate=${trate[i]}; done
  {
    echo "| tcp relay | throughput MiB/s | vs HAProxy | connections/s | vs HAProxy | errors |"
    echo "|---|---:|---:|---:|---:|---:|"
    for i in "${!tnames[@]}"; do
      printf '| %s | %s | %s | %s | %s | %s |\n' "${tnames[i]}" "${tthr[i]}" "$(ratio "${tthr[i]}" "$t_haproxy_thr")" \
        "${trate[i]}" "$(ratio "${trate[i]}" "$t_haproxy_rate")" "${terrs[i]}"
    done
  } > "$ttable"
fi

# Stages close, idle, large, flip, micro: one markdown table each.
ctable=$work/close-table.md itable=$work/idle-table.md ltable=$work/large-table.md
ftable=$work/flip-table.md utable=$work/micro-table.md etable=$work/fleet-table.md
: > "$ctable"; : > "$itable"; : > "$ltable"; : > "$ftable"; : > "$utable"; : > "$etable"
# of NAMES_ARRAY VALUES_ARRAY PREFIX: the value of the first name starting with PREFIX, or "-".
of() {
  local -n _n=$1 _v=$2
  local i
  for i in "${!_n[@]}"; do [[ ${_n[i]} == "$3"* ]] && echo "${_v[i]}" && return; done
  echo -
}
if want close; then
  c_h=$(of cnames crps HAProxy) c_n=$(of cnames crps nginx)
  {
    echo "| new connection per request | requests/s | p99 ms | vs HAProxy | vs nginx | requests/s per run | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for i in "${!cnames[@]}"; do
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${cnames[i]}" "$(num %.0f "${crps[i]}")" "$(num %.2f "${cp99[i]}")" \
        "$(ratio "${crps[i]}" "$c_h")" "$(ratio "${crps[i]}" "$c_n")" "${cruns[i]}" "${cerrs[i]}"
    done
  } > "$ctable"
fi
# round_medians RATES P99S ERRS OUT_R OUT_P OUT_E P99_FORMAT: per contender, from the arrays RATES,
# P99S, ERRS (each element the contender's runs, space-separated) into OUT_R (median rate, %.0f),
# OUT_P (median p99, P99_FORMAT) and OUT_E (errors summed, "-" when a run gave no result).
# shellcheck disable=SC2034  # the OUT arrays are the caller's, filled through namerefs
round_medians() {
  local -n in_r=$1 in_p=$2 in_e=$3 out_r=$4 out_p=$5 out_e=$6
  local i vals
  out_r=() out_p=() out_e=()
  for i in "${!in_r[@]}"; do
    read -r -a vals <<< "${in_r[i]}"; out_r[i]=$(num %.0f "$(median "${vals[@]}")")
    read -r -a vals <<< "${in_p[i]}"; out_p[i]=$(num "$7" "$(median "${vals[@]}")")
    read -r -a vals <<< "${in_e[i]}"; out_e[i]=$(sum_or_dash "${vals[@]}")
  done
}
wtable=$work/websocket-table.md
: > "$wtable"
if want websocket; then
  w_r=() w_p=() w_e=()
  round_medians wrps wp99 werrs w_r w_p w_e %.0f
  w_h=$(of wnames w_r HAProxy) w_n=$(of wnames w_r nginx)
  {
    echo "| websocket ping-pong ($WS_CONNS tunnels, $WS_BYTES B) | messages/s | p99 round trip µs | vs HAProxy | vs nginx | messages/s per run | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for i in "${!wnames[@]}"; do
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${wnames[i]}" "${w_r[i]}" "${w_p[i]}" "$(ratio "${w_r[i]}" "$w_h")" \
        "$(ratio "${w_r[i]}" "$w_n")" "${wruns[i]:--}" "${w_e[i]}"
    done
  } > "$wtable"
fi
htable=$work/h2-table.md
: > "$htable"
if want h2; then
  h_r=() h_p=() h_e=()
  round_medians h2rps h2p99 h2errs h_r h_p h_e %.2f
  h_h=$(of h2names h_r HAProxy) h_n=$(of h2names h_r nginx)
  {
    echo "| HTTP/2 in, HTTP/1.1 out (h2load, 16 connections x 10 streams) | requests/s | p99 ms | vs HAProxy | vs nginx | target share | requests/s per run | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for i in "${!h2names[@]}"; do
      share=${h2shares[i]}
      [[ $share == [0-9]* ]] && share="$share %"
      printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${h2names[i]}" "${h_r[i]}" "${h_p[i]}" "$(ratio "${h_r[i]}" "$h_h")" \
        "$(ratio "${h_r[i]}" "$h_n")" "$share" "${h2runs[i]:--}" "${h_e[i]}"
    done
  } > "$htable"
fi
gtable=$work/grpc-table.md
: > "$gtable"
if want grpc; then
  g_r=() g_p=() g_e=()
  round_medians grps gp99 gerrs g_r g_p g_e %.2f
  for i in "${!gnames[@]}"; do  # a failed grpcio check voids the row
    [[ -z ${gurls[i]} || ${gchecks[i]} == PASSED* ]] || g_e[i]=-
  done
  g_h=$(of gnames g_r HAProxy) g_n=$(of gnames g_r nginx)
  {
    echo "| gRPC unary (h2load, 16 connections x 10 streams) | calls/s | p99 ms | vs HAProxy | vs nginx | grpcio check | calls/s per run | backend grpc-status 0 / h2load succeeded, per run | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for i in "${!gnames[@]}"; do
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "${gnames[i]}" "${g_r[i]}" "${g_p[i]}" "$(ratio "${g_r[i]}" "$g_h")" \
        "$(ratio "${g_r[i]}" "$g_n")" "${gchecks[i]}" "${gruns[i]:--}" "${gcalls[i]:--}" "${g_e[i]}"
    done
  } > "$gtable"
fi
ostable=$work/cost-table.md
: > "$ostable"
if want cost; then
  co_t=() co_u=() co_s=() co_r=() co_e=()
  for i in "${!conames[@]}"; do
    read -r -a vals <<< "${cous[i]}"; co_t[i]=$(num %.2f "$(median "${vals[@]}")")
    read -r -a vals <<< "${couser[i]}"; co_u[i]=$(num %.2f "$(median "${vals[@]}")")
    read -r -a vals <<< "${cosys[i]}"; co_s[i]=$(num %.2f "$(median "${vals[@]}")")
    read -r -a vals <<< "${corps[i]}"; co_r[i]=$(num %.0f "$(median "${vals[@]}")")
    read -r -a vals <<< "${coerrs[i]}"; co_e[i]=$(sum_or_dash "${vals[@]}")
  done
  # cost_of LOAD PREFIX: the median µs per request of the pair (LOAD, first name starting with PREFIX).
  cost_of() {
    local i
    for i in "${!conames[@]}"; do
      [ "${coloads[i]}" = "$1" ] && [[ ${conames[i]} == "$2"* ]] && echo "${co_t[i]}" && return
    done
    echo -
  }
  {
    echo "| load | proxy | CPU µs per request | user + system µs | vs HAProxy | vs nginx | vs cutover no-mirror | requests/s | µs per request per run | errors |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for i in "${!conames[@]}"; do
      vh=- vn=- vm=-
      if [ "${coloads[i]}" = mirror ]; then
        vm=$(ratio "${co_t[i]}" "$(cost_of mirror "cutover no-mirror")")
      else
        vh=$(ratio "${co_t[i]}" "$(cost_of "${coloads[i]}" HAProxy)") vn=$(ratio "${co_t[i]}" "$(cost_of "${coloads[i]}" nginx)")
      fi
      printf '| %s | %s | %s | %s + %s | %s | %s | %s | %s | %s | %s |\n' "${coloads[i]}" "${conames[i]}" "${co_t[i]}" \
        "${co_u[i]}" "${co_s[i]}" "$vh" "$vn" "$vm" "${co_r[i]}" "${coruns[i]:--}" "${co_e[i]}"
    done
  } > "$ostable"
fi
if want idle; then
  i_h=$(of inames iper HAProxy) i_n=$(of inames iper nginx)
  {
    echo "| idle keep-alive connections | KiB per connection | vs HAProxy | vs nginx | VmRSS before → after KiB | still open / opened |"
    echo "|---|---:|---:|---:|---:|---:|"
    for i in "${!inames[@]}"; do
      printf '| %s | %s | %s | %s | %s → %s | %s / %s |\n' "${inames[i]}" "${iper[i]}" "$(ratio "${iper[i]}" "$i_h")" \
        "$(ratio "${iper[i]}" "$i_n")" "${ibefore[i]}" "${iafter[i]}" "${iopen[i]}" "${iwant[i]}"
    done
  } > "$itable"
fi
if want large; then
  l_h=$(of lnames lthr HAProxy) l_n=$(of lnames lthr nginx)
  {
    echo "| $LARGE_MIB MiB download | MiB/s | vs HAProxy | vs nginx | MiB/s per run | errors |"
    echo "|---|---:|---:|---:|---:|---:|"
    for i in "${!lnames[@]}"; do
      printf '| %s | %s | %s | %s | %s | %s |\n' "${lnames[i]}" "${lthr[i]}" "$(ratio "${lthr[i]}" "$l_h")" \
        "$(ratio "${lthr[i]}" "$l_n")" "${lruns[i]}" "${lerrs[i]}"
    done
  } > "$ltable"
fi
if want flip; then
  read -r f_am f_a99 f_em f_e99 f_stale f_n <<< "${flip_line:-- - - - - -}"
  {
    echo "| weight change to effect ($f_n flips 0 ↔ 100) | median µs | p99 µs |"
    echo "|---|---:|---:|"
    echo "| admin PUT /v1/routes/app/weights answered | $f_am | $f_a99 |"
    echo "| first request after it served by the new side | $f_em | $f_e99 |"
    echo
    echo "- requests sent after the admin call returned that the old side still served: $f_stale (must be 0)"
  } > "$ftable"
fi
if want fleet && [ -n "$fleet_lines" ]; then
  {
    echo "| nodes | weight changes | p50 ms | p99 ms | max ms | not converged | stale reads |"
    echo "|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "$fleet_lines"
  } > "$etable"
fi
if want micro && [ -s "$work/micro.json" ]; then
  {
    echo "| micro-benchmark (median of 3) | ns/op | allocs/op |"
    echo "|---|---:|---:|"
    python3 - "$work/micro.json" <<'PY'
import json, sys
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    ns = b["real_time"] * {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b["time_unit"]]
    print(f"| {b['run_name']} | {ns:.1f} | {b.get('allocs/op', 0):.1f} |")
PY
  } > "$utable"
fi

# Chart of stage proxies: requests/s and p99 per proxy (gnuplot, PNG next to latest.md).
chart=""
if want proxies && command -v gnuplot > /dev/null; then
  for i in "${!names[@]}"; do
    [[ ${rps[i]} =~ ^[0-9]+$ ]] && printf '"%s" %s %s\n' "${names[i]/ (reference)/}" "${rps[i]}" "${p99[i]}"
  done > "$work/chart.dat"
  mkdir -p "$results"
  if [ -s "$work/chart.dat" ] && gnuplot > "$work/gnuplot.log" 2>&1 <<GP
set terminal pngcairo size 1000,420 font ",10"
set output "$results/latest.png.tmp"
set multiplot layout 1,2 title "cutover vs HAProxy vs nginx, 1 worker, 90/10 split, wrk -c64 ($(date -u '+%Y-%m-%d'))"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.7
set grid ytics
set yrange [0:*]
unset key
set xtics rotate by -20
set title "requests/s (higher is better)"
plot "$work/chart.dat" using 2:xtic(1) linecolor rgb "#3573b9"
set title "p99 latency, ms (lower is better)"
plot "$work/chart.dat" using 3:xtic(1) linecolor rgb "#d9822b"
unset multiplot
GP
  then
    mv "$results/latest.png.tmp" "$results/latest.png"
    chart=latest.png
  else
    say "bench: gnuplot chart failed (log $work/gnuplot.log)" >&2
    rm -f "$results/latest.png.tmp"
  fi
fi

invocation="./bench/run.sh${*:+ $*}"
mkdir -p "$results"
{
  echo "# Load benchmark: cutover vs HAProxy vs nginx"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), \`$invocation\` (see bench/README.md for how to read this)."
  if want proxies; then
    echo
    cat "$table"
    echo
    [ -n "$chart" ] && { echo "![requests/s and p99 per proxy]($chart)"; echo; }
    echo "- load: \`${WRK[*]} URL/\` after a ${WARMUP} warm-up; GET of a 7-byte body; 90/10 split source/target;"
    echo "  $PROXIES_ROUNDS interleaved rounds (all contenders up, the order rotating), medians of requests/s and p99 each on its own"
    echo "- every proxy with one worker (cutover \`workers: 1\`, HAProxy \`nbthread 1\`, nginx \`worker_processes 1\`),"
    echo "  keep-alive on both sides; backends: one nginx worker, two server blocks"
    echo "- target share: $SPLIT_REQUESTS sequential requests through the proxy before the load run"
    echo "- errors: wrk socket errors + non-2xx/3xx responses"
  fi
  if want workers2; then
    echo
    echo "## Two workers"
    echo
    cat "$w2table"
    echo
    echo "- as stage proxies (same load, backends and rounds), every proxy with two workers (cutover \`workers: 2\`,"
    echo "  HAProxy \`nbthread 2\`, nginx \`worker_processes 2\`); the machine's $(nproc) CPUs also run wrk and the backends,"
    echo "  so a second worker competes with them rather than getting a CPU of its own; workers bound one per CPU:"
    echo "  $WORKERS2_BIND (WORKERS2_BIND: cutover \`worker_cpu_affinity: auto\`, HAProxy \`cpu-map auto:1/1-2 0-1\`,"
    echo "  nginx \`worker_cpu_affinity auto\`)"
  fi
  if want accesslog; then
    echo
    echo "## Keep-alive with access logs"
    echo
    cat "$altable"
    echo
    echo "- stage proxies' load with every proxy writing one JSON line per request: cutover \`access_log\` to a file"
    echo "  (all fields), HAProxy \`log stdout format raw\` with a JSON \`log-format\` (its stdout is a file), nginx"
    echo "  \`log_format escape=json\` to a file with \`buffer=64k flush=1s\`; \"cutover, no access log\" is the same"
    echo "  build and config without \`access_log\`, in the same rounds"
    echo "- cost of cutover's access log: $al_cost of requests/s"
  fi
  if want tcp; then
    echo
    echo "## TCP relay (tcp listener vs HAProxy mode tcp)"
    echo
    cat "$ttable"
    echo
    echo "- throughput: $TCP_CONNS connections at once, each writing $TCP_MIB MiB and reading the echo back concurrently"
    echo "  (MiB/s counts both directions); rate: $TCP_CONNS loops of connect, 64-byte round trip, close (RST) for ${TCP_RATE_SECONDS}s"
    echo "- one worker each (cutover \`workers: 1\`, HAProxy \`nbthread 1\`), 90/10 split per connection; backends: two"
    echo "  single-threaded \`build/cutover_tcp_load serve\` echo servers; client: \`build/cutover_tcp_load\` (one thread)"
  fi
  if [ -s "$wtable" ]; then
    echo; echo "## WebSocket tunnels"; echo; cat "$wtable"; echo
    echo "- load: \`build/cutover_ws_load run HOST:PORT /ws $WS_CONNS $WS_SECONDS $WS_BYTES\` after a 1 s run as warm-up: $WS_CONNS tunnels,"
    echo "  each with one $WS_BYTES-byte binary message in flight, echoed by the backend (messages/s = round trips a second);"
    echo "  $WS_ROUNDS interleaved rounds (all contenders up, the order rotating), medians of messages/s and p99 each on its own"
    echo "- one worker each: cutover \`workers: 1\`, route \`upgrade: [websocket]\` at weight 0 (\`bench/config/cutover-ws.yaml\`);"
    echo "  HAProxy \`nbthread 1\`, mode http (\`haproxy-ws.cfg\`); nginx \`worker_processes 1\`, \`Upgrade\` and \`Connection: upgrade\`"
    echo "  passed on (\`nginx-ws.conf\`); backend: one single-threaded \`build/cutover_ws_load serve\` (Beast), client: the same tool, one thread"
  fi
  if [ -s "$htable" ]; then
    echo; echo "## HTTP/2 downstream"; echo; cat "$htable"; echo
    echo "- load: \`${H2LOAD[*]} --log-file=FILE URL/\` ($(h2load --version 2> /dev/null | head -n 1)): 16 cleartext"
    echo "  connections with HTTP/2 prior knowledge, 10 streams in flight on each, one client thread, a 1 s warm-up inside each run;"
    echo "  $H2_ROUNDS interleaved rounds (all contenders up, the order rotating), medians of requests/s (h2load's \"finished in\" line)"
    echo "  and p99 (nearest rank over the durations of its --log-file, the measured requests only) each on its own"
    echo "- one worker each, HTTP/1.1 with keep-alive to the backends of stage proxies, 90/10 split: cutover \`bench/config/cutover.yaml\`"
    echo "  (its http listener takes h2c prior knowledge), HAProxy \`bind ... proto h2\` (\`haproxy-h2.cfg\`), nginx \`listen ... http2\`"
    echo "  (\`nginx-h2.conf\`); target share: $SPLIT_REQUESTS requests on one HTTP/2 connection (\`nghttp -m $SPLIT_REQUESTS URL/split/\`) before the first round"
    echo "- errors: h2load's failed requests (non-2xx/3xx answers, and the errored ones: resets, connection failures)"
  fi
  if [ -s "$gtable" ]; then
    echo; echo "## gRPC unary calls"; echo; cat "$gtable"; echo
    echo "- load: \`${grpc_h2load_shown//$work\//} --log-file=FILE URL$GRPC_PATH\`: 16 cleartext HTTP/2 connections, 10 calls in flight on"
    echo "  each, one client thread, a 1 s warm-up inside each run; the body file is one length-prefixed gRPC message (5 + 15 bytes);"
    echo "  $GRPC_ROUNDS interleaved rounds (all contenders up, the order rotating), medians of calls/s (h2load's \"finished in\" line) and p99"
    echo "  (nearest rank over its --log-file) each on its own"
    echo "- backend: one single-threaded \`build/cutover_grpc_echo serve\` (nghttp2 server session): \`:status 200\`, the message echoed"
    echo "  in one DATA frame, trailers \`grpc-status: 0\`; one worker each, HTTP/2 both ways, 90/10 over two names of that backend:"
    echo "  cutover \`protocol: http2\` clusters (\`cutover-grpc.yaml\`), HAProxy \`bind ... proto h2\` and \`server ... proto h2\`"
    echo "  (\`haproxy-grpc.cfg\`), nginx \`listen ... http2\` and \`grpc_pass grpc://\` with \`keepalive 256\` (\`nginx-grpc.conf\`)"
    echo "- grpcio check: $GRPC_CHECK_CALLS calls through each contender with Debian's python3-grpcio before the first round"
    echo "  (\`bench/grpc_check.py\`: status OK from the trailers, reply equal to the request)"
    echo "- errors: h2load's failed calls, calls the backend counted bad, and succeeded calls beyond the backend's count of calls"
    echo "  answered with grpc-status 0 during the run (that count includes the warm-up's and those cut at the end)"
  fi
  if want mirror; then
    echo
    echo "## Mirror 100 %"
    echo
    cat "$mtable"
    echo
    printf '%s\n' "${mnotes[@]}"
    echo "- load: \`${WRK[*]} URL$MIRROR_PATH\` after a ${WARMUP} warm-up, $MIRROR_ROUNDS interleaved rounds (order rotating);"
    echo "  requests/s and p99 are medians over the rounds, each taken on its own; errors summed; same backends,"
    echo "  which answer $MIRROR_PATH identically (7-byte body) on source and target"
    echo "- every primary request goes to source (weight 0; target share: $SPLIT_REQUESTS sequential requests before the"
    echo "  first round); cutover mirror copies 100 % of GETs to target and compares (\`bench/config/cutover-mirror.yaml\`),"
    echo "  nginx copies every request to target with \`mirror\` and discards the answer (\`bench/config/nginx-mirror.conf\`)"
  fi
  if [ -s "$ctable" ]; then
    echo; echo "## New connection per request"; echo; cat "$ctable"; echo
    echo "- load: \`wrk -t1 -c64 -d$CLOSE_DURATION --latency -H 'Connection: close' URL/\` after a ${WARMUP} warm-up, $CLOSE_ROUNDS runs"
    echo "  per proxy, medians (requests/s and p99 each on its own); the configs of stage proxies (keep-alive upstream)"
  fi
  if [ -s "$ostable" ]; then
    echo; echo "## CPU time per request"; echo; cat "$ostable"; echo
    echo "- utime + stime of each proxy's processes (\`/proc/PID/stat\`; nginx: master and worker) read before and after"
    echo "  each measured \`${WRK[*]}\` run (after a ${WARMUP} warm-up), divided by the requests wrk counted; clock ticks of"
    echo "  1/$(getconf CLK_TCK) s; $COST_ROUNDS interleaved rounds over the eight (load, proxy) pairs (all proxies up, the order"
    echo "  rotating), medians (total, user and system each on its own); ratios: this row's µs over the other's (lower is cheaper)"
    echo "- loads: keep-alive \`URL/\` (stage proxies' configs, 90/10), close: the same with \`-H 'Connection: close'\`,"
    echo "  mirror: \`URL$MIRROR_PATH\` through cutover-nomirror.yaml and cutover-mirror.yaml (stage mirror; mirrors waited for"
    echo "  before the second reading)"
  fi
  if [ -s "$itable" ]; then
    echo; echo "## Idle keep-alive connections"; echo; cat "$itable"; echo
    echo "- \`bench/idle_conns.py\`: $IDLE_CONNS connections opened one after the other, each doing one GET / and then idle;"
    echo "  VmRSS (/proc/PID/status) of the proxy process (nginx: its worker) 1 s after the last, minus VmRSS after a first request"
  fi
  if [ -s "$ltable" ]; then
    echo; echo "## Large response"; echo; cat "$ltable"; echo
    echo "- \`curl -o /dev/null URL/files/large\`: a sparse $LARGE_MIB MiB file served by the backend nginx (page cache,"
    echo "  sendfile), $LARGE_ROUNDS downloads per contender, median; the proxies with the configs of stage proxies (nginx buffering on, its default)"
  fi
  if [ -s "$ftable" ]; then
    echo; echo "## Weight change to effect"; echo; cat "$ftable"; echo
    echo "- \`bench/flip.py\`: cutover \`workers: 1\`; each flip times from just before the PUT is sent; requests on one open"
    echo "  keep-alive connection until the answer names the new side; admin and proxy connections kept open (Python client)"
  fi
  if [ -s "$etable" ]; then
    echo; echo "## Fleet convergence"; echo; cat "$etable"; echo
    echo "- \`bench/fleet_converge.py\`: 3-member etcd and N nodes (\`workers: 1\`) on this machine; from just before the"
    echo "  PUT through node 1 until its answer, which waits for every live node to report the revision applied"
  fi
  if [ -s "$utable" ]; then
    echo; echo "## Micro-benchmarks"; echo; cat "$utable"; echo
    echo "- \`build/cutover_micro --benchmark_min_time=$MICRO_MIN_TIME --benchmark_repetitions=3\` (bench/micro/micro.cpp);"
    echo "  allocs/op: operator new calls per iteration; BM_prepare_* include the head copy measured alone in BM_copy_*_head"
  fi
  echo
  echo "- machine: $(nproc) CPU ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(uname -sr);" \
    "wrk, proxies and backends share these CPUs"
  echo "- versions: $("$CUTOVER_BIN" --version 2> /dev/null | head -n 1 || echo "cutover ?")" \
    "(git $(git -C "$repo" rev-parse --short HEAD 2> /dev/null || echo "none")$( [ -n "$(git -C "$repo" status --porcelain 2> /dev/null)" ] && echo ", uncommitted changes")), $(haproxy -v | head -n 1 | cut -d' ' -f1-3), $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
  echo
  echo "<details><summary>raw wrk output</summary>"
  echo
  for f in "$work"/wrk-*.txt "${mfiles[@]}" "$work"/tcp-[0-9]*.txt "$work"/ws-[0-9]*.txt "$work"/h2-[0-9]*.txt "$work"/grpc-[0-9]*.txt; do
    [ -e "$f" ] || continue
    echo "### $(basename "$f" .txt | sed -e 's/^wrk-[0-9]*-//' -e 's/^mirror-\([0-9]*\)-[0-9]*-\(.*\)/\2, mirror round \1/')"
    echo '```'
    cat "$f"
    echo '```'
  done
  echo "</details>"
} > "$results/latest.md.tmp"
mv "$results/latest.md.tmp" "$results/latest.md"

echo
[ -s "$table" ] && { cat "$table"; echo; }
[ -s "$w2table" ] && { echo "two workers:"; cat "$w2table"; echo; }
[ -s "$altable" ] && { echo "access logs (cost of cutover's: $al_cost of requests/s):"; cat "$altable"; echo; }
[ -s "$mtable" ] && { cat "$mtable"; echo; printf '%s\n' "${mnotes[@]}"; echo; }
[ -s "$ttable" ] && { cat "$ttable"; echo; }
[ -s "$wtable" ] && { cat "$wtable"; echo; }
[ -s "$htable" ] && { cat "$htable"; echo; }
[ -s "$gtable" ] && { cat "$gtable"; echo; }
for t in "$ctable" "$ostable" "$itable" "$ltable" "$ftable" "$etable" "$utable"; do [ -s "$t" ] && { cat "$t"; echo; }; done
say "bench: written to ${results#"$repo"/}/latest.md"
rc=0
for i in "${!tnames[@]}"; do
  [ "${terrs[i]}" = 0 ] || { say "bench: tcp ${tnames[i]}: ${terrs[i]} errors (or no result)" >&2; rc=1; }
done
for i in "${!wnames[@]}"; do
  [ "${w_e[i]}" = 0 ] || { say "bench: websocket ${wnames[i]}: ${w_e[i]} errors (or no result)" >&2; rc=1; }
done
for i in "${!h2names[@]}"; do
  [ "${h_e[i]}" = 0 ] || { say "bench: h2 ${h2names[i]}: ${h_e[i]} errors (or no result)" >&2; rc=1; }
done
for i in "${!gnames[@]}"; do
  [ "${g_e[i]}" = 0 ] || { say "bench: grpc ${gnames[i]}: ${g_e[i]} errors (or no result; grpcio check: ${gchecks[i]})" >&2; rc=1; }
done
for i in "${!names[@]}"; do
  [ "${errs[i]}" = 0 ] || { say "bench: ${names[i]}: ${errs[i]} errors (or no result); raw output in bench/results/latest.md" >&2; rc=1; }
done
for i in "${!alnames[@]}"; do
  [ "${alerrs[i]}" = 0 ] || { say "bench: accesslog ${alnames[i]}: ${alerrs[i]} errors (or no result)" >&2; rc=1; }
done
for i in "${!w2names[@]}"; do
  [ "${w2errs[i]}" = 0 ] || { say "bench: workers2 ${w2names[i]}: ${w2errs[i]} errors (or no result); raw output in bench/results/latest.md" >&2; rc=1; }
done
if want mirror; then
  for i in "${!mnames[@]}"; do
    [ "${m_e[i]}" = 0 ] || { say "bench: ${mnames[i]}: ${m_e[i]} errors (or no result); raw output in bench/results/latest.md" >&2; rc=1; }
  done
  if [ -n "$mirror_fail" ]; then
    say "bench: MIRROR COUNTS UNAVAILABLE: $mirror_fail" >&2; rc=1
  elif [ "$r_mir" != - ] && [ "${mcounts[0]}" -eq 0 ]; then
    say "bench: CUTOVER MIRROR MADE NO MATCHING COMPARISON (match 0, mismatch ${mcounts[1]}, error ${mcounts[2]}, dropped ${mcounts[3]}): the mirror figures do not measure mirroring" >&2
    rc=1
  fi
fi
for i in "${!cnames[@]}"; do
  [ "${cerrs[i]}" = 0 ] || { say "bench: close ${cnames[i]}: ${cerrs[i]} errors (or no result)" >&2; rc=1; }
done
for i in "${!conames[@]}"; do
  [ "${co_e[i]}" = 0 ] || { say "bench: cost ${coloads[i]} ${conames[i]}: ${co_e[i]} errors (or no result)" >&2; rc=1; }
done
for i in "${!inames[@]}"; do
  if ! [[ ${iopen[i]} =~ ^[0-9]+$ ]] || [ "${iopen[i]}" -lt "${iwant[i]}" ]; then
    say "bench: idle ${inames[i]}: ${iopen[i]} of ${iwant[i]} connections open at the end" >&2; rc=1
  fi
done
for i in "${!lnames[@]}"; do
  [ "${lerrs[i]}" = 0 ] || { say "bench: large ${lnames[i]}: ${lerrs[i]} failed downloads (or no result)" >&2; rc=1; }
done
if want fleet && { [ -z "$fleet_lines" ] || grep -qv '| 0 | 0 |$' <<< "$fleet_lines"; }; then
  say "bench: fleet: no result, or changes that did not converge within apply_timeout, or stale reads" >&2; rc=1
fi
if want flip && { [ -z "$flip_line" ] || [ "$f_stale" != 0 ]; }; then
  say "bench: flip: no result, or requests after the admin call still went to the old side" >&2; rc=1
fi
if want micro && [ ! -s "$utable" ]; then say "bench: micro: no result" >&2; rc=1; fi
[ "$rc" = 0 ] || exit "$rc"
