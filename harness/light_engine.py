"""Loaded into a worker with ``-I harness.light_engine``: a light, deterministic engine for the
fault tests and the soak (test and benchmark).

The faults under test are in the queue, cache and database handling, not in the models, and
the suite runs on two shared CPU cores, so the text model is a deterministic stand-in that
takes ``RECGEN_TEST_GEN_DELAY_S`` per batch (long enough for a SIGKILL to land mid-batch).
The image model is the REAL pipeline from ``image_model_path`` when
``RECGEN_TEST_REAL_IMAGE=1`` (a tiny random cGAN, so a corrupted file is really loaded and
refused), else a deterministic stand-in too.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence

from recgen.core.config import Settings
from recgen.core.types import GateResult, GeneratedImage, GeneratedText, ImageRequest, TextRequest
from recgen.generation.engine import GenerationEngine, ModelHandle
from recgen.runtime import bootstrap

DELAY_S = float(os.environ.get("RECGEN_TEST_GEN_DELAY_S", "0"))


def _text(requests: Sequence[TextRequest]) -> list[GeneratedText]:
    time.sleep(DELAY_S)
    return [
        GeneratedText(
            text=f"{r.product.title}, made for {r.controls.usage} #{r.seed}",
            gate=GateResult(True),
            model_name="light-text",
            model_version="l1",
            seed=r.seed,
        )
        for r in requests
    ]


def _image(requests: Sequence[ImageRequest]) -> list[GeneratedImage]:
    return [
        GeneratedImage(
            png=b"\x89PNG" + hashlib.sha256(f"{r.product.product_id}:{r.seed}".encode()).digest(),
            gate=GateResult(True),
            model_name="light-image",
            model_version="l1",
            seed=r.seed,
        )
        for r in requests
    ]


def _image_handle(settings: Settings) -> ModelHandle[ImageRequest, GeneratedImage]:
    if os.environ.get("RECGEN_TEST_REAL_IMAGE") != "1":
        return ModelHandle("light-image", "l1", _image)
    return bootstrap.image_handle(settings)


def build_light_engine(settings: Settings) -> GenerationEngine:
    return GenerationEngine.from_settings(
        settings, text=ModelHandle("light-text", "l1", _text), image=_image_handle(settings)
    )


bootstrap.build_engine = build_light_engine
