#!/usr/bin/env python3
"""Sums `perf report --comm containerd-shim --sort dso,sym -g none -n` output
(stdin) into coarse categories (Go GC, allocation, runtime start, scheduler
and locks, AWS SDK, crypto, kernel), in samples and in ms per task.

    perf report -i perf-BRISK.data --no-children --comm containerd-shim \
        --sort dso,sym --stdio -g none -n | python3 hack/perf-shim-categories.py 4999 10
"""
import collections
import re
import sys

freq, tasks = float(sys.argv[1]), float(sys.argv[2])
c = collections.Counter()
total = 0
for line in sys.stdin:
    if line.startswith("#"):
        continue
    f = line.split()
    if len(f) < 5 or not f[1].isdigit():
        continue
    n, dso, sym = int(f[1]), f[2], " ".join(f[4:])
    total += n
    if dso == "[kernel.kallsyms]":
        k = "kernel: page faults, exec, mm" if re.search(r"fault|clear_page|mmap|exec|page|memcg|lru|folio|zap|unmap|rmap|filemap|vma", sym) else "kernel: other"
    elif "containerd-shim" in dso:
        if re.search(r"runtime\.(gc|scan|grey|mark|sweep|wb|bulkBarrier)|spanSet|tryDeferToSpanScan|scanObject|greyobject|findObject|scanblock|scanSpan|getempty|gcDrain|spanInlineMarkBits", sym):
            k = "go: GC"
        elif re.search(r"runtime\.(malloc|newobject|memclr|mspan|mheap|mcache|stackpool|pageAlloc|sysAlloc|makeslice|growslice)|writeHeapBits", sym):
            k = "go: allocation, memclr"
        elif re.search(r"itabTableType|moduledataverify|doInit|schedinit|typelinks|itabsinit|internal/abi\.Name", sym):
            k = "go: runtime start (itabs, moduledata)"
        elif "github.com/aws" in sym or "smithy" in sym:
            k = "go: aws sdk"
        elif "crypto" in sym:
            k = "go: crypto"
        elif re.search(r"syscall|Syscall", sym):
            k = "go: system call entry"
        elif "runtime." in sym:
            k = "go: runtime other (scheduler, locks, futex, unwinder)"
        else:
            k = "go: other"
    else:
        k = "other (" + dso + ")"
    c[k] += n
print("| category | samples | ms per task |")
print("|---|---:|---:|")
for k, v in c.most_common():
    print(f"| {k} | {v} | {v / freq * 1000 / tasks:.1f} |")
print(f"| all | {total} | {total / freq * 1000 / tasks:.1f} |")
