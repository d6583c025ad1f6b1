"""The held-out families' figure: top-1 against severity, one panel per sweep, each remedy trained
on every family (solid) and with the panel's family left out (dashed), with 95 % bands."""

from __future__ import annotations

import pandas as pd

from cbir.plots import plt

STYLES = {
    ("none", "-"): ("#616161", "-", "standard keys"),
    ("robust keys", "all"): ("#1565c0", "-", "robust keys, all families"),
    ("robust keys", "held out"): ("#1565c0", "--", "robust keys, family held out"),
    ("universal", "all"): ("#ef6c00", "-", "universal restorer, all families"),
    ("universal", "held out"): ("#ef6c00", "--", "universal restorer, family held out"),
}


def heldout_figure(frame: pd.DataFrame) -> plt.Figure:
    """Panels (family / sweep, table order) of `value` against `severity` for every (remedy,
    trained_on) of STYLES, the band between `low` and `high`."""
    sweeps = list(dict.fromkeys(zip(frame["family"], frame["sweep"], strict=True)))
    cols = min(3, len(sweeps))
    rows = -(-len(sweeps) // cols)
    legend = 2.8  # inches right of the panels for the legend
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols + legend, 2.8 * rows), squeeze=False)
    for ax, (family, sweep) in zip(axes.flat, sweeps, strict=False):
        part = frame[(frame["family"] == family) & (frame["sweep"] == sweep)]
        for (remedy, trained), (colour, dash, label) in STYLES.items():
            line = part[(part["remedy"] == remedy) & (part["trained_on"] == trained)].sort_values("severity")
            ax.plot(line["severity"], line["value"], dash, color=colour, marker="o", markersize=3, label=label)
            ax.fill_between(line["severity"], line["low"], line["high"], color=colour, alpha=0.08)
        ax.set_title(f"{sweep} ({family} held out)", fontsize=9)
        ax.set_xlabel("severity")
        ax.set_xticks(sorted(part["severity"].unique()))
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(sweeps) :]:
        ax.axis("off")
    for row in axes:
        row[0].set_ylabel("top-1 (L2), %")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0, 1 - legend / (3.4 * cols + legend), 1))
    return fig
