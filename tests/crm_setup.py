"""A config that syncs from a local CRM: examples/leadsla.yaml with ``connectors.<crm>.sync``
(and write-back when asked), and the example mapping of that CRM beside it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def sync_config(
    folder: Path, crm: str, sync: dict[str, Any], *, writeback: str | None = "follow_up"
) -> Path:
    """The config file written in ``folder``; ``sync`` adds to mapping.yaml, settle 0."""
    data = yaml.safe_load((EXAMPLES / "leadsla.yaml").read_text(encoding="utf-8"))
    section = data.setdefault("connectors", {}).setdefault(crm, {})
    section["sync"] = {"mapping": "mapping.yaml", "settle_seconds": 0, **sync}
    if writeback is not None:
        section["writeback"] = {"policy": writeback}
    (folder / "mapping.yaml").write_text(
        (EXAMPLES / crm / "mapping.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    path = folder / "leadsla.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


LEADSLA = str(Path(sys.executable).with_name("leadsla"))


def import_files(config: Path, database_url: str, files: list[Path]) -> None:
    """``leadsla import`` of CRM exports with the mapping beside ``config``."""
    done = subprocess.run(
        [
            *(LEADSLA, "import", "--config", str(config), "--database", database_url),
            *("--map", str(config.parent / "mapping.yaml"), *map(str, files)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def stored_events(database_url: str, prefix: str = "") -> list[tuple[Any, ...]]:
    """``(lead, at, field, value, key)`` of the stored events whose key starts with
    ``prefix`` (every event: ""), sorted."""
    from sqlalchemy import select

    from leadsla.store.database import open_database
    from leadsla.store.tables import events

    engine = open_database(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(events.c.lead_id, events.c.at, events.c.field, events.c.value, events.c.key)
        ).all()
    engine.dispose()
    return sorted(tuple(r) for r in rows if (r[4] or "").startswith(prefix))
