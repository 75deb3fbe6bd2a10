"""Image engine throughput vs its roofline, plus the cGAN / MLP-GAN FID ratio.

    PYTHONPATH=. python bench/image_bench.py --out var/bench/image.json

The limit is the fp32 matmul rate measured in this run divided by the generator's FLOPs per
image. The end-to-end figure (``image_roofline_fraction``) is the issue's: per-request seeded
latents, the generator and PNG encoding (batched, recgen.models.image.png). The ``gated``
figures are what the engine serves: the same plus the classifier gate
(``ProductImageGenerator.generate``). Matmul and pipeline are measured in
interleaved rounds (this machine is shared, so the load changes) and the median per-round
fraction is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from bench.common import git_commit, matmul_flops_per_s
from recgen.catalog.styles import read_styles
from recgen.core.config import get_settings
from recgen.core.types import ImageRequest, Product
from recgen.models.image.generator import ImageGenerator
from recgen.models.image.pipeline import ProductImageGenerator
from recgen.models.image.png import encode_png_batch


def images_per_s(generate: Callable[[list[ImageRequest]], list[Any]],
                 requests: list[ImageRequest], batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(requests), batch):
        generate(requests[i : i + batch])
    return len(requests) / (time.perf_counter() - start)


def ungated(pipe: ProductImageGenerator) -> Callable[[list[ImageRequest]], list[bytes]]:
    """The issue's end-to-end path: each request's seeded latent, the generator and PNG
    encoding, without the classifier gate that recgen runs before it serves an image."""
    def generate(requests: list[ImageRequest]) -> list[bytes]:
        return encode_png_batch(pipe.draw(requests)[0], pipe.png_level)
    return generate


def fid_ratio(generator: ImageGenerator, path: Path) -> tuple[float | None, str]:
    """The training run's ratio, valid only while the weights are the ones it measured."""
    metrics_file = path / "validation_metrics.json"
    if not metrics_file.is_file():
        return None, "no validation_metrics.json next to the weights"
    metrics = json.loads(metrics_file.read_text())
    if metrics.get("generator_version") != generator.version:
        return None, "weights changed since the training run's evaluation"
    return metrics.get("fid_ratio_vs_mlp_baseline"), (
        "from the training run's validation evaluation (recgen train image), same weights")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch", type=int, help="default: generation_image_batch_size")
    parser.add_argument("--images", type=int, default=1024, help="images per batched round")
    parser.add_argument("--single", type=int, default=128, help="requests at batch 1")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = get_settings()
    torch.set_num_threads(settings.torch_threads)
    # The engine's own image batch size unless told otherwise: the bench measures what serves.
    args.batch = args.batch or settings.generation_image_batch_size
    pipe = ProductImageGenerator.from_pretrained(settings.image_model_path,
                                                 classifier=settings.image_classifier_path)
    generator = pipe.generator
    myntra = settings.data_dir / "myntra"
    products: list[Product] = read_styles(myntra / "styles.csv").products
    requests = [ImageRequest(products[i % len(products)], seed=i) for i in range(args.images)]
    flops = generator.network.flops_per_image()
    pipe.generate(requests[:8])  # warm-up (oneDNN primitive creation)
    rounds = []
    plain = ungated(pipe)
    for _ in tqdm(range(args.rounds), desc="bench rounds"):
        rate = matmul_flops_per_s(2.0)
        batched = images_per_s(plain, requests, args.batch)
        gated = images_per_s(pipe.generate, requests, args.batch)
        rounds.append({"matmul_gflops": rate / 1e9, "limit_images_per_s": rate / flops,
                       "batched_images_per_s": batched, "fraction": batched * flops / rate,
                       "gated_batched_images_per_s": gated,
                       "gated_fraction": gated * flops / rate})
    single = images_per_s(plain, requests[: args.single], 1)
    gated_single = images_per_s(pipe.generate, requests[: args.single], 1)
    taste = tuple(pipe.classifier.features(torch.zeros(1, 3, 64, 64))[0].tolist())
    personalized = images_per_s(
        pipe.generate, [ImageRequest(r.product, r.seed, taste) for r in requests[:64]],
        args.batch)
    ratio, ratio_source = fid_ratio(generator, settings.image_model_path)
    result = {
        "image_roofline_fraction": statistics.median(r["fraction"] for r in rounds),
        "image_roofline_fraction_gated": statistics.median(r["gated_fraction"] for r in rounds),
        "images_per_s_batched": statistics.median(r["batched_images_per_s"] for r in rounds),
        "images_per_s_batch1": single,
        "gated_images_per_s_batched": statistics.median(
            r["gated_batched_images_per_s"] for r in rounds),
        "gated_images_per_s_batch1": gated_single,
        "images_per_s_personalized_batched": personalized,
        "limit_images_per_s": statistics.median(r["limit_images_per_s"] for r in rounds),
        "generator_mflops_per_image": flops / 1e6,
        "rounds": rounds,
        "image_fid_ratio_vs_mlp_baseline": ratio,
        "image_fid_ratio_source": ratio_source,
        "settings": {"batch": args.batch, "images": args.images, "threads":
                     settings.torch_threads, "png_level": pipe.png_level,
                     "n_candidates_personalized": pipe.sampling.n_candidates},
        "generator_version": generator.version, "classifier_version": pipe.classifier.version,
        "git_commit": git_commit(), "machine": {"platform": platform.platform(),
                                                "cpus": os.cpu_count(),
                                                "load_average": os.getloadavg(),
                                                "torch": torch.__version__},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"image bench: {result['images_per_s_batched']:.0f} img/s batched, {single:.0f} img/s "
          f"at batch 1, roofline fraction {result['image_roofline_fraction']:.2f} "
          f"({result['image_roofline_fraction_gated']:.2f} with the gate), "
          f"FID ratio vs MLP GAN {ratio} -> {args.out}")


if __name__ == "__main__":
    main()
