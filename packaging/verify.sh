#!/usr/bin/env bash
# Checks packaging/systemd/cutover.service offline: `systemd-analyze verify` (syntax, every
# directive known, the executables exist) and `systemd-analyze security --offline` (the exposure
# score of the hardening), in a throwaway root holding the unit, the binaries and this machine's
# system units; plus TimeoutStopSec above every drain_timeout shipped in this repository.
# Needs no running systemd. Installs `systemd` with apt when systemd-analyze is missing.
#
#   packaging/verify.sh        # uses build/cutover if built, else a stand-in executable
set -euo pipefail
cd "$(dirname "$0")/.."
UNIT=packaging/systemd/cutover.service

if ! command -v systemd-analyze >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  timeout 300 $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 $SUDO apt-get install -y -qq --no-install-recommends systemd >/dev/null
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
