#!/usr/bin/env bash
# The cutover demo: two environments of one service (nginx), cutover in front, real client traffic
# shifted 0 -> 10 -> 50 -> 100 % to the target, an instant rollback under load, one tenant moved
# to the target alone, the write-path flip (writes held, then released to the target), and a
# maintenance window answered by cutover itself.
#   ./scripts/demo.sh        (the first run installs packages via scripts/setup.sh: root or sudo)
#   ./scripts/demo.sh --serve
#                            the same two environments and cutover, on fixed ports (listener
#                            LISTEN=127.0.0.1:8080, admin ADMIN=127.0.0.1:9901) with light traffic
#                            (20 GETs/s), until Ctrl-C: the setting of README.md's five-minute tour
# Exit 0 when every stage behaved, 1 otherwise. Environment: REQUESTS (per stage, default 400),
# CUTOVER_BIN (a binary to use instead of build/cutover), KEEP=1 (keep the work directory).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$repo/scripts/lib.sh"

SERVE=0
case "${1:-}" in
  "") ;;
  --serve) SERVE=1 ;;
  *) echo "usage: $0 [--serve]" >&2; exit 2 ;;
esac
REQUESTS=${REQUESTS:-400}
ROLLBACK_AFTER=1000   # rollback stage: responses (or 3 s) before the rollback call, and after it
ROLLBACK_MAX=100000   # rollback stage: bound on the client's requests; it is stopped long before
SOURCE_BODY="source v1 (on-prem)"
TARGET_BODY="target v2 (cloud)"

step() { printf '\n==> %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }
die() { printf '\nFAILED: %s\n' "$*" >&2; exit 1; }
now_ms() { date +%s%3N; }

failures=()
summary=()   # one line per stage for the closing table
row() { summary+=("$(printf '%-26s %8s %8s %8s %9s' "$@")"); }
# expect DESCRIPTION COMMAND...: run a test command, print ok/FAIL, remember failures.
expect() {
  local what=$1
  shift
  if "$@"; then say "ok    $what"; else say "FAIL  $what"; failures+=("$what"); fi
}
# within COUNT TOTAL LO HI: COUNT is LO..HI percent of TOTAL (integers, inclusive).
within() { (($4 == 0 && $1 == 0)) || (($2 > 0 && $1 * 100 >= $3 * $2 && $1 * 100 <= $4 * $2)); }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }'; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cutover-demo.XXXXXX")
chmod 755 "$work"   # nginx workers run as an unprivileged user when we are root
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  stop_children
  # keep the evidence of a failure (not of a Ctrl-C), or when asked to
  if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || [ "${KEEP:-0}" = 1 ]; then
    if [ -s "$work/cutover.log" ] && [ "$rc" -ne 0 ]; then
      printf '\nlast lines of cutover stderr (%s):\n' "$work/cutover.log" >&2
      tail -n 15 "$work/cutover.log" | sed 's/^/    /' >&2
    fi
    printf 'work directory kept: %s\n' "$work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- admin API and metrics -------------------------------------------------------------------
# admin METHOD PATH [JSON]: call the admin API; sets ADMIN_CODE, ADMIN_BODY and ADMIN_MS (the
# call's own duration as curl measured it, connect to last byte).
admin() {
  local out args=(-sS -m 5 -o "$work/admin.out" -w '%{http_code} %{time_total}' -X "$1")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data "$3")
  out=$(curl "${args[@]}" "$CUTOVER_ADMIN$2" 2>> "$work/admin.err") || out="000 0"
  ADMIN_CODE=${out%% *}
  ADMIN_MS=$(awk -v s="${out#* }" 'BEGIN { printf "%.1f", s * 1000 }')
  ADMIN_BODY=$(tr -d '\n' < "$work/admin.out" 2> /dev/null || true)
}
# brief JSON: the weights and generation of a route state, else the whole answer cut to a line.
brief() {
  { jq -c 'if type == "object" and has("read_weight")
           then {read_weight, write_weight, generation} else . end' <<< "$1" 2> /dev/null ||
    printf '%s' "$1"; } | cut -c1-100
}

