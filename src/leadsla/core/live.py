"""A lead's clocks kept current as its events arrive one by one, in any order.

Events usually arrive in order and extend the lead's last instant or start a new
one; then only that instant is applied. A late event (earlier than the last
instant) or another row for the last instant changes history that was already
applied, so the lead is rebuilt from its whole history — with the same
:meth:`LeadClocks.apply`, so the answer is the one a full replay gives.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from leadsla.core.clock import Change, LeadClocks, Timer
from leadsla.core.policy import Rulebook


@dataclass(frozen=True, slots=True, order=True)
class Event:
    at: int
    sequence: int  # arrival order; breaks ties inside an instant like a file's line order
    field: str
    value: str | None


@dataclass(slots=True)
class LiveLead:
    lead_id: str
    history: list[Event] = field(default_factory=list)
    clocks: LeadClocks = field(init=False)
    replays: int = 0

    def __post_init__(self) -> None:
        self.clocks = LeadClocks(self.lead_id)

    def add(self, rules: Rulebook, at: int, field_name: str, value: str | None) -> list[Timer]:
        """Record one event and bring the clocks up to date; return the open timers."""
        sequence = self.history[-1].sequence + 1 if self.history else 0
        event = Event(at, sequence, field_name, value)
        last = self.clocks.last_at
        bisect.insort(self.history, event)
        if last is None or at > last:
            self.clocks.apply(rules, at, [(field_name, value)])
        else:
            self.rebuild(rules)
        return self.clocks.timers(rules)

    def rebuild(self, rules: Rulebook) -> None:
        """Replay the whole history into fresh clocks."""
        self.replays += 1
        clocks = LeadClocks(self.lead_id)
        pending: list[Change] = []
        pending_at = 0
        for event in self.history:
            if pending and event.at != pending_at:
                clocks.apply(rules, pending_at, pending)
                pending = []
            pending_at = event.at
            pending.append((event.field, event.value))
        if pending:
            clocks.apply(rules, pending_at, pending)
        self.clocks = clocks
