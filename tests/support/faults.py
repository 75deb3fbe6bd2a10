"""Fault injection for the worker integration test, loaded into the worker with ``-I``.

It wraps the REAL text model built from settings so that it raises for one product id (the
id comes from ``RECGEN_TEST_FAIL_PRODUCT``): a stand-in for a real per-input crash, used to
check that the rest of the feed is generated and that product gets stock content.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from recgen.core.config import Settings
from recgen.core.types import GeneratedText, TextRequest
from recgen.generation.engine import GenerationEngine, ModelHandle
from recgen.runtime import bootstrap

_build = bootstrap.build_engine


def _build_with_fault(settings: Settings) -> GenerationEngine:
    real = _build(settings)
    bad = int(os.environ["RECGEN_TEST_FAIL_PRODUCT"])
    text = real.text

    def generate(requests: Sequence[TextRequest]) -> list[GeneratedText]:
        if any(r.product.product_id == bad for r in requests):
            raise RuntimeError(f"injected failure for product {bad}")
        return text.generate(requests)

    return GenerationEngine(
        text=ModelHandle(text.name, text.version, generate),
        image=real.image,
        seed=real.seed,
        text_batch_size=real.text_batch_size,
        image_batch_size=real.image_batch_size,
    )


if "RECGEN_TEST_FAIL_PRODUCT" in os.environ:
    bootstrap.build_engine = _build_with_fault  # type: ignore[attr-defined]
