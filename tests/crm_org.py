"""A synthetic Salesforce org that changes over time, for the sync tests and benchmark.

Leads are created, change status, owner and rating (each change a LeadHistory row, owner
changes twice, by id and by name, as Salesforce records them), and get tasks that are
closed some time after they are created, or never. :meth:`Org.view` is the org as its
API shows it at an instant; :meth:`Org.export` writes the same view as Data Loader
exports, for the "sync equals file import" comparison.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from leadsla.connectors.sfdc_api import csv_cell
from leadsla.connectors.sfdc_pull import HISTORY_FIELDS, TASK_FIELDS

OWNERS = ("0055g00000SamOrAAJ", "0055g00000PriNaAAJ", "0055g00000AnaLoAAJ")
OWNER_NAMES = {
    "0055g00000SamOrAAJ": "Sam Ortiz",
    "0055g00000PriNaAAJ": "Priya Nair",
    "0055g00000AnaLoAAJ": "Ana Lopes",
}
STATUS_PATH = ("Open - Not Contacted", "Working - Attempting", "Working - Contacted")
CLOSED = ("Closed - Converted", "Closed - Not Converted")
RATINGS = ("Hot", "Warm", "Cold")
# (TaskSubtype, Type, CallDisposition)
TASK_KINDS = (
    ("Call", "Call", "Connected"),
    ("Call", "Call", "No Answer"),
    ("Call", "Call", "Left Voicemail"),
    ("Call", "Call", ""),
    ("Email", "Email", ""),
    ("ListEmail", "Email", ""),
    ("Task", "Other", ""),
)
SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

LEAD_COLUMNS = (
    "Id",
    "CreatedDate",
    "Status",
    "OwnerId",
    "Rating",
    "LeadSource",
    "Industry",
    "Country",
    "SystemModstamp",
)
HISTORY_COLUMNS = HISTORY_FIELDS
TASK_COLUMNS = (*TASK_FIELDS, "SystemModstamp")


def sf_time(micros: int) -> str:
    """A date-time as Salesforce's APIs write it."""
    moment = datetime.fromtimestamp(micros / SECOND, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def sf_date(micros: int) -> str:
    return datetime.fromtimestamp(micros / SECOND, tz=UTC).strftime("%Y-%m-%d")


@dataclass
class Change:
    at: int
    field: str  # Status, Owner, Rating
    old: str
    new: str


@dataclass
class Task:
    id: str
    who: str
    created: int
    closed: int | None
    kind: tuple[str, str, str]


@dataclass
class Lead:
    id: str
    created: int
    initial: dict[str, str]
    changes: list[Change] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)


