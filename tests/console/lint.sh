#!/usr/bin/env bash
# ctest console_lint: the console's JavaScript (admin/ui/console.js) through ESLint with
# tests/console/eslintrc.json: ESLint's recommended rules plus no eval or implied eval, strict
# mode, no globals of its own. ESLint is Debian's package (scripts/setup.sh installs it); Debian's
# modules live in /usr/share/nodejs, which a Node.js from elsewhere does not search by itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
if ! command -v eslint >/dev/null; then
  echo "console_lint: eslint is missing (scripts/setup.sh installs Debian's eslint)" >&2
  exit 1
fi
export NODE_PATH=/usr/share/nodejs:/usr/lib/nodejs${NODE_PATH:+:$NODE_PATH}
cd "$repo"
eslint --no-eslintrc --no-ignore -c tests/console/eslintrc.json --max-warnings 0 -f unix admin/ui/console.js
echo "console_lint: admin/ui/console.js passes"
