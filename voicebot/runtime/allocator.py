"""Which memory allocator the process runs with, for the start-up log.

A long-running ``voicebot serve`` with glibc's malloc keeps memory it no longer needs: audio arrays, decoder
buffers, database rows and the like are allocated and freed by many threads, and glibc keeps each thread arena's
high-water mark, so RSS climbs in steps of a heap (~55 MB) long after the first calls. jemalloc gives freed
pages back after a few seconds: the same soak stays flat (docs/benchmarks.md, "Soak"). The deployment files
preload it (``LD_PRELOAD=libjemalloc.so.2``, Debian package libjemalloc2); this module only reports what the
process actually got, so an operator can see it in the log.
"""

from __future__ import annotations

from pathlib import Path

#: Shared-library name fragments of allocators that replace malloc when preloaded.
_KNOWN = (("libjemalloc", "jemalloc"), ("libtcmalloc", "tcmalloc"), ("libmimalloc", "mimalloc"))


def allocator_in_use(maps: Path = Path("/proc/self/maps")) -> str:
    """"jemalloc" (or another preloaded allocator) when it is mapped into the process, else "system"."""
    try:
        text = maps.read_text()
    except OSError:  # not Linux, or /proc not mounted: say what we know
        return "unknown"
    for fragment, name in _KNOWN:
        if fragment in text:
            return name
    return "system"
