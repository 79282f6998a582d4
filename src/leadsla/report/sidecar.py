"""A second process for the analytics keys of a large report (``waterfall``,
``speed_to_lead``, ``burn_up``), computed while this process computes the scorecard.

On a big file the two halves of ``leadsla report`` read the same lead-grouped table
and share nothing else, and each is seconds of NumPy and Polars work that mostly
keeps one core busy. Two threads contend for the GIL and gain little (measured:
4.9 s for what takes 5.8 s in a row, at 3 CPU-s more), and a forked child cannot use
Polars (its thread pool does not survive ``fork``). So the report starts a fresh
interpreter at once, whose imports overlap the reading; when the table is read, its
columns go into a memory-backed file that both processes map (the pages exist once),
and the helper answers with the analytics as a pickled dict.

The figures never depend on the helper: if it cannot start, dies or fails, the caller
computes the analytics itself (``analytics`` returns ``None``).

Messages on the pipes are pickles with an 8-byte length in front: the helper reads
the first one before its slow imports, so the parent never waits on a full pipe.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from leadsla.report.heap import long_lived_imports, reuse_freed_memory

if TYPE_CHECKING:
    from leadsla.core.events import EventTable
    from leadsla.report.settings import ReportSettings

_LENGTH = struct.Struct("<Q")
# Columns the analytics read, in the shared file in this order.
SHARED_COLUMNS = ("lead", "at", "field", "value")
# Each column starts on a cache line.
_ALIGN = 64
# Where the shared file lives: memory, if the system has it mounted.
_MEMORY_DIR = Path("/dev/shm")
# What the helper runs (``python -m``): this module.
HELPER_MODULE = __name__


@dataclass(frozen=True)
class Layout:
    """Where each shared column is in the file, and the names its codes index."""

    size: int
    columns: tuple[tuple[str, str, int, int], ...]  # name, dtype, offset, length
    fields: list[str]
    values: list[str]


def send(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)))
    stream.write(data)
    stream.flush()


def receive_bytes(stream: IO[bytes]) -> bytes:
    head = stream.read(_LENGTH.size)
    if len(head) != _LENGTH.size:
        raise EOFError("the other process closed the pipe")
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the other process closed the pipe")
    return data


def layout_of(table: EventTable) -> Layout:
    columns = []
    offset = 0
    for name in SHARED_COLUMNS:
        column = getattr(table, name)
        columns.append((name, column.dtype.str, offset, len(column)))
        offset += -(-column.nbytes // _ALIGN) * _ALIGN
    return Layout(max(offset, 1), tuple(columns), list(table.fields), list(table.values))


def mapped_columns(shared: mmap.mmap, layout: Layout) -> dict[str, np.ndarray[Any, Any]]:
    return {
        name: np.frombuffer(shared, dtype=np.dtype(dtype), count=length, offset=offset)
        for name, dtype, offset, length in layout.columns
    }


class AnalyticsHelper:
    """The parent's handle on the helper process."""

    def __init__(self, process: subprocess.Popen[bytes], shared: IO[bytes]) -> None:
        self._process = process
        self._shared = shared
        self._sent = False

    @classmethod
    def start(cls, settings: ReportSettings, as_of: int) -> AnalyticsHelper | None:
        """The helper, started on ``settings`` and ``as_of``; ``None`` if it cannot start."""
        shared: IO[bytes] | None = None
        try:
            where = _MEMORY_DIR if _MEMORY_DIR.is_dir() else None
            # Unlinked from the start (O_TMPFILE where the system has it): nothing is left
            # behind whatever happens to either process.
            shared = tempfile.TemporaryFile(dir=where)  # noqa: SIM115 (the helper's lifetime)
            process = subprocess.Popen(
                # -P: not the current directory first on the path, as -m would put it; a
                # leadsla/ or numpy.py where the user stands must not run here.
                [sys.executable, "-P", "-m", HELPER_MODULE, str(shared.fileno())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # Whatever goes wrong there, the report computes the keys itself: the
                # user sees the report's own messages, not the helper's.
                stderr=subprocess.DEVNULL,
                pass_fds=(shared.fileno(),),
            )
        except (OSError, ValueError):
            if shared is not None:
                shared.close()
            return None
        helper = cls(process, shared)
        try:
            assert process.stdin is not None
            # The config, from which the helper builds the same settings: a config is
            # known to pickle, and in a few kilobytes.
            send(process.stdin, (settings.config, as_of))
        except Exception:  # whatever it was, the caller computes the keys itself
            helper.close()  # the process too: none is left running or unwaited
            return None
        return helper

    def share(self, table: EventTable) -> EventTable:
        """Hand the table to the helper; the same table, its columns now on the shared
        pages (so they are not held twice). Unchanged if the helper cannot have it."""
        layout = layout_of(table)
        try:
            # Reserved up front: on a full /dev/shm, writing a page of a file merely
            # truncated to size would kill the process (SIGBUS) instead of failing here.
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(self._shared.fileno(), 0, layout.size)
            else:  # macOS: a sparse file in the temporary directory (on disk there)
                os.ftruncate(self._shared.fileno(), layout.size)
            shared = mmap.mmap(self._shared.fileno(), layout.size)
        except OSError:  # no room in memory: the caller computes the analytics itself
            self.close()
            return table
        columns = mapped_columns(shared, layout)
        for name, column in columns.items():
            column[:] = getattr(table, name)
        try:
            assert self._process.stdin is not None
            send(self._process.stdin, layout)
            self._sent = True
        except (OSError, ValueError):
            self.close()
        return replace(
            table,
            lead=columns["lead"],
            at=columns["at"],
            field=columns["field"],
            value=columns["value"],
        )

    def analytics(self) -> dict[str, Any] | None:
        """The helper's figures; ``None`` if it failed (the caller then computes them)."""
        if not self._sent or self._process.stdout is None:
            return None
        try:
            outcome, payload = pickle.loads(receive_bytes(self._process.stdout))
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError):
            return None
        finally:
            self.close()
        return payload if outcome == "ok" and isinstance(payload, dict) else None

    def close(self) -> None:
        self._sent = False
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._shared.close()


