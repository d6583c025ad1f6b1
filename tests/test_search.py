"""Exact top-k search against brute force, with exact ties, chunking and edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cbir.search import DISTANCES, SearchError, _lanes, topk


def brute_force(queries: np.ndarray, gallery: np.ndarray, k: int, distance: str):
    """A double loop in float64: per query, every gallery row's score, then the first k of
    sorted((score key, index)) so that ties go to the lower index."""
    indices, scores = [], []
    for q in queries.astype(np.float64):
        row = []
        for j, g in enumerate(gallery.astype(np.float64)):
            if distance == "l2":
                score = math.sqrt(sum((a - b) ** 2 for a, b in zip(q, g, strict=True)))
                row.append((score, j, score))
            else:
                nq, ng = math.sqrt(q @ q), math.sqrt(g @ g)
                score = (q @ g) / (nq * ng) if nq > 0 and ng > 0 else 0.0
                row.append((-score, j, score))
        best = sorted(row)[:k]
        indices.append([j for _, j, _ in best])
        scores.append([s for _, _, s in best])
    return np.array(indices), np.array(scores)


def four_signs(rng: np.random.Generator, n: int, dim: int = 8) -> np.ndarray:
    """Rows with four entries of +-1 and zeros elsewhere: norm exactly 2."""
    x = np.zeros((n, dim), np.float32)
    for row in x:
        row[rng.choice(dim, 4, replace=False)] = rng.choice([-1.0, 1.0], 4)
    return x


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("n_gallery", [30, 400])  # 30: full sort; 400: group-minimum shortcut
def test_matches_brute_force_on_random_data(distance, n_gallery):
    rng = np.random.default_rng(1)
    queries = rng.standard_normal((25, 12)).astype(np.float32)
    gallery = rng.standard_normal((n_gallery, 12)).astype(np.float32)
    assert (_lanes(n_gallery, 7) > 0) == (n_gallery == 400)
    indices, scores = topk(queries, gallery, k=7, distance=distance, chunk_size=4)
    ref_idx, ref_scores = brute_force(queries, gallery, 7, distance)
    assert indices.dtype == np.int32 and scores.dtype == np.float32
    assert indices.shape == scores.shape == (25, 7)
    np.testing.assert_array_equal(indices, ref_idx)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-5)


def test_l2_exact_ties_come_in_index_order():
    # Integer features: the expansion is exact in float32, so duplicates tie exactly.
    rng = np.random.default_rng(2)
    base = rng.integers(0, 3, (40, 6)).astype(np.float32)
    gallery = base[rng.integers(0, 40, 500)]  # many duplicated rows, scattered
    queries = np.concatenate([base[:10], rng.integers(0, 3, (10, 6)).astype(np.float32)])
    for k in (1, 10, 37):
        indices, scores = topk(queries, gallery, k=k, distance="l2", chunk_size=7)
        ref_idx, ref_scores = brute_force(queries, gallery, k, "l2")
        np.testing.assert_array_equal(indices, ref_idx)
        np.testing.assert_array_equal(scores, ref_scores.astype(np.float32))
    # Queries taken from the gallery find themselves first at distance exactly 0.
    assert (scores[:10, 0] == 0).all()


def test_cosine_exact_ties_come_in_index_order():
    # Rows with four entries of +-1 and zeros elsewhere have norm 2: normalising is exact
    # and similarities are exact multiples of 1/4, with many ties. Row 0 is all zeros.
    rng = np.random.default_rng(3)
    gallery = four_signs(rng, 300)
    gallery[0] = 0
    queries = four_signs(rng, 15)
    queries[0] = 0  # a zero query: similarity 0 with everything, so indices 0..k-1
    indices, scores = topk(queries, gallery, k=12, distance="cosine", chunk_size=4)
    ref_idx, ref_scores = brute_force(queries, gallery, 12, "cosine")
    np.testing.assert_array_equal(indices, ref_idx)
    np.testing.assert_array_equal(scores, ref_scores.astype(np.float32))
    np.testing.assert_array_equal(indices[0], np.arange(12))
    assert set(np.unique(scores[1:])) <= {0.25 * i for i in range(-4, 5)}


@pytest.mark.parametrize("distance", DISTANCES)
def test_chunk_size_does_not_change_results(distance):
    # Data on which float32 arithmetic is exact (see the cosine tie test), so that BLAS's
    # shape-dependent summation order cannot change a bit.
    rng = np.random.default_rng(4)
    if distance == "l2":
        queries = rng.integers(-3, 4, (33, 10)).astype(np.float32)
        gallery = rng.integers(-3, 4, (600, 10)).astype(np.float32)
    else:
        queries, gallery = four_signs(rng, 33, 10), four_signs(rng, 600, 10)
    ref = topk(queries, gallery, k=10, distance=distance, chunk_size=33)
    for chunk in (1, 5, 32, 1000):
        got = topk(queries, gallery, k=10, distance=distance, chunk_size=chunk)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
    if distance == "l2":  # integer data: the exact squared distances
        d2 = ((queries[:, None, :] - gallery[None]) ** 2).sum(-1)
        np.testing.assert_array_equal(ref[1], np.sqrt(np.take_along_axis(d2, ref[0].astype(np.int64), axis=1)))


@pytest.mark.parametrize("distance", DISTANCES)
def test_k_equal_to_gallery_size_is_a_full_ranking(distance):
    rng = np.random.default_rng(5)
    queries = rng.standard_normal((6, 5)).astype(np.float32)
    gallery = rng.standard_normal((9, 5)).astype(np.float32)
    indices, scores = topk(queries, gallery, k=9, distance=distance, chunk_size=1024)
    for row in indices:
        assert sorted(row) == list(range(9))
    diffs = np.diff(scores, axis=1)
    assert (diffs >= 0).all() if distance == "l2" else (diffs <= 0).all()
    np.testing.assert_array_equal(indices, brute_force(queries, gallery, 9, distance)[0])


def test_errors_name_the_problem():
    q = np.zeros((2, 4), np.float32)
    g = np.ones((5, 4), np.float32)
    with pytest.raises(SearchError, match="gallery size 5"):
        topk(q, g, k=6, distance="l2", chunk_size=8)
    with pytest.raises(SearchError, match="k=0"):
        topk(q, g, k=0, distance="l2", chunk_size=8)
    with pytest.raises(SearchError, match="'manhattan'"):
        topk(q, g, k=2, distance="manhattan", chunk_size=8)
    with pytest.raises(SearchError, match="feature sizes differ"):
        topk(np.zeros((2, 3), np.float32), g, k=2, distance="l2", chunk_size=8)
    with pytest.raises(SearchError, match="NaN"):
        topk(np.full((2, 4), np.nan, np.float32), g, k=2, distance="l2", chunk_size=8)
    with pytest.raises(SearchError, match="chunk_size"):
        topk(q, g, k=2, distance="l2", chunk_size=0)
