"""The three noises (paper section III.C): their random draws and fast uint8 kernels.

- ``gaussian``: g = f + e, e ~ N(0, sigma). e = sigma Q(u) with Q the standard normal
  quantile function at one of 65536 equiprobable levels, u = (k + 1/2) / 65536 for a 16-bit
  random word k (inverse-CDF sampling through a table): the normal distribution quantised
  to 65536 levels, symmetric, tails cut at |e| < 4.33 sigma (standard deviation 0.99999 sigma).
- ``salt_pepper``: a mask m ~ Bernoulli(amount) picks pixels; each picked pixel becomes 0 or
  1 with probability 1/2: g = (1 - m) f + m s, s ~ Bernoulli(1/2).
- ``speckle``: g = f + f e, e ~ U(-amount, amount) (65536 levels).

A kernel maps a block of uint8 images p to `out` (uint8), equal bit for bit to the float
definition (`cbir.degrade.reference`) of p / 255 followed by `finish`.
"""

from __future__ import annotations

import functools
import statistics

import numpy as np

from cbir.degrade.random import PIXELS, CounterRandom
from cbir.degrade.rescale import GREY, INV_GREY, finish, finish_into, grey_from_uint8


@functools.cache
def normal_quantiles() -> np.ndarray:
    """float64 [65536]: the standard normal quantiles at (k + 1/2) / 65536, k = 0 .. 65535.

    A 16-bit uniform word k indexes it (inverse-CDF sampling): 65536 equiprobable levels,
    exactly antisymmetric (mean 0), |z| < 4.33, standard deviation 0.99999.
    """
    quantile = statistics.NormalDist().inv_cdf
    upper = np.array([quantile((k + 0.5) / 65536) for k in range(32768, 65536)])
    return np.concatenate([-upper[::-1], upper])


@functools.lru_cache(maxsize=16)
def _gaussian_table(sigma: float) -> np.ndarray:
    """float32 [65536]: the noise 255 sigma Q in grey levels, indexed by a 16-bit word."""
    table = (255 * sigma * normal_quantiles()).astype(np.float32)
    table.flags.writeable = False
    return table


def gaussian_noise(rand: CounterRandom, pixels: int, sigma: float) -> np.ndarray:
    """float32 [n, pixels]: 255 e, e ~ N(0, sigma) through the quantile table."""
    words = rand.uint16(PIXELS, pixels).astype(np.intp)
    return np.take(_gaussian_table(sigma), words)


def salt_pepper_threshold(amount: float) -> int:
    """An even threshold on 16-bit words: the mask has probability threshold / 2**16 (amount
    to within 2**-16) and, given a hit, the lowest bit is exactly fair (salt or pepper)."""
    return 2 * round(amount * 2**15)


def speckle_factor(rand: CounterRandom, pixels: int, amount: float) -> np.ndarray:
    """float32 [n, pixels]: (1 + e) / 255, e ~ U(-amount, amount) at the midpoints of 65536 levels."""
    factor = rand.uint16(PIXELS, pixels).astype(np.float32)
    factor *= np.float32(2 * amount / 2**16 / 255)
    factor += np.float32((1 - amount + amount / 2**16) / 255)
    return factor


def gaussian_kernel(p: np.ndarray, rand: CounterRandom, params: dict, rescale: str, out: np.ndarray) -> None:
    g = gaussian_noise(rand, p.shape[1] * p.shape[2], params["sigma"])
    g += grey_from_uint8(p)
    g *= INV_GREY
    finish_into(g, rescale, out)


def speckle_kernel(p: np.ndarray, rand: CounterRandom, params: dict, rescale: str, out: np.ndarray) -> None:
    g = speckle_factor(rand, p.shape[1] * p.shape[2], params["amount"])
    g *= grey_from_uint8(p)
    finish_into(g, rescale, out)


def salt_pepper_kernel(p: np.ndarray, rand: CounterRandom, params: dict, rescale: str, out: np.ndarray) -> None:
    # The result takes only the values of f, 0 and 1: in grey levels it is exact, and the
    # min-max rescale is the identity whenever both 0 and 255 occur (nearly always).
    n, h, w = p.shape
    words = rand.uint16(PIXELS, h * w)
    hit = (words < salt_pepper_threshold(params["amount"])).view(np.uint8)
    g = out.reshape(n, h * w)
    np.bitwise_and(words, 1, out=g, casting="unsafe")
    np.negative(g, out=g)  # 0 or 255
    # g = p + hit * (salt - p) in wrapping uint8 arithmetic: salt where hit, else p.
    flat = p.reshape(n, h * w)
    g -= flat
    g *= hit
    g += flat
    if rescale == "minmax":
        other = np.flatnonzero((g.min(axis=1) != 0) | (g.max(axis=1) != 255))
        if len(other):
            g[other] = finish(g[other].astype(np.float32) / GREY, rescale).reshape(len(other), -1)
