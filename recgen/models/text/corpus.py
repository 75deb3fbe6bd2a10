"""The training corpus: product attributes + persona codes -> a description in the shop's voice.

The reviews are first-person and do not join to products, so they are mined for *aspect
phrases*: sentences from positive reviews that talk about exactly one aspect (fit, fabric,
comfort, occasion, value), contain no first-person pronoun, colour, garment noun, gendered
word, number or hedge, and so can be said by the shop about any garment of that class. Their
aspect and the reviewer's age band become the control codes they are filed under. A training
target body is then ``aspect sentence naming colour + article + usage. mined phrase.``
(the headline, the cleaned stock title, is not generated), so the persona's aspect is always
expressed and the product's colour and article type are always named.
Targets that the fidelity gate would reject are dropped.
"""

from __future__ import annotations

import csv
import itertools
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from recgen.catalog.split import is_validation
from recgen.core.errors import DataFileError
from recgen.core.types import AGE_BANDS, ASPECTS, USAGES, PersonaControls, Product, age_band_for
from recgen.models.text.gate import check_description
from recgen.models.text.lexicon import PAIR_NOUNS, article_noun, default_lexicon
from recgen.models.text.prompts import COLOUR_GROUPS, compose, render_prompt

# Keywords that decide which aspect a review sentence is about. The evaluation's persona
# classifier uses its own, separate keyword rule (recgen.models.text.eval).
ASPECT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "fit": ("fit", "fits", "fitted", "true to size", "runs", "length", "snug", "tailored",
            "flattering", "silhouette", "cut"),
    "fabric": ("fabric", "material", "cotton", "linen", "knit", "texture", "weave", "silk",
               "stitching", "sheer", "drape", "drapes"),
    "comfort": ("comfortable", "comfy", "comfort", "cozy", "cosy", "breathable", "soft",
                "stretch", "stretchy", "lightweight", "easy to wear"),
    "occasion": ("occasion", "work", "office", "wedding", "party", "vacation", "weekend",
                 "dinner", "date", "travel", "holiday", "event", "brunch", "dressed up"),
    "value": ("versatile", "staple", "well made", "quality", "durable", "last", "lasts",
              "wardrobe", "investment", "basic", "goes with everything"),
}
_FIRST_WORDS = frozenset(
    {"the", "it", "it's", "its", "this", "fabric", "material", "great", "perfect", "very",
     "so", "super", "nice", "beautiful", "fits", "runs", "true", "soft", "comfortable",
     "lovely", "easy", "flattering", "wonderful", "fantastic", "looks", "such", "really"}
)
_REJECT = re.compile(
    r"\b(i|i'm|i've|i'd|i'll|me|my|mine|we|our|us|not|n't|but|however|though|although|wish|"
    r"return|returned|disappoint\w*|unfortunately|too|only|if|would|could|should|might|bought|"
    r"was|were|had|ordered|purchase\w*|review\w*|retailer|store|online|price|sale|cheap|expensive|money|"
    r"size\w*|petite|xs|small|medium|large|bust|chest|hips|belly|tummy|butt|pregnan\w*|lbs|"
    r"husband|daughter|mom|mother|kids?|baby|sister|friend\w*|compliments?|nude|sexy|skin|"
    r"dress\w*|skirt\w*|blouse\w*|sweater\w*|tops?|pants|jeans|jacket\w*|coat\w*|cardigan\w*|"
    r"tunic\w*|shirt\w*|tee\w*|romper\w*|jumpsuit\w*|shorts|suit\w*|bra|slip|vest|pullover|"
    r"leggings|bottoms|swimsuit|piece)\b|n't|[0-9$%?\"()]"
)


@dataclass(frozen=True, slots=True)
class AspectPhrases:
    """Mined shop-voice phrases filed under (review class, age band, aspect)."""

    by_key: dict[tuple[str, str, str], list[str]]

    def pool(self, review_class: str, age_band: str | None, aspect: str) -> list[str]:
        """The most specific non-empty pool: (class, age, aspect), then (class), then any."""
        for key in ((review_class, age_band or "*", aspect), (review_class, "*", aspect),
                    ("*", "*", aspect)):
            if len(self.by_key.get(key, ())) >= 5:
                return self.by_key[key]
        return []


