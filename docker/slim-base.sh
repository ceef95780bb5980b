#!/usr/bin/env bash
# slim-base.sh - makes the locally bootstrapped debian:bookworm-slim what Docker Hub serves.
#
# ../shared/tools/oci bootstraps `debian:bookworm-slim` with debootstrap --variant=minbase
# (about 121 MB). Docker Hub's bookworm-slim is that same minbase "slimified" by debuerreotype:
# documentation (but copyright files), info and man pages, lintian overrides and translations
# removed, and dpkg configured not to install them again (/etc/dpkg/dpkg.cfg.d/docker); about
# 75 MB. This applies the same rules to the local image, once (a label marks it), so the image
# size make docker-test measures is the size a registry base gives. The Dockerfile is unchanged.
set -euo pipefail
OCI=${OCI:-../shared/tools/oci}
BASE=docker.io/library/debian:bookworm-slim
"$OCI" base
if [ "$(podman image inspect "$BASE" --format '{{index .Config.Labels "convtransposed.slimified"}}')" = yes ]; then
    exit 0
fi
ctr=$(buildah from --pull=false "$BASE")
trap 'buildah rm "$ctr" >/dev/null 2>&1' EXIT
buildah run --isolation chroot "$ctr" -- sh -ec '
cat > /etc/dpkg/dpkg.cfg.d/docker <<CFG
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
CFG
find /usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
find /usr/share/doc -mindepth 1 -type d -empty -delete
rm -rf /usr/share/info/* /usr/share/linda/* /usr/share/lintian/overrides/* /usr/share/locale/* /usr/share/man/*
'
buildah config --label convtransposed.slimified=yes "$ctr"
buildah commit --quiet --squash --format docker "$ctr" "$BASE" >/dev/null
echo "slim-base: $BASE is now $(( $(podman image inspect "$BASE" --format '{{.Size}}') / 1000000 )) MB" >&2