# counters: print "SOURCE TARGET", the sums of cutover_requests_total for route app per side.
counters() {
  curl -sf -m 5 "$CUTOVER_ADMIN/metrics" | awk '
    /^cutover_requests_total\{/ && /route="app"/ {
      v = $0; sub(/^[^}]*\}[ \t]*/, "", v); split(v, f, /[ \t]+/)
      if (/side="source"/) s += f[1]; else if (/side="target"/) t += f[1]
    }
    END { printf "%d %d\n", s, t }'
}
# counters_settled SRC0 TGT0 WANT: counters once their growth since (SRC0, TGT0) reaches WANT
# requests, or after 2 s (a counter may be bumped just after the response leaves).
counters_settled() {
  local i s t
  for ((i = 0; i < 20; i++)); do
    read -r s t < <(counters)
    (((s - $1) + (t - $2) >= $3)) && break
    sleep 0.1
  done
  echo "$s $t"
}
# weights_metric: the cutover_route_weight samples of route app, as "kind=value" words.
weights_metric() {
  curl -sf -m 5 "$CUTOVER_ADMIN/metrics" | awk '
    /^cutover_route_weight\{/ && /route="app"/ {
      k = $0; sub(/.*kind="/, "", k); sub(/".*/, "", k)
      v = $0; sub(/^[^}]*\}[ \t]*/, "", v); split(v, f, /[ \t]+/)
      printf "%s=%s ", k, f[1]
    }'
}

# weights_zero: true when route app has cutover_route_weight samples and all of them are 0.
weights_zero() {
  local w
  w=$(weights_metric)
  [ -n "$w" ] && ! tr ' ' '\n' <<< "$w" | grep -v '^$' | grep -qvE '=0(\.0+)?$'
}

# wait_lines FILE N SECONDS: until FILE has N lines, SECONDS have passed or the client has exited.
wait_lines() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    [ "$(wc -l < "$1")" -ge "$2" ] && return 0
    kill -0 "$CLIENT_PID" 2> /dev/null || return 0
    sleep 0.05
  done
}

# --- client traffic ----------------------------------------------------------------------------
# tally BODYFILE [FROM [TO]]: print "SOURCE TARGET OTHER" for response lines FROM..TO.
tally() {
  awk -v from="${2:-1}" -v to="${3:-0}" -v sb="$SOURCE_BODY" -v tb="$TARGET_BODY" '
    NR < from || (to && NR > to) { next }
    $0 == sb { s++; next }
    $0 == tb { t++; next }
    { o++ }
    END { printf "%d %d %d\n", s, t, o }' "$1"
}
# codes CODEFILE: print "OK BAD CONNECTIONS" from curl's per-transfer "status num_connects" lines.
codes() {
  awk '/^[0-9][0-9][0-9] [0-9]+$/ { if ($1 == "200") ok++; else bad++; c += $2; next }
       { bad_lines++ }
       END { printf "%d %d %d\n", ok, bad, c }' "$1"
}
# client NAME COUNT [&]: one curl process sends COUNT GETs (/NAME/1 .. /NAME/COUNT) one after
# another, reusing its keep-alive connection. Bodies go to NAME.body (unbuffered, one line per
# response), "status num_connects" per transfer to NAME.codes. With "&" it runs in the background
# and CLIENT_PID is its pid (timeout's, which passes a SIGTERM on to curl).
client() {
  local cmd=(timeout 120 curl -sS -N -m 10 -w '%{stderr}%{http_code} %{num_connects}\n'
    "http://$CUTOVER_LISTEN/$1/[1-$2]")
  : > "$work/$1.body"   # exists before curl runs, so wait_lines may count at once
  if [ "${3:-}" = "&" ]; then
    "${cmd[@]}" > "$work/$1.body" 2> "$work/$1.codes" &
    CLIENT_PID=$!
    CHILD_PIDS+=("$CLIENT_PID")
  else
    "${cmd[@]}" > "$work/$1.body" 2> "$work/$1.codes"
  fi
}

# --- the demo ----------------------------------------------------------------------------------
printf 'cutover demo: move live traffic from the source environment (on-prem) to the target\n'
printf '(cloud) in steps, watch where every response comes from, roll back instantly, then flip the\nwrite path: hold writes while the database primary moves, release them to the target.\n'

step "Preparing: packages, cutover binary, two environments, cutover in front"
"$repo/scripts/setup.sh" | sed 's/^/    /' || die "scripts/setup.sh failed (it installs Debian packages and needs root or sudo)"
ensure_cutover "$repo" "$work/build.log" "    " || die "could not build cutover"
say "binary: ${CUTOVER_BIN#"$repo"/} ($("$CUTOVER_BIN" --version 2> /dev/null | head -n 1 || echo "version unknown"), built $(date -r "$CUTOVER_BIN" '+%Y-%m-%d %H:%M'))"

