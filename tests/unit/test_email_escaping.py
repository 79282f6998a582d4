"""Issue #20: whatever a lead, a config or a template holds, an email's HTML is escaped,
its links are encoded and its headers stay what they are.

Every built-in template is rendered with hostile text in every variable it uses (the
variables are read from the templates themselves, so a variable added later is covered
or fails here); an example user template too, whatever its file names; and whole
emails are built from a hostile lead, policy, step message and team, then parsed back
as a mail client would.
"""

from __future__ import annotations

import html
import re
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pytest
from jinja2 import Environment, meta

from leadsla.config import build_rulebook, load_config
from leadsla.core.policy import Rulebook
from leadsla.notify.delivery import (
    Outgoing,
    failure_reason,
    header_text,
    lead_link,
    mail_for,
    message_for,
    recipient_address,
    slack_escaped,
    subject,
)
from leadsla.notify.rendering import Templates, template_environment, url_segment

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
BUILT_IN = ROOT / "src" / "leadsla" / "notify" / "templates"

# Markup, both quotes, an ampersand, a javascript: URL, CR/LF with a header after it,
# and the other line breaks the email package refuses in a header.
HOSTILE = (
    "\"><img src=x onerror=alert(1)>'&amp;<script>alert('x')</script>"
    " javascript:alert(document.cookie)\r\nBcc: evil@example.com\n\x0bX-Evil: 1\u2028"
)
BASE_URL = "https://sla.example.com/"


NUMBERS = frozenset({"long_burn", "short_burn", "budget_left", "episode"})


def hostile_value(name: str) -> Any:
    """A hostile value for each variable the built-in templates use."""
    if name in ("breached", "at_risk"):
        lead = {key: HOSTILE for key in ("lead_id", "owner", "grade", "due_at")}
        return [lead, dict(lead)]
    if name == "kind":  # both branches of the templates: this one is the escalation
        return "escalation"
    if name in NUMBERS:  # an objective alert's figures are numbers the worker computed
        return 2.5
    return HOSTILE


def variables(name: str) -> set[str]:
    source = (BUILT_IN / name).read_text(encoding="utf-8")
    return meta.find_undeclared_variables(Environment().parse(source))


def assert_escaped_html(body: str) -> None:
    assert "<img" not in body and "<script" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    assert "&#34;&gt;" in body and "&#39;" in body  # both quotes
    assert "&amp;amp;" in body  # the ampersand itself
    # The only tags are the template's own.
    tags = set(re.findall(r"<\s*([a-zA-Z!/][a-zA-Z0-9]*)", body))
    assert tags <= {"!doctype", "html", "body", "p", "/p", "strong", "/strong", "a", "/a",
                    "h1", "/h1", "h2", "/h2", "ul", "/ul", "li", "/li", "/body", "/html",
                    "span", "/span"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(path.name for path in BUILT_IN.glob("*.j2")))
def test_every_built_in_template_escapes_every_variable_in_html(name: str) -> None:
    context = {variable: hostile_value(variable) for variable in variables(name)}
    assert context, name
    templates = Templates()
    if ".html" in name:
        body = templates.html(name, context)
        assert_escaped_html(body)
        if "lead_url" in context:
            # A link printed escaped: its quote cannot end the attribute.
            assert 'href="&#34;&gt;&lt;img' in body
    else:
        # Plain text is written as it is: escaping it would show "&lt;" to the reader.
        body = templates.text(name, context)
        assert "&lt;" not in body and "&#34;" not in body
        assert "<img src=x onerror=alert(1)>" in body


def test_the_built_in_templates_are_the_ones_tested() -> None:
    # The emails use these six; another template would need a test of its own role.
    assert sorted(path.name for path in BUILT_IN.glob("*")) == [
        "digest.html.j2",
        "digest.txt.j2",
        "notification.html.j2",
        "notification.txt.j2",
        "objective.html.j2",
        "objective.txt.j2",
    ]


