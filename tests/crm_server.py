"""A local Salesforce for the sync tests: a threaded HTTPS server on loopback answering the
REST API's documented shapes (``tests/fixtures/crm/``) from a :class:`crm_org.Org`.

What it serves: the OAuth 2.0 token endpoint (client credentials, and JWT bearer with
the assertion's RS256 signature checked), the query resource with ``nextRecordsUrl``
paging (the small SOQL the sync writes: a select list, ``FROM``, conditions joined by
``AND`` on date-times and ``LeadId IN``), ``SELECT COUNT()``, Bulk API 2.0 query jobs
(``UploadComplete`` → ``InProgress`` → ``JobComplete``, CSV result pages with
``Sforce-Locator``), and sObject Collections updates. Faults on demand: the next N
calls rate limited (429 with ``Retry-After``, or 403 ``REQUEST_LIMIT_EXCEEDED``), every
token issued so far expired.

simple-salesforce speaks only HTTPS, so the server has a self-signed certificate for
127.0.0.1 (made with ``cryptography``); clients trust it through ``verify=``.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import re
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from crm_org import Org
from leadsla.connectors.sfdc_api import csv_cell

FIXTURES = Path(__file__).parent / "fixtures" / "crm"
API = "/services/data/v62.0"
CLIENT_ID = "3MVG9-test-client"
CLIENT_SECRET = "test-secret"
JWT_USER = "integration@example.com"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _micros(text: str) -> int:
    text = text.replace("+0000", "+00:00").replace("Z", "+00:00")
    moment = dt.datetime.fromisoformat(text)
    return int(moment.timestamp() * 1_000_000)


_SELECT = re.compile(r"SELECT (?P<fields>.+?) FROM (?P<object>\w+)(?: WHERE (?P<where>.+))?$", re.S)
_COMPARE = re.compile(r"(\w+) (>|<=) (\S+)$")
_IN = re.compile(r"(\w+) IN \((.*)\)$")


def run_soql(
    records: dict[str, list[dict[str, Any]]], soql: str
) -> tuple[str, list[str], list[dict[str, Any]]]:
    """``(object, fields, matching records)`` of the sync's SOQL on a view of the org."""
    match = _SELECT.match(soql.strip())
    if match is None:
        raise ValueError(f"unsupported SOQL: {soql}")
    fields = [name.strip() for name in match["fields"].split(",")]
    rows = records[match["object"]]
    for condition in (match["where"] or "").split(" AND ") if match["where"] else []:
        compare = _COMPARE.match(condition.strip())
        listed = _IN.match(condition.strip())
        if compare is not None:
            column, op, literal = compare.groups()
            bound = _micros(literal)
            if op == ">":
                rows = [r for r in rows if _micros(r[column]) > bound]
            else:
                rows = [r for r in rows if _micros(r[column]) <= bound]
        elif listed is not None:
            column, values = listed.groups()
            wanted = {v.strip().strip("'") for v in values.split(",")}
            rows = [r for r in rows if r[column] in wanted]
        else:
            raise ValueError(f"unsupported condition: {condition}")
    return match["object"], fields, rows


