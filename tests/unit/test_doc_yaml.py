"""Every ```yaml block of README.md and docs/*.md loads through the config loader.

A block that is a whole config must load as it is. A block that is deliberately
part of one is marked on the line before its fence, and loads merged into a base:

- ``<!-- fragment -->``: into examples/leadsla.yaml;
- ``<!-- fragment of FILE -->``: into FILE (a path from the repository's root);
- ``... at KEY.PATH -->``: under that key of the base (``calendars.ny``).

Merging goes key by key through mappings; anything else in the block replaces the
base's value. The rule, with an example, is in docs/cli.md ("YAML in the docs").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from leadsla.config import ConfigError, build_rulebook, load_config_text

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DEFAULT_BASE = "examples/leadsla.yaml"
BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.S | re.M)
MARKER = re.compile(r"<!-- fragment(?: of (?P<base>\S+))?(?: at (?P<at>[\w.-]+))? -->")


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the fence
    text: str
    base: str | None  # None: a whole config
    at: tuple[str, ...]


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found: list[Block] = []
    for match in BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        marker = MARKER.fullmatch(before)
        found.append(
            Block(
                page=str(page.relative_to(ROOT)),
                line=text.count("\n", 0, match.start()) + 1,
                text=match.group(1),
                base=(marker.group("base") or DEFAULT_BASE) if marker else None,
                at=tuple(marker.group("at").split(".")) if marker and marker.group("at") else (),
            )
        )
    return found


def merged(base: Any, part: Any) -> Any:
    if isinstance(base, dict) and isinstance(part, dict):
        return {**base, **{key: merged(base.get(key), value) for key, value in part.items()}}
    return part


def document(block: Block) -> str:
    """The YAML the loader reads for a block: itself, or merged into its base."""
    if block.base is None:
        return block.text
    base = yaml.safe_load((ROOT / block.base).read_text(encoding="utf-8"))
    part = yaml.safe_load(block.text)
    for key in reversed(block.at):
        part = {key: part}
    return yaml.safe_dump(merged(base, part), sort_keys=False)


ALL = [block for page in PAGES for block in blocks(page)]


def test_the_pages_have_whole_and_fragment_blocks() -> None:
    # Guards the extraction: a regex that found nothing would pass the test below.
    assert len(ALL) >= 12
    assert any(b.page == "README.md" and b.base is None for b in ALL)
    assert any(b.at == ("calendars", "ny") for b in ALL)


@pytest.mark.parametrize("block", ALL, ids=[f"{b.page}:{b.line}" for b in ALL])
def test_every_yaml_block_loads(block: Block) -> None:
    try:
        build_rulebook(load_config_text(document(block), f"{block.page}:{block.line}"))
    except ConfigError as exc:
        kind = "the block" if block.base is None else f"the block merged into {block.base}"
        pytest.fail(f"{block.page}:{block.line}: {kind} is refused:\n{exc}")


def test_the_readme_config_is_whole() -> None:
    # The issue: saved alone, README's snippet was refused (no executives defined).
    readme = [b for b in ALL if b.page == "README.md"]
    assert [b.base for b in readme] == [None]


def test_a_refused_fragment_fails() -> None:
    # The check can fail: a fragment naming a team the base does not have is refused.
    bad = Block("x.md", 1, "assignment:\n  rules: [{team: nowhere}]\n", DEFAULT_BASE, ())
    with pytest.raises(ConfigError, match="nowhere"):
        build_rulebook(load_config_text(document(bad), "x.md:1"))


def test_a_fragment_at_a_key_goes_under_it() -> None:
    block = Block(
        "x.md", 1, 'hours: {mon: ["22:00-24:00"]}\n', "examples/sla-rules.yaml", ("calendars", "ny")
    )
    ny = yaml.safe_load(document(block))["calendars"]["ny"]
    # Key by key: Monday replaced, the other days and the zone kept from the base.
    assert ny["timezone"] == "America/New_York"
    assert ny["hours"]["mon"] == ["22:00-24:00"]
    assert ny["hours"]["tue"] == "09:00-17:00"
