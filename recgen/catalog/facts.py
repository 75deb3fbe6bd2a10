"""Facts a product's own copy states: composition, neck, collar, closure, pockets, sole, ...

A small rule-based extractor (KOBE-style knowledge grounding): the text engine conditions on
these facts and its gate may check generated text against them, so every value is a phrase
taken from the copy itself, never a guess. A fact the copy does not state is absent.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from recgen.catalog.copy import CleanCopy

_MATERIALS = (
    "organic cotton|cotton|polyester|spandex|elastane|lycra|nylon|viscose|rayon|linen|wool|"
    "woollen|merino|silk|modal|acrylic|polyamide|leather|lyocell|tencel|cashmere|jute|bamboo|"
    "denim|polyurethane|pu|suede|canvas|rubber|mesh|fleece|satin|chiffon|georgette|crepe|"
    "velvet|polycarbonate|acetate|microfib(?:er|re)|poly|elastic|elastodiene|metallic|"
    "angora|polypropylene|khadi"
)
_PERCENT = re.compile(rf"\b(\d{{1,3}}(?:\.\d+)?)\s*%\s*(?:of\s+)?({_MATERIALS})\b", re.I)
_MADE_OF = re.compile(
    rf"\bmade (?:of|from|in|with)\s+(?:a\s+|soft\s+|pure\s+)?({_MATERIALS})\b", re.I
)
# Function words: a part's phrase is the run of words after the last of them.
_FUNCTION_WORDS = (
    "a an the has have had with and or of on in at to for its it this that is are by from "
    "which as but also features featuring comes come made & each both their your"
)
_STOP = frozenset(_FUNCTION_WORDS.split())
_WORD = r"[a-z0-9][a-z0-9'/-]*"
_MAX_MODIFIERS = 3


def _modified(head: str) -> re.Pattern[str]:
    """Up to three words before ``head``: the phrase the copy names the part with."""
    return re.compile(rf"((?:{_WORD}[ \t]+){{0,{_MAX_MODIFIERS}}})({head})\b", re.I)


def _phrases(pattern: re.Pattern[str], text: str, *, limit: int = 1) -> list[str]:
    """Each match with its modifiers, less any leading function words; bare heads skipped."""
    found: list[str] = []
    for match in pattern.finditer(text):
        words = match[1].split()
        while words and words[0].lower() in _STOP:
            words = words[1:]
        # Only the words nearest the head: the run after the last function word.
        for i in range(len(words) - 1, -1, -1):
            if words[i].lower() in _STOP:
                words = words[i + 1 :]
                break
        if words:
            phrase = " ".join([*words, match[2]]).lower()
            if phrase not in found:
                found.append(phrase)
        if len(found) >= limit:
            break
    return found


_NECK = re.compile(
    r"\b((?:round|v|crew|polo|scoop|boat|square|high|cowl|mock|henley|turtle|halter|"
    r"sweetheart|u|keyhole|tie-up|shawl|band|notch|mandarin)[- ]neck(?:line)?)\b",
    re.I,
)
_COLLAR = re.compile(
    r"\b((?:spread|polo|mandarin|button[- ]down|cutaway|mock|band|stand|shirt|peter pan|"
    r"shawl|notched|slim|club|cuban|wing|ribbed|contrast|classic)\s+collar)\b",
    re.I,
)
_CLOSURE = _modified(r"closure|placket|fastening|fly")
_CLOSURE_WORD = re.compile(
    r"\b(lace-ups?|slip-on|velcro|hook-and-(?:bar|eye)|drawstring|buckle|zip(?:per)? fly|"
    r"press[- ]buttons?|tie-ups?|push[- ]back)\b",
    re.I,
)
_POCKETS = _modified(r"pockets?")
_SOLE = _modified(r"out-?soles?|midsoles?|soles?")
_DIAL = _modified(r"dial")
_STRAP = _modified(r"straps?|bracelet")
_FIT = re.compile(
    r"\b((?:regular|slim|skinny|super skinny|loose|relaxed|comfort|tapered|straight|tailored|"
    r"boot-?cut|athletic|easy)\s+fit)\b",
    re.I,
)
_SLEEVES = re.compile(
    r"\b((?:short|long|three-quarter|3/4th?|half|full|cap|roll-up|elbow[- ]length|raglan|"
    r"puff)\s+sleeves?|sleeveless)\b",
    re.I,
)
_WATER = re.compile(
    r"\bwater[- ]resistan(?:t|ce)\s+(?:up\s?to\s+|upto\s+|till\s+|at\s+|to\s+)?"
    r"(\d+\s*(?:m|meters|metres|mtrs|atm|bar))\b",
    re.I,
)
_WARRANTY = re.compile(r"\b(\d+\s+(?:days?|months?|years?))(?:'s)?\s+warranty\b", re.I)
_HEEL = re.compile(r"\bheel height\s*:?\s*([\d.]+\s*(?:cm|mm|inch(?:es)?)(?:\s*\([^)]*\))?)", re.I)


def _composition(text: str) -> str | None:
    parts: list[str] = []
    for share, material in _PERCENT.findall(text):
        if float(share) <= 100:
            part = f"{share.rstrip('.')}% {material.lower()}"
            if part not in parts:
                parts.append(part)
    return ", ".join(parts[:4]) or None


def _first(pattern: re.Pattern[str]) -> Callable[[str], str | None]:
    def find(text: str) -> str | None:
        match = pattern.search(text)
        return match[1].lower() if match else None

    return find


def _phrase(pattern: re.Pattern[str], limit: int = 1) -> Callable[[str], str | None]:
    def find(text: str) -> str | None:
        return "; ".join(_phrases(pattern, text, limit=limit)) or None

    return find


# Fact name -> how to read it from the copy's text, in the order they are reported.
_FROM_TEXT: dict[str, Callable[[str], str | None]] = {
    "composition": _composition,
    "material": _first(_MADE_OF),
    "neck": _first(_NECK),
    "collar": _first(_COLLAR),
    "closure": lambda text: _phrase(_CLOSURE)(text) or _first(_CLOSURE_WORD)(text),
    "pockets": _phrase(_POCKETS, limit=3),
    "sole": _phrase(_SOLE, limit=2),
    "dial": _phrase(_DIAL),
    "strap": _phrase(_STRAP),
    "fit": _first(_FIT),
    "sleeves": _first(_SLEEVES),
    "water resistance": _first(_WATER),
    "warranty": _first(_WARRANTY),
    "heel height": _first(_HEEL),
}
# Facts a section states outright ("Fit: Regular", "Dial shape: Round"): section -> fact.
_FROM_SECTIONS = {
    "fit": "fit",
    "dial shape": "dial shape",
    "lens colour": "lens colour",
    "lens type": "lens type",
    "frame colour": "frame colour",
    "frame type": "frame type",
    "case diameter": "case diameter",
    "heel height": "heel height",
    "warranty": "warranty",
}


def _normal_fit(value: str) -> str:
    """"Regular" under a Fit heading is "regular fit", as the copy's own phrases say it."""
    value = value.lower()
    return value if value.endswith("fit") or len(value.split()) > 2 else f"{value} fit"


def extract_facts(copy: CleanCopy) -> dict[str, str]:
    """The facts the copy states, by name; a section's short value wins over a phrase."""
    facts: dict[str, str] = {}
    for section, fact in _FROM_SECTIONS.items():
        value = copy.sections.get(section, "").split("\n")[0].strip(" .")
        if value and len(value.split()) <= 6:
            facts[fact] = _normal_fit(value) if fact == "fit" else value
    text = copy.all_text
    for fact, find in _FROM_TEXT.items():
        if fact in facts or (fact == "material" and "composition" in facts):
            continue
        found = find(text)
        if found:
            facts[fact] = found
    return facts
