#!/usr/bin/env bash
# Builds the cutover image with podman (no Docker engine or image registry needed) and checks it:
#   1. the static pieces: the Grafana dashboard, the compose files (docker-compose's schema and
#      podman-compose's parser), the systemd unit and logrotate snippet (packaging/verify.sh);
#   2. a Debian bookworm base image from debootstrap, unless $BASE names one that exists;
#   3. `podman build` of docker/Dockerfile; the image runs as non-root and checks its default config;
#   4. the image run with a mounted config against two backends on this host: /healthz, the
#      HEALTHCHECK, a request proxied and its access log line on the container's output (with the
#      X-Request-Id it was answered with), cutoverctl inside the container moving it to target, the state
#      file in the volume, then SIGTERM during a slow request: the request completes, exit code 0;
#   5. unless --no-compose: the compose demo under podman-compose (source, target, cutover,
#      Prometheus, traffic): requests through cutover reach both apps and Prometheus scrapes cutover.
# Prints the image size. Needs root (apt-get, debootstrap, rootful podman); installs what it needs.
#
#   docker/test.sh [--no-compose] [--keep]     # --keep leaves the containers of step 5 running
#
# Environment: BASE (default localhost/debian:bookworm, built here when missing), DEBIAN_MIRROR and
# DEBIAN_SECURITY_MIRROR (default: the URIs this machine's own apt sources give for bookworm and
# bookworm-security), IMAGE (default localhost/cutover:test), BUILD_TIMEOUT seconds (default 3600).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD

BASE=${BASE:-localhost/debian:bookworm}
# apt_uri SUITE: the URI this machine's apt sources use for SUITE, from deb822 .sources files or
# one-line .list entries; nothing when none names it. The base image is built from the same
# archive the machine itself installs from.
apt_uri() {
  local sources=() lists=() f
  for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && sources+=("$f"); done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do [ -f "$f" ] && lists+=("$f"); done
  {
    awk -v s="$1" 'BEGIN { RS = ""; FS = "\n" }
      { uri = ""; ok = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
          if ($i ~ /^Suites:/) { n = split($i, b, /[ \t]+/); for (j = 2; j <= n; j++) if (b[j] == s) ok = 1 }
        }
        if (ok && uri != "") print uri }' "${sources[@]}" /dev/null
    awk -v s="$1" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                                 if ($(i + 1) == s) print $i }' "${lists[@]}" /dev/null
  } | head -n 1
}
MIRROR=${DEBIAN_MIRROR:-$(apt_uri bookworm)}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-$(apt_uri bookworm-security)}
IMAGE=${IMAGE:-localhost/cutover:test}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-3600}
COMPOSE=1
KEEP=0
for arg in "$@"; do
  case $arg in
    --no-compose) COMPOSE=0 ;;
    --keep) KEEP=1 ;;
    *) echo "usage: $0 [--no-compose] [--keep]" >&2; exit 2 ;;
  esac
done

PODMAN=(podman --runtime runc)
# podman schedules health checks with systemd timers and, with no systemd (as here), says so at
# every start and stop of a container with a HEALTHCHECK: that message alone is filtered out.
pod() { podman --runtime runc "$@" 2> >(grep -v 'systemd connection' >&2); }
CTR=cutover-test-$$
VOL=cutover-test-state-$$
WORK=$(mktemp -d /tmp/cutover-docker-test.XXXXXX)
# podman-compose starts its containers with podman's default runtime (crun), which cannot start
# them on hosts with cgroups in hybrid mode; this script's own podman calls say runc: so does
# podman-compose, through a containers.conf of the script's own.
printf '[engine]\nruntime = "runc"\n' > "$WORK/containers.conf"
export CONTAINERS_CONF="$WORK/containers.conf"
PIDS=()
PROJECT=cutover-demo-test

step() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

