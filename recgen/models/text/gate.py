"""The fidelity + safety gate every generated description passes before it is served.

A description is rejected (and the caller serves the stock title) when it
- names a colour, article type or gender other than the product's (contradiction), or fails to
  name the product's colour and article type at all (not grounded);
- uses a blocklisted offensive or unsafe term, makes a health or price claim, mentions personal
  data about the user, or is phrased as a customer review (first person).
"""

from __future__ import annotations

import re
import unicodedata

from recgen.core.types import GateResult, Product
from recgen.models.text.lexicon import (
    Mention,
    allowed_colours,
    allowed_genders,
    article_forms,
    colour_forms,
    compatible_forms,
    default_lexicon,
)

_BLOCKLIST = (
    "fuck", "shit", "bitch", "bastard", "slut", "whore", "retard", "nigger", "faggot", "cunt",
    "dick", "porn", "nazi", "kill", "suicide", "weapon", "gun", "drugs", "cocaine", "explosive",
    "sexy", "nude", "naked", "fat", "ugly",
)
_HEALTH = (
    "cure", "cures", "heal", "heals", "healing", "medical", "medicinal", "therapeutic",
    "clinically", "treats", "treatment", "prevents", "disease", "weight loss", "slimming",
    "detox", "anti-ageing", "anti-aging", "doctor", "fda", "orthopedic", "pain relief",
)
_PRICE = (
    "price", "prices", "priced", "discount", "discounted", "cheap", "cheapest", "sale", "offer",
    "bargain", "free", "rs", "inr", "rupees", "dollars", "cost", "costs", "affordable", "deal",
)
_PERSONAL = (
    "years old", "year-old", "your age", "your size", "your weight", "your address",
    "your name", "your email", "your phone", "you are", "you're", "we know you", "your body",
)
_FIRST_PERSON = ("i", "i'm", "i've", "i'd", "me", "my", "mine", "myself")


def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(w) for w in words) + r")(?![\w-])")


_UNSAFE_TERMS = _words_pattern(_BLOCKLIST)
_CHECKS = (
    ("unsafe term", _UNSAFE_TERMS),
    ("health claim", _words_pattern(_HEALTH)),
    ("price claim", re.compile(_words_pattern(_PRICE).pattern + r"|[$₹€£]|\d+\s*%")),
    ("personal data", re.compile(
        _words_pattern(_PERSONAL).pattern
        + r"|\b\d{2}-\d{2}\b|\b\d{2}\+|@\w|\b\d{7,}\b")),
    ("review voice", _words_pattern(_FIRST_PERSON)),
)


# Look-alike letters (Cyrillic/Greek) and digits/symbols used for letters, as seen in
# obfuscated abuse; applied only to the unsafe-term check (the other checks read plain text).
_LOOKALIKES = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ѕ": "s",
    "ј": "j", "ԁ": "d", "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "τ": "t",
    "υ": "u", "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
    "!": "i", "|": "i",
})
# Three or more single letters joined by up to three separators: "f.u.c.k", "s e x y".
_SPELLED_OUT = re.compile(r"(?<![a-z])[a-z](?:[\W_]{1,3}[a-z](?![a-z])){2,}")


def unsafe_normalised(text: str) -> str:
    """Text as the unsafe-term check reads it: compatibility forms folded (full-width),
    invisible characters (zero-width, soft hyphen) and accents dropped, look-alikes mapped,
    spelled-out words joined."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    visible = "".join(
        ch for ch in folded if unicodedata.category(ch) not in ("Cf", "Mn")
    ).translate(_LOOKALIKES)
    return _SPELLED_OUT.sub(lambda m: re.sub(r"[\W_]", "", m.group()), visible)


def contradicting_mentions(text: str, product: Product) -> list[Mention]:
    """Mentions of a colour, article type or gender that the product does not have."""
    colours = allowed_colours(product.base_colour, product.colour_group)
    own_forms = compatible_forms(product.article_type)
    genders = allowed_genders(product.gender)
    bad = []
    for m in default_lexicon().mentions(text):
        if (
            (m.kind == "colour" and m.value.lower() not in colours
             and product.base_colour != "Multi")
            or (m.kind == "article" and m.value != product.article_type
                and m.form not in own_forms)
            or (m.kind == "gender" and m.value not in genders)
        ):
            bad.append(m)
    return bad


def _has_form(text: str, forms: tuple[str, ...]) -> bool:
    return _words_pattern(forms).search(text) is not None


def names_colour(text: str, product: Product) -> bool:
    return _has_form(text.lower(), colour_forms(product.base_colour))


def names_article(text: str, product: Product) -> bool:
    return _has_form(text.lower(), article_forms(product.article_type))


def contradictions(text: str, product: Product) -> list[str]:
    """Reasons the text contradicts the product's colour, article type or gender (empty: none)."""
    return [f"{m.kind} contradiction: {m.form!r}" for m in contradicting_mentions(text, product)]


def _flags(pattern: re.Pattern[str], lower: str, product: Product) -> bool:
    """Whether the pattern matches words that are not the product's own stock-title words.

    The headline repeats the catalog title ("Price Catch", "Free Spirit", "I Am Not Lazy");
    rejecting those would only swap in the very same title as the fallback.
    """
    title = product.title.lower()
    return any(
        re.search(rf"(?<![\w-]){re.escape(m.group(0).strip())}(?![\w-])", title) is None
        for m in pattern.finditer(lower)
    )


def check_description(text: str, product: Product) -> GateResult:
    """Pass or reject a generated description for a product, with every reason for rejecting."""
    lower = text.lower()
    reasons = contradictions(text, product)
    if not names_colour(lower, product):
        reasons.append("does not name the product's colour")
    if not names_article(lower, product):
        reasons.append("does not name the product's article type")
    reasons += [name for name, pattern in _CHECKS if _flags(pattern, lower, product)]
    if "unsafe term" not in reasons and _flags(_UNSAFE_TERMS, unsafe_normalised(text), product):
        reasons.append("unsafe term")
    if not text.strip():
        reasons.append("empty")
    return GateResult(passed=not reasons, reasons=tuple(reasons))
