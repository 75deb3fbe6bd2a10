"""FeedOut says what each feed state means, so a body that contradicts its state is refused.

The bodies the endpoint really answers are validated in tests/integration/api/test_feed_contract.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from recgen.api.schemas import FeedOut


def item(**changes: Any) -> dict[str, Any]:
    return {
        "product_id": 101,
        "exposure_id": "9f2c41d07ab3e2c1-1",
        "content": "generated",
        "title": "Navy Shirt",
        "text": "A navy shirt for your Fall weekends.",
        "text_source": "generated",
        "image_url": "/v1/products/101/image",
        "image_source": "stock",
        **changes,
    }


STOCK = item(content="stock", text="Navy Shirt", text_source="stock")


STOCK_ONLY = ("cold_start", "degraded")  # states that may show stock content only


def body(state: str = "ready", **changes: Any) -> dict[str, Any]:
    ready = state == "ready"
    return {
        "user_id": 7,
        "state": state,
        "experiment_id": 3,
        "arm": "generated",
        "generated_at": 1_700_000_000.5 if ready else None,
        "model_versions": {"text": "v1", "image": "v1"} if ready else {},
        "items": [item(), STOCK] if ready else [STOCK] if state in STOCK_ONLY else [],
        **changes,
    }


@pytest.mark.parametrize("state", ["ready", "refreshing", *STOCK_ONLY])
def test_each_state_as_the_endpoint_answers_it_is_accepted(state: str) -> None:
    assert FeedOut.model_validate(body(state), strict=True).state == state


def test_the_shared_cold_start_feed_may_show_generated_content() -> None:
    shared = body("cold_start", **{key: body()[key] for key in
                                   ("generated_at", "model_versions", "items")})
    assert FeedOut.model_validate(shared, strict=True).items[0].content == "generated"


CONTRADICTIONS: dict[str, Callable[[], dict[str, Any]]] = {
    "degraded feed with generated content": lambda: body("degraded", items=[item()]),
    "stock cold-start feed with generated content": lambda: body("cold_start", items=[item()]),
    "stock cold-start feed with model versions": lambda: body(
        "cold_start", model_versions={"text": "v"}
    ),
    "refreshing feed with items": lambda: body("refreshing", items=[STOCK]),
    "degraded feed that was generated": lambda: body("degraded", generated_at=1.0),
    "ready feed never generated": lambda: body(generated_at=None),
    "model versions of no feed": lambda: body("refreshing", model_versions={"text": "v"}),
    "generated content from stock sources": lambda: body(
        items=[item(text_source="stock", text="Navy Shirt")]
    ),
    "stock content with a generated text": lambda: body(items=[item(content="stock")]),
    "stock text that is not the title": lambda: body(items=[{**STOCK, "text": "Other"}]),
    "image source without an image": lambda: body(items=[item(image_url=None)]),
    "field the schema does not have": lambda: body(cursor="abc"),
    "item field the schema does not have": lambda: body(items=[item(debug=1)]),
}


@pytest.mark.parametrize("make", CONTRADICTIONS.values(), ids=CONTRADICTIONS.keys())
def test_a_body_that_contradicts_its_state_is_refused(make: Callable[[], dict[str, Any]]) -> None:
    with pytest.raises(ValidationError):
        FeedOut.model_validate(make(), strict=True)
