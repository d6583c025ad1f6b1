"""Enhancement figures: the same queries through every restorer (the paper's A1-A3), and the
share of the retrieval gap each restorer closes.

Each panel shows its image min-max normalised to [0, 1], a colour image ([N, H, W, 3]) over its
three channels together, so that its hues stay.

PSNR as in `cbir.imagemath.psnr`: the clean reference min-max normalised per image to
[0, 1], the judged uint8 image taken as stored (/ 255). Degraded sets are stored min-max
rescaled already and a network's output as 255 (y + 1) / 2, so this is the PSNR of the
restorer's output itself, the number training reports.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cbir.imagemath import psnr, unit
from cbir.plots import RemedyStyles, plt, show_image
from cbir.tables import STANDARD, remedy

EXAMPLES = 6  # columns: images shown
FLOOR = -100.0  # the gap-closed axis ends here; lower bars are cut, their labels still say how low
CEILING = 250.0  # interval lines end here (a wide interval over a small gap)


def pick_examples(n_images: int, count: int, seed: int) -> np.ndarray:
    """Sorted indices of `count` (at most `n_images`) distinct images drawn with `seed`."""
    return np.sort(np.random.default_rng(seed).choice(n_images, size=min(count, n_images), replace=False))


def enhancement_figure(
    clean: np.ndarray, degraded: np.ndarray, restored: Mapping[str, np.ndarray], *, seed: int, title: str
) -> plt.Figure:
    """Rows clean / degraded / one per restorer (uint8 [N, H, W] or [N, H, W, 3], same rows) for
    `EXAMPLES` images picked by `seed`, one column each; each image's PSNR in its title, each
    row's mean PSNR over all images in its label."""
    rows = {"clean": clean, "degraded": degraded, **restored}
    shapes = {name: images.shape for name, images in rows.items()}
    colour = clean.ndim == 4 and clean.shape[-1] == 3
    if len(set(shapes.values())) != 1 or not (clean.ndim == 3 or colour):
        raise ValueError(f"image sets must be [N, H, W] or [N, H, W, 3] of one shape, got {shapes}")
    picks = pick_examples(len(clean), EXAMPLES, seed)
    fig, axes = plt.subplots(len(rows), len(picks), figsize=(1.7 * len(picks), 1.75 * len(rows) + 0.4), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        scores = None if name == "clean" else psnr(clean, images)
        for j, i in enumerate(picks):
            ax = axes[r, j]
            # one min-max over the whole image (grey: `unit` of [H, W]; colour: all planes at once)
            show_image(ax, unit(images[i].reshape(1, -1)).reshape(images[i].shape), unit=True)
            ax.set_title(f"#{i}" if scores is None else f"{scores[i]:.1f} dB", fontsize=8)
        label = name if scores is None else f"{name}\n{scores.mean():.2f} dB"
        axes[r, 0].set_ylabel(label, fontsize=9)
    fig.suptitle(
        f"{title}: the same test images through every restorer (mean PSNR over {len(clean)} images)", fontsize=9
    )
    fig.tight_layout()
    return fig


def gap_closed_figure(table: pd.DataFrame, *, distance: str, k: int) -> plt.Figure:
    """Bars of `gap_closed` (in %) per query set (groups) and remedy (bars) at one distance
    and k, from an enhancement table (`cbir.tables.enhancement_table`), in its row order: the
    default enhancer of each set first. A remedy is an enhancer with the standard keys, or with
    a `keys` column another key set alone (`<K> keys`) or with an enhancer (`<K> keys + <e>`);
    each keeps one colour in every group. 0 % is the degraded set, 100 % the clean one (both
    searched with the standard keys). A black line is the bar's 95 % interval (columns
    `gap_closed_low`, `gap_closed_high`); "n/a" marks a set whose gap is not distinguishable
    from zero, where no share is defined."""
    rows = table[(table["distance"] == distance) & (table["k"] == k)]
    if rows.empty:
        raise ValueError(f"no enhancement rows for distance {distance!r} and k={k}")
    keys = rows["keys"].tolist() if "keys" in rows else [STANDARD] * len(rows)
    rows = rows.assign(remedy=[remedy(*pair) for pair in zip(keys, rows["enhancer"], strict=True)])
    keyed = any(name != STANDARD for name in keys)
    sets = list(dict.fromkeys(rows["query_set"]))
    n_bars = max(rows.groupby("query_set").size())
    legend_width = 1.5 if keyed else 0.0  # room for the longer remedy labels
    fig, ax = plt.subplots(figsize=(max(5.0, max(1.3, 0.45 * n_bars) * len(sets) + 1.5) + legend_width, 3.8))
    width = 0.8 / n_bars
    styles, labelled, highest = RemedyStyles(), set(), 0.0
    rows = rows.assign(keys=keys)
    for x, qset in enumerate(sets):
        part = rows[rows["query_set"] == qset]
        for j, row in enumerate(part.itertuples(index=False)):
            name, value = row.remedy, row.gap_closed
            label = None if name in labelled else name  # one legend entry per remedy
            labelled.add(name)
            pos = x - 0.4 + width * (j + 0.5)
            shown = 0.0 if np.isnan(value) else 100 * value
            colour, hatch = styles.colour(row.enhancer), styles.hatch(row.keys)
            ax.bar(pos, shown, width, color=colour, hatch=hatch, edgecolor="white", label=label)
            low, high = getattr(row, "gap_closed_low", np.nan), getattr(row, "gap_closed_high", np.nan)
            if not np.isnan(value) and not np.isnan(low):
                # the 95 % interval, cut at the axis like the bars
                bounds = np.clip([100 * low, 100 * high], FLOOR, CEILING)
                ax.plot([pos, pos], bounds, color="black", linewidth=0.9, solid_capstyle="butt")
                highest = max(highest, bounds[1])
            # n/a: no gap to close (the gap clean - degraded is not distinguishable from zero)
            text = "n/a" if np.isnan(value) else f"{shown:.0f}"
            # Bars below -100 % (a restorer that makes a tiny gap much worse) are cut at the axis.
            ax.text(pos, max(shown, FLOOR), text, ha="center", va="bottom" if shown >= 0 else "top", fontsize=7)
    lowest = min((p.get_height() for p in ax.patches), default=0.0)
    ax.set_ylim(max(FLOOR, lowest) - 15, max(115, highest + 10))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axhline(100, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(sets)), sets, rotation=20)
    ax.set_ylabel(f"gap closed, top-{k} {distance} (%)")
    what = (
        "the standard keys' retrieval gap (clean - degraded) each remedy"
        if keyed
        else "the retrieval gap (clean - degraded) each restorer"
    )
    ax.set_title(f"Share of {what} closes", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig
