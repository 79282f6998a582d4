"""How deep a JSON body nests, counted on its bytes before it is parsed."""

from __future__ import annotations

import json

import pytest
from fastapi import HTTPException
from hypothesis import given
from hypothesis import strategies as st

from leadsla.api.body import MAX_NESTING, nests_deeper_than, parsed_json

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\u00e9\u2603'),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=20,
)


def depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@given(JSON_VALUES, st.integers(min_value=0, max_value=6))
def test_the_count_on_bytes_is_the_depth_of_the_value(value: object, limit: int) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        assert nests_deeper_than(text.encode(), limit) == (depth(value) > limit)


@pytest.mark.parametrize("levels", [MAX_NESTING, MAX_NESTING + 1, 100_000])
def test_parsed_json_refuses_past_the_limit(levels: int) -> None:
    body = b"[" * levels + b"]" * levels
    if levels <= MAX_NESTING:
        assert depth(parsed_json(body)) == levels
        return
    with pytest.raises(HTTPException) as refused:
        parsed_json(body)
    assert refused.value.status_code == 400


def test_utf16_bodies_are_counted_after_decoding() -> None:
    # U+225B is the bytes 5B 22 in UTF-16-LE: a "[" and a '"' if read as bytes.
    deep = "[" * 40 + '"\u225b"' + "]" * 40
    with pytest.raises(HTTPException):
        parsed_json(deep.encode("utf-16"))
    shallow = '["\u225b\u225b\u225b"]'
    assert parsed_json(shallow.encode("utf-16")) == ["\u225b\u225b\u225b"]


def test_malformed_but_shallow_is_not_called_deep() -> None:
    assert not nests_deeper_than(b"][" * 1000, MAX_NESTING)
    with pytest.raises(HTTPException) as refused:
        parsed_json(b"][" * 1000)
    assert "not JSON" in refused.value.detail
