"""Long commands draw a Rich progress bar on a terminal, and nothing when stderr is not one.

The terminal is a real pseudo-terminal (``pty``) on the command's stderr; stdout stays a
pipe, as when a report is redirected to a file while the user watches the bar.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
EVENTS = ROOT / "examples" / "events.csv"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
BAR = "━"  # the bar's glyph
AS_OF = "2026-03-06T18:00:00-05:00"


def on_terminal(args: list[str]) -> tuple[int, str]:
    """Run with stderr on a pseudo-terminal; its exit status and what the terminal showed."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [LEADSLA, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    shown = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the command ended and closed its side
                break
            if not chunk:
                break
            shown += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    return process.wait(timeout=300), shown.decode("utf-8", errors="replace")


def off_terminal(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEADSLA, *args], capture_output=True, text=True, timeout=300, check=False
    )


def commands(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """Each long command, with a word its bar shows."""
    replay = ["-c", str(CONFIG), "-e", str(EVENTS), "--as-of", AS_OF]
    return {
        "generate": (
            [
                "generate",
                "--output",
                str(tmp_path / "g.csv"),
                "--size",
                "2500",
                "--end",
                "2026-03-04",
            ],
            "generating the leads",
        ),
        "import": (
            [
                "import",
                "-c",
                str(CONFIG),
                "--database",
                f"sqlite:///{tmp_path / 'i.db'}",
                str(EVENTS),
            ],
            "importing",
        ),
        "evaluate": (["evaluate", *replay, "-o", str(tmp_path / "c.csv")], ""),
        "report": (["report", *replay, "-o", str(tmp_path / "r.json")], ""),
        "demo": (["demo", "--no-serve", "--dir", str(tmp_path / "demo"), "--size", "300"], ""),
    }


@pytest.mark.parametrize("name", ["generate", "import", "evaluate", "report", "demo"])
def test_a_bar_on_a_terminal_and_none_elsewhere(tmp_path: Path, name: str) -> None:
    args, word = commands(tmp_path)[name]
    status, shown = on_terminal(args)
    assert status == 0, shown
    assert BAR in shown, shown
    assert word in shown
    # The same command with stderr in a pipe: the messages only, no bar, no escape codes.
    for leftover in tmp_path.glob("*.db*"):
        leftover.unlink()
    piped = off_terminal(args)
    assert piped.returncode == 0, piped.stderr
    assert BAR not in piped.stderr
    assert "\x1b[" not in piped.stderr
    # Each message whole on its line (a console that is not a terminal wraps at 80).
    assert all(line.startswith("leadsla: ") for line in piped.stderr.splitlines())


def test_generate_without_a_terminal_prints_its_one_line(tmp_path: Path) -> None:
    target = tmp_path / "g.csv"
    piped = off_terminal(
        ["generate", "--output", str(target), "--size", "1200", "--end", "2026-03-04"]
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr.count("\n") == 1
    assert piped.stderr.startswith("leadsla: ") and piped.stderr.endswith(f" → {target}\n")
