"""Retrieval measures on hand-made rank tables with answers worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cbir.measures import (
    MeasureError,
    average_precision_at_k,
    mean_average_precision,
    precision_at_k,
    precision_per_query,
    relevant_counts,
    top_k_accuracy,
    top_k_hits,
)

# Three queries with labels 0, 1, 2 and the labels of their first four results.
LABELS = np.array([0, 1, 2])
RETRIEVED = np.array(
    [
        [0, 1, 0, 0],  # relevant: 1 0 1 1
        [0, 0, 1, 2],  # relevant: 0 0 1 0
        [1, 1, 0, 0],  # relevant: 0 0 0 0
    ]
)


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        (1, 1 / 3),  # only query 0 hits at rank 1
        (2, 1 / 3),
        (3, 2 / 3),  # query 1's first hit is at rank 3
        (4, 2 / 3),  # query 2 never hits
    ],
)
def test_top_k_accuracy_is_eq8(k, expected):
    assert top_k_accuracy(RETRIEVED, LABELS, k) == pytest.approx(expected)


def test_precision_at_k():
    # k=2: (1/2 + 0 + 0) / 3 = 1/6; k=4: (3/4 + 1/4 + 0) / 3 = 1/3.
    assert precision_at_k(RETRIEVED, LABELS, 2) == pytest.approx(1 / 6)
    assert precision_at_k(RETRIEVED, LABELS, 4) == pytest.approx(1 / 3)
    assert precision_at_k(RETRIEVED, LABELS, 1) == pytest.approx(top_k_accuracy(RETRIEVED, LABELS, 1))


def test_per_query_values_by_hand_and_their_means():
    # Hits: query 0 at rank 1, query 1 at rank 3, query 2 never.
    np.testing.assert_array_equal(top_k_hits(RETRIEVED, LABELS, 1), [True, False, False])
    np.testing.assert_array_equal(top_k_hits(RETRIEVED, LABELS, 3), [True, True, False])
    np.testing.assert_array_equal(precision_per_query(RETRIEVED, LABELS, 2), [1 / 2, 0, 0])
    np.testing.assert_array_equal(precision_per_query(RETRIEVED, LABELS, 4), [3 / 4, 1 / 4, 0])
    assert precision_per_query(RETRIEVED, LABELS, 4).dtype == np.float64
    for k in (1, 2, 3, 4):
        assert top_k_hits(RETRIEVED, LABELS, k).mean() == top_k_accuracy(RETRIEVED, LABELS, k)
        assert precision_per_query(RETRIEVED, LABELS, k).mean() == precision_at_k(RETRIEVED, LABELS, k)
    with pytest.raises(MeasureError, match="k=5"):
        top_k_hits(RETRIEVED, LABELS, 5)
    # No queries: per-query arrays are empty, their means undefined.
    empty = np.zeros((0, 4), np.int64)
    assert top_k_hits(empty, np.zeros(0, np.int64), 2).shape == (0,)
    assert np.isnan(precision_at_k(empty, np.zeros(0, np.int64), 2))


def test_average_precision_normalised_by_relevant_retrieved():
    # Query 0: precisions at its hits (ranks 1, 3, 4) are 1, 2/3, 3/4: sum 29/12, over 3
    # hits -> 29/36. Query 1: one hit at rank 3 with precision 1/3 -> 1/3. Query 2: 0.
    ap = average_precision_at_k(RETRIEVED, LABELS, 4)
    np.testing.assert_allclose(ap, [29 / 36, 1 / 3, 0.0])
    assert mean_average_precision(RETRIEVED, LABELS, 4) == pytest.approx((29 / 36 + 1 / 3) / 3)  # 41/108


def test_average_precision_normalised_by_min_k_and_relevant_in_gallery():
    # Gallery holds 5, 2 and 1 images of the three labels: Z = min(4, n) = 4, 2, 1.
    # Query 0: (29/12) / 4 = 29/48; query 1: (1/3) / 2 = 1/6; query 2: 0.
    ap = average_precision_at_k(RETRIEVED, LABELS, 4, n_relevant=np.array([5, 2, 1]))
    np.testing.assert_allclose(ap, [29 / 48, 1 / 6, 0.0])
    assert mean_average_precision(RETRIEVED, LABELS, 4, np.array([5, 2, 1])) == pytest.approx(37 / 144)
    # At k=1 query 0 is perfect either way; no relevant item in the gallery gives 0.
    np.testing.assert_allclose(average_precision_at_k(RETRIEVED, LABELS, 1, np.array([5, 0, 1])), [1, 0, 0])


def test_perfect_ranking_scores_one():
    retrieved = np.array([[3, 3, 3], [1, 1, 2]])
    labels = np.array([3, 1])
    assert top_k_accuracy(retrieved, labels, 3) == 1.0
    assert precision_at_k(retrieved, labels, 2) == 1.0
    # Query 1 has only 2 relevant gallery images: its first two results are all of them.
    assert mean_average_precision(retrieved, labels, 3, np.array([10, 2])) == pytest.approx(1.0)


def test_relevant_counts():
    gallery = np.array([0, 0, 1, 2, 2, 2])
    np.testing.assert_array_equal(relevant_counts(gallery, np.array([2, 0, 1, 4])), [3, 2, 1, 0])


def test_bad_inputs():
    with pytest.raises(MeasureError, match="k=5 outside 1..4"):
        top_k_accuracy(RETRIEVED, LABELS, 5)
    with pytest.raises(MeasureError, match="k=0"):
        precision_at_k(RETRIEVED, LABELS, 0)
    with pytest.raises(MeasureError, match="labels"):
        top_k_accuracy(RETRIEVED, LABELS[:2], 1)
