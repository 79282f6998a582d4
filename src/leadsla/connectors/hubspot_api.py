"""HubSpot's CRM v3 API through ``hubspot-api-client``: what a sync pulls for one window,
and the batch update that write-back sends.

A window ``(since, until]`` in ``lastmodifieddate``:

- contacts modified in it, found with the CRM search (``after`` paging, 100 a page),
  then read in batches of 100 with ``propertiesWithHistory`` for ``hs_lead_status``,
  ``lifecyclestage`` and ``hubspot_owner_id``. Each contact becomes the row of a
  contacts export and each history entry a row of a property-history export, converted
  by :mod:`leadsla.connectors.hubspot` — the file import's events and keys. History
  holds every value a property took, the first included, so a contact's events do not
  depend on the window it is read in.
- calls, emails and meetings modified in it (search on ``hs_lastmodifieddate``), with
  the contacts each is associated with (associations v4 batch read): an engagement is an
  activity of each of its contacts, as :func:`leadsla.connectors.hubspot.engagement_activity`
  decides (the config's ``connectors.hubspot.activity_map`` first), placed at its
  ``hs_timestamp`` and keyed by its id.

The search finds at most 10,000 records per query: past that, the search starts again
from the last modification instant seen (records seen already are skipped).

Rate limits: HubSpot answers HTTP 429 (secondly and daily limits); the client's urllib3
retry waits ``Retry-After`` when sent, else backs off, through the ``sleep`` given.
Private app tokens do not expire; a revoked one is a 401, reported as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from leadsla.connectors.hubspot import (
    CONTACTS,
    PROPERTY_HISTORY,
    engagement_activity,
    engagement_record,
)
from leadsla.connectors.mapping import ConvertedRow, ImportMapping, RejectedRow, instant_of
from leadsla.connectors.records import CrmApiError, Pulled, Window, convert_rows
from leadsla.connectors.sfdc_api import Backoff
from leadsla.store.sync import Written

HISTORY_PROPERTIES: tuple[str, ...] = ("hs_lead_status", "lifecyclestage", "hubspot_owner_id")
ENGAGEMENT_TYPES: tuple[str, ...] = ("calls", "emails", "meetings")
ENGAGEMENT_PROPERTIES: tuple[str, ...] = (
    "hs_timestamp",
    "hs_call_disposition",
    "hs_call_status",
    "hs_call_direction",
    "hs_email_direction",
    "hs_email_status",
    "hs_meeting_outcome",
    "hs_engagement_source",
)
SEARCH_PAGE = 100
SEARCH_CAP = 10_000  # results one search query can page through
BATCH = 100

Progress = Callable[[int, int | None], None]


class HubSpotApiError(CrmApiError):
    """A HubSpot call refused for good, with HubSpot's status and message."""