mapfile -t ports < <(free_ports 2)
SOURCE_PORT=${ports[0]} TARGET_PORT=${ports[1]}
render "$repo/scripts/demo/backends.nginx.conf" "$work/nginx.conf" \
  DIR="$work" SOURCE_PORT="$SOURCE_PORT" TARGET_PORT="$TARGET_PORT"
start_nginx "$work" "$work/nginx.conf" "$work/nginx.log"
nginx_pid=$SPAWNED_PID
for port in "$SOURCE_PORT" "$TARGET_PORT"; do
  wait_http "http://127.0.0.1:$port/" 10 "$nginx_pid" ||
    die "nginx did not start: $(cat "$work/nginx.log" "$work/nginx-error.log" 2> /dev/null | tail -n 3 | tr '\n' ' ')"
done
[ "$(curl -sf "http://127.0.0.1:$SOURCE_PORT/")" = "$SOURCE_BODY" ] || die "source environment answers the wrong body"
[ "$(curl -sf "http://127.0.0.1:$TARGET_PORT/")" = "$TARGET_BODY" ] || die "target environment answers the wrong body"
say "source  = nginx on 127.0.0.1:$SOURCE_PORT, answers \"$SOURCE_BODY\""
say "target  = nginx on 127.0.0.1:$TARGET_PORT, answers \"$TARGET_BODY\""

if [ "$SERVE" = 1 ]; then
  render "$repo/scripts/demo/cutover.yaml" "$work/cutover.yaml" SOURCE_PORT="$SOURCE_PORT" \
    TARGET_PORT="$TARGET_PORT" LISTEN="${LISTEN:-127.0.0.1:8080}" ADMIN="${ADMIN:-127.0.0.1:9901}"
  start_cutover "$work" "$work/cutover.yaml" "$work/cutover.log" public ||
    die "cutover did not start (are ${LISTEN:-127.0.0.1:8080} and ${ADMIN:-127.0.0.1:9901} free? LISTEN= and ADMIN= choose others)"
  # Light steady traffic, so `cutoverctl stats` and a ramp's gates have requests to judge: 20 GETs
  # a second on one keep-alive connection, for at most an hour.
  spawn "$work/traffic.log" curl -sS --rate 20/s -o /dev/null "http://$CUTOVER_LISTEN/traffic/[1-72000]"
  say "cutover = listener http://$CUTOVER_LISTEN, admin API $CUTOVER_ADMIN (config $work/cutover.yaml)"
  say "traffic = 20 GETs/s through route app (log $work/traffic.log)"
  printf '\nready: try README.md'"'"'s five-minute tour in another terminal; Ctrl-C stops everything\n'
  wait "$CUTOVER_PID" || true
  die "cutover exited; its log: $work/cutover.log"
fi
render "$repo/scripts/demo/cutover.yaml" "$work/cutover.yaml" SOURCE_PORT="$SOURCE_PORT" TARGET_PORT="$TARGET_PORT" \
  LISTEN=127.0.0.1:0 ADMIN=127.0.0.1:0
start_cutover "$work" "$work/cutover.yaml" "$work/cutover.log" public || die "cutover did not start"
say "cutover = listener http://$CUTOVER_LISTEN, admin API $CUTOVER_ADMIN (config $work/cutover.yaml)"
admin GET /v1/routes/app
say "route app: $(brief "$ADMIN_BODY")"

stage=0
for weight in 0 10 50 100; do
  stage=$((stage + 1))
  case $weight in
    0) lo=0 hi=0 ;;
    10) lo=4 hi=18 ;;
    50) lo=40 hi=60 ;;
    100) lo=100 hi=100 ;;
  esac
  step "Stage $stage/8: $weight % of requests to target"
  admin PUT /v1/routes/app/weights "{\"weight\": $weight}"
  say "PUT /v1/routes/app/weights {\"weight\": $weight} -> $ADMIN_CODE in $ADMIN_MS ms: $(brief "$ADMIN_BODY")"
  [ "$ADMIN_CODE" = 200 ] || die "the admin API refused the weight change"

  read -r m_src0 m_tgt0 < <(counters)
  t0=$(now_ms)
  client "stage$weight" "$REQUESTS" || true
  elapsed=$(($(now_ms) - t0))
  read -r src tgt other < <(tally "$work/stage$weight.body")
  read -r ok bad conns < <(codes "$work/stage$weight.codes")
  read -r m_src m_tgt < <(counters_settled "$m_src0" "$m_tgt0" "$REQUESTS")
  d_src=$((m_src - m_src0)) d_tgt=$((m_tgt - m_tgt0))

  say "$REQUESTS GETs from one client, $conns TCP connection(s), $elapsed ms"
  say "response bodies : source $src, target $tgt$( ((other)) && echo ", unrecognised $other") -> $(pct "$tgt" $((src + tgt))) % target"
  say "cutover metrics : source +$d_src, target +$d_tgt (cutover_requests_total)"
  expect "all $REQUESTS requests answered 200 with a known body" test "$ok" -eq "$REQUESTS" -a "$bad" -eq 0 -a $((src + tgt)) -eq "$REQUESTS"
  expect "metrics count the same split as the bodies" test "$d_src" -eq "$src" -a "$d_tgt" -eq "$tgt"
  row "weight $weight %" "$REQUESTS" "$src" "$tgt" "$(pct "$tgt" $((src + tgt)))"
  if [ "$lo" = "$hi" ]; then
    expect "target share is exactly $lo %" within "$tgt" "$REQUESTS" "$lo" "$hi"
  else
    expect "target share within $lo..$hi % (random per request)" within "$tgt" "$REQUESTS" "$lo" "$hi"
  fi
