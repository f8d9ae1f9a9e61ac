"""A resumed batch's metrics count only what this try did: the earlier try's rows were counted when it ended."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_hubspot_channels.operators.metrics import outcomes_of_this_try


def test_rows_kept_from_an_earlier_try_are_not_counted_again() -> None:
    whole = {"marked_failed": 10, "already_correct": 3, "error": 0}
    earlier = {"marked_failed": 6, "already_correct": 0, "error": 0}
    assert outcomes_of_this_try(whole, earlier) == {"marked_failed": 4, "already_correct": 3, "error": 0}
    assert outcomes_of_this_try(whole, None) == whole


@settings(max_examples=200, deadline=None)
@given(
    earlier=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 1000)),
    added=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 1000)),
)
def test_this_try_plus_earlier_is_the_whole_batch(earlier: dict[str, int], added: dict[str, int]) -> None:
    kinds = set(earlier) | set(added)
    whole = {kind: earlier.get(kind, 0) + added.get(kind, 0) for kind in kinds}
    assert outcomes_of_this_try(whole, earlier) == {kind: added.get(kind, 0) for kind in kinds}
