#!/bin/sh
# web-deps.sh - what the browser and OpenAPI tests need, on a bare Debian bookworm: node and
# npm and Chromium from Debian (when the commands are missing), then the npm packages pinned
# in tests/web/package-lock.json (@redocly/cli, ajv, playwright-core) installed with npm ci
# into tests/web/node_modules. As root it runs apt-get; otherwise it prints the apt line.
set -eu
cd "$(dirname "$0")/.."
missing=""
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
# deps.sh installs them (apt-get as root, or prints the apt line), with the build's packages
[ -z "$missing" ] || scripts/deps.sh $missing
# npm ci only when the lock file changed since the last install
stamp=tests/web/node_modules/.ct-installed
if [ ! -f "$stamp" ] || [ tests/web/package-lock.json -nt "$stamp" ]; then
    echo "web-deps: npm ci in tests/web" >&2
    (cd tests/web && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$stamp"
fi
