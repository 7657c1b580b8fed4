#!/usr/bin/env bash
# The first run of a newcomer, side by side: for each (commit, command) pair, a fresh clone at
# that commit and README's main command of that commit, timed from the first compile to the
# verdict. Nothing is shared between the runs but the machine and ~/.cargo (the crates are
# already downloaded: the figures leave the download out).
# Usage: bash bench/newcomer.sh COMMIT 'COMMAND' [COMMIT 'COMMAND' ...]
# e.g.   bash bench/newcomer.sh 2ac1091 'cargo run --profile cli --bin gate -- run' HEAD 'cargo gate run'
# Prints per run: the wall time of the whole command, of the CLI build, of each check (the
# verdict table), and the load average before and after.
set -euo pipefail
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d /tmp/gate-newcomer.XXXXXX)
unset CARGO_TARGET_DIR
while [ $# -ge 2 ]; do
    rev=$(git -C "$repo" rev-parse --short "$1") command=$2
    shift 2
    dir="$work/$rev"
    git clone --quiet "$repo" "$dir"
    git -C "$dir" checkout --quiet -B main "$rev"
    echo "== $rev: $command (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
    start=$(date +%s.%N)
    (cd "$dir" && bash -c "$command" </dev/null >"$work/$rev.out" 2>"$work/$rev.err") || echo "   exit $?"
    end=$(date +%s.%N)
    printf '   whole command: %.1f s (load after: %s)\n' "$(echo "$end - $start" | bc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
    grep -E '^\s*Finished .*(cli|dev)' "$work/$rev.err" | head -1 | sed 's/^ */   CLI build: /' || true
    grep -E '^  (lint|test) ' "$work/$rev.out" | sed 's/^/   /' || true
    tail -n 3 "$work/$rev.out" | sed 's/^/   | /'
    cp -r "$dir/.gate/logs" "$work/$rev.logs" 2>/dev/null || true   # each check's log, kept
    rm -rf "$dir"
done
echo "logs: $work"
