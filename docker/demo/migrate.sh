#!/bin/bash
# The compose demo's migration, the runbook (docs/runbook.md) in short: shadow comparison while the
# target takes no traffic, a gated ramp of the reads, then the write-path flip. Runs in the cutover
# image (cutoverctl) with CUTOVER_ADMIN and CUTOVER_TOKEN from compose.yaml; every wait is bounded.
#   SHADOW_SECONDS   parallel run before the first step (default 30)
#   STEP_INTERVAL    time per ramp step (default 30s)
#   MIN_REQUESTS     target requests a step needs before its gates count (default 20)
set -uo pipefail
ctl() { echo "+ cutoverctl $*"; cutoverctl "$@"; }

for _ in $(seq 60); do cutoverctl status >/dev/null 2>&1 && break; sleep 1; done
ctl status || exit 1

echo "== 1. parallel run: mirrored reads compared for ${SHADOW_SECONDS:-30}s, target serves nothing"
sleep "${SHADOW_SECONDS:-30}"
ctl shadow app --samples 3 || exit 1

echo "== 2+3. reads first, sticky users, a ramp gated on the target's errors and latency"
ctl ramp app --apply-to read --steps 5,25,50,100 --interval "${STEP_INTERVAL:-30s}" \
    --max-error-rate 0.01 --max-p99-ms 500 --max-mismatch-rate 0.01 --min-requests "${MIN_REQUESTS:-20}" --max-wait 2m || exit 1
if ! ctl watch app --interval 10s --max-seconds 900; then
  echo "== the ramp rolled back: every request is on the source again"
  ctl ramp-status app
  exit 4
fi

echo "== 4. the write-path flip"
ctl hold app --drain 10 || exit 1
echo "   (promote the target's database here; the demo apps keep no shared state)"
ctl release app --write-weight 100 || { ctl rollback app; exit 1; }
ctl status
ctl stats --window 60s
echo "== migrated: reads and writes on the target; \`cutoverctl rollback app\` still returns everything"
