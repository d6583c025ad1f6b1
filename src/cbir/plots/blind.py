"""The blind table's figure: top-k accuracy of every remedy for unannounced degradations, one
panel per key set, a group of bars per query set, each bar with its 95 % interval."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cbir.blind_plan import REMEDIES
from cbir.plots import plt

COLOURS = {"none": "#9e9e9e", "oracle": "#1b5e20", "blind": "#1565c0", "universal": "#ef6c00"}


def blind_figure(frame: pd.DataFrame, *, distance: str, k: int) -> plt.Figure:
    """Bars of `value` (percent) per query set (groups, table order) and remedy (bars, REMEDIES
    order, one colour each), one panel per key set; black lines are the intervals (`low`, `high`)."""
    rows = frame[(frame["distance"] == distance) & (frame["k"] == k)]
    if rows.empty:
        raise ValueError(f"no blind-table rows for distance {distance!r} and k={k}")
    key_sets = list(dict.fromkeys(rows["keys"]))
    sets = list(dict.fromkeys(rows["query_set"]))
    width = 0.8 / len(REMEDIES)
    fig, axes = plt.subplots(1, len(key_sets), figsize=(1.3 * len(sets) * len(key_sets) + 1.5, 3.6), squeeze=False)
    for ax, keys in zip(axes[0], key_sets, strict=True):
        part = rows[rows["keys"] == keys]
        for j, remedy in enumerate(REMEDIES):
            chosen = part[part["remedy"] == remedy].set_index("query_set")
            xs = [x for x, q in enumerate(sets) if q in chosen.index]
            if not xs:
                continue
            values = chosen.loc[[sets[x] for x in xs]]
            pos = np.array(xs) - 0.4 + width * (j + 0.5)
            ax.bar(pos, values["value"], width, color=COLOURS[remedy], label=remedy)
            ax.vlines(pos, values["low"], values["high"], color="black", linewidth=0.9)
        ax.set_xticks(range(len(sets)), sets)
        ax.set_ylim(0, 100)
        ax.set_title(f"{keys} keys")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel(f"top-{k} accuracy ({distance}), %")
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    fig.suptitle("Unannounced degradations: remedies (test split, mean of replicates, 95 % intervals)", fontsize=9)
    fig.tight_layout()
    return fig
