"""Starting and stopping the long-running commands: `leadsla demo` stops cleanly on SIGTERM
as on Ctrl-C, and `leadsla serve` names what holds its port before printing a URL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from leadsla.cli.lifecycle import port_holder

ROOT = Path(__file__).resolve().parents[2]
LEADSLA = str(Path(sys.executable).with_name("leadsla"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def held_port() -> Iterator[int]:
    """A port this process listens on, for as long as the block lasts."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def listenable(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_demo_stops_server_worker_and_mail_catcher_on_a_signal(
    tmp_path: Path, stop: signal.Signals
) -> None:
    port = free_port()
    demo = subprocess.Popen(
        [LEADSLA, "demo", "--dir", str(tmp_path / "demo"), "--size", "60", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/login", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert demo.poll() is None, demo.communicate()[1]
            assert time.monotonic() < deadline, "the demo did not come up"
            time.sleep(0.3)
        demo.send_signal(stop)
        _out, errors = demo.communicate(timeout=15)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, errors
    assert "Traceback" not in errors
    assert listenable(port)


def test_serve_names_what_holds_its_port_before_any_url(tmp_path: Path) -> None:
    env = {**os.environ, "LEADSLA_DATABASE_URL": f"sqlite:///{tmp_path / 'leadsla.db'}"}
    name = Path(f"/proc/{os.getpid()}/comm").read_text(encoding="utf-8").strip()
    with held_port() as port:
        done = subprocess.run(
            [LEADSLA, "serve", "--config", str(ROOT / "examples" / "leadsla.yaml"),
             "--port", str(port)],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == (
        f"leadsla: error: --port: 127.0.0.1:{port} is held by pid {os.getpid()} ({name}); "
        "stop it or choose another with --port\n"
    )
    assert not (tmp_path / "leadsla.db").exists()  # checked before anything else


def test_port_holder_is_none_for_a_free_port_and_in_use_when_proc_does_not_tell(
    tmp_path: Path,
) -> None:
    assert port_holder("127.0.0.1", free_port()) is None
    with held_port() as port:
        assert port_holder("127.0.0.1", port) == f"pid {os.getpid()} " + (
            f"({Path(f'/proc/{os.getpid()}/comm').read_text(encoding='utf-8').strip()})"
        )
        # No /proc to read (another system, or another user's process): just "in use".
        assert port_holder("127.0.0.1", port, proc=tmp_path) == "in use"
