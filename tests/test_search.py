"""Exact top-k search against brute force, with exact ties, chunking and edge cases; measures over
the whole ranking on hand-made rankings and against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cbir.search
from cbir.measures import RANKING_MEASURES
from cbir.search import (
    DISTANCES,
    SearchError,
    _lanes,
    _rankings,
    _stable_order,
    measures_from_relevance,
    ranking_measures,
    topk,
)


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
    with pytest.raises(SearchError, match="queries contain NaN or infinite values in 2 of 2 rows \\(first: row 0\\)"):
        topk(np.full((2, 4), np.nan, np.float32), g, k=2, distance="l2", chunk_size=8)
    g[3, 1] = np.inf
    with pytest.raises(SearchError, match="gallery contain NaN or infinite values in 1 of 5 rows \\(first: row 3\\)"):
        topk(q, g, k=2, distance="l2", chunk_size=8)
    with pytest.raises(SearchError, match="chunk_size"):
        topk(q, g, k=2, distance="l2", chunk_size=0)


# ---------------------------------------------------------------------------------------------
# Measures over the whole ranking


def definition_measures(relevant) -> dict[str, float]:
    """map_full, r_precision and map_at_r of one ranking's relevance, straight from the formulas."""
    relevant = [bool(r) for r in relevant]
    n_rel = sum(relevant)
    if n_rel == 0:
        return dict.fromkeys(RANKING_MEASURES, 0.0)
    precision = [sum(relevant[:i]) / i for i in range(1, len(relevant) + 1)]
    terms = [p for p, r in zip(precision, relevant, strict=True) if r]
    return {
        "map_full": sum(terms) / n_rel,
        "r_precision": sum(relevant[:n_rel]) / n_rel,
        "map_at_r": sum(p for i, (p, r) in enumerate(zip(precision, relevant, strict=True)) if r and i < n_rel) / n_rel,
    }


def exact_measures(queries, gallery, query_labels, gallery_labels, distance):
    """Brute force for data on which float32 is exact (integers for l2, `four_signs` for cosine):
    float64 scores, a stable argsort, the definitions."""
    q, g = queries.astype(np.float64), gallery.astype(np.float64)
    if distance == "l2":
        rank = ((q[:, None, :] - g[None]) ** 2).sum(-1)
    else:
        rank = -(q @ g.T) / np.outer(np.linalg.norm(q, axis=1), np.linalg.norm(g, axis=1))
    order = np.argsort(rank, axis=1, kind="stable")
    rows = [definition_measures(gallery_labels[o] == label) for o, label in zip(order, query_labels, strict=True)]
    return order, {name: np.array([row[name] for row in rows]) for name in RANKING_MEASURES}


def exact_data(rng, distance, n_queries, n_gallery, dim=8):
    if distance == "l2":
        return tuple(rng.integers(-2, 3, (n, dim)).astype(np.float32) for n in (n_queries, n_gallery))
    return four_signs(rng, n_queries, dim), four_signs(rng, n_gallery, dim)


def full_rankings(queries, gallery, distance, chunk_size):
    blocks = list(_rankings(queries, gallery, distance=distance, chunk_size=chunk_size))
    assert [start for start, _ in blocks] == list(np.cumsum([0] + [len(b) for _, b in blocks[:-1]]))
    return np.concatenate([order for _, order in blocks])


def scalar_points(values, distance):
    """1-feature rows for l2 (distance |q - g|), unit 2-D rows at `value` x 20 degrees for cosine,
    so that both distances rank the gallery in the same order."""
    values = np.asarray(values, np.float64)
    if distance == "l2":
        return values[:, None].astype(np.float32)
    angle = np.radians(20 * values)
    return np.stack([np.cos(angle), np.sin(angle)], axis=1).astype(np.float32)


