"""Copy that contradicts its own product's attributes is flagged; copy about other things is not."""

from __future__ import annotations

import pytest

from recgen.catalog.consistency import AttributeVocabulary, CopyChecker

# A small catalog: the vocabulary (colours, types, sub-categories) is learnt from it.
CATALOG = [
    {"articleType": "Tshirts", "subCategory": "Topwear", "baseColour": "Red", "gender": "Men",
     "Pattern": "Solid", "Sleeve Length": "Short Sleeves"},
    {"articleType": "Tshirts", "subCategory": "Topwear", "baseColour": "Orange"},
    {"articleType": "Shirts", "subCategory": "Topwear", "baseColour": "Navy Blue"},
    {"articleType": "Jeans", "subCategory": "Bottomwear", "baseColour": "Blue"},
    {"articleType": "Heels", "subCategory": "Shoes", "baseColour": "Black"},
    {"articleType": "Sandals", "subCategory": "Sandal", "baseColour": "Maroon"},
    {"articleType": "Watches", "subCategory": "Watches", "baseColour": "Silver"},
    {"articleType": "Tshirts", "subCategory": "Topwear", "baseColour": "White", "colour1": "NA"},
]
RED_POLO = CATALOG[0]


@pytest.fixture(scope="module")
def checker() -> CopyChecker:
    return CopyChecker(AttributeVocabulary.from_products(CATALOG))


def test_vocabulary_is_the_values_seen_per_key() -> None:
    vocabulary = AttributeVocabulary.from_products(CATALOG)
    assert vocabulary.values["baseColour"] >= {"Red", "Orange", "Navy Blue", "Maroon"}
    assert "colour1" not in vocabulary.values  # its only value was "NA": missing
    assert vocabulary.subcategory_of["Jeans"] == "Bottomwear"
    # Heels are listed under Shoes and Sandals under Sandal; copy uses the words for both.
    assert vocabulary.group("Heels") == vocabulary.group("Sandals")


@pytest.mark.parametrize(
    ("copy", "conflict"),
    [
        ("This funky orange t-shirt is a must-have.", "colour: copy says 'orange' t-shirt"),
        ("A women's polo for the weekend.", "gender: copy says \"women's\" polo"),
        ("Striped polo t-shirt with a ribbed collar.", "pattern: copy says striped polo"),
        ("Red tee with long sleeves and a ribbed hem.", "sleeves: copy says long sleeves"),
        ("Blue jeans made of cotton, with five pockets.", "type: copy introduces 'jeans'"),
    ],
)
def test_contradictions_are_flagged(checker: CopyChecker, copy: str, conflict: str) -> None:
    found = checker.conflicts(copy, RED_POLO)
    assert any(c.startswith(conflict) for c in found), found


@pytest.mark.parametrize(
    "copy",
    [
        "Red polo t-shirt made of cotton, has short sleeves.",
        "This maroon t-shirt goes with everything.",  # maroon is a red
        "Team this tee with blue jeans and white sneakers.",  # other products' colours
        "The Green Lantern logo on this t-shirt glows.",  # a name, not the product's colour
        "A red solid polo for men.",
        "Perfect for a day out with friends.",
    ],
)
def test_copy_that_agrees_or_talks_of_other_things_passes(
    checker: CopyChecker, copy: str
) -> None:
    assert checker.conflicts(copy, RED_POLO) == []


def test_multicoloured_and_metallic_products_are_not_colour_checked(checker: CopyChecker) -> None:
    watch = CATALOG[6]
    assert checker.conflicts("A sleek black watch with a steel strap.", watch) == []


def test_a_lead_that_names_the_own_type_is_no_type_conflict(checker: CopyChecker) -> None:
    heels = CATALOG[4]
    assert checker.conflicts("Black sandals with block heels.", heels) == []
    assert checker.conflicts("Black shirt with a spread collar.", heels, lead="Black shirt") != []
