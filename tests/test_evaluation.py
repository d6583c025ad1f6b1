"""The one evaluator (cbir.evaluation) on per-query arrays built by hand: the enhancement rows'
changes, gaps, judges and blind costs, replicates, chance levels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cbir.evaluation import (
    ENHANCEMENT_COLUMNS,
    SearchResult,
    enhancement_frame,
    object_ids,
    per_query_values,
    resampler_for,
    retrieval_frame,
)
from cbir.measures import mean_average_precision, precision_at_k, relevant_counts, top_k_accuracy
from cbir.stats import Resampler, StatsError, chance_levels, mcnemar_exact
from cbir.tables import TableError, enhancement_markdown

TOP1 = ("l2", "top_k_accuracy", 1)


def hits(n_queries: int, n_hits: int, order: np.ndarray | None = None) -> np.ndarray:
    """float [1, Nq]: 1 for the first `n_hits` queries in `order` (default: index order)."""
    order = np.arange(n_queries) if order is None else order
    out = np.zeros(n_queries)
    out[order[:n_hits]] = 1.0
    return out[None, :]


def results_of(arrays: dict, groups: np.ndarray) -> dict:
    """(keys, query set) -> SearchResult with top-1 L2 hits `arrays[(keys, query set)]`."""
    labels = np.zeros(len(groups), np.int64)
    return {name: SearchResult(labels, groups, {TOP1: np.asarray(a, float)}, 100) for name, a in arrays.items()}


def quality_of(enhance: dict) -> dict:
    names = [q for q in enhance] + [f"{q}__{e}" for q, es in enhance.items() for e in es]
    return {name: (20.0, 0.5) for name in names}


def row(table: pd.DataFrame, enhancer: str, keys: str = "standard") -> pd.Series:
    sel = table[(table["keys"] == keys) & (table["enhancer"] == enhancer)]
    assert len(sel) == 1
    return sel.iloc[0]


# ---- the gap closed ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_clean", "n_degraded", "why"),
    [(9019, 9025, "no gap: clean <= degraded"), (9025, 9019, "includes zero")],
    ids=["negative-gap", "gap-within-noise"],
)
def test_gap_closed_is_empty_where_the_gap_is_not_there(n_clean, n_degraded, why):
    # The case: 10,000 queries in 100 objects, clean 90.19 %, degraded 90.25 %, remedied
    # 89.54 %: (89.54 - 90.25) / (90.19 - 90.25) would read +1183 %. And the same with the gap
    # the other way round, 0.06 points, far inside the noise of 100 objects.
    n, rng = 10_000, np.random.default_rng(5)
    groups = np.repeat(np.arange(100), 100)
    clean, degraded, remedied = (hits(n, count, rng.permutation(n)) for count in (n_clean, n_degraded, 8954))
    assert (100 * clean.mean(), 100 * degraded.mean(), 100 * remedied.mean()) == pytest.approx(
        (n_clean / 100, n_degraded / 100, 89.54)
    )
    arrays = {
        ("standard", "clean"): clean,
        ("standard", "noisy"): degraded,
        ("standard", "noisy__median"): remedied,
        ("standard", "clean__median"): clean,
    }
    enhance = {"noisy": ["median"]}
    resampler = Resampler(groups, seed=1, n_resamples=400)
    table = enhancement_frame(
        results_of(arrays, groups), resampler, enhance=enhance, clean="clean", quality=quality_of(enhance)
    )
    median = row(table, "median")
    assert np.isnan(median.gap_closed) and np.isnan(median.gap_closed_low) and np.isnan(median.gap_closed_high)
    assert why in median.gap_note
    assert median.gap == pytest.approx((n_clean - n_degraded) / 100)
    assert median.change == pytest.approx(89.54 - n_degraded / 100)  # the change itself is still reported
    text = enhancement_markdown(table, {"noisy": (20.0, 0.5)})
    assert "| 89.54 |" in text and "No gap closed where:" in text and f"- noisy (L2 metric): {median.gap_note}" in text
    assert "1183" not in text and "1200" not in text


def clear_gap():
    """1,000 queries in 100 objects: clean 90 %, degraded 40 %, a restorer 65 % (nested hits, so
    no query is lost), a second restorer 40.5 % (5 of the degraded misses found, 3 hits lost)."""
    n, rng = 1000, np.random.default_rng(2)
    groups = np.repeat(np.arange(100), 10)
    order = rng.permutation(n)
    clean, degraded, good = hits(n, 900, order), hits(n, 400, order), hits(n, 650, order)
    weak = degraded.copy()
    weak[0, order[400:405]] = 1.0
    weak[0, order[:3]] = 0.0
    arrays = {
        ("standard", "clean"): clean,
        ("standard", "noisy"): degraded,
        ("standard", "noisy__good"): good,
        ("standard", "noisy__weak"): weak,
        ("standard", "clean__good"): clean,
        ("standard", "clean__weak"): clean,
    }
    return groups, arrays


def test_a_clear_gap_closed_by_hand():
    groups, arrays = clear_gap()
    enhance = {"noisy": ["good", "weak"]}
    resampler = Resampler(groups, seed=4, n_resamples=1000)
    table = enhancement_frame(
        results_of(arrays, groups), resampler, enhance=enhance, clean="clean", quality=quality_of(enhance)
    )
    assert list(table.columns) == list(ENHANCEMENT_COLUMNS)
    good = row(table, "good")
    assert (good.clean, good.degraded, good.enhanced) == pytest.approx((90.0, 40.0, 65.0))
    # (65 - 40) / (90 - 40): half the gap, inside its interval; the gap 50 points, clear of zero.
    assert good.gap_closed == pytest.approx(0.5)
    assert good.gap_closed_low < 0.5 < good.gap_closed_high
    assert 0.3 < good.gap_closed_low and good.gap_closed_high < 0.7
    assert good.gap == pytest.approx(50.0) and 0 < good.gap_low < 50 < good.gap_high
    assert good.gap_note == ""
    # The gap interval is the paired difference clean - degraded under the same resamples.
    gap = resampler.difference(arrays["standard", "clean"], arrays["standard", "noisy"]).scaled(100)
    assert (good.gap, good.gap_low, good.gap_high) == pytest.approx((gap.value, gap.low, gap.high))
    ratio, _ = resampler.ratio(
        arrays["standard", "noisy__good"],
        arrays["standard", "noisy"],
        arrays["standard", "clean"],
        arrays["standard", "noisy"],
    )
    assert (good.gap_closed_low, good.gap_closed_high) == pytest.approx((ratio.low, ratio.high))
    # The weak restorer: (40.2 - 40) / 50 = 0.4 %.
    assert row(table, "weak").gap_closed == pytest.approx(0.2 / 50)


def test_change_interval_and_p_value_are_the_paired_statistics():
    groups, arrays = clear_gap()
    enhance = {"noisy": ["good", "weak"]}
    resampler = Resampler(groups, seed=9, n_resamples=1000)
    table = enhancement_frame(
        results_of(arrays, groups), resampler, enhance=enhance, clean="clean", quality=quality_of(enhance)
    )
    degraded = arrays["standard", "noisy"]
    for name in ("good", "weak"):
        got, remedied = row(table, name), arrays["standard", f"noisy__{name}"]
        want = resampler.difference(remedied, degraded).scaled(100)
        assert (got.change, got.change_low, got.change_high) == pytest.approx((want.value, want.low, want.high))
        assert got.p_value == pytest.approx(mcnemar_exact(remedied.astype(bool), degraded.astype(bool)), rel=1e-12)
        assert got.significant == want.excludes_zero()
    # By hand: good gains 250 queries and loses none; weak gains 5 and loses 3: McNemar's p =
    # 2 P(Bin(8, 1/2) <= 3) = 2 * 93 / 256; only the first change is distinguishable from zero.
    good, weak = row(table, "good"), row(table, "weak")
    assert good.change == pytest.approx(25.0) and weak.change == pytest.approx(0.2)
    assert good.p_value < 1e-60 and weak.p_value == pytest.approx(2 * 93 / 256)
    assert bool(good.significant) and not bool(weak.significant)
    assert good.change_low > 0 and weak.change_low < 0 < weak.change_high


# ---- judges and blind costs ----------------------------------------------------------------


def two_key_sets():
    """10 queries in 5 objects, one replicate, standard and robust keys; `net` is a restoration
    network, `median` a classical method. Hit counts (top-1, the first n queries):
        standard: clean 9, noisy 2, noisy__net 6, noisy__median 3, clean__net 8, clean__median 9;
        robust:   clean 6, noisy 3, noisy__net 7, noisy__median 4, clean__net 7, clean__median 5."""
    counts = {
        "standard": {"clean": 9, "noisy": 2, "noisy__net": 6, "noisy__median": 3, "clean__net": 8, "clean__median": 9},
        "robust": {"clean": 6, "noisy": 3, "noisy__net": 7, "noisy__median": 4, "clean__net": 7, "clean__median": 5},
    }
    arrays = {(keys, q): hits(10, n) for keys, sets in counts.items() for q, n in sets.items()}
    return np.repeat(np.arange(5), 2), arrays


def test_judge_is_the_other_key_set_and_only_for_networks():
    groups, arrays = two_key_sets()
    enhance = {"noisy": ["net", "median"]}
    resampler = Resampler(groups, seed=3, n_resamples=500)
    table = enhancement_frame(
        results_of(arrays, groups),
        resampler,
        enhance=enhance,
        clean="clean",
        quality=quality_of(enhance),
        networks=["net"],
    )
    assert [(r.keys, r.enhancer) for r in table.itertuples()] == [
        ("standard", "net"),
        ("standard", "median"),
        ("robust", "none"),
        ("robust", "net"),
        ("robust", "median"),
    ]
    net = row(table, "net")
    # The robust keys see the standard net's output at 70 % against the degraded queries' 30 %:
    # +40 points; 4 discordant pairs, all one way: p = 2 / 2^4.
    assert net.judge_keys == "robust"
    assert net.judge_change == pytest.approx(40.0) and net.judge_p_value == pytest.approx(0.125)
    want = resampler.difference(arrays["robust", "noisy__net"], arrays["robust", "noisy"]).scaled(100)
    assert (net.judge_low, net.judge_high) == pytest.approx((want.low, want.high))
    # Its own keys saw +40 too (60 - 20): the judge is not the change column.
    assert net.change == pytest.approx(40.0) and net.enhanced == pytest.approx(60.0)
    # A classical method and the robust rows have no judge.
    for enhancer, keys in [("median", "standard"), ("none", "robust"), ("net", "robust"), ("median", "robust")]:
        other = row(table, enhancer, keys)
        assert other.judge_keys == ""
        assert np.isnan([other.judge_change, other.judge_low, other.judge_high, other.judge_p_value]).all()
    # Without `networks` nothing is judged.
    plain = enhancement_frame(
        results_of(arrays, groups), resampler, enhance=enhance, clean="clean", quality=quality_of(enhance)
    )
    assert plain["judge_change"].isna().all() and (plain["judge_keys"] == "").all()


def test_blind_cost_is_the_remedy_on_clean_queries_against_the_same_keys():
    groups, arrays = two_key_sets()
    enhance = {"noisy": ["net", "median"]}
    resampler = Resampler(groups, seed=3, n_resamples=500)
    table = enhancement_frame(
        results_of(arrays, groups), resampler, enhance=enhance, clean="clean", quality=quality_of(enhance)
    )
    expected = {
        # (enhancer, keys): (blind, blind_change, blind_p_value) from the counts in two_key_sets
        ("net", "standard"): (80.0, -10.0, 1.0),  # clean__net 8 vs clean 9: one pair, p = 2 / 2
        ("median", "standard"): (90.0, 0.0, 1.0),  # unchanged: no discordant pair
        ("net", "robust"): (70.0, 10.0, 1.0),  # robust clean__net 7 vs robust clean 6, not standard's 9
        ("median", "robust"): (50.0, -10.0, 1.0),
    }
    for (enhancer, keys), (blind, change, p_value) in expected.items():
        got = row(table, enhancer, keys)
        assert (got.blind, got.blind_change, got.blind_p_value) == pytest.approx((blind, change, p_value))
        restored, own = arrays[keys, f"clean__{enhancer}"], arrays[keys, "clean"]
        want = resampler.difference(restored, own).scaled(100)
        assert (got.blind_low, got.blind_high) == pytest.approx((want.low, want.high))
    # The robust keys alone restore nothing: no blind cost.
    alone = row(table, "none", "robust")
    assert np.isnan([alone.blind, alone.blind_change, alone.blind_low, alone.blind_high, alone.blind_p_value]).all()
    # Every remedy is measured against the standard keys' clean and degraded queries.
    assert (table["clean"] == 90.0).all() and (table["degraded"] == 20.0).all()
    assert row(table, "none", "robust").enhanced == pytest.approx(30.0)


def test_a_missing_search_is_named():
    groups, arrays = two_key_sets()
    enhance = {"noisy": ["net"]}
    del arrays["robust", "clean__net"]
    with pytest.raises(TableError, match="no retrieval of the robust keys for the query set clean__net"):
        enhancement_frame(
            results_of(arrays, groups),
            Resampler(groups, seed=0, n_resamples=50),
            enhance=enhance,
            clean="clean",
            quality=quality_of(enhance),
        )
    with pytest.raises(TableError, match="no PSNR / SSIM for the image set noisy__net"):
        enhancement_frame(
            results_of(arrays, groups),
            Resampler(groups, seed=0, n_resamples=50),
            enhance=enhance,
            clean="clean",
            quality={"noisy": (1.0, 1.0)},
        )


def test_judge_with_replicates_reads_the_next_replicate():
    # 10 queries, 2 replicates. The standard keys' degraded hits: replicate 0 finds the first 2
    # queries, replicate 1 the first 8. The judge of replicate r (its restored set searched by
    # replicate r + 1's standard keys) finds the first 8 (r = 0) and the first 4 (r = 1).
    groups = np.arange(10)
    degraded = np.concatenate([hits(10, 2), hits(10, 8)])
    judge = np.concatenate([hits(10, 8), hits(10, 4)])
    arrays = {
        ("standard", "clean"): np.concatenate([hits(10, 9), hits(10, 9)]),
        ("standard", "noisy"): degraded,
        ("standard", "noisy__net"): np.concatenate([hits(10, 5), hits(10, 9)]),
        ("standard", "clean__net"): np.concatenate([hits(10, 9), hits(10, 9)]),
    }
    results = results_of(arrays, groups)
    judges = {"noisy__net": SearchResult(np.zeros(10, np.int64), groups, {TOP1: judge}, 100)}
    enhance = {"noisy": ["net"]}
    resampler = Resampler(groups, seed=6, n_replicates=2, n_resamples=500)
    table = enhancement_frame(
        results,
        resampler,
        enhance=enhance,
        clean="clean",
        quality=quality_of(enhance),
        judges=judges,
        networks=["net"],
    )
    net = row(table, "net")
    assert net.judge_keys == "next replicate"
    # Judge 0 against replicate 1's degraded hits (8 vs 8: no discordant pair), judge 1 against
    # replicate 0's (4 vs 2: two pairs, both one way): p = 2 / 2^2 = 0.5. Unrolled, judge 0 vs
    # replicate 0 (6 gained) and judge 1 vs replicate 1 (4 lost) would give 2 P(Bin(10, 1/2) <= 4).
    assert net.judge_p_value == pytest.approx(0.5)
    assert net.judge_change == pytest.approx(100 * (12 - 10) / 20)
    rolled = resampler.difference(judge, degraded[::-1]).scaled(100)
    unrolled = resampler.difference(judge, degraded).scaled(100)
    assert (net.judge_low, net.judge_high) == pytest.approx((rolled.low, rolled.high))
    assert (rolled.low, rolled.high) != pytest.approx((unrolled.low, unrolled.high))
    assert mcnemar_exact(judge > 0, degraded > 0) == pytest.approx(2 * 386 / 1024)
    # The values average over both replicates: degraded (2 + 8) / 20, restored (5 + 9) / 20.
    assert (net.degraded, net.enhanced, net.clean) == pytest.approx((50.0, 70.0, 90.0))
    text = enhancement_markdown(table, {"noisy": (20.0, 0.5)}, replicates=2)
    assert "the next replicate's standard keys" in text and "the mean over 2 replicates" in text


# ---- retrieval cells -----------------------------------------------------------------------


def test_replicates_average_and_widen_the_interval():
    # 200 queries in 50 objects; replicate 0 finds 30 % of them, replicate 1 70 %.
    n, rng = 200, np.random.default_rng(8)
    groups = np.repeat(np.arange(50), 4)
    order = rng.permutation(n)
    first, second = hits(n, 60, order), hits(n, 140, order)
    labels = np.zeros(n, np.int64)
    gallery = np.zeros(10, np.int64)

    def frame(values):
        result = SearchResult(labels, groups, {TOP1: values}, 10)
        resampler = resampler_for({("standard", "noisy"): result}, seed=2, resamples=1000, level=0.95, replicates=2)
        return retrieval_frame({("standard", "noisy"): result}, {"standard": gallery}, resampler, [1]).iloc[0]

    both = frame(np.concatenate([first, second]))
    assert both.value == pytest.approx(50.0)
    for single in (first, second):
        repeated = frame(np.concatenate([single, single]))
        assert repeated.value == pytest.approx(100 * single.mean())
        # The replicates disagree by 40 points: that spread widens the interval.
        assert both.high - both.low >= repeated.high - repeated.low
    assert both.high - both.low > 20
    with pytest.raises(StatsError, match="1 replicates, the resampler 2"):
        frame(first)  # one replicate's values for a two-replicate table


def test_chance_column_is_the_chance_level_in_percent():
    # An unbalanced gallery of 10 (5, 3 and 2 images of classes 0, 1, 2) and a query of a class
    # the gallery lacks.
    gallery = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 2])
    labels = np.array([0, 1, 2, 3, 0])
    rng = np.random.default_rng(4)
    indices = np.stack([rng.permutation(10)[:3] for _ in labels])
    ranking = {"l2": {name: rng.random(5) for name in ("map_full", "r_precision", "map_at_r")}}
    values = per_query_values(gallery, labels, {"l2": (indices, np.zeros(indices.shape))}, ranking, [1, 3])
    result = SearchResult(labels, np.arange(5), values, 10)
    frame = retrieval_frame({("standard", "clean"): result}, {"standard": gallery}, Resampler(None, seed=0), [1, 3])
    levels = chance_levels(gallery, labels, [1, 3])
    assert len(frame) == len(levels) == 9
    for r in frame.itertuples():
        assert r.chance == pytest.approx(100 * levels[r.measure, r.k])
    # By hand: top-1 and precision are R / N averaged over the queries: (5 + 3 + 2 + 0 + 5) / 50.
    top1 = frame[(frame.measure == "top_k_accuracy") & (frame.k == 1)].iloc[0]
    assert top1.chance == pytest.approx(30.0)
    # The whole-ranking values pass through as stored.
    mine = frame[frame.measure == "map_at_r"].iloc[0]
    assert mine.k == 0 and mine.value == pytest.approx(100 * ranking["l2"]["map_at_r"].mean())


def test_per_query_values_average_to_the_measures():
    rng = np.random.default_rng(0)
    gallery = rng.integers(0, 4, 40)
    labels = rng.integers(0, 5, 30)  # class 4 has no gallery image
    indices = np.stack([rng.permutation(40)[:8] for _ in labels])
    ranking = {"l2": {name: np.zeros(30) for name in ("map_full", "r_precision", "map_at_r")}}
    values = per_query_values(gallery, labels, {"l2": (indices, np.zeros(indices.shape))}, ranking, [5, 1, 8])
    retrieved = gallery[indices]
    n_relevant = relevant_counts(gallery, labels)
    for k in (1, 5, 8):
        assert values["l2", "top_k_accuracy", k].mean() == pytest.approx(top_k_accuracy(retrieved, labels, k))
        assert set(np.unique(values["l2", "top_k_accuracy", k])) <= {0.0, 1.0}
        assert values["l2", "precision", k].mean() == pytest.approx(precision_at_k(retrieved, labels, k))
        assert values["l2", "map", k].mean() == pytest.approx(mean_average_precision(retrieved, labels, k, n_relevant))
    assert [key[2] for key in values][:9] == [1, 1, 1, 5, 5, 5, 8, 8, 8]  # ks sorted


def test_one_resampler_for_the_same_queries_only():
    labels, groups = np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])
    a = SearchResult(labels, groups, {TOP1: np.ones(4)}, 4)
    resampler = resampler_for({("standard", "clean"): a, ("standard", "noisy"): a}, seed=1, resamples=50, level=0.9)
    assert (resampler.n_groups, resampler.n_resamples, resampler.level) == (2, 50, 0.9)
    frame = retrieval_frame({("standard", "clean"): a}, {"standard": np.array([0, 1])}, resampler, [1])
    assert frame.attrs["n_objects"] == 2 and frame.attrs["resamples"] == 50
    other = SearchResult(labels, np.array([0, 1, 2, 3]), {TOP1: np.ones(4)}, 4)
    with pytest.raises(TableError, match=r"\('standard', 'noisy'\): not the same queries"):
        resampler_for({("standard", "clean"): a, ("standard", "noisy"): other}, seed=1, resamples=50, level=0.9)
    shuffled = SearchResult(labels[::-1], groups, {TOP1: np.ones(4)}, 4)
    with pytest.raises(TableError, match="not the same queries"):
        resampler_for({("standard", "clean"): a, ("robust", "clean"): shuffled}, seed=1, resamples=50, level=0.9)


def test_objects_are_label_instance_pairs():
    # smallNORB numbers instances within each category: instance 4 of a car is not instance 4 of
    # a plane. Objects are numbered 0..G-1 in the order of their (label, instance) pairs.
    labels = np.array([1, 0, 1, 0, 2, 1])
    instances = np.array([4, 4, 4, 7, 4, 0])
    assert object_ids(labels, instances).tolist() == [3, 0, 3, 1, 4, 2]
    result = SearchResult(labels, object_ids(labels, instances), {TOP1: np.ones(6)}, 10)
    resampler = resampler_for({("standard", "clean"): result}, seed=0, resamples=20, level=0.95)
    assert resampler.n_groups == 5


@pytest.mark.parametrize(
    ("gallery_counts", "query_counts"),
    [([20, 8, 4], [3, 9, 6]), ([12, 3, 8, 2, 6, 4, 5], [1, 5, 2, 3, 2, 6, 1])],
    ids=["3-classes", "7-classes"],
)
def test_chance_of_unbalanced_classes_by_hand_in_the_frame_and_tables(gallery_counts, query_counts):
    """Any number of classes, any balance: top-1 chance is sum_c p_query(c) p_gallery(c), top-k
    1 - C(N - R_c, k) / C(N, k) weighted by the query frequencies, precision@k R_c / N; Table 1
    and the per-query-set table print those numbers."""
    from math import comb

    from cbir.tables import queries_markdown, table1_markdown

    rng = np.random.default_rng(7)
    gallery = rng.permutation(np.repeat(np.arange(len(gallery_counts)), gallery_counts))
    labels = rng.permutation(np.repeat(np.arange(len(query_counts)), query_counts))
    n, nq, ks = len(gallery), len(labels), [1, 5]
    p_gallery, p_query = np.array(gallery_counts) / n, np.array(query_counts) / nq
    top1 = sum(p_query[c] * p_gallery[c] for c in range(len(gallery_counts)))
    top5 = sum(p_query[c] * (1 - comb(n - r, 5) / comb(n, 5)) for c, r in enumerate(gallery_counts))
    indices = np.stack([rng.permutation(n)[:5] for _ in labels])
    ranking = {"l2": {name: rng.random(nq) for name in ("map_full", "r_precision", "map_at_r")}}
    values = per_query_values(gallery, labels, {"l2": (indices, np.zeros(indices.shape))}, ranking, ks)
    result = SearchResult(labels, np.arange(nq), values, n)
    frame = retrieval_frame({("standard", "clean"): result}, {"standard": gallery}, Resampler(None, seed=0), ks)
    chance = {(r.measure, r.k): r.chance for r in frame.itertuples()}
    assert chance["top_k_accuracy", 1] == pytest.approx(100 * top1)
    assert chance["top_k_accuracy", 5] == pytest.approx(100 * top5)
    assert chance["precision", 5] == chance["r_precision", 0] == pytest.approx(100 * top1)
    assert top1 != pytest.approx(1 / len(gallery_counts))  # not the balanced 1 / C
    one, five = chance["top_k_accuracy", 1], chance["top_k_accuracy", 5]  # equal to the above, as printed
    assert f"top 1 {one:.1f}, top 5 {five:.1f}." in table1_markdown(frame, {}, ks)
    last = queries_markdown(frame, ["clean"]).splitlines()[-1]
    assert last.startswith(f"| chance | (random ranking) |  |  |  | {one:.2f} | {five:.2f} |")


@pytest.mark.parametrize("n_classes", [2, 3, 7])
def test_classification_chance_follows_the_frequencies(n_classes):
    from cbir.evaluation import classification_chance

    rng = np.random.default_rng(n_classes)
    test_counts = rng.integers(1, 20, n_classes)
    train_counts = rng.integers(1, 50, n_classes)
    labels = rng.permutation(np.repeat(np.arange(n_classes), test_counts))
    p_test, p_train = test_counts / test_counts.sum(), train_counts / train_counts.sum()
    chance = classification_chance(labels, n_classes, train_counts.tolist())
    assert chance["uniform"] == pytest.approx(1 / n_classes)
    assert chance["prior"] == pytest.approx(sum(p_test[c] * p_train[c] for c in range(n_classes)))
    assert chance["majority"] == pytest.approx(p_test[np.argmax(train_counts)])
    assert chance["frequencies"] == "training"
    own = classification_chance(labels, n_classes)  # no training counts: the test split's own
    assert own["prior"] == pytest.approx((p_test**2).sum()) and own["majority"] == pytest.approx(p_test.max())
    assert own["frequencies"] == "test"
    with pytest.raises(TableError, match="class counts"):
        classification_chance(labels, n_classes, [1] * (n_classes + 1))
