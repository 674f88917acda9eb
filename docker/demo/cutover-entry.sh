#!/bin/bash
# The compose demo's entrypoint for cutover: writes the admin tokens file from $CUTOVER_TOKEN, then
# becomes cutover (exec: it is PID 1 and gets SIGTERM from `docker compose stop` directly).
set -euo pipefail
: "${CUTOVER_TOKEN:?set CUTOVER_TOKEN (compose.yaml has a demo default)}"
umask 077
printf 'operator:%s\n' "$CUTOVER_TOKEN" > /var/lib/cutover/tokens.txt
exec /usr/local/bin/cutover "$@"
