"""`degrade`: uint8 batches through the fast kernels, in cache-sized blocks on a thread pool.

Colour batches (uint8 [N, H, W, 3], RGB) are degraded channel by channel, each channel a grey
plane through the same kernels:

- the spec is drawn once per image (the grey draw), so the three channels get the same kind
  and parameters;
- motion_blur uses the image's random direction (a, b) for all three channels, and lowres
  has no randomness: channel c equals the grey result of plane c exactly;
- the noises are drawn independently per channel: channel 0 from the image's stream (equal
  to the grey result of plane 0), channel c > 0 from the stream `channel_stream(stream, c)`,
  ``"<stream>/channel<c>"`` (so a grey stream of that name would repeat it);
- the rescale keeps the colour balance: ``clip`` clips each channel to [0, 1]; ``minmax``
  maps the image to [0, 1] with one scale and offset for all its channels: the motion blur's
  unclipped float channels through one `finish` (the authors' blur removes each channel's
  mean, so its values are half negative), the others (whose values stay in [0, 1] but for
  the noises' outliers) clipped per channel, then stretched together (`stretch_jointly`). A min-max per channel would stretch a channel with
  little contrast (the green of a red photograph) as far as one with much, turning a blurred
  or low-resolution red tile pink or cyan: a colour change the paper's degradations do not make.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cbir.degrade.lowres import lowres_kernel
from cbir.degrade.motion import blur_params, blur_with, motion_blur_kernel
from cbir.degrade.noise import gaussian_kernel, salt_pepper_kernel, speckle_kernel
from cbir.degrade.random import CounterRandom
from cbir.degrade.registry import (
    NOISES,
    DegradationError,
    channel_stream,
    check_indices,
    check_shape,
    check_specs,
    params_of,
)
from cbir.degrade.rescale import check_rescale, finish

# name -> kernel(p, rand, params, rescale, out) writing uint8 `out` for the uint8 block p.
KERNELS = {
    "gaussian": gaussian_kernel,
    "salt_pepper": salt_pepper_kernel,
    "speckle": speckle_kernel,
    "motion_blur": motion_blur_kernel,
    "lowres": lowres_kernel,
}

_BLOCK_PIXELS = 1 << 18  # pixels per block: the temporaries stay in the CPU caches


def _check_threads(threads: int) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise DegradationError(f"threads {threads!r}: expected a positive integer")
    return int(threads)


def _blocks(choice: np.ndarray, n_specs: int, block: int) -> list[tuple[int, slice | np.ndarray]]:
    """(spec index, rows) of each block of at most `block` images that share a spec."""
    blocks = []
    for k in range(n_specs):
        rows = np.flatnonzero(choice == k) if n_specs > 1 else np.arange(len(choice))
        for start in range(0, len(rows), block):
            part = rows[start : start + block]
            if part[-1] - part[0] == len(part) - 1:  # contiguous rows: slices, no gathering copies
                part = slice(part[0], part[-1] + 1)
            blocks.append((k, part))
    return blocks


def _run(tasks: list[tuple], rescale: str, threads: int) -> None:
    """Run (kernel, params, rand, images, out, rows) tasks, each writing its rows of `out`."""

    def run(task):
        kernel, params, rand, images, out, part = task
        if isinstance(part, slice):
            kernel(images[part], rand.subset(part), params, rescale, out[part])
        else:
            result = np.empty((len(part), *images.shape[1:]), np.uint8)
            kernel(images[part], rand.subset(part), params, rescale, result)
            out[part] = result

    if threads == 1 or len(tasks) <= 1:  # an empty batch has no tasks
        for task in tasks:
            run(task)
    else:
        with ThreadPoolExecutor(min(threads, len(tasks))) as pool:
            for _ in pool.map(run, tasks):  # re-raises a block's error
                pass


def degrade(
    images: np.ndarray,
    specs: Sequence[dict],
    *,
    seed: int,
    stream: str,
    indices: np.ndarray | None = None,
    rescale: str,
    threads: int,
) -> np.ndarray:
    """Degrade uint8 [N, H, W] grey or [N, H, W, 3] colour images, one of `specs` drawn per
    image: uint8 of the same shape (colour: see the module docstring).

    Image j's result depends only on (seed, stream, indices[j]) (indices default to
    0 .. N-1), never on the batch it comes in nor on `threads` (the number of threads the
    blocks of images are shared out to; numpy releases the GIL in its array loops).
    Each spec names all its parameters (the config schema fills them). An empty `specs`
    returns a copy (clean). Grey: equal to `degrade_float` of images / 255 followed by `finish`.
    """
    specs = check_specs(specs)
    check_rescale(rescale)
    threads = _check_threads(threads)
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise DegradationError(f"images must be uint8, got {images.dtype}")
    check_shape(images, specs)
    idx = check_indices(len(images), indices)
    if not specs:
        return images.copy()
    rand = CounterRandom.for_stream(seed, stream, idx)
    choice = rand.choice(len(specs))
    kernels = [(KERNELS[spec["name"]], params_of(spec), spec["name"] in NOISES) for spec in specs]
    blocks = _blocks(choice, len(specs), max(1, _BLOCK_PIXELS // (images.shape[1] * images.shape[2])))
    # Grey: one plane. Colour: the channel planes, contiguous as the kernels need ([3, N, H, W]).
    colour = images.ndim == 4
    planes = np.ascontiguousarray(np.moveaxis(images, 3, 0) if colour else images[None])
    out = np.empty_like(planes)
    tasks = []
    for c in range(len(planes)):
        # Blur directions (and the spec choice) are per image; noise fields per channel.
        noise = CounterRandom.for_stream(seed, channel_stream(stream, c), idx) if c else rand
        for k, part in blocks:
            kernel, params, is_noise = kernels[k]
            tasks.append((kernel, params, noise if is_noise else rand, planes[c], out[c], part))
    _run(tasks, "clip" if colour else rescale, threads)
    if not colour:
        return out[0]
    out = np.ascontiguousarray(np.moveaxis(out, 0, 3))
    if rescale != "minmax":
        return out
    blurred = np.isin(choice, [k for k, spec in enumerate(specs) if spec["name"] == "motion_blur"])
    out[~blurred] = stretch_jointly(out[~blurred])
    for k, spec in enumerate(specs):
        if spec["name"] == "motion_blur":
            _blur_jointly(planes, np.flatnonzero(choice == k), rand, spec, out)
    return out


def _blur_jointly(planes: np.ndarray, rows: np.ndarray, rand: CounterRandom, spec: dict, out: np.ndarray) -> None:
    """Rows `rows` of colour `out`: the blur of each channel plane (the kernel's float values,
    each image's one direction), then one min-max per image over its three channels."""
    for start in range(0, len(rows), 1024):  # bounded float temporaries
        part = rows[start : start + 1024]
        a, b = blur_params(rand.subset(part), spec["sigma"])
        g = [
            blur_with(planes[c][part].astype(np.float32), a, b, T=spec["T"] / 255, zero_centre=spec["zero_centre"])
            for c in range(3)
        ]
        out[part] = finish(np.stack(g, axis=-1), "minmax")


def stretch_jointly(images: np.ndarray) -> np.ndarray:
    """uint8 [N, H, W, 3] -> each image's levels mapped affinely onto 0..255, one map for all its
    channels (round half up, as `finish`); a constant image is kept as it is."""
    if not len(images):
        return images
    flat = images.reshape(len(images), -1)
    lo = flat.min(axis=1).astype(np.float32)
    span = flat.max(axis=1) - lo
    scale = np.float32(255) / np.where(span > 0, span, np.float32(1))
    stretched = (flat - lo[:, None]) * scale[:, None] + np.float32(0.5)
    stretched = np.where((span > 0)[:, None], stretched, flat + np.float32(0.5))
    return np.clip(stretched, 0, 255).astype(np.uint8).reshape(images.shape)
