"""The fidelity + safety gate every generated description passes before it is served.

A description is rejected (and the caller serves the stock title) when it
- names a colour, article type or gender other than the product's (contradiction), or fails to
  name the product's colour and article type at all (not grounded);
- uses a blocklisted offensive or unsafe term, makes a health or price claim, mentions personal
  data about the user, or is phrased as a customer review (first person).
"""

from __future__ import annotations

import re

from recgen.models.text.lexicon import (
    Mention,
    allowed_colours,
    allowed_genders,
    article_forms,
    colour_forms,
    compatible_forms,
    default_lexicon,
)
from recgen.types import GateResult, Product

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


_CHECKS = (
    ("unsafe term", _words_pattern(_BLOCKLIST)),
    ("health claim", _words_pattern(_HEALTH)),
    ("price claim", re.compile(_words_pattern(_PRICE).pattern + r"|[$₹€£]|\d+\s*%")),
    ("personal data", re.compile(
        _words_pattern(_PERSONAL).pattern
        + r"|\b\d{2}-\d{2}\b|\b\d{2}\+|@\w|\b\d{7,}\b")),
    ("review voice", _words_pattern(_FIRST_PERSON)),
)


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
    if not text.strip():
        reasons.append("empty")
    return GateResult(passed=not reasons, reasons=tuple(reasons))
