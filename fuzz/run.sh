#!/usr/bin/env bash
# Runs one libFuzzer harness briefly on its seed corpus: the ctest test of
# each harness (cmake/LoadsFuzz.cmake). Fails on a crash, a leak, a timeout or
# a sanitizer report; the input that did it is copied to the current
# directory (crash-HASH, ...) and printed. New inputs go to a temporary
# directory, never into fuzz/corpus/.
#   run.sh HARNESS CORPUS_DIR [RUNS] [MAX_SECONDS]
set -euo pipefail
bin=$1 corpus=$2 runs=${3:-20000} secs=${4:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/new"
if ! "$bin" -runs="$runs" -max_total_time="$secs" -seed=1 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/" "$work/new" "$corpus" >"$work/log" 2>&1; then
    tail -n 80 "$work/log"
    for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
        [[ -e $f ]] || continue
        cp "$f" .
        echo "run.sh: $(basename "$bin") failed on $PWD/$(basename "$f"):"
        od -c "$f" | head -n 20
    done
    exit 1
fi
done_line=$(grep -a -E '^Done [0-9]+ runs' "$work/log" || true)
[[ -n $done_line ]] || { tail -n 40 "$work/log"; echo "run.sh: no 'Done N runs' line"; exit 1; }
n=$(awk '{print $2}' <<<"$done_line")
(( n >= 1000 )) || { tail -n 40 "$work/log"; echo "run.sh: only $n inputs ran"; exit 1; }
echo "$(basename "$bin"): $done_line, no crash"