def _aspect_of(sentence: str) -> str | None:
    hits = [a for a, words in ASPECT_KEYWORDS.items()
            if any(re.search(rf"\b{re.escape(w)}\b", sentence) for w in words)]
    return hits[0] if len(hits) == 1 else None


def to_shop_voice(sentence: str) -> str | None:
    """A review sentence rewritten as something the shop can say, or None if it can't be."""
    text = " ".join(sentence.lower().replace("!", " ").split()).strip(" ,;:-")
    words = text.split()
    if not 4 <= len(words) <= 16 or words[0] not in _FIRST_WORDS or _REJECT.search(text):
        return None
    if default_lexicon().mentions(text):
        return None
    text = re.sub(r"\bsuper\b", "really", text)
    return text[0].upper() + text[1:] + "."


def mine_reviews(path: Path, *, validation: bool = False) -> tuple[AspectPhrases, int]:
    """Aspect phrases from one side of a reviews CSV (the row index is hashed for the split)."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise DataFileError(f"cannot read reviews file {path}: {exc}") from exc
    by_key: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    rows = 0
    with handle:
        for row in csv.DictReader(handle):
            index = row.get("") or row.get("Unnamed: 0") or ""
            if is_validation(f"review:{index}") != validation or not row.get("Age", "").isdigit():
                continue
            if row.get("Rating", "0") not in ("4", "5"):
                continue
            rows += 1
            band, cls = age_band_for(int(row["Age"])), row.get("Class Name") or "*"
            for sentence in re.split(r"[.!?\n]+", row.get("Review Text") or ""):
                phrase = to_shop_voice(sentence)
                aspect = _aspect_of(phrase.lower()) if phrase else None
                if phrase and aspect:
                    for key in ((cls, band, aspect), (cls, "*", aspect), ("*", "*", aspect)):
                        by_key[key].add(phrase)
    return AspectPhrases({k: sorted(v) for k, v in by_key.items()}), rows


# Which review class speaks for a catalog article type; unmapped types use the shop's own
# phrase bank below (the reviews are about women's clothing only).
_REVIEW_CLASS = {
    "Tshirts": "Knits", "Tops": "Knits", "Tunics": "Blouses", "Kurtis": "Blouses",
    "Kurtas": "Blouses", "Shirts": "Blouses", "Sweaters": "Sweaters", "Sweatshirts": "Sweaters",
    "Jeans": "Jeans", "Jeggings": "Jeans", "Trousers": "Pants", "Track Pants": "Pants",
    "Capris": "Pants", "Leggings": "Legwear", "Shorts": "Shorts", "Skirts": "Skirts",
    "Dresses": "Dresses", "Jumpsuit": "Dresses", "Rompers": "Dresses", "Jackets": "Jackets",
    "Blazers": "Jackets", "Rain Jacket": "Outerwear", "Swimwear": "Swim", "Socks": "Legwear",
    "Stockings": "Legwear", "Tights": "Legwear", "Sarees": "Layering", "Dupatta": "Layering",
    "Stoles": "Layering", "Scarves": "Layering", "Mufflers": "Layering",
}
_SHOP_PHRASES: dict[str, tuple[str, ...]] = {
    "fit": ("Shaped to sit just right from the first wear.", "A close, easy fit that stays put.",
            "Proportions that sit neatly and never feel boxy.",
            "Designed to fit true and hold its shape all day."),
    "fabric": ("Finished with a clean, durable texture.", "The finish has a rich, refined feel.",
               "Crafted from materials chosen for their feel and finish.",
               "A smooth finish that looks as good as it feels."),
    "comfort": ("Light and comfortable enough for all-day wear.",
                "Easy to wear from morning to night.", "Soft where it counts and easy to forget.",
                "Comfort built in for long days on the go."),
    "occasion": ("Ready for the office, the weekend and everything between.",
                 "An easy pick for a dinner date or a day out.",
                 "Made for weekend plans and travel days alike.",
                 "From desk to dinner, it is right for the occasion."),
    "value": ("A versatile staple that earns its place in the wardrobe.",
              "Well made to last season after season.",
              "A wardrobe basic that works with everything.",
              "Quality that keeps it in rotation for years."),
}
_LEADS: dict[str, tuple[str, ...]] = {
    "fit": ("{This} {colour} {noun} is cut for a clean, flattering fit{use}.",
            "{A} {colour} {noun} with a fit that is tailored{use}.",
            "Cut to fit well, {this} {colour} {noun} keeps its shape{use}."),
    "fabric": ("{This} {colour} {noun} is all about the fabric and its finish{use}.",
               "{A} {colour} {noun} with a fabric that feels as good as it looks{use}.",
               "Fabric comes first in {this} {colour} {noun}{use}."),
    "comfort": ("{This} {colour} {noun} puts comfort first{use}.",
                "{A} comfortable {colour} {noun} that is easy to wear all day{use}.",
                "Made for comfort, {this} {colour} {noun} feels easy from the start{use}."),
    "occasion": ("{This} {colour} {noun} is ready for any occasion{use}.",
                 "{A} {colour} {noun} that moves from work to the weekend{use}.",
                 "Smart or relaxed, {this} {colour} {noun} is right for the occasion{use}."),
    "value": ("{This} {colour} {noun} is a versatile staple{use}.",
              "{A} well made {colour} {noun} built to last{use}.",
              "{A} {colour} {noun} that earns its place in a lasting wardrobe{use}."),
}
_USE_CLAUSES = (" for {usage} days", ", made for {usage} wear", " with real {usage} spirit")


def describe(product: Product, controls: PersonaControls, phrases: AspectPhrases,
             rng: random.Random) -> str:
    """One synthetic target body (the part after the headline) for a product and persona."""
    aspect = controls.aspect or rng.choice(ASPECTS)
    usage = controls.usage or product.usage
    use = rng.choice(_USE_CLAUSES).format(usage=usage.lower()) if usage else ""
    colour = "multicoloured" if product.base_colour == "Multi" else product.base_colour.lower()
    noun = article_noun(product.article_type)
    # Plural nouns ("jeans", "heels") read as "a pair of" so one template fits every type.
    pair = " pair of" if noun in PAIR_NOUNS or noun.split()[-1] in PAIR_NOUNS else ""
    lead = rng.choice(_LEADS[aspect]).format(
        colour=colour, noun=noun, use=use, This=f"This{pair}", this=f"this{pair}", A=f"A{pair}")
    review_class = _REVIEW_CLASS.get(product.article_type)
    pool = phrases.pool(review_class, controls.age_band, aspect) if review_class else []
    detail = rng.choice(pool or _SHOP_PHRASES[aspect])
    return f"{lead} {detail}"


def random_controls(product: Product, rng: random.Random) -> PersonaControls:
    """A persona as the engine would derive it: each control known most of the time."""
    def maybe(values: Sequence[str], p: float = 0.8) -> str | None:
        return rng.choice(values) if rng.random() < p else None

    group = product.colour_group if rng.random() < 0.5 else maybe(COLOUR_GROUPS, 0.6)
    return PersonaControls(usage=maybe(USAGES, 0.7), colour_group=group,
                           age_band=maybe(AGE_BANDS), aspect=rng.choice(ASPECTS))


def split_products(products: Sequence[Product], *, validation: bool) -> list[Product]:
    return [p for p in products if is_validation(p.product_id) == validation]


def balanced_weights(products: Sequence[Product]) -> list[float]:
    """Sampling weight per product, 1 / sqrt(count of its article type x count of its colour):
    rare types and colours (Capris, Mauve) are seen often enough to be copied right."""
    types = Counter(p.article_type for p in products)
    colours = Counter(p.base_colour for p in products)
    return [(types[p.article_type] * colours[p.base_colour]) ** -0.5 for p in products]


def training_pairs(products: Sequence[Product], phrases: AspectPhrases,
                   seed: int) -> Iterator[tuple[str, str]]:
    """An endless, seeded stream of (prompt, target) pairs; gate-rejected targets are skipped."""
    rng = random.Random(seed)
    cumulative = list(itertools.accumulate(balanced_weights(products)))
    while True:
        product = rng.choices(products, cum_weights=cumulative)[0]
        controls = random_controls(product, rng)
        target = describe(product, controls, phrases, rng)
        if check_description(compose(product, target), product).passed:
            yield render_prompt(product, controls), target
