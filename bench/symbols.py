#!/usr/bin/env python3
"""Where a binary's bytes go, by crate: sums `llvm-nm --print-size` symbol sizes (functions and
named data) of an unstripped build, grouped by the crate a demangled symbol belongs to
(`<T as Trait>::f` and `drop_in_place<T>` count for T's crate). Anonymous read-only data (string
literals, tables) has no symbol: the section table shows it.

    SYMBOLS=1 bench/size.sh && python3 bench/symbols.py target/lambda/gate-start/bootstrap.symbols
    python3 bench/symbols.py target/lambda/gate-start/bootstrap.symbols --eh-frame   # unwind tables
"""

import bisect
import re
import subprocess
import sys
from collections import Counter

CRATE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)::")


LEGACY = [("$LT$", "<"), ("$GT$", ">"), ("$RF$", "&"), ("$BP$", "*"), ("$u20$", " "), ("$C$", ","), ("$u7b$", "{"), ("$u7d$", "}"), ("..", "::")]


def crate_of(name: str) -> str:
    n = name
    if n.startswith("_$"):  # a legacy-mangled name llvm-nm left as is
        n = n[1:]
        for a, b in LEGACY:
            n = n.replace(a, b)
    for prefix in ("core::ptr::drop_in_place<", "<"):
        while n.startswith(prefix):
            n = n[len(prefix):]
    n = n.lstrip("&*").removeprefix("mut ").removeprefix("dyn ").lstrip("(")
    m = CRATE.match(n)
    if m:
        return m.group(1)
    if n.startswith("OUTLINED_FUNCTION_"):
        # LLVM's machine outliner (on for AArch64 at opt-level "z"): code sequences repeated
        # across functions of every crate, moved into one function each
        return "(outlined by LLVM)"
    if "::" not in n:
        # libc is linked dynamically: the C code in the binary is aws-lc-sys (crypto for rustls)
        return "C (aws-lc-sys)"
    return "(other)"


def eh_frame(path: str, top: int) -> None:
    """The unwind tables by crate: each FDE of `.eh_frame` (its length) counts for the function
    its start address falls in, plus the 8 bytes of its `.eh_frame_hdr` entry."""
    dump = subprocess.run(["llvm-dwarfdump", "--eh-frame", path], capture_output=True, text=True, check=True).stdout
    fde = re.compile(r"[0-9a-f]+ ([0-9a-f]+) [0-9a-f]+ FDE cie=\S+ pc=([0-9a-f]+)\.\.\.")
    fdes = [(int(m.group(2), 16), int(m.group(1), 16) + 4 + 8) for m in map(fde.match, dump.splitlines()) if m]
    nm = subprocess.run(["llvm-nm", "-C", "--defined-only", "-n", path], capture_output=True, text=True, check=True).stdout
    funcs = [(int(a, 16), name) for a, kind, name in (l.split(" ", 2) for l in nm.splitlines() if l.count(" ") >= 2) if kind in "tTwW"]
    starts = [a for a, _ in funcs]
    sizes, counts = Counter(), Counter()
    for pc, size in fdes:
        i = bisect.bisect_right(starts, pc) - 1
        crate = crate_of(funcs[i][1]) if i >= 0 else "(before the first symbol)"
        sizes[crate] += size
        counts[crate] += 1
    total = sum(sizes.values())
    print(f"{path}: {len(fdes)} FDEs, {total / 1048576:.2f} MiB with their .eh_frame_hdr entries")
    print(f"  {'crate':<32} {'KiB':>8} {'FDEs':>7}")
    for crate, size in sizes.most_common(top):
        print(f"  {crate:<32} {size / 1024:8.0f} {counts[crate]:7d}")


def main() -> None:
    path = sys.argv[1]
    args = [a for a in sys.argv[2:] if a != "--eh-frame"]
    top = int(args[0]) if args else 25
    if "--eh-frame" in sys.argv[2:]:
        eh_frame(path, top)
        return
    out = subprocess.run(["llvm-nm", "-C", "--print-size", "--size-sort", path], capture_output=True, text=True, check=True).stdout
    sizes = Counter()
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4:
            continue
        _, size, kind, name = parts
        if kind.lower() not in ("t", "w", "d", "r", "b", "v"):
            continue
        sizes[crate_of(name)] += int(size, 16)
    total = sum(sizes.values())
    sections = subprocess.run(["llvm-size", "-A", path], capture_output=True, text=True, check=True).stdout
    keep = [l for l in sections.splitlines() if l.startswith((".text", ".rodata", ".data.rel.ro", ".eh_frame", ".gcc_except", ".data ", ".bss"))]
    print(f"{path}: symbols {total / 1048576:.2f} MiB")
    for l in keep:
        name, size = l.split()[:2]
        print(f"  section {name:<22} {int(size) / 1048576:6.2f} MiB")
    print(f"  {'crate':<32} {'KiB':>8} {'share':>6}")
    for crate, size in sizes.most_common(top):
        print(f"  {crate:<32} {size / 1024:8.0f} {100 * size / total:5.1f}%")


if __name__ == "__main__":
    main()
