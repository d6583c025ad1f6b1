"""Bootstrap intervals, McNemar, gap closed and chance levels against hand computations and simulations."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from cbir.measures import average_precision_at_k
from cbir.stats import (
    GapClosed,
    Interval,
    Resampler,
    StatsError,
    chance_levels,
    gap_closed,
    mcnemar_exact,
)

# ---------------------------------------------------------------- coverage


def _coverage(n_sets: int, n_groups: int, n_replicates: int, offset: float, seed: int) -> float:
    """Share of 95 % intervals that contain the true mean 0.7 over simulated clustered binary data sets.

    Objects have 20-200 queries (unequal) and success probabilities p_g = 0.1 + 0.8 * Beta(7.5, 2.5)
    (mean 0.7, independent of the size, so the query-weighted mean is consistent for 0.7); replicate r
    shifts every probability by d_r ~ U(-offset, offset) (mean 0, no clipping needed), and the target
    is the expectation over objects, replicates and outcomes: 0.7.
    """
    rng = np.random.default_rng(seed)
    hits = 0
    for s in range(n_sets):
        groups = np.repeat(np.arange(n_groups), rng.integers(20, 201, n_groups))
        p = 0.1 + 0.8 * rng.beta(7.5, 2.5, n_groups)
        shift = rng.uniform(-offset, offset, n_replicates) if n_replicates > 1 else np.zeros(1)
        prob = p[groups][None, :] + shift[:, None]
        y = (rng.random(prob.shape) < prob).astype(np.float64)
        resampler = Resampler(groups, seed=10_000 + s, n_replicates=n_replicates)
        interval = resampler.mean(y if n_replicates > 1 else y[0])
        hits += interval.low <= 0.7 <= interval.high
    return hits / n_sets


def test_coverage_of_object_bootstrap():
    """60 objects: the percentile interval under-covers slightly with few objects (about 94 % at 40,
    coverage SE of 2000 data sets 0.5 %), so the simulation uses a size where it should be near 95 %."""
    assert 0.93 <= _coverage(2000, 60, 1, 0.0, seed=20240601) <= 0.97


def test_coverage_with_replicates():
    """R = 3 replicates with a replicate-level offset small against the object spread (±0.02 against
    an object SD of 0.1). With R = 3 the replicate stage understates training-to-training variance:
    an offset of ±0.04 at 60 objects gives about 89 % (see cbir.stats)."""
    assert 0.93 <= _coverage(2000, 40, 3, 0.02, seed=20240602) <= 0.97


# ---------------------------------------------------------------- resampler


def test_resampled_means_match_hand_computation():
    resampler = Resampler(None, seed=0, n_resamples=3)
    values = np.array([1.0, 0.0, 4.0])
    assert resampler.n_queries is None
    resampler.resampled_means(values)  # fixes the query count and draws the weights
    assert (resampler.n_queries, resampler.n_groups) == (3, 3)
    resampler.object_weights = np.array([[3, 0, 0], [1, 1, 1], [0, 1, 2]])
    np.testing.assert_allclose(resampler.resampled_means(values), [1.0, 5 / 3, 8 / 3], rtol=1e-15)


def test_resampled_means_with_groups_and_replicates_match_hand_computation():
    # queries 0, 1 show object 7, query 2 object 3 (ids need not be 0..G-1; sorted ids: 3 -> 0, 7 -> 1)
    resampler = Resampler(np.array([7, 7, 3]), seed=0, n_replicates=2, n_resamples=3)
    assert (resampler.n_queries, resampler.n_groups, resampler.n_replicates) == (3, 2, 2)
    values = np.array([[1.0, 0.0, 4.0], [3.0, 3.0, 0.0]])
    resampler.object_weights = np.array([[1, 1], [2, 0], [0, 2]])
    resampler.replicate_weights = np.array([[1, 1], [2, 0], [0, 2]])
    # b=0: all once: (1+0+4 + 3+3+0) / 6; b=1: object 3 twice, replicate 0 twice: 2*2*4 / (2*2*1);
    # b=2: object 7 twice, replicate 1 twice: 2*2*(3+3) / (2*2*2)
    np.testing.assert_allclose(resampler.resampled_means(values), [11 / 6, 4.0, 3.0], rtol=1e-15)


def test_weights_are_multinomial_counts():
    resampler = Resampler(np.arange(50) % 7, seed=3, n_replicates=4, n_resamples=500)
    assert resampler.object_weights.shape == (500, 7)
    assert resampler.replicate_weights.shape == (500, 4)
    assert (resampler.object_weights.sum(axis=1) == 7).all()
    assert (resampler.replicate_weights.sum(axis=1) == 4).all()
    # each count is Binomial(7, 1/7): mean 1, P(0) = (6/7)^7 = 0.34
    assert abs(resampler.object_weights.mean() - 1) < 0.05
    assert abs((resampler.object_weights == 0).mean() - (6 / 7) ** 7) < 0.03
    single = Resampler(np.arange(50) % 7, seed=3, n_resamples=500)
    assert (single.replicate_weights == 1).all()


def test_same_seed_same_intervals_and_a_big_seed_works():
    rng = np.random.default_rng(5)
    groups, values = rng.integers(0, 25, 400), rng.random(400)
    seed = 2**64 - 1
    assert Resampler(groups, seed=seed).mean(values) == Resampler(groups, seed=seed).mean(values)
    assert Resampler(groups, seed=1).mean(values) != Resampler(groups, seed=2).mean(values)


def test_mean_and_difference():
    rng = np.random.default_rng(6)
    groups = np.arange(600) % 30
    a, b = rng.random((3, 600)), rng.random((3, 600))
    resampler = Resampler(groups, seed=1, n_replicates=3)
    interval = resampler.mean(a)
    assert interval.value == pytest.approx(a.mean(), rel=1e-15)
    assert interval.low < interval.value < interval.high
    assert resampler.difference(a, a) == Interval(0.0, 0.0, 0.0)
    diff = resampler.difference(a, b)
    assert diff.value == pytest.approx(a.mean() - b.mean(), abs=1e-15)
    np.testing.assert_allclose(
        np.percentile(resampler.resampled_means(a) - resampler.resampled_means(b), [2.5, 97.5]),
        [diff.low, diff.high],
        atol=1e-12,
    )


def test_pairing_narrows_the_difference():
    """A remedy that adds +0.05 to strongly object-dependent values: the paired interval is tight."""
    rng = np.random.default_rng(7)
    groups = np.arange(1000) % 25
    base = rng.random(25)[groups] + 0.05 * rng.random(1000)
    resampler = Resampler(groups, seed=1)
    diff = resampler.difference(base + 0.05, base)
    assert diff.value == pytest.approx(0.05) and diff.excludes_zero()
    assert diff.high - diff.low < 1e-9
    unpaired = resampler.mean(base + 0.05)
    assert unpaired.high - unpaired.low > 0.1


def test_resampling_objects_widens_the_interval_on_clustered_data():
    rng = np.random.default_rng(8)
    groups = np.repeat(np.arange(20), 50)
    values = (rng.random(1000) < np.repeat(rng.choice([0.05, 0.95], 20), 50)).astype(float)
    by_object = Resampler(groups, seed=1).mean(values)
    by_query = Resampler(None, seed=1).mean(values)
    assert by_object.value == by_query.value
    # 50 nearly identical queries per object: the object interval is about sqrt(50) ~ 7 times wider
    assert by_object.high - by_object.low > 4 * (by_query.high - by_query.low)


def test_ratio_drops_zero_denominators():
    resampler = Resampler(None, seed=4, n_resamples=400)
    den_a, den_b = np.array([1.0, 0.0, 0.0]), np.zeros(3)  # the denominator lives on query 0 only
    num_a, num_b = np.array([0.5, 0.2, 0.0]), np.zeros(3)
    interval, ratios = resampler.ratio(num_a, num_b, den_a, den_b)
    assert interval.value == pytest.approx(0.7)
    missing = resampler.object_weights[:, 0] == 0
    assert 0 < missing.sum() < 400
    assert np.isnan(ratios[missing]).all() and np.isfinite(ratios[~missing]).all()
    np.testing.assert_allclose(np.percentile(ratios[~missing], [2.5, 97.5]), [interval.low, interval.high])


def test_interval_helpers():
    interval = Interval(0.1, -0.02, 0.3)
    assert not interval.excludes_zero()
    assert Interval(-0.1, -0.3, -0.01).excludes_zero() and Interval(0.1, 0.01, 0.3).excludes_zero()
    assert interval.scaled(100) == Interval(pytest.approx(10), pytest.approx(-2), pytest.approx(30))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.zeros(9), "9 queries"),
        (np.zeros((3, 10)), "3 replicates"),
        (np.zeros((2, 2, 10)), "shape"),
        (np.r_[np.zeros(9), np.nan], "NaN"),
    ],
)
def test_resampler_rejects_mismatched_values(values, message):
    with pytest.raises(StatsError, match=message):
        Resampler(np.arange(10) % 3, seed=0, n_replicates=2 if values.ndim == 2 else 1).mean(values)


def test_resampler_rejects_a_replicate_count_mismatch_of_plain_arrays():
    with pytest.raises(StatsError, match="1 replicates, the resampler 3"):
        Resampler(np.arange(10), seed=0, n_replicates=3).mean(np.zeros(10))


# ---------------------------------------------------------------- McNemar


def _pairs(n01: int, n10: int, n11: int = 5, n00: int = 7) -> tuple[np.ndarray, np.ndarray]:
    a = np.r_[np.zeros(n01), np.ones(n10), np.ones(n11), np.zeros(n00)].astype(bool)
    b = np.r_[np.ones(n01), np.zeros(n10), np.ones(n11), np.zeros(n00)].astype(bool)
    return a, b


def test_mcnemar_hand_table():
    a, b = _pairs(2, 8)
    assert mcnemar_exact(a, b) == pytest.approx(2 * (1 + 10 + 45) / 1024, rel=1e-12)  # 0.109375
    assert mcnemar_exact(b, a) == pytest.approx(0.109375, rel=1e-12)
    assert mcnemar_exact(*_pairs(5, 5)) == 1.0
    assert mcnemar_exact(*_pairs(0, 0)) == 1.0
    assert mcnemar_exact(*_pairs(0, 1)) == 1.0
    assert mcnemar_exact(*_pairs(0, 6)) == pytest.approx(2 / 64, rel=1e-12)
    assert mcnemar_exact(a.astype(int), b.astype(float)) == pytest.approx(0.109375, rel=1e-12)


def test_mcnemar_matches_integer_arithmetic():
    n01, n10 = 930, 1071
    n = n01 + n10
    exact = Fraction(2 * sum(math.comb(n, i) for i in range(n01 + 1)), 2**n)
    assert mcnemar_exact(*_pairs(n01, n10)) == pytest.approx(float(exact), rel=1e-9)


def test_mcnemar_large_n_against_normal_approximation():
    n01, n10 = 49_000, 51_000  # n = 100,000
    z = (abs(n01 - n10) - 1) / math.sqrt(n01 + n10)
    p = mcnemar_exact(*_pairs(n01, n10))
    assert 1e-12 < p < 1e-8
    assert p == pytest.approx(math.erfc(z / math.sqrt(2)), abs=1e-3)
    n01, n10 = 4_900, 5_100
    z = (abs(n01 - n10) - 1) / math.sqrt(n01 + n10)
    assert mcnemar_exact(*_pairs(n01, n10)) == pytest.approx(math.erfc(z / math.sqrt(2)), abs=1e-3)


def test_mcnemar_pools_replicates_and_rejects_bad_input():
    a1, b1 = _pairs(2, 8)
    a2, b2 = _pairs(8, 2)
    assert mcnemar_exact(np.stack([a1, a2]), np.stack([b1, b2])) == 1.0  # 10 against 10
    a3, b3 = _pairs(1, 9)
    pooled = mcnemar_exact(np.stack([a1, a3]), np.stack([b1, b3]))
    assert pooled == pytest.approx(mcnemar_exact(*_pairs(3, 17)), rel=1e-12)
    with pytest.raises(StatsError, match="binary"):
        mcnemar_exact(np.array([0, 1, 2]), np.array([0, 1, 1]))
    with pytest.raises(StatsError, match="binary"):
        mcnemar_exact(np.array([0.0, 1.0, np.nan]), np.array([0, 1, 1]))
    with pytest.raises(StatsError, match="same shape"):
        mcnemar_exact(np.zeros(3, bool), np.zeros(4, bool))


# ---------------------------------------------------------------- gap closed


def _outcomes(n_correct: int, n: int = 10_000, seed: int | None = None) -> np.ndarray:
    out = (np.arange(n) < n_correct).astype(np.float64)
    return out if seed is None else np.random.default_rng(seed).permutation(out)


def test_gap_closed_is_empty_without_a_gap():
    """Clean 90.19 %, degraded 90.25 %, remedied 89.54 %: a naive ratio reads +1183 %."""
    resampler = Resampler(np.arange(10_000) % 50, seed=1)
    clean, degraded, remedied = _outcomes(9019), _outcomes(9025), _outcomes(8954)
    assert (clean.mean(), degraded.mean(), remedied.mean()) == (0.9019, 0.9025, 0.8954)
    result = gap_closed(resampler, clean, degraded, remedied)
    assert isinstance(result, GapClosed)
    assert math.isnan(result.value) and math.isnan(result.low) and math.isnan(result.high)
    assert result.reason.startswith("no gap")
    assert result.gap.value == pytest.approx(-0.0006)


def test_gap_closed_is_empty_when_the_gap_interval_includes_zero():
    resampler = Resampler(np.arange(10_000) % 50, seed=1)
    clean, degraded, remedied = _outcomes(9030, seed=1), _outcomes(9025, seed=2), _outcomes(8954, seed=3)
    result = gap_closed(resampler, clean, degraded, remedied)
    assert result.gap.value == pytest.approx(0.0005) and result.gap.low < 0 < result.gap.high
    assert math.isnan(result.value)
    assert "includes zero" in result.reason


def test_gap_closed_of_a_clear_gap():
    resampler = Resampler(np.arange(1000) % 40, seed=1)
    # nested outcomes: the remedy fixes half of the queries the degradation broke
    clean, degraded, remedied = _outcomes(900, 1000), _outcomes(600, 1000), _outcomes(750, 1000)
    result = gap_closed(resampler, clean, degraded, remedied)
    assert result.reason is None
    assert result.value == pytest.approx(0.5, rel=1e-12)
    assert result.low < 0.5 < result.high and result.high - result.low < 0.4
    assert result.gap.value == pytest.approx(0.3) and result.gap.excludes_zero()


# ---------------------------------------------------------------- chance levels

GALLERY = np.repeat([0, 1, 2, 3], [1, 3, 6, 20])  # N = 30, unbalanced
QUERIES = np.array([0, 1, 1, 2, 3, 3, 3, 9])  # label 9 has no gallery item (R = 0)


def _monte_carlo(n_perm: int, ks: tuple[int, ...], seed: int) -> dict[tuple[str, int], np.ndarray]:
    """Per-permutation query means [n_perm] of every measure under independent random rankings."""
    rng = np.random.default_rng(seed)
    n, nq = len(GALLERY), len(QUERIES)
    retrieved = rng.permuted(np.tile(GALLERY, (n_perm * nq, 1)), axis=1)
    labels = np.tile(QUERIES, n_perm)
    r = np.array([(GALLERY == label).sum() for label in labels])
    rel = retrieved == labels[:, None]
    hits = np.cumsum(rel, axis=1)
    at_r = np.maximum(r, 1) - 1  # column of rank R
    rows = np.arange(len(rel))
    prec_rel = np.cumsum(hits / np.arange(1, n + 1) * rel, axis=1)
    per_query: dict[tuple[str, int], np.ndarray] = {}
    for k in ks:
        per_query["top_k_accuracy", k] = rel[:, :k].any(axis=1)
        per_query["precision", k] = rel[:, :k].mean(axis=1)
        per_query["map", k] = average_precision_at_k(retrieved, labels, k, r)
    per_query["map_full", 0] = average_precision_at_k(retrieved, labels, n, r)
    per_query["r_precision", 0] = np.where(r > 0, hits[rows, at_r] / np.maximum(r, 1), 0.0)
    per_query["map_at_r", 0] = np.where(r > 0, prec_rel[rows, at_r] / np.maximum(r, 1), 0.0)
    return {key: v.astype(np.float64).reshape(n_perm, nq).mean(axis=1) for key, v in per_query.items()}


def test_chance_levels_match_monte_carlo():
    ks = (1, 5, 10)
    exact = chance_levels(GALLERY, QUERIES, ks)
    simulated = _monte_carlo(5000, ks, seed=9)
    assert set(exact) == set(simulated)
    for key, draws in simulated.items():
        se = draws.std(ddof=1) / math.sqrt(len(draws))
        assert abs(draws.mean() - exact[key]) <= 4 * se + 1e-12, (key, exact[key], draws.mean(), se)
    # precision@k and R-precision: the mean of R / N (R = 1, 3, 3, 6, 20, 20, 20, 0)
    assert exact["precision", 5] == pytest.approx(73 / 30 / 8)
    assert exact["r_precision", 0] == pytest.approx(73 / 30 / 8)
    # top-1: P(rank 1 relevant) = R / N as well
    assert exact["top_k_accuracy", 1] == pytest.approx(73 / 30 / 8)


def test_chance_levels_hand_values():
    n = len(GALLERY)
    # one query of the 20-item class: top-k is 1 exactly once k > N - R = 10
    levels = chance_levels(GALLERY, np.array([3]), [10, 11, n])
    assert levels["top_k_accuracy", 11] == 1.0 and levels["top_k_accuracy", n] == 1.0
    assert levels["top_k_accuracy", 10] == pytest.approx(1 - 1 / math.comb(30, 10))
    assert levels["top_k_accuracy", 10] < 1.0
    # the single-item class: AP = 1 / rank, rank uniform over 1..30
    single = chance_levels(GALLERY, np.array([0]), [5])
    harmonic = sum(1 / i for i in range(1, 31))
    assert single["map_full", 0] == pytest.approx(harmonic / 30)
    assert single["map", 5] == pytest.approx(sum(1 / i for i in range(1, 6)) / 30)
    assert single["map_at_r", 0] == pytest.approx(1 / 30)
    # every gallery item relevant: everything is 1
    assert all(v == pytest.approx(1.0) for v in chance_levels(np.zeros(5), np.zeros(2), [1, 5]).values())
    # no gallery item relevant: everything is 0
    assert all(v == 0.0 for v in chance_levels(GALLERY, np.array([9, 9]), [1, 5]).values())


def test_chance_levels_rejects_cut_offs_beyond_the_gallery():
    with pytest.raises(StatsError, match="1..30"):
        chance_levels(GALLERY, QUERIES, [31])