def serve(descriptor: int, requests: IO[bytes], answers: IO[bytes]) -> None:
    """The helper's side: the config, then the table's layout; answers the analytics.

    Quiet whatever happens: a failure is the parent's cue to compute the figures."""
    try:
        setup = receive_bytes(requests)  # before the slow imports: the parent goes on
        # Imported here: the parent imports this module too, before it needs them.
        with long_lived_imports():
            from leadsla.config import build_rulebook
            from leadsla.core.events import EventTable
            from leadsla.report.analytics import analytics
            from leadsla.report.settings import ReportSettings

        reuse_freed_memory()  # a one-shot job too, like the report that started it
        config, as_of = pickle.loads(setup)
        settings = ReportSettings.of(build_rulebook(config), config)
        layout: Layout = pickle.loads(receive_bytes(requests))
        shared = mmap.mmap(descriptor, layout.size, access=mmap.ACCESS_READ)
        columns = mapped_columns(shared, layout)
        table = EventTable(
            **columns,
            # The analytics never read lines: zero pages that are never touched.
            line=np.zeros(len(columns["lead"]), dtype=np.int64),
            lead_ids=[],
            fields=layout.fields,
            values=layout.values,
            ordered=True,
        )
        answer: tuple[str, object] = ("ok", analytics(table, settings, as_of))
    except EOFError:  # the parent went on without the helper
        return
    except Exception as exc:
        answer = ("error", f"{type(exc).__name__}: {exc}")
    with contextlib.suppress(OSError):
        send(answers, answer)


if __name__ == "__main__":
    # The importable copy of this module, not __main__: the parent's pickles name it.
    from leadsla.report import sidecar

    # The answers get a descriptor of their own, and anything printed goes where the
    # helper's stderr goes: a stray line on stdout cannot garble a message.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sidecar.serve(int(sys.argv[1]), sys.stdin.buffer, answers)
