#!/usr/bin/env bash
# Load benchmark, three stages, all run by default:
#   proxies: cutover against HAProxy 2.6 and nginx, each with ONE worker, each in front of the same
#            two nginx backends with a 90/10 split, each driven by the same wrk run; plus the
#            backend alone as a reference.
#   mirror:  "mirror 100 %": cutover at weight 0 mirroring every GET to target, cutover at weight 0
#            without mirror, and nginx with its mirror directive, same backends, same wrk run,
#            MIRROR_ROUNDS (3) interleaved rounds, medians reported.
#   tcp:     L4 relay: backend direct, cutover (tcp listener, 90/10), HAProxy `mode tcp` (90/10), in
#            front of two echo backends (build/cutover_tcp_load): a throughput run (TCP_CONNS
#            connections each echoing TCP_MIB MiB) and a connection-rate run (TCP_CONNS loops of
#            connect + 64-byte round trip + close for TCP_RATE_SECONDS). Well under a minute.
# Prints markdown tables and writes bench/results/latest.md.
#   ./bench/run.sh          ./bench/run.sh mirror          DURATION=30s WARMUP=3s ./bench/run.sh
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
WRK=(wrk -t1 -c64 -d"$DURATION" --latency)
SPLIT_REQUESTS=1000   # sequential requests per proxy to check the 90/10 split before loading it
MIRROR_ROUNDS=${MIRROR_ROUNDS:-3}   # mirror stage: rounds of (cutover no-mirror, cutover mirror, nginx mirror)
MIRROR_PATH=/same/    # answered identically by both backends, so mirrored copies compare equal
TCP_CONNS=${TCP_CONNS:-16}                # tcp stage: concurrent connections of each run
TCP_MIB=${TCP_MIB:-64}                    # tcp stage: MiB each connection writes (and reads back)
TCP_RATE_SECONDS=${TCP_RATE_SECONDS:-3}   # tcp stage: length of the connection-rate run

say() { printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(proxies mirror tcp)
for stage in "${stages[@]}"; do
  case $stage in proxies | mirror | tcp) ;; *) die "unknown stage '$stage' (stages: proxies mirror tcp; default all)" ;; esac
