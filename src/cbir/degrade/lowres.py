"""Resolution loss: block means at ``level`` 1 (x2), 2 (x4) or 3 (x8), upscaled back.

The paper takes the Haar approximation band (PyWavelets, periodization mode): 2**level times
the mean of each 2**level block. Divided by 2**level it is that mean in the [0, 1] range
(so that ``clip`` is meaningful; min-max is blind to the factor), then brought back to full
size by nearest-neighbour upscaling. The fast path works on exact integer block sums; the
PyWavelets definition (`cbir.degrade.reference.lowres`) agrees with it to a grey level.
Levels 1 to 3 (the schema's range): the uint16 sums and the byte-word upscale are sized for them.
"""

from __future__ import annotations

import numpy as np

from cbir.degrade.random import CounterRandom
from cbir.degrade.rescale import finish_into

_WORDS = {2: "<u2", 4: "<u4", 8: "<u8"}  # upscale factor -> the word holding f bytes


def block_sums(p: np.ndarray, level: int) -> np.ndarray:
    """uint16 [n, H / 2**level, W / 2**level]: exact sums of each 2**level x 2**level block."""
    # Column pairs first, on the uint8 bytes read as little-endian uint16 pairs.
    pairs = p.view("<u2")
    sums = np.bitwise_and(pairs, np.uint16(0xFF))
    sums += pairs >> np.uint16(8)
    sums = np.add(sums[:, 0::2], sums[:, 1::2])  # row pairs
    for _ in range(level - 1):
        sums = np.add(sums[:, :, 0::2], sums[:, :, 1::2])
        sums = np.add(sums[:, 0::2], sums[:, 1::2])
    return sums


def upscale_into(small: np.ndarray, factor: int, out: np.ndarray) -> None:
    """Nearest-neighbour upscaling of uint8 [n, h, w] into out uint8 [n, h * f, w * f]."""
    n, h, w = small.shape
    # Each value repeated f times along a row is the value times 0x01..01 in f bytes.
    word = _WORDS[factor]
    wide = small.astype(word)
    wide *= np.array(int.from_bytes(b"\x01" * factor, "little"), dtype=word)
    np.copyto(out.reshape(n, h, factor, w * factor), wide.view(np.uint8).reshape(n, h, 1, w * factor))


def lowres_kernel(p: np.ndarray, rand: CounterRandom, params: dict, rescale: str, out: np.ndarray) -> None:
    # Exact integer block sums replace the Haar band, and the finish runs on the small image
    # (nearest-neighbour upscaling keeps min, max and values). No random numbers.
    level = params["level"]
    factor = 2**level
    sums = block_sums(np.ascontiguousarray(p), level)
    means = sums.astype(np.float32).reshape(len(p), -1)
    means *= np.float32(1 / (255 * factor * factor))
    small = np.empty(sums.shape, np.uint8)
    finish_into(means, rescale, small)
    upscale_into(small, factor, out)
