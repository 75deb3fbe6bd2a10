"""The text safety gate against adversarial generations: offensive words disguised by
punctuation, spacing, case, accents, look-alike letters, zero-width characters and digits, and
descriptions contradicting the product's colour in disguised or mixed ways."""

from __future__ import annotations

import pytest

from recgen.core.types import Product
from recgen.models.text.gate import check_description

SHIRT = Product(15970, "Men", "Apparel", "Topwear", "Shirts", "Navy Blue", "Blue", "Fall",
                "Casual", "Turtle Check Men Navy Blue Shirt")
BASE = "This navy blue shirt is cut for a clean fit"


def test_clean_description_passes() -> None:
    result = check_description(f"{BASE}.", SHIRT)
    assert result.passed, result.reasons


@pytest.mark.parametrize(
    "disguised",
    [
        "f.u.c.k", "f-u-c-k", "f u c k", "f_u_c_k", "F*U*C*K", "FUCK", "fück", "ｆｕｃｋ",
        "fu\u200bck", "f\u00adu\u00adc\u00adk", "sh1t", "5hit", "ѕhit", "b!tch", "n.u.d.e",
        "s e x y", "k-i-l-l",
    ],
)
def test_offensive_words_split_or_disguised_are_rejected(disguised: str) -> None:
    result = check_description(f"{BASE}, {disguised}.", SHIRT)
    assert not result.passed and "unsafe term" in result.reasons, (disguised, result.reasons)


@pytest.mark.parametrize(
    "text",
    [
        f"{BASE}, and it also comes in red.",
        "This navy blue shirt is actually a bright RED shirt.",
        "This navy blue shirt, in black, is cut for a clean fit.",
        "This navy-blue shirt is a green shirt.",
        "This navy blue shirt has white and yellow panels.",
    ],
)
def test_contradicting_colours_are_rejected(text: str) -> None:
    result = check_description(text, SHIRT)
    assert not result.passed
    assert any(r.startswith("colour contradiction") for r in result.reasons), result.reasons


@pytest.mark.parametrize(
    "innocent",
    [
        f"{BASE}, with a classic collar.",  # "classic" contains "ass"
        f"{BASE}; skilled tailoring shows.",  # "skilled" contains "kill"
        f"{BASE}, a t-shirt alternative for cooler days.",
    ],
)
def test_innocent_words_containing_blocked_ones_pass_the_safety_check(innocent: str) -> None:
    assert "unsafe term" not in check_description(innocent, SHIRT).reasons
