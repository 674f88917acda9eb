#!/usr/bin/env bash
# Installs the Debian packages cutover needs to build, test, run the demo and the benchmarks.
# Safe to run twice: apt-get skips what is already installed. Needs root (or sudo).
#   scripts/setup.sh [--build | --bench | --fuzz]   (--build: the build packages only)
set -euo pipefail

# help2man and python3 make the man pages from the binaries' --help at build time
# (packaging/man/manpage.py); libjs-chart.js is Chart.js, built into the console (admin/ui/).
build_pkgs=(
  build-essential cmake pkg-config git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev libyaml-cpp-dev prometheus-cpp-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libcli11-dev libxxhash-dev libmimalloc-dev libnghttp2-dev
  help2man python3 libjs-chart.js
)
# What the demo and the integration tests drive: real servers and real clients (openssl: the TLS
# test makes its certificates and speaks old TLS versions with it; python3-websockets: the WebSocket
# servers and clients of test_websocket.py, run with /usr/bin/python3; nghttp2-client, python3-h2 and
# python3-grpcio: the HTTP/2 and gRPC clients of test_http2.py, python3-h2 a frame layer for the
# streams and abuse it sends; python3-yaml and python3-jsonschema: test_openapi.py validates the
# admin API's answers against docs/admin-api.openapi.yaml; man-db: the manpages test renders
# build/*.1 with man; etcd-server: the members test_etcd_client.py starts for fleet/etcd;
# chromium, chromium-driver and python3-selenium: test_console.py drives the console in headless
# Chromium; eslint: the console's JavaScript is linted; prometheus: test_prometheus_gate.py's real
# server scrapes cutover and answers a ramp's gate queries).
run_pkgs=(python3 python3-websockets python3-h2 python3-grpcio python3-yaml python3-jsonschema nghttp2-client curl openssl
          nginx-light procps jq man-db etcd-server chromium chromium-driver python3-selenium eslint prometheus)

want=("${build_pkgs[@]}")
# --build: what building the binaries needs, nothing the tests and the demo drive (the container
# image's build stage).
if [ "${1:-}" != "--build" ]; then
  want+=("${run_pkgs[@]}")
  # ctest openapi_lint runs the pinned @redocly/cli of tests/openapi/ on Node.js. A nodejs that is
  # already there may bring its own npm (NodeSource's does, and conflicts with Debian's npm package).
  command -v node >/dev/null || want+=(nodejs)
  command -v npm >/dev/null || want+=(npm)
fi
if [ "${1:-}" = "--bench" ]; then want+=(wrk nghttp2-client haproxy nginx-light gnuplot-nox libbenchmark-dev valgrind strace liburing-dev); fi
# The libFuzzer targets (fuzz/run.sh): clang with its fuzzer runtime, built apart from GCC's build.
if [ "${1:-}" = "--fuzz" ]; then want+=(clang-14 libfuzzer-14-dev); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then echo "setup: all packages present"; exit 0; fi

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# nginx-light's package starts a system nginx on :80, etcd-server a system etcd on :2379, prometheus
# one on :9090; the demo and tests run their own instances.
for unit in nginx etcd prometheus; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$unit" 2>/dev/null; then
    $SUDO systemctl stop "$unit" || true
  fi
done
echo "setup: installed ${missing[*]}"
