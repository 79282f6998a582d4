"""Keeping freed memory for reuse during a bulk job (glibc only; elsewhere a no-op).

glibc's ``malloc`` gives every block above 32 MiB its own ``mmap`` and returns it to
the kernel on ``free``. A report on millions of events makes and drops hundreds of
such NumPy temporaries, and each new one is faulted in page by page again: about a
third of the report's time went to the kernel. :func:`reuse_freed_memory` tells
``malloc`` to serve large blocks from its heap and not to give freed memory back
while the process runs, so those pages are faulted in once. Resident memory then
stays near its peak until the process exits, which is what a one-shot command
wants and a server does not.

:func:`long_lived_imports` is for the same kind of process: what it imports it keeps
to the end, so the cyclic garbage collector need not walk those objects while they are
made, nor at every full collection after.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_NEVER_TRIM = 2**31 - 1  # the largest int; glibc caps the value there anyway


def reuse_freed_memory() -> bool:
    """Ask glibc not to ``mmap`` large blocks nor trim the heap; whether it agreed.

    Also stops NumPy from advising huge pages for its large arrays (``madvise``): on
    a heap that is kept, they only cost, each first touch zeroing 2 MiB (a report on
    millions of events spent 1.5–2 s more in the kernel with them)."""
    _no_numpy_huge_pages()
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))


def _no_numpy_huge_pages() -> None:
    # A private switch of NumPy's (what NUMPY_MADVISE_HUGEPAGE=0 sets at import).
    try:
        from numpy._core import multiarray
    except ImportError:
        return
    switch = getattr(multiarray, "_set_madvise_hugepage", None)
    if callable(switch):
        switch(False)


@contextmanager
def long_lived_imports() -> Iterator[None]:
    """Run the block (a one-shot process's imports) with the cyclic collector paused, then
    set what it made aside (``gc.freeze``). Importing the command line makes a few
    hundred thousand objects and no garbage: the collector walked them 38 ms during the
    import of a report's and 50 ms in its later full collections."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_on:
            gc.enable()