cleanup() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ] && podman container exists "$CTR" 2>/dev/null; then
    echo "--- container log ($CTR)"; podman logs --tail 40 "$CTR" 2>&1
  fi
  podman rm -f -t 0 "$CTR" >/dev/null 2>&1
  podman volume rm -f "$VOL" >/dev/null 2>&1
  if [ "$COMPOSE" = 1 ] && [ "$KEEP" = 0 ] && [ -n "${COMPOSE_STARTED:-}" ]; then
    (cd docker && timeout 120 podman-compose -p "$PROJECT" -f compose.yaml down -v >/dev/null 2>&1)
    podman network rm -f "${PROJECT}_default" >/dev/null 2>&1  # podman-compose 1.0 leaves it
  fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  rm -f docker/.compose-check.yaml
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || fail "run as root: apt-get, debootstrap and rootful podman"

# wait_until SECONDS CMD...: run CMD every 0.2 s until it succeeds; fail after SECONDS.
wait_until() {
  local limit=$1; shift
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# ---------------------------------------------------------------------------------------------
step "packages"
want=(podman runc uidmap debootstrap podman-compose docker-compose
      golang-github-containernetworking-plugin-dnsname systemd logrotate python3 curl ca-certificates)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq
  timeout 900 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "installed ${missing[*]}"
else
  echo "all present"
fi
podman --version; runc --version | head -1

# ---------------------------------------------------------------------------------------------
step "static checks: dashboard, compose files, systemd unit, logrotate snippet"
python3 docker/check_dashboard.py
# docker-compose (v1, Debian's) validates against the compose schema without a Docker engine. It
# predates the top-level `name` (the project name for `docker compose` v2): checked without it.
grep -v '^name:' docker/compose.yaml >docker/.compose-check.yaml
(cd docker && docker-compose -f .compose-check.yaml config -q && echo "compose.yaml: valid (docker-compose config)")
(cd docker && docker-compose -f .compose-check.yaml -f compose.grafana.yaml config -q \
   && echo "compose.yaml + compose.grafana.yaml: valid (docker-compose config)")
rm -f docker/.compose-check.yaml
(cd docker && podman-compose -p "$PROJECT" -f compose.yaml --dry-run up -d >"$WORK/dry-run.txt" 2>&1) \
  || { cat "$WORK/dry-run.txt"; fail "podman-compose could not parse compose.yaml"; }
echo "compose.yaml: podman-compose --dry-run up ok ($(grep -c 'podman run' "$WORK/dry-run.txt") containers)"
packaging/verify.sh

# ---------------------------------------------------------------------------------------------
step "base image $BASE"
if podman image exists "$BASE"; then
  echo "present"
elif [ "$BASE" = localhost/debian:bookworm ]; then
  [ -n "$MIRROR" ] && [ -n "$SECURITY_MIRROR" ] ||
    fail "this machine's apt sources name no bookworm and bookworm-security archive: set DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR"
  rootfs="$WORK/rootfs"
  echo "debootstrap --variant=minbase bookworm from $MIRROR"
  timeout 1200 debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
  # Like the official -slim images: the release, its updates and security; no documentation,
  # manual pages or translations (now or from packages installed later); no package lists or caches.
  rm -f "$rootfs/etc/apt/sources.list" "$rootfs/etc/hostname"
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$rootfs"/usr/share/{groff,info,linda,lintian,locale,man}/*
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
         "$rootfs"/var/log/*.log "$rootfs"/tmp/*
  tar --numeric-owner -C "$rootfs" -c . | podman import --change 'CMD ["bash"]' - "$BASE" >/dev/null \
    || { podman rmi -f "$BASE" >/dev/null 2>&1; fail "import of the base image"; }
  rm -rf "$rootfs"
  echo "imported: $(podman image inspect --format '{{.Size}}' "$BASE" | awk '{printf "%.0f MB", $1/1e6}')"
else
  timeout 600 podman pull "$BASE"
fi

# Rootful podman gives a container rlimits of its own (nofile, nproc); where the host (a sandbox, a
# CI runner) does not let runc set them, the containers inherit the host's instead: no
# default_ulimits in the script's containers.conf, which podman-compose's containers read too.
if ! "${PODMAN[@]}" run --rm --network host "$BASE" true >"$WORK/probe.txt" 2>&1; then
  if grep -qi rlimit "$WORK/probe.txt"; then
    echo "rlimits refused by this host: containers inherit the host's (default_ulimits = [])"
    printf '[containers]\ndefault_ulimits = []\n' >>"$CONTAINERS_CONF"
    "${PODMAN[@]}" run --rm --network host "$BASE" true || fail "podman run still fails"
  else
    cat "$WORK/probe.txt"; fail "podman cannot run a container"
  fi
fi

# ---------------------------------------------------------------------------------------------
step "build $IMAGE (docker/Dockerfile, BASE=$BASE)"
t0=$SECONDS
# --format docker keeps HEALTHCHECK (the OCI image format has no field for it).
timeout "$BUILD_TIMEOUT" podman build --isolation chroot --format docker --build-arg BASE="$BASE" \
  -f docker/Dockerfile -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log"; fail "podman build"; }
grep -E "^runtime packages:" "$WORK/build.log" || true
echo "built in $((SECONDS - t0)) s"
size_bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "image size: $(awk -v b="$size_bytes" 'BEGIN {printf "%.1f MB (%d bytes)", b/1e6, b}')"
podman image inspect --format 'user={{.Config.User}} stopsignal={{.Config.StopSignal}} entrypoint={{.Config.Entrypoint}} cmd={{.Config.Cmd}} volumes={{.Config.Volumes}}' "$IMAGE"
podman image inspect --format '{{.HealthCheck}}' "$IMAGE" | grep -q cutover-healthcheck \
  || fail "the image has no HEALTHCHECK"
# Without systemd here podman cannot schedule health checks: off for the short runs, and run by
# hand (podman healthcheck run) for the long one.
RUN=("${PODMAN[@]}" run --rm --network host --no-healthcheck)
uid=$("${RUN[@]}" --entrypoint id "$IMAGE" -u)
[ "$uid" != 0 ] || fail "the image runs as root"
echo "runs as uid $uid"
"${RUN[@]}" "$IMAGE" --check --config /etc/cutover/cutover.yaml
"${RUN[@]}" --entrypoint cutoverctl "$IMAGE" --version

# ---------------------------------------------------------------------------------------------
step "run the image against backends on this host"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start_app() {  # NAME -> prints the port it bound
  local name=$1 out="$WORK/$1.out"
  python3 docker/demo/app.py --name "$name" --bind 127.0.0.1 --port 0 >"$out" 2>&1 &
  PIDS+=($!)
  wait_until 10 grep -q "listening on" "$out" || fail "backend $name did not start"
  sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$out"
}
SRC_PORT=$(start_app legacy)
TGT_PORT=$(start_app cloud)
PORT=$(free_port)
ADMIN_PORT=$(free_port)
echo "backends legacy :$SRC_PORT, cloud :$TGT_PORT; cutover :$PORT, admin :$ADMIN_PORT"
cat >"$WORK/cutover.yaml" <<EOF
workers: 1
drain_timeout: 10s
admin: {listen: "127.0.0.1:$ADMIN_PORT"}
state_file: /var/lib/cutover/state.json
audit_log: /var/lib/cutover/audit.jsonl
clusters:
  legacy: {endpoints: ["127.0.0.1:$SRC_PORT"], connect_timeout: 1s, response_timeout: 10s}
  cloud: {endpoints: ["127.0.0.1:$TGT_PORT"], connect_timeout: 1s, response_timeout: 10s}
listeners:
  - name: public
    address: "127.0.0.1:$PORT"
    protocol: http
    access_log: {path: stdout}   # as in the image's default config
    routes:
      - {name: app, match: {host: "*", path_prefix: /}, source: legacy, target: cloud, weight: 0}
EOF
chmod 644 "$WORK/cutover.yaml"   # read by the image's non-root user
podman volume create "$VOL" >/dev/null
pod run -d --name "$CTR" --network host --health-interval disable \
  -v "$WORK/cutover.yaml:/etc/cutover/cutover.yaml:ro" -v "$VOL:/var/lib/cutover" \
  -e CUTOVER_ADMIN="http://127.0.0.1:$ADMIN_PORT" "$IMAGE" >/dev/null
wait_until 30 curl -fsS --max-time 2 "http://127.0.0.1:$ADMIN_PORT/healthz" \
  || fail "/healthz did not answer within 30 s"
echo "GET /healthz: $(curl -sS --max-time 5 -w ' (HTTP %{http_code})' "http://127.0.0.1:$ADMIN_PORT/healthz" | tr -d '\n')"
wait_until 15 curl -fsS --max-time 2 "http://127.0.0.1:$ADMIN_PORT/readyz" || fail "/readyz"
timeout 30 podman healthcheck run "$CTR" && echo "HEALTHCHECK (cutover-healthcheck): healthy" \
  || fail "the image's HEALTHCHECK failed"

body=$(curl -sS --max-time 5 -H 'X-User-Id: alice' "http://127.0.0.1:$PORT/api/items/1")
echo "proxied GET /api/items/1 at weight 0: $body"
echo "$body" | grep -q '"service": "legacy"' || fail "not answered by the source backend"
rid=$(curl -sS --max-time 5 -o /dev/null -D - "http://127.0.0.1:$PORT/api/items/logged" | tr -d '\r' \
  | sed -n 's/^x-request-id: *//Ip')
[ -n "$rid" ] || fail "no X-Request-Id on the response"
wait_until 10 sh -c "podman logs '$CTR' 2>/dev/null | grep -qF '\"request_id\":\"$rid\"'" \
  || fail "no access log line for request $rid in the container's output"
echo "access log line: $(podman logs "$CTR" 2>/dev/null | grep -F "\"request_id\":\"$rid\"")"
"${PODMAN[@]}" exec "$CTR" cutoverctl set app --weight 100
body=$(curl -sS --max-time 5 "http://127.0.0.1:$PORT/api/items/2")
echo "proxied GET /api/items/2 at weight 100: $body"
echo "$body" | grep -q '"service": "cloud"' || fail "not answered by the target backend"
"${PODMAN[@]}" exec "$CTR" cutoverctl status
"${PODMAN[@]}" exec "$CTR" ls -l /var/lib/cutover
"${PODMAN[@]}" exec "$CTR" grep -Eq '"read_weight_bp": ?10000' /var/lib/cutover/state.json || fail "no state file in the volume"

