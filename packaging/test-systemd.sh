#!/usr/bin/env bash
# Runs packaging/systemd/cutover.service under a real systemd, inside a podman container (this
# machine's init is not systemd): the image docker/test.sh built, plus systemd and the unit. Checks
# that the service starts with every hardening option of the unit (namespaces, system call filter,
# capabilities) as user `cutover`, resolves an endpoint name, proxies a request, reloads on `systemctl reload`, cannot write
# outside /var/lib/cutover, and stops on `systemctl stop` with a drain and exit status 0.
#
#   docker/test.sh --no-compose && packaging/test-systemd.sh     # as root
#
# IMAGE (default localhost/cutover:test) is the cutover image to start from.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-localhost/cutover:test}
TEST_IMAGE=localhost/cutover-systemd:test
CTR=cutover-systemd-test-$$
WORK=$(mktemp -d /tmp/cutover-systemd-test.XXXXXX)

fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ] && podman container exists "$CTR" 2>/dev/null; then
    echo "--- journal of cutover.service"
    podman exec "$CTR" journalctl -u cutover --no-pager -n 40 2>&1
  fi
  podman rm -f -v -t 0 "$CTR" >/dev/null 2>&1
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
wait_until() {  # SECONDS CMD...: every 0.2 s until CMD succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ "$SECONDS" -lt "$deadline" ] || return 1; sleep 0.2; done
}
in_ctr() { podman exec "$CTR" "$@"; }

podman image exists "$IMAGE" || fail "no $IMAGE: run docker/test.sh first"

echo "== image: $IMAGE + systemd + the unit"
cp packaging/systemd/cutover.service packaging/systemd/cutover.sysusers "$WORK/"
cp docker/demo/app.py "$WORK/"
cat >"$WORK/cutover.yaml" <<'EOF'
workers: 1
drain_timeout: 10s
admin: {listen: 127.0.0.1:9901}
state_file: /var/lib/cutover/state.json
audit_log: /var/lib/cutover/audit.jsonl
clusters:
  legacy: {endpoints: ["legacy.internal:9001"]}   # a name: resolved under RestrictAddressFamilies
  cloud: {endpoints: ["127.0.0.1:9002"]}
listeners:
  - name: public
    address: 0.0.0.0:80
    protocol: http
    routes:
      - {name: app, match: {host: "*", path_prefix: /}, source: legacy, target: cloud, weight: 0}
EOF
cat >"$WORK/Dockerfile" <<EOF
FROM $IMAGE
USER root
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \\
 && apt-get update -qq \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd systemd-sysv python3 curl procps >/dev/null \\
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \\
 && userdel cutover
