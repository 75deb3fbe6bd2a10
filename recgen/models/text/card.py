"""The model card (README.md) written next to the trained weights."""

from __future__ import annotations

import json
from typing import Any

_INTENDED = """\
Writes a short product description in the shop's voice (headline = the cleaned stock title,
then one or two sentences) for a catalog product, conditioned on persona control codes
(preferred usage, colour family, age band, the aspect that matters: fit / fabric / comfort /
occasion / value). Every output must pass `recgen.models.text.gate.check_description`
(colour / article type / gender fidelity, safety, no health or price claims, no personal data,
no first-person review voice); the caller serves the stock title when it does not.
"""
_DATA = """\
Trained on a synthetic-but-grounded corpus built at training time from
`myntra/styles.csv` (attributes and stock titles) and `reviews/womens_clothing_reviews.csv`
(aspect phrases mined from positive reviews without first person, colour, garment or gendered
words, filed under review class x age band x aspect). Products and review rows are split
90/10 by id hash (`recgen.catalog.split`); only the training side is used here. Generated text is
never presented as a customer review.
"""


def model_card(metrics: dict[str, float], data: dict[str, Any], settings: dict[str, Any],
               history: list[dict[str, float]]) -> str:
    curve = "\n".join(
        f"| {h['step']:.0f} | {h['train_loss']:.3f} | {h['val_loss']:.3f} |" for h in history
    )
    return (
        "# recgen text model (small Llama, trained from scratch)\n\n"
        f"## Intended use\n{_INTENDED}\n## Data\n{_DATA}\n"
        f"```json\n{json.dumps(data, indent=2)}\n```\n\n"
        f"## Validation metrics (validation split)\n```json\n{json.dumps(metrics, indent=2)}\n"
        "```\n\n| step | train loss | val loss |\n|---|---|---|\n"
        f"{curve}\n\n## Training settings\n```json\n{json.dumps(settings, indent=2)}\n```\n\n"
        "## Reproduce\n`recgen train text` (see docs/models-text.md); evaluation:\n"
        "`recgen eval text --styles ../shared/data/myntra/styles.csv --json eval.json`.\n"
    )
