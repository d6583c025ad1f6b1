"""Retrieval measures from ranked label tables (paper section IV.C, eq. 8): "measure" here, "distance" for L2/cosine.

Every function takes
    retrieved  int [Nq, K]: the labels of each query's gallery results, best first;
    labels     int [Nq]: the query labels;
and a cut-off k <= K. A result is relevant when its label equals the query's label.
All return fractions in [0, 1] (the tables print percent): per query (`top_k_hits`,
`precision_per_query`, `average_precision_at_k`, for resampling and paired comparisons) or
their means over queries. Measures over the whole gallery ranking, which the top K cannot
give, are `cbir.search.ranking_measures`.
"""

from __future__ import annotations

import numpy as np

# Per-query measures over each query's ranking of the whole gallery (`cbir.search.ranking_measures`),
# stored in the retrieval files beside the top K.
RANKING_MEASURES = ("map_full", "r_precision", "map_at_r")


class MeasureError(ValueError):
    """Inconsistent shapes or a cut-off outside 1..K."""


def relevance(retrieved: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """bool [Nq, k]: whether each of the first k results has the query's label."""
    retrieved = np.asarray(retrieved)
    labels = np.asarray(labels)
    if retrieved.ndim != 2 or labels.shape != (len(retrieved),):
        raise MeasureError(f"expected retrieved [Nq, K] and labels [Nq], got {retrieved.shape} and {labels.shape}")
    if not 1 <= k <= retrieved.shape[1]:
        raise MeasureError(f"k={k} outside 1..{retrieved.shape[1]} (results stored per query)")
    return retrieved[:, :k] == labels[:, None]


def top_k_hits(retrieved: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """bool [Nq]: eq. 8's delta(x_i) per query, whether any of its first k results has its
    label; kept per query so that the evaluator can resample and pair queries."""
    return relevance(retrieved, labels, k).any(axis=1)


def precision_per_query(retrieved: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """float [Nq]: (relevant results among the first k) / k of each query."""
    return relevance(retrieved, labels, k).mean(axis=1, dtype=np.float64)


def _mean(values: np.ndarray) -> float:
    """Mean over queries; NaN when there are none (no measure of nothing)."""
    return float(values.mean()) if len(values) else float("nan")


def top_k_accuracy(retrieved: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Top-k matching accuracy, the paper's eq. 8: m = (1/n) sum_i delta(x_i), where
    delta(x_i) = 1 if at least one of the first k results of query x_i has its label,
    else 0 (`top_k_hits`). (With k = 1 this is the accuracy of a 1-nearest-neighbour classifier.)"""
    return _mean(top_k_hits(retrieved, labels, k))


def precision_at_k(retrieved: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Precision@k: the mean over queries of `precision_per_query`."""
    return _mean(precision_per_query(retrieved, labels, k))


def average_precision_at_k(
    retrieved: np.ndarray, labels: np.ndarray, k: int, n_relevant: np.ndarray | None = None
) -> np.ndarray:
    """float [Nq]: average precision of each query within its first k results,

        AP@k = (1 / Z) * sum_{i <= k} P@i * rel_i,

    with P@i the precision of the first i results and rel_i = 1 when result i is relevant.
    Normalisation Z:
      - n_relevant given (int [Nq], the number of gallery items of each query's label):
        Z = min(k, n_relevant), so AP@k = 1 exactly when the first min(k, n_relevant)
        results are all relevant, and missing relevant results lower it;
      - n_relevant None: Z = the number of relevant results within the first k (only what
        was retrieved counts; one relevant result at rank 1 and nothing else gives 1).
    A query with Z = 0 gets AP = 0.
    """
    rel = relevance(retrieved, labels, k).astype(np.float64)
    precision_at_i = np.cumsum(rel, axis=1) / np.arange(1, k + 1)
    total = (precision_at_i * rel).sum(axis=1)
    if n_relevant is None:
        norm = rel.sum(axis=1)
    else:
        n_relevant = np.asarray(n_relevant)
        if n_relevant.shape != (len(rel),):
            raise MeasureError(f"n_relevant must be [Nq] = [{len(rel)}], got {n_relevant.shape}")
        norm = np.minimum(k, n_relevant).astype(np.float64)
    return np.divide(total, norm, out=np.zeros_like(total), where=norm > 0)


def mean_average_precision(
    retrieved: np.ndarray, labels: np.ndarray, k: int, n_relevant: np.ndarray | None = None
) -> float:
    """mAP@k: the mean over queries of `average_precision_at_k` (same normalisation)."""
    return _mean(average_precision_at_k(retrieved, labels, k, n_relevant))


def relevant_counts(gallery_labels: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """int [Nq]: how many gallery items share each query's label (for AP's normaliser)."""
    classes, counts = np.unique(np.asarray(gallery_labels), return_counts=True)
    per_class = dict(zip(classes.tolist(), counts.tolist(), strict=True))
    return np.array([per_class.get(label, 0) for label in np.asarray(labels).tolist()], np.int64)
