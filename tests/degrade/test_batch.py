"""cbir.degrade.batch: `degrade` is seeded per (seed, stream, index), whatever the batch, blocks and threads."""

import hashlib

import numpy as np
import pytest

from cbir.degrade import DegradationError, degrade

QUERIES = {  # config/config.yaml's query sets
    "noisy": [
        {"name": "gaussian", "sigma": 0.1},
        {"name": "salt_pepper", "amount": 0.1},
        {"name": "speckle", "amount": 0.1},
    ],
    "blurry": [{"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": True}],
    "blurry_eq9": [{"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": False}],
    "lowres": [{"name": "lowres", "level": 1}, {"name": "lowres", "level": 2}],
}


def test_outputs_are_pinned():
    # sha256 of the bytes that cbir.degradations gave before the package split: query sets
    # and training batches stay byte-identical. Motion blur is left out: float32 sin/cos
    # may differ in the last bit between CPUs (numpy's SIMD dispatch).
    images = np.random.default_rng(0).integers(0, 256, (24, 32, 32), dtype=np.uint8)
    h = hashlib.sha256()
    for query in ("noisy", "lowres"):
        for rescale in ("minmax", "clip"):
            h.update(degrade(images, QUERIES[query], seed=0, stream=query, rescale=rescale, threads=1).tobytes())
    h.update(
        degrade(images, QUERIES["noisy"], seed=0, stream="denoiser/epoch3/step7", rescale="minmax", threads=2).tobytes()
    )
    assert h.hexdigest() == "ae63f5166e0db2c9acd8009fc3805cc771803b16ab563cea22d4abcd48ed7a6c"


def test_mixed_specs_index_subsets_and_clean(smooth_images, specs):
    images = smooth_images(40, 16)
    mixed = [specs["gaussian"], specs["salt_pepper"], specs["speckle"], {"name": "lowres", "level": 2}]
    kw = {"rescale": "minmax", "threads": 1}
    full = degrade(images, mixed, seed=5, stream="mix", **kw)
    part = degrade(images[5:9], mixed, seed=5, stream="mix", indices=np.arange(5, 9), **kw)
    np.testing.assert_array_equal(part, full[5:9])
    shuffled = np.random.default_rng(0).permutation(40)
    np.testing.assert_array_equal(
        degrade(images[shuffled], mixed, seed=5, stream="mix", indices=shuffled, **kw), full[shuffled]
    )
    assert not np.array_equal(full, degrade(images, mixed, seed=5, stream="other", **kw))
    assert not np.array_equal(full, degrade(images, mixed, seed=6, stream="mix", **kw))
    clean = degrade(images, [], seed=5, stream="clean", **kw)
    np.testing.assert_array_equal(clean, images)
    assert clean is not images


@pytest.mark.parametrize("size", [16, 96])
def test_threads_change_nothing(size, smooth_images, specs):
    images = smooth_images(70, size)
    mixed = [*specs.values(), {"name": "lowres", "level": 2}]
    one = degrade(images, mixed, seed=6, stream="t", rescale="minmax", threads=1)
    np.testing.assert_array_equal(degrade(images, mixed, seed=6, stream="t", rescale="minmax", threads=3), one)
    single = degrade(images, [specs["speckle"]], seed=6, stream="t", rescale="clip", threads=1)
    np.testing.assert_array_equal(
        degrade(images, [specs["speckle"]], seed=6, stream="t", rescale="clip", threads=2), single
    )


def test_bad_options_are_rejected(smooth_images, specs):
    images = smooth_images(2, 16)
    gaussian = [specs["gaussian"]]
    with pytest.raises(DegradationError, match="rescale"):
        degrade(images, gaussian, seed=0, stream="t", rescale="stretch", threads=1)
    with pytest.raises(DegradationError, match="uint8"):
        degrade(images.astype(float), gaussian, seed=0, stream="t", rescale="minmax", threads=1)
    for threads in (0, 1.5, True):
        with pytest.raises(DegradationError, match="threads"):
            degrade(images, gaussian, seed=0, stream="t", rescale="minmax", threads=threads)
    with pytest.raises(TypeError, match="rescale"):
        degrade(images, gaussian, seed=0, stream="t", threads=1)  # no default: the config decides
