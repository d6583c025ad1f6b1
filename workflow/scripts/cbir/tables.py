"""Retrieval tables: the long-form CSV, the paper's Table 1 and a per-query-set table.

Measures (cbir.metrics), all stored and printed in percent:
    top_k_accuracy  the paper's eq. 8: share of queries with at least one result of
                    their label among the first k;
    precision       precision@k: mean share of relevant results among the first k;
    map             mAP@k: mean average precision within the first k results, normalised
                    by min(k, number of gallery images of the query's label).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cbir.fsutil import atomic_path
from cbir.h5store import read_embeddings, read_retrieval
from cbir.metrics import mean_average_precision, precision_at_k, relevant_counts, top_k_accuracy
from cbir.search import METRICS

log = logging.getLogger("cbir.tables")

MEASURES = ("top_k_accuracy", "precision", "map")
COLUMNS = ("query_set", "enhanced", "metric", "measure", "k", "value")
METRIC_NAMES = {"l2": "L2 metric", "cosine": "cosine sim"}
ENHANCED_SUFFIX = "_enhanced"

# Table 1 of the paper: top-k matching accuracy (%), query set -> metric -> k -> value.
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
    gallery_emb_path: str | os.PathLike,
    query_emb_paths: Mapping[str, str | os.PathLike],
    retrieval_paths: Mapping[str, str | os.PathLike],
    ks: Sequence[int],
    enhance: Mapping[str, str],
) -> pd.DataFrame:
    """Every measure at every k in `ks`, per query set and metric, as a long DataFrame with
    COLUMNS (value in percent). Query sets in the order of `query_emb_paths`; labels come
    from the embedding files, so the numbers can be recomputed from them alone.
    df.attrs holds n_gallery and n_queries (query set -> count)."""
    if set(query_emb_paths) != set(retrieval_paths):
        raise TableError(f"query sets differ: embeddings {sorted(query_emb_paths)}, results {sorted(retrieval_paths)}")
    ks = sorted(int(k) for k in ks)
    gallery_labels = read_embeddings(gallery_emb_path).labels
    rows, n_queries = [], {}
    for qset, emb_path in query_emb_paths.items():
        labels = read_embeddings(emb_path).labels
        results, _ = read_retrieval(retrieval_paths[qset])
        base, enhanced = split_qset(qset, enhance)
        n_queries[qset] = len(labels)
        n_relevant = relevant_counts(gallery_labels, labels)
        for metric in [m for m in METRICS if m in results] + [m for m in results if m not in METRICS]:
            indices = results[metric][0]
            where = f"{retrieval_paths[qset]} [{metric}]"
            if indices.shape[0] != len(labels):
                raise TableError(f"{where}: {indices.shape[0]} result rows for {len(labels)} queries in {emb_path}")
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
                rows += [(base, enhanced, metric, m, k, 100.0 * values[m]) for m in MEASURES]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame.attrs = {"n_gallery": len(gallery_labels), "n_queries": n_queries}
    return frame


def _lookup(frame: pd.DataFrame) -> dict:
    """(query_set, enhanced, metric, measure, k) -> value."""
    return {tuple(row[:5]): row[5] for row in frame[list(COLUMNS)].itertuples(index=False)}


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return MISSING if value is None or np.isnan(value) else f"{value:.2f}"


def _cell(degraded: float | None, enhanced: float | None, pair: bool) -> str:
    return f"{_fmt(degraded)}/{_fmt(enhanced)}" if pair else _fmt(degraded)


def _table1_rows(get, metrics: Sequence[str], ks: Sequence[int], bases: Sequence[str]) -> list[list[str]]:
    """Rows of the Table 1 layout; get(query_set, enhanced, metric, k) -> value or None."""
    rows = []
    for title, base in TABLE1_ROWS:
        if base not in bases:
            continue
        rows.append([f"**{title}**", "", *[""] * len(ks)])
        pair = base != "clean"
        for metric in metrics:
            cells = [_cell(get(base, False, metric, k), get(base, True, metric, k), pair) for k in ks]
            rows.append(["", METRIC_NAMES.get(metric, metric), *cells])
    return rows


def table1_markdown(frame: pd.DataFrame, ks: Sequence[int] | None = None) -> str:
    """The paper's Table 1 layout for our numbers, then the paper's own (top-k matching
    accuracy, %): row groups Ideal / Noisy / Motion blurry / Low resolution (only those whose
    query set was evaluated), sub-rows per metric, cells `degraded/enhanced`."""
    acc = frame[frame["measure"] == "top_k_accuracy"]
    ks = sorted(ks or acc["k"].unique().tolist())
    metrics = [m for m in METRICS if m in set(acc["metric"])]
    bases = set(acc["query_set"])
    values = _lookup(acc)

    def ours(base, enhanced, metric, k):
        return values.get((base, enhanced, metric, "top_k_accuracy", k))

    def paper(base, enhanced, metric, k):
        name = f"{base}{ENHANCED_SUFFIX}" if enhanced else base
        return PAPER_TABLE1.get(name, {}).get(metric, {}).get(k)

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
        _markdown(header, _table1_rows(ours, metrics, ks, bases)),
        "## The paper (Table 1)\n",
        _markdown(header, _table1_rows(paper, metrics, ks, bases)),
    ]
    if n_gallery is not None:
        parts.append(f"Gallery: {n_gallery} images. Queries per set: {sizes}.\n")
    return "\n".join(parts)


def queries_markdown(frame: pd.DataFrame, qsets: Sequence[str], enhance: Mapping[str, str]) -> str:
    """One row per configured query set and metric: top-k accuracy for every k, then
    precision and mAP at the largest k (all percent)."""
    ks = sorted(frame["k"].unique().tolist())
    top = ks[-1]
    values = _lookup(frame)
    counts = frame.attrs.get("n_queries", {})
    metrics = [m for m in METRICS if m in set(frame["metric"])]
    header = ["Query set", "Enhancer", "Metric", "Queries", *[f"Top {k}" for k in ks], f"P@{top}", f"mAP@{top}"]
    rows = []
    for qset in qsets:
        base, enhanced = split_qset(qset, enhance)
        for metric in metrics:
            key = (base, enhanced, metric)
            if values.get((*key, "top_k_accuracy", top)) is None:
                continue
            cells = [_fmt(values.get((*key, "top_k_accuracy", k))) for k in ks]
            cells += [_fmt(values.get((*key, "precision", top))), _fmt(values.get((*key, "map", top)))]
            enhancer = enhance.get(base, MISSING) if enhanced else MISSING
            rows.append([qset, enhancer, METRIC_NAMES.get(metric, metric), str(counts.get(qset, "")), *cells])
    return "\n".join(
        [
            "# Retrieval per query set\n",
            f"Top k: top-k matching accuracy (eq. 8); P@{top}: precision at {top}; mAP@{top}: mean average "
            f"precision within the first {top} results, normalised by min({top}, gallery images of the "
            "query's class). All in percent.\n",
            _markdown(header, rows),
        ]
    )


def _write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6f")


def evaluate_retrieval(
    gallery: str | os.PathLike,
    queries: Sequence[str | os.PathLike],
    results: Sequence[str | os.PathLike],
    *,
    qsets: Sequence[str],
    ks: Sequence[int],
    enhance: Mapping[str, str],
    csv: str | os.PathLike,
    table1: str | os.PathLike,
    per_query: str | os.PathLike,
) -> pd.DataFrame:
    """Rule evaluate_retrieval: `queries` and `results` are in the order of `qsets`."""
    if not len(queries) == len(results) == len(qsets):
        raise TableError(f"{len(qsets)} query sets but {len(queries)} embedding and {len(results)} result files")
    frame = evaluate(
        gallery, dict(zip(qsets, queries, strict=True)), dict(zip(qsets, results, strict=True)), ks, enhance
    )
    write_csv(frame, csv)
    _write_text(table1, table1_markdown(frame, ks))
    _write_text(per_query, queries_markdown(frame, qsets, enhance))
    log.info("wrote %s, %s and %s (%d rows)", csv, table1, per_query, len(frame))
    return frame
