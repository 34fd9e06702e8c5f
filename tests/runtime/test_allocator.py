"""The allocator the start-up log names: read from the process's own memory map."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from voicebot.runtime.allocator import allocator_in_use

JEMALLOC = Path("/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")


def test_a_mapped_jemalloc_is_named(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text("7f00-7f10 r-xp 00000000 08:01 12 /usr/lib/x86_64-linux-gnu/libjemalloc.so.2\n"
                    "7f20-7f30 r-xp 00000000 08:01 13 /usr/lib/x86_64-linux-gnu/libc.so.6\n")
    assert allocator_in_use(maps) == "jemalloc"


def test_without_a_preloaded_allocator_it_is_the_system_one(tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_text("7f20-7f30 r-xp 00000000 08:01 13 /usr/lib/x86_64-linux-gnu/libc.so.6\n")
    assert allocator_in_use(maps) == "system"
    assert allocator_in_use(tmp_path / "absent") == "unknown"


@pytest.mark.integration
def test_a_real_preload_is_seen() -> None:
    if not JEMALLOC.exists():
        pytest.skip("libjemalloc2 is not installed (scripts/setup.sh installs it)")
    code = "from voicebot.runtime.allocator import allocator_in_use as a; print(a())"
    for preload, expected in ((str(JEMALLOC), "jemalloc"), ("", "system")):
        env = {**os.environ, "LD_PRELOAD": preload}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert done.stdout.strip() == expected
