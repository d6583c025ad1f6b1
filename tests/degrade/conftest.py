"""Fixtures of the degradation tests: smooth test images and complete specs."""

import numpy as np
import pytest

# One complete spec per degradation, the paper's parameters (the schema fills them in a run);
# motion_blur_zc: the authors' reference blur (the `blurry` query set).
SPECS = {
    "gaussian": {"name": "gaussian", "sigma": 0.1},
    "salt_pepper": {"name": "salt_pepper", "amount": 0.1},
    "speckle": {"name": "speckle", "amount": 0.1},
    "motion_blur": {"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": False},
    "motion_blur_zc": {"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": True},
    "lowres": {"name": "lowres", "level": 1},
}


def make_smooth_images(n=12, size=32, seed=0):
    """uint8 blobs on a gradient, every image with its own contrast."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    cy, cx = rng.uniform(0.3, 0.7, (2, n, 1, 1))
    img = 0.2 + 0.6 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.05) + 0.1 * xx
    return np.clip(img * 255, 0, 255).astype(np.uint8)


@pytest.fixture
def smooth_images():
    """`make_smooth_images(n, size, seed)`."""
    return make_smooth_images


@pytest.fixture
def specs():
    """name -> a complete spec (a fresh copy per test)."""
    return {name: dict(spec) for name, spec in SPECS.items()}
