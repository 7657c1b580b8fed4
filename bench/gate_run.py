#!/usr/bin/env python3
"""`gate run` overhead: wall time of a gate whose checks sleep for known times, against the
ideal (the slowest path through the stages), median of several runs.

    python3 bench/gate_run.py [--gate target/release/gate] [--runs 7]

Each shape is a fresh git repository (main with the gate file, a feature branch with one
change); `gate run --base main --head feature` is timed from process start to exit, with
CI=1 (plain progress lines) and output discarded. Overhead = wall − ideal.
"""

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SHAPES = [
    # (name, gate file, jobs, ideal seconds)
    (
        "[sleep 1 ∥ sleep 2] → [sleep 1]",
        "stages: [a, b]\nchecks:\n"
        "  one: {stage: a, commands: ['sleep 1']}\n"
        "  two: {stage: a, commands: ['sleep 2']}\n"
        "  three: {stage: b, commands: ['sleep 1']}\n",
        2,
        3.0,
    ),
    (
        "16 × `true` in one stage, 4 at a time",
        "stages: [a]\nchecks:\n" + "".join(f"  c{i}: {{stage: a, commands: ['true']}}\n" for i in range(16)),
        4,
        0.0,
    ),
]


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@invalid", "-c", "commit.gpgsign=false", *args],
        cwd=repo, check=True, capture_output=True,
    )


def make_repo(gate: str) -> Path:
    repo = Path(tempfile.mkdtemp(prefix="gate-run-bench-"))
    git(repo, "init", "-q", "-b", "main")
    (repo / ".gate.yml").write_text(gate)
    (repo / "x.txt").write_text("x\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Gate")
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "x.txt").write_text("y\n")
    git(repo, "commit", "-q", "-am", "Change")
    return repo


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--gate", default=str(ROOT / "target/release/gate"))
    p.add_argument("--runs", type=int, default=7)
    args = p.parse_args()
    env = dict(os.environ, CI="1")
    print(f"`gate run` overhead, median of {args.runs} runs ({args.gate})")
    for name, gate, jobs, ideal in SHAPES:
        repo = make_repo(gate)
        walls = []
        for i in range(args.runs + 1):
            t0 = time.perf_counter()
            proc = subprocess.run(
                [args.gate, "run", "--repo", str(repo), "--base", "main", "--head", "feature", "--jobs", str(jobs)],
                env=env, capture_output=True,
            )
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                raise SystemExit(f"gate run exited {proc.returncode}:\n{proc.stdout.decode()}{proc.stderr.decode()}")
            if i > 0:  # the first run warms the page cache
                walls.append(wall)
        med = statistics.median(walls)
        print(f"  {name:<40} ideal {ideal:5.2f} s  wall {med:6.3f} s  overhead {1000 * (med - ideal):5.0f} ms"
              f"  (min {1000 * (min(walls) - ideal):.0f}, max {1000 * (max(walls) - ideal):.0f})")


if __name__ == "__main__":
    main()
