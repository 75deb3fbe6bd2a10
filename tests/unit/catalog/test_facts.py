"""Facts read from a product's own copy: each one is a phrase the copy states."""

from __future__ import annotations

from recgen.catalog.copy import CleanCopy, clean_copy
from recgen.catalog.facts import extract_facts


def test_apparel_facts_from_a_composition_sentence() -> None:
    copy = clean_copy(
        {
            "description": (
                "<p><strong>Composition</strong><br />Blue washed jeans made of 98% cotton and "
                "2% spandex, has two insert pockets on the front, two patch pockets on the "
                "back, a zip fly with button closure and belt loops<br /><br />"
                "<strong>Fitting</strong><br />Slim</p>"
            )
        }
    )
    assert extract_facts(copy) == {
        "composition": "98% cotton, 2% spandex",
        "fit": "slim fit",  # the Fit section's "Slim", said as the copy says fits
        "closure": "zip fly",
        "pockets": "two insert pockets; two patch pockets",
    }


def test_shirt_neck_collar_sleeves_and_placket() -> None:
    copy = CleanCopy(
        body=(
            "White polo t-shirt, has a spread collar, a full buttoned placket and short sleeves. "
            "Pair it with a round neck cardigan."
        )
    )
    facts = extract_facts(copy)
    assert facts["collar"] == "spread collar"
    assert facts["closure"] == "full buttoned placket"
    assert facts["sleeves"] == "short sleeves"
    assert facts["neck"] == "round neck"


def test_footwear_and_watch_facts() -> None:
    shoe = CleanCopy(body="A pair of sneakers with lace-ups. Cushioned footbed. EVA midsole. "
                          "Textured and patterned rubber outsole.")
    assert extract_facts(shoe) == {
        "closure": "lace-ups", "sole": "eva midsole; patterned rubber outsole"
    }
    watch = CleanCopy(
        body="Black dial with luminous hands, a black leather strap with a tang clasp. "
             "Water resistant up to 50 m. Comes with a 2 years warranty.",
        sections={"dial shape": "Round", "case diameter": "40 mm"},
    )
    assert extract_facts(watch) == {
        "dial shape": "Round",
        "case diameter": "40 mm",
        "dial": "black dial",
        "strap": "black leather strap",
        "water resistance": "50 m",
        "warranty": "2 years",
    }


def test_phrases_never_cross_lines() -> None:
    # Two sections' lines: "1 year" must not become the dial's modifier.
    copy = CleanCopy(body="", sections={"warranty": "1 year", "notes": "Silver dial"})
    assert extract_facts(copy)["dial"] == "silver dial"


def test_copy_that_states_nothing_has_no_facts() -> None:
    assert extract_facts(CleanCopy(body="A great gift for the festive season.")) == {}
