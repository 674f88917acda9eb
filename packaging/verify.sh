#!/usr/bin/env bash
# Checks packaging/systemd/cutover.service offline: `systemd-analyze verify` (syntax, every
# directive known, the executables exist) and `systemd-analyze security --offline` (the exposure
# score of the hardening), in a throwaway root holding the unit, the binaries and this machine's
# system units; plus TimeoutStopSec above every drain_timeout shipped in this repository. Then
# packaging/logrotate/cutover: the unit's user and LogsDirectory, `logrotate -d` on it (paths
# moved to a temporary directory, rotating as the user running this), and its postrotate against
# stand-ins for systemctl: silent and exit 0 with the service down, SIGUSR1 to the main PID when up.
# Needs no running systemd and no root. Installs `systemd` and `logrotate` with apt when
# systemd-analyze or logrotate is missing.
#
#   packaging/verify.sh        # uses build/cutover if built, else a stand-in executable
set -euo pipefail
cd "$(dirname "$0")/.."
UNIT=packaging/systemd/cutover.service
ROTATE=packaging/logrotate/cutover

missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v logrotate >/dev/null || [ -x /usr/sbin/logrotate ] || missing+=(logrotate)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  timeout 300 $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

root=$(mktemp -d /tmp/cutover-unit-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/usr/{bin,lib/systemd,local/bin} "$root/etc/systemd/system"
ln -s usr/bin "$root/bin"
ln -s usr/lib "$root/lib"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp /usr/bin/kill "$root/usr/bin/"
for b in cutover cutoverctl; do
  if [ -x "build/$b" ]; then
    cp "build/$b" "$root/usr/local/bin/"
  else  # the unit is what is checked here; an executable at the path is enough
    printf '#!/bin/sh\nexit 0\n' >"$root/usr/local/bin/$b"; chmod 755 "$root/usr/local/bin/$b"
  fi
done
cp "$UNIT" "$root/etc/systemd/system/"

echo "systemd-analyze verify $UNIT ($(systemd-analyze --version | head -1))"
out=$(systemd-analyze verify --root="$root" cutover.service 2>&1) || { echo "$out"; echo "FAIL: verify"; exit 1; }
# verify exits 0 on some warnings too: any line it prints about our unit is a failure here.
if grep -q "cutover.service" <<<"$out"; then echo "$out"; echo "FAIL: verify warned"; exit 1; fi
echo "verify: ok"
systemd-analyze security --offline=true --root="$root" cutover.service 2>/dev/null | tail -1

# The stop timeout must let a drain finish: TimeoutStopSec > drain_timeout of the shipped configs.
to_s() { local v=$1; case $v in *ms) echo $(( ${v%ms} / 1000 ));; *s) echo "${v%s}";; *m) echo $(( ${v%m} * 60 ));; *) echo "$v";; esac; }
stop=$(to_s "$(sed -n 's/^TimeoutStopSec=//p' "$UNIT")")
for cfg in config/examples/cutover.yaml docker/cutover.yaml docker/demo/cutover.yaml; do
  d=$(sed -n 's/^drain_timeout: *\([0-9a-z]*\).*/\1/p' "$cfg")
  [ -n "$d" ] || continue
  [ "$(to_s "$d")" -lt "$stop" ] || { echo "FAIL: TimeoutStopSec=${stop}s is not above drain_timeout $d of $cfg"; exit 1; }
done
echo "TimeoutStopSec=${stop}s is above every drain_timeout shipped: ok"

# ---- the logrotate snippet
echo "logrotate $ROTATE ($(/usr/sbin/logrotate --version 2>&1 | head -1))"
unit_key() { sed -n "s/^$1=//p" "$UNIT"; }
user=$(unit_key User); group=$(unit_key Group); logs=/var/log/$(unit_key LogsDirectory)
[ "$logs" != /var/log/ ] || { echo "FAIL: $UNIT has no LogsDirectory="; exit 1; }
grep -Eq "^$logs/\*\.log \{" "$ROTATE" || { echo "FAIL: $ROTATE does not rotate $logs/*.log (the LogsDirectory)"; exit 1; }
for directive in "su $user $group" "create 0640 $user $group"; do
  grep -Eq "^ +$directive\$" "$ROTATE" || { echo "FAIL: $ROTATE lacks '$directive' (the unit's User/Group)"; exit 1; }
done
# The shipped file with its directory moved and the user replaced: logrotate resolves the names
# in su/create while parsing, and the unit's user need not exist here.
lr="$root/logrotate"; mkdir -p "$lr/log"; chmod 0700 "$lr"
echo '{"status":200}' >"$lr/log/access.log"
sed -e "s|^$logs/|$lr/log/|" -e "s/ $user $group\$/ $(id -un) $(id -gn)/" "$ROTATE" >"$lr/cutover.conf"
chmod 0644 "$lr/cutover.conf"
out=$(/usr/sbin/logrotate -d -f -s "$lr/state" "$lr/cutover.conf" 2>&1) || { echo "$out"; echo "FAIL: logrotate -d"; exit 1; }
if grep -Eq "^error|unknown|ignoring" <<<"$out"; then echo "$out"; echo "FAIL: logrotate -d complained"; exit 1; fi
grep -qF "(14 rotations)" <<<"$out" || { echo "$out"; echo "FAIL: logrotate -d: not 14 rotations"; exit 1; }
for step in "renaming $lr/log/access.log to $lr/log/access.log.1" "creating new $lr/log/access.log mode = 0640" \
            "running postrotate script"; do
  grep -qF "$step" <<<"$out" || { echo "$out"; echo "FAIL: logrotate -d: no '$step'"; exit 1; }
done
echo "logrotate -d: 14 rotations, rename, create 0640, postrotate: ok"

# The postrotate script as logrotate runs it (sh -c SCRIPT), against a stand-in systemctl.
script=$(sed -n '/^ *postrotate$/,/^ *endscript$/p' "$ROTATE" | sed '1d;$d')
mkdir -p "$lr/bin"
postrotate() {  # MAINPID_OR_FAILURE -> the script's exit code; stdout+stderr in $lr/out
  printf '#!/bin/sh\n%s\n' "$1" >"$lr/bin/systemctl"; chmod 755 "$lr/bin/systemctl"
  PATH="$lr/bin:$PATH" sh -c "$script" logrotate_script "$lr/log/*.log" >"$lr/out" 2>&1
}
postrotate 'echo "System has not been booted with systemd" >&2; exit 1' && [ ! -s "$lr/out" ] \
  || { cat "$lr/out"; echo "FAIL: postrotate without systemd"; exit 1; }
postrotate 'echo 0' && [ ! -s "$lr/out" ] || { cat "$lr/out"; echo "FAIL: postrotate with the service stopped"; exit 1; }
sh -c "trap 'echo USR1 >$lr/signalled; exit 0' USR1; while :; do sleep 0.05; done" &
main=$!
postrotate "echo $main" || { cat "$lr/out"; kill "$main"; echo "FAIL: postrotate with the service running"; exit 1; }
for _ in $(seq 50); do [ -s "$lr/signalled" ] && break; sleep 0.1; done
kill "$main" 2>/dev/null || true; wait "$main" 2>/dev/null || true
[ -s "$lr/signalled" ] || { echo "FAIL: postrotate did not send SIGUSR1 to the main PID"; exit 1; }
echo "postrotate: exit 0 and silent without systemd or with the service stopped, SIGUSR1 to MainPID: ok"