step "SIGTERM during a slow request"
curl -sS --max-time 20 -o "$WORK/slow.body" -w '%{http_code}' "http://127.0.0.1:$PORT/slow?ms=2000" \
  >"$WORK/slow.code" 2>"$WORK/slow.err" &
slow_pid=$!
sleep 0.5
t0=$SECONDS
pod kill --signal TERM "$CTR" >/dev/null
code=$(timeout 30 podman wait "$CTR") || fail "the container did not exit within 30 s of SIGTERM"
wait "$slow_pid" || true
echo "exit code $code after $((SECONDS - t0)) s; the request in flight got HTTP $(cat "$WORK/slow.code"): $(cat "$WORK/slow.body")"
podman logs "$CTR" 2>&1 | grep -E "draining|drain_timeout|listening" || true
[ "$code" = 0 ] || fail "exit code $code, not 0"
[ "$(cat "$WORK/slow.code")" = 200 ] || fail "the request in flight did not complete: $(cat "$WORK/slow.err")"
podman logs "$CTR" 2>&1 | grep -q "draining" || fail "no drain in the log"

step "a new container on the same volume"
pod rm "$CTR" >/dev/null
pod run -d --name "$CTR" --network host --health-interval disable \
  -v "$WORK/cutover.yaml:/etc/cutover/cutover.yaml:ro" -v "$VOL:/var/lib/cutover" \
  -e CUTOVER_ADMIN="http://127.0.0.1:$ADMIN_PORT" "$IMAGE" >/dev/null
