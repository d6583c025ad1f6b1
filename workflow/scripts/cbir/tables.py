"""Retrieval tables: the long-form CSV, the paper's Table 1 and a per-query-set table.

Measures (cbir.measures), all stored and printed in percent:
    top_k_accuracy  the paper's eq. 8: share of queries with at least one result of
                    their label among the first k;
    precision       precision@k: mean share of relevant results among the first k;
    map             mAP@k: mean average precision within the first k results, normalised
                    by min(k, number of gallery images of the query's label).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cbir.measures import mean_average_precision, precision_at_k, relevant_counts, top_k_accuracy
from cbir.search import DISTANCES

MEASURES = ("top_k_accuracy", "precision", "map")
COLUMNS = ("query_set", "enhanced", "distance", "measure", "k", "value")
DISTANCE_NAMES = {"l2": "L2 metric", "cosine": "cosine sim"}  # the paper's row labels
ENHANCED_SUFFIX = "_enhanced"

# Table 1 of the paper: top-k matching accuracy (%), query set -> distance -> k -> value.
PAPER_TABLE1 = {
    "clean": {"l2": {1: 89.42, 5: 91.82, 10: 92.32}, "cosine": {1: 89.47, 5: 91.82, 10: 92.30}},
    "noisy": {"l2": {1: 39.95, 5: 42.41, 10: 42.84}, "cosine": {1: 40.24, 5: 42.10, 10: 42.91}},
    "noisy_enhanced": {"l2": {1: 55.38, 5: 60.90, 10: 64.41}, "cosine": {1: 55.37, 5: 60.62, 10: 61.86}},
    "blurry": {"l2": {1: 72.23, 5: 77.76, 10: 79.36}, "cosine": {1: 72.44, 5: 77.84, 10: 78.67}},
    "blurry_enhanced": {"l2": {1: 74.80, 5: 80.32, 10: 81.33}, "cosine": {1: 74.81, 5: 79.95, 10: 81.55}},
    "lowres": {"l2": {1: 79.47, 5: 84.14, 10: 84.94}, "cosine": {1: 79.36, 5: 83.81, 10: 84.58}},
    "lowres_enhanced": {"l2": {1: 81.01, 5: 85.37, 10: 86.35}, "cosine": {1: 81.08, 5: 85.06, 10: 86.06}},
}
# Row group title -> query set, in the paper's order; "Ideal" has no enhanced variant.
TABLE1_ROWS = (
    ("Ideal query", "clean"),
    ("Noisy query/enhanced", "noisy"),
    ("Motion blurry/enhanced", "blurry"),
    ("Low resolution/enhanced", "lowres"),
)
MISSING = "–"


class TableError(ValueError):
    """Inputs that do not fit together (lengths, shapes, cut-offs)."""


def split_qset(qset: str, enhance: Mapping[str, str]) -> tuple[str, bool]:
    """(base query set, enhanced?) of a query-set name such as noisy_enhanced."""
    base = qset.removesuffix(ENHANCED_SUFFIX)
    if qset.endswith(ENHANCED_SUFFIX) and base in enhance:
        return base, True
    return qset, False


def evaluate(
    gallery_labels: np.ndarray,
    query_sets: Mapping[str, tuple[np.ndarray, Mapping[str, tuple[np.ndarray, np.ndarray]]]],
    ks: Sequence[int],
    enhance: Mapping[str, str],
) -> pd.DataFrame:
    """Every measure at every k in `ks`, per query set and distance, as a long DataFrame with
    COLUMNS (value in percent). `query_sets` maps a query set, in table order, to (its query
    labels [Nq], distance -> (gallery indices [Nq, K], scores)).
    df.attrs holds n_gallery and n_queries (query set -> count)."""
    ks = sorted(int(k) for k in ks)
    rows, n_queries = [], {}
    for qset, (labels, results) in query_sets.items():
        base, enhanced = split_qset(qset, enhance)
        n_queries[qset] = len(labels)
        n_relevant = relevant_counts(gallery_labels, labels)
        for distance in [d for d in DISTANCES if d in results] + [d for d in results if d not in DISTANCES]:
            indices = results[distance][0]
            where = f"query set {qset} [{distance}]"
            if indices.shape[0] != len(labels):
                raise TableError(f"{where}: {indices.shape[0]} result rows for {len(labels)} queries")
            if indices.shape[1] < ks[-1]:
                raise TableError(
                    f"{where}: {indices.shape[1]} results stored per query but retrieval.ks asks for "
                    f"k={ks[-1]}; raise retrieval.topk"
                )
            if len(indices) and (indices.min() < 0 or indices.max() >= len(gallery_labels)):
                raise TableError(f"{where}: gallery indices outside 0..{len(gallery_labels) - 1}")
            retrieved = gallery_labels[indices]
            for k in ks:
                values = {
                    "top_k_accuracy": top_k_accuracy(retrieved, labels, k),
                    "precision": precision_at_k(retrieved, labels, k),
                    "map": mean_average_precision(retrieved, labels, k, n_relevant),
                }
                rows += [(base, enhanced, distance, m, k, 100.0 * values[m]) for m in MEASURES]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame.attrs = {"n_gallery": len(gallery_labels), "n_queries": n_queries}
    return frame


def _lookup(frame: pd.DataFrame) -> dict:
    """(query_set, enhanced, distance, measure, k) -> value."""
    return {tuple(row[:5]): row[5] for row in frame[list(COLUMNS)].itertuples(index=False)}


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return MISSING if value is None or np.isnan(value) else f"{value:.2f}"


def _cell(degraded: float | None, enhanced: float | None, pair: bool) -> str:
    return f"{_fmt(degraded)}/{_fmt(enhanced)}" if pair else _fmt(degraded)


def _table1_rows(get, distances: Sequence[str], ks: Sequence[int], bases: Sequence[str]) -> list[list[str]]:
    """Rows of the Table 1 layout; get(query_set, enhanced, distance, k) -> value or None."""
    rows = []
    for title, base in TABLE1_ROWS:
        if base not in bases:
            continue
        rows.append([f"**{title}**", "", *[""] * len(ks)])
        pair = base != "clean"
        for distance in distances:
            cells = [_cell(get(base, False, distance, k), get(base, True, distance, k), pair) for k in ks]
            rows.append(["", DISTANCE_NAMES.get(distance, distance), *cells])
    return rows


def table1_markdown(frame: pd.DataFrame, ks: Sequence[int] | None = None) -> str:
    """The paper's Table 1 layout for our numbers, then the paper's own (top-k matching
    accuracy, %): row groups Ideal / Noisy / Motion blurry / Low resolution (only those whose
    query set was evaluated), sub-rows per distance, cells `degraded/enhanced`."""
    acc = frame[frame["measure"] == "top_k_accuracy"]
    ks = sorted(ks or acc["k"].unique().tolist())
    distances = [d for d in DISTANCES if d in set(acc["distance"])]
    bases = set(acc["query_set"])
    values = _lookup(acc)

    def ours(base, enhanced, distance, k):
        return values.get((base, enhanced, distance, "top_k_accuracy", k))

    def paper(base, enhanced, distance, k):
        name = f"{base}{ENHANCED_SUFFIX}" if enhanced else base
        return PAPER_TABLE1.get(name, {}).get(distance, {}).get(k)

    header = ["Query", "Metric", *[f"Top {k}" for k in ks]]
    n_gallery = frame.attrs.get("n_gallery")
    counts = frame.attrs.get("n_queries", {})
    sizes = ", ".join(f"{name} {n}" for name, n in counts.items())
    parts = [
        "# Table 1: retrieval performance\n",
        "Top-k matching accuracy (the paper's eq. 8) in percent: the share of queries with at least "
        "one gallery image of their own class among the first k results. Cells are "
        f"`degraded/enhanced` ({MISSING}: not configured).\n",
        "## This run\n",
        _markdown(header, _table1_rows(ours, distances, ks, bases)),
        "## The paper (Table 1)\n",
        _markdown(header, _table1_rows(paper, distances, ks, bases)),
    ]
    if n_gallery is not None:
        parts.append(f"Gallery: {n_gallery} images. Queries per set: {sizes}.\n")
    return "\n".join(parts)


def queries_markdown(frame: pd.DataFrame, qsets: Sequence[str], enhance: Mapping[str, str]) -> str:
    """One row per configured query set and distance: top-k accuracy for every k, then
    precision and mAP at the largest k (all percent)."""
    ks = sorted(frame["k"].unique().tolist())
    top = ks[-1]
    values = _lookup(frame)
    counts = frame.attrs.get("n_queries", {})
    distances = [d for d in DISTANCES if d in set(frame["distance"])]
    header = ["Query set", "Enhancer", "Metric", "Queries", *[f"Top {k}" for k in ks], f"P@{top}", f"mAP@{top}"]
    rows = []
    for qset in qsets:
        base, enhanced = split_qset(qset, enhance)
        for distance in distances:
            key = (base, enhanced, distance)
            if values.get((*key, "top_k_accuracy", top)) is None:
                continue
            cells = [_fmt(values.get((*key, "top_k_accuracy", k))) for k in ks]
            cells += [_fmt(values.get((*key, "precision", top))), _fmt(values.get((*key, "map", top)))]
            enhancer = enhance.get(base, MISSING) if enhanced else MISSING
            rows.append([qset, enhancer, DISTANCE_NAMES.get(distance, distance), str(counts.get(qset, "")), *cells])
    return "\n".join(
        [
            "# Retrieval per query set\n",
            f"Top k: top-k matching accuracy (eq. 8); P@{top}: precision at {top}; mAP@{top}: mean average "
            f"precision within the first {top} results, normalised by min({top}, gallery images of the "
            "query's class). All in percent.\n",
            _markdown(header, rows),
        ]
    )
