"""``scripts/test``, the README's test command: it names what it skipped, and why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_skip_reasons_are_printed_and_sqlite_alone_runs(tmp_path: Path) -> None:
    # A checkout of our own: the script runs `.venv/bin/python` beside it, which a
    # worktree without its own .venv does not have; this interpreter stands in.
    (tmp_path / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "test", tmp_path / "scripts" / "test")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    python = tmp_path / ".venv" / "bin" / "python"
    # A wrapper, not a symlink: a venv's interpreter finds its packages from its own path.
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    for name in ("src", "tests", "pyproject.toml"):
        (tmp_path / name).symlink_to(ROOT / name)
    env = {
        **os.environ,
        "LEADSLA_TEST_DATABASES": "sqlite",
        # No PostgreSQL to be found: with sqlite alone, nothing may try to start one.
        "LEADSLA_TEST_POSTGRES_BIN": str(tmp_path / "no-postgres"),
    }
    result = subprocess.run(
        [str(tmp_path / "scripts" / "test"), "tests/integration/test_import_counts.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
    assert "SKIPPED [1]" in result.stdout
    assert "postgresql is not in LEADSLA_TEST_DATABASES" in result.stdout
