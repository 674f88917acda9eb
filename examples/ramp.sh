#!/bin/sh
# Bring-your-own ramp script: steps a route's weight up and rolls back when the target's error
# rate over the current step, read from cutover's GET /v1/stats, goes above a threshold. Uses only
# curl and jq, so it is a starting point to copy and extend (add your own checks where marked).
#
#   examples/ramp.sh ROUTE "5 25 50 100" [SECONDS_PER_STEP=30] [MAX_ERROR_RATE=0.01]
#
# Environment: CUTOVER_ADMIN (default http://127.0.0.1:9901), CUTOVER_TOKEN (bearer token, if the
# admin API has tokens), MIN_REQUESTS (target requests a step needs before the rate counts; 20).
# Exit: 0 every step passed, 1 rolled back, 2 usage or admin API error.
# cutover's own POST /v1/routes/ROUTE/ramp does this, and more, without a script; see docs/admin-api.md.
set -eu

usage() { echo "usage: $0 ROUTE \"STEP STEP ...\" [SECONDS_PER_STEP] [MAX_ERROR_RATE]" >&2; exit 2; }
[ $# -ge 2 ] || usage
route=$1 steps=$2 interval=${3:-30} max_rate=${4:-0.01}
admin=${CUTOVER_ADMIN:-http://127.0.0.1:9901}
min_requests=${MIN_REQUESTS:-20}
case $interval in '' | *[!0-9]*) usage ;; esac

api() {  # METHOD PATH [JSON]: prints the response body; exits 2 on a transport or HTTP error
  if ! out=$(curl -sS --max-time 10 -X "$1" -H 'Content-Type: application/json' \
    ${CUTOVER_TOKEN:+-H "Authorization: Bearer $CUTOVER_TOKEN"} \
    ${3:+--data "$3"} -w '\n%{http_code}' "$admin$2"); then
    echo "ramp: cannot reach $admin" >&2; exit 2
  fi
  code=$(printf '%s' "$out" | tail -n 1)
  body=$(printf '%s' "$out" | sed '$d')
  case $code in 2??) printf '%s\n' "$body" ;; *) echo "ramp: $1 $2: HTTP $code $body" >&2; exit 2 ;; esac
}

rollback() {
  api POST "/v1/routes/$route/rollback" '{"close_target_connections": true}' >/dev/null
  echo "ramp: $1; rolled back to 0 %" >&2
  exit 1
}

for weight in $steps; do
  api PUT "/v1/routes/$route/weights" "{\"weight\": $weight}" >/dev/null
  echo "ramp: $route at $weight % for ${interval}s"
  elapsed=0
  while [ "$elapsed" -lt "$interval" ]; do
    sleep 1
    elapsed=$((elapsed + 1))
    # The window covers this step only: the seconds since its weight was set.
    stats=$(api GET "/v1/stats?window=${elapsed}s&route=$route")
    requests=$(printf '%s' "$stats" | jq '.routes[0].sides.target.requests')
    rate=$(printf '%s' "$stats" | jq '.routes[0].sides.target.error_rate')
    if [ "$requests" -ge "$min_requests" ] &&
      jq -en --argjson r "$rate" --argjson m "$max_rate" '$r > $m' >/dev/null; then
      rollback "target error rate $rate > $max_rate over ${elapsed}s at $weight % ($requests requests)"
    fi
    # Your own checks go here (replication lag, row counts, ...): call rollback "reason" to stop.
  done
  if [ "$requests" -lt "$min_requests" ]; then
    rollback "only $requests target requests in the step at $weight % (needs $min_requests): no data is no pass"
  fi
done
echo "ramp: $route reached ${weight} %"
