"""The Salesforce REST API, through ``simple-salesforce``: sign-in, SOQL, Bulk API 2.0 and
the sObject Collections update used by write-back.

Why the pieces are as they are:

- ``simple-salesforce`` makes the calls (query with ``nextRecordsUrl`` paging, Bulk API 2.0
  query jobs with ``Sforce-Locator`` paging, REST resources). It signs in only against
  ``https://<domain>.salesforce.com``, so the OAuth 2.0 token request (JWT bearer or
  client credentials, both server-to-server flows of a connected app) is made here
  against the configured login URL (a My Domain, a sandbox), and the library is handed
  the token and instance URL.
- Every call goes through one :class:`ApiSession` (a ``requests.Session``), which is
  where rate limits and expired tokens are dealt with for all of the library's calls,
  Bulk API 2.0's included (the library retries neither): HTTP 429, and 403
  ``REQUEST_LIMIT_EXCEEDED`` (the org's daily API limit, which Salesforce reports as 403),
  wait ``Retry-After`` when the server sends it, else back off exponentially; a 401
  ``INVALID_SESSION_ID`` (the token expired or was revoked) signs in again once and
  repeats the call.

Nothing here reads the environment or the clock: secrets come in :class:`SalesforceAuth`,
the time (for the JWT's expiry) and the sleep from the caller.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from leadsla.connectors.records import CrmApiError, utc_text
from leadsla.store.sync import Written

# A connected app's token lasts hours; a JWT assertion needs only to outlive its request.
JWT_LIFETIME_SECONDS = 180
DEFAULT_API_VERSION = "62.0"
# sObject Collections take at most 200 records per request.
COLLECTION_SIZE = 200


class SalesforceApiError(CrmApiError):
    """A Salesforce call that failed for good: sign-in refused, limits never lifted, a
    malformed query; the message names the call and Salesforce's own error code."""


@dataclass(frozen=True)
class SalesforceAuth:
    """A connected app's credentials: ``client_secret`` for the client credentials flow,
    or ``username`` and ``private_key`` (PEM) for the JWT bearer flow."""

    login_url: str  # https://login.salesforce.com, https://test.salesforce.com, a My Domain
    client_id: str
    client_secret: str | None = None
    username: str | None = None
    private_key: str | None = None

    @property
    def flow(self) -> str:
        return "jwt-bearer" if self.private_key else "client-credentials"


@dataclass(frozen=True)
class AccessToken:
    value: str
    instance_url: str


def token_form(auth: SalesforceAuth, now_seconds: int) -> dict[str, str]:
    """The form of the token request for the auth's flow."""
    if auth.private_key:
        import jwt  # PyJWT, which simple-salesforce depends on

        if not auth.username:
            raise SalesforceApiError("the JWT bearer flow needs the username to act as")
        claims = {
            "iss": auth.client_id,
            "sub": auth.username,
            # The audience is the login host, not the My Domain the token is asked from.
            "aud": _audience(auth.login_url),
            "exp": now_seconds + JWT_LIFETIME_SECONDS,
        }
        assertion = jwt.encode(claims, auth.private_key, algorithm="RS256")
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    if not auth.client_secret:
        raise SalesforceApiError(
            "no client secret and no private key: the connected app's credentials are missing"
        )
    return {
        "grant_type": "client_credentials",
        "client_id": auth.client_id,
        "client_secret": auth.client_secret,
    }


def _audience(login_url: str) -> str:
    return "https://test.salesforce.com" if "test." in login_url else "https://login.salesforce.com"


def request_token(session: requests.Session, auth: SalesforceAuth, now_seconds: int) -> AccessToken:
    """An access token from the login URL's token endpoint; :class:`SalesforceApiError`
    with Salesforce's ``error_description`` when refused."""
    url = auth.login_url.rstrip("/") + "/services/oauth2/token"
    # verify passed per request: requests lets REQUESTS_CA_BUNDLE override a session's own.
    response = session.post(
        url, data=token_form(auth, now_seconds), timeout=60, verify=session.verify
    )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        reason = body.get("error_description") or body.get("error") or response.text[:200]
        raise SalesforceApiError(
            f"Salesforce sign-in ({auth.flow}) refused: HTTP {response.status_code}: {reason}"
        )
    return AccessToken(str(body["access_token"]), str(body["instance_url"]).rstrip("/"))


