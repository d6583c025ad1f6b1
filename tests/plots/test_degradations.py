"""Figure 6 built from arrays: one column per distinct configured spec, panels that show images."""

from __future__ import annotations

import numpy as np
import yaml
from conftest import REPO

from cbir.config import validate_config
from cbir.degrade import degrade
from cbir.plots import plt
from cbir.plots.degradations import FIGURE_IMAGES, degradations_figure, figure_specs, pick_rows, spec_title

# The configured query sets, every parameter filled in by the schema (as the rules get them).
QUERIES = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))["queries"]
BLUR = {"name": "motion_blur", "sigma": 0.19, "T": 1.0}  # the demo's calibrated blur


def panel_pixels(fig, ax) -> np.ndarray:
    """The rendered RGB pixels inside one axes."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    x0, y0, x1, y1 = ax.get_window_extent().extents.round().astype(int)
    height = rgba.shape[0]
    return rgba[height - y1 + 2 : height - y0 - 2, x0 + 2 : x1 - 2, :3]


def test_columns_are_the_distinct_specs_of_the_configured_query_sets():
    specs = figure_specs(QUERIES)
    # config.yaml: the noisy, blurry, blurry_eq9 and lowres sets hold every spec; the
    # single-spec sets repeat them. The two blurs differ by zero_centre only, and say so.
    assert [spec_title(s) for s in specs] == [
        "gaussian sigma=0.34",  # the demo's calibrated strengths
        "salt_pepper amount=0.1",
        "speckle amount=0.34",
        "motion_blur sigma=0.19 T=1 zero_centre",
        "motion_blur sigma=0.19 T=1",
        "lowres level=1",
        "lowres level=2",
    ]
    assert specs[3] == {**BLUR, "zero_centre": True} and specs[4] == {**BLUR, "zero_centre": False}
    assert figure_specs({"clean": []}) == []
    assert figure_specs({"a": [{"name": "lowres", "level": 2}], "b": [{"name": "lowres", "level": 2.0}]}) == [
        {"name": "lowres", "level": 2}
    ]


def test_figure_has_one_column_per_spec_and_no_blank_panel():
    rng = np.random.default_rng(0)
    test = rng.integers(0, 256, (30, 32, 32), dtype=np.uint8)
    rows = pick_rows(len(test))
    assert len(rows) == FIGURE_IMAGES and rows[0] == 0 and rows[-1] == 29
    fig = degradations_figure(test[rows], rows, QUERIES, seed=0, rescale="minmax")
    n_cols = 1 + len(figure_specs(QUERIES))
    axes = np.array(fig.get_axes()).reshape(FIGURE_IMAGES, n_cols)
    titles = [ax.get_title() for ax in axes[0]]
    assert titles[0] == "original" and titles[1] == "gaussian\nsigma=0.34" and titles[-1] == "lowres\nlevel=2"
    assert titles[4:6] == ["motion_blur\nsigma=0.19 T=1\nzero_centre", "motion_blur\nsigma=0.19 T=1"]
    assert all(ax.get_title() == "" for ax in axes[1:].ravel())
    for ax in axes.ravel():
        assert panel_pixels(fig, ax).std() > 10  # an image, not an empty panel
    # The columns show the query sets' degradations of those test rows (stream "figure").
    np.testing.assert_array_equal(axes[0, 0].get_images()[0].get_array(), test[rows[0]])
    for col, zero_centre in ((4, True), (5, False)):
        spec = {**BLUR, "zero_centre": zero_centre}
        blurred = degrade(test[rows], [spec], seed=0, stream="figure", indices=rows, rescale="minmax", threads=1)
        np.testing.assert_array_equal(axes[2, col].get_images()[0].get_array(), blurred[2])
    assert not np.array_equal(axes[2, 4].get_images()[0].get_array(), axes[2, 5].get_images()[0].get_array())
    plt.close(fig)


def test_only_the_clean_set_gives_the_originals_alone():
    images = np.random.default_rng(1).integers(0, 256, (2, 8, 8), dtype=np.uint8)
    fig = degradations_figure(images, np.arange(2), {"clean": []}, seed=0, rescale="clip")
    assert len(fig.get_axes()) == 2
    plt.close(fig)