@pytest.mark.parametrize("distance", DISTANCES)
def test_ranking_measures_on_a_hand_made_ranking(distance):
    # Gallery positions 3 5 1 4 2 with labels 0 1 0 1 1: from 0 the ranking is positions 1 2 3 4 5,
    # i.e. labels 0 1 0 1 1; from 6 it is 5 4 3 2 1, labels 1 1 0 1 0.
    gallery = scalar_points([3, 5, 1, 4, 2], distance)
    gallery_labels = np.array([0, 1, 0, 1, 1])
    queries = scalar_points([0, 6, 0], distance)
    query_labels = np.array([0, 1, 7])
    got = ranking_measures(
        queries, gallery, query_labels=query_labels, gallery_labels=gallery_labels, distance=distance, chunk_size=2
    )
    # Query 0, label 0: relevance 1 0 1 0 0, R = 2: P@1 = 1, P@3 = 2/3.
    #   map_full = (1 + 2/3) / 2; r_precision = 1/2; map_at_r = (1 + 0) / 2.
    # Query 1, label 1: relevance 1 1 0 1 0, R = 3: P@1 = 1, P@2 = 1, P@4 = 3/4.
    #   map_full = (1 + 1 + 3/4) / 3 = 11/12; r_precision = 2/3; map_at_r = (1 + 1) / 3.
    # Query 2, label 7: none in the gallery, R = 0: all 0.
    np.testing.assert_allclose(got["map_full"], [(1 + 2 / 3) / 2, 11 / 12, 0], rtol=1e-15)
    np.testing.assert_allclose(got["r_precision"], [1 / 2, 2 / 3, 0], rtol=1e-15)
    np.testing.assert_allclose(got["map_at_r"], [1 / 2, 2 / 3, 0], rtol=1e-15)
    assert set(got) == set(RANKING_MEASURES) and all(v.dtype == np.float64 for v in got.values())
    np.testing.assert_array_equal(full_rankings(queries, gallery, distance, 2)[:2], [[2, 4, 0, 3, 1], [1, 3, 0, 4, 2]])


def test_ties_in_the_whole_ranking_go_to_the_lower_index():
    # l2: duplicated rows 2 1 2 1 (labels 0 1 1 0) from 0: distance-1 rows 1 and 3 first, then
    # rows 0 and 2: labels 1 0 0 1, relevance 0 1 1 0 for label 0, R = 2.
    #   map_full = (1/2 + 2/3) / 2 = 7/12; r_precision = 1/2; map_at_r = (0 + 1/2) / 2 = 1/4.
    # (The higher index first would give 1 0 0 1: map_full 3/4, map_at_r 1/2.)
    gallery = np.array([[2], [1], [2], [1]], np.float32)
    labels = np.array([0, 1, 1, 0])
    query = np.zeros((1, 1), np.float32)
    np.testing.assert_array_equal(full_rankings(query, gallery, "l2", 1), [[1, 3, 0, 2]])
    got = ranking_measures(query, gallery, query_labels=[0], gallery_labels=labels, distance="l2", chunk_size=1)
    np.testing.assert_allclose([got[name][0] for name in RANKING_MEASURES], [7 / 12, 1 / 2, 1 / 4], rtol=1e-15)
    # cosine in 1-D: every positive row has similarity 1 to a positive query. Rows 2 -1 3 1
    # (labels 1 0 0 1) rank 0 2 3 then 1: labels 1 0 1 0, relevance 0 1 0 1 for label 0, R = 2.
    #   map_full = (1/2 + 2/4) / 2 = 1/2; r_precision = 1/2; map_at_r = (0 + 1/2) / 2 = 1/4.
    gallery = np.array([[2], [-1], [3], [1]], np.float32)
    labels = np.array([1, 0, 0, 1])
    query = np.ones((1, 1), np.float32)
    np.testing.assert_array_equal(full_rankings(query, gallery, "cosine", 1), [[0, 2, 3, 1]])
    got = ranking_measures(query, gallery, query_labels=[0], gallery_labels=labels, distance="cosine", chunk_size=1)
    np.testing.assert_allclose([got[name][0] for name in RANKING_MEASURES], [1 / 2, 1 / 2, 1 / 4], rtol=1e-15)


