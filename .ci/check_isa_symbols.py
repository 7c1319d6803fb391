#!/usr/bin/env python3
"""Fails when an ISA-compiled object file (…-avx2.cc.o, -avx512*.cc.o, -amx.cc.o) defines a weak
(inline / template) symbol that a baseline object also defines: the linker keeps one copy, and if it
keeps the ISA one the scalar path executes AVX instructions (SIGILL on older CPUs).

    python .ci/check_isa_symbols.py build/
"""
import pathlib
import re
import subprocess
import sys

ISA = re.compile(r"-(avx2|avx512\w*|amx)\.cc\.o$")


def weak_symbols(obj: pathlib.Path) -> set:
    out = subprocess.run(["nm", "--defined-only", str(obj)], capture_output=True, text=True, check=True).stdout
    # W: weak code (inline functions, template instances); DW.ref.* is a data pointer to the C++
    # personality routine, not code.
    return {f[2] for f in (line.split() for line in out.splitlines())
            if len(f) == 3 and f[1] == "W" and not f[2].startswith("DW.ref.")}


def main(root: str) -> int:
    objs = [p for p in pathlib.Path(root).rglob("*.cc.o") if "nnslim_kernels.dir" in str(p) or "_C.dir" in str(p)]
    if not objs:
        print(f"check_isa_symbols: no object files under {root!r}", file=sys.stderr)
        return 2
    baseline = set()
    for p in objs:
        if not ISA.search(p.name):
            baseline |= weak_symbols(p)
    bad = []
    for p in objs:
        if ISA.search(p.name):
            for sym in sorted(weak_symbols(p) & baseline):
                bad.append(f"{p.name}: {sym}")
    if bad:
        print("ISA objects share weak symbols with baseline code (move the container / inline code out of "
              "the ISA file):\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    print(f"check_isa_symbols: {len(objs)} objects, no weak symbol shared between ISA and baseline code")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build"))
