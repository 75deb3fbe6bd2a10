"""Cleaning the shop's own copy: raw HTML to a publishable body plus structured boilerplate.

A product's ``productDescriptors`` hold a ``description`` (nearly always), a ``style_note``,
``materials_care_desc`` and ``size_fit_desc``. The description mixes what a shopper reads
(composition, product details, style note, untitled marketing prose) with boilerplate that is
data, not copy: wash care, model statistics, measurements, warranty, pasted size tables.
:func:`clean_copy` keeps the first as ``body`` and the second as ``sections``, ``care`` and
``sizing``, so the text engine trains on copy and the serving path can still show care lines.

Sections are found by their headings (``<strong>`` and the other marks of
:mod:`recgen.catalog.html_text`, or a known heading name on a line of its own where an editor's
style lost the bold) and by ``Label: value`` lines; a paragraph break after a section's text
ends it, since the marketing prose that often follows the wash-care list has no heading.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from recgen.catalog.html_text import BREAK, Line, html_lines

Kind = Literal["body", "care", "sizing", "spec"]

# Heading spellings seen in the catalog -> one name per section.
_ALIASES = {
    "fitting": "fit",
    "washcare": "wash care",
    "wash": "wash care",
    "care": "wash care",
    "wash care instructions": "wash care",
    "care instructions": "wash care",
    "material and care": "material & care",
    "materials and care": "material & care",
    "material care": "material & care",
    "size and fit": "size & fit",
    "size fit": "size & fit",
    "model statistics": "model statistics",
    "model stats": "model statistics",
    "model's statistics": "model statistics",
    "models statistics": "model statistics",
    "product description": "product details",
    "product specification": "product details",
    "product specifications": "product details",
    "details": "product details",
    "style notes": "style note",
    "uppers": "upper",
    "out-sole": "outsole",
}
# Names that are a heading even as plain text on a line of their own.
_KNOWN = frozenset(
    {
        *_ALIASES.values(),
        "composition",
        "features",
        "upper",
        "outsole",
        "midsole",
        "insole",
        "sole",
        "lining",
        "heel",
        "size",
        "dimensions",
        "warranty",
        "caution",
        "measurement",
        "measurements",
    }
)
_MEASURE_WORDS = frozenset(
    {
        "width", "height", "depth", "length", "diameter", "thickness", "dimension",
        "dimensions", "capacity", "weight", "volume", "measurement", "measurements",
        "size", "sizes", "fit", "statistics",
    }
)
_SPEC_NAMES = frozenset(
    {"warranty", "guarantee", "caution", "flammable", "quantity", "table", "notices"}
)
# Sections kept in the body even when they hold a single short line.
_ALWAYS_BODY = frozenset({"style note", "product details"})
# The section a descriptor field's unheaded text belongs to (None: the body's own prose).
_FIELD_SECTIONS: dict[str, str | None] = {
    "description": None,
    "style_note": "style note",
    "materials_care_desc": "material & care",
    "size_fit_desc": "size & fit",
}
_LABEL = re.compile(r"^([A-Za-z][A-Za-z0-9 &/'().-]{0,30}?)\s*:\s*(\S.*)$")
_CARE_START = re.compile(
    r"^(?:machine|hand|gentle|dry|wash|do not|don'?t|don’t|tumble|warm|cool|cold|iron|use|"
    r"bleach|line dry|hang|wipe|rub|clean|spot|remove|avoid|turn|soak|store|keep|steam|"
    r"professional|mild|air|brush|polish|apply|not|delicate|pre-soak|preferably)\b",
    re.I,
)
_CARE_WORD = re.compile(
    r"\b(?:wash\w*|bleach\w*|iron\w*|dry|dried|drying|clean\w*|detergent|soak\w*|tumble|"
    r"wipe|rub|cloth|dust|shade|polish|wring|launder\w*)\b",
    re.I,
)
_MODEL_LINE = re.compile(r"\bmodel\b.*\b(?:wear\w*|height|size|chest|shoulders?|bust)\b", re.I)
_BODY_MEASURE = re.compile(
    r"^(?:height|chest|shoulders?|waist|bust|hips?)\s*[-:]?\s*\d", re.I
)
# Lines that are notices rather than copy: warranty terms, registration links, legal lines.
_NOTICE_LINE = re.compile(
    r"^(?:warranty|guarantee)\b|^\d+\s+(?:days?|months?|years?)\s+warranty\b|"
    r"\bprovided by (?:the )?brand owner|all rights reserved|"
    r"https?://|\bwww\.",
    re.I,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_BULLET = re.compile(r"^(?:[•·*–—-]+|\d{1,2}[.)])\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_DOTS = re.compile(r"\.{2,}")
_END = ".!?"


@dataclass(frozen=True, slots=True)
class CleanCopy:
    """Publishable ``body`` (paragraphs separated by a blank line) and the structured rest.

    ``sections`` maps a section name ("composition", "wash care", "model statistics", a
    ``Label:`` such as "lens width") to its lines; ``care`` and ``sizing`` are the wash-care
    and size/fit/model lines, kept out of the body.
    """

    body: str
    sections: dict[str, str] = field(default_factory=dict)
    care: list[str] = field(default_factory=list)
    sizing: list[str] = field(default_factory=list)

    @property
    def all_text(self) -> str:
        """Body and every section: the product's own words, for fact extraction."""
        return "\n".join([self.body, *self.sections.values()])


