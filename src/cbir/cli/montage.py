"""The figure of `cbir query`: one row per query image, the image as decoded, as degraded and
restored when it was (what the classifier embedded is the last of these), then its neighbours."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cbir.plots import plt, save_figure, show_image
from cbir.plots.retrieval import COLOURS, NAME_CHARS

NEIGHBOUR_COLOUR = "0.5"  # no frame colour of right and wrong: the query's class is unknown


def _short(name: str, chars: int = NAME_CHARS) -> str:
    return name if len(name) <= chars else name[: chars - 1] + "…"


def _panel(ax, image: np.ndarray, colour: str, title: str) -> None:
    show_image(ax, image, interpolation="nearest")
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(3)
    ax.set_title(title, fontsize=7, pad=2)


def montage(
    paths: Sequence[str],
    stages: Mapping[str, np.ndarray],
    indices: np.ndarray,
    scores: np.ndarray,
    gallery_labels: np.ndarray,
    gallery: Mapping[int, np.ndarray],
    names: Sequence[str],
    title: str,
    output: str | os.PathLike,
) -> None:
    """Write the PNG `output`: per query (`paths[i]`), its image at each step of `stages` (step
    name -> uint8 images, in order), then the gallery images `gallery[indices[i, r]]` titled with
    rank, gallery index, score and class name."""
    k = indices.shape[1]
    columns = len(stages) + k
    fig, axes = plt.subplots(len(paths), columns, figsize=(1.1 * columns, 1.45 * len(paths) + 0.4), squeeze=False)
    for q, path in enumerate(paths):
        row = axes[q]
        for c, (step, images) in enumerate(stages.items()):
            _panel(row[c], images[q], COLOURS["query"], f"{step}\n{_short(Path(path).name)}")
        for rank in range(k):
            g = int(indices[q, rank])
            name = _short(names[int(gallery_labels[g])])
            _panel(
                row[len(stages) + rank], gallery[g], NEIGHBOUR_COLOUR, f"{rank + 1}: #{g} {scores[q, rank]:.3g}\n{name}"
            )
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, output)
