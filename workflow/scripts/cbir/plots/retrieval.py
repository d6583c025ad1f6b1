"""The paper's Figures A4/A5: queries and their top gallery results, right and wrong marked.

Layout: one row per (query, metric); the first cell is the query (blue frame, its class),
then its first results left to right (up to 10), each framed green when its class is the
query's and red when not, titled with the rank and the score. With both metrics stored,
each query gets an L2 row and a cosine row next to each other, so the two rankings can be
compared image by image. The queries are drawn with the seed alone, one class after the
other, so every query set's figure shows the same test images.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from cbir.h5store import read_image_set, read_retrieval
from cbir.norb import CATEGORIES
from cbir.plots import plt, save_figure
from cbir.search import METRICS

log = logging.getLogger("cbir.plots.retrieval")

SHOWN = 10
COLOURS = {"query": "#1f5fbf", True: "#1a9e1a", False: "#d62020"}
METRIC_NAMES = {"l2": "L2", "cosine": "cosine"}


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


def _class_name(label: int) -> str:
    return CATEGORIES[label] if 0 <= label < len(CATEGORIES) else str(label)


def _show(ax, image: np.ndarray, colour: str, title: str) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(3)
    ax.set_title(title, fontsize=7, pad=2)


def plot_retrieval(
    results_path: str | os.PathLike,
    queries_path: str | os.PathLike,
    gallery_path: str | os.PathLike,
    out_png: str | os.PathLike,
    *,
    n_queries: int,
    seed: int,
) -> None:
    """Query images and their top-10 gallery images per stored metric (see module doc)."""
    results, _ = read_retrieval(results_path)
    queries = read_image_set(queries_path)
    gallery = read_image_set(gallery_path)
    metrics = [m for m in METRICS if m in results]
    if not metrics:
        raise ValueError(f"{results_path}: no results for any of {list(METRICS)}")
    for metric in metrics:
        indices = results[metric][0]
        if len(indices) != len(queries):
            raise ValueError(f"{results_path}: {len(indices)} result rows but {len(queries)} images in {queries_path}")
        if indices.size and indices.max() >= len(gallery):
            raise ValueError(f"{results_path}: gallery index {indices.max()} outside {gallery_path} ({len(gallery)})")
    chosen = pick_queries(queries.labels, n_queries, seed)
    shown = min(SHOWN, results[metrics[0]][0].shape[1])
    n_rows = len(chosen) * len(metrics)
    fig, axes = plt.subplots(n_rows, shown + 1, figsize=(1.05 * (shown + 1), 1.2 * n_rows), squeeze=False)
    correct = {m: 0 for m in metrics}
    for q_pos, q in enumerate(chosen):
        label = int(queries.labels[q])
        for m_pos, metric in enumerate(metrics):
            row = axes[q_pos * len(metrics) + m_pos]
            indices, scores = results[metric]
            _show(row[0], queries.images[q], COLOURS["query"], f"query {q}: {_class_name(label)}")
            row[0].set_ylabel(METRIC_NAMES[metric], fontsize=8)
            for rank in range(shown):
                g = int(indices[q, rank])
                hit = bool(gallery.labels[g] == label)
                correct[metric] += hit
                _show(row[rank + 1], gallery.images[g], COLOURS[hit], f"{rank + 1}: {scores[q, rank]:.3g}")
    summary = ", ".join(f"{METRIC_NAMES[m]} {correct[m]}/{len(chosen) * shown}" for m in metrics)
    fig.suptitle(
        f"Top-{shown} retrieval, query set {Path(queries_path).stem} (green: same class, red: other class; "
        f"scores: L2 distance / cosine similarity). Correct: {summary}",
        fontsize=9,
    )
    fig.tight_layout()
    save_figure(fig, out_png)
    log.info("wrote %s (%d queries, metrics %s)", out_png, len(chosen), metrics)