@dataclass(slots=True)
class _Section:
    name: str | None
    lines: list[str] = field(default_factory=list)


def section_name(heading: str) -> str:
    """One name for a heading however it was spelt ("Materials and Care:" -> "material & care")."""
    name = heading.lower().replace("&", " and ")
    name = " ".join(re.sub(r"[^a-z0-9' -]+", " ", name).split())
    return _ALIASES.get(name, name)


def section_kind(name: str | None) -> Kind:
    if name is None:
        return "body"
    words = set(name.split())
    if "care" in words or name.startswith("wash"):
        return "care"
    if words & _MEASURE_WORDS:
        return "sizing"
    if name in _SPEC_NAMES or name.startswith("about "):
        return "spec"
    return "body"


def _tidy(text: str) -> str:
    text = text.replace("<", " ").replace(">", " ")
    text = " ".join(text.split())
    text = _BULLET.sub("", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _DOTS.sub(".", text).strip(" ,;")


def _heading(line: Line, text: str) -> tuple[str, str] | None:
    """(section name, text after the heading) when the line starts a section."""
    lead = _tidy(line.lead)
    bare = text.rstrip(": ")
    if lead and lead.rstrip(": ") == bare and len(bare.split()) <= 5 and text[-1] not in _END:
        return section_name(bare), ""
    if lead and text.startswith(lead) and len(lead.split()) <= 4:
        rest = text[len(lead) :]
        if lead.endswith(":") or rest.lstrip().startswith(":"):
            return section_name(lead), rest.lstrip(" :")
    name = section_name(bare)
    if len(bare.split()) <= 4 and (name in _KNOWN or name.endswith(" care")):
        return name, ""
    label = _LABEL.match(text)
    if label and section_name(label[1]) in _KNOWN:
        return section_name(label[1]), label[2]
    return None


def _spec(text: str) -> tuple[str, str] | None:
    """A short ``Label: value`` line ("Lens width: 59 mm"), which is data rather than copy."""
    label = _LABEL.match(text)
    if label is None or len(label[1].split()) > 3 or len(label[2].split()) > 6:
        return None
    return section_name(label[1]), label[2]


def is_care_line(text: str) -> bool:
    return len(text.split()) <= 14 and bool(_CARE_START.match(text) and _CARE_WORD.search(text))


def is_sizing_line(text: str) -> bool:
    return bool(
        (_MODEL_LINE.search(text) and len(text.split()) <= 30) or _BODY_MEASURE.match(text)
    )


def _split_sections(
    raw: str, default: str | None
) -> tuple[list[_Section], list[tuple[str, str, str]]]:
    """A field's sections in order, and its data lines as (name, value, line): ``Label: value``
    lines and table cells."""
    sections = [_Section(default)]
    specs: list[tuple[str, str, str]] = []
    for item in html_lines(raw):
        current = sections[-1]
        if item is BREAK:
            # Unheaded text after a finished section is the field's own prose again (a new
            # paragraph of it).
            if current.lines:
                sections.append(_Section(default))
            continue
        text = _tidy(item.text)
        if not text:
            continue
        if item.in_table:
            specs.append(("table", text, text))
            continue
        heading = _heading(item, text)
        spec = None if heading is not None else _spec(text)
        if heading is not None:
            sections.append(_Section(heading[0], [heading[1]] if heading[1] else []))
        elif spec is not None:
            specs.append((*spec, text))
        else:
            current.lines.append(text)
    return [s for s in sections if s.lines], specs


def _paragraph(lines: list[str]) -> str:
    """Lines as sentences; a line that continues the last one's sentence is joined to it."""
    out = ""
    for line in lines:
        if not out:
            out = line[:1].upper() + line[1:]
        elif out[-1] not in _END + ":;," and line[:1].islower():
            out += " " + line
        else:
            out += ("" if out[-1] in _END + ":;," else ".") + " " + line[:1].upper() + line[1:]
    return out.rstrip(":;,") + ("." if out and out.rstrip(":;,")[-1] not in _END + "\"”'’)" else "")


class _Builder:
    def __init__(self) -> None:
        self.paragraphs: list[str] = []
        self.sections: dict[str, list[str]] = {}
        self.care: list[str] = []
        self.sizing: list[str] = []

    def keep(self, name: str, line: str) -> None:
        self.sections.setdefault(name, []).append(line)

    def add(self, section: _Section) -> None:
        kind = section_kind(section.name)
        if section.name is not None:
            for line in section.lines:
                self.keep(section.name, line)
        if kind == "care":
            # Not the material lines a "Material & Care" section starts with.
            self.care += [
                line for line in section.lines if _CARE_START.match(line) or _CARE_WORD.search(line)
            ]
        elif kind == "sizing":
            # A bare value ("Regular", "34 mm") says what it is only with its section's name.
            self.sizing += [
                f"{section.name.capitalize()}: {line}" if len(line.split()) <= 4 else line
                for line in section.lines
                if section.name is not None
            ]
        elif kind == "body":
            self._add_body(section)

    def _prose(self, line: str) -> str:
        """The line less its boilerplate sentences, which go where they belong."""
        kept = []
        for sentence in _SENTENCE_END.split(line):
            if _NOTICE_LINE.search(sentence):
                self.keep("notices", sentence)
            elif is_sizing_line(sentence):
                self.sizing.append(sentence)
            elif is_care_line(sentence):
                self.care.append(sentence.rstrip("."))
            elif section_name(sentence) not in _KNOWN:  # a heading left without its text
                kept.append(sentence)
        return " ".join(kept)

    def _add_body(self, section: _Section) -> None:
        prose = [kept for kept in map(self._prose, section.lines) if kept]
        short = len(prose) == 1 and len(prose[0].split()) <= 4
        if not prose or (short and section.name not in (None, *_ALWAYS_BODY)):
            return
        paragraph = _paragraph(prose)
        if paragraph not in self.paragraphs:
            self.paragraphs.append(paragraph)

    def add_spec(self, name: str, value: str, line: str) -> None:
        self.keep(name, value)
        kind = section_kind(name)
        if kind == "care":
            self.care.append(value)
        elif kind == "sizing":
            self.sizing.append(line)

    def build(self) -> CleanCopy:
        return CleanCopy(
            body="\n\n".join(self.paragraphs),
            sections={name: "\n".join(lines) for name, lines in self.sections.items()},
            care=list(dict.fromkeys(self.care)),
            sizing=list(dict.fromkeys(self.sizing)),
        )


def clean_copy(descriptors: Mapping[str, str | None]) -> CleanCopy:
    """Clean a product's ``productDescriptors`` (field name -> raw HTML; unknown fields and
    empty values are ignored)."""
    builder = _Builder()
    for field_name, default in _FIELD_SECTIONS.items():
        raw = descriptors.get(field_name)
        if not raw or not raw.strip():
            continue
        sections, specs = _split_sections(raw, default)
        for section in sections:
            builder.add(section)
        for name, value, line in specs:
            builder.add_spec(name, value, line)
    return builder.build()


def clean_html(raw: str) -> CleanCopy:
    """Clean one description's HTML."""
    return clean_copy({"description": raw})