def test_measures_from_relevance_by_hand():
    relevant = np.array([[1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [0, 1, 1, 0, 1], [1, 1, 1, 1, 1]], bool)
    got = measures_from_relevance(relevant)
    # Row 2: R = 3, P@2 = 1/2, P@3 = 2/3, P@5 = 3/5.
    np.testing.assert_allclose(got["map_full"], [5 / 6, 0, (1 / 2 + 2 / 3 + 3 / 5) / 3, 1], rtol=1e-15)
    np.testing.assert_allclose(got["r_precision"], [1 / 2, 0, 2 / 3, 1], rtol=1e-15)
    np.testing.assert_allclose(got["map_at_r"], [1 / 2, 0, (1 / 2 + 2 / 3) / 3, 1], rtol=1e-15)
    for row, values in zip(relevant, zip(*(got[name] for name in RANKING_MEASURES), strict=True), strict=True):
        assert values == pytest.approx(tuple(definition_measures(row).values()), rel=1e-15)


def test_stable_order_is_a_stable_argsort():
    # Negative, zero of both signs, infinite and many tied values.
    rng = np.random.default_rng(7)
    ranks = (rng.integers(-6, 7, (9, 300)) / 4).astype(np.float32)
    ranks[0, 1:40:2] = -0.0  # after +0.0 at a lower index: equal, so the index decides
    ranks[0, :40:2] = 0.0
    ranks[1, ::7] = np.inf
    ranks[2, ::5] = -np.inf
    ranks[3] = rng.standard_normal(300).astype(np.float32)
    expected = np.argsort(ranks, axis=1, kind="stable")
    got = _stable_order(ranks.copy())
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("distance", DISTANCES)
@pytest.mark.parametrize("n_gallery", [30, 400])  # topk: full sort; group-minimum shortcut
def test_whole_ranking_starts_with_topk_on_random_data(distance, n_gallery, monkeypatch):
    rng = np.random.default_rng(8)
    queries = rng.standard_normal((25, 12)).astype(np.float32)
    gallery = rng.standard_normal((n_gallery, 12)).astype(np.float32)
    monkeypatch.setattr(cbir.search, "_SORT_ELEMENTS", 3 * n_gallery)  # sort blocks of 3 rows within chunks
    for chunk in (1, 7, 25):
        order = full_rankings(queries, gallery, distance, chunk)
        np.testing.assert_array_equal(np.sort(order, axis=1), np.broadcast_to(np.arange(n_gallery), order.shape))
        for k in (1, 10):
            np.testing.assert_array_equal(
                order[:, :k], topk(queries, gallery, k=k, distance=distance, chunk_size=chunk)[0]
            )
        # The scores along the ranking are monotone (float64 recomputation, float32 tolerance).
        g = np.take(gallery, order, axis=0).astype(np.float64)
        q = queries.astype(np.float64)[:, None, :]
        if distance == "l2":
            rank = np.sqrt(((g - q) ** 2).sum(-1))
        else:
            rank = -(g * q).sum(-1) / np.linalg.norm(g, axis=-1) / np.linalg.norm(q, axis=-1)
        assert (np.diff(rank, axis=1) >= -1e-5).all()


@pytest.mark.parametrize("distance", DISTANCES)
def test_ranking_measures_match_brute_force_for_every_chunk_size(distance, monkeypatch):
    # Exact arithmetic (many exact ties): the measures agree bit for bit across chunk and sort
    # block sizes, and with the definitions on a float64 stable argsort.
    rng = np.random.default_rng(9)
    queries, gallery = exact_data(rng, distance, 23, 90)
    gallery_labels = rng.integers(0, 4, 90)
    query_labels = rng.integers(0, 5, 23)  # label 4 is not in the gallery: R = 0
    assert (query_labels == 4).any() and not (gallery_labels == 4).any()
    order, expected = exact_measures(queries, gallery, query_labels, gallery_labels, distance)
    kwargs = {"query_labels": query_labels, "gallery_labels": gallery_labels, "distance": distance}
    reference = ranking_measures(queries, gallery, **kwargs, chunk_size=23)
    for name in RANKING_MEASURES:
        np.testing.assert_allclose(reference[name], expected[name], rtol=1e-14, atol=0)
        assert (reference[name][query_labels == 4] == 0).all()
    np.testing.assert_array_equal(full_rankings(queries, gallery, distance, 23), order)
    for chunk, sort_elements in [(1, 2**23), (7, 2**23), (7, 2 * 90), (1000, 5 * 90)]:
        monkeypatch.setattr(cbir.search, "_SORT_ELEMENTS", sort_elements)
        got = ranking_measures(queries, gallery, **kwargs, chunk_size=chunk)
        for name in RANKING_MEASURES:
            np.testing.assert_array_equal(got[name], reference[name])


def test_ranking_measures_edge_cases_and_errors():
    gallery = np.eye(3, dtype=np.float32)
    got = ranking_measures(
        np.zeros((0, 3), np.float32), gallery, query_labels=[], gallery_labels=[0, 1, 2], distance="l2", chunk_size=4
    )
    assert all(v.shape == (0,) for v in got.values())
    with pytest.raises(SearchError, match=r"labels must be \[Nq\] = \[2\] and \[Ng\] = \[3\]"):
        ranking_measures(gallery[:2], gallery, query_labels=[0], gallery_labels=[0, 1, 2], distance="l2", chunk_size=4)
    with pytest.raises(SearchError, match="'manhattan'"):
        ranking_measures(
            gallery, gallery, query_labels=[0] * 3, gallery_labels=[0] * 3, distance="manhattan", chunk_size=4
        )
    with pytest.raises(SearchError, match="chunk_size"):
        ranking_measures(gallery, gallery, query_labels=[0] * 3, gallery_labels=[0] * 3, distance="l2", chunk_size=0)
