"""Raw catalog HTML to lines of plain text, with what marks a line as a heading.

The shop's copy is hand-edited HTML from several editors: headings are ``<strong>``, ``<b>``,
``<em>`` or a ``<span style="font-weight: bold">``, paragraphs are ``<p>``, ``<div>`` or two
``<br>`` in a row, lists are ``<ul>``, and a few rows carry pasted tables. The standard library's
``html.parser`` reads all of it (it never fails on broken markup) and decodes the entities; this
module only keeps the structure that the copy cleaner needs: lines, paragraph breaks, which
part of a line was emphasised, and which lines came from a table.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_BOLD_TAGS = frozenset({"strong", "b", "h1", "h2", "h3", "h4", "h5", "h6"})
_ITALIC_TAGS = frozenset({"em", "i"})
_BLOCK_TAGS = frozenset(
    {"p", "div", "ul", "ol", "table", "blockquote", "form", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_LINE_TAGS = frozenset({"li", "tr", "td", "th"})
_VOID_TAGS = frozenset({"br", "img", "col", "wbr", "hr", "input", "meta", "link"})
_SKIPPED_TAGS = frozenset({"script", "style"})
_BOLD_STYLE = re.compile(r"font-weight\s*:\s*(?:bold|[6-9]00)", re.I)
_ITALIC_STYLE = re.compile(r"font-style\s*:\s*italic", re.I)

# Text that was UTF-8 read as cp1252 (e.g. "â€™" for "’", "Â\xa0" for a no-break space):
# a lead byte and one to three continuation bytes as cp1252 shows them.
_CP1252_CONTINUATION = (
    "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
)
# The same sanitizer put spaces between the entities of one character ("ï » ¿").
_MOJIBAKE = re.compile(f"[\u00c2-\u00f4](?: *[{_CP1252_CONTINUATION}]){{1,3}}")
# Text that went through that several times is beyond repair ("Ã??Ã?Â??..."): dropped.
_GARBLED = re.compile("(?:[\u00c2\u00c3][?\u00a0-\u00bf]*){3,}")
# Entities whose ";" an old sanitizer turned into spaces, after "&amp;" ("&amp;  rsquo ").
_BROKEN_ENTITY = re.compile(
    r"&\s*(?:amp;\s*)?(rdquo|rsquo|ldquo|lsquo|ndash|mdash|euro|trade|tilde|bull|nbsp|hellip|eacute|"
    r"reg|copy|deg|middot|raquo|laquo|iquest|acirc|Acirc|iuml|sbquo)\b;?\s?"
)
# Private-use bullets (Wingdings), the BOM, replacement and zero-width characters.
_INVISIBLE = re.compile("[\ue000-\uf8ff\ufeff\ufffd\u200b-\u200d\u2060]")


def _redecode(match: re.Match[str]) -> str:
    text = match.group()
    try:
        return text.replace(" ", "").encode("cp1252").decode("utf-8")
    except UnicodeError:  # a real accented letter followed by punctuation: keep it
        return text


def repair_text(text: str) -> str:
    """Undo double-encoded UTF-8, drop invisible characters, and make no-break spaces spaces."""
    text = _BROKEN_ENTITY.sub(lambda m: html.unescape(f"&{m[1]};"), text)
    text = _GARBLED.sub(" ", text)
    text = _MOJIBAKE.sub(_redecode, text)
    return _INVISIBLE.sub("", text).replace("\xa0", " ")


@dataclass(slots=True)
class Line:
    """One line of text: its runs as (text, emphasised) and whether it was a table cell."""

    runs: list[tuple[str, bool]] = field(default_factory=list)
    in_table: bool = False

    @property
    def text(self) -> str:
        return " ".join("".join(run for run, _ in self.runs).split())

    @property
    def lead(self) -> str:
        """The emphasised text the line starts with ("" when it starts plain)."""
        parts: list[str] = []
        for run, emphasised in self.runs:
            if not emphasised and run.strip():
                break
            parts.append(run)
        return " ".join("".join(parts).split())


# A paragraph break between lines.
BREAK = None


class _LineParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[Line | None] = []
        self._line = Line()
        # Open elements as (tag, bold, italic); popped to the matching tag on its end tag.
        self._open: list[tuple[str, bool, bool]] = []
        self._tables = 0
        self._skipping = 0

    def _emphasised(self) -> bool:
        return any(bold or italic for _, bold, italic in self._open)

    def _end_line(self, *, paragraph: bool, by_br: bool = False) -> None:
        if self._line.text:
            self.items.append(self._line)
        elif by_br:
            # A line with no text (two <br> in a row) ends the paragraph.
            paragraph = True
        if paragraph and self.items and self.items[-1] is not BREAK:
            self.items.append(BREAK)
        self._line = Line(in_table=self._tables > 0)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
            return
        if tag == "br":
            self._end_line(paragraph=False, by_br=True)
            return
        if tag in _BLOCK_TAGS or tag in _LINE_TAGS:
            if tag == "table":
                self._tables += 1
            self._end_line(paragraph=tag in _BLOCK_TAGS)
        if tag in _VOID_TAGS:
            return
        style = next((value or "" for name, value in attrs if name == "style"), "")
        bold = tag in _BOLD_TAGS or bool(_BOLD_STYLE.search(style))
        italic = tag in _ITALIC_TAGS or bool(_ITALIC_STYLE.search(style))
        self._open.append((tag, bold, italic))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or tag in _VOID_TAGS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
            return
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break
        if tag in _BLOCK_TAGS or tag in _LINE_TAGS:
            if tag == "table" and self._tables:
                self._tables -= 1
            self._end_line(paragraph=tag in _BLOCK_TAGS)

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._line.runs.append((repair_text(data), self._emphasised()))

    def finish(self) -> list[Line | None]:
        self.close()
        self._end_line(paragraph=True)
        return self.items


# Markup that was escaped once too often ("&lt;b&gt;Style Note&lt;/b&gt;") is markup.
_ESCAPED_TAG = re.compile(r"&lt;(/?[a-zA-Z][a-zA-Z0-9]*\s*/?)&gt;")


def html_lines(raw: str) -> list[Line | None]:
    """The lines of an HTML fragment in order, ``BREAK`` (None) between paragraphs."""
    parser = _LineParser()
    parser.feed(_ESCAPED_TAG.sub(r"<\1>", raw))
    return parser.finish()
