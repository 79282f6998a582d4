"""The pieces of the CRM sync that need no server: backoff, rate-limit answers, the token
request's form, SOQL windows, and the sync's config keys."""

from __future__ import annotations

import pytest

from leadsla.config import ConfigError, load_config_text
from leadsla.connectors.records import Window, utc_text
from leadsla.connectors.sfdc_api import Backoff, SalesforceAuth, is_rate_limited, token_form
from leadsla.connectors.sfdc_pull import count_soql, history_soql, lead_soql, task_soql
from leadsla.core.events import parse_instant

T0 = parse_instant("2026-03-02T14:00:00Z")
T1 = parse_instant("2026-03-02T14:05:00.750Z")


def test_backoff_honours_retry_after_else_doubles_up_to_its_ceiling() -> None:
    backoff = Backoff(first=1.0, longest=300.0)
    assert backoff.delay(0, "7") == 7.0
    assert backoff.delay(5, "0") == 0.0
    assert backoff.delay(0, "86400") == 300.0  # a day's limit is waited in steps
    assert [backoff.delay(n, None) for n in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff.delay(20, None) == 300.0
    # An HTTP date is not a number of seconds: backed off instead.
    assert backoff.delay(1, "Wed, 21 Oct 2026 07:28:00 GMT") == 2.0


def test_rate_limited_answers() -> None:
    assert is_rate_limited(429, b"")
    assert is_rate_limited(403, b'[{"errorCode":"REQUEST_LIMIT_EXCEEDED"}]')
    assert not is_rate_limited(403, b'[{"errorCode":"INSUFFICIENT_ACCESS"}]')
    assert not is_rate_limited(401, b'[{"errorCode":"INVALID_SESSION_ID"}]')


def test_token_forms_of_both_flows() -> None:
    secret = SalesforceAuth("https://acme.my.salesforce.com", "id", client_secret="s")
    assert token_form(secret, 0) == {
        "grant_type": "client_credentials",
        "client_id": "id",
        "client_secret": "s",
    }
    from crm_server import rsa_pair

    pem, public = rsa_pair()
    jwt_auth = SalesforceAuth("https://test.salesforce.com", "id", username="u@x", private_key=pem)
    form = token_form(jwt_auth, 1_000)
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    import jwt

    claims = jwt.decode(
        form["assertion"],
        public,
        algorithms=["RS256"],
        audience="https://test.salesforce.com",
        options={"verify_exp": False},
    )
    assert claims == {"iss": "id", "sub": "u@x", "aud": "https://test.salesforce.com", "exp": 1_180}


def test_soql_windows_are_half_open_in_whole_seconds() -> None:
    window = Window(T0, T1)
    assert utc_text(T1) == "2026-03-02T14:05:00Z"
    assert lead_soql(["Status"], window) == (
        "SELECT Id, CreatedDate, Status FROM Lead WHERE SystemModstamp > 2026-03-02T14:00:00Z "
        "AND SystemModstamp <= 2026-03-02T14:05:00Z"
    )
    assert task_soql(Window(None, T1)).endswith(
        "FROM Task WHERE SystemModstamp <= 2026-03-02T14:05:00Z"
    )
    assert history_soql(window, ["00Qa", "00Qb"]).endswith(
        "FROM LeadHistory WHERE LeadId IN ('00Qa', '00Qb') AND CreatedDate <= 2026-03-02T14:05:00Z"
    )
    assert count_soql(lead_soql(["Status"], Window(None, T1))) == (
        "SELECT COUNT() FROM Lead WHERE SystemModstamp <= 2026-03-02T14:05:00Z"
    )


BASE = """calendars:
  ny:
    timezone: America/New_York
    hours: {mon: ["09:00-17:00"]}
policies:
  follow_up:
    start: {status: [New]}
    stop: {status: [Contacted]}
    target: {default: 1 business hour}
"""


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "salesforce: {sync: {client_secret_env: 'sk-live-123!'}}",
            "connectors.salesforce.sync.client_secret_env",
        ),
        ("salesforce: {sync: {login_url: 'http://login.salesforce.com'}}", "is not an https://"),
        ("hubspot: {sync: {every: 2 business hours}}", "wall-clock time"),
        ("hubspot: {writeback: {policy: folow_up}}", 'did you mean "follow_up"'),
        ("salesforce: {writeback: {policy: follow_up, due_field: 'SLA Due'}}", "API name"),
    ],
)
def test_bad_sync_keys_are_refused_with_their_line(section: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(BASE + "connectors:\n  " + section + "\n")
    assert message in str(caught.value)
    line = BASE.count("\n") + 2  # the section's, below "connectors:"
    assert f"leadsla.yaml:{line}: connectors." in str(caught.value)


def test_sync_keys_have_defaults() -> None:
    config = load_config_text(BASE + "connectors:\n  salesforce: {sync: {}}\n")
    sync = config.connectors.salesforce.sync
    assert sync is not None
    assert (sync.login_url, sync.client_id_env, sync.settle_seconds) == (
        "https://login.salesforce.com",
        "LEADSLA_SALESFORCE_CLIENT_ID",
        60,
    )
    assert sync.every.micros() == 5 * 60 * 1_000_000
