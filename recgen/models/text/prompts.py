"""The prompt format: product attributes, persona control codes, then the description.

A prompt reads::

    <|product|>Men | Shirts | Navy Blue | Casual | Fall | Turtle Check Men Navy Blue Shirt
    <|persona|><use=Sports><col=Blue><age=25-34><asp=fit><|desc|>

and the model continues with the body ``sentence. sentence.<|eos|>``; the headline is the
cleaned stock title, put in front by :func:`compose` (no tokens spent re-copying it).
Control codes are single tokens in the trained tokenizer; a foreign checkpoint
sees them as plain text, which still works as a prompt.
"""

from __future__ import annotations

import re

from recgen.core.types import AGE_BANDS, ASPECTS, USAGES, PersonaControls, Product
from recgen.models.text.gate import contradicting_mentions, names_article
from recgen.models.text.lexicon import article_noun

PRODUCT_TOKEN = "<|product|>"
PERSONA_TOKEN = "<|persona|>"
DESC_TOKEN = "<|desc|>"
EOS_TOKEN = "<|eos|>"
PAD_TOKEN = "<|pad|>"
COLOUR_GROUPS = ("Black", "Blue", "White", "Brown", "Grey", "Red", "Green", "Purple", "Pink",
                 "Yellow", "Metallic", "Orange", "Multi")


def _code(kind: str, value: str | None) -> str:
    return f"<{kind}={'none' if value is None else value.replace(' ', '_')}>"


def control_tokens() -> list[str]:
    """Every control code the trained tokenizer keeps as one token."""
    codes = [_code("use", v) for v in (*USAGES, None)]
    codes += [_code("col", v) for v in (*COLOUR_GROUPS, None)]
    codes += [_code("age", v) for v in (*AGE_BANDS, None)]
    codes += [_code("asp", v) for v in (*ASPECTS, None)]
    return codes


def special_tokens() -> list[str]:
    return [PAD_TOKEN, EOS_TOKEN, PRODUCT_TOKEN, PERSONA_TOKEN, DESC_TOKEN, *control_tokens()]


def clean_title(product: Product) -> str:
    """The headline: the stock title without the words that contradict the product.

    Catalog titles name second colours ("White & Grey Shoes"), kidswear genders or a related
    article; the generated text must name only the product's own, so those words are dropped
    and the article noun is appended when the title no longer names it.
    """
    title = " ".join(product.title.split())
    for m in reversed(contradicting_mentions(title, product)):
        start, end = m.start, m.end
        # Take a joiner with the dropped word: "Black & Gold" -> "Black", not "Black &".
        before = _JOINER_BEFORE.search(title[:start])
        after = _JOINER_AFTER.match(title[end:])
        if before:
            start = before.start()
        elif after:
            end += after.end()
        title = title[:start] + " " + title[end:]
    title = " ".join(title.split())
    head = article_noun(product.article_type).split()[-1].removesuffix("s")
    if not names_article(title, product) and not re.search(rf"\b{head}", title.lower()):
        title = f"{title} {article_noun(product.article_type).title()}".strip()
    return title


_JOINER_BEFORE = re.compile(r"\s*(?:&|\band|/|,)\s*$", re.IGNORECASE)
_JOINER_AFTER = re.compile(r"\s*(?:&|and\b|/|,)\s*", re.IGNORECASE)


def render_prompt(product: Product, controls: PersonaControls) -> str:
    attrs = " | ".join(
        (product.gender, product.article_type, product.base_colour, product.usage or "none",
         product.season or "none", clean_title(product))
    )
    codes = "".join(
        (_code("use", controls.usage), _code("col", controls.colour_group),
         _code("age", controls.age_band), _code("asp", controls.aspect))
    )
    # No spaces around special tokens: each would cost a token of its own.
    return f"{PRODUCT_TOKEN}{attrs}{PERSONA_TOKEN}{codes}{DESC_TOKEN}"


def compose(product: Product, body: str) -> str:
    """The served description: the cleaned stock title as headline, then the generated body."""
    return f"{clean_title(product)}\n{body.strip()}"
