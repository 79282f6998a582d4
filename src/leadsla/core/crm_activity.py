"""How a CRM activity record becomes a SPEC §3/§9.1 activity: the rule tables.

A record (a Salesforce Task, a HubSpot engagement) is read as a few named fields;
an :class:`ActivityRule` says which values of which fields make which
``kind:outcome``, or that the record is no attempt at all (``None``, with the
reason shown to the user). Rules are tried in order and the first whose every
condition holds decides: the user's rules (``connectors.<crm>.activity_map``)
before the built-in tables below, which docs/crm.md shows rule by rule.

Values are compared folded (case, blanks and ``_`` versus space ignored, as the
import mapping compares them); the empty text stands for a blank or absent field.
Pure data and matching: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "HUBSPOT_DEFAULT_RULES",
    "HUBSPOT_DISPOSITIONS",
    "HUBSPOT_FIELDS",
    "SALESFORCE_DEFAULT_RULES",
    "SALESFORCE_FIELDS",
    "ActivityRule",
    "Decision",
    "decide",
    "fold_value",
]

# The fields a rule may test, as a Task export or the REST API names them.
SALESFORCE_FIELDS: Final = (
    "TaskSubtype",
    "Type",
    "CallDisposition",
    "CallType",
    "Status",
    "IsClosed",
)
# HubSpot engagements: the object type (CALL, EMAIL, INCOMING_EMAIL, MEETING, ...),
# hs_call_disposition (a GUID or its label), hs_call_status / hs_email_status /
# hs_meeting_outcome, hs_email_direction / hs_call_direction, and where the engagement
# came from (a sequence, a marketing send, the CRM).
HUBSPOT_FIELDS: Final = ("type", "disposition", "status", "direction", "source")


def fold_value(text: str) -> str:
    """The form values are compared in: case, blanks and ``_`` ignored."""
    return " ".join(text.replace("_", " ").split()).casefold()


@dataclass(frozen=True, slots=True)
class ActivityRule:
    """``when`` every listed field holds one of its values, the record is ``activity``.

    ``activity`` ``None`` means the record is not an attempt and makes no event;
    ``reason`` then says why (shown in the import's summary).
    """

    when: tuple[tuple[str, frozenset[str]], ...]  # (field, folded values); "" = blank
    activity: str | None
    reason: str = ""
    origin: str = "default"  # "default", or where the user wrote it (file:line)

    @classmethod
    def of(
        cls,
        when: Mapping[str, str | Sequence[str]],
        activity: str | None,
        reason: str = "",
        origin: str = "default",
    ) -> ActivityRule:
        conditions = tuple(
            (
                field,
                frozenset(
                    fold_value(v) for v in ((values,) if isinstance(values, str) else values)
                ),
            )
            for field, values in when.items()
        )
        return cls(conditions, activity, reason, origin)

    def holds(self, record: Mapping[str, str]) -> bool:
        return self.holds_folded({field: fold_value(text) for field, text in record.items()})

    def holds_folded(self, folded: Mapping[str, str]) -> bool:
        """:meth:`holds` for a record whose values are folded already."""
        return all(folded.get(field, "") in values for field, values in self.when)

    def describe(self) -> str:
        parts = []
        for field, values in self.when:
            shown = " or ".join(sorted(f'"{v}"' if v else "blank" for v in values))
            parts.append(f"{field} {shown}")
        return " and ".join(parts)


@dataclass(frozen=True, slots=True)
class Decision:
    """What a record is: an activity, or nothing and why (``rule`` None: no rule matched)."""

    activity: str | None
    reason: str
    rule: ActivityRule | None


def decide(record: Mapping[str, str], rules: Iterable[ActivityRule]) -> Decision:
    """The first rule holding for ``record`` decides; no rule at all: not an attempt."""
    folded = {field: fold_value(text) for field, text in record.items()}
    for rule in rules:
        if rule.holds_folded(folded):
            return Decision(rule.activity, rule.reason, rule)
    return Decision(None, "no activity rule matches it", None)


# Salesforce Task, once it is known to be done (an open task is no attempt: see
# leadsla.connectors.salesforce). Tried in this order; the first match decides.
SALESFORCE_DEFAULT_RULES: Final[tuple[ActivityRule, ...]] = (
    # Mass email (ListEmail) and Sales Engagement cadence steps are automated sends.
    ActivityRule.of({"TaskSubtype": "ListEmail"}, "email:automated"),
    ActivityRule.of({"TaskSubtype": "Cadence"}, None, "a cadence step is a to-do, not a touch"),
    # Calls: the disposition says what happened; a blank one is an attempt, not a connect.
    ActivityRule.of(
        {
            "CallDisposition": (
                "Connected",
                "Meeting Booked",
                "Not Interested",
                "Interested",
                "Spoke",
                "Conversation",
            )
        },
        "call:connected",
    ),
    ActivityRule.of(
        {"CallDisposition": ("Left Voicemail", "Left Message", "Voicemail", "Left Live Message")},
        "call:voicemail",
    ),
    ActivityRule.of(
        {"CallDisposition": ("No Answer", "Busy", "Wrong Number", "Bad Number", "No Response")},
        "call:no_answer",
    ),
    ActivityRule.of({"TaskSubtype": "Call"}, "call:attempted"),
    ActivityRule.of({"Type": "Call"}, "call:attempted"),
    ActivityRule.of({"CallType": ("Outbound", "Inbound", "Internal")}, "call:attempted"),
    # Emails logged from the inbox or Outlook/Gmail integration are sales sends.
    ActivityRule.of({"TaskSubtype": "Email"}, "email:sent"),
    ActivityRule.of({"Type": "Email"}, "email:sent"),
    ActivityRule.of({"Type": ("Meeting",)}, "meeting:held"),
    ActivityRule.of({"TaskSubtype": ("SMS", "Text")}, "sms:sent"),
    ActivityRule.of({"Type": ("SMS", "Text")}, "sms:sent"),
    ActivityRule.of({"TaskSubtype": "LinkedIn"}, None, "a LinkedIn task is not a logged touch"),
    ActivityRule.of({"TaskSubtype": "Task"}, None, "a to-do is not an attempt"),
)

# HubSpot's documented call dispositions (hs_call_disposition): GUID → label.
HUBSPOT_DISPOSITIONS: Final[Mapping[str, str]] = {
    "9d9162e7-6cf3-4944-bf63-4dff82258764": "Busy",
    "f240bbac-87c9-4f6e-bf70-924b57d47db7": "Connected",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff": "Left live message",
    "b2cf5968-551e-4856-9783-52b3da59a7d0": "Left voicemail",
    "73a0d17f-1163-4015-bdd5-ec830791da20": "No answer",
    "17b47fee-58de-441e-a44c-c6300d46f273": "Wrong number",
}


def _disposition(*labels: str) -> tuple[str, ...]:
    """The labels and their GUIDs: an API record holds the GUID, an export the label."""
    folded = {fold_value(label) for label in labels}
    guids = [guid for guid, label in HUBSPOT_DISPOSITIONS.items() if fold_value(label) in folded]
    return (*labels, *guids)


# HubSpot engagements. Tried in this order; the first match decides.
HUBSPOT_DEFAULT_RULES: Final[tuple[ActivityRule, ...]] = (
    # Sequences and marketing sends are automated, whatever their type.
    ActivityRule.of(
        {"source": ("SEQUENCES", "SEQUENCE", "AUTOMATION", "MARKETING_EMAIL", "BULK_EMAIL")},
        "email:automated",
    ),
    ActivityRule.of({"type": ("MARKETING_EMAIL",)}, "email:automated"),
    # Calls: the disposition first; a call without one is an attempt.
    ActivityRule.of(
        {"type": "CALL", "disposition": _disposition("Connected", "Left live message")},
        "call:connected",
    ),
    ActivityRule.of(
        {"type": "CALL", "disposition": _disposition("Left voicemail")}, "call:voicemail"
    ),
    ActivityRule.of(
        {"type": "CALL", "disposition": _disposition("Busy", "No answer", "Wrong number")},
        "call:no_answer",
    ),
    ActivityRule.of(
        {"type": "CALL", "status": ("NO_ANSWER", "BUSY", "MISSED", "FAILED")}, "call:no_answer"
    ),
    ActivityRule.of(
        {
            "type": "CALL",
            "status": (
                "CANCELED",
                "QUEUED",
                "RINGING",
                "CONNECTING",
                "CALLING_CRM_USER",
                "IN_PROGRESS",
            ),
        },
        None,
        "a call that has not happened (yet) is not an attempt",
    ),
    ActivityRule.of({"type": "CALL"}, "call:attempted"),
    # Emails: the contact's reply, or a rep's send; scheduled or failed sends are not.
    ActivityRule.of({"type": "INCOMING_EMAIL"}, "email:replied"),
    ActivityRule.of({"type": "EMAIL", "direction": "INCOMING_EMAIL"}, "email:replied"),
    ActivityRule.of({"type": "EMAIL", "status": ("BOUNCED", "FAILED")}, "email:bounced"),
    ActivityRule.of(
        {"type": "EMAIL", "status": ("SCHEDULED", "SENDING")},
        None,
        "an email not sent yet is not an attempt",
    ),
    ActivityRule.of({"type": ("EMAIL", "FORWARDED_EMAIL")}, "email:sent"),
    ActivityRule.of(
        {"type": "MEETING", "status": ("CANCELED", "NO_SHOW", "RESCHEDULED", "SCHEDULED")},
        None,
        "a meeting not held is not a touch",
    ),
    ActivityRule.of({"type": "MEETING"}, "meeting:held"),
    ActivityRule.of({"type": ("SMS", "WHATS_APP")}, "sms:sent"),
    ActivityRule.of({"type": "LINKEDIN_MESSAGE"}, None, "a LinkedIn message is not a logged touch"),
    ActivityRule.of({"type": ("NOTE", "TASK")}, None, "a note or a to-do is not an attempt"),
)
