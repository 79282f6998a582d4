"""`leadsla demo --background` returns with the dashboard up; `--stop` ends it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from mail_server import free_port

LEADSLA = str(Path(sys.executable).with_name("leadsla"))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes: it serves nothing.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def leadsla(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEADSLA, "demo", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_background_returns_serves_and_stops(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    port = free_port()
    started = leadsla("--background", "--dir", str(directory), "--port", str(port), "--size", "150")
    pid_path = directory / "demo.pid"
    try:
        assert started.returncode == 0, started.stderr
        assert f"Dashboard: http://127.0.0.1:{port}/" in started.stdout
        assert f"Stop it with: leadsla demo --stop --dir {directory}" in started.stdout
        pid = int(pid_path.read_text(encoding="utf-8"))
        assert alive(pid)
        # The command has returned, and the dashboard and API answer on their own.
        assert httpx.get(f"http://127.0.0.1:{port}/login", timeout=10).status_code == 200
        admin = (directory / "tokens.txt").read_text(encoding="utf-8").splitlines()[0]
        token = admin.split("\t")[1]
        clocks = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/clocks",
            params={"lead_id": "nonexistent"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert clocks.status_code == 200, clocks.text
        # A second demo from the same directory is refused while this one runs.
        again = leadsla("--background", "--dir", str(directory), "--port", str(free_port()))
        assert again.returncode == 1
        assert "a demo already runs from" in again.stderr

        stopped = leadsla("--stop", "--dir", str(directory))
        assert stopped.returncode == 0, stopped.stderr
        assert f"stopped the demo of {directory}/ (pid {pid})" in stopped.stderr
        assert not alive(pid)
        assert not pid_path.exists()
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
            raise AssertionError("the dashboard still answers after --stop")
        except httpx.ConnectError:
            pass
    finally:
        if pid_path.exists():  # a failed assertion must not leave a server behind
            os.kill(int(pid_path.read_text(encoding="utf-8")), signal.SIGKILL)


def test_stop_without_a_background_demo_is_one_clear_line(tmp_path: Path) -> None:
    result = leadsla("--stop", "--dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("leadsla: error: --stop: no demo was started in the background")
    assert "Traceback" not in result.stderr


def test_the_readme_block_starts_the_demo_in_the_background() -> None:
    # Pasted as one block, the first line must return for the second (the tests) to run.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    first, second = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert first == "scripts/setup && .venv/bin/leadsla demo --background"
    assert second == "scripts/test"


def test_stop_with_a_stale_pid_file_signals_nothing(tmp_path: Path) -> None:
    # The id of a process that is not a leadsla demo (this test's own): never signalled.
    (tmp_path / "demo.pid").write_text(f"{os.getpid()}\n", encoding="utf-8")
    result = leadsla("--stop", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"leadsla: the demo of {tmp_path}/ was not running\n"
    assert not (tmp_path / "demo.pid").exists()
