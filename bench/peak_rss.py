"""This process's peak resident memory, for the benchmarks' child processes.

``getrusage(RUSAGE_SELF).ru_maxrss`` is wrong for them: Linux carries a parent's high-water mark
into a child across fork/vfork and exec, so a child started by a parent that had grown (the
benchmark's seeding of 50,000 objects, say) reports the parent's peak, not its own (measured: a
14 MB child of a 500 MB parent reported 513 MB). ``VmHWM`` in /proc/self/status belongs to the
child's own address space, made new at exec.
"""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """Peak RSS of this process's own address space, in MB (``ru_maxrss`` where /proc is missing)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
