"""The paper's Figures A4/A5: queries and their top gallery results, right and wrong marked.

Layout: one row per (query, distance); the first cell is the query (blue frame, its class),
then its first results left to right (up to 10), each framed green when its class is the
query's and red when not, titled with the rank, the score and its class (names longer than
NAME_CHARS cut). With both distances stored,
each query gets an L2 row and a cosine row next to each other, so the two rankings can be
compared image by image. The queries are drawn with the seed alone, one class after the
other, so every query set's figure shows the same test images.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from cbir.plots import plt, show_image
from cbir.search import DISTANCES

log = logging.getLogger("cbir.plots.retrieval")

SHOWN = 10
COLOURS = {"query": "#1f5fbf", True: "#1a9e1a", False: "#d62020"}
DISTANCE_NAMES = {"l2": "L2", "cosine": "cosine"}
NAME_CHARS = 16  # a class name in a panel title: longer ones end in "…"


def pick_queries(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """`n` query indices spread over the classes: a seeded random order within each class,
    then one class after the other (round robin), so n >= classes covers every class."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    pools = [rng.permutation(np.flatnonzero(labels == c)).tolist() for c in classes]
    picked = []
    while len(picked) < min(n, len(labels)):
        for pool in pools:
            if pool and len(picked) < n:
                picked.append(pool.pop(0))
    return np.array(picked, dtype=np.int64)


def _class_name(label: int, categories) -> str:
    name = categories[label] if 0 <= label < len(categories) else str(label)
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def _show(ax, image: np.ndarray, colour: str, title: str) -> None:
    show_image(ax, image, interpolation="nearest")
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(3)
    ax.set_title(title, fontsize=7, pad=2)


def retrieval_figure(
    results: dict[str, tuple[np.ndarray, np.ndarray]],
    queries: np.ndarray,
    query_labels: np.ndarray,
    gallery: np.ndarray,
    gallery_labels: np.ndarray,
    *,
    name: str,
    categories: Sequence[str],
    n_queries: int,
    seed: int,
) -> plt.Figure:
    """Query images and their top-10 gallery images per stored distance (see module doc).

    `results` maps a distance to (indices, scores) [Nq, K]; images are uint8 [N, H, W] (grey) or
    [N, H, W, 3] (colour, drawn in colour)."""
    distances = [d for d in DISTANCES if d in results]
    if not distances:
        raise ValueError(f"query set {name}: no results for any of {list(DISTANCES)}")
    chosen = pick_queries(query_labels, n_queries, seed)
    shown = min(SHOWN, results[distances[0]][0].shape[1])
    n_rows = len(chosen) * len(distances)
    fig, axes = plt.subplots(n_rows, shown + 1, figsize=(1.05 * (shown + 1), 1.35 * n_rows), squeeze=False)
    correct = {d: 0 for d in distances}
    for q_pos, q in enumerate(chosen):
        label = int(query_labels[q])
        for d_pos, distance in enumerate(distances):
            row = axes[q_pos * len(distances) + d_pos]
            indices, scores = results[distance]
            _show(row[0], queries[q], COLOURS["query"], f"query {q}\n{_class_name(label, categories)}")
            row[0].set_ylabel(DISTANCE_NAMES[distance], fontsize=8)
            for rank in range(shown):
                g = int(indices[q, rank])
                hit = bool(gallery_labels[g] == label)
                correct[distance] += hit
                title = f"{rank + 1}: {scores[q, rank]:.3g}\n{_class_name(int(gallery_labels[g]), categories)}"
                _show(row[rank + 1], gallery[g], COLOURS[hit], title)
    summary = ", ".join(f"{DISTANCE_NAMES[d]} {correct[d]}/{len(chosen) * shown}" for d in distances)
    fig.suptitle(
        f"Top-{shown} retrieval, query set {name} (green: same class, red: other class; "
        f"scores: L2 distance / cosine similarity). Correct: {summary}",
        fontsize=9,
    )
    fig.tight_layout()
    log.info("retrieval figure of %s: %d queries, distances %s", name, len(chosen), distances)
    return fig
