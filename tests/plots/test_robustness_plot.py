"""The severity-sweep figure from a hand-made table: panels, lines, interval bands, colours, clean levels and pixels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb, to_rgba
from matplotlib.image import imread

from cbir.plots import plt, save_figure
from cbir.plots.robustness import BAND_ALPHA, remedy_label, robustness_figure
from cbir.robustness import COLUMNS

# (keys, enhancer, sweep) -> top-1 l2 accuracy at severities 1, 2, 3.
CURVES = {
    ("standard", "none", "gaussian"): (80, 60, 40),
    ("standard", "denoiser", "gaussian"): (85, 75, 65),
    ("standard", "nlmeans", "gaussian"): (82, 70, 55),
    ("robust", "none", "gaussian"): (88, 80, 70),
    ("standard", "none", "lowres"): (90, 70, 50),
    ("standard", "upscaler", "lowres"): (92, 80, 66),
    ("robust", "none", "lowres"): (86, 80, 72),
    ("standard", "none", "speckle"): (85, 65, 35),
    ("robust", "none", "speckle"): (87, 77, 57),
    ("standard", "none", "motion_blur"): (75, 50, 30),
    ("robust", "none", "motion_blur"): (84, 70, 60),
    ("robust", "deblurrer", "motion_blur"): (86, 78, 70),
}
CLEAN = {"standard": 90.0, "robust": 85.0}
LEGEND = [
    "standard keys, no restorer",
    "denoiser",
    "nlmeans",
    "upscaler",
    "robust keys",
    "robust keys + deblurrer",
    "standard keys, clean queries",
    "robust keys, clean queries",
]


def table(curves=CURVES, half_width=4.0) -> pd.DataFrame:
    """robustness.csv rows: each value with the interval value -+ half_width (severity 2: twice that)."""
    rows = []
    for (keys, enhancer, sweep), values in curves.items():
        for severity, value in enumerate(values, 1):
            width = half_width * (2 if severity == 2 else 1)
            rows.append((keys, enhancer, sweep, severity, "l2", 1, float(value), value - width, value + width))
            rows.append((keys, enhancer, sweep, severity, "cosine", 1, 5.0, 4.0, 6.0))  # not drawn
    return pd.DataFrame(rows, columns=list(COLUMNS))


def clean_lines(ax) -> list[float]:
    """Levels of the clean-query lines: thin black horizontal lines."""
    return sorted(line.get_ydata()[0] for line in ax.lines if line.get_color() == "black")


def test_remedy_labels():
    assert remedy_label("standard", "none") == "standard keys, no restorer"
    assert remedy_label("standard", "denoiser") == "denoiser"
    assert remedy_label("robust", "none") == "robust keys"
    assert remedy_label("robust", "nlmeans") == "robust keys + nlmeans"


def test_panels_lines_and_legend():
    fig = robustness_figure(table(), clean=CLEAN, distance="l2", k=1)
    axes = fig.get_axes()
    assert len(axes) == 4  # a 2 x 3 grid with the two spare cells removed
    assert [ax.get_title() for ax in axes] == ["gaussian", "lowres", "speckle", "motion_blur"]
    # Remedy lines of each sweep, plus one clean line per key set.
    assert [len(ax.lines) for ax in axes] == [4 + 2, 3 + 2, 2 + 2, 3 + 2]
    for ax in axes:
        assert ax.get_ylim() == (0, 100)
        assert list(ax.get_xticks()) == [1, 2, 3]
        assert clean_lines(ax) == [85.0, 90.0]
    curves = [line for line in axes[0].lines if line.get_color() != "black"]
    assert [line.get_label() for line in curves] == ["standard keys, no restorer", "denoiser", "nlmeans", "robust keys"]
    np.testing.assert_array_equal(curves[1].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(curves[1].get_ydata(), [85, 75, 65])  # l2 only, severities in order
    assert all(line.get_marker() not in (None, "None", "") for line in curves)
    # Colour = the restorer (grey: none), line style = the key set, the same in every panel.
    styles = {}
    for ax in axes:
        for line in ax.lines:
            style = (line.get_color(), line.get_linestyle())
            assert styles.setdefault(line.get_label(), style) == style
    assert len(set(styles.values())) == len(styles) == len(LEGEND)
    assert styles["standard keys, no restorer"] == ("0.4", "-") and styles["robust keys"] == ("0.4", "--")
    assert styles["robust keys + deblurrer"][1] == "--" and styles["denoiser"][1] == "-"
    assert styles["standard keys, clean queries"] == ("black", "-") and styles["robust keys, clean queries"] == (
        "black",
        "--",
    )
    restorers = [styles[name][0] for name in ("denoiser", "nlmeans", "upscaler", "robust keys + deblurrer")]
    assert len(set(restorers)) == 4 and "0.4" not in restorers
    # one light band per curve, in its colour, from low to high
    assert [len(ax.collections) for ax in axes] == [4, 3, 2, 3]
    for ax in axes:
        lines = [line for line in ax.lines if line.get_color() != "black"]
        for band, line in zip(ax.collections, lines, strict=True):
            np.testing.assert_allclose(band.get_facecolor()[0], to_rgba(line.get_color(), BAND_ALPHA))
            assert band.get_zorder() < line.get_zorder()
    vertices = axes[0].collections[1].get_paths()[0].vertices  # denoiser on gaussian: 85 75 65 -+ 4, 8, 4
    assert vertices[:, 1].min() == 61 and vertices[:, 1].max() == 89
    assert {83.0, 67.0} <= set(vertices[:, 1])  # severity 2: 75 -+ 8
    assert not any(ax.get_legend() for ax in axes)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == LEGEND
    title = fig._suptitle.get_text()
    assert "top-1" in title and "L2 metric" in title
    plt.close(fig)


def test_single_panel_and_missing_clean_level():
    curves = {key: value for key, value in CURVES.items() if key[2] == "speckle"}
    fig = robustness_figure(table(curves), clean={"standard": 70.0}, distance="cosine", k=1)
    (ax,) = fig.get_axes()
    assert len(ax.lines) == 2 + 1 and clean_lines(ax) == [70.0]  # no clean level given for the robust keys
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [5, 5, 5])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "standard keys, no restorer",
        "robust keys",
        "standard keys, clean queries",
    ]
    plt.close(fig)
    with pytest.raises(ValueError, match="no robustness rows for distance 'l2' and k=5"):
        robustness_figure(table(), clean=CLEAN, distance="l2", k=5)


def test_saved_png_shows_every_panel(tmp_path):
    fig = robustness_figure(table(), clean=CLEAN, distance="l2", k=1)
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float) / 255
    height = pixels.shape[0]
    for ax in fig.get_axes():
        box = ax.get_window_extent()
        inside = pixels[int(height - box.y1) + 2 : int(height - box.y0) - 2, int(box.x0) + 2 : int(box.x1) - 2]
        assert inside.std() > 0.05  # lines drawn in every panel
    save_figure(fig, tmp_path / "robustness.png")
    image = imread(tmp_path / "robustness.png")[..., :3]
    assert image.shape[1] > 900 and image.shape[0] > 500  # three columns, two rows and a legend
    assert (image.mean(-1) < 0.9).mean() > 0.02  # not blank
    blue = np.array(to_rgb("C0"))  # the first restorer (denoiser): its line and its light band
    assert (np.abs(image - blue).max(-1) < 0.05).sum() > 100
    tint = 1 - BAND_ALPHA * (1 - blue)  # C0 at BAND_ALPHA over the white panel
    assert (np.abs(image - tint).max(-1) < 0.02).sum() > 200


def test_band_pixels_between_low_and_high():
    """A wide band is light tint above and below its line, white outside it; no band without low/high."""
    curves = {("standard", "denoiser", "blur"): (50, 50, 50)}
    fig = robustness_figure(table(curves, half_width=20.0), clean={}, distance="l2", k=1)
    (ax,) = fig.get_axes()
    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float) / 255
    height = pixels.shape[0]

    def pixel(severity, accuracy):
        x, y = ax.transData.transform((severity, accuracy))
        return pixels[int(round(height - y)), int(round(x))]

    tint = 1 - BAND_ALPHA * (1 - np.array(to_rgb("C0")))
    for accuracy in (36, 64):  # inside the band (30..70 at severity 1.5), off the line and grid
        np.testing.assert_allclose(pixel(1.5, accuracy), tint, atol=0.02)
    for accuracy in (14, 86):  # outside it
        np.testing.assert_allclose(pixel(1.5, accuracy), [1, 1, 1], atol=0.02)
    plt.close(fig)
    plain = table(curves).drop(columns=["low", "high"])
    fig = robustness_figure(plain, clean={}, distance="l2", k=1)
    assert not fig.get_axes()[0].collections
    plt.close(fig)


def test_severity_ticks_show_the_parameter_values():
    """x ticks: each severity's value from robustness.csv's `value` column (numbers read back as
    floats, mixtures as text), the parameter as the axis title; without values the severities."""
    curves = {key: value for key, value in CURVES.items() if key[2] in ("gaussian", "lowres")}
    labelled = table(curves)
    values = {"gaussian": ("sigma", ["0.04", "0.07", "0.1"]), "lowres": ("level", ["1", "[1, 1, 2]", "[1, 2]"])}
    labelled["parameter"] = [values[d][0] for d in labelled["sweep"]]
    labelled["value"] = [values[d][1][s - 1] for d, s in zip(labelled["sweep"], labelled["severity"], strict=True)]
    fig = robustness_figure(labelled, clean=CLEAN, distance="l2", k=1)
    gaussian, lowres = fig.get_axes()
    assert [t.get_text() for t in gaussian.get_xticklabels()] == ["0.04", "0.07", "0.1"]
    assert gaussian.get_xlabel() == "sigma" and lowres.get_xlabel() == "level"
    assert [t.get_text() for t in lowres.get_xticklabels()] == ["1", "[1, 1, 2]", "[1, 2]"]
    assert lowres.get_xticklabels()[1].get_rotation() == 0
    np.testing.assert_array_equal(gaussian.lines[0].get_xdata(), [1, 2, 3])  # evenly spaced
    plt.close(fig)
    mixtures = labelled.assign(value=lambda f: f["value"].where(f["severity"] != 3, "[0.05, 0.07, 0.1]"))
    fig = robustness_figure(mixtures, clean=CLEAN, distance="l2", k=1)
    assert fig.get_axes()[0].get_xticklabels()[2].get_rotation() == 30  # long labels slant
    plt.close(fig)
    # a CSV of numbers alone reads back as floats
    only = labelled[labelled["sweep"] == "gaussian"].assign(value=lambda f: f["value"].astype(float))
    fig = robustness_figure(only, clean=CLEAN, distance="l2", k=1)
    assert [t.get_text() for t in fig.get_axes()[0].get_xticklabels()] == ["0.04", "0.07", "0.1"]
    plt.close(fig)
    # no values (an older table, or files that do not say): the severities themselves
    fig = robustness_figure(table(curves), clean=CLEAN, distance="l2", k=1)
    assert [t.get_text() for t in fig.get_axes()[0].get_xticklabels()] == ["1", "2", "3"]
    assert fig.get_axes()[0].get_xlabel() == "severity"
    plt.close(fig)
