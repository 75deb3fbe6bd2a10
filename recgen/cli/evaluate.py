"""``recgen eval``: evaluate the generation models on a catalog file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recgen.catalog.split import is_validation
from recgen.catalog.styles import read_styles
from recgen.cli.text import eval_text
from recgen.core.config import get_settings

app = typer.Typer(help="Evaluate models.", no_args_is_help=True)
app.command("text")(eval_text)


@app.command("image")
def image_cmd(
    styles: Annotated[Path, typer.Option(help="A styles.csv-format catalog.")],
    images: Annotated[Path, typer.Option(help="Directory of ID.jpg photos.")],
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the metrics JSON.")],
    split: Annotated[str, typer.Option(help="all | validation | train (by id hash)")] = "all",
    users: Annotated[int, typer.Option(help="Simulated users for personalization.")] = 200,
    baseline: Annotated[Path | None, typer.Option(help="MLP-GAN baseline dir.")] = None,
) -> None:
    """FID / conditional accuracy / diversity / personalization uplift vs the real photos."""
    import torch

    from recgen.models.image.data import load_photos
    from recgen.models.image.evaluate import evaluate_image_engine
    from recgen.models.image.pipeline import ProductImageGenerator
    from recgen.models.image.recipe import baseline_samples

    settings = get_settings()
    torch.set_num_threads(settings.torch_threads)
    products = [p for p in read_styles(styles, images).products if p.image_path is not None
                and split in ("all", "validation" if is_validation(p.product_id) else "train")]
    if len(products) < 4:
        raise typer.BadParameter(f"only {len(products)} products with photos in {styles}")
    pipe = ProductImageGenerator.from_pretrained(settings.image_model_path,
                                                 classifier=settings.image_classifier_path)
    photos = load_photos([str(p.image_path) for p in products], progress=True)
    base = baseline_samples(baseline, len(products)) if baseline is not None else None
    metrics = evaluate_image_engine(pipe, products, photos, baseline_images=base, n_users=users)
    metrics.update({"styles": str(styles), "split": split,
                    "generator_version": pipe.generator.version,
                    "classifier_version": pipe.classifier.version})
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(metrics, indent=2) + "\n")
    typer.echo(f"eval image: {len(products)} products, fid {metrics['fid']:.2f} "
               f"(real {metrics['real_fid']:.2f}), cond_accuracy {metrics['cond_accuracy']:.3f} "
               f"(real {metrics['real_cond_accuracy']:.3f}) -> {json_out}")
