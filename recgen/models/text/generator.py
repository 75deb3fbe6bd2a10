"""DescriptionGenerator: the text model plus the fidelity/safety gate, for the engine."""

from __future__ import annotations

from collections.abc import Sequence

from recgen.core.types import GeneratedText, TextRequest
from recgen.models.text.gate import check_description
from recgen.models.text.model import TextModel


class DescriptionGenerator:
    """Generates and gates descriptions; a failed gate means "serve the stock title"."""

    def __init__(self, model: TextModel, *, sample: bool = True) -> None:
        self.model = model
        self.sample = sample

    def generate(self, requests: Sequence[TextRequest]) -> list[GeneratedText]:
        # The model buckets and batches internally, so any number of requests is one call.
        texts = self.model.generate(requests, sample=self.sample)
        return [
            GeneratedText(text=text, gate=check_description(text, request.product),
                          model_name=self.model.name, model_version=self.model.version,
                          seed=request.seed)
            for request, text in zip(requests, texts, strict=True)
        ]
