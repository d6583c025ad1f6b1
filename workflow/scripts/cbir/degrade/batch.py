"""`degrade`: uint8 batches through the fast kernels, in cache-sized blocks on a thread pool."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cbir.degrade.lowres import lowres_kernel
from cbir.degrade.motion import motion_blur_kernel
from cbir.degrade.noise import gaussian_kernel, salt_pepper_kernel, speckle_kernel
from cbir.degrade.random import CounterRandom
from cbir.degrade.registry import DegradationError, check_indices, check_shape, check_specs, params_of
from cbir.degrade.rescale import check_rescale

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
    """Degrade uint8 [N, H, W] images, one of `specs` drawn per image: uint8 [N, H, W].

    Image j's result depends only on (seed, stream, indices[j]) (indices default to
    0 .. N-1), never on the batch it comes in nor on `threads` (the number of threads the
    blocks of images are shared out to; numpy releases the GIL in its array loops).
    Each spec names all its parameters (the config schema fills them). An empty `specs`
    returns a copy (clean). Equal to `degrade_float` of images / 255 followed by `finish`.
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
    images = np.ascontiguousarray(images)
    rand = CounterRandom.for_stream(seed, stream, idx)
    choice = rand.choice(len(specs))
    out = np.empty_like(images)
    block = max(1, _BLOCK_PIXELS // (images.shape[1] * images.shape[2]))
    tasks = []
    for k, spec in enumerate(specs):
        rows = np.flatnonzero(choice == k) if len(specs) > 1 else np.arange(len(images))
        for start in range(0, len(rows), block):
            part = rows[start : start + block]
            if part[-1] - part[0] == len(part) - 1:  # contiguous rows: slices, no gathering copies
                part = slice(part[0], part[-1] + 1)
            tasks.append((KERNELS[spec["name"]], params_of(spec), part))

    def run(task):
        kernel, params, part = task
        if isinstance(part, slice):
            kernel(images[part], rand.subset(part), params, rescale, out[part])
        else:
            result = np.empty((len(part), *images.shape[1:]), np.uint8)
            kernel(images[part], rand.subset(part), params, rescale, result)
            out[part] = result

    if threads == 1 or len(tasks) == 1:
        for task in tasks:
            run(task)
    else:
        with ThreadPoolExecutor(min(threads, len(tasks))) as pool:
            for _ in pool.map(run, tasks):  # re-raises a block's error
                pass
    return out
