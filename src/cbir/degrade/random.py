"""Counter-based random numbers: each image's draws are a pure function of (key, index, counter).

The key is `cbir.seeding.stream_key(seed, stream)`; image j's counter c yields
splitmix64(base_j + c * gamma), where base_j is a hash of (key, index_j). An image's
degradation therefore depends only on (seed, stream, index), never on the batch it is
processed in, and a whole batch is drawn with array code (see docs/design.md, Determinism).
"""

from __future__ import annotations

import math

import numpy as np

from cbir.seeding import stream_key

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # splitmix64 increment (golden ratio)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = (np.uint64(s) for s in (30, 27, 31, 32))

# Counter offsets of the independent draws of one image.
CHOICE = 0  # which spec the image gets
PARAMS = 1  # per-image parameters (motion blur a, b)
PIXELS = 1 << 32  # per-pixel noise


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (a bijection of uint64 with good avalanche), in place."""
    tmp = np.empty_like(z)
    for shift, mult in ((_S30, _M1), (_S27, _M2)):
        np.right_shift(z, shift, out=tmp)
        np.bitwise_xor(z, tmp, out=z)
        np.multiply(z, mult, out=z)
    np.right_shift(z, _S31, out=tmp)
    np.bitwise_xor(z, tmp, out=z)
    return z


class CounterRandom:
    """Random numbers for a batch of images, a pure function of (key, image index, counter).

    Disjoint counter ranges give independent draws, and a row never depends on the other
    rows of the batch.
    """

    def __init__(self, key: int, indices: np.ndarray):
        indices = np.asarray(indices, dtype=np.uint64)
        with np.errstate(over="ignore"):
            base = _mix64(indices * _GAMMA + np.uint64(key))
            self.base = _mix64(base ^ np.uint64(key))

    @classmethod
    def for_stream(cls, seed: int, stream: str, indices: np.ndarray) -> CounterRandom:
        """The source of images `indices` of the stream named `stream` under the master `seed`."""
        return cls(stream_key(seed, stream), indices)

    def __len__(self) -> int:
        return len(self.base)

    def subset(self, rows: np.ndarray | slice) -> CounterRandom:
        """The random source of rows `rows` of the batch."""
        sub = object.__new__(CounterRandom)
        sub.base = self.base[rows]
        return sub

    def bits(self, offset: int, n: int) -> np.ndarray:
        """uint64 [N, n]: the hashes of counters offset .. offset + n - 1 of each image."""
        counters = (np.uint64(offset) + np.arange(n, dtype=np.uint64)) * _GAMMA
        return _mix64(np.add(self.base[:, None], counters[None, :]))

    def _words(self, offset: int, n: int, dtype: str) -> np.ndarray:
        per = 8 // np.dtype(dtype).itemsize
        h = self.bits(offset, -(-n // per)).astype("<u8", copy=False)  # a no-op on little endian
        return h.view(dtype).reshape(len(self), -1)[:, :n]

    def uint32(self, offset: int, n: int) -> np.ndarray:
        """uint32 [N, n] (two per hash)."""
        return self._words(offset, n, "<u4")

    def uint16(self, offset: int, n: int) -> np.ndarray:
        """uint16 [N, n] (four per hash)."""
        return self._words(offset, n, "<u2")

    def normal(self, offset: int, n: int, dtype=np.float32) -> np.ndarray:
        """Standard normal [N, n]: Box-Muller on pairs of 32-bit uniforms (|z| < 6.7).

        Pair i (words i and half + i) gives draw i (r cos) and draw half + i (r sin):
        contiguous halves keep numpy's vectorised loops.
        """
        half = -(-n // 2)
        words = self.uint32(offset, 2 * half)
        r = words[:, :half].astype(dtype)
        r += 1  # (0, 2**32]: the log is finite
        r *= dtype(2.0**-32)
        np.log(r, out=r)
        r *= -2
        np.sqrt(r, out=r)
        theta = words[:, half:].astype(dtype)
        theta *= dtype(2 * math.pi / 2**32)
        out = np.empty((len(self), 2 * half), dtype=dtype)
        np.cos(theta, out=out[:, :half])
        np.sin(theta, out=out[:, half:])
        out[:, :half] *= r
        out[:, half:] *= r
        return out[:, :n]

    def choice(self, k: int) -> np.ndarray:
        """int64 [N] uniform on 0 .. k-1 (exact: the high 32 bits times k, over 2**32)."""
        h = self.bits(CHOICE, 1)[:, 0]
        return ((h >> _S32) * np.uint64(k) >> _S32).astype(np.int64)