wait_until 30 curl -fsS --max-time 2 "http://127.0.0.1:$ADMIN_PORT/readyz" || fail "the second container did not start"
"${PODMAN[@]}" exec "$CTR" cutoverctl status
body=$(curl -sS --max-time 5 "http://127.0.0.1:$PORT/api/items/3")
echo "$body" | grep -q '"service": "cloud"' || fail "the weights of the state file did not survive: $body"
echo "weights kept from the state file in the volume; audit log:"
"${PODMAN[@]}" exec "$CTR" tail -n 2 /var/lib/cutover/audit.jsonl
pod stop -t 15 "$CTR" >/dev/null
echo "podman stop: exit code $(podman inspect --format '{{.State.ExitCode}}' "$CTR")"

# ---------------------------------------------------------------------------------------------
if [ "$COMPOSE" = 1 ]; then
  step "compose demo under podman-compose"
  # podman-compose builds with podman's default (OCI) isolation; build the images as above instead
  # and tag them with the names compose.yaml gives them.
  podman tag "$IMAGE" localhost/cutover:latest
  for pair in "demo:localhost/cutover-demo-app:latest" "prometheus:localhost/cutover-prometheus:latest"; do
    ctx=${pair%%:*}; tag=${pair#*:}
    timeout "$BUILD_TIMEOUT" podman build --isolation chroot --format docker --build-arg BASE="$BASE" \
      -t "$tag" "docker/$ctx" >"$WORK/build-$ctx.log" 2>&1 || { tail -30 "$WORK/build-$ctx.log"; fail "build $tag"; }
    echo "built $tag ($(podman image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}'))"
  done
  COMPOSE_STARTED=1
  (cd docker && SHADOW_SECONDS=5 STEP_INTERVAL=5s MIN_REQUESTS=3 timeout 300 podman-compose -p "$PROJECT" -f compose.yaml up -d --no-build \
     >"$WORK/compose-up.log" 2>&1) || { tail -30 "$WORK/compose-up.log"; fail "podman-compose up"; }
  podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}} {{.Status}}'
  wait_until 60 curl -fsS --max-time 2 http://127.0.0.1:8080/healthz \
    || { podman logs "${PROJECT}_cutover_1" 2>&1 | tail -20; fail "cutover on :8080 did not answer within 60 s"; }
  echo "through cutover: $(curl -sS --max-time 5 http://127.0.0.1:8080/api/items/1)"
  # Prometheus scraped cutover over the compose network (target health "up").
  wait_until 60 sh -c "curl -fsS --max-time 2 'http://127.0.0.1:9090/api/v1/targets' | grep -q '\"health\":\"up\"'" \
    || { curl -sS --max-time 5 http://127.0.0.1:9090/api/v1/targets; fail "Prometheus does not scrape cutover"; }
  echo "Prometheus: target cutover:9901 up; cutover_route_weight = $(curl -sS --max-time 5 \
    'http://127.0.0.1:9090/api/v1/query?query=cutover_route_weight' | python3 -c \
    'import json,sys; print({r["metric"]["kind"]: r["value"][1] for r in json.load(sys.stdin)["data"]["result"]})')"
  # migrate.sh walks the runbook with 5 s steps; wait for it (bounded) and show its end.
  if timeout 180 podman wait "${PROJECT}_migrate_1" >"$WORK/migrate.rc" 2>&1; then
    echo "migrate exited $(cat "$WORK/migrate.rc"):"; podman logs "${PROJECT}_migrate_1" 2>&1 | tail -15
    [ "$(cat "$WORK/migrate.rc")" = 0 ] || fail "the demo migration did not complete"
  else
    podman logs "${PROJECT}_migrate_1" 2>&1 | tail -30; fail "the demo migration did not end within 180 s"
  fi
  echo "traffic: $(podman logs "${PROJECT}_traffic_1" 2>&1 | tail -1)"
  [ "$KEEP" = 1 ] && echo "left running (--keep): podman-compose -p $PROJECT -f docker/compose.yaml down -v"
fi

step "ok"
echo "image $IMAGE: $(awk -v b="$size_bytes" 'BEGIN {printf "%.1f MB", b/1e6}')"
