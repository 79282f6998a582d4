"""The ``connectors`` section of ``leadsla.yaml``, and a rep's CRM ids (docs/crm.md).

``connectors.salesforce`` and ``connectors.hubspot`` each hold the CRM's settings:
``activity_map``, rules laid before the built-in activity table
(:mod:`leadsla.core.crm_activity`); ``sync``, how ``leadsla sync`` and the worker reach
the CRM's API; ``writeback``, the CRM fields that show each lead's SLA. Secrets are never
in the file: ``*_env`` keys name the environment variables that hold them, which only
:mod:`leadsla.bootstrap` reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
)

from leadsla.config.document import did_you_mean, shown
from leadsla.core.crm_activity import HUBSPOT_FIELDS, SALESFORCE_FIELDS, ActivityRule
from leadsla.core.durations import Duration, parse_duration
from leadsla.core.policy import ACTIVITY_KINDS, ACTIVITY_OUTCOMES

__all__ = [
    "ConnectorsConfig",
    "CrmIdsConfig",
    "HubSpotActivityRuleConfig",
    "HubSpotConfig",
    "HubSpotSyncConfig",
    "HubSpotWriteBackConfig",
    "SalesforceActivityRuleConfig",
    "SalesforceConfig",
    "SalesforceSyncConfig",
    "SalesforceWriteBackConfig",
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


def _name_of(pattern: str, what: str) -> Callable[[str], str]:
    """A validator of names matching ``pattern``; ``what`` says what such a name is."""
    compiled = re.compile(pattern, re.ASCII)

    def check(value: str) -> str:
        value = value.strip()
        if compiled.fullmatch(value) is None:
            raise ValueError(f"{shown(value)} is not {what}")
        return value

    return check


_env_name = _name_of(
    r"[A-Za-z_][A-Za-z0-9_]*",
    "an environment variable's name (letters, digits and _): give the name of the "
    "variable that holds the secret, never the secret itself",
)
_api_name = _name_of(
    r"[A-Za-z][A-Za-z0-9_]*",
    "a field's API name (letters, digits and _, such as SLA_Due__c or leadsla_sla_due)",
)


def _every(value: Any) -> Duration:
    duration = value if isinstance(value, Duration) else parse_duration(value)
    if duration.amount <= 0 or duration.business:
        raise ValueError(
            f'"{duration}" must be a wall-clock time longer than zero, such as "5 minutes"'
        )
    return duration


EnvName = Annotated[str, AfterValidator(_env_name)]
ApiName = Annotated[str, AfterValidator(_api_name)]
Every = Annotated[Duration, PlainValidator(_every)]


class _SyncConfig(_Section):
    # How often the worker syncs; the window ends settle_seconds behind the clock, because
    # a record's modification stamp is set before its transaction commits.
    every: Every = parse_duration("5 minutes")
    settle_seconds: Annotated[int, Field(ge=0, le=3600)] = 60
    # An import mapping (statuses, ratings, owners, fields) as `leadsla import --map` takes,
    # relative to this file.
    mapping: str | None = None


class SalesforceSyncConfig(_SyncConfig):
    """``connectors.salesforce.sync``: a connected app's server-to-server sign-in."""

    login_url: str = "https://login.salesforce.com"
    client_id_env: EnvName = "LEADSLA_SALESFORCE_CLIENT_ID"
    # Client credentials flow: the consumer secret.
    client_secret_env: EnvName = "LEADSLA_SALESFORCE_CLIENT_SECRET"
    # JWT bearer flow: the user to act as, and the PEM private key of the app's certificate.
    username: str | None = None
    private_key_env: EnvName = "LEADSLA_SALESFORCE_PRIVATE_KEY"
    api_version: Annotated[str, Field(pattern=r"^\d{2,3}\.0$")] = "62.0"
    # Custom Lead fields to read besides Status, OwnerId, Rating, LeadSource, Industry,
    # Country (map them under the mapping's fields:).
    lead_fields: list[ApiName] = []
    # How long to wait before looking at a Bulk API 2.0 job again (the backfill).
    bulk_poll_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0

    @field_validator("login_url")
    @classmethod
    def _https(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith("https://"):
            raise ValueError(
                f"{shown(value)} is not an https:// URL such as https://login.salesforce.com, "
                "https://test.salesforce.com or https://yourdomain.my.salesforce.com"
            )
        return value


class SalesforceWriteBackConfig(_Section):
    """``connectors.salesforce.writeback``: the Lead fields that show the SLA."""

    policy: str  # whose clock the fields show: a policy of this file
    due_field: ApiName = "SLA_Due__c"
    state_field: ApiName = "SLA_State__c"


class HubSpotSyncConfig(_SyncConfig):
    """``connectors.hubspot.sync``: a private app's access token."""

    token_env: EnvName = "LEADSLA_HUBSPOT_TOKEN"
    base_url: str = "https://api.hubapi.com"


class HubSpotWriteBackConfig(_Section):
    """``connectors.hubspot.writeback``: the contact properties that show the SLA."""

    policy: str
    due_property: ApiName = "leadsla_sla_due"
    state_property: ApiName = "leadsla_sla_state"


class SalesforceConfig(_Section):
    """``connectors.salesforce``."""

    activity_map: list[SalesforceActivityRuleConfig] = []
    sync: SalesforceSyncConfig | None = None
    writeback: SalesforceWriteBackConfig | None = None
    # Task Status values that close a task, for exports without IsClosed (docs/crm.md).
    closed_statuses: Annotated[list[str], Field(min_length=1)] = ["Completed"]

    def activity_rules(self) -> tuple[ActivityRule, ...]:
        return _built(self.activity_map, "salesforce")


class HubSpotConfig(_Section):
    """``connectors.hubspot``."""

    activity_map: list[HubSpotActivityRuleConfig] = []
    sync: HubSpotSyncConfig | None = None
    writeback: HubSpotWriteBackConfig | None = None

    def activity_rules(self) -> tuple[ActivityRule, ...]:
        return _built(self.activity_map, "hubspot")


class ConnectorsConfig(_Section):
    """``connectors``: one key per CRM."""

    salesforce: SalesforceConfig = SalesforceConfig()
    hubspot: HubSpotConfig = HubSpotConfig()
