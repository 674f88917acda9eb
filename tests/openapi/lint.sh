#!/usr/bin/env bash
# ctest openapi_lint: lints docs/admin-api.openapi.yaml with the @redocly/cli pinned in
# package-lock.json, installed with `npm ci` into WORK_DIR (the build tree, never the source
# tree) and installed again only when the lock file changes. Exit 77 (skipped) without node/npm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${1:?usage: lint.sh WORK_DIR}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "openapi_lint: node and npm are needed (scripts/setup.sh installs them); skipped"
  exit 77
fi
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1
mkdir -p "$work"
if ! cmp -s "$here/package-lock.json" "$work/package-lock.json" || [ ! -x "$work/node_modules/.bin/redocly" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$here/.npmrc" "$work/"
  (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund)
fi
"$work/node_modules/.bin/redocly" lint --config "$here/redocly.yaml" "$repo/docs/admin-api.openapi.yaml"
