from __future__ import annotations

import base64

from recgen.core.types import GateResult, Product
from recgen.demo.page import ArmResult, FeedCard, UserSection, render_page

DRESS = Product(
    5,
    "Women",
    "Apparel",
    "Dress",
    "Dresses",
    "Red",
    "Red",
    "Summer",
    "Party",
    "Nike <b>Red</b> Dress",
)


def _render(card: FeedCard) -> str:
    return render_page(
        title="demo",
        summary={"users": 1, "share_served_generated": 0.5},
        users=[UserSection(user_id=9, arm="generated", profile={"aspect": "fit"}, cards=[card])],
        arms=[
            ArmResult("stock", 10, 100, 0.05, 0.03, 0.07),
            ArmResult("generated", 11, 110, 0.07, 0.05, 0.09),
        ],
        ab_figures={"lift": 0.4, "p_value": 0.03},
    )


def test_report_embeds_images_escapes_text_and_shows_gate_reasons() -> None:
    card = FeedCard(
        DRESS,
        b"\xff\xd8jpeg",
        "A red dress <script>",
        GateResult(True),
        b"\x89PNG",
        GateResult(False, ("article type not recognised",)),
        2,
    )
    page = _render(card)
    png_uri = "data:image/png;base64," + base64.b64encode(b"\x89PNG").decode()
    assert png_uri in page
    assert "data:image/jpeg;base64," in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "Nike &lt;b&gt;Red&lt;/b&gt; Dress" in page
    assert "article type not recognised" in page and "stock served" in page
    assert page.count("<rect") == 2  # one bar per arm


def test_report_without_generated_content_says_so() -> None:
    page = _render(FeedCard(DRESS, None, None, None, None, None, None))
    assert "no stock photo" in page and "text: not generated" in page
