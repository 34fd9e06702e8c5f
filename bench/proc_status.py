"""A process's figures from ``/proc/PID/status`` (Linux), for the benchmarks that print memory and threads."""

from __future__ import annotations

from pathlib import Path


def status_field(name: str, pid: int | str = "self") -> int:
    """The number of the ``name:`` line of ``/proc/PID/status`` (kB for memory, a count for ``Threads``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise LookupError(f"/proc/{pid}/status has no {name} line")


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory now (MB)."""
    return status_field("VmRSS", pid) / 1024
