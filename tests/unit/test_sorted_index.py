"""The bucket index behind the vectorised calendar equals numpy.searchsorted."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsla.core.calendar import _SortedIndex


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.integers(-(10**15), 10**15), min_size=1, max_size=300, unique=True),
    queries=st.lists(st.integers(-(2 * 10**15), 2 * 10**15), min_size=1, max_size=200),
    max_buckets=st.sampled_from([4, 64, 1 << 22]),
)
def test_counts_equal_searchsorted(values: list[int], queries: list[int], max_buckets: int) -> None:
    array = np.array(sorted(values), dtype=np.int64)
    probes = np.array(queries + values + [v + 1 for v in values] + [v - 1 for v in values])
    probes = probes.astype(np.int64)

    class Small(_SortedIndex):
        MAX_BUCKETS = max_buckets

    index = Small(array)
    assert (index.count(probes, inclusive=True) == np.searchsorted(array, probes, "right")).all()
    assert (index.count(probes, inclusive=False) == np.searchsorted(array, probes, "left")).all()
