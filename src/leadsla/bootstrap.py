"""Where leadsla meets the process it runs in: the one module that reads environment
variables and the wall clock, and that wires what they name into the parts.

The command line builds one :class:`Wiring` from ``os.environ`` at start; every other
module is handed what it needs (a database URL, secrets, senders, a clock) and reads no
environment of its own. The command line loads this module on every start, so what it
wires (SQLAlchemy, the service, the senders) loads only when asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from fastapi import FastAPI
    from sqlalchemy import Engine

    from leadsla.config.schema import Config
    from leadsla.connectors.mapping import ImportMapping
    from leadsla.core.policy import Rulebook
    from leadsla.notify.delivery import Sender
    from leadsla.service.sync import CrmJob
    from leadsla.worker import Senders

DATABASE_URL_VARIABLE = "LEADSLA_DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///leadsla.db"
# One secret for every webhook source, or one per source (LEADSLA_HOOK_SECRET_HUBSPOT).
HOOK_SECRET_VARIABLE = "LEADSLA_HOOK_SECRET"
HOOK_SOURCES = ("generic", "hubspot")
SESSION_SECRET_VARIABLE = "LEADSLA_SESSION_SECRET"


def now_micros() -> int:
    """The wall clock: microseconds since the epoch."""
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Wiring:
    """The parts of leadsla as this process's environment configures them."""

    environ: Mapping[str, str]

    def database_url(self, option: str | None) -> str:
        """``--database``, else ``$LEADSLA_DATABASE_URL``, else ``leadsla.db`` here; a
        :class:`~leadsla.store.database.DatabaseError` if it is no database URL."""
        from leadsla.store.database import database_url

        return database_url(
            option or self.environ.get(DATABASE_URL_VARIABLE) or DEFAULT_DATABASE_URL
        )

    def hook_secrets(self) -> dict[str, str]:
        """Webhook secrets: LEADSLA_HOOK_SECRET_<SOURCE>, else LEADSLA_HOOK_SECRET for all."""
        shared = self.environ.get(HOOK_SECRET_VARIABLE)
        secrets: dict[str, str] = {}
        for source in HOOK_SOURCES:
            secret = self.environ.get(f"{HOOK_SECRET_VARIABLE}_{source.upper()}") or shared
            if secret:
                secrets[source] = secret
        return secrets

    def session_secret(self) -> bytes | None:
        """The key that signs dashboard logins; None: a new one each start (every login
        ends with the process)."""
        secret = self.environ.get(SESSION_SECRET_VARIABLE, "")
        return secret.encode() if secret else None

    def build_app(
        self, rules: Rulebook, engine: Engine, setup: Config, *, webhooks: bool = True
    ) -> FastAPI:
        """The REST API and the dashboard on ``engine``; without ``webhooks`` (the demo),
        no CRM webhook is accepted, whatever secrets the environment holds."""
        from leadsla.app import create_app

        return create_app(
            rules,
            engine,
            now_micros,
            hook_secrets=self.hook_secrets() if webhooks else None,
            config=setup,
            session_secret=self.session_secret(),
        )

    def senders(self, setup: Config, rules: Rulebook) -> tuple[Senders, list[str]]:
        """The senders of the channels the config names, with their secrets from the
        environment; and one line for each channel left off, saying why."""
        from leadsla.notify.delivery import (
            MailSettings,
            RowSender,
            slack_row_sender,
            smtp_sender,
            webhook_row_sender,
        )
        from leadsla.worker import Senders

        notes: list[str] = []
        email = setup.notifications.email
        open_email: Callable[[], Sender] | None = None
        sender_address = ""
        if email is not None:
            password = self.environ.get(email.password_env) if email.password_env else None
            settings = MailSettings(
                email.host, email.port, email.sender, email.starttls, email.username, password
            )
            open_email = partial(smtp_sender, settings)
            sender_address = settings.sender
        else:
            notes.append("no notifications.email in the config: no emails")
        channels: list[tuple[str, str]] = []
        others: dict[str, RowSender] = {}
        slack = setup.notifications.slack
        if slack is not None:
            slack_url = self.environ.get(slack.webhook_url_env)
            if slack_url:
                channels.append(("slack", "slack"))
                others["slack"] = slack_row_sender(rules, slack_url)
            else:
                notes.append(f"${slack.webhook_url_env} is not set: no Slack")
        if setup.notifications.webhooks:
            secrets = {
                hook.url: self.environ.get(hook.secret_env) if hook.secret_env else None
                for hook in setup.notifications.webhooks
            }
            channels.extend(("webhook", hook.url) for hook in setup.notifications.webhooks)
            others["webhook"] = webhook_row_sender(rules, secrets)
        return Senders(open_email, sender_address, channels, others), notes

    def crm_jobs(
        self,
        setup: Config,
        rules: Rulebook,
        config_dir: Path,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> tuple[list[CrmJob], list[str]]:
        """The CRMs whose ``sync`` the config sets up, with their credentials from the
        environment; and one line for each CRM left off, saying why. Nothing is signed in
        to until a job runs. A mapping file that cannot be used raises its
        :class:`~leadsla.connectors.mapping.MappingError`."""
        jobs: list[CrmJob] = []
        notes: list[str] = []
        builders = (
            (setup.connectors.salesforce.sync, self._salesforce_job),
            (setup.connectors.hubspot.sync, self._hubspot_job),
        )
        for sync, build in builders:
            if sync is None:
                continue
            job = build(setup, rules, config_dir, sleep)
            if isinstance(job, str):
                notes.append(job)
            else:
                jobs.append(job)
        return jobs, notes

    def _salesforce_job(
        self, setup: Config, rules: Rulebook, config_dir: Path, sleep: Callable[[float], None]
    ) -> CrmJob | str:
        from leadsla.connectors.sfdc_api import (
            ApiSession,
            SalesforceApi,
            SalesforceAuth,
            request_token,
            write_sla,
        )
        from leadsla.connectors.sfdc_pull import LEAD_FIELDS, pull_window
        from leadsla.service.sync import CrmJob

        settings = setup.connectors.salesforce
        sync = settings.sync
        assert sync is not None
        client_id = self.environ.get(sync.client_id_env)
        secret = self.environ.get(sync.client_secret_env)
        private_key = self.environ.get(sync.private_key_env)
        if not client_id:
            return f"salesforce: ${sync.client_id_env} is not set: no Salesforce sync"
        if not secret and not (private_key and sync.username):
            return (
                f"salesforce: neither ${sync.client_secret_env} (client credentials) nor "
                f"${sync.private_key_env} with sync.username (JWT bearer) is set: "
                "no Salesforce sync"
            )
        auth = SalesforceAuth(
            sync.login_url,
            client_id,
            client_secret=None if private_key and sync.username else secret,
            username=sync.username,
            private_key=private_key if sync.username else None,
        )
        session = ApiSession(
            lambda plain: request_token(plain, auth, now_micros() // 1_000_000), sleep
        )
        # The config's activity rules and reps' CRM ids apply, as in `leadsla import`.
        mapping = _crm_mapping(config_dir, sync.mapping).with_rules(rules)
        opened: list[SalesforceApi] = []

        def api() -> SalesforceApi:
            if not opened:
                opened.append(
                    SalesforceApi(
                        session,
                        api_version=sync.api_version,
                        bulk_poll_seconds=sync.bulk_poll_seconds,
                    )
                )
            return opened[0]

        fields = (*LEAD_FIELDS, *sync.lead_fields)
        writeback = settings.writeback
        return CrmJob(
            "salesforce",
            sync.every.micros(),
            sync.settle_seconds,
            lambda window, progress: pull_window(
                api(), mapping, window, lead_fields=fields, progress=progress
            ),
            writer=None
            if writeback is None
            else lambda shown: write_sla(
                api(), shown, due_field=writeback.due_field, state_field=writeback.state_field
            ),
            policy=None if writeback is None else writeback.policy,
        )

    def _hubspot_job(
        self, setup: Config, rules: Rulebook, config_dir: Path, sleep: Callable[[float], None]
    ) -> CrmJob | str:
        from leadsla.connectors import hubspot_api
        from leadsla.service.sync import CrmJob

        settings = setup.connectors.hubspot
        sync = settings.sync
        assert sync is not None
        token = self.environ.get(sync.token_env)
        if not token:
            return f"hubspot: ${sync.token_env} is not set: no HubSpot sync"
        client = hubspot_api.hubspot_client(token, base_url=sync.base_url, sleep=sleep)
        mapping = _crm_mapping(config_dir, sync.mapping).with_rules(rules)
        writeback = settings.writeback
        return CrmJob(
            "hubspot",
            sync.every.micros(),
            sync.settle_seconds,
            lambda window, progress: hubspot_api.pull_window(
                client, mapping, window, progress=progress
            ),
            writer=None
            if writeback is None
            else lambda shown: hubspot_api.write_sla(
                client,
                shown,
                due_property=writeback.due_property,
                state_property=writeback.state_property,
            ),
            policy=None if writeback is None else writeback.policy,
        )


def _crm_mapping(config_dir: Path, name: str | None) -> ImportMapping:
    """The import mapping a CRM's sync names (relative to the config's folder), or the
    built-in defaults."""
    from leadsla.connectors.mapping import ImportMapping, load_mapping

    if name is None:
        return ImportMapping()
    path = config_dir / name
    return load_mapping(path.read_text(encoding="utf-8"), str(path))
