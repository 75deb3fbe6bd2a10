from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from recgen.models.image.png import encode_png_batch


def decoded(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    image.verify()  # chunk CRCs and structure
    image = Image.open(io.BytesIO(png))
    assert image.mode == "RGB"
    return np.asarray(image)


def test_pillow_decodes_every_image_to_the_exact_pixels() -> None:
    gen = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (3, 3, 64, 64), dtype=torch.uint8, generator=gen)
    flat = torch.full((1, 3, 64, 64), 255, dtype=torch.uint8)  # a white background
    extremes = torch.zeros(1, 3, 64, 64, dtype=torch.uint8)
    extremes[0, :, ::2] = 255  # rows alternating 0/255: the Up filter wraps around mod 256
    odd = torch.randint(0, 256, (1, 3, 5, 7), dtype=torch.uint8, generator=gen)
    for batch in (torch.cat([noise, flat, extremes]), odd):
        pngs = encode_png_batch(batch)
        assert len(pngs) == len(batch)
        for png, image in zip(pngs, batch, strict=True):
            np.testing.assert_array_equal(decoded(png), image.permute(1, 2, 0).numpy())


def test_flat_images_compress_and_levels_trade_size() -> None:
    flat = torch.full((1, 3, 64, 64), 255, dtype=torch.uint8)
    assert len(encode_png_batch(flat)[0]) < 500  # of 12,288 raw bytes
    noise = torch.randint(0, 256, (1, 3, 64, 64), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(1))
    assert len(encode_png_batch(noise, level=0)[0]) > 64 * 64 * 3  # stored, not deflated


def test_refuses_what_is_not_a_uint8_rgb_batch() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_png_batch(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        encode_png_batch(torch.zeros(3, 8, 8, dtype=torch.uint8))
