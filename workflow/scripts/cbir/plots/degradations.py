"""The paper's Figure 6: a few test images and their degraded versions, one column per model."""

from __future__ import annotations

import logging
import os

import numpy as np

from cbir.degradations import degrade
from cbir.h5store import read_image_set
from cbir.plots import plt, save_figure

log = logging.getLogger("cbir.plots.degradations")

# Column title -> the single degradation it shows (None: the original).
COLUMNS = {
    "original": None,
    "motion blurred": {"name": "motion_blur"},
    "Gaussian noise": {"name": "gaussian"},
    "salt & pepper": {"name": "salt_pepper"},
    "speckle": {"name": "speckle"},
    "low resolution x2": {"name": "lowres", "level": 1},
    "low resolution x4": {"name": "lowres", "level": 2},
}


def plot_degradations(
    test_path: str | os.PathLike, out_png: str | os.PathLike, *, seed: int, rescale: str = "minmax", n_images: int = 4
) -> None:
    """Rows: `n_images` test images (evenly spaced, so several classes show); columns: the
    original and each degradation with the paper's default parameters."""
    test = read_image_set(test_path)
    rows = np.linspace(0, len(test) - 1, min(n_images, len(test))).round().astype(int)
    images = test.images[rows]
    fig, axes = plt.subplots(len(rows), len(COLUMNS), figsize=(1.6 * len(COLUMNS), 1.7 * len(rows)), squeeze=False)
    for col, (title, spec) in enumerate(COLUMNS.items()):
        shown = (
            images
            if spec is None
            else degrade(images, [spec], seed=seed, stream="figure", indices=rows, rescale=rescale)
        )
        for row in range(len(rows)):
            ax = axes[row, col]
            ax.imshow(shown[row], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=9)
    fig.suptitle(f"Degraded test images (seed {seed}, {rescale} rescale)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, out_png)
    log.info("wrote %s (%d images)", out_png, len(rows))
