"""``leadsla demo --background`` and ``--stop``: the demo's server and worker, detached.

The README's setup line starts the demo and the next line runs the tests; pasted as
one block, a demo in the foreground would hold the terminal and the tests never run.
In the background the server, worker and mail catcher run in a process of their own
(a new session: closing the terminal does not end it), with its output in
``DIR/demo.log`` and its process id in ``DIR/demo.pid``, which ``--stop`` reads.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from leadsla.cli.common import err, fail

PID_FILE = "demo.pid"
LOG_FILE = "demo.log"
# The server answers within a few seconds of starting; a cold machine may take longer.
START_SECONDS = 120.0
STOP_SECONDS = 20.0


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on now (for the demo's mail catcher)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def running_pid(directory: Path) -> int | None:
    """The demo server started from ``directory`` if it still runs; a stale pid file
    (the process ended, or the id now belongs to another program) is removed."""
    pid_path = directory / PID_FILE
    try:
        pid = int(pid_path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    if _is_our_demo(pid):
        return pid
    pid_path.unlink(missing_ok=True)
    return None


def start_detached(directory: Path, port: int, arguments: Sequence[str]) -> int:
    """Start ``leadsla demo ARGUMENTS`` detached, wait until its dashboard answers on
    ``port``, and return its process id; fail with the log's last lines if it does not."""
    log_path = directory / LOG_FILE
    with log_path.open("wb") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "leadsla.cli", "demo", *arguments],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not ended by the terminal's hangup or Ctrl-C
            close_fds=True,
        )
    (directory / PID_FILE).write_text(f"{child.pid}\n", encoding="utf-8")
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            (directory / PID_FILE).unlink(missing_ok=True)
            fail(f"the demo server ended at start (status {child.returncode}):\n{_tail(log_path)}")
        if _answers(port):
            return child.pid
        time.sleep(0.25)
    child.terminate()
    (directory / PID_FILE).unlink(missing_ok=True)
    fail(f"the demo server did not answer within {START_SECONDS:.0f} s:\n{_tail(log_path)}")


def stop(directory: Path) -> None:
    """End the demo that ``--background`` started from ``directory``: SIGTERM, which the
    server takes as a clean shutdown; SIGKILL if it is still there after a while."""
    pid_path = directory / PID_FILE
    if not pid_path.exists():
        fail(f"--stop: no demo was started in the background from {directory}/ (no {pid_path})")
    pid = running_pid(directory)
    if pid is None:
        err.print(
            f"leadsla: the demo of {directory}/ was not running", markup=False, soft_wrap=True
        )
        return
    os.kill(pid, signal.SIGTERM)
    if not _ended(pid, STOP_SECONDS):
        os.kill(pid, signal.SIGKILL)
        _ended(pid, 5.0)
        err.print(
            f"leadsla: the demo (pid {pid}) ignored SIGTERM and was killed",
            markup=False,
            soft_wrap=True,
        )
    pid_path.unlink(missing_ok=True)
    err.print(
        f"leadsla: stopped the demo of {directory}/ (pid {pid})", markup=False, soft_wrap=True
    )


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def _is_our_demo(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process: never ours to signal
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():
        return True  # no /proc to check against: trust the pid file
    try:
        words = cmdline.read_bytes().split(b"\0")
    except OSError:
        return False
    # A process id is reused once its process ends: signal only a leadsla demo.
    return b"leadsla.cli" in words and b"demo" in words


def _ended(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _is_our_demo(pid):
            return True
        time.sleep(0.1)
    return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
