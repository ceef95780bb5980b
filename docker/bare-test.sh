#!/usr/bin/env bash
# bare-test.sh - `make bare-test`: a fresh clone of the committed tree, in a bare
# debian:bookworm-slim container with only make and git (docker/bare.Dockerfile), runs
# `make test`, which must install everything it needs and pass. Built and run with
# ../shared/tools/oci (buildah + podman, host network). Prints make test's output; exits
# non-zero when it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
OCI=${OCI:-../shared/tools/oci}
TAG=convtransposed-bare
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone --quiet --no-hardlinks . "$work/src"
rm -rf "$work/src/.git"
cp docker/bare.Dockerfile "$work/Dockerfile"
mkdir -p "$work/local-ca"
cp /usr/local/share/ca-certificates/*.crt "$work/local-ca/" 2>/dev/null || true
OCI="$OCI" docker/slim-base.sh >/dev/null 2>&1 || "$OCI" base
"$OCI" build "$work" "$work/Dockerfile" "$TAG" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
"$OCI" run "$TAG" 2>&1 | tee "$work/test.log"
# podman relays the container's stdout and stderr separately, so the installers' messages on
# stderr may land after the runner's summary: judge by the summary line, wherever it is.
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$work/test.log" | tail -n 1)
echo "bare-test: $summary"
echo "$summary" | grep -Eq '^[1-9][0-9]* passed, 0 failed(, [0-9]+ skipped)?$'
