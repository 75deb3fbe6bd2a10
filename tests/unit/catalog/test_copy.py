"""The copy cleaner on HTML shaped like the real catalog's (each case is a pattern seen there)."""

from __future__ import annotations

import pytest

from recgen.catalog.copy import clean_copy, clean_html, section_name
from recgen.catalog.html_text import repair_text

# Old-style copy: <strong> and bold-span headings, wash care, then unheaded marketing prose,
# then an italic "Model statistics" block.
TSHIRT = (
    '<p><strong>Composition</strong><br /> Red polo t-shirt made of 100% cotton, has a ribbed '
    "collar and a buttoned placket<br /> <br /> "
    '<span style="font-style: normal; font-weight: bold;">Fitting<br /> </span>'
    '<span style="font-style: normal; font-weight: normal;">Regular<br /> <br />'
    "<strong> Wash care</strong><br /> Machine wash cold with like colours<br /> Do not bleach"
    "<br /> Tumble dry low<br /> <br /> Team this polo with chinos for a smart weekend look."
    "<br /> <br /><em> Model statistics</em><br /> The model wears size M in t-shirts<br /> "
    "Height-6&rdquo;, Shoulders-18&rdquo;</span></p>"
)


def test_sections_are_split_and_boilerplate_leaves_the_body() -> None:
    copy = clean_html(TSHIRT)
    assert copy.body == (
        "Red polo t-shirt made of 100% cotton, has a ribbed collar and a buttoned placket."
        "\n\nTeam this polo with chinos for a smart weekend look."
    )
    assert copy.sections["fit"] == "Regular"
    assert copy.sections["wash care"].splitlines() == [
        "Machine wash cold with like colours", "Do not bleach", "Tumble dry low"
    ]
    assert copy.care == ["Machine wash cold with like colours", "Do not bleach", "Tumble dry low"]
    # Kept as data, out of the body: the fit and the model's measurements.
    assert copy.sizing == [
        "Fit: Regular", "The model wears size M in t-shirts", "Model statistics: Height-6”, "
        "Shoulders-18”",
    ]
    assert "model" not in copy.body.lower() and "bleach" not in copy.body


def test_new_style_fields_become_named_sections() -> None:
    copy = clean_copy(
        {
            "description": "<p>Blue checked shirt, has a spread collar<br>Patch pocket</p>",
            "style_note": "<p>Wear this shirt with jeans &amp; loafers.</p>",
            "materials_care_desc": (
                "<p>100% cotton<br />Plastic and metal buttons<br />Machine wash</p>"
            ),
            "size_fit_desc": "<p>Slim Fit<br />The model (height 6') is wearing a size M</p>",
        }
    )
    assert copy.body == (
        "Blue checked shirt, has a spread collar. Patch pocket.\n\n"
        "Wear this shirt with jeans & loafers."
    )
    assert copy.sections["material & care"].splitlines() == [
        "100% cotton", "Plastic and metal buttons", "Machine wash"
    ]
    assert copy.care == ["Machine wash"]  # the material lines are not care lines
    assert copy.sizing == ["Size & fit: Slim Fit", "The model (height 6') is wearing a size M"]


def test_list_markup_and_bold_tag_headings() -> None:
    raw = (
        "<b>Product Details</b><br>Black round-toe pumps<br><br><b>Material and Care</b></p>"
        "<ul><li>Leather upper</li><li>Wipe with a clean, dry cloth</li></ul>"
    )
    copy = clean_html(raw)
    assert copy.body == "Black round-toe pumps."
    assert copy.sections["material & care"] == "Leather upper\nWipe with a clean, dry cloth"
    assert copy.care == ["Wipe with a clean, dry cloth"]


