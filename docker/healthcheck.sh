#!/bin/bash
# The image's HEALTHCHECK: exit 0 when GET /healthz on the admin API answers 200, else 1.
# bash's /dev/tcp keeps curl out of the image; the admin address is $CUTOVER_ADMIN (as for cutoverctl).
set -u
addr=${CUTOVER_ADMIN:-http://127.0.0.1:9901}
addr=${addr#http://}
addr=${addr%%/*}
host=${addr%:*}
port=${addr##*:}
host=${host#[}
host=${host%]}
# The answer has its own bound; the engine's --timeout (HEALTHCHECK) is the outer one.
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /healthz HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$addr" >&3
IFS= read -r -t 3 status <&3 || exit 1
case $status in
  "HTTP/1."?" 200 "*) exit 0 ;;
  *) echo "healthz: ${status%$'\r'}" >&2; exit 1 ;;
esac
