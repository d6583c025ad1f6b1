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
    return clean, degraded, {"denoiser": clean.copy(), "median": degraded.copy()}


def test_panels_titles_and_picks(sets):
    clean, degraded, restored = sets
    fig = enhancement_figure(clean, degraded, restored, seed=3, title="noisy")
    axes = fig.get_axes()
    assert len(axes) == 4 * EXAMPLES  # clean, degraded, then one row per enhancer
    picks = pick_examples(len(clean), EXAMPLES, 3)
    assert len(set(picks)) == EXAMPLES and np.all(np.diff(picks) > 0)
    assert np.array_equal(picks, pick_examples(len(clean), EXAMPLES, 3))  # the seed alone decides
    # Row-major: first row the clean images titled by index, then PSNR of degraded and enhanced.
    assert [ax.get_title() for ax in axes[:EXAMPLES]] == [f"#{i}" for i in picks]
    expected = psnr(clean, degraded)[picks]
    assert [ax.get_title() for ax in axes[EXAMPLES : 2 * EXAMPLES]] == [f"{v:.1f} dB" for v in expected]
    labels = [axes[r * EXAMPLES].get_ylabel() for r in range(4)]
    mean = psnr(clean, degraded).mean()
    same = psnr(clean, clean).mean()  # the reference is min-max normalised, the image taken as stored
    assert labels == ["clean", f"degraded\n{mean:.2f} dB", f"denoiser\n{same:.2f} dB", f"median\n{mean:.2f} dB"]
    assert fig._suptitle.get_text().startswith("noisy: the same test images through every restorer")
    # Each panel shows its image min-max normalised.
    shown = axes[EXAMPLES].get_images()[0].get_array()
    assert shown.min() == 0 and shown.max() == 1
    plt.close(fig)


def test_fewer_images_than_columns_and_shape_mismatch(sets):
    clean, degraded, restored = sets
    fig = enhancement_figure(clean[:2], degraded[:2], {"d": restored["denoiser"][:2]}, seed=0, title="t")
    assert len(fig.get_axes()) == 3 * 2
    plt.close(fig)
    with pytest.raises(ValueError, match="one shape"):
        enhancement_figure(clean, degraded, {"d": restored["denoiser"][:3]}, seed=0, title="t")


def panel_spread(path, rows: int, cols: int) -> np.ndarray:
    """Grey-level std of a crop at the centre of each grid cell of the saved figure, below the suptitle."""
    grey = imread(path)[..., :3].mean(-1)
    top = int(0.06 * grey.shape[0])  # the suptitle
    height, width = (grey.shape[0] - top) / rows, grey.shape[1] / cols
    half = int(min(height, width) / 6)
    spread = np.empty((rows, cols))
    for r in range(rows):
        for c in range(cols):
            y, x = int(top + (r + 0.5) * height), int((c + 0.5) * width)
            spread[r, c] = grey[y - half : y + half, x - half : x + half].std()
    return spread


def test_saved_png_shows_every_panel(sets, tmp_path):
    clean, degraded, restored = sets
    save_figure(enhancement_figure(clean, degraded, {"d": restored["denoiser"]}, seed=0, title="t"), tmp_path / "e.png")
    height, width = imread(tmp_path / "e.png").shape[:2]
    assert width > 900 and 500 < height < width  # six columns, three rows
    assert (panel_spread(tmp_path / "e.png", 3, EXAMPLES) > 0.15).all()  # random images: all 18 panels textured
    # A constant restored set shows as flat panels in its own row only.
    flat = np.full_like(clean, 7)
    save_figure(
        enhancement_figure(clean, degraded, {"d": restored["denoiser"], "flat": flat}, seed=0, title="t"),
        tmp_path / "f.png",
    )
    spread = panel_spread(tmp_path / "f.png", 4, EXAMPLES)
    assert (spread[:3] > 0.15).all() and (spread[3] < 0.01).all()


