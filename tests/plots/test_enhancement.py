"""The enhancement figure built from arrays: panels, picks, PSNR titles and pixels."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from cbir.imagemath import psnr
from cbir.plots import plt, save_figure
from cbir.plots.enhancement import EXAMPLES, enhancement_figure, pick_examples


@pytest.fixture
def sets():
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (20, 16, 16), dtype=np.uint8)
    degraded = np.clip(clean.astype(int) + rng.integers(-40, 40, clean.shape), 0, 255).astype(np.uint8)
    return clean, degraded, clean.copy()


def test_panels_titles_and_picks(sets):
    clean, degraded, enhanced = sets
    fig = enhancement_figure(clean, degraded, enhanced, seed=3, title="noisy / denoiser")
    axes = fig.get_axes()
    assert len(axes) == 3 * EXAMPLES
    picks = pick_examples(len(clean), EXAMPLES, 3)
    assert len(set(picks)) == EXAMPLES and np.all(np.diff(picks) > 0)
    assert np.array_equal(picks, pick_examples(len(clean), EXAMPLES, 3))  # the seed alone decides
    # Row-major: first row the clean images titled by index, then PSNR of degraded and enhanced.
    assert [ax.get_title() for ax in axes[:EXAMPLES]] == [f"#{i}" for i in picks]
    expected = psnr(clean, degraded)[picks]
    assert [ax.get_title() for ax in axes[EXAMPLES : 2 * EXAMPLES]] == [f"{v:.1f} dB" for v in expected]
    assert [axes[r * EXAMPLES].get_ylabel() for r in range(3)] == ["clean", "degraded", "enhanced"]
    assert fig._suptitle.get_text().startswith("noisy / denoiser: mean PSNR over 20 images")
    # Each panel shows its image min-max normalised.
    shown = axes[EXAMPLES].get_images()[0].get_array()
    assert shown.min() == 0 and shown.max() == 1
    plt.close(fig)


def test_fewer_images_than_columns_and_shape_mismatch(sets):
    clean, degraded, enhanced = sets
    fig = enhancement_figure(clean[:2], degraded[:2], enhanced[:2], seed=0, title="t")
    assert len(fig.get_axes()) == 3 * 2
    plt.close(fig)
    with pytest.raises(ValueError, match="one shape"):
        enhancement_figure(clean, degraded[:3], enhanced, seed=0, title="t")


def panel_spread(path, rows: int, cols: int) -> np.ndarray:
    """Grey-level std of a crop at the centre of each grid cell of the saved figure, below the suptitle."""
    grey = imread(path)[..., :3].mean(-1)
    top = int(0.12 * grey.shape[0])  # the two-line suptitle
    height, width = (grey.shape[0] - top) / rows, grey.shape[1] / cols
    half = int(min(height, width) / 6)
    spread = np.empty((rows, cols))
    for r in range(rows):
        for c in range(cols):
            y, x = int(top + (r + 0.5) * height), int((c + 0.5) * width)
            spread[r, c] = grey[y - half : y + half, x - half : x + half].std()
    return spread


def test_saved_png_shows_every_panel(sets, tmp_path):
    clean, degraded, enhanced = sets
    save_figure(enhancement_figure(clean, degraded, enhanced, seed=0, title="t"), tmp_path / "e.png")
    height, width = imread(tmp_path / "e.png").shape[:2]
    assert width > 900 and 500 < height < width  # six columns, three rows
    assert (panel_spread(tmp_path / "e.png", 3, EXAMPLES) > 0.15).all()  # random images: all 18 panels textured
    # A constant enhanced set shows as flat panels in the last row only.
    flat = np.full_like(enhanced, 7)
    save_figure(enhancement_figure(clean, degraded, flat, seed=0, title="t"), tmp_path / "f.png")
    spread = panel_spread(tmp_path / "f.png", 3, EXAMPLES)
    assert (spread[:2] > 0.15).all() and (spread[2] < 0.01).all()
