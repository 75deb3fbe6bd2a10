"""descriptions.jsonl lines shaped like the real file's, shared by the catalog, store and API
tests: a shirt that styles.csv also has, and a product only the descriptions know."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# One product as the real file has it (trimmed): 15970 is also in STYLES below.
SHIRT: dict[str, Any] = {
    "id": 15970,
    "productDisplayName": "Turtle Check Men Navy Blue Shirt",
    "brandName": "Turtle",
    "gender": "Men",
    "masterCategory": "Apparel",
    "subCategory": "Topwear",
    "articleType": "Shirts",
    "baseColour": "Navy Blue",
    "colour1": "NA",
    "season": "Fall",
    "usage": "Casual",
    "price": 1099,
    "discountedPrice": 824.5,
    "articleAttributes": {"Fit": "Slim Fit", "Pattern": "Checked", "Brick": "NA",
                          "Sleeve Length": "Long Sleeves", "Collar": "Spread Collar"},
    "productDescriptors": {
        "description": (
            "<p><strong>Composition</strong><br />Navy blue checked shirt made of 100% cotton, "
            "has a spread collar and a full buttoned placket<br /><br /><strong>Wash care"
            "</strong><br />Machine wash cold</p>"
        ),
        "style_note": "<p>Team it with chinos for a smart look.</p>",
    },
}
# A product that styles.csv lacks: created from the line's own fields.
DEO = {**SHIRT, "id": 40001, "productDisplayName": "Nike Men Blue Deodorant",
       "masterCategory": "Personal Care", "subCategory": "Fragrance",
       "articleType": "Deodorant", "baseColour": "Blue", "articleAttributes": {},
       "productDescriptors": {"description": "<p>A fresh, woody fragrance.</p>"}}
STYLES = (
    "id,gender,masterCategory,subCategory,articleType,baseColour,season,usage,"
    "productDisplayName,colorgroup\n"
    "15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,Casual,Turtle Check Men Navy Blue Shirt,"
    "Blue\n"
)


def write_lines(tmp_path: Path, *lines: str | dict[str, Any]) -> Path:
    path = tmp_path / "descriptions.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path
