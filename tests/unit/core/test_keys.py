"""Redis keys and payload formats: what they look like, and that no module builds one itself."""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from recgen.api.services.feed import _SERVE_SCRIPT
from recgen.core import keys
from recgen.core.keys import asset_key

ROOT = Path(__file__).resolve().parents[3]
KEYS_MODULE = ROOT / "recgen" / "core" / "keys.py"
# The first segment of every key format in recgen.core.keys.
KEY_LITERAL = re.compile(r"\b(?:asset|feeds?|lock|rejected|deliveries|rate|idempotency):(?!\s)")
# Expressions whose value is a prefix or a stream name: joining one with ":" builds a key.
PREFIX_LIKE = re.compile(r"prefix|stream", re.IGNORECASE)


def test_key_carries_provenance_and_changes_with_model_version() -> None:
    key = asset_key("image", 15970, model_version="cgan-1", persona_id=3)
    assert key == "asset:image:cgan-1:p15970:s3"
    assert asset_key("image", 15970, model_version="cgan-2", persona_id=3) != key
    assert asset_key("text", 15970, model_version="cgan-1", persona_id=3) != key
    assert asset_key("image", 15970, model_version="cgan-1", user_id=3) == (
        "asset:image:cgan-1:p15970:u3"
    )


def test_key_rejects_ambiguous_input() -> None:
    with pytest.raises(ValueError, match="not both"):
        asset_key("text", 1, model_version="v", user_id=1, persona_id=2)
    with pytest.raises(ValueError, match="model_version"):
        asset_key("text", 1, model_version="")
    with pytest.raises(ValueError, match="longer than 256"):
        asset_key("text", 1, model_version="v" * keys.MAX_KEY_LENGTH)
    # A version cannot smuggle a separator and forge another product's key.
    forged = asset_key("text", 1, model_version="v:p2:u9")
    assert forged.count(":") == 4


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("asset:text:v1:p1:any", "text"),
        ("asset:image:v1:p1:s3", "image"),
        ("asset:video:v1:p1:s3", None),
        ("asset:text", None),
        ("feed:7", None),
        ("x:asset:text:v1:p1:any", None),
    ],
)
def test_asset_kind_names_only_asset_keys(key: str, kind: str | None) -> None:
    assert keys.asset_kind(key) == kind


def test_a_prefix_is_joined_with_one_colon_however_it_is_written() -> None:
    assert keys.prefixed("recgen", keys.feed_key(7)) == "recgen:feed:7"
    assert keys.prefixed("tenant:", keys.feed_key(7)) == "tenant:feed:7"
    assert keys.namespace("a:b") == "a:b:"


def test_the_serving_script_uses_the_payload_formats_field_names() -> None:
    read = set(re.findall(r"\b(?:feed|item|tg|ig)\['(\w+)'\]", _SERVE_SCRIPT))
    feed = (
        set(keys.FeedPayload.__annotations__)
        | set(keys.FeedItemPayload.__annotations__)
        | set(keys.GatePayload.__annotations__)
    )
    assert len(read) == 9 and read <= feed, read - feed
    entry = re.search(r"local entry = \{(.*)\}", _SERVE_SCRIPT)
    assert entry is not None
    written = set(re.findall(r"(\w+) = ", entry[1]))
    written |= set(re.findall(r"entry\['(\w+)'\]", _SERVE_SCRIPT))
    assert written == set(keys.ExposureEntry.__annotations__)


def _docstrings(tree: ast.AST) -> set[int]:
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def _colon_next_to_prefix(value: ast.expr, text: ast.expr, colon_at: int) -> bool:
    return (
        isinstance(value, ast.FormattedValue | ast.Name | ast.Attribute | ast.Call)
        and PREFIX_LIKE.search(ast.unparse(value)) is not None
        and isinstance(text, ast.Constant)
        and isinstance(text.value, str)
        and text.value[colon_at : colon_at + 1 or None] == ":"
    )


def _joins_a_prefix(node: ast.AST) -> bool:
    """``f"{prefix}:..."``, ``f"...{stream}:..."`` or ``prefix + ":"``: a key put together."""
    if isinstance(node, ast.JoinedStr):
        pairs = list(itertools.pairwise(node.values))
    elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        pairs = [(node.left, node.right)]
    else:
        return False
    return any(
        _colon_next_to_prefix(before, after, 0) or _colon_next_to_prefix(after, before, -1)
        for before, after in pairs
    )


def key_literals(path: Path) -> Iterator[tuple[int, str]]:
    """(line, source) of each place in the file that writes a Redis key format out by hand."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if _joins_a_prefix(node):
            yield getattr(node, "lineno", 0), ast.unparse(node)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and KEY_LITERAL.search(node.value)
        ):
            yield node.lineno, node.value[:80]


def test_no_module_but_core_keys_writes_a_redis_key() -> None:
    sources = [*sorted((ROOT / "recgen").rglob("*.py")), *sorted((ROOT / "workers").rglob("*.py"))]
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path in sources
        if path != KEYS_MODULE
        for line, text in key_literals(path)
    ]
    assert found == [], "Redis keys built outside recgen/core/keys.py:\n" + "\n".join(found)


def test_the_check_sees_the_forms_keys_were_written_in() -> None:
    assert list(key_literals(KEYS_MODULE)), "keys.py builds keys: the check must see them"
