"""Starting and stopping the long-running commands (``serve``, ``demo``): whether their port
is free and what holds it, and a stop on SIGTERM as clean as on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import FrameType
from typing import Any

PROC = Path("/proc")
_LISTEN_OR_BOUND = {"0A", "07"}  # /proc/net/tcp states: LISTEN, and CLOSE (bound, idle)


def port_holder(host: str, port: int, *, proc: Path = PROC) -> str | None:
    """None when ``host:port`` can be listened on; else who holds it: ``pid N (name)``
    when /proc tells (a process of this user), else ``in use``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        # As uvicorn binds: a port with connections in TIME_WAIT is free to listen on.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            pass
        else:
            return None
    inodes = _socket_inodes(port, proc)
    for pid in _pids(proc):
        try:
            fds = list((proc / pid / "fd").iterdir())
        except OSError:
            continue  # another user's process, or gone
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return f"pid {pid} ({_name(proc / pid)})"
    return "in use"


def _socket_inodes(port: int, proc: Path) -> set[str]:
    found: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10:
                continue
            local_port = int(parts[1].rsplit(":", 1)[1], 16)
            if local_port == port and parts[3] in _LISTEN_OR_BOUND and parts[9] != "0":
                found.add(parts[9])
    return found


def _pids(proc: Path) -> list[str]:
    try:
        return sorted((p.name for p in proc.iterdir() if p.name.isdigit()), key=int)
    except OSError:
        return []


def _name(process: Path) -> str:
    try:
        return (process / "comm").read_text(encoding="utf-8").strip() or "?"
    except OSError:
        return "?"


class Stopped(Exception):
    """Raised out of a worker's pause once its command is stopping."""


def stoppable_sleep(stopping: threading.Event) -> Callable[[float], None]:
    """A ``sleep`` for :func:`leadsla.worker.run_worker` that ends the worker at its next
    pause once ``stopping`` is set: a round in progress is finished, never cut."""

    def sleep(seconds: float) -> None:
        if stopping.wait(seconds):
            raise Stopped

    return sleep


@contextmanager
def stop_on_signals(stopping: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stopping`` instead of ending the process, for the span.

    uvicorn catches both while it serves, shuts down, and then raises the signal again
    with the handlers it found: these, so the command goes on to stop its other threads
    and exits 0 on SIGTERM as on Ctrl-C (the default SIGTERM action would kill the process
    before any ``finally``)."""

    def note(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def until_stopped(work: Callable[..., object], *args: Any, **kwargs: Any) -> None:
    """``work(*args, **kwargs)`` as a thread's target: :class:`Stopped` ends it quietly."""
    with suppress(Stopped):
        work(*args, **kwargs)