def test_a_user_template_is_escaped_whatever_its_file_names(tmp_path: Path) -> None:
    own = tmp_path / "templates"
    own.mkdir()
    # The HTML body includes a partial with no .html in its name at all.
    (own / "notification.html.j2").write_text(
        '<p>{{ lead_id }}: {{ message }}</p>{% include "signature" %}'
        '<a href="https://crm.example.com/lead/{{ lead_id | url_segment }}">CRM</a>\n',
        encoding="utf-8",
    )
    (own / "signature").write_text("<footer>{{ recipient }}</footer>\n", encoding="utf-8")
    (own / "notification.txt.j2").write_text(
        '{{ lead_id }} {% include "signature" %}', encoding="utf-8"
    )
    templates = Templates(own)
    context = {"lead_id": HOSTILE, "message": HOSTILE, "recipient": HOSTILE}
    body = templates.html("notification.html.j2", context)
    assert "<img" not in body and "<script" not in body
    assert body.count("&lt;img src=x onerror=alert(1)&gt;") == 3  # the partial's too
    assert "<footer>" in body  # the template's own markup stays
    href = re.search(r'href="([^"]*)"', body)
    assert href is not None
    assert href.group(1).startswith("https://crm.example.com/lead/%22%3E%3Cimg")
    assert unquote(html.unescape(href.group(1)).rsplit("/", 1)[1]) == HOSTILE
    # The same partial in the plain-text body is not escaped.
    text = templates.text("notification.txt.j2", context)
    assert text == f"{HOSTILE} <footer>{HOSTILE}</footer>\n"


def test_the_environment_decides_escaping_not_the_name() -> None:
    from jinja2 import DictLoader

    loader = DictLoader({name: "{{ x }}" for name in ("a.html.j2", "a.txt", "a.html", "a")})
    escaped = template_environment(loader, html=True)
    plain = template_environment(loader, html=False)
    for name in ("a.html.j2", "a.txt", "a.html", "a"):
        assert escaped.get_template(name).render(x="<b>") == "&lt;b&gt;"
        assert plain.get_template(name).render(x="<b>") == "<b>"
    assert escaped.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"


def hostile_rules(tmp_path: Path) -> Rulebook:
    """The example config with a hostile policy name, step message and team name."""
    quoted = HOSTILE.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r")
    quoted = quoted.replace("\n", "\\n").replace("\x0b", "\\v").replace("\u2028", "\\L")
    text = CONFIG.read_text(encoding="utf-8")
    text = text.replace("  follow_up:\n", f'  "follow_up {quoted}":\n')
    text = text.replace('"This lead is getting stale."', f'"{quoted}"')
    path = tmp_path / "leadsla.yaml"
    path.write_text(text, encoding="utf-8")
    rules = build_rulebook(load_config(path))
    assert rules.policies[0].name == f"follow_up {HOSTILE}"
    return rules


def hostile_row(rules: Rulebook, **changes: Any) -> Any:
    row = {
        "id": 1,
        "lead_id": f"L1 {HOSTILE}",
        "policy": rules.policies[0].name,
        "cycle": 1,
        "kind": "escalation",
        "step": 1,
        "recipient": "sam@example.com",
        "channel": "email",
        "fire_at": 1_772_460_000_000_000,
        "deliver_at": 1_772_460_000_000_000,
        "attempts": 0,
    }
    return SimpleNamespace(**{**row, **changes})


def as_received(message: EmailMessage | Outgoing) -> Any:
    """The email as the server gets it, parsed as a mail client parses it."""
    data = message.data if isinstance(message, Outgoing) else message.as_bytes()
    return message_from_bytes(data, policy=email_policy.default)


@pytest.mark.parametrize("build", [message_for, mail_for])
@pytest.mark.parametrize("kind", ["escalation", "warning"])
def test_a_hostile_lead_and_config_make_an_intact_escaped_email(
    tmp_path: Path, build: Any, kind: str
) -> None:
    rules = hostile_rules(tmp_path)
    row = hostile_row(rules, kind=kind, step=0 if kind == "warning" else 1)
    received = as_received(build(rules, row, "leadsla@example.com", base_url=BASE_URL))
    # The headers are the three we wrote, once each: nothing added, nothing broken.
    assert sorted(received.keys()) == sorted(
        ["From", "To", "Subject", "MIME-Version", "Content-Type"]
    )
    assert received["To"] == "sam@example.com" and received["Bcc"] is None
    assert received["X-Evil"] is None
    title = received["Subject"]
    assert "\r" not in title and "\n" not in title and "\x0b" not in title
    what = "warning" if kind == "warning" else "escalation 1 of 3"
    assert title == header_text(f"[leadsla] L1 {HOSTILE} follow_up {HOSTILE}: {what}")
    assert title.startswith('[leadsla] L1 "><img src=x onerror=alert(1)>')
    # HTML: escaped, and the link's path is the lead id, percent-encoded whole.
    body = received.get_body(("html",)).get_content()
    assert_escaped_html(body)
    (href,) = re.findall(r'href="([^"]*)"', body)
    assert href.startswith("https://sla.example.com/leads/L1%20%22%3E%3Cimg")
    assert re.fullmatch(r"[A-Za-z0-9:/._~%-]+", href), href
    assert unquote(href.removeprefix("https://sla.example.com/leads/")) == row.lead_id
    # Plain text: the values as they are (the email package ends its lines with \n).
    text = received.get_body(("plain",)).get_content()
    assert "<img src=x onerror=alert(1)>" in text and "&lt;" not in text
    if kind == "escalation":
        assert "<script>alert('x')</script>" in text  # the step's message


