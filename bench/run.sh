#!/usr/bin/env bash
# First load benchmark: cutover against HAProxy 2.6 and nginx, each with ONE worker, each in front
# of the same two nginx backends with a 90/10 split, each driven by the same wrk run; plus the
# backend alone as a reference. Prints a markdown table and writes bench/results/latest.md.
#   ./bench/run.sh          DURATION=30s WARMUP=3s ./bench/run.sh
# Exit 0 when every run completed without errors, 1 otherwise. See bench/README.md.
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

say() { printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

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

mapfile -t ports < <(free_ports 4)
SOURCE_PORT=${ports[0]} TARGET_PORT=${ports[1]} HAPROXY_PORT=${ports[2]} NGINX_PORT=${ports[3]}
ports_kv=(SOURCE_PORT="$SOURCE_PORT" TARGET_PORT="$TARGET_PORT")

mkdir -p "$work/backends"
render "$conf/backends.nginx.conf" "$work/backends/nginx.conf" DIR="$work/backends" "${ports_kv[@]}"
start_nginx "$work/backends" "$work/backends/nginx.conf" "$work/backends/out.log"
for port in "$SOURCE_PORT" "$TARGET_PORT"; do
  wait_http "http://127.0.0.1:$port/" 10 "$SPAWNED_PID" || die "backend nginx did not start (see $work/backends)"
done

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
  measure "nginx $(nginx -v 2>&1 | sed -n 's|.*nginx/\([^ ]*\).*|\1|p')" "http://127.0.0.1:$NGINX_PORT"
else
  failed "nginx" "did not start (see $work/nginx-proxy)"
fi
stop_pid "$SPAWNED_PID"

# --- report ------------------------------------------------------------------------------------
rps_of() { local i; for i in "${!names[@]}"; do [[ ${names[i]} == "$1"* ]] && echo "${rps[i]}" && return; done; echo -; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else printf "-" }'; }
haproxy_rps=$(rps_of HAProxy) nginx_rps=$(rps_of nginx)

table=$work/table.md
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

mkdir -p "$results"
{
  echo "# Load benchmark: cutover vs HAProxy vs nginx"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), \`./bench/run.sh\` (see bench/README.md for how to read this)."
  echo
  cat "$table"
  echo
  echo "- load: \`${WRK[*]} URL/\` after a ${WARMUP} warm-up; GET of a 7-byte body; 90/10 split source/target"
  echo "- every proxy with one worker (cutover \`workers: 1\`, HAProxy \`nbthread 1\`, nginx \`worker_processes 1\`),"
  echo "  keep-alive on both sides; backends: one nginx worker, two server blocks"
  echo "- target share: $SPLIT_REQUESTS sequential requests through the proxy before the load run"
  echo "- errors: wrk socket errors + non-2xx/3xx responses"
  echo "- machine: $(nproc) CPU ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(uname -sr);" \
    "wrk, proxies and backends share these CPUs"
  echo "- versions: $("$CUTOVER_BIN" --version 2> /dev/null | head -n 1 || echo "cutover ?")" \
    "(git $(git -C "$repo" rev-parse --short HEAD 2> /dev/null || echo "none")$( [ -n "$(git -C "$repo" status --porcelain 2> /dev/null)" ] && echo ", uncommitted changes")), $(haproxy -v | head -n 1 | cut -d' ' -f1-3), $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
  echo
  echo "<details><summary>raw wrk output</summary>"
  echo
  for f in "$work"/wrk-*.txt; do
    echo "### $(basename "$f" .txt | sed 's/^wrk-[0-9]*-//')"
    echo '```'
    cat "$f"
    echo '```'
  done
  echo "</details>"
} > "$results/latest.md.tmp"
mv "$results/latest.md.tmp" "$results/latest.md"

echo
cat "$table"
echo
say "bench: written to ${results#"$repo"/}/latest.md"
for i in "${!names[@]}"; do
  [ "${errs[i]}" = 0 ] || die "${names[i]}: ${errs[i]} errors (or no result); raw output in bench/results/latest.md"
done
