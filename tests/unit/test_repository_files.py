"""What a clone keeps out of version control."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("path", ["leadsla-demo/leadsla.db", "leadsla-demo/mail/new/1.eml"])
def test_the_demo_directory_is_ignored(path: str) -> None:
    # `leadsla demo` run from a clone writes leadsla-demo/ there: never to be committed.
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, check=False
    )
    assert checked.returncode == 0, f"{path} is not git-ignored"


def test_a_source_file_is_not_ignored() -> None:
    # The check above means something only if git answers "not ignored" for a kept file.
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    checked = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", "src/leadsla/cli/demo.py"],
        cwd=ROOT,
        check=False,
    )
    assert checked.returncode == 1
