"""The executable's entry imports the command line with the collector paused, and runs
the command with it back on."""

from __future__ import annotations

import gc

import pytest

from leadsla import __version__
from leadsla.cli import entry
from leadsla.report.heap import long_lived_imports


def test_the_command_runs_with_the_collector_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[bool] = []
    real_freeze = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: seen.append(gc.isenabled()))
    monkeypatch.setattr("sys.argv", ["leadsla", "--version"])
    try:
        with pytest.raises(SystemExit) as ended:
            entry.run()
    finally:
        monkeypatch.setattr(gc, "freeze", real_freeze)
    assert ended.value.code in (0, None)
    assert capsys.readouterr().out.strip() == f"leadsla {__version__}"
    # Paused while the command line was imported, on again for the command.
    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_paused_before_stays_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gc, "freeze", lambda: None)
    gc.disable()
    try:
        with long_lived_imports():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