class CrmState:
    """What the server holds and how it misbehaves; shared by its handler threads."""

    def __init__(self, org: Org, now: int, public_key: bytes | None = None) -> None:
        self.org = org
        self.now = now
        self.public_key = public_key
        self.page_size = 2000
        self.lock = threading.Lock()
        self.tokens: set[str] = set()
        self.issued = 0
        # One entry per call to come: "429" or "403" to refuse it, "" to answer it.
        self.limited: list[str] = []
        # Calls whose path has this text wait for release (a kill mid-sync).
        self.hold_on: str | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        self.retry_after = "0"
        self.cursors: dict[str, tuple[str, list[str], list[dict[str, Any]]]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.written: dict[str, dict[str, Any]] = {}  # record id -> fields written back
        self.refuse_ids: set[str] = set()
        self.fail_jobs = False  # Bulk API 2.0 jobs end Failed instead of JobComplete
        self.calls: list[str] = []
        self._view: tuple[int, dict[str, list[dict[str, Any]]]] | None = None

    def view(self) -> dict[str, list[dict[str, Any]]]:
        if self._view is None or self._view[0] != self.now:
            self._view = (self.now, self.org.view(self.now))
        return self._view[1]

    def issue_token(self) -> str:
        self.issued += 1
        token = f"00D5g000004ABCD!token{self.issued}"
        self.tokens.add(token)
        return token

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def limit_next(self, pattern: list[str], retry_after: str = "0") -> None:
        with self.lock:
            self.limited.extend(pattern)
            self.retry_after = retry_after


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing ---------------------------------------------------------------------

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(body, str):
            payload = body.encode()
            kind = "text/csv"
        else:
            payload = json.dumps(body).encode()
            kind = "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _guard(self) -> bool:
        """Rate limits and tokens: False when the call was answered with a refusal."""
        state = self.server.state
        with state.lock:
            state.calls.append(f"{self.command} {self.path}")
            kind = state.limited.pop(0) if state.limited else None
            hold = state.hold_on if state.hold_on and state.hold_on in self.path else None
        if hold is not None:
            state.held.set()
            state.release.wait(120)
        if kind == "429":
            self._send(429, fixture("sfdc_limit_exceeded.json"), {"Retry-After": state.retry_after})
            return False
        if kind == "403":
            self._send(403, fixture("sfdc_limit_exceeded.json"))
            return False
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        if token not in state.tokens:
            self._send(401, fixture("sfdc_invalid_session.json"))
            return False
        return True

    # -- verbs ------------------------------------------------------------------------

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        if path == "/services/oauth2/token":
            self._token(parse_qs(self._body().decode()))
            return
        if not self._guard():
            return
        if path == f"{API}/jobs/query":
            self._create_job(json.loads(self._body()))
            return
        self._send(404, [{"errorCode": "NOT_FOUND", "message": path}])

    def do_GET(self) -> None:
        if not self._guard():
            return
        url = urlparse(self.path)
        params = parse_qs(url.query)
        if url.path == f"{API}/query/":
            self._query(params["q"][0])
        elif url.path.startswith(f"{API}/query/"):
            self._more(url.path.rsplit("/", 1)[-1])
        elif (job := re.fullmatch(rf"{API}/jobs/query/(\w+)", url.path)) is not None:
            self._job_info(job[1])
        elif (job := re.fullmatch(rf"{API}/jobs/query/(\w+)/results", url.path)) is not None:
            self._job_results(job[1], params)
        else:
            self._send(404, [{"errorCode": "NOT_FOUND", "message": url.path}])

    def do_PATCH(self) -> None:
        if not self._guard():
            return
        if urlparse(self.path).path != f"{API}/composite/sobjects":
            self._send(404, [{"errorCode": "NOT_FOUND", "message": self.path}])
            return
        body = json.loads(self._body())
        state = self.server.state
        results = []
        with state.lock:
            for record in body["records"]:
                record_id = record["id"]
                if record_id in state.refuse_ids:
                    refused = copy.deepcopy(fixture("sfdc_collection_update.json")[1])
                    results.append(refused)
                    continue
                fields = {k: v for k, v in record.items() if k not in ("attributes", "id")}
                state.written.setdefault(record_id, {}).update(fields)
                results.append({"id": record_id, "success": True, "errors": []})
        self._send(200, results)

    # -- resources ----------------------------------------------------------------------

    def _token(self, form: dict[str, list[str]]) -> None:
        state = self.server.state
        grant = form.get("grant_type", [""])[0]
        ok = False
        if grant == "client_credentials":
            ok = form.get("client_id") == [CLIENT_ID] and form.get("client_secret") == [
                CLIENT_SECRET
            ]
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" and state.public_key:
            import jwt

            try:
                claims = jwt.decode(
                    form["assertion"][0],
                    state.public_key,
                    algorithms=["RS256"],
                    audience="https://login.salesforce.com",
                )
                ok = claims.get("iss") == CLIENT_ID and claims.get("sub") == JWT_USER
            except jwt.PyJWTError:
                ok = False
        if not ok:
            self._send(400, fixture("sfdc_token_refused.json"))
            return
        with state.lock:
            token = state.issue_token()
        answer = fixture("sfdc_token.json")
        answer["access_token"] = token
        answer["instance_url"] = self.server.base_url
        self._send(200, answer)

    def _query(self, soql: str) -> None:
        state = self.server.state
        if soql.startswith("SELECT COUNT() "):
            _, _, rows = run_soql(state.view(), soql.replace("COUNT()", "Id", 1))
            answer = fixture("sfdc_count.json")
            answer["totalSize"] = len(rows)
            self._send(200, answer)
            return
        name, fields, rows = run_soql(state.view(), soql)
        with state.lock:
            cursor = f"01gD0000002HU{len(state.cursors):06d}"
            state.cursors[cursor] = (name, fields, rows)
        self._page(cursor, 0)

    def _more(self, locator: str) -> None:
        cursor, _, offset = locator.partition("-")
        self._page(cursor, int(offset))

    def _page(self, cursor: str, offset: int) -> None:
        state = self.server.state
        name, fields, rows = state.cursors[cursor]
        chunk = rows[offset : offset + state.page_size]
        answer = fixture("sfdc_query_page.json")
        answer["totalSize"] = len(rows)
        answer["records"] = [
            {
                "attributes": {"type": name, "url": f"{API}/sobjects/{name}/{row['Id']}"},
                **{f: row.get(f) for f in fields},
            }
            for row in chunk
        ]
        following = offset + state.page_size
        answer["done"] = following >= len(rows)
        if answer["done"]:
            answer.pop("nextRecordsUrl")
        else:
            answer["nextRecordsUrl"] = f"{API}/query/{cursor}-{following}"
        self._send(200, answer)

    def _create_job(self, body: dict[str, Any]) -> None:
        state = self.server.state
        name, fields, rows = run_soql(state.view(), body["query"])
        with state.lock:
            job_id = f"750R0000000z{len(state.jobs):06d}"
            info = fixture("sfdc_bulk_job.json")
            info.update(id=job_id, object=name)
            state.jobs[job_id] = {"info": info, "fields": fields, "rows": rows, "polls": 0}
        self._send(200, info)

    def _job_info(self, job_id: str) -> None:
        job = self.server.state.jobs[job_id]
        job["polls"] += 1
        if job["polls"] == 1:
            info = dict(job["info"], state="InProgress")
        elif self.server.state.fail_jobs:
            info = dict(job["info"], state="Failed")
            info["errorMessage"] = "INVALID_FIELD: No such column 'Segment__c' on entity 'Lead'"
        else:
            info = fixture("sfdc_bulk_job_complete.json")
            info.update(id=job_id, object=job["info"]["object"])
            info["numberRecordsProcessed"] = len(job["rows"])
        self._send(200, info)

    def _job_results(self, job_id: str, params: dict[str, list[str]]) -> None:
        job = self.server.state.jobs[job_id]
        size = int(params.get("maxRecords", ["50000"])[0])
        offset = int(params.get("locator", ["0"])[0] or 0)
        rows = job["rows"][offset : offset + size]
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(job["fields"])
        for row in rows:
            writer.writerow([csv_cell(row.get(f)) for f in job["fields"]])
        following = offset + size
        locator = str(following) if following < len(job["rows"]) else "null"
        self._send(
            200,
            out.getvalue(),
            {"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(len(rows))},
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: CrmState
    base_url: str


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1, valid for a day."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "server.pem", folder / "server.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def rsa_pair() -> tuple[str, bytes]:
    """A connected app's private key (PEM text) and the public key Salesforce holds."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@contextmanager
def running_salesforce(state: CrmState, folder: Path) -> Iterator[tuple[str, Path]]:
    """The server on a free loopback port: ``(base URL, certificate to trust)``."""
    cert, key = self_signed(folder)
    server = _Server(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.state = state
    server.base_url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.base_url, cert
    finally:
        server.shutdown()
        server.server_close()
