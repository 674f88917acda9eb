#!/usr/bin/env bash
# ctest openapi_lint: lints docs/admin-api.openapi.yaml with the @redocly/cli pinned in
# package-lock.json, installed with `npm ci` into WORK_DIR (the build tree, never the source
# tree) and installed again only when the lock file changes. Exit 77 (skipped) without node/npm,
# or when this machine cannot reach the npm registry at all (no route, no name, or a TLS chain it
# does not trust): the lint then cannot run here, which is said loudly, not passed.
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
  # Node trusts its own CA bundle, not the system's: a machine whose way out goes through a proxy
  # with a local CA has that CA in the system bundle only.
  if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -r /etc/ssl/certs/ca-certificates.crt ]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
  fi
  if ! (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund) > "$work/npm-ci.log" 2>&1; then
    cat "$work/npm-ci.log"
    if grep -qE 'code (SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ENETUNREACH)' \
         "$work/npm-ci.log"; then
      echo "openapi_lint: SKIPPED: the npm registry is out of reach from this machine (above); the lint did not run"
      exit 77
    fi
    exit 1
  fi
fi
"$work/node_modules/.bin/redocly" lint --config "$here/redocly.yaml" "$repo/docs/admin-api.openapi.yaml"
