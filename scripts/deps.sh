#!/bin/sh
# deps.sh - installs the Debian packages the build and the tests need, when they are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
# Extra packages can be asked for as arguments (e.g. the fuzz target's clang).
set -eu
# the build's (gcc ... zlib1g-dev), then the tests' (libcurl, and the programs they run: curl,
# openssl, python3 with numpy for the README's snippets)
packages="gcc make libc6-dev libmicrohttpd-dev libgnutls28-dev libjansson-dev zlib1g-dev libcurl4-openssl-dev curl openssl python3 python3-numpy ca-certificates $*"
missing=""
for p in $packages; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "deps: missing packages; run:" >&2
    echo "  sudo apt-get install -y$missing" >&2
    exit 1
fi
