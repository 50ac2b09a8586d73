#!/usr/bin/env bash
# Fuzzes each libFuzzer harness of fuzz/ (ASan + UBSan) for RUNS inputs
# (10,000,000 by default), split over WORKERS processes (one per core) that
# share a scratch corpus seeded from fuzz/corpus/<harness>, and prints a
# table: harness, inputs run, crashes, time. Crash inputs are kept in
# OUT/<harness>/ (crash-*, leak-*, timeout-*, oom-*); exit status 1 if any.
#
#   bash bench/fuzz.sh [--runs N] [--max-time SECONDS] [--workers N]
#                      [--only decode,http] [--build DIR] [--out DIR]
#
# --max-time bounds each harness (0: none): the table then says how many
# inputs it reached. The harnesses come from DIR/fuzz (the normal build makes
# them when clang and libFuzzer are installed), else are built in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=10000000 max_time=0 workers=$(nproc) only="decode,http,url,options" build=build out=""
while (($#)); do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --max-time) max_time=$2; shift 2 ;;
        --workers) workers=$2; shift 2 ;;
        --only) only=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
bindir=$build/fuzz
if [[ ! -x $bindir/fuzz_decode ]]; then
    bindir=build-fuzz
    cmake -S fuzz -B "$bindir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$bindir" -j "$(nproc)" >/dev/null
fi
out=${out:-$(mktemp -d /tmp/loads-fuzz.XXXXXX)}
per_worker=$(( (runs + workers - 1) / workers ))
IFS=, read -r -a harnesses <<<"$only"

rows=() total_crashes=0
for h in "${harnesses[@]}"; do
    dir=$out/$h
    mkdir -p "$dir/corpus"
    cp fuzz/corpus/"$h"/* "$dir/corpus/"
    start=$(date +%s.%N)
    pids=()
    for ((w = 0; w < workers; w++)); do
        "$bindir/fuzz_$h" -runs="$per_worker" -max_total_time="$max_time" -seed=$((w + 1)) \
            -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/" \
            "$dir/corpus" >"$dir/worker-$w.log" 2>&1 &
        pids+=($!)
    done
    failed=0
    for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
    secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.0f", e - s }')
    # Inputs each worker ran: its final stat, or the last status line when it died.
    inputs=0
    for ((w = 0; w < workers; w++)); do
        n=$(grep -a -E '^stat::number_of_executed_units:' "$dir/worker-$w.log" | awk '{print $2}' | tail -1)
        [[ -n $n ]] || n=$(grep -a -o -E '^#[0-9]+' "$dir/worker-$w.log" | tail -1 | tr -d '#')
        inputs=$((inputs + ${n:-0}))
    done
    crashes=$(find "$dir" -maxdepth 1 \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    ((crashes == 0 && failed > 0)) && crashes=$failed  # died without an artifact: still a failure
    total_crashes=$((total_crashes + crashes))
    rows+=("$(printf '%-14s %14s %8s %8ss' "fuzz_$h" "$(printf "%'d" "$inputs" 2>/dev/null || echo "$inputs")" "$crashes" "$secs")")
    echo "fuzz.sh: fuzz_$h done: $inputs inputs, $crashes crashes, ${secs}s (logs in $dir)" >&2
done
printf '%-14s %14s %8s %9s\n' harness inputs crashes time
printf '%s\n' "${rows[@]}"
echo "workers: $workers, runs asked: $runs per harness, max time: ${max_time}s per harness; output in $out"
((total_crashes == 0))