def test_gap_closed_bars(tmp_path):
    import pandas as pd

    from cbir.plots.enhancement import gap_closed_figure

    rows = [
        ("noisy", "denoiser", "l2", 1, 0.6),
        ("noisy", "median", "l2", 1, -0.2),
        ("blurry", "deblurrer", "l2", 1, float("nan")),
        ("noisy", "denoiser", "cosine", 1, 0.9),
    ]
    table = pd.DataFrame(rows, columns=["query_set", "enhancer", "distance", "k", "gap_closed"])
    fig = gap_closed_figure(table, distance="l2", k=1)
    ax = fig.get_axes()[0]
    heights = [round(p.get_height(), 6) for p in ax.patches]
    assert heights == [60.0, -20.0, 0.0]  # the cosine row is not drawn; NaN is drawn as 0, labelled n/a
    assert [t.get_text() for t in ax.texts] == ["60", "-20", "n/a"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["noisy", "blurry"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["denoiser", "median", "deblurrer"]
    plt.close(fig)
    with pytest.raises(ValueError, match="no enhancement rows"):
        gap_closed_figure(table, distance="l2", k=5)


def test_gap_closed_interval_lines():
    """Each defined bar carries its 95 % interval as a black line, cut at the axis; none for n/a."""
    import pandas as pd

    from cbir.plots.enhancement import CEILING, gap_closed_figure

    columns = ["query_set", "enhancer", "distance", "k", "gap_closed", "gap_closed_low", "gap_closed_high"]
    nan = float("nan")
    rows = [
        ("noisy", "denoiser", "l2", 1, 0.5, 0.2, 0.8),
        ("noisy", "median", "l2", 1, 0.1, -0.3, 4.0),  # a wide interval over a small gap
        ("blurry", "deblurrer", "l2", 1, nan, nan, nan),
    ]
    fig = gap_closed_figure(pd.DataFrame(rows, columns=columns), distance="l2", k=1)
    ax = fig.get_axes()[0]
    lines = [line for line in ax.get_lines() if line.get_color() == "black" and len(line.get_xdata()) == 2]
    spans = sorted(tuple(np.round(line.get_ydata(), 6)) for line in lines if line.get_xdata()[0] == line.get_xdata()[1])
    assert spans == [(-30.0, CEILING), (20.0, 80.0)]
    assert [t.get_text() for t in ax.texts] == ["50", "10", "n/a"]
    assert ax.get_ylim()[1] == CEILING + 10
    plt.close(fig)


# A remedy per bar: enhancers with the standard keys, the robust keys alone and with an enhancer.
KEYED = [
    ("standard", "noisy", "denoiser", "l2", 1, 0.6),
    ("standard", "blurry", "deblurrer", "l2", 1, 0.3),
    ("robust", "noisy", "none", "l2", 1, 0.8),
    ("robust", "noisy", "denoiser", "l2", 1, 0.9),
    ("robust", "blurry", "none", "l2", 1, -0.1),
    ("robust", "blurry", "deblurrer", "l2", 1, float("nan")),
    ("robust", "noisy", "none", "cosine", 1, 0.2),
]
RGB = {  # matplotlib's default cycle
    "grey": (0.4, 0.4, 0.4),
    "C0": (0.122, 0.467, 0.706),
    "C1": (1.0, 0.498, 0.055),
    "C2": (0.173, 0.627, 0.173),
    "C3": (0.839, 0.153, 0.157),
    "C4": (0.580, 0.404, 0.741),
}


def test_gap_closed_bars_per_remedy(tmp_path):
    import pandas as pd
    from matplotlib.colors import to_rgb

    from cbir.plots.enhancement import gap_closed_figure

    table = pd.DataFrame(KEYED, columns=["keys", "query_set", "enhancer", "distance", "k", "gap_closed"])
    fig = gap_closed_figure(table, distance="l2", k=1)
    ax = fig.get_axes()[0]
    bars = ax.patches
    assert [round(p.get_height(), 6) for p in bars] == [60.0, 80.0, 90.0, 30.0, -10.0, 0.0]
    assert [t.get_text() for t in ax.texts] == ["60", "80", "90", "30", "-10", "n/a"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["noisy", "blurry"]
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "denoiser",
        "robust keys",
        "robust keys + denoiser",
        "deblurrer",
        "robust keys + deblurrer",
    ]
    # colour = the restorer (grey: none), hatch = the key set (standard plain)
    colours = [to_rgb(p.get_facecolor()) for p in bars]
    grey = to_rgb("0.4")
    assert colours == [to_rgb("C0"), grey, to_rgb("C0"), to_rgb("C1"), grey, to_rgb("C1")]
    assert [p.get_hatch() or "" for p in bars] == ["", "//", "//", "", "//", "//"]
    handles = legend.legend_handles
    assert [to_rgb(h.get_facecolor()) for h in handles] == [colours[i] for i in (0, 1, 2, 3, 5)]
    assert [h.get_hatch() or "" for h in handles] == ["", "//", "//", "", "//"]
    assert "standard keys' retrieval gap" in ax.get_title()
    # Three bars per group, side by side within the group's slot.
    lefts = [p.get_x() for p in bars]
    assert lefts[:3] == sorted(lefts[:3]) and -0.4 <= lefts[0] and lefts[2] + bars[2].get_width() <= 0.4 + 1e-9
    save_figure(fig, tmp_path / "gap.png")
    image = imread(tmp_path / "gap.png")[..., :3]

    def pixels(name):
        return int((np.abs(image - np.array(RGB[name])).sum(axis=2) < 0.1).sum())

    # Blue (denoiser: 60 % plain, 90 % hatched) and grey (robust keys: 80 % and -10 %) fill bars;
    # orange (deblurrer) fills the 30 % bar; nothing is drawn for the n/a bar.
    assert pixels("C0") > 1500 and pixels("grey") > 1500 and pixels("C1") > 300


def test_gap_closed_bars_of_the_standard_keys_are_enhancers():
    import pandas as pd

    from cbir.plots.enhancement import gap_closed_figure

    table = pd.DataFrame(KEYED[:2], columns=["keys", "query_set", "enhancer", "distance", "k", "gap_closed"])
    fig = gap_closed_figure(table, distance="l2", k=1)
    ax = fig.get_axes()[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["denoiser", "deblurrer"]
    assert ax.get_title() == "Share of the retrieval gap (clean - degraded) each restorer closes"
    plt.close(fig)
