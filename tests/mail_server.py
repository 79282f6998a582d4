"""A real SMTP server on loopback for the tests that send email (aiosmtpd).

``Inbox`` keeps every message the server accepts, parsed; ``running_smtp`` starts a
server on a free port of 127.0.0.1 and stops it afterwards. The ``smtp`` fixture of
``conftest.py`` hands both to a test.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

from aiosmtpd.controller import Controller


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.recipients: list[str] = []  # every envelope recipient (RCPT TO), in order

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=email_policy.default))
        self.recipients.extend(envelope.rcpt_tos)
        return "250 OK"

    def subjects(self) -> list[tuple[str, str]]:
        return sorted((m["To"], m["Subject"]) for m in self.messages)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