done

step "Stage 5/8: instant rollback while traffic flows"
say "weight is 100 %; one client streams GETs over its keep-alive connection"
client rollback "$ROLLBACK_MAX" "&"
wait_lines "$work/rollback.body" "$ROLLBACK_AFTER" 3
started_at=$(wc -l < "$work/rollback.body")
admin POST /v1/routes/app/rollback
returned_at=$(wc -l < "$work/rollback.body")
read -r m_src1 m_tgt1 < <(counters)
say "after $started_at responses: POST /v1/routes/app/rollback -> $ADMIN_CODE in $ADMIN_MS ms: $(brief "$ADMIN_BODY")"
[ "$ADMIN_CODE" = 200 ] || die "the admin API refused the rollback"
wait_lines "$work/rollback.body" $((returned_at + ROLLBACK_AFTER)) 3
stop_pid "$CLIENT_PID"
total=$(wc -l < "$work/rollback.body")
read -r ok bad conns < <(codes "$work/rollback.codes")
read -r m_src2 m_tgt2 < <(counters_settled "$m_src1" "$m_tgt1" $((total - returned_at - 1)))
# Requests 1..started_at were answered before the call; while it ran, responses up to returned_at
# arrived and at most one more request was in flight; every later request was sent after the
# call returned, so the rollback must route it to source.
read -r b_src b_tgt _ < <(tally "$work/rollback.body" 1 "$started_at")
read -r d_src d_tgt _ < <(tally "$work/rollback.body" $((started_at + 1)) $((returned_at + 1)))
read -r a_src a_tgt a_other < <(tally "$work/rollback.body" $((returned_at + 2)) "$total")
say "before the call          : source $b_src, target $b_tgt"
say "while it was sent        : source $d_src, target $d_tgt"
say "sent after it returned   : source $a_src, target $a_tgt$( ((a_other)) && echo ", unrecognised $a_other")"
say "cutover metrics after it : source +$((m_src2 - m_src1)), target +$((m_tgt2 - m_tgt1)) (1 in-flight target request allowed)"
read -r last_tgt first_src < <(awk -v sb="$SOURCE_BODY" -v tb="$TARGET_BODY" '
  $0 == tb { t = NR } $0 == sb && !s { s = NR } END { printf "%d %d\n", t, s }' "$work/rollback.body")
say "the switch               : last target response #$last_tgt, first source response #${first_src/#0/(none)}"
say "route weights now        : $(weights_metric)"
row "rollback: before the call" $((b_src + b_tgt)) "$b_src" "$b_tgt" "$(pct "$b_tgt" $((b_src + b_tgt)))"
row "rollback: after it" $((a_src + a_tgt + a_other)) "$a_src" "$a_tgt" "$(pct "$a_tgt" $((a_src + a_tgt)))"
expect "all $total responses were 200 over $conns connection(s)" test "$bad" -eq 0 -a "$ok" -ge $((total - 1))
expect "traffic before the rollback went to target" test "$b_tgt" -gt 0 -a "$b_src" -eq 0
expect "every request sent after the rollback returned was served by source" test "$a_tgt" -eq 0 -a "$a_other" -eq 0 -a "$a_src" -ge 20
expect "one clean switch: no target response after the first source one" test "$first_src" -gt "$last_tgt"
expect "metrics: no target request counted after the rollback (but the in-flight one)" test $((m_tgt2 - m_tgt1)) -le 1
expect "cutover_route_weight of route app is 0 for every kind" weights_zero

step "Stage 6/8: a tenant move: one customer to target while everyone else stays on source"
admin PUT /v1/routes/app/segments '{"segments": [{"header": "X-Tenant", "values": ["acme", "initech"], "side": "target"}], "reason": "wave 1"}'
say "PUT /v1/routes/app/segments [X-Tenant acme, initech -> target] -> $ADMIN_CODE in $ADMIN_MS ms"
[ "$ADMIN_CODE" = 200 ] || die "the admin API refused the segment"
t_acme=0 t_other=0
for i in $(seq 1 50); do
  [ "$(curl -sS -m 5 -H 'X-Tenant: acme' "http://$CUTOVER_LISTEN/tenant/$i")" = "$TARGET_BODY" ] && t_acme=$((t_acme + 1))
  [ "$(curl -sS -m 5 -H 'X-Tenant: globex' "http://$CUTOVER_LISTEN/tenant/$i")" = "$TARGET_BODY" ] && t_other=$((t_other + 1))
done
say "weights stay 0 %; 50 GETs as tenant acme: $t_acme by target; 50 as tenant globex: $t_other by target"
row "tenant acme (segment)" 50 $((50 - t_acme)) "$t_acme" "$(pct "$t_acme" 50)"
row "tenant globex (weight 0)" 50 $((50 - t_other)) "$t_other" "$(pct "$t_other" 50)"
expect "every request of the moved tenant went to target" test "$t_acme" -eq 50
expect "every other tenant stayed on source at weight 0" test "$t_other" -eq 0
admin PUT /v1/routes/app/segments '{"segments": []}'
[ "$ADMIN_CODE" = 200 ] || die "the admin API refused to clear the segments"

step "Stage 7/8: the write-path flip: hold writes, promote the database, release them to target"
HELD=${HELD:-10}
# held_requests: how many writes wait in cutover now (route state).
held_requests() { curl -sf -m 5 "$CUTOVER_ADMIN/v1/routes/app" | jq -r '.writes.held_requests // 0'; }
admin POST /v1/routes/app/writes/hold
say "POST /v1/routes/app/writes/hold -> $ADMIN_CODE in $ADMIN_MS ms: $(jq -c '{held: .writes.held, in_flight_at_hold, drained}' <<< "$ADMIN_BODY" 2> /dev/null)"
[ "$ADMIN_CODE" = 200 ] || die "the admin API refused the hold"
write_pids=()
for i in $(seq 1 "$HELD"); do
  timeout 60 curl -sS -m 30 -o "$work/write-$i.body" -w '%{http_code}' -X POST --data "order $i" \
    "http://$CUTOVER_LISTEN/orders/$i" > "$work/write-$i.code" 2>> "$work/write.err" &
  write_pids+=("$!")
done
waiting=0
for _ in $(seq 1 100); do  # up to 10 s
  waiting=$(held_requests)
  [ "$waiting" -ge "$HELD" ] && break
  sleep 0.1
done
read_during=$(curl -sS -m 5 "http://$CUTOVER_LISTEN/status")
answered=$(cat "$work"/write-*.code 2> /dev/null | tr -d '\n' | wc -c)
say "$HELD POSTs sent: $waiting waiting in cutover, $((answered / 3)) answered; a GET meanwhile got: $read_during"
say "(here the operator promotes the new database primary)"
sleep 0.5
admin POST /v1/routes/app/writes/release '{"write_weight": 100}'
say "POST /v1/routes/app/writes/release {\"write_weight\": 100} -> $ADMIN_CODE in $ADMIN_MS ms: $(jq -c '{released, write_weight, read_weight}' <<< "$ADMIN_BODY" 2> /dev/null)"
for pid in "${write_pids[@]}"; do wait "$pid" || true; done
w_ok=0 w_tgt=0 w_src=0
for i in $(seq 1 "$HELD"); do
  [ "$(cat "$work/write-$i.code" 2> /dev/null)" = 200 ] && w_ok=$((w_ok + 1))
  case "$(cat "$work/write-$i.body" 2> /dev/null)" in
    "$TARGET_BODY") w_tgt=$((w_tgt + 1)) ;;
    "$SOURCE_BODY") w_src=$((w_src + 1)) ;;
  esac
done
say "held writes answered     : $w_ok of $HELD with 200; by source $w_src, by target $w_tgt"
row "held writes, released" "$HELD" "$w_src" "$w_tgt" "$(pct "$w_tgt" "$HELD")"
expect "all $HELD writes waited in cutover during the hold" test "$waiting" -ge "$HELD" -a "$answered" -eq 0
expect "reads kept flowing during the hold (served by source)" test "$read_during" = "$SOURCE_BODY"
expect "release answered 200" test "$ADMIN_CODE" = 200
expect "every held write was answered 200 by target, none reached source" test "$w_ok" -eq "$HELD" -a "$w_tgt" -eq "$HELD" -a "$w_src" -eq 0

step "Stage 8/8: a maintenance window: cutover answers 503 itself, no upstream contact"
read -r m_src0 m_tgt0 < <(counters)
maint0=$(curl -sf -m 5 "$CUTOVER_ADMIN/metrics" | awk '$1 ~ /^cutover_maintenance_responses_total\{.*route="app"/ { s += $2 } END { print s + 0 }')
admin PUT /v1/routes/app/maintenance '{"status": 503, "retry_after": "120s", "reason": "schema migration"}'
say "PUT /v1/routes/app/maintenance {status 503, retry_after 120s} -> $ADMIN_CODE in $ADMIN_MS ms"
[ "$ADMIN_CODE" = 200 ] || die "the admin API refused maintenance"
m_503=0 m_retry=0
for i in $(seq 1 20); do
  head=$(curl -sS -m 5 -o /dev/null -D - "http://$CUTOVER_LISTEN/page/$i" | tr -d '\r')
  grep -q '^HTTP/1.1 503' <<< "$head" && m_503=$((m_503 + 1))
  grep -qi '^retry-after: 120$' <<< "$head" && m_retry=$((m_retry + 1))
done
read -r m_src1 m_tgt1 < <(counters)
maint1=$(curl -sf -m 5 "$CUTOVER_ADMIN/metrics" | awk '$1 ~ /^cutover_maintenance_responses_total\{.*route="app"/ { s += $2 } END { print s + 0 }')
admin DELETE /v1/routes/app/maintenance
say "20 GETs during it: $m_503 answered 503, $m_retry with Retry-After: 120; upstream requests +$((m_src1 - m_src0 + m_tgt1 - m_tgt0)); cutover_maintenance_responses_total +$((maint1 - maint0))"
after=$(curl -sS -m 5 "http://$CUTOVER_LISTEN/after")
say "DELETE /v1/routes/app/maintenance -> $ADMIN_CODE; the next GET got: $after"
expect "every request during maintenance got 503 with Retry-After" test "$m_503" -eq 20 -a "$m_retry" -eq 20
expect "no request reached an upstream during maintenance" test $((m_src1 - m_src0 + m_tgt1 - m_tgt0)) -eq 0
expect "maintenance answers are counted" test $((maint1 - maint0)) -eq 20
expect "traffic flows again once maintenance ends" test "$after" = "$SOURCE_BODY"

step "Summary: where the responses came from"
say "$(printf '%-26s %8s %8s %8s %9s' stage requests source target "target %")"
for line in "${summary[@]}"; do say "$line"; done
printf '\n'
if [ ${#failures[@]} -eq 0 ]; then
  printf 'PASS: traffic moved 0 -> 10 -> 50 -> 100 %% to target, one rollback call sent the very next\n'
  printf 'request back to source, one tenant moved to target alone, writes held during the database flip\n'
  printf 'all went to target on release, and a maintenance window answered without touching an upstream.\nConfigs: scripts/demo/cutover.yaml, scripts/demo/backends.nginx.conf;\n'
  printf 'KEEP=1 %s keeps the rendered configs, logs and every response body.\n' "$0"
else
  printf 'FAIL: %d check(s) did not hold:\n' "${#failures[@]}"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
