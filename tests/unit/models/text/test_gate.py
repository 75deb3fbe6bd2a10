from __future__ import annotations

import pytest

from recgen.models.text.gate import check_description
from recgen.models.text.lexicon import article_noun
from recgen.models.text.prompts import clean_title
from tests.unit.models.text.conftest import HEELS, SHIRT

GOOD = "Turtle Check Men Navy Blue Shirt\nThis navy blue shirt is cut for a clean fit."


def test_faithful_description_passes() -> None:
    result = check_description(GOOD, SHIRT)
    assert result.passed, result.reasons


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("This red shirt is cut for a clean fit.", "colour contradiction: 'red'"),
        ("This navy blue t-shirt is cut for a clean fit.", "article contradiction: 't-shirt'"),
        ("This navy blue shirt for women is cut well.", "gender contradiction: 'women'"),
        ("This navy blue shirt is a bargain at a low price.", "price claim"),
        ("This navy blue shirt cures back pain.", "health claim"),
        ("This navy blue shirt is sexy as hell.", "unsafe term"),
        ("This navy blue shirt suits you at 45 years old.", "personal data"),
        ("I love this navy blue shirt, my favourite.", "review voice"),
        ("This shirt is cut for a clean fit.", "does not name the product's colour"),
        ("This navy blue piece is cut for a clean fit.",
         "does not name the product's article type"),
    ],
)
def test_gate_rejects(text: str, reason: str) -> None:
    result = check_description(text, SHIRT)
    assert not result.passed
    assert reason in result.reasons


def test_navy_blue_is_one_mention_and_blue_family_is_allowed() -> None:
    assert check_description("A navy blue shirt in a deep blue.", SHIRT).passed


def test_plural_article_and_pair_phrasing() -> None:
    assert article_noun("Heels") == "heels" and article_noun("Tshirts") == "t-shirt"
    assert check_description("A pair of black heels for the party.", HEELS).passed


def test_clean_title_drops_words_that_contradict_the_product() -> None:
    two_tone = HEELS.__class__(**{**{s: getattr(HEELS, s) for s in HEELS.__slots__},
                                  "title": "Catwalk Women Black & Gold Flats"})
    title = clean_title(two_tone)
    assert title == "Catwalk Women Black Heels"
    assert check_description(title + "\nA pair of black heels.", two_tone).passed


def test_stock_title_words_are_not_flagged_but_generated_ones_are() -> None:
    fields = {s: getattr(SHIRT, s) for s in SHIRT.__slots__}
    branded = SHIRT.__class__(**{**fields, "title": "Price Catch Men Navy Blue Shirt"})
    headline = "Price Catch Men Navy Blue Shirt\n"
    assert check_description(headline + "This navy blue shirt is cut to fit.", branded).passed
    result = check_description(headline + "This navy blue shirt has a low price.", SHIRT)
    assert "price claim" in result.reasons
