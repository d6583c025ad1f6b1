"""Linear motion blur in the frequency domain (paper eq. (8)-(9)).

g = real(IFFT{F(u, v) H(u, v)}) with H(u, v) = T / (pi s) sin(pi s) exp(-j pi s),
s = u a + v b, where u (rows) and v (columns) are integer frequency indices centred on zero
(H(0, 0) = T; H = T wherever s = 0), and a, b drawn per image from N(0, sigma). The blur is
computed on grey levels with 1/255 folded into T, as the noises (`cbir.degrade.rescale`).

`zero_centre` adds what the authors' reference code (degrade_model.ipynb) does besides eq. (9):
it zeroes the centre 2x2 of the fftshifted spectrum, the bins (0, 0), (0, -1), (-1, 0), (-1, -1)
(rows, columns), before taking the real part. Its meshgrid puts its `a` on the column frequency:
its (a, b) are our (b, a). Both are i.i.d. N(0, sigma), so the distribution is the same; we keep
eq. (9)'s reading (a on rows).
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from cbir.degrade.random import PARAMS, CounterRandom
from cbir.degrade.rescale import finish_into


def _centred(size: int) -> np.ndarray:
    """Integer frequency index of each FFT bin, centred on zero (the fftshift convention)."""
    return np.fft.fftfreq(size, 1.0 / size).round().astype(np.float32)


def _transfer_of(y: np.ndarray, T: float) -> np.ndarray:
    """Eq. (9) from y = -pi s (float32, any shape): H = T sin(y) / y (cos y + j sin y), and
    H = T where y = 0 (complex64)."""
    sin = np.sin(y)
    cos = np.cos(y)
    zero = np.flatnonzero(y == 0)  # u = v = 0, and exact cancellations
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.divide(sin, y)  # sin(y) / y, nan where y = 0
    k.reshape(-1)[zero] = 1
    if T != 1:
        k *= np.float32(T)
    out = np.empty(k.shape, np.complex64)
    np.multiply(k, cos, out=out.real)
    np.multiply(k, sin, out=out.imag)
    return out


def _minus_pi(a: np.ndarray) -> np.ndarray:
    return (-np.pi * np.asarray(a, np.float64)).astype(np.float32)


def _transfer(u: np.ndarray, v: np.ndarray, a: np.ndarray, b: np.ndarray, T: float) -> np.ndarray:
    """Eq. (9) at rows u x columns v for each image's (a, b): complex64 [n, len(u), len(v)]."""
    y = np.add((_minus_pi(a)[:, None] * u)[:, :, None], (_minus_pi(b)[:, None] * v)[:, None, :])
    return _transfer_of(y, T)


def motion_transfer(shape: tuple[int, int], a: np.ndarray, b: np.ndarray, *, T: float) -> np.ndarray:
    """H(u, v) of eq. (9) on the full grid in np.fft.fft2's layout: complex64 [n, H, W].

    u (rows) and v (columns) are the integer indices centred on zero, so H[:, 0, 0] = T;
    np.fft.fftshift(H) is the centred picture of the reference code.
    """
    return _transfer(_centred(shape[0]), _centred(shape[1]), a, b, T)


