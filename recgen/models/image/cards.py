"""Model cards (README.md) for the shipped generator and classifier, filled from measurements."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recgen.models.image.artefacts import CONFIG


def _training(path: Path) -> dict[str, Any]:
    extra: dict[str, Any] = json.loads((path / CONFIG).read_text()).get("extra", {})
    return extra


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def metrics_table(metrics: dict[str, Any]) -> str:
    rows = ["| metric | value |", "|---|---|"]
    for key, value in metrics.items():
        if isinstance(value, dict):
            rows += [f"| {key}.{k} | {_fmt(v)} |" for k, v in value.items()]
        else:
            rows.append(f"| {key} | {_fmt(value)} |")
    return "\n".join(rows)


def write_cards(generator_path: Path, classifier_path: Path, metrics: dict[str, Any],
                work_dir: Path) -> None:
    """Write both README.md cards and keep the raw metrics next to the weights."""
    template_dir = Path(__file__).parent / "card_templates"
    baseline = work_dir / "mlp_baseline" / CONFIG
    baseline_training = json.loads(baseline.read_text())["training"] if baseline.is_file() else {}
    values = {
        "metrics_table": metrics_table(metrics),
        "generator_training": json.dumps(_training(generator_path).get("training", {}), indent=2),
        "classifier_training": json.dumps(_training(classifier_path).get("training", {}),
                                          indent=2),
        "baseline_training": json.dumps(baseline_training, indent=2),
    }
    for path, template in ((generator_path, "generator.md"), (classifier_path, "classifier.md")):
        text = (template_dir / template).read_text()
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        (path / "README.md").write_text(text)
    (generator_path / "validation_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