class Org:
    """The org's whole timeline; views of it at any instant."""

    def __init__(self, leads: int, *, start: int, span: int, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.leads: list[Lead] = []
        history_id = 0
        task_id = 0
        self.history_ids: dict[tuple[str, int], list[str]] = {}
        for n in range(leads):
            created = start + rng.randrange(span) // 1000 * 1000
            lead = Lead(
                f"00Q5g{n:010d}AAA",
                created,
                {
                    "Status": STATUS_PATH[0],
                    "OwnerId": rng.choice(OWNERS),
                    "Rating": rng.choice(RATINGS),
                    "LeadSource": rng.choice(("Web", "Webinar", "Partner Referral")),
                    "Industry": rng.choice(("Healthcare", "Retail", "Banking")),
                    "Country": rng.choice(("United States", "Germany", "Italy")),
                },
            )
            at = created
            status_steps = rng.randrange(4)
            statuses = [*STATUS_PATH[1 : 1 + min(status_steps, 2)]]
            if status_steps == 3:
                statuses.append(rng.choice(CLOSED))
            current = dict(lead.initial)
            for status in statuses:
                at += rng.randrange(5 * MINUTE, 30 * HOUR) // 1000 * 1000
                lead.changes.append(Change(at, "Status", current["Status"], status))
                current["Status"] = status
            if rng.random() < 0.3:
                owner_at = created + rng.randrange(MINUTE, 20 * HOUR) // 1000 * 1000
                new_owner = rng.choice([o for o in OWNERS if o != current["OwnerId"]])
                lead.changes.append(Change(owner_at, "Owner", lead.initial["OwnerId"], new_owner))
            if rng.random() < 0.2:
                rating_at = created + rng.randrange(MINUTE, 20 * HOUR) // 1000 * 1000
                new_rating = rng.choice([r for r in RATINGS if r != lead.initial["Rating"]])
                lead.changes.append(Change(rating_at, "Rating", lead.initial["Rating"], new_rating))
            lead.changes.sort(key=lambda c: c.at)
            # Values "before" each change follow the order they happen in.
            values = dict(lead.initial)
            for change in lead.changes:
                key = "OwnerId" if change.field == "Owner" else change.field
                change.old = values[key]
                values[key] = change.new
            for _ in range(rng.randrange(4)):
                task_created = created + rng.randrange(MINUTE, 40 * HOUR) // 1000 * 1000
                closed = (
                    None
                    if rng.random() < 0.15
                    else task_created + rng.randrange(0, 10 * HOUR) // 1000 * 1000
                )
                lead.tasks.append(
                    Task(
                        f"00T5g{task_id:010d}EAB",
                        lead.id,
                        task_created,
                        closed,
                        rng.choice(TASK_KINDS),
                    )
                )
                task_id += 1
            for change in lead.changes:
                rows = 2 if change.field == "Owner" else 1
                self.history_ids[(lead.id, change.at)] = []
                for _ in range(rows):
                    self.history_ids[(lead.id, change.at)].append(f"0175g{history_id:010d}AAB")
                    history_id += 1
            self.leads.append(lead)
        self.created_ids = {
            lead.id: f"0175g{history_id + i:010d}AAC" for i, lead in enumerate(self.leads)
        }
        self.end = max(
            [lead.created for lead in self.leads]
            + [c.at for lead in self.leads for c in lead.changes]
            + [t.closed or t.created for lead in self.leads for t in lead.tasks]
        )

    def view(self, at: int) -> dict[str, list[dict[str, Any]]]:
        """Each object's records as the API shows them at ``at`` (JSON values, with the
        ``SystemModstamp`` and ``CreatedDate`` they have then)."""
        leads: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = []
        tasks: list[dict[str, Any]] = []
        for lead in self.leads:
            if lead.created > at:
                continue
            values = dict(lead.initial)
            stamp = lead.created
            history.append(
                {
                    "Id": self.created_ids[lead.id],
                    "LeadId": lead.id,
                    "CreatedDate": sf_time(lead.created),
                    "Field": "created",
                    "DataType": "Text",
                    "OldValue": None,
                    "NewValue": None,
                }
            )
            for change in lead.changes:
                if change.at > at:
                    break
                key = "OwnerId" if change.field == "Owner" else change.field
                values[key] = change.new
                stamp = change.at
                ids = self.history_ids[(lead.id, change.at)]
                if change.field == "Owner":
                    pairs = [
                        ("EntityId", change.old, change.new),
                        ("Text", OWNER_NAMES[change.old], OWNER_NAMES[change.new]),
                    ]
                else:
                    pairs = [("Text", change.old, change.new)]
                for row_id, (kind, old, new) in zip(ids, pairs, strict=True):
                    history.append(
                        {
                            "Id": row_id,
                            "LeadId": lead.id,
                            "CreatedDate": sf_time(change.at),
                            "Field": change.field,
                            "DataType": kind,
                            "OldValue": old,
                            "NewValue": new,
                        }
                    )
                if change.field == "Status" and change.new == "Closed - Converted":
                    pass  # conversion is a Status row here; leadConverted rows are optional
            leads.append(
                {
                    "Id": lead.id,
                    "CreatedDate": sf_time(lead.created),
                    **values,
                    "SystemModstamp": sf_time(stamp),
                }
            )
            for task in lead.tasks:
                if task.created > at:
                    continue
                closed = task.closed is not None and task.closed <= at
                subtype, kind, disposition = task.kind
                tasks.append(
                    {
                        "Id": task.id,
                        "WhoId": task.who,
                        "CreatedDate": sf_time(task.created),
                        "CompletedDateTime": sf_time(task.closed)
                        if closed and task.closed
                        else None,
                        "ActivityDate": sf_date(task.created),
                        "Status": "Completed" if closed else "Not Started",
                        "IsClosed": closed,
                        "Type": kind,
                        "TaskSubtype": subtype,
                        "CallType": "Outbound" if subtype == "Call" else None,
                        "CallDisposition": (disposition or None) if closed else None,
                        "SystemModstamp": sf_time(
                            task.closed if closed and task.closed else task.created
                        ),
                    }
                )
        return {"Lead": leads, "LeadHistory": history, "Task": tasks}

    def export(self, at: int, folder: Path) -> list[Path]:
        """The view at ``at`` as Data Loader CSV exports (upper-case API names)."""
        view = self.view(at)
        paths = []
        for name, columns in (
            ("Lead", LEAD_COLUMNS),
            ("LeadHistory", HISTORY_COLUMNS),
            ("Task", TASK_COLUMNS),
        ):
            path = folder / f"{name}.csv"
            with path.open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
                writer.writerow([c.upper() for c in columns])
                for record in view[name]:
                    writer.writerow([csv_cell(record.get(c)) for c in columns])
            paths.append(path)
        return paths