def test_label_lines_and_tables_are_data() -> None:
    raw = (
        "<p>Lens colour: Brown<br>Frame type: Plastic half frame<br>High bridge with fixed "
        "nose holders<br>Warranty: 1 year against manufacturing defects</p>"
        '<table><tr><td>3.4 cm</td></tr></table><p>Lens Width: 59 mm</p>'
    )
    copy = clean_html(raw)
    assert copy.body == "High bridge with fixed nose holders."
    assert copy.sections["lens colour"] == "Brown"
    assert copy.sections["frame type"] == "Plastic half frame"
    assert copy.sections["warranty"] == "1 year against manufacturing defects"
    assert copy.sections["table"] == "3.4 cm"
    assert copy.sizing == ["Lens Width: 59 mm"]


def test_headings_whose_bold_was_lost_are_still_headings() -> None:
    # An editor's styles reduced to "font-style: normal  font-weight;": no bold to go by.
    span = '<span style="font-style: normal  font-weight;">'
    raw = (
        f"{span}Durable sneakers for the court<br /> <br /></span>{span}Upper<br /></span>"
        f"{span}Synthetic leather upper with overlays<br /></span>{span}Shoe care<br /></span>"
        f"{span}Wipe with a dry cloth</span>"
    )
    copy = clean_html(raw)
    assert copy.body == "Durable sneakers for the court.\n\nSynthetic leather upper with overlays."
    assert copy.sections["shoe care"] == "Wipe with a dry cloth"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Blue&Acirc;&nbsp;   washed denim", "Blue washed denim"),  # "Â " for a no-break space
        ("The brand&acirc;&euro;&trade;s belief", "The brand’s belief"),  # UTF-8 read as cp1252
        ("Drivers&amp;  rsquo  and racers", "Drivers’ and racers"),  # ";" lost to spaces
        ("&iuml;  &raquo;  &iquest;  Heel height", "Heel height"),  # a spaced-out BOM
        ("Synthetic&iuml;&sbquo;&middot; upper", "Synthetic upper"),  # a Wingdings bullet
        ("Café–Bar", "Café–Bar"),  # real accents stay
    ],
)
def test_entities_and_mojibake_are_repaired(raw: str, clean: str) -> None:
    assert " ".join(clean_html(f"<p>{raw}</p>").body.rstrip(".").split()) == clean


def test_repair_drops_text_that_was_garbled_beyond_repair() -> None:
    assert repair_text("Upper \u00c3??\u00c3??\u00c3??\u00c3?? Mesh").split() == ["Upper", "Mesh"]


def test_escaped_markup_and_links_are_read_as_markup() -> None:
    raw = (
        "&lt;b&gt;Style Note&lt;/b&gt;<br>Team it with "
        "<a href='/men-shorts?src=desc' class='seolink'>shorts</a>.<br>Price &lt; 500"
    )
    copy = clean_html(raw)
    assert copy.sections["style note"].startswith("Team it with shorts.")
    assert "<" not in copy.body and "seolink" not in copy.body


def test_only_boilerplate_leaves_an_empty_body() -> None:
    raw = "<p><strong>Wash Care</strong><br /> Machine Wash separately<br /> Do not Bleach</p>"
    copy = clean_html(raw)
    assert copy.body == ""
    assert copy.care == ["Machine Wash separately", "Do not Bleach"]


def test_unheaded_care_and_model_sentences_leave_the_body() -> None:
    raw = (
        "<p>Grey shorts with an elastic waist.<br /><br />Machine wash warm at 40 degrees with "
        "like colours. This bikini brief is comfortable. The model is wearing a size M.</p>"
    )
    copy = clean_html(raw)
    assert copy.body == "Grey shorts with an elastic waist.\n\nThis bikini brief is comfortable."
    assert copy.care == ["Machine wash warm at 40 degrees with like colours"]
    assert copy.sizing == ["The model is wearing a size M."]


@pytest.mark.parametrize(
    ("heading", "name"),
    [
        ("Materials and Care:", "material & care"),
        ("Fitting", "fit"),
        ("Size&nbsp;& Fit", "size & fit"),
        ("WASHCARE", "wash care"),
        ("Model's Statistics", "model statistics"),
    ],
)
def test_heading_spellings_share_one_name(heading: str, name: str) -> None:
    assert section_name(repair_text(heading)) == name