def _half_transfer(shape: tuple[int, int], a: np.ndarray, b: np.ndarray, T: float) -> np.ndarray:
    """The Hermitian part (H(k) + conj H(-k)) / 2 of eq. (9) on the rfft2 half grid.

    real(ifft2(F H)) = irfft2(F H_herm) for a real image (F(-k) = conj F(k)). H itself is
    Hermitian except on the Nyquist row and column of even sizes (index -size/2 is its own
    negative), so only those are averaged with their partner.
    """
    rows, cols = shape
    u = _centred(rows)
    v = _centred(cols)[: cols // 2 + 1]
    if cols % 2 == 0:
        v[-1] = -(cols // 2)  # the Nyquist column, -cols/2 in the centred convention
    half = _transfer(u, v, a, b, T)
    # The partners (u', v') of the Nyquist points, as (row index, column index, u', v').
    fixes = []
    if rows % 2 == 0:  # Nyquist row u = -rows/2 pairs column v with column -v (mod cols)
        v_neg = _centred(cols)[(-np.arange(cols)) % cols][: cols // 2 + 1]
        if cols % 2 == 0:
            v_neg[-1] = -(cols // 2)
        fixes.append((np.full(len(v), rows // 2), np.arange(len(v)), np.full(len(v), u[rows // 2]), v_neg))
    if cols % 2 == 0:  # Nyquist column v = -cols/2 pairs row u with row -u (mod rows)
        fixes.append((np.arange(rows), np.full(rows, len(v) - 1), u[(-np.arange(rows)) % rows], np.full(rows, v[-1])))
    if fixes:
        i, j, u_pair, v_pair = (np.concatenate(parts) for parts in zip(*fixes, strict=True))
        y = np.add(_minus_pi(a)[:, None] * u_pair.astype(np.float32), _minus_pi(b)[:, None] * v_pair.astype(np.float32))
        value = half[:, i, j]  # a copy: every fix reads the unaveraged H (the corner is in both)
        value += _transfer_of(y, T).conj()
        value /= 2
        half[:, i, j] = value
    return half


def _zeroed(index: np.ndarray, size: int) -> np.ndarray:
    """Whether FFT bin `index` (any integer, mod size) is frequency 0 or -1: the rows or
    columns of the reference code's zeroed centre 2x2 (fftshift puts frequency 0 at size // 2)."""
    index = np.asarray(index) % size
    return (index == 0) | (index == size - 1)


@functools.lru_cache(maxsize=16)
def _centre_points(rows: int, cols: int) -> tuple[np.ndarray, ...]:
    """The half-grid bins the zeroed centre changes: their indices i, j, their centred
    frequencies (u, v) and their partners' (u', v') (float32), and the weights M(k), M(-k)."""
    r = np.unique(np.array([0, 1, -1]) % rows)
    c = np.unique(np.array([0, 1, -1]) % cols)
    i, j = (g.ravel() for g in np.meshgrid(r, c[c <= cols // 2], indexing="ij"))
    m = ~(_zeroed(i, rows) & _zeroed(j, cols))
    m_pair = ~(_zeroed(-i, rows) & _zeroed(-j, cols))
    changed = ~(m & m_pair)
    i, j, m, m_pair = i[changed], j[changed], m[changed], m_pair[changed]
    u, v = _centred(rows), _centred(cols)  # -size/2 at the Nyquist bin, as in `_half_transfer`
    return i, j, u[i], v[j], u[-i % rows], v[-j % cols], m.astype(np.float32), m_pair.astype(np.float32)


def _zero_centre(half: np.ndarray, shape: tuple[int, int], a: np.ndarray, b: np.ndarray, T: float) -> None:
    """The reference code's zeroed centre on the rfft2 half grid, in place.

    With M = 0 on Z = {0, -1}^2 and 1 elsewhere, real(ifft2(F M H)) = irfft2(F H') with
    H'(k) = (M(k) H(k) + M(-k) conj H(-k)) / 2: 0 at DC, H / 2 at the other bins of Z and at
    their partners (1, 0), (0, 1), (1, 1), since only one bin of each of those conjugate pairs
    is zeroed. The half grid (columns 0 .. W/2) holds (0, 0), (1, 0), (-1, 0) and the partners
    (0, 1), (1, 1) of (0, -1), (-1, -1); H' is evaluated there from its definition, so small
    sizes, where these bins meet the Nyquist ones or each other, are exact too.
    """
    i, j, u, v, u_pair, v_pair, m, m_pair = _centre_points(*shape)
    ma, mb = _minus_pi(a)[:, None], _minus_pi(b)[:, None]
    value = _transfer_of(np.add(ma * u, mb * v), T) * m
    value += _transfer_of(np.add(ma * u_pair, mb * v_pair), T).conj() * m_pair
    value *= np.float32(0.5)
    half[:, i, j] = value


def _transfer_for(shape: tuple[int, int], a: np.ndarray, b: np.ndarray, T: float, zero_centre: bool) -> np.ndarray:
    """The half-grid transfer function of the blur: eq. (9), with the zeroed centre if asked."""
    half = _half_transfer(shape, a, b, T)
    if zero_centre:
        _zero_centre(half, shape, a, b, T)
    return half


def blur_with(x: np.ndarray, a: np.ndarray, b: np.ndarray, *, T: float, zero_centre: bool) -> np.ndarray:
    """real(IFFT2(FFT2(f) H)) for each image's (a, b): one batched real FFT pair. With
    `zero_centre`, the centre 2x2 of the shifted FFT2(f) is zeroed first (the reference code)."""
    # norm="ortho" both ways: the same round trip as the default, and much faster in
    # numpy 2.x's pocketfft wrapper (its unscaled direction takes a slow path).
    spectrum = np.fft.rfft2(x, norm="ortho")
    spectrum *= _transfer_for(x.shape[1:], a, b, T, zero_centre)
    return np.fft.irfft2(spectrum, s=x.shape[1:], norm="ortho").astype(np.float32, copy=False)


def blur_params(rand: CounterRandom, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Each image's (a, b), drawn from N(0, sigma) (float64 [n] each)."""
    ab = sigma * rand.normal(PARAMS, 2, np.float64)
    return ab[:, 0], ab[:, 1]


_scratch = threading.local()


def _scratch_array(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A per-thread array of `shape` kept between calls (a leading slice of the kept one).

    Fresh megabyte-sized temporaries for every block cost more than the FFTs themselves
    (the allocator hands the memory back to the system, and each new page faults in).
    """
    kept = getattr(_scratch, name, None)
    if kept is None or kept.dtype != dtype or kept.shape[1:] != shape[1:] or len(kept) < shape[0]:
        kept = np.empty(shape, dtype)
        setattr(_scratch, name, kept)
    return kept[: shape[0]]


def _blur_scratch(x: np.ndarray, a: np.ndarray, b: np.ndarray, T: float, zero_centre: bool) -> np.ndarray:
    """`blur_with` of float32 x into this thread's scratch arrays (valid until the next call)."""
    n, rows, cols = x.shape
    spectrum = _scratch_array("spectrum", (n, rows, cols // 2 + 1), np.complex64)
    np.fft.rfft2(x, norm="ortho", out=spectrum)
    spectrum *= _transfer_for(x.shape[1:], a, b, T, zero_centre)
    return np.fft.irfft2(spectrum, s=x.shape[1:], norm="ortho", out=_scratch_array("blurred", x.shape, np.float32))


def motion_blur_kernel(p: np.ndarray, rand: CounterRandom, params: dict, rescale: str, out: np.ndarray) -> None:
    # The reference's blur of grey levels (`cbir.degrade.reference.motion_blur`) on scratch
    # arrays: the same operations, so the same values.
    grey = _scratch_array("grey", p.shape, np.float32)
    np.copyto(grey, p)
    a, b = blur_params(rand, params["sigma"])
    finish_into(_blur_scratch(grey, a, b, params["T"] / 255, params["zero_centre"]), rescale, out)
