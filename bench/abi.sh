#!/usr/bin/env bash
# abi.sh - times the working tree's compute library against a git revision's (default HEAD),
# both loaded into one process by build/ctabi (see bench/abi.c): per layer the median ratio
# of best times, A = working tree, B = the revision; below 1 means the working tree is faster.
# The two alternate on the same buffers, so neither keeps its data in the cores that wrote
# it the run before: for a change in which thread does what, time separate binaries too
# (bench/ab.sh): owned images (compute/run/schedule.c) took 13-27% off four layers there, and nothing here.
#   bench/abi.sh [REV] [--only NAME[,NAME]] [--rounds N] [--threads N]
# Env: SUITE (default ../shared/bench/suite.tsv).
set -eu
rev=HEAD
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    rev=$1
    shift
fi
suite=${SUITE:-../shared/bench/suite.tsv}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/rev" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
# A shared object from a tree's libctcompute.a, compiled position-independent (any revision's
# Makefile has BUILD and SANITIZE); -Bsymbolic keeps each build's calls within itself.
shared_lib() { # TREE BUILD_DIR
    make -s -j2 -C "$1" BUILD="$2" SANITIZE=-fPIC "$2/libctcompute.a" >/dev/null
    cc -shared -Wl,-Bsymbolic -fopenmp -Wl,--whole-archive "$2/libctcompute.a" -Wl,--no-whole-archive -lm \
        -o "$2/libctcompute.so"
}
git worktree add --detach "$tmp/rev" "$rev" >/dev/null 2>&1
shared_lib "$tmp/rev" "$tmp/rev-build"
shared_lib . "$tmp/tree-build"
make -s build/ctabi >/dev/null
build/ctabi "$tmp/tree-build/libctcompute.so" "$tmp/rev-build/libctcompute.so" "$suite" "$@"
