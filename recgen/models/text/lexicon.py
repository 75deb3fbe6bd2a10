"""Surface forms of the catalog's colours, article types and genders.

One lexicon is shared by the training-corpus builder, the fidelity gate and the evaluation so
that "names the colour / article type" means the same thing everywhere. Matching is on
lower-cased text, longest form first, so "navy blue" is one mention (not "navy" + "blue") and
"t-shirt" is never also read as "shirt".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

# Nouns that are plural in the catalog and stay plural in prose ("a pair of jeans").
_PLURAL_NOUNS = frozenset(
    {"shoes", "jeans", "shorts", "trousers", "pants", "heels", "sunglasses", "flats", "sandals",
     "socks", "leggings", "capris", "flip flops", "earrings", "tights", "stockings", "gloves",
     "booties", "cufflinks", "suspenders", "jeggings", "tracksuits", "rompers", "swimwear",
     "track pants", "rain trousers", "wristbands"}
)
# Plural nouns that a shop calls "a pair of ...".
PAIR_NOUNS = _PLURAL_NOUNS - {"swimwear", "tracksuits", "rompers", "cufflinks", "wristbands"}
_IRREGULAR = {
    "Tshirts": "t-shirt", "Watches": "watch", "Dresses": "dress", "Clutches": "clutch",
    "Scarves": "scarf", "Necklace and Chains": "necklace", "Sarees": "saree",
    "Kurta Sets": "kurta set", "Salwar and Dupatta": "salwar and dupatta",
    "Ties and Cufflinks": "tie and cufflinks", "Key chain": "key chain",
    "Lehenga Choli": "lehenga choli", "Accessory Gift Set": "accessory gift set",
}
# Extra spellings a writer (or a model) may use for an article type.
_SYNONYMS = {
    "Tshirts": ("tshirt", "tshirts", "t-shirts", "tee", "tees", "t shirt"),
    "Necklace and Chains": ("necklaces", "chain", "chains"),
    "Flip Flops": ("flip-flops", "flipflops"),
    "Sunglasses": ("shades",),
    "Backpacks": ("rucksack",),
}

# Catalog naming overlaps: a kurta set names its kurta, a heel is often a heeled sandal.
_PARTS = {
    "Kurta Sets": ("kurta", "churidar", "dupatta", "salwar", "pyjama"),
    "Salwar and Dupatta": ("salwar", "dupatta"),
    "Heels": ("sandals", "sandal"), "Flats": ("sandals", "sandal"), "Pendant": ("chain",),
    "Sports Sandals": ("sandals", "sandal"), "Ties and Cufflinks": ("tie", "cufflinks"),
    "Clothing Set": ("t-shirt", "shorts", "top", "trousers", "shirt", "capris"),
    "Tracksuits": ("jacket", "track pants"),
}

# Colour words that are not catalog base colours but would still contradict one.
_EXTRA_COLOURS = ("navy", "violet", "indigo", "golden", "ivory", "multicolour", "multicoloured",
                  "multi-coloured", "multicolor", "multicolored", "gray", "crimson", "scarlet",
                  "coral", "mint", "wine", "lilac", "fuchsia", "aqua", "camel")
_COLOUR_ALIASES = {"grey": ("gray",), "multi": ("multicolour", "multicoloured", "multi-coloured",
                                                "multicolor", "multicolored", "multi colour")}

GENDER_WORDS: dict[str, tuple[str, ...]] = {
    "Men": ("men", "men's", "mens", "man", "man's", "gentleman", "gentlemen", "his", "him"),
    "Women": ("women", "women's", "womens", "woman", "woman's", "ladies", "lady", "her", "she"),
    "Boys": ("boy", "boys", "boy's", "boys'"),
    "Girls": ("girl", "girls", "girl's", "girls'"),
    "Unisex": ("unisex",),
}
# Which gender words a product of each gender may use without contradicting itself.
_GENDER_ALLOWED = {
    "Men": ("Men", "Unisex"), "Women": ("Women", "Unisex"), "Boys": ("Boys", "Unisex"),
    "Girls": ("Girls", "Unisex"), "Unisex": ("Men", "Women", "Unisex"),
}


def article_noun(article_type: str) -> str:
    """The noun used in prose for an article type: "Tshirts" -> "t-shirt", "Jeans" -> "jeans"."""
    if article_type in _IRREGULAR:
        return _IRREGULAR[article_type]
    lower = article_type.lower()
    if lower in _PLURAL_NOUNS or lower.split()[-1] in _PLURAL_NOUNS:
        return lower
    if lower.endswith(("ches", "shes", "xes", "sses")):
        return lower[:-2]
    return lower[:-1] if lower.endswith("s") else lower


def article_forms(article_type: str) -> tuple[str, ...]:
    """Forms that name this article type (for fidelity)."""
    noun = article_noun(article_type)
    forms = {noun, article_type.lower(), *_SYNONYMS.get(article_type, ())}
    if noun not in _PLURAL_NOUNS and not noun.endswith("s"):
        forms.add(noun + ("es" if noun.endswith(("ch", "sh", "x", "ss")) else "s"))
    return tuple(sorted(forms))


def compatible_forms(article_type: str) -> frozenset[str]:
    """Forms that may appear without contradicting this type: its own plus its parts."""
    return frozenset((*article_forms(article_type), *_PARTS.get(article_type, ())))


def colour_forms(colour: str) -> tuple[str, ...]:
    lower = colour.lower()
    return (lower, *_COLOUR_ALIASES.get(lower, ()))


@dataclass(frozen=True, slots=True)
class Mention:
    kind: str  # "colour" | "article" | "gender"
    value: str  # the catalog value the form belongs to (e.g. "Navy Blue", "Tshirts", "Men")
    form: str
    start: int
    end: int


class Lexicon:
    """Finds colour, article-type and gender mentions in text (non-overlapping, longest first)."""

    def __init__(self, colours: Iterable[str], article_types: Iterable[str]) -> None:
        table: dict[str, tuple[str, str]] = {}
        for article in article_types:
            for form in article_forms(article):
                table.setdefault(form, ("article", article))
        for colour in (*colours, *_EXTRA_COLOURS):
            for form in colour_forms(colour):
                table.setdefault(form, ("colour", colour.title() if colour in _EXTRA_COLOURS
                                        else colour))
        for gender, words in GENDER_WORDS.items():
            for form in words:
                table.setdefault(form, ("gender", gender))
        self._table = table
        alternatives = "|".join(re.escape(f) for f in sorted(table, key=len, reverse=True))
        # Regex alternation tries forms in order, so longer forms win at the same position.
        self._pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])")

    def mentions(self, text: str) -> list[Mention]:
        found = []
        for match in self._pattern.finditer(text.lower()):
            kind, value = self._table[match.group(0)]
            found.append(Mention(kind=kind, value=value, form=match.group(0),
                                 start=match.start(), end=match.end()))
        return found


def allowed_colours(base_colour: str, colour_group: str) -> frozenset[str]:
    """Colour values a product may be called: its base colour, its family and their words."""
    allowed = {base_colour.lower(), colour_group.lower()}
    allowed.update(word for word in base_colour.lower().split())
    if colour_group == "Metallic":
        allowed.update(("gold", "silver", "steel", "bronze", "copper", "golden"))
    if "grey" in allowed:
        allowed.add("gray")
    return frozenset(allowed)


def allowed_genders(gender: str) -> tuple[str, ...]:
    return _GENDER_ALLOWED.get(gender, (gender,))


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The lexicon over every colour and article type of the Myntra catalog."""
    return Lexicon(CATALOG_COLOURS, CATALOG_ARTICLE_TYPES)


