"""Does a product's copy contradict the product's own attributes?

Real copy does ("this funky orange t-shirt" on a red polo, a women's tee in a men's listing,
long sleeves on a short-sleeved shirt), often because colour variants share one text. The text
engine must not learn those contradictions, so :func:`check_copy` flags them and training keeps
flagged copy out.

Only what the copy says *about the product* counts: the words just before a noun that names
the product's own type ("orange t-shirt", "women's tee", "striped polo"), the sleeve length it
states, and the type its lead sentence names. "Team it with blue jeans" on a red t-shirt names
another product and is no contradiction. The words checked come from an
:class:`AttributeVocabulary` built from the catalog itself: the values seen per attribute.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from recgen.catalog.colours import colour_group_of

MISSING = frozenset({"", "na", "n/a", "none", "null"})
# Colour names that as often name a material or finish ("stainless steel", "gold-toned",
# "skin-friendly"): never taken as the copy's colour, and a product of that colour is not checked.
_AMBIGUOUS_COLOURS = frozenset(
    {"steel", "metallic", "skin", "nude", "gold", "silver", "copper", "bronze", "rose", "tan",
     "rust", "multi", "cream", "mushroom brown", "coffee brown", "fluorescent green"}
)
_COLOUR_ALIASES = {"navy": "navy blue", "gray": "grey", "off-white": "off white",
                   "turquoise": "turquoise blue", "lime": "lime green"}
# Nouns the copy uses for a type, besides the type's own name.
_SHOES = ("shoes", "shoe", "sneakers", "boots", "boot", "loafers", "trainers")
_BAGS = ("bag", "bags")
_TYPE_NOUNS = {
    "Tshirts": ("t-shirt", "t-shirts", "tee", "tees", "polo", "tshirt"),
    "Lounge Tshirts": ("t-shirt", "tee"),
    "Sweatshirts": ("hoodie", "sweatshirt"),
    "Casual Shoes": _SHOES,
    "Sports Shoes": _SHOES,
    "Formal Shoes": (*_SHOES, "oxfords", "brogues", "derbys"),
    "Track Pants": ("pants", "joggers", "track pant"),
    "Lounge Pants": ("pants", "pyjamas"),
    "Lounge Shorts": ("shorts",),
    "Flip Flops": ("flip-flops", "slippers", "flip flops"),
    "Handbags": (*_BAGS, "tote", "satchel"),
    "Laptop Bag": _BAGS,
    "Messenger Bag": _BAGS,
    "Duffel Bag": _BAGS,
    "Backpacks": (*_BAGS, "backpack"),
    "Kurtas": ("kurta",),
    "Kurtis": ("kurti",),
    "Heels": ("pumps", "sandals", "wedges"),
    "Watches": ("watch", "timepiece"),
    "Night suits": ("night suit",),
}
# Colour families that copy and attributes use for one colour ("pink" for Magenta, "grey" for
# Charcoal, "cream" for Beige): no contradiction between them.
_NEAR_GROUPS = frozenset(
    frozenset(pair)
    for pair in (("Pink", "Purple"), ("Pink", "Red"), ("Grey", "Black"), ("Brown", "Yellow"),
                 ("Blue", "Green"), ("White", "Brown"))
)
# Sub-categories that copy uses interchangeably (a heeled sandal listed under shoes).
_GROUP_OF_SUBCATEGORY = {"Shoes": "Footwear", "Sandal": "Footwear", "Flip Flops": "Footwear"}
_GENDER_WORDS = {
    "men": "male", "men's": "male", "mens": "male", "boys": "male", "boy's": "male",
    "boys'": "male", "women": "female", "women's": "female", "womens": "female",
    "ladies": "female", "ladies'": "female", "girls": "female", "girl's": "female",
    "girls'": "female",
}
_SEX_OF_GENDER = {"Men": "male", "Boys": "male", "Women": "female", "Girls": "female"}
_PATTERN_WORDS = {"solid": "Solid", "striped": "Striped", "checked": "Checked",
                  "checkered": "Checked", "plaid": "Checked", "printed": "Printed"}
_SLEEVES = {
    "short": re.compile(r"\b(?:short|half)[- ]sleeve", re.I),
    "long": re.compile(r"\b(?:long|full)[- ]sleeve", re.I),
    "sleeveless": re.compile(r"\bsleeveless\b", re.I),
    "three-quarter": re.compile(r"\b(?:three[- ]quarter|3/4(?:th)?)[- ]sleeve", re.I),
}
_SLEEVE_OF_VALUE = {"Short Sleeves": "short", "Long Sleeves": "long", "Sleeveless": "sleeveless",
                    "No Sleeves": "sleeveless", "Three-Quarter Sleeves": "three-quarter"}
_SENTENCE = re.compile(r"[.!?;\n]+")
_WINDOW_WORDS = 5
# The product's own adjectives are the words after the last of these ("a range of t-shirts",
# "the Green Lantern logo on this tee": no colour of the product's).
_PHRASE_STARTERS = (
    "this these that the a an of from with for in on to your our its their is are it by like as"
)
_PHRASE_START = frozenset(_PHRASE_STARTERS.split())
# Nouns that are as often adjectives ("short sleeved", "mid top shoe"): no type of their own
# when the lead introduces the product.
_NOT_INTRODUCING = frozenset({"short", "top", "tight", "brief", "cap", "flat", "polo"})
# Products made of several garments ("kurta churidar set", a night suit's t-shirt): their lead
# names the parts, so the type check does not apply.
_SET_SUBCATEGORIES = frozenset({"Apparel Set", "Loungewear and Nightwear"})


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and not word.endswith("ss") else word


def _alternation(words: Iterable[str]) -> re.Pattern[str]:
    ordered = sorted({w for w in words if w}, key=len, reverse=True)  # longest first
    return re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, ordered)) + r")(?![\w-])")


@dataclass(frozen=True, slots=True)
class AttributeVocabulary:
    """The values seen per attribute key ("baseColour" -> {"Red", ...}, "Pattern" -> ...)
    and the sub-category of each article type."""

    values: dict[str, frozenset[str]]
    subcategory_of: dict[str, str]
    _nouns: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_products(cls, products: Iterable[Mapping[str, str]]) -> AttributeVocabulary:
        """Learn it from products' attributes (keys as in the catalog files)."""
        values: dict[str, set[str]] = defaultdict(set)
        subcategories: dict[str, Counter[str]] = defaultdict(Counter)
        for attributes in products:
            for key, value in attributes.items():
                if value and value.strip().lower() not in MISSING:
                    values[key].add(value.strip())
            article, sub = attributes.get("articleType"), attributes.get("subCategory")
            if article and sub:
                subcategories[article][sub] += 1
        nouns = {article: _nouns_of(article) for article in values.get("articleType", ())}
        return cls(
            values={key: frozenset(found) for key, found in values.items()},
            subcategory_of={a: c.most_common(1)[0][0] for a, c in subcategories.items()},
            _nouns=nouns,
        )

    def colours(self) -> frozenset[str]:
        seen = set().union(*(self.values.get(k, ()) for k in ("baseColour", "colour1", "colour2")))
        return frozenset(c.lower() for c in seen)

    def nouns(self, article_type: str) -> tuple[str, ...]:
        return self._nouns.get(article_type) or _nouns_of(article_type)

    def group(self, article_type: str) -> str:
        sub = self.subcategory_of.get(article_type, article_type)
        return _GROUP_OF_SUBCATEGORY.get(sub, sub)