def hubspot_client(
    token: str, *, base_url: str, sleep: Callable[[float], None], backoff: Backoff | None = None
) -> Any:
    """A ``hubspot.HubSpot`` client on ``base_url`` whose retries on 429 wait through
    ``sleep`` (``Retry-After`` when sent, else :class:`Backoff`)."""
    from hubspot import HubSpot
    from urllib3.util.retry import Retry

    policy = backoff or Backoff()

    class _Retry(Retry):
        def sleep(self, response: Any = None) -> None:
            header = response.headers.get("Retry-After") if response is not None else None
            sleep(policy.delay(max(len(self.history) - 1, 0), header))

    retry = _Retry(
        total=policy.attempts,
        status_forcelist=(429,),
        allowed_methods=None,  # searches and batch reads are POSTs
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    return HubSpot(access_token=token, host=base_url.rstrip("/"), retry=retry)


def _ms(micros: int) -> str:
    return str(micros // 1000)


def _window_filters(prop: str, window: Window, floor: int | None) -> list[dict[str, str]]:
    filters = [{"propertyName": prop, "operator": "LTE", "value": _ms(window.until)}]
    if floor is not None:
        filters.append({"propertyName": prop, "operator": "GTE", "value": _ms(floor)})
    elif window.since is not None:
        filters.append({"propertyName": prop, "operator": "GT", "value": _ms(window.since)})
    return filters


def search_ids(
    client: Any, object_type: str, prop: str, window: Window, properties: Sequence[str] = ()
) -> Iterator[Any]:
    """The records of ``object_type`` modified in the window (by ``prop``), oldest first."""
    from hubspot.crm.objects import PublicObjectSearchRequest

    api = client.crm.objects.search_api
    seen: set[str] = set()
    floor: int | None = None
    while True:
        after: str | None = None
        fetched = 0
        last: int | None = None
        while True:
            request = PublicObjectSearchRequest(
                filter_groups=[{"filters": _window_filters(prop, window, floor)}],
                sorts=[{"propertyName": prop, "direction": "ASCENDING"}],
                properties=[prop, *properties],
                limit=SEARCH_PAGE,
                after=after,
            )
            page = _call(
                f"search {object_type}",
                partial(
                    api.do_search, object_type=object_type, public_object_search_request=request
                ),
            )
            for record in page.results:
                fetched += 1
                modified = (record.properties or {}).get(prop)
                if modified:
                    last = _instant_micros(modified)
                if record.id not in seen:
                    seen.add(record.id)
                    yield record
            following = page.paging.next.after if page.paging and page.paging.next else None
            if following is None:
                return
            if fetched + SEARCH_PAGE > SEARCH_CAP:
                break  # this query can go no further: start again from the last instant
            after = following
        if last is None or last == floor:
            raise HubSpotApiError(
                f"search {object_type}: more than {SEARCH_CAP} records share one "
                "modification instant; the search cannot page past them"
            )
        floor = last


def pull_window(
    client: Any,
    mapping: ImportMapping,
    window: Window,
    *,
    contact_properties: Sequence[str] = (),
    progress: Progress | None = None,
) -> Pulled:
    """The events of one window (see the module docstring)."""
    pulled = Pulled()
    properties = ["createdate", *HISTORY_PROPERTIES, *contact_properties]
    ids = [record.id for record in search_ids(client, "contacts", "lastmodifieddate", window)]
    done = 0
    contact_rows: list[list[str]] = []
    history_rows: list[list[str]] = []
    for start in range(0, len(ids), BATCH):
        for contact in _read_batch(client, ids[start : start + BATCH], properties):
            values = contact.properties or {}
            contact_rows.append([contact.id, *(str(values.get(name) or "") for name in properties)])
            for name, entries in (contact.properties_with_history or {}).items():
                for entry in entries:
                    history_rows.append(
                        [contact.id, name, entry.value or "", _text(entry.timestamp)]
                    )
        done += len(ids[start : start + BATCH])
        if progress is not None:
            progress(done, len(ids))
    header = ["hs_object_id", *properties]
    pulled.converted.extend(
        convert_rows(CONTACTS, header, contact_rows, mapping, "hubspot:contacts")
    )
    pulled.converted.extend(
        convert_rows(
            PROPERTY_HISTORY,
            ["hs_object_id", "property", "value", "timestamp"],
            history_rows,
            mapping,
            "hubspot:history",
        )
    )
    pulled.records["contacts"] = len(ids)
    pulled.records["history"] = len(history_rows)
    for object_type in ENGAGEMENT_TYPES:
        count = 0
        found = list(
            search_ids(client, object_type, "hs_lastmodifieddate", window, ENGAGEMENT_PROPERTIES)
        )
        contacts = _associated_contacts(client, object_type, [e.id for e in found])
        for number, engagement in enumerate(found, start=2):
            count += 1
            pulled.converted.extend(
                _engagement_events(object_type, engagement, contacts, mapping, number)
            )
        pulled.records[object_type] = count
    return pulled


def _engagement_events(
    object_type: str,
    engagement: Any,
    contacts: dict[str, list[str]],
    mapping: ImportMapping,
    line: int,
) -> list[ConvertedRow | RejectedRow]:
    values = {k: (None if v is None else str(v)) for k, v in (engagement.properties or {}).items()}
    decision = engagement_activity(engagement_record(object_type, values), mapping)
    if decision.activity is None:
        return []
    try:
        at = instant_of(mapping, "hs_timestamp", values.get("hs_timestamp") or "")
    except ValueError as exc:
        return [RejectedRow(line, [engagement.id], str(exc))]
    key = f"hs:{object_type}:{engagement.id}"
    return [
        ConvertedRow(line, contact, at, "activity", decision.activity, f"{key}:{contact}")
        for contact in contacts.get(engagement.id, [])
    ]


def _read_batch(client: Any, ids: Sequence[str], properties: Sequence[str]) -> list[Any]:
    from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId

    request = BatchReadInputSimplePublicObjectId(
        inputs=[{"id": i} for i in ids],
        properties=list(properties),
        properties_with_history=list(HISTORY_PROPERTIES),
    )
    answer = _call(
        "batch read contacts",
        lambda: client.crm.contacts.batch_api.read(
            batch_read_input_simple_public_object_id=request
        ),
    )
    return list(answer.results)


def _associated_contacts(client: Any, object_type: str, ids: Sequence[str]) -> dict[str, list[str]]:
    """The contacts each engagement is associated with."""
    from hubspot.crm.associations.v4 import BatchInputPublicFetchAssociationsBatchRequest

    found: dict[str, list[str]] = {}
    for start in range(0, len(ids), BATCH):
        request = BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[{"id": i} for i in ids[start : start + BATCH]]
        )
        answer = _call(
            f"associations {object_type} → contacts",
            partial(
                client.crm.associations.v4.batch_api.get_page,
                from_object_type=object_type,
                to_object_type="contacts",
                batch_input_public_fetch_associations_batch_request=request,
            ),
        )
        for result in answer.results:
            found[str(result._from.id)] = [str(to.to_object_id) for to in result.to]
    return found


def write_sla(
    client: Any, shown: Sequence[Written], *, due_property: str, state_property: str
) -> list[tuple[str, str | None]]:
    """Set each contact's SLA properties through the batch update (100 a call)."""
    from hubspot.crm.contacts import BatchInputSimplePublicObjectBatchInput

    outcome: list[tuple[str, str | None]] = []
    for start in range(0, len(shown), BATCH):
        batch = shown[start : start + BATCH]
        request = BatchInputSimplePublicObjectBatchInput(
            inputs=[
                {
                    "id": w.lead_id,
                    "properties": {
                        due_property: "" if w.due_at is None else _iso(w.due_at),
                        state_property: w.state or "",
                    },
                }
                for w in batch
            ]
        )
        try:
            answer = _call(
                "batch update contacts",
                partial(
                    client.crm.contacts.batch_api.update,
                    batch_input_simple_public_object_batch_input=request,
                ),
            )
        except HubSpotApiError as exc:
            outcome.extend((w.lead_id, str(exc)) for w in batch)
            continue
        updated = {str(result.id) for result in answer.results}
        outcome.extend(
            (w.lead_id, None if w.lead_id in updated else "not updated by HubSpot") for w in batch
        )
    return outcome


def _call(what: str, call: Callable[[], Any]) -> Any:
    from hubspot.crm.objects.exceptions import ApiException

    try:
        return call()
    except ApiException as exc:
        raise HubSpotApiError(f"{what}: HTTP {exc.status}: {_message(exc.body)}") from None
    except Exception as exc:
        # Each generated package has its own ApiException class: recognise them by name.
        if type(exc).__name__ == "ApiException":
            status = getattr(exc, "status", "?")
            raise HubSpotApiError(
                f"{what}: HTTP {status}: {_message(getattr(exc, 'body', ''))}"
            ) from None
        raise


def _message(body: object) -> str:
    import json

    try:
        data = json.loads(body) if isinstance(body, str | bytes) else {}
    except ValueError:
        return str(body)[:300]
    return str(data.get("message", body))[:300] if isinstance(data, dict) else str(body)[:300]


def _text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value or "")


def _instant_micros(text: str) -> int:
    from leadsla.core.events import parse_instant

    return parse_instant(text) if not text.isdigit() else int(text) * 1000


def _iso(micros: int) -> str:
    from leadsla.connectors.records import utc_text

    return utc_text(micros)
