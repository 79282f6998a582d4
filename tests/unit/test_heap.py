"""reuse_freed_memory only tunes malloc: allocations still work after it."""

from __future__ import annotations

import sys

import numpy as np

from leadsla.report.heap import reuse_freed_memory


def test_reuse_freed_memory_keeps_numpy_working() -> None:
    agreed = reuse_freed_memory()
    assert agreed is (agreed and sys.platform.startswith("linux"))
    for _ in range(3):
        block = np.arange(10_000_000, dtype=np.int64)  # above glibc's mmap threshold
        assert int(block[-1]) == 9_999_999
        del block
