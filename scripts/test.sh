#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs the packages, builds, runs every
# unit and integration test (the integration tests start the real binary against real servers),
# then runs it again under ASan+UBSan and the threaded tests under TSan, each in its own build
# directory (build-asan, build-tsan). Sanitizer reports stop the binary, so they fail the test.
#
#   SANITIZERS=0 ./scripts/test.sh        the plain suite only (a quick local run)
#   BUILD_DIR=build-x CMAKE_ARGS=... ./scripts/test.sh   one custom build only (no sanitizer passes)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

run_suite() {  # BUILD_DIR BUILD_TYPE CMAKE_ARGS CTEST_ARGS [CXX_FLAGS]
  local dir=$1 type=$2 args=$3 ctest_args=$4 flags=${5:-}
  local t0
  t0=$(date +%s)
  echo "test: == $dir ($type${args:+, $args}${flags:+, $flags}) =="
  # shellcheck disable=SC2086
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" ${flags:+"-DCMAKE_CXX_FLAGS=$flags"} $args >/dev/null
  cmake --build "$dir" -j"$(nproc)"
  # shellcheck disable=SC2086
  (cd "$dir" && ctest --output-on-failure --timeout 900 $ctest_args)
  echo "test: $dir passed in $(( $(date +%s) - t0 )) s"
}

if [ -n "${BUILD_DIR:-}" ]; then
  run_suite "$BUILD_DIR" "${BUILD_TYPE:-RelWithDebInfo}" "${CMAKE_ARGS:-}" "${CTEST_ARGS:-}"
  exit 0
fi

started=$(date +%s)
# The suite's builds are one-shot: unity builds (CMake batches of 8 sources per translation unit)
# parse the Boost headers a quarter as often, about a fifth less compiling per build; no test runs
# the bench load tools. A developer's incremental build keeps neither setting.
one_shot="-DCMAKE_UNITY_BUILD=ON -DCUTOVER_BENCH_TOOLS=OFF"
# Under a sanitizer each process takes most of a second to start: the unit tests run as one.
sanitized="$one_shot -DCUTOVER_UNIT_TESTS_ONE_PROCESS=ON -DCUTOVER_MAN_PAGES=OFF"
run_suite build "${BUILD_TYPE:-RelWithDebInfo}" "$one_shot ${CMAKE_ARGS:-}" "${CTEST_ARGS:-}"
if [ "${SANITIZERS:-1}" != 0 ]; then
  # -O1 -g1: quicker to build than -O2 -g, and the reports still name file:line.
  # 1 GiB transfers are for the plain build; under ASan they only measure the sanitizer. The checks
  # of the docs (the tour, man pages, drift tests, the OpenAPI linter) and the 200 kills of
  # test_crash exercise no code the plain pass has not run. Neither do the tests that mostly wait
  # on a clock or a browser: the ramp steps' approvals, hooks and rehearsals, the real Prometheus,
  # the console in Chromium, the compose file's parse (their parsers have unit tests and fuzz
  # seeds, which both passes run).
  waits="ramp_steps|prometheus_gate|console|fleet_compose"
  run_suite build-asan Sanitize "-DCUTOVER_SANITIZE=address,undefined $sanitized" \
    "-E ^(integration\.(large_bodies|tour|crash|$waits)|openapi_lint|manpages|dockerfile|docs_.*)$" "-O1 -g1"
  # TSan: the unit tests and the integration tests that drive several workers, the admin thread
  # and background threads at once (the others exercise one request at a time).
  run_suite build-tsan Sanitize "-DCUTOVER_SANITIZE=thread $sanitized" \
    "-E ^(integration\.(large_bodies|http|state|sticky|force|badinput|runbook|tour|crash|etcd_client|ramp|$waits)|openapi_lint|manpages|dockerfile|docs_.*)$" "-O1 -g1"
fi
echo "test: all passed in $(( $(date +%s) - started )) s"
