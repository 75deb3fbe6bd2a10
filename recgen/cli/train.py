"""``recgen train``: train the generation models on the data directory's catalog."""

from __future__ import annotations

from typing import Annotated

import typer

from recgen.catalog.styles import read_styles
from recgen.cli.text import train_text
from recgen.core.config import get_settings

app = typer.Typer(help="Train models.", no_args_is_help=True)
app.command("text")(train_text)


@app.command("image")
def image_cmd(
    stages: Annotated[str, typer.Option(
        help="Comma list of: classifier,gan,truncation,baseline,eval")] = (
        "classifier,gan,truncation,baseline,eval"),
    minutes: Annotated[float, typer.Option(help="Wall budget of cGAN and baseline, each.")] = 32.0,
    classifier_epochs: Annotated[int, typer.Option(help="Epochs of the gate classifier.")] = 2,
    classifier_resume: Annotated[bool, typer.Option(
        help="Continue training the saved classifier instead of starting afresh.")] = False,
    threads: Annotated[int, typer.Option(help="torch intra-op threads for training.")] = 1,
    resume: Annotated[bool, typer.Option(help="Continue from var/ checkpoints if present.")] = True,
) -> None:
    """Train the image classifier (gate), the cGAN (and choose its latent truncation) and the
    MLP-GAN baseline; write model cards."""
    import torch

    from recgen.models.image import recipe
    from recgen.runtime.bootstrap import image_classifier_path

    settings = get_settings()
    classifier = image_classifier_path(settings)
    # One intra-op thread: on a shared small machine extra threads mostly spin and steal.
    torch.set_num_threads(threads)
    myntra = settings.data_dir / "myntra"
    catalog = read_styles(myntra / "styles.csv", myntra / "images")
    work_dir = settings.var_dir / "image_train"
    split = recipe.prepare_split(catalog.products, settings.var_dir / "image_cache")
    typer.echo(f"photos: {len(split.train)} train, {len(split.validation)} validation, "
               f"{len(split.vocab.article_classes)} article classes")
    todo = {s.strip() for s in stages.split(",")}
    if "classifier" in todo:
        recipe.run_classifier(split, classifier, epochs=classifier_epochs,
                              resume=classifier_resume)
    if "gan" in todo:
        recipe.run_gan(split, settings.image_model_path, work_dir, minutes * 60, resume)
    if "truncation" in todo:
        recipe.choose_truncation(split, settings.image_model_path, classifier)
    if "baseline" in todo:
        recipe.run_baseline(split, work_dir, minutes * 60)
    if "eval" in todo:
        metrics = recipe.run_eval(split, settings.image_model_path, classifier, work_dir)
        typer.echo(f"validation: fid {metrics['fid']:.2f} (real floor {metrics['real_fid']:.2f}), "
                   f"cond_accuracy {metrics['cond_accuracy']:.3f} "
                   f"(real {metrics['real_cond_accuracy']:.3f}), "
                   f"diversity {metrics['diversity']:.3f} (real {metrics['real_diversity']:.3f})")
