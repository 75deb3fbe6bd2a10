"""The colour family (styles.csv's ``colorgroup``) of each base colour.

styles.csv gives every product both; descriptions.jsonl gives only ``baseColour``, so a product
known only from the descriptions gets its family from this table. It is the mapping styles.csv
itself uses (one family per base colour, no exceptions in the file; a test checks it against
the real file when present).
"""

from __future__ import annotations

COLOUR_GROUP_OF: dict[str, str] = {
    "Beige": "Brown", "Black": "Black", "Blue": "Blue", "Bronze": "Metallic",
    "Brown": "Brown", "Burgundy": "Red", "Charcoal": "Black", "Coffee Brown": "Brown",
    "Copper": "Metallic", "Cream": "White", "Fluorescent Green": "Green", "Gold": "Metallic",
    "Green": "Green", "Grey": "Grey", "Grey Melange": "Grey", "Khaki": "Brown",
    "Lavender": "Purple", "Lime Green": "Green", "Magenta": "Purple", "Maroon": "Red",
    "Mauve": "Purple", "Metallic": "Metallic", "Multi": "Multi", "Mushroom Brown": "Brown",
    "Mustard": "Yellow", "Navy Blue": "Blue", "Nude": "Brown", "Off White": "White",
    "Olive": "Green", "Orange": "Orange", "Peach": "Pink", "Pink": "Pink", "Purple": "Purple",
    "Red": "Red", "Rose": "Red", "Rust": "Brown", "Sea Green": "Green", "Silver": "Grey",
    "Skin": "White", "Steel": "Grey", "Tan": "Brown", "Taupe": "Yellow", "Teal": "Blue",
    "Turquoise Blue": "Blue", "White": "White", "Yellow": "Yellow",
}
_GROUP_OF_LOWER = {colour.lower(): group for colour, group in COLOUR_GROUP_OF.items()}


def colour_group_of(base_colour: str) -> str:
    """The family of a base colour; a colour styles.csv never used is its own family."""
    return _GROUP_OF_LOWER.get(base_colour.strip().lower(), base_colour.strip())
