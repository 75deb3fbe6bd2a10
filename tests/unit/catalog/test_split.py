from __future__ import annotations

from recgen.catalog.split import is_validation, split_of


def test_split_is_deterministic_and_about_ten_percent() -> None:
    first = [split_of(i) for i in range(20_000)]
    assert first == [split_of(i) for i in range(20_000)]
    share = sum(s == "validation" for s in first) / len(first)
    assert 0.09 < share < 0.11


def test_salt_changes_the_split() -> None:
    a = [is_validation(i) for i in range(2_000)]
    b = [is_validation(i, salt="other") for i in range(2_000)]
    assert a != b
