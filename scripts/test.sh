#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs the packages, builds, runs every
# unit and integration test (the integration tests start the real binary against real servers).
#   BUILD_DIR=build-asan CMAKE_ARGS=-DCUTOVER_SANITIZE=address,undefined ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
build=${BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure --timeout 900 ${CTEST_ARGS:-}
