"""The emails the worker writes directly are the bytes smtplib sends for the EmailMessage."""

from __future__ import annotations

import io
import re
from email.generator import BytesGenerator

import pytest

from leadsla.notify.delivery import _email_message, _plain_mail

BOUNDARY = re.compile(rb"={15}\d{19}==")

TEXT = "Lead L1 has passed escalation step 2 of 3 of its follow_up clock.\n\nCall.\n-- \nleadsla\n"
LONG = "<p>Lead <strong>L1</strong> has passed escalation step 2 of 3 of its follow_up clock.</p>"
HTML = '<!doctype html>\n<html lang="en"><body>\n<p>Lead <strong>L1</strong></p>\n</body></html>'


def as_smtplib_sends(sender: str, recipient: str, title: str, text: str, html: str) -> bytes:
    out = io.BytesIO()
    BytesGenerator(out).flatten(
        _email_message(sender, recipient, title, text, html), linesep="\r\n"
    )
    return out.getvalue()


@pytest.mark.parametrize(
    ("sender", "recipient", "title", "text", "html"),
    [
        (
            "leadsla@example.com",
            "sam@example.com",
            "[leadsla] L1 follow_up: escalation 2 of 3",
            TEXT,
            HTML,
        ),
        ("a.b+c@mail.example.co.uk", "x_y-z@h", "[leadsla] L00042 p: warning", "one line", ""),
        ("s@e.com", "r@e.com", "[leadsla] x", "a\r\nb\rc\n\nFrom here\n.\n", "x" * 78),
        ("s@e.com", "r@e.com", "[leadsla] " + "y" * 59, "\n\n", "<p>\n"),
        ("s@e.com", "r@e.com", "[leadsla] x", TEXT, HTML + LONG + "\n=3D \tFrom x\n"),
        (
            "s@e.com",
            "r@e.com",
            "[leadsla] x",
            "\n".join([LONG] * 12),
            ("From " + LONG + "\r\n") * 11,
        ),
        ("s@e.com", "r@e.com", "[leadsla] x", "a" * 79, "b"),
    ],
)
def test_direct_bytes_equal_the_email_packages(
    sender: str, recipient: str, title: str, text: str, html: str
) -> None:
    direct = _plain_mail(sender, recipient, title, text, html)
    assert direct is not None
    assert direct.sender == sender and direct.recipients == (recipient,)
    expected = as_smtplib_sends(sender, recipient, title, text, html)
    assert BOUNDARY.sub(b"B", direct.data) == BOUNDARY.sub(b"B", expected)


@pytest.mark.parametrize(
    ("sender", "recipient", "title", "text", "html"),
    [
        ("Leadsla <s@e.com>", "r@e.com", "[leadsla] x", "t", "h"),
        ("s@e.com", "r@e.com", "[leadsla] Zoë", "t", "h"),
        ("s@e.com", "r@e.com", "[leadsla]  two  spaces", "t", "h"),
        ("s@e.com", "r@e.com", "[leadsla] =?utf-8?q?x?=", "t", "h"),
        ("s@e.com", "r@e.com", "[leadsla] " + "y" * 60, "t", "h"),
        ("s@e.com", "r@e.com", "[leadsla] x", "café", "h"),
        ("s@e.com", "r@e.com", "[leadsla] x", "t", "\x01\x02\x03\x04\x05\x06\x07" * 12),
        ("s@e.com", "r@e.com", "[leadsla] x\r\nBcc: a@b", "t", "h"),
    ],
)
def test_anything_the_email_package_would_encode_or_fold_goes_through_it(
    sender: str, recipient: str, title: str, text: str, html: str
) -> None:
    assert _plain_mail(sender, recipient, title, text, html) is None
