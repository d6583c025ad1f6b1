"""Colour images [.., H, W, 3] are drawn in colour in every figure that shows images, grey ones
as before (the grey colour map on a fixed range): read back from the saved PNG."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from cbir.plots import plt, save_figure, show_image
from cbir.plots.dataset import examples_figure
from cbir.plots.enhancement import enhancement_figure
from cbir.plots.retrieval import retrieval_figure
from cbir.plots.training import augmentation_figure

SIZE = 16
MARGIN = 8  # PNG pixels left out inside each panel's frame (retrieval's coloured frames are about 5 px)


def red(n: int) -> np.ndarray:
    """uint8 [n, SIZE, SIZE, 3], pure red."""
    images = np.zeros((n, SIZE, SIZE, 3), np.uint8)
    images[..., 0] = 255
    return images


def halves(n: int) -> np.ndarray:
    """uint8 [n, SIZE, SIZE], grey: 64 on the left half, 192 on the right."""
    images = np.full((n, SIZE, SIZE), 64, np.uint8)
    images[:, :, SIZE // 2 :] = 192
    return images


def saved_panels(fig, path) -> list[np.ndarray]:
    """RGB pixels in [0, 1] of the PNG `save_figure` writes, inside each axes that shows an image."""
    fig.set_dpi(120)  # save_figure's: text, and so the tight box, is measured at the saving dpi
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    inches = fig.dpi_scale_trans.inverted()
    page = fig.get_tightbbox(renderer).padded(0.1)  # what savefig(bbox_inches="tight") keeps, in inches
    boxes = [ax.get_window_extent(renderer).transformed(inches) for ax in fig.get_axes() if ax.get_images()]
    save_figure(fig, path)
    png = imread(path)[..., :3]
    dpi = png.shape[1] / page.width
    assert abs(png.shape[0] / page.height - dpi) < 1, "the PNG is not the tight box at one dpi"
    crops = []
    for box in boxes:
        top, bottom = round((page.y1 - box.y1) * dpi), round((page.y1 - box.y0) * dpi)
        left, right = round((box.x0 - page.x0) * dpi), round((box.x1 - page.x0) * dpi)
        crops.append(png[top + MARGIN : bottom - MARGIN, left + MARGIN : right - MARGIN])
    assert boxes and all(crop.shape[0] > 20 and crop.shape[1] > 20 for crop in crops)
    return crops


def is_red(crop: np.ndarray) -> bool:
    r, g, b = crop[..., 0], crop[..., 1], crop[..., 2]
    return bool(((r > 0.9) & (g < 0.1) & (b < 0.1)).mean() > 0.98)


def grey_halves(crop: np.ndarray) -> tuple[float, float]:
    """The grey level of the left and right quarter of a grey panel, which must be grey (R = G = B)."""
    assert np.abs(crop - crop[..., :1]).max() < 1e-6, "a grey image drawn in colour"
    quarter = crop.shape[1] // 4
    return float(crop[:, :quarter, 0].mean()), float(crop[:, -quarter:, 0].mean())


# Each figure from a batch of 6 images [6, H, W] or [6, H, W, 3] (uint8), and whether it shows them
# on 0..255 as stored (True) or min-max normalised (False).
def _examples(images):
    labels = np.array([0, 1, 0, 1, 0, 1])
    return examples_figure({"train": (images[:4], labels[:4]), "test": (images[4:], labels[4:])}, classes=["a", "b"])


def _enhancement(images):
    return enhancement_figure(images, images.copy(), {"restorer": images.copy()}, seed=0, title="t")


def _retrieval(images):
    results = {
        "l2": (np.array([[1, 2, 3]] * 6), np.zeros((6, 3))),
        "cosine": (np.array([[3, 2, 1]] * 6), np.ones((6, 3))),
    }
    labels = np.array([0, 1, 0, 1, 0, 1])
    return retrieval_figure(
        results, images, labels, images, labels, name="q", categories=["a", "b"], n_queries=2, seed=0
    )


def _augmentation(images):
    x = images[:3] / 255.0
    # the augmented versions out of [0, 1] where colour (drawn clipped), a contrast change where grey
    versions = np.stack([x * 1.4 - 0.2, x], axis=1) if images.ndim == 4 else np.stack([x, x], axis=1)
    return augmentation_figure(x, versions, ["a", "b", "c"])


FIGURES = {
    "examples": (_examples, True),
    "enhancement": (_enhancement, False),
    "retrieval": (_retrieval, True),
    "augmentation": (_augmentation, True),
}


@pytest.mark.parametrize("name", FIGURES)
def test_a_red_image_is_drawn_red(name, tmp_path):
    build, _ = FIGURES[name]
    crops = saved_panels(build(red(6)), tmp_path / f"{name}.png")
    assert all(is_red(crop) for crop in crops), [crop.reshape(-1, 3).mean(0) for crop in crops]


@pytest.mark.parametrize("name", FIGURES)
def test_a_grey_image_is_drawn_grey_on_its_fixed_range(name, tmp_path):
    build, as_stored = FIGURES[name]
    crops = saved_panels(build(halves(6)), tmp_path / f"{name}.png")
    # 64 and 192 of 0..255 as they are (not stretched to black and white), or min-max normalised
    expected = (64 / 255, 192 / 255) if as_stored else (0.0, 1.0)
    for crop in crops:
        np.testing.assert_allclose(grey_halves(crop), expected, atol=0.01)


def test_show_image_keeps_colour_as_stored_and_refuses_other_shapes(tmp_path):
    dark = np.zeros((SIZE, SIZE, 3), np.uint8)
    dark[..., 2] = 100  # a dark blue: uint8 colour is not stretched
    fig, axes = plt.subplots(1, 3, figsize=(6, 2))
    show_image(axes[0], dark)
    show_image(axes[1], np.full((SIZE, SIZE, 3), [0.5, 1.5, -1.0]), unit=True)  # floats clipped at [0, 1]
    show_image(axes[2], dark.astype(np.float64))  # floats on 0..255 without `unit`
    assert axes[0].get_xticks().size == 0 and axes[0].get_yticks().size == 0
    blue, clipped, float_blue = (crop.reshape(-1, 3).mean(0) for crop in saved_panels(fig, tmp_path / "s.png"))
    np.testing.assert_allclose(blue, [0, 0, 100 / 255], atol=0.01)
    np.testing.assert_allclose(clipped, [0.5, 1, 0], atol=0.01)
    np.testing.assert_allclose(float_blue, blue, atol=0.01)
    fig, ax = plt.subplots()
    for shape in ((SIZE, SIZE, 2), (SIZE, SIZE, 4), (2, SIZE, SIZE, 3), (SIZE,)):
        with pytest.raises(ValueError, match=r"grey \[H, W\] or colour \[H, W, 3\]"):
            show_image(ax, np.zeros(shape, np.uint8))
    plt.close(fig)


def test_enhancement_accepts_colour_sets_of_one_shape_only():
    with pytest.raises(ValueError, match=r"\[N, H, W\] or \[N, H, W, 3\] of one shape"):
        enhancement_figure(red(6), red(6), {"grey": halves(6)}, seed=0, title="t")
    with pytest.raises(ValueError, match="of one shape"):
        enhancement_figure(red(6)[..., :2], red(6)[..., :2], {}, seed=0, title="t")
