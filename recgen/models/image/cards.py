"""Model cards (README.md) for the shipped generator and classifier, filled from measurements."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recgen.models.image.artefacts import CONFIG

# Templates with {{placeholders}}; prose that only changes with the code lives here.
GENERATOR_CARD = """# recgen-cgan64 — conditional GAN for 64x64 product images

Generates a product photo from the product's **article class** (article type; rare types are
grouped into their sub-category, rarer ones into "Other") and **colour group**, plus a style
latent z (64-d). Trained by `recgen train image` on the Myntra photos in
`$RECGEN_DATA_DIR/myntra/images` joined to `styles.csv`, train split of
`recgen.catalog.split.is_validation` (validation = 10% of ids by hash). Files: `model.safetensors`
(fp16 weights + per-article templates), `config.json` (network config, condition vocabulary,
training facts), `model_index.json` (the pipeline: the gate classifier's directory and the
sampling settings), `validation_metrics.json`. Load the pipeline with
`recgen.models.image.ProductImageGenerator.from_pretrained(path)`, the generator alone with
`recgen.models.image.ImageGenerator.from_pretrained(path)`.

## Architecture and why
- **Generator** (~94 MFLOP per image): z and the article/colour embeddings are concatenated
  into a condition vector; a linear layer makes a 4x4x256 seed; three blocks (x2 nearest
  upsample, 3x3 conv, pixel norm, per-sample gain/bias from the condition vector: conditional
  modulation) reach 32x32x24; a 3x3 conv to 12 channels and a pixel shuffle give 64x64 RGB.
  No batch norm, so a sample never depends on the rest of its batch (reproducible per-request
  seeds). Channels-last for oneDNN.
- **Template residual**: the output is `tanh(network + T[article])`, with `T` the atanh of the
  article's mean training photo. On a 2-core CPU a training run gets a few thousand steps;
  the template gives the right silhouette from step 0, so those steps are spent on colour,
  detail and variety. Its cost: samples of one article share a silhouette prior.
- **Discriminator**: spectral-normalised strided convs (24-48-96-192 channels), sum pooling,
  a linear realness head plus **projection** terms for article and colour (Miyato & Koyama).
- **Loss**: **hinge**; Adam 2e-4, betas (0, 0.99), batch 32.
- **Differentiable augmentation** (translation by 1/8 with border fill, cutout of 1/2 side) on
  every image the critic sees, real and fake: with 7.4k photos the critic otherwise memorises.
  No colour jitter, because colour is a condition.
- **Mode-seeking regulariser** (MSGAN): the two halves of each fake batch share conditions and
  differ in z; the loss adds 0.5 / (image distance / z distance + 0.05).
- **EMA** of the generator weights (decay min(0.999, (1+t)/(10+t))) is what ships.
- **Truncation** at sampling: latents come from N(0, psi^2 I) (`truncation` in `config.json`).
  Samples nearer the latent mode are recognised more often, at some cost in variety; psi is
  chosen on training products (`--stages truncation`, never on the validation split) as the
  grid value with the best recognition whose diversity stays >= 0.85x the real photos':

```
{{truncation_choice}}
```
- Designed for 128x128 on a GPU: `GeneratorConfig(image_size=128, channels=(...5 stages))`
  adds a block; nothing else assumes 64.

## Training run (this machine: 2 CPU cores, no GPU)
Wall-clock budgeted, one torch thread per model, so each had one core: `recgen train image
--stages gan --minutes 30 --threads 1` trained the cGAN for 30 minutes of training wall time
(the other core ran this project's unit tests and a low-priority embedding job). Later runs,
on the same weights: `--stages truncation` chose the latent truncation on training products
(30 s), `--stages baseline --minutes 30 --threads 1` trained the MLP-GAN baseline for the
same 30 minutes (the other core ran short profiling jobs), and `--stages eval` evaluated both
on the validation split. About 62 minutes in all. The classifier is an earlier run's
(`--stages classifier`, see its card). Checkpoints every 5 minutes in `var/image_train/cgan/`
(resumable), sample grids in `var/image_train/cgan/samples/`.

```
{{generator_training}}
```

MLP-GAN baseline (100 -> 256 -> 512 -> 1024 -> 3x64x64, tanh; dropout discriminator; Adam 2e-4,
beta1 0.5; same photos, same wall budget):

```
{{baseline_training}}
```

## Validation metrics
Measured by the training run's evaluation (`recgen train image --stages eval`, equivalently
`recgen eval image --styles $RECGEN_DATA_DIR/myntra/styles.csv --images
$RECGEN_DATA_DIR/myntra/images --split validation --baseline var/image_train/mlp_baseline
--json OUT`). Features, FID and accuracies are in the space of the shipped classifier
(`recgen/weights/image_classifier`). See `recgen/models/image/evaluate.py` for definitions.

{{metrics_table}}

## Limits
Trained for minutes on a CPU: samples are blurry, textured and close to their article's
template; use the gate (the classifier must name the conditioned article, else the stock photo
is served). Not for depicting real, specific products.
"""

CLASSIFIER_CARD = """# recgen image classifier — gate, feature space and item image vectors

A small CNN (3 stride-2 3x3 convs 24-48-96 with batch norm, one 3x3 conv at 8x8, global average
pool; ~11 M multiply-adds per 64x64 image) trained on the real Myntra photos (train split by id
hash) to predict the **article class** (the generator's condition vocabulary) and the **colour
group**. Files: `model.safetensors` (fp16), `config.json`. Load with
`recgen.models.image.ImageClassifier.from_pretrained(path)`.

Uses:
- the **gate** for generated images (`ProductImageGenerator`): the predicted article class must be
  the conditioned one, else the caller serves the stock photo;
- the **feature space** (96-d pooled penultimate features) for FID, diversity and
  personalization;
- **item image vectors** for profiles: `embed_photos(paths) -> float32 [N, 96]`; a user's taste
  vector is the mean of the vectors of the items they engaged with.

Training (AdamW, one-cycle LR 2e-3, batch 64, flip + 4-px shift augmentation; loss = article CE +
0.5 colour CE). The shipped weights took two runs on the shared CPU: `recgen train image
--stages classifier --classifier-epochs 2`, then the same with `--classifier-resume` (two more
epochs, a fresh one-cycle schedule). `runs` counts them; `train_seconds` and the losses are the
last run's; the validation accuracies are of the shipped weights:

```
{{classifier_training}}
```

## Validation metrics of the image engine in this feature space

{{metrics_table}}
"""


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
    baseline = work_dir / "mlp_baseline" / CONFIG
    baseline_training = json.loads(baseline.read_text())["training"] if baseline.is_file() else {}
    generator_extra = _training(generator_path)
    values = {
        "metrics_table": metrics_table(metrics),
        "generator_training": json.dumps(generator_extra.get("training", {}), indent=2),
        "classifier_training": json.dumps(_training(classifier_path).get("training", {}),
                                          indent=2),
        "baseline_training": json.dumps(baseline_training, indent=2),
        "truncation_choice": json.dumps(
            generator_extra.get("truncation_choice", "none (psi = 1)"), indent=2),
    }
    for path, text in ((generator_path, GENERATOR_CARD), (classifier_path, CLASSIFIER_CARD)):
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        (path / "README.md").write_text(text)
    (generator_path / "validation_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