@dataclass
class Backoff:
    """How long to wait on a rate limit: ``Retry-After`` when sent, else ``first`` doubled
    each attempt up to ``longest``; give up after ``attempts`` limited answers in a row."""

    attempts: int = 12
    first: float = 1.0
    longest: float = 300.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.longest)
            except ValueError:
                pass  # an HTTP date: rare from these APIs; fall back to backing off
        return float(min(self.first * 2**attempt, self.longest))


def is_rate_limited(status: int, body: bytes) -> bool:
    """Whether a response says "too many requests": 429, or 403 REQUEST_LIMIT_EXCEEDED."""
    return status == 429 or (status == 403 and b"REQUEST_LIMIT_EXCEEDED" in body)


class ApiSession(requests.Session):
    """A session that carries the current token on every request, waits out rate limits
    and signs in again when the token has expired (see the module docstring)."""

    def __init__(
        self,
        sign_in: Callable[[requests.Session], AccessToken],
        sleep: Callable[[float], None],
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__()
        self._sign_in = sign_in
        self._sleep = sleep
        self.backoff = backoff or Backoff()
        self.token: AccessToken | None = None
        self.waits: list[float] = []  # each rate-limit wait, for the caller's summary
        self.sign_ins = 0

    def current_token(self) -> AccessToken:
        if self.token is None:
            self.refresh()
        assert self.token is not None
        return self.token

    def refresh(self) -> None:
        # The token request itself goes out without our token and without retries.
        plain = requests.Session()
        plain.verify = self.verify
        plain.cert = self.cert
        try:
            self.token = self._sign_in(plain)
        finally:
            plain.close()
        self.sign_ins += 1

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        limited = 0
        refreshed = False
        while True:
            token = self.current_token()
            headers = dict(kwargs.pop("headers", None) or {})
            headers["Authorization"] = f"Bearer {token.value}"
            kwargs["headers"] = headers
            kwargs.setdefault("timeout", 300)
            kwargs.setdefault("verify", self.verify)
            response = super().request(method, url, *args, **kwargs)
            if is_rate_limited(response.status_code, response.content):
                if limited >= self.backoff.attempts:
                    return response  # the library raises with Salesforce's message
                wait = self.backoff.delay(limited, response.headers.get("Retry-After"))
                limited += 1
                self.waits.append(wait)
                self._sleep(wait)
                continue
            if (
                response.status_code == 401
                and not refreshed
                and b"INVALID_SESSION_ID" in response.content
            ):
                refreshed = True
                self.refresh()
                continue
            return response


def csv_cell(value: object) -> str:
    """A JSON value of a record as Data Loader and Bulk API 2.0 write it in CSV."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def record_rows(records: Sequence[Mapping[str, Any]], fields: Sequence[str]) -> Iterator[list[str]]:
    """The records as CSV rows of ``fields``, the way a Data Loader export holds them."""
    for record in records:
        yield [csv_cell(record.get(name)) for name in fields]


class SalesforceApi:
    """The calls the sync makes, on one org."""

    def __init__(
        self,
        session: ApiSession,
        *,
        api_version: str = DEFAULT_API_VERSION,
        bulk_poll_seconds: float = 5.0,
        bulk_page_records: int = 50_000,
    ) -> None:
        from simple_salesforce.api import Salesforce

        token = session.current_token()
        self._session = session
        self.bulk_poll_seconds = bulk_poll_seconds
        self.bulk_page_records = bulk_page_records
        # The library keeps the token it is given in its headers; ApiSession replaces that
        # header on every call, so a token refreshed later is what goes out.
        self.client = Salesforce(
            instance_url=token.instance_url,
            session_id=token.value,
            version=api_version,
            session=session,
        )

    def query_pages(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        """The records of a SOQL query, a page (up to 2,000) at a time: the query endpoint
        and then each ``nextRecordsUrl`` until ``done``."""
        from simple_salesforce.exceptions import SalesforceError

        try:
            result = self.client.query(soql)
            while True:
                yield list(result.get("records", []))
                if result.get("done", True):
                    return
                result = self.client.query_more(result["nextRecordsUrl"], identifier_is_url=True)
        except SalesforceError as exc:
            raise SalesforceApiError(f"SOQL query failed: {_error_text(exc)}") from None

    def count(self, soql: str) -> int:
        """The ``totalSize`` of a ``SELECT COUNT()`` query."""
        from simple_salesforce.exceptions import SalesforceError

        try:
            return int(self.client.query(soql)["totalSize"])
        except SalesforceError as exc:
            raise SalesforceApiError(f"SOQL count failed: {_error_text(exc)}") from None

    def bulk_pages(self, object_name: str, soql: str) -> Iterator[str]:
        """The CSV pages of a Bulk API 2.0 query job (created, polled until JobComplete,
        then read page by page with ``Sforce-Locator``)."""
        from simple_salesforce.exceptions import SalesforceError, SalesforceOperationError

        handler = getattr(self.client.bulk2, object_name)
        try:
            for page in handler.query(
                soql, max_records=self.bulk_page_records, wait=self.bulk_poll_seconds
            ):
                yield str(page)
        except SalesforceOperationError as exc:
            raise SalesforceApiError(f"Bulk API 2.0 query on {object_name}: {exc}") from None
        except SalesforceError as exc:
            raise SalesforceApiError(
                f"Bulk API 2.0 query on {object_name}: {_error_text(exc)}"
            ) from None

    def update_records(
        self, object_name: str, updates: Sequence[Mapping[str, Any]]
    ) -> list[tuple[str, str | None]]:
        """Update records through sObject Collections (PATCH composite/sobjects), 200 at a
        time; ``(id, error or None)`` per record, in order. ``allOrNone`` is off: one
        record refused (deleted, locked) does not hold up the others."""
        from simple_salesforce.exceptions import SalesforceError

        outcome: list[tuple[str, str | None]] = []
        for start in range(0, len(updates), COLLECTION_SIZE):
            batch = updates[start : start + COLLECTION_SIZE]
            body = {
                "allOrNone": False,
                "records": [{"attributes": {"type": object_name}, **record} for record in batch],
            }
            try:
                results = self.client.restful("composite/sobjects", method="PATCH", json=body)
            except SalesforceError as exc:
                raise SalesforceApiError(
                    f"sObject Collections update: {_error_text(exc)}"
                ) from None
            for record, result in zip(batch, results or [], strict=False):
                if result.get("success"):
                    outcome.append((str(record["id"]), None))
                else:
                    errors = result.get("errors") or [{}]
                    first = errors[0]
                    outcome.append(
                        (
                            str(record["id"]),
                            f"{first.get('statusCode', 'ERROR')}: {first.get('message', '')}",
                        )
                    )
        return outcome


def csv_page_rows(page: str) -> tuple[list[str], list[list[str]]]:
    """A Bulk API 2.0 result page: its header and rows."""
    reader = csv.reader(io.StringIO(page))
    header = next(reader, [])
    return header, list(reader)


def _error_text(exc: Exception) -> str:
    content = getattr(exc, "content", None)
    status = getattr(exc, "status", "")
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return f"HTTP {status}: {first.get('errorCode', '')}: {first.get('message', '')}"
    return f"HTTP {status}: {content if content is not None else exc}"


def write_sla(
    api: SalesforceApi, shown: Sequence[Written], *, due_field: str, state_field: str
) -> list[tuple[str, str | None]]:
    """Write each lead's SLA due instant and state to its Lead record's fields (empty
    fields for a lead without a clock of the policy)."""
    updates = [
        {
            "id": w.lead_id,
            due_field: None if w.due_at is None else utc_text(w.due_at),
            state_field: w.state,
        }
        for w in shown
    ]
    return api.update_records("Lead", updates)
