"""The bulk reader of ``YYYY-MM-DDTHH:MM:SSZ`` against the careful ``parse_instant``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsla.core.events import InstantError, parse_instant
from leadsla.core.utc_text import BLOCK_ROWS, parse_utc_seconds_rows

# Valid instants far apart (leap years, centuries, the epoch's both sides).
SAMPLES = [
    "2026-01-16T22:32:07Z",
    "2024-02-29T23:59:59Z",
    "2000-02-29T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-12-31T12:00:00Z",
]
# Each alone makes the block fall back to the careful reader.
REFUSED = [
    "2026-02-29T00:00:00Z",  # not a leap year
    "1900-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-00-01T00:00:00Z",
    "2026-01-00T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T00:60:00Z",
    "2026-01-01T00:00:60Z",
    "0000-01-01T00:00:00Z",
    "2026-01-01 00:00:00Z",
    "2026-01-01T00:00:00z",
    "2026/01-01T00:00:00Z",
    "2026-01-01T00:00:0aZ",
    "2026-01-01T00:00:00+",
    "2026-0\x001-01T00:00:0Z",
]


def chars(texts: list[str]) -> np.ndarray:
    return np.frombuffer("".join(texts).encode("latin-1"), dtype=np.uint8).reshape(-1, 20)


def careful(text: str) -> int | None:
    try:
        return parse_instant(text)
    except InstantError:
        return None


def test_valid_samples_equal_parse_instant() -> None:
    micros = parse_utc_seconds_rows(chars(SAMPLES))
    assert micros is not None
    assert micros.tolist() == [parse_instant(text) for text in SAMPLES]


@pytest.mark.parametrize("bad", REFUSED)
def test_one_refused_text_refuses_the_block(bad: str) -> None:
    assert len(bad) == 20
    assert parse_utc_seconds_rows(chars([*SAMPLES, bad])) is None


def test_rows_of_several_blocks() -> None:
    # Read a block at a time: values across block edges, and a bad text in the last block.
    count = 2 * BLOCK_ROWS + 3
    texts = (SAMPLES * (count // len(SAMPLES) + 1))[:count]
    micros = parse_utc_seconds_rows(chars(texts))
    assert micros is not None
    expected = [parse_instant(text) for text in SAMPLES]
    assert micros.tolist() == (expected * (count // len(SAMPLES) + 1))[:count]
    assert parse_utc_seconds_rows(chars([*texts[:-1], REFUSED[0]])) is None


def test_empty_and_other_widths() -> None:
    assert parse_utc_seconds_rows(np.zeros((0, 20), dtype=np.uint8)) is not None
    assert parse_utc_seconds_rows(np.zeros((3, 19), dtype=np.uint8)) is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 9999),
            st.integers(0, 13),
            st.integers(0, 32),
            st.integers(0, 24),
            st.integers(0, 60),
            st.integers(0, 60),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_blocks_equal_parse_instant(parts: list[tuple[int, ...]]) -> None:
    texts = [f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}Z" for y, mo, d, h, mi, s in parts]
    expected = [careful(text) for text in texts]
    micros = parse_utc_seconds_rows(chars(texts))
    if micros is None:
        assert None in expected
    else:
        assert micros.tolist() == expected