done
want() { local s; for s in "${stages[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }
[[ $MIRROR_ROUNDS =~ ^[1-9][0-9]*$ ]] || die "MIRROR_ROUNDS must be a positive integer"

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

mkdir -p "$work/backends"
render "$conf/backends.nginx.conf" "$work/backends/nginx.conf" DIR="$work/backends" "${ports_kv[@]}"
start_nginx "$work/backends" "$work/backends/nginx.conf" "$work/backends/out.log"
for port in "$SOURCE_PORT" "$TARGET_PORT"; do
  wait_http "http://127.0.0.1:$port/" 10 "$SPAWNED_PID" || die "backend nginx did not start (see $work/backends)"
done
nginx_version=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([^ ]*\).*|\1|p')

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

# split_share URL: percent of SPLIT_REQUESTS sequential requests answered by target, or "-".
split_share() {
  timeout 60 curl -s -m 5 "$1/split/[1-$SPLIT_REQUESTS]" 2> /dev/null |
    awk '$0 == "source" { s++ } $0 == "target" { t++ }
         END { if (s + t) printf "%.1f\n", 100 * t / (s + t); else print "-" }'
}

names=() rps=() p99=() errs=() shares=()
# measure NAME URL [nosplit]: warm up, check the split, run wrk; append one result row.
measure() {
  local name=$1 url=$2 out=$work/wrk-$((${#names[@]} + 1))-${1%% *}.txt r p e
  say "bench: $name: warm-up $WARMUP, then ${WRK[*]} $url/"
  wrk -t1 -c64 -d"$WARMUP" "$url/" > /dev/null 2>&1 || true
  if [ "${3:-}" = nosplit ]; then shares+=("n/a"); else shares+=("$(split_share "$url")"); fi
  "${WRK[@]}" "$url/" > "$out" 2>&1 || true
  read -r r p e < <(wrk_parse "$out")
  names+=("$name") rps+=("$r") p99+=("$p") errs+=("$e")
}
# failed NAME WHY: record a proxy that could not be measured.
failed() {
  say "bench: $1: not measured: $2" >&2
  names+=("$1") rps+=("-") p99+=("-") errs+=("-") shares+=("-")
  printf 'not measured: %s\n' "$2" > "$work/wrk-${#names[@]}-${1%% *}.txt"
}

# --- stage "proxies": backend direct, cutover, HAProxy, nginx at 90/10 -----------------------------
if want proxies; then
say "bench: stage proxies: backend direct, cutover, HAProxy, nginx (90/10 split)"
measure "backend direct (reference)" "http://127.0.0.1:$SOURCE_PORT" nosplit

mkdir -p "$work/cutover"
render "$conf/cutover.yaml" "$work/cutover/cutover.yaml" "${ports_kv[@]}"
if start_cutover "$work/cutover" "$work/cutover/cutover.yaml" "$work/cutover/cutover.log" bench; then
  measure "cutover" "http://$CUTOVER_LISTEN"
  kill -0 "$CUTOVER_PID" 2> /dev/null || say "bench: cutover exited during the run; log: $work/cutover/cutover.log" >&2
  stop_pid "$CUTOVER_PID"
else
  failed "cutover" "did not start (log $work/cutover/cutover.log)"
fi

mkdir -p "$work/haproxy"
render "$conf/haproxy.cfg" "$work/haproxy/haproxy.cfg" "${ports_kv[@]}" PROXY_PORT="$HAPROXY_PORT"
spawn "$work/haproxy/out.log" haproxy -db -f "$work/haproxy/haproxy.cfg"
if wait_http "http://127.0.0.1:$HAPROXY_PORT/" 10 "$SPAWNED_PID"; then
  measure "HAProxy $(haproxy -v | sed -n 's/^HAProxy version \([0-9.]*\).*/\1/p')" "http://127.0.0.1:$HAPROXY_PORT"
else
  failed "HAProxy" "did not start: $(tail -n 3 "$work/haproxy/out.log" | tr '\n' ' ')"
fi
stop_pid "$SPAWNED_PID"

mkdir -p "$work/nginx-proxy"
render "$conf/nginx-proxy.conf" "$work/nginx-proxy/nginx.conf" DIR="$work/nginx-proxy" "${ports_kv[@]}" PROXY_PORT="$NGINX_PORT"
start_nginx "$work/nginx-proxy" "$work/nginx-proxy/nginx.conf" "$work/nginx-proxy/out.log"
if wait_http "http://127.0.0.1:$NGINX_PORT/" 10 "$SPAWNED_PID"; then
  measure "nginx $nginx_version" "http://127.0.0.1:$NGINX_PORT"
else
  failed "nginx" "did not start (see $work/nginx-proxy)"
fi
stop_pid "$SPAWNED_PID"
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
# mirror_measure INDEX ROUND: warm up and run wrk against contender INDEX on MIRROR_PATH; for the
# cutover mirror contender, add the mirror counter deltas of the measured run to mcounts.
mirror_measure() {
  local i=$1 round=$2 name=${mnames[$1]} url=${murls[$1]} out r p e before after k
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

for ((round = 1; round <= MIRROR_ROUNDS; round++)); do
  for ((j = 0; j < ${#mnames[@]}; j++)); do
    i=$(((j + round - 1) % ${#mnames[@]}))   # rotate the order: no contender always runs first
    if [ -n "${murls[i]}" ]; then mirror_measure "$i" "$round"; fi
  done
done
for pid in "${mpids[@]}"; do
  kill -0 "$pid" 2> /dev/null || say "bench: a mirror-stage proxy (pid $pid) exited during the runs; see $work" >&2
  stop_pid "$pid"
done
if [ -s "$work/nginx-mirror/nginx-error.log" ]; then
  say "bench: nginx mirror logged errors: $(tail -n 3 "$work/nginx-mirror/nginx-error.log" | tr '\n' ' ')" >&2
fi
fi

# --- stage "tcp": the L4 relay against HAProxy mode tcp ----------------------------------------
tnames=() tthr=() trate=() terrs=()
if want tcp; then
say "bench: stage tcp: backend direct, cutover tcp listener, HAProxy mode tcp (90/10 split)"
TCP_LOAD=${TCP_LOAD:-$repo/build/cutover_tcp_load}
if [ ! -x "$TCP_LOAD" ]; then
  (cd "$repo" && cmake --build build -j2 --target cutover_tcp_load) > "$work/tcp_load-build.log" 2>&1 ||
    die "could not build cutover_tcp_load (log $work/tcp_load-build.log)"
fi
# tcp_backend VAR: start an echo backend; its port in VAR.
tcp_backend() {
  local log=$work/tcp-backend-$1.log i
  spawn "$log" "$TCP_LOAD" serve
  for ((i = 0; i < 50; i++)); do [ -s "$log" ] && break; sleep 0.1; done
  printf -v "$1" '%s' "$(head -n 1 "$log")"
  [[ ${!1} =~ ^[0-9]+$ ]] || die "tcp_load serve did not start (log $log)"
}
tcp_backend TCP_SOURCE_PORT
tcp_backend TCP_TARGET_PORT
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
for ((i = 0; i < 50; i++)); do (exec 3<> "/dev/tcp/127.0.0.1/${tports[0]}") 2> /dev/null && break; sleep 0.1; done
tcp_measure "HAProxy $(haproxy -v | sed -n 's/^HAProxy version \([0-9.]*\).*/\1/p') mode tcp" "127.0.0.1:${tports[0]}"
stop_pid "$hpid"
fi

# --- report ------------------------------------------------------------------------------------
rps_of() { local i; for i in "${!names[@]}"; do [[ ${names[i]} == "$1"* ]] && echo "${rps[i]}" && return; done; echo -; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else printf "-" }'; }
# num FORMAT VALUE: printf FORMAT VALUE when VALUE is a number, else VALUE as it is ("-").
# shellcheck disable=SC2059  # the format is the argument
num() { if [[ $2 =~ ^[0-9]+(\.[0-9]+)?$ ]]; then printf -- "$1" "$2"; else printf '%s' "$2"; fi; }
haproxy_rps=$(rps_of HAProxy) nginx_rps=$(rps_of nginx)

table=$work/table.md
: > "$table"
if want proxies; then
  {
    echo "| proxy | requests/s | p99 ms | vs HAProxy | vs nginx | target share | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for i in "${!names[@]}"; do
      share=${shares[i]}
      [[ $share == [0-9]* ]] && share="$share %"
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${names[i]}" "${rps[i]}" "${p99[i]}" \
        "$(ratio "${rps[i]}" "$haproxy_rps")" "$(ratio "${rps[i]}" "$nginx_rps")" "$share" "${errs[i]}"
    done
  } > "$table"
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
    read -r -a vals <<< "${merrs[$i]}"
    m_e[i]=$(printf '%s\n' "${vals[@]}" | awk '$1 !~ /^[0-9]+$/ { bad = 1 } { n += $1 } END { if (bad || !NR) print "-"; else print n }')
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
    mnotes+=("- issue 8 targets: not assessed: no matching mirror was counted")
  else
    mnotes+=("- issue 8 targets: cutover mirror / cutover no-mirror = $q_base (≥ 0.60: $(met "$q_base" ">=" 0.6)); cutover mirror / nginx mirror = $q_ngx (≥ 3: $(met "$q_ngx" ">=" 3)); cutover mirror p99 = $p_mir ms (≤ 5: $(met "$p_mir" "<=" 5))")
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
    echo "- load: \`${WRK[*]} URL/\` after a ${WARMUP} warm-up; GET of a 7-byte body; 90/10 split source/target"
    echo "- every proxy with one worker (cutover \`workers: 1\`, HAProxy \`nbthread 1\`, nginx \`worker_processes 1\`),"
    echo "  keep-alive on both sides; backends: one nginx worker, two server blocks"
    echo "- target share: $SPLIT_REQUESTS sequential requests through the proxy before the load run"
    echo "- errors: wrk socket errors + non-2xx/3xx responses"
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
  echo
  echo "- machine: $(nproc) CPU ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(uname -sr);" \
    "wrk, proxies and backends share these CPUs"
  echo "- versions: $("$CUTOVER_BIN" --version 2> /dev/null | head -n 1 || echo "cutover ?")" \
    "(git $(git -C "$repo" rev-parse --short HEAD 2> /dev/null || echo "none")$( [ -n "$(git -C "$repo" status --porcelain 2> /dev/null)" ] && echo ", uncommitted changes")), $(haproxy -v | head -n 1 | cut -d' ' -f1-3), $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
  echo
  echo "<details><summary>raw wrk output</summary>"
  echo
  for f in "$work"/wrk-*.txt "${mfiles[@]}" "$work"/tcp-[0-9]*.txt; do
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
[ -s "$mtable" ] && { cat "$mtable"; echo; printf '%s\n' "${mnotes[@]}"; echo; }
[ -s "$ttable" ] && { cat "$ttable"; echo; }
say "bench: written to ${results#"$repo"/}/latest.md"
rc=0
for i in "${!tnames[@]}"; do
  [ "${terrs[i]}" = 0 ] || { say "bench: tcp ${tnames[i]}: ${terrs[i]} errors (or no result)" >&2; rc=1; }
done
for i in "${!names[@]}"; do
  [ "${errs[i]}" = 0 ] || { say "bench: ${names[i]}: ${errs[i]} errors (or no result); raw output in bench/results/latest.md" >&2; rc=1; }
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
[ "$rc" = 0 ] || exit "$rc"