CATALOG_COLOURS = (
    "Black", "White", "Blue", "Brown", "Grey", "Red", "Green", "Navy Blue", "Purple", "Pink",
    "Silver", "Yellow", "Beige", "Gold", "Maroon", "Orange", "Olive", "Multi", "Cream", "Steel",
    "Off White", "Charcoal", "Peach", "Khaki", "Teal", "Lavender", "Magenta", "Tan", "Mustard",
    "Bronze", "Copper", "Rust", "Turquoise Blue", "Grey Melange", "Metallic", "Coffee Brown",
    "Burgundy", "Sea Green", "Mushroom Brown", "Mauve", "Taupe", "Nude", "Fluorescent Green",
    "Lime Green", "Rose", "Skin",
)
CATALOG_ARTICLE_TYPES = (
    "Tshirts", "Shirts", "Casual Shoes", "Watches", "Sports Shoes", "Kurtas", "Tops", "Handbags",
    "Heels", "Sunglasses", "Wallets", "Flip Flops", "Sandals", "Belts", "Backpacks", "Socks",
    "Formal Shoes", "Jeans", "Shorts", "Trousers", "Flats", "Dresses", "Sarees", "Earrings",
    "Track Pants", "Clutches", "Sweatshirts", "Caps", "Sweaters", "Jackets", "Ties", "Tunics",
    "Kurtis", "Leggings", "Pendant", "Capris", "Necklace and Chains", "Skirts", "Scarves", "Ring",
    "Dupatta", "Accessory Gift Set", "Cufflinks", "Duffel Bag", "Kurta Sets", "Bangle", "Stoles",
    "Laptop Bag", "Sports Sandals", "Bracelet", "Jewellery Set", "Mobile Pouch", "Mufflers",
    "Messenger Bag", "Suspenders", "Patiala", "Salwar", "Stockings", "Churidar", "Tracksuits",
    "Jeggings", "Gloves", "Swimwear", "Rain Jacket", "Waist Pouch", "Waistcoat",
    "Travel Accessory", "Jumpsuit", "Rompers", "Booties", "Tights", "Rucksacks",
    "Salwar and Dupatta", "Clothing Set", "Blazers", "Shrug", "Nehru Jackets", "Wristbands",
    "Headband", "Water Bottle", "Trolley Bag", "Tablet Sleeve", "Hat", "Lehenga Choli",
    "Ties and Cufflinks", "Key chain", "Rain Trousers", "Hair Accessory", "Suits",
)
