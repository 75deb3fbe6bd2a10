"""``recgen train text`` and ``recgen eval text`` (registered in cli/train.py, cli/evaluate.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recgen.core.config import get_settings


def train_text(
    out: Annotated[Path | None, typer.Option(help="Model dir (default: text_model_path).")] = None,
    styles: Annotated[Path | None, typer.Option(help="styles.csv (default: DATA_DIR).")] = None,
    reviews: Annotated[Path | None, typer.Option(help="Reviews CSV (default: DATA_DIR).")] = None,
    steps: Annotated[int, typer.Option(help="Optimizer steps.")] = 900,
    batch_size: Annotated[int, typer.Option(help="Sequences per step.")] = 32,
    seed: Annotated[int, typer.Option(help="Seed for init and corpus sampling.")] = 0,
    checkpoint_dir: Annotated[Path | None, typer.Option(
        help="Checkpoints (default: VAR_DIR/text-checkpoint), resumed if present.")] = None,
) -> None:
    """Train the text model from scratch (tokenizer + small Llama) and write its model card."""
    import torch

    from recgen.models.text.train import TrainConfig, train

    settings = get_settings()
    torch.set_num_threads(settings.torch_threads)
    data = settings.data_dir
    train(TrainConfig(
        styles=styles or data / "myntra" / "styles.csv",
        reviews=reviews or data / "reviews" / "womens_clothing_reviews.csv",
        out=out or settings.text_model_path, steps=steps, batch_size=batch_size, seed=seed,
        checkpoint_dir=checkpoint_dir or settings.var_dir / "text-checkpoint",
    ))


def eval_text(
    styles: Annotated[Path, typer.Option(help="A catalog file in the styles.csv format.")],
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the metrics JSON.")],
    reviews: Annotated[Path | None, typer.Option(help="Reviews CSV for perplexity pairs.")] = None,
    model: Annotated[Path | None, typer.Option(help="Model directory (default: settings).")] = None,
    split: Annotated[str, typer.Option(help="all | validation | train (id-hash split).")] = "all",
    limit: Annotated[int | None, typer.Option(help="Evaluate only the first N products.")] = None,
    greedy: Annotated[bool, typer.Option(help="Greedy decoding instead of sampling.")] = False,
) -> None:
    """Generate for every product under 5 personas and write fidelity/diversity/persona JSON."""
    import torch

    from recgen.models.text.eval import eval_phrases, evaluate, load_eval_products
    from recgen.models.text.model import TextModel

    if split not in ("all", "validation", "train"):
        raise typer.BadParameter("split must be all, validation or train")
    settings = get_settings()
    torch.set_num_threads(settings.torch_threads)
    text_model = TextModel.from_pretrained(model or settings.text_model_path)
    products = load_eval_products(styles, split, limit)
    report = evaluate(text_model, products, eval_phrases(reviews), sample=not greedy)
    report.update({"styles": str(styles), "split": split})
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(report, indent=2) + "\n")
    typer.echo(
        f"eval text: {report['products']} products x 5 personas: fidelity "
        f"{report['fidelity']:.3f}, contradiction {report['contradiction_rate']:.4f}, gate "
        f"{report['gate_pass_rate']:.3f}, usr {report['usr']:.3f}, distinct-2 "
        f"{report['distinct_2']:.3f}, persona acc {report['persona_accuracy']:.3f}, ppl "
        f"{report['perplexity']} -> {json_out}"
    )
