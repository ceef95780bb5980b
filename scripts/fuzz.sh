#!/usr/bin/env bash
# fuzz.sh BUILD SECONDS NAME... - runs each libFuzzer harness BUILD/fuzz_NAME for SECONDS
# from its seed corpus (tests/fuzz/corpus/NAME, copied so the repo stays clean), prints the
# executions and findings per harness, and ends with "N passed, M failed". A crash, leak or
# sanitizer report fails the harness; its input is kept in BUILD/fuzz-NAME/ for a regression test.
set -uo pipefail
build=$1 secs=$2
shift 2
passed=0 failed=0
for name in "$@"; do
    work=$build/fuzz-$name
    rm -rf "$work"
    mkdir -p "$work/corpus"
    cp tests/fuzz/corpus/"$name"/* "$work/corpus/" 2>/dev/null
    cp tests/fuzz/regressions/"$name"-* "$work/corpus/" 2>/dev/null  # every past finding, every run
    log=$work/log.txt
    "$build/fuzz_$name" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$work/" "$work/corpus" > "$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    corpus=$(ls "$work/corpus" | wc -l)
    if [ "$rc" = 0 ]; then
        echo "ok   fuzz_$name: ${runs:-?} executions in ${secs}s, corpus $corpus, no findings"
        passed=$((passed + 1))
    else
        echo "FAIL fuzz_$name: exit $rc after ${runs:-?} executions; artifacts in $work/"
        grep -m 5 -E "ERROR|runtime error|SUMMARY" "$log" | sed 's/^/     /'
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