def test_a_recipient_with_a_line_break_is_refused_not_mended(tmp_path: Path) -> None:
    rules = hostile_rules(tmp_path)
    row = hostile_row(rules, recipient="sam@example.com\r\nBcc: evil@example.com")
    with pytest.raises(ValueError, match="holds a control character or line break"):
        mail_for(rules, row, "leadsla@example.com")
    assert recipient_address("sam@example.com") == "sam@example.com"


@pytest.mark.parametrize(
    "character", ["\r", "\n", "\r\n", "\x00", "\t", "\x0b", "\x0c", "\x1c", "\x7f", "\x85",
                  "\u2028", "\u2029"],
)  # fmt: skip
def test_subjects_are_one_header_line_whatever_the_lead_id_holds(character: str) -> None:
    title = subject(f"L1{character}Bcc: x@example.com", "follow_up", "warning", 0, 3)
    assert title == "[leadsla] L1 Bcc: x@example.com follow_up: warning"
    message = EmailMessage()
    message["Subject"] = title  # the email package would refuse a line break
    assert len(title.splitlines()) == 1


def test_lead_links_encode_the_whole_id() -> None:
    assert lead_link(None, "L1") is None
    assert lead_link("https://sla.example.com/", "L1") == "https://sla.example.com/leads/L1"
    assert lead_link("https://sla.example.com", "a/b?c#d e") == (
        "https://sla.example.com/leads/a%2Fb%3Fc%23d%20e"
    )
    assert url_segment("javascript:alert(1)") == "javascript%3Aalert%281%29"


def test_slack_text_is_escaped() -> None:
    assert (
        slack_escaped("<!channel> & <https://x|y>") == "&lt;!channel&gt; &amp; &lt;https://x|y&gt;"
    )


def test_a_failure_says_what_and_where_on_one_line(tmp_path: Path) -> None:
    own = tmp_path / "templates"
    own.mkdir()
    (own / "notification.html.j2").write_text(
        "<p>{{ lead_id }}</p>\n<p>{{ lead_id.split('-')[1].upper() }}</p>\n", encoding="utf-8"
    )
    with pytest.raises(Exception) as caught:
        Templates(own).html("notification.html.j2", {"lead_id": "L7"})
    reason = failure_reason(caught.value)
    assert reason.startswith("UndefinedError: ")
    assert reason.endswith(f"(at {own / 'notification.html.j2'}, line 2)")
    assert failure_reason(ValueError("a\r\nb")) == "ValueError: a b"
    assert failure_reason(OSError("connection refused")) == "connection refused"
    assert failure_reason(KeyError("east")) == "KeyError: 'east'"
    assert len(failure_reason(ValueError("x" * 5000))) == 1000


def test_the_direct_bytes_carry_the_mended_subject() -> None:
    # An ASCII email without folding is written as bytes directly, not by the email
    # package (delivery._plain_mail): the mended subject must reach that path too.
    rules = build_rulebook(load_config(CONFIG))
    row = hostile_row(rules, lead_id="L1\r\nBcc: evil@example.com", policy="follow_up")
    built = mail_for(rules, row, "leadsla@example.com", base_url=BASE_URL)
    assert isinstance(built, Outgoing)
    received = as_received(built)
    assert received["Subject"] == "[leadsla] L1 Bcc: evil@example.com follow_up: escalation 1 of 3"
    assert received["Bcc"] is None and received["To"] == "sam@example.com"
    html_body = received.get_body(("html",)).get_content()
    assert 'href="https://sla.example.com/leads/L1%0D%0ABcc%3A%20evil%40example.com"' in html_body
