"""PNG encoding for a whole batch of 64x64 RGB images at once.

Pillow's encoder costs about 0.6-1 ms per generated 64x64 image here, as much as a third of the
generator's own time per image, mostly in per-image set-up and its adaptive per-row filter
search. A PNG is only a signature, an IHDR chunk, the zlib stream of the filtered rows (IDAT)
and an IEND chunk, so the batch is filtered in one numpy operation ("Up": each row minus the
row above, which turns flat backgrounds and vertical edges into zeros) and each image is one
zlib stream (run-length strategy): about 2x cheaper, files within a few % of Pillow's level-1
output, and any PNG decoder reads them (tests decode them with Pillow).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import torch

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_UP = 2


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


_IEND = _chunk(b"IEND", b"")


def encode_png_batch(images: torch.Tensor, level: int = 1) -> list[bytes]:
    """uint8 [N, 3, H, W] -> N PNG files (8-bit RGB, no interlace)."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected uint8 [N, 3, H, W], got {images.dtype} {list(images.shape)}")
    n, _, height, width = images.shape
    pixels = images.permute(0, 2, 3, 1).reshape(n, height, width * 3).contiguous().numpy()
    # Each stored row is its filter type byte, then the row minus the row above (mod 256).
    rows = np.empty((n, height, width * 3 + 1), dtype=np.uint8)
    rows[:, :, 0] = _FILTER_UP
    rows[:, 0, 1:] = pixels[:, 0]
    np.subtract(pixels[:, 1:], pixels[:, :-1], out=rows[:, 1:, 1:])
    header = _SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return [header + _chunk(b"IDAT", _deflate(image.tobytes(), level)) + _IEND for image in rows]


def _deflate(data: bytes, level: int) -> bytes:
    # Z_RLE: after the Up filter the bytes are runs of zeros and small deltas, which run-length
    # matching finds as well as the default string search: measured here at level 1, about
    # 20 % faster and 4 % smaller than the default strategy.
    compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 9, zlib.Z_RLE)
    return compressor.compress(data) + compressor.flush()
