#!/usr/bin/env bash
# The build cache's three `gate run`s of this repository, back to back, on a fresh clone:
# 1. first (empty .gate/cache/), 2. nothing changed, 3. a one-line change in src/ on a branch
# (a pull request's run: it restores main's cache and, threat T24, saves nothing).
# Usage: bash bench/cache_runs.sh GATE_BINARY [WORK_DIR]
# Prints one line per run: its wall time, and each check's time from the table.
set -euo pipefail
gate=$(realpath "$1")
work=${2:-$(mktemp -d /tmp/gate-cache-bench.XXXXXX)}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
git clone --quiet "$repo" "$work/clone"
cd "$work/clone"
run() {
    local label=$1 start end
    start=$(date +%s.%N)
    "$gate" run >"$work/$label.out" 2>"$work/$label.err" || true
    end=$(date +%s.%N)
    printf '%s: %.1f s (load %s)\n' "$label" "$(echo "$end - $start" | bc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
    grep -E '^  (lint|test) ' "$work/$label.out" | sed 's/^/    /'
    grep -E 'cache:|identical inputs' "$work/$label.err" | sed 's/^/    /' || true
}
run first
run unchanged
echo "// one-line change for the cache benchmark" >>src/lib.rs
git checkout --quiet -b one-line
git -c user.name=bench -c user.email=bench@invalid commit --quiet -am "bench: one-line change in src/"
run one-line
du -sh .gate/cache 2>/dev/null || true
