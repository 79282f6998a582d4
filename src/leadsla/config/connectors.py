"""The ``connectors`` section of ``leadsla.yaml``, and a rep's CRM ids (docs/crm.md).

``connectors.salesforce`` and ``connectors.hubspot`` each hold the CRM's settings:
``activity_map``, rules laid before the built-in activity table
(:mod:`leadsla.core.crm_activity`). Sync and write-back settings join them here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from leadsla.config.document import did_you_mean, shown
from leadsla.core.crm_activity import HUBSPOT_FIELDS, SALESFORCE_FIELDS, ActivityRule
from leadsla.core.policy import ACTIVITY_KINDS, ACTIVITY_OUTCOMES

__all__ = [
    "ConnectorsConfig",
    "CrmIdsConfig",
    "HubSpotActivityRuleConfig",
    "HubSpotConfig",
    "SalesforceActivityRuleConfig",
    "SalesforceConfig",
]


class _Section(BaseModel):
    # As the other sections of the file: unknown keys refused, numbers read as text
    # (a HubSpot owner id 70012001 is the text "70012001").
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


_SALESFORCE_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?", re.ASCII)


class CrmIdsConfig(_Section):
    """A rep's user ids in the CRMs: ``crm: {salesforce: 005…, hubspot: 70012001}``."""

    salesforce: str | None = None
    hubspot: str | None = None

    @field_validator("salesforce")
    @classmethod
    def _salesforce_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if _SALESFORCE_ID.fullmatch(value) is None:
            raise ValueError(
                f"{shown(value)} is not a Salesforce user id: expected 15 or 18 letters and "
                "digits such as 0058c00000AbCdE (Setup › Users, the id in the user's URL)"
            )
        return value

    @field_validator("hubspot")
    @classmethod
    def _hubspot_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit():
            raise ValueError(
                f"{shown(value)} is not a HubSpot owner id: expected digits such as 70012001 "
                "(Settings › Users & Teams, or the owners API)"
            )
        return value


def _values(value: Any) -> Any:
    """One value or a list; null or "" stands for a blank field."""
    if value is None:
        return [""]
    if isinstance(value, bool):
        return [str(value).lower()]  # IsClosed: false is the text "false"
    if isinstance(value, str | int | float):
        return [str(value)]
    if isinstance(value, list):
        return [
            "" if item is None else str(item).lower() if isinstance(item, bool) else item
            for item in value
        ]
    return value


Values = Annotated[list[str], BeforeValidator(_values), Field(min_length=1)]


def _activity(value: str | None) -> str | None:
    if value is None:
        return None
    kind, colon, outcome = value.strip().partition(":")
    if colon and kind in ACTIVITY_KINDS and outcome in ACTIVITY_OUTCOMES:
        return f"{kind}:{outcome}"
    raise ValueError(
        f"{shown(value)} is not kind:outcome (kinds {', '.join(sorted(ACTIVITY_KINDS))}; "
        f"outcomes {', '.join(sorted(ACTIVITY_OUTCOMES))}), or null for no attempt"
    )


class _ActivityRuleConfig(_Section):
    """``{when: {field: value(s)}, activity: kind:outcome | null, reason: ...}``."""

    FIELDS: ClassVar[tuple[str, ...]] = ()

    when: dict[str, Values] = Field(min_length=1)
    activity: Annotated[str | None, BeforeValidator(_activity)]
    reason: str | None = None

    @field_validator("when")
    @classmethod
    def _known_fields(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        known = {name.casefold(): name for name in cls.FIELDS}
        named: dict[str, list[str]] = {}
        for field, values in value.items():
            name = known.get(field.strip().casefold())
            if name is None:
                raise ValueError(
                    f"{shown(field)} is not a field a rule can test"
                    f"{did_you_mean(field, cls.FIELDS)}: expected one of {', '.join(cls.FIELDS)}"
                )
            named[name] = values
        return named

    def build(self, origin: str = "connectors") -> ActivityRule:
        reason = self.reason or ("mapped to null by " + origin if self.activity is None else "")
        return ActivityRule.of(self.when, self.activity, reason, origin)


class SalesforceActivityRuleConfig(_ActivityRuleConfig):
    FIELDS: ClassVar[tuple[str, ...]] = SALESFORCE_FIELDS


class HubSpotActivityRuleConfig(_ActivityRuleConfig):
    FIELDS: ClassVar[tuple[str, ...]] = HUBSPOT_FIELDS


def _built(rules: Sequence[_ActivityRuleConfig], crm: str) -> tuple[ActivityRule, ...]:
    return tuple(
        rule.build(f"connectors.{crm}.activity_map[{index}]") for index, rule in enumerate(rules)
    )


class SalesforceConfig(_Section):
    """``connectors.salesforce``."""

    activity_map: list[SalesforceActivityRuleConfig] = []
    # Task Status values that close a task, for exports without IsClosed (docs/crm.md).
    closed_statuses: Annotated[list[str], Field(min_length=1)] = ["Completed"]

    def activity_rules(self) -> tuple[ActivityRule, ...]:
        return _built(self.activity_map, "salesforce")


class HubSpotConfig(_Section):
    """``connectors.hubspot``."""

    activity_map: list[HubSpotActivityRuleConfig] = []

    def activity_rules(self) -> tuple[ActivityRule, ...]:
        return _built(self.activity_map, "hubspot")


class ConnectorsConfig(_Section):
    """``connectors``: one key per CRM."""

    salesforce: SalesforceConfig = SalesforceConfig()
    hubspot: HubSpotConfig = HubSpotConfig()