COPY cutover.service /etc/systemd/system/cutover.service
COPY cutover.sysusers /usr/lib/sysusers.d/cutover.conf
COPY cutover.yaml /etc/cutover/cutover.yaml
COPY app.py /opt/app.py
# Two backends as services of their own, the proxy's upstreams.
RUN for s in legacy:9001 cloud:9002; do n=\${s%%:*}; p=\${s##*:}; \\
      printf '[Service]\nExecStart=/usr/bin/python3 /opt/app.py --name %s --port %s\n[Install]\nWantedBy=multi-user.target\n' "\$n" "\$p" \\
        > /etc/systemd/system/app-\$n.service; \\
      ln -s /etc/systemd/system/app-\$n.service /etc/systemd/system/multi-user.target.wants/; \\
    done
ENTRYPOINT ["/lib/systemd/systemd"]
CMD []
STOPSIGNAL SIGRTMIN+3
EOF
timeout 900 podman build --isolation chroot --format docker -t "$TEST_IMAGE" "$WORK" >"$WORK/build.log" 2>&1 \
  || { tail -20 "$WORK/build.log"; fail "build"; }

echo "== boot systemd in a container"
# --privileged: systemd sets up the unit's namespaces (ProtectSystem, PrivateTmp, ...) itself.
podman --runtime runc run -d --name "$CTR" --privileged --systemd=always --network host \
  --add-host legacy.internal:127.0.0.1 --no-healthcheck "$TEST_IMAGE" >/dev/null
wait_until 60 sh -c "podman exec $CTR systemctl is-system-running 2>/dev/null | grep -Eq 'running|degraded'" \
  || fail "systemd did not boot: $(podman logs "$CTR" 2>&1 | tail -5)"
in_ctr systemctl --version | head -1
in_ctr systemd-sysusers
in_ctr id cutover
# The image's man pages, which the unit's install steps put at the same place.
for page in cutover.1 cutoverctl.1; do
  in_ctr test -s "/usr/local/share/man/man1/$page" || fail "no /usr/local/share/man/man1/$page in the image"
done

echo "== systemctl start cutover"
in_ctr systemctl start cutover
wait_until 20 in_ctr curl -fsS --max-time 2 http://127.0.0.1:9901/readyz || fail "/readyz"
in_ctr systemctl show cutover -p ActiveState -p SubState -p MainPID -p User -p ExecMainStatus
pid=$(in_ctr systemctl show cutover -p MainPID --value)
echo "process: $(in_ctr ps -o user=,pid=,comm= -p "$pid")"
in_ctr grep -E '^(CapEff|NoNewPrivs|Seccomp):' "/proc/$pid/status"
[ "$(in_ctr ps -o user= -p "$pid")" = cutover ] || fail "not running as cutover"
wait_until 20 in_ctr curl -fsS --max-time 2 http://127.0.0.1:9001/healthz || fail "backend legacy"
echo "proxied on :80 (CAP_NET_BIND_SERVICE): $(in_ctr curl -sS --max-time 5 http://127.0.0.1:80/api/items/1)"
in_ctr cutoverctl set app --weight 100
in_ctr curl -sS --max-time 5 http://127.0.0.1:80/api/items/2 | grep -q '"service": "cloud"' || fail "weight 100"
in_ctr ls -l /var/lib/cutover/

echo "== the sandbox: only /var/lib/cutover is writable"
# Inside the service's own mount namespace, as its user: ProtectSystem=strict, ProtectHome and
# ReadWritePaths as the process sees them.
in_ctr nsenter -t "$pid" -m setpriv --reuid cutover --regid cutover --clear-groups sh -c '
  for f in /etc/cutover/x /usr/local/bin/x /root/x /home/x /var/lib/cutover/probe; do
    if touch "$f" 2>/dev/null; then echo "writable: $f"; rm -f "$f"; else echo "not writable: $f"; fi
  done' | tee "$WORK/sandbox.txt"
grep -q "^writable: /var/lib/cutover/probe" "$WORK/sandbox.txt" || fail "/var/lib/cutover not writable"
[ "$(grep -c '^writable' "$WORK/sandbox.txt")" = 1 ] || fail "writable outside /var/lib/cutover"
# And as root in that namespace: a read-only file system, not merely permissions.
in_ctr nsenter -t "$pid" -m sh -c 'touch /etc/cutover/x 2>&1; rm -f /etc/cutover/x' | tee "$WORK/ro.txt" || true
grep -q "Read-only file system" "$WORK/ro.txt" || fail "/etc is writable in the service's namespace"

echo "== systemctl reload cutover (SIGHUP)"
in_ctr systemctl reload cutover
sleep 1
in_ctr journalctl -u cutover --no-pager -n 3 -o cat | grep -i -E "reload|SIGHUP" || true
in_ctr systemctl is-active cutover

echo "== systemctl stop cutover during a slow request"
in_ctr sh -c 'curl -sS --max-time 20 -o /tmp/slow.out -w "%{http_code}" "http://127.0.0.1:80/slow?ms=2000" > /tmp/slow.code' &
slow=$!
sleep 0.5
t0=$SECONDS
timeout 60 podman exec "$CTR" systemctl stop cutover
wait "$slow" || true
echo "stopped after $((SECONDS - t0)) s; the request in flight got HTTP $(in_ctr cat /tmp/slow.code)"
in_ctr systemctl show cutover -p Result -p ExecMainCode -p ExecMainStatus | tee "$WORK/show.txt"
grep -qx "ExecMainStatus=0" "$WORK/show.txt" || fail "exit status not 0"
grep -qx "Result=success" "$WORK/show.txt" || fail "stop was not a success"
[ "$(in_ctr cat /tmp/slow.code)" = 200 ] || fail "the request in flight did not complete"
in_ctr journalctl -u cutover --no-pager -o cat | grep -E "draining|stopped" | tail -2
echo "== ok"
