#!/usr/bin/env python3
"""Plans every commit of the fixture with the real CLI and checks the selection independently.

    bench/monorepo/run.sh [path/to/gate]        (default: target/release/gate)

For each of the 300 commits in bench/monorepo/history.json it pipes the changed paths into
`gate plan --paths-from - --gate-file bench/monorepo/.gate.yml --format json` and counts the
checks that run. Independently of the gate file and the planner, it computes which crates must
be tested: every crate with a changed path in its folder (documentation aside: *.md, docs/,
.gitignore, .DS_Store), plus every crate that depends on one, transitively (its own closure over
the fixture's dependency lists); everything when the workspace Cargo.toml, Cargo.lock or
.github/ changed. A crate that must be tested and whose check did not run is a miss.
"""

import json
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def is_global(p: str) -> bool:
    return p in ("Cargo.toml", "Cargo.lock") or p.startswith(".github/")


def is_doc(p: str) -> bool:
    name = p.rsplit("/", 1)[-1]
    return p.endswith(".md") or p.startswith("docs/") or "/docs/" in p or name in (".gitignore", ".DS_Store")


def must_test(crates: dict, changed: list[str]) -> set[str]:
    if any(is_global(p) for p in changed):
        return set(crates)
    touched = {
        name
        for p in changed
        if not is_doc(p)
        for name, c in crates.items()
        if p == c["folder"] or p.startswith(c["folder"] + "/")
    }
    dependents: dict[str, set[str]] = {name: set() for name in crates}
    for name, c in crates.items():
        for d in c["deps"]:
            if d in dependents:
                dependents[d].add(name)
    seen, todo = set(touched), list(touched)
    while todo:
        for up in dependents[todo.pop()]:
            if up not in seen:
                seen.add(up)
                todo.append(up)
    return seen


def main() -> int:
    gate = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "target/release/gate")
    data = json.loads((HERE / "history.json").read_text())
    crates, commits = data["crates"], data["commits"]
    gate_file = str(HERE / ".gate.yml")
    total_run = total_needed = missed = 0
    kinds = Counter()
    wall = []
    per_commit = []
    extra_by_reason = Counter()
    for c in commits:
        paths = "\n".join(c["changed"]) + "\n"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [gate, "plan", "--paths-from", "-", "--gate-file", gate_file, "--format", "json"],
            input=paths.encode(), capture_output=True,
        )
        wall.append((time.perf_counter() - t0) * 1000)
        if proc.returncode != 0:
            print(f"{c['commit'][:12]}: gate exited {proc.returncode}: {proc.stderr.decode()}", file=sys.stderr)
            return 2
        plan = json.loads(proc.stdout)
        run = {ch["name"].removeprefix("test-") for ch in plan["checks"] if ch["run"]}
        need = must_test(crates, c["changed"])
        total_run += len(run)
        per_commit.append(len(run))
        total_needed += len(need)
        miss = need - run
        if miss:
            missed += len(miss)
            print(f"MISSED {c['commit'][:12]} {sorted(miss)}: {c['changed']}", file=sys.stderr)
        if len(run) == len(crates):
            kind = "everything (global path)" if len(need) == len(crates) else "everything (unclaimed path)"
        elif not run:
            kind = "nothing (docs only)"
        else:
            kind = "some"
        kinds[kind] += 1
        if len(run) > len(need):
            unclaimed = sorted({p for p in c["changed"] if not is_global(p) and not is_doc(p)
                                and not any(p == x["folder"] or p.startswith(x["folder"] + "/") for x in crates.values())})
            extra_by_reason[", ".join(unclaimed) or "(none)"] += len(run) - len(need)
    everything = len(commits) * len(crates)
    print(f"commits: {len(commits)}, crates: {len(crates)} (one test check each)")
    print(f"checks run: {total_run} of {everything} ({100 * total_run / everything:.1f} % of run-everything)")
    print(f"checks that had to run (independent closure): {total_needed} ({100 * total_needed / everything:.1f} %)")
    print(f"missed: {missed}")
    q = statistics.quantiles(per_commit, n=4)
    print(f"checks per commit: median {statistics.median(per_commit):.0f}, quartiles {q[0]:.0f} / {q[2]:.0f}, of {len(crates)}")
    for k, n in sorted(kinds.items()):
        print(f"  commits planning {k}: {n}")
    print("extra checks over the closure, by the unclaimed paths that caused them:")
    for k, n in extra_by_reason.most_common():
        print(f"  {n:5}  {k}")
    print(f"gate plan wall time per commit (process start to exit): median {statistics.median(wall):.2f} ms")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
