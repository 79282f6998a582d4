"""Deferred leads re-surfacing on their revisit date: ``leadsla revisit``.

A lead deferred by sales (a status of stage ``nurture`` with ``revisit_at``) comes back
to sales on that date whatever its score: at the revisit instant it gets
``qualification`` ``mql`` and the MQL status (``New``), which starts a new cycle of the
follow-up clock (SPEC §4 rule 7) with the owner it has. A revisit date that is not
later than the lead's entry into its nurture status (a date left over from an earlier
deferral) is spent and ignored. Before the date, scoring does not qualify the lead
(see :func:`leadsla.core.qualify.in_nurture`).
"""

from __future__ import annotations

from sqlalchemy import Connection

from leadsla.core.events import instant_or_date
from leadsla.core.intake import DECISION_FIELD
from leadsla.core.policy import Rulebook
from leadsla.core.qualify import NURTURE_STAGE, REVISIT_FIELD
from leadsla.service.ingest import ingest_rows
from leadsla.service.qualify import SOURCE
from leadsla.store.bulk import KEY_CHUNK
from leadsla.store.leads import event_rows_of, fields_in

DEFAULT_MQL_STATUS = "New"


def resurface(
    connection: Connection, rules: Rulebook, as_of: int, *, recorded_at: int
) -> dict[str, int]:
    """Re-surface the deferred leads whose revisit instant is at or before ``as_of``;
    lead → the revisit instant at which it became an MQL again."""
    zone = rules.default_zone
    mql_status = rules.scoring.mql_status if rules.scoring is not None else DEFAULT_MQL_STATUS
    resting = [name for name, stage in rules.statuses.items() if stage == NURTURE_STAGE]
    due: dict[str, int] = {}
    for lead_id, fields in fields_in(connection, resting):
        text = fields.get(REVISIT_FIELD)
        when = instant_or_date(text, zone) if text else None
        if when is not None and when <= as_of:
            due[lead_id] = when
    resurfaced: dict[str, int] = {}
    ids = sorted(due)
    for start in range(0, len(ids), KEY_CHUNK):
        for lead_id, rows in event_rows_of(connection, ids[start : start + KEY_CHUNK]).items():
            entered = max((at for at, name, _ in rows if name == "status"), default=None)
            if entered is not None and due[lead_id] > entered:
                resurfaced[lead_id] = due[lead_id]
    ingest_rows(
        connection,
        rules,
        [
            (lead_id, at, name, value, f"{SOURCE}:{lead_id}:{at}:{name}")
            for lead_id, at in sorted(resurfaced.items())
            for name, value in ((DECISION_FIELD, "mql"), ("status", mql_status))
        ],
        recorded_at=recorded_at,
    )
    return resurfaced