def _nouns_of(article_type: str) -> tuple[str, ...]:
    """The type's name (and its singular) and the other nouns copy uses for it. Not the last
    word alone: "colour" (Hair Colour) or "lace" (Shoe Laces) name no product."""
    name = article_type.lower()
    return tuple(sorted({name, _singular(name), *_TYPE_NOUNS.get(article_type, ())}))


class CopyChecker:
    """Checks copy against a product's attributes with one vocabulary's words."""

    def __init__(self, vocabulary: AttributeVocabulary) -> None:
        self.vocabulary = vocabulary
        colours = {c for c in vocabulary.colours() if c not in _AMBIGUOUS_COLOURS}
        self._colour = _alternation([*colours, *_COLOUR_ALIASES])
        # A noun may name several types ("t-shirt": Tshirts and Lounge Tshirts).
        self._types_of_noun: dict[str, list[str]] = defaultdict(list)
        for article in sorted(vocabulary.values.get("articleType", ())):
            for noun in vocabulary.nouns(article):
                self._types_of_noun[noun].append(article)
        # A type the lead introduces with a colour: "Grey yoga pants made of ...".
        self._introduced = re.compile(
            self._colour.pattern + r"(?:[ ,/&-]+[\w'-]+){0,4}?[ -]+"
            + _alternation(set(self._types_of_noun) - _NOT_INTRODUCING).pattern
        )
        self._own: dict[str, re.Pattern[str]] = {}

    def _own_nouns(self, article_type: str) -> re.Pattern[str]:
        if article_type not in self._own:
            self._own[article_type] = _alternation(self.vocabulary.nouns(article_type))
        return self._own[article_type]

    def conflicts(self, text: str, attributes: Mapping[str, str], *, lead: str = "") -> list[str]:
        """What ``text`` (the copy's body) says about the product that its ``attributes``
        contradict; ``lead`` is the sentence that introduces the product (default: the first)."""
        article = attributes.get("articleType", "")
        found: list[str] = []
        own = self._own_nouns(article) if article else None
        for sentence in _SENTENCE.split(text.lower()):
            for match in own.finditer(sentence) if own else ():
                words = sentence[: match.start()].split()[-_WINDOW_WORDS:]
                starts = [i for i, word in enumerate(words) if word in _PHRASE_START]
                before = " ".join(words[starts[-1] + 1 :] if starts else words)
                found += self._phrase_conflicts(before, match[1], attributes)
        found += self._sleeve_conflicts(text, attributes)
        found += self._type_conflicts(lead or _SENTENCE.split(text, maxsplit=1)[0], attributes)
        return list(dict.fromkeys(found))

    def _phrase_conflicts(
        self, before: str, noun: str, attributes: Mapping[str, str]
    ) -> list[str]:
        out: list[str] = []
        said = [_COLOUR_ALIASES.get(c, c) for c in self._colour.findall(before)]
        own = _own_colours(attributes)
        if said and own and not any(_same_colour(c, o) for c in said for o in own):
            out.append(
                f"colour: copy says {said[-1]!r} {noun}, product is {attributes['baseColour']}"
            )
        sexes = {_GENDER_WORDS[w] for w in before.split() if w in _GENDER_WORDS}
        sex = _SEX_OF_GENDER.get(attributes.get("gender", ""))
        if sex and sexes and sex not in sexes:
            out.append(f"gender: copy says {before.split()[-1]!r} {noun}, product is "
                       f"{attributes['gender']}")
        patterns = {_PATTERN_WORDS[w] for w in before.split() if w in _PATTERN_WORDS}
        pattern = attributes.get("Pattern")
        if pattern in _PATTERN_WORDS.values() and patterns and pattern not in patterns:
            out.append(f"pattern: copy says {sorted(patterns)[0].lower()} {noun}, "
                       f"product is {pattern}")
        return out

    def _sleeve_conflicts(self, text: str, attributes: Mapping[str, str]) -> list[str]:
        own = _SLEEVE_OF_VALUE.get(attributes.get("Sleeve Length", ""))
        said = [name for name, pattern in _SLEEVES.items() if pattern.search(text)]
        if own and said and own not in said:
            return [f"sleeves: copy says {said[0]} sleeves, product is "
                    f"{attributes['Sleeve Length']}"]
        return []

    def _type_conflicts(self, lead: str, attributes: Mapping[str, str]) -> list[str]:
        article = attributes.get("articleType")
        if not article or "set" in article.lower().split():
            return []
        if self.vocabulary.subcategory_of.get(article) in _SET_SUBCATEGORIES:
            return []
        lead = lead.lower()
        if self._own_nouns(article).search(lead):
            return []  # "T-shirt bra": the lead names the product's own type too
        nouns = [match[2] for match in self._introduced.finditer(lead)]
        groups = {self.vocabulary.group(a) for n in nouns for a in self._types_of_noun[n]}
        if nouns and self.vocabulary.group(article) not in groups:
            return [f"type: copy introduces {nouns[0]!r}, product is {article}"]
        return []


def _own_colours(attributes: Mapping[str, str]) -> list[str]:
    base = attributes.get("baseColour", "").strip().lower()
    if not base or base in MISSING or base in _AMBIGUOUS_COLOURS:
        return []  # a multi-coloured or metallic product: any colour word may be right
    extra = (attributes.get(k, "").strip().lower() for k in ("colour1", "colour2"))
    return [base, *(c for c in extra if c and c not in MISSING)]


def _same_colour(said: str, own: str) -> bool:
    """Same name, one name inside the other ("navy" / "navy blue"), or the same colour group
    ("maroon" on a "Red" product)."""
    said_words, own_words = set(said.split()), set(own.split())
    if said_words <= own_words or own_words <= said_words:
        return True
    said_group, own_group = colour_group_of(said), colour_group_of(own)
    return said_group == own_group or frozenset((said_group, own_group)) in _NEAR_GROUPS
