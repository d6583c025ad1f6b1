"""The one evaluator: every cell of every retrieval table from per-query results.

A search result (one query set searched with one key set) is reduced to per-query values of
every measure (`per_query_values`); every table cell is then a mean over queries with a 95 %
interval from the seeded cluster bootstrap of `cbir.stats` (resampling the objects behind the
queries, their `instance`), and every remedy is compared with its baseline query by query
(paired difference, its interval, exact McNemar p-value). All query sets of one split hold the
same images in the same order, so one `Resampler` (one draw of resamples) serves every cell
of a table: intervals of different cells are comparable and the tables are deterministic.

Measures (values in percent in the tables):
    top_k_accuracy  the paper's eq. 8 at each k (per query: 0 or 1);
    precision       precision@k;
    map             mAP@k, normalised by min(k, gallery images of the query's class);
    map_full        average precision over the whole gallery ranking (k = 0 in the tables);
    r_precision     relevant results among the first R, over R (R: gallery images of the class);
    map_at_r        MAP@R (Musgrave et al. 2020, as pytorch-metric-learning defines it).
Each cell also carries its chance level: the expected value for a random ranking of the gallery,
from the class frequencies of the gallery and the queries (`cbir.stats.chance_levels`): for top-1
sum_c p_query(c) p_gallery(c), exact for any number of classes and any balance. The classifier's
test accuracy has its own chance levels (`classification_chance`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cbir.layout import restored_name
from cbir.measures import RANKING_MEASURES, average_precision_at_k, precision_per_query, relevant_counts, top_k_hits
from cbir.search import DISTANCES
from cbir.stats import Interval, Resampler, chance_levels, gap_closed, mcnemar_exact
from cbir.tables import NONE, STANDARD, TableError, split_qset

MEASURES = ("top_k_accuracy", "precision", "map")
COLUMNS = ("keys", "query_set", "enhancer", "distance", "measure", "k", "value", "low", "high", "chance")
ENHANCEMENT_COLUMNS = (
    "keys",
    "query_set",
    "enhancer",
    "distance",
    "k",
    "clean",
    "degraded",
    "enhanced",
    "change",
    "change_low",
    "change_high",
    "p_value",
    "significant",
    "gap",
    "gap_low",
    "gap_high",
    "gap_closed",
    "gap_closed_low",
    "gap_closed_high",
    "gap_note",
    "judge_keys",
    "judge_change",
    "judge_low",
    "judge_high",
    "judge_p_value",
    "blind",
    "blind_change",
    "blind_low",
    "blind_high",
    "blind_p_value",
    "psnr",
    "ssim",
)


@dataclass
class SearchResult:
    """One query set searched with one key set: per-query values of every measure."""

    labels: np.ndarray  # int [Nq]
    groups: np.ndarray  # int [Nq]: the object (instance) behind each query
    values: dict[tuple[str, str, int], np.ndarray]  # (distance, measure, k) -> float [Nq] (0/1 for top-k)
    n_gallery: int


def object_ids(labels: np.ndarray, instances: np.ndarray) -> np.ndarray:
    """int [Nq]: the object behind each query, 0..G-1. smallNORB numbers the instances within
    each category (instance 4 of a car is not instance 4 of a plane), so an object is a
    (label, instance) pair; resampling instance numbers alone would merge five objects into one
    cluster."""
    pairs = np.stack([np.asarray(labels), np.asarray(instances)], axis=1)
    return np.unique(pairs, axis=0, return_inverse=True)[1].reshape(-1)


def per_query_values(
    gallery_labels: np.ndarray,
    labels: np.ndarray,
    stored: Mapping[str, tuple[np.ndarray, np.ndarray]],
    ranking: Mapping[str, Mapping[str, np.ndarray]],
    ks: Sequence[int],
    where: str = "",
) -> dict[tuple[str, str, int], np.ndarray]:
    """(distance, measure, k) -> float [Nq] from the stored top-K indices (`stored`: distance ->
    (indices, scores)) and the whole-ranking measures (`ranking`: distance -> name -> [Nq])."""
    ks = sorted(int(k) for k in ks)
    gallery_labels = np.asarray(gallery_labels)
    n_relevant = relevant_counts(gallery_labels, labels)
    values = {}
    for distance in [d for d in DISTANCES if d in stored] + [d for d in stored if d not in DISTANCES]:
        indices = np.asarray(stored[distance][0])
        at = f"{where} [{distance}]"
        if indices.ndim != 2 or indices.shape[0] != len(labels):
            raise TableError(f"{at}: {indices.shape[0]} result rows for {len(labels)} queries")
        if indices.shape[1] < ks[-1]:
            raise TableError(
                f"{at}: {indices.shape[1]} results stored per query but retrieval.ks asks for k={ks[-1]}; "
                "raise retrieval.topk"
            )
        if len(indices) and (indices.min() < 0 or indices.max() >= len(gallery_labels)):
            raise TableError(f"{at}: gallery indices outside 0..{len(gallery_labels) - 1}")
        retrieved = gallery_labels[indices]
        for k in ks:
            values[distance, "top_k_accuracy", k] = top_k_hits(retrieved, labels, k).astype(np.float64)
            values[distance, "precision", k] = precision_per_query(retrieved, labels, k)
            values[distance, "map", k] = average_precision_at_k(retrieved, labels, k, n_relevant)
        for name in RANKING_MEASURES:
            column = np.asarray(ranking.get(distance, {}).get(name, []), np.float64)
            if column.shape != (len(labels),):
                raise TableError(f"{at}: no per-query {name} for the {len(labels)} queries")
            values[distance, name, 0] = column
    return values


def resampler_for(results: Mapping, *, seed: int, resamples: int, level: float, replicates: int = 1) -> Resampler:
    """The one resampler of a table: every result must have the same queries (labels, objects)."""
    first = next(iter(results.values()))
    for name, result in results.items():
        if not (np.array_equal(result.labels, first.labels) and np.array_equal(result.groups, first.groups)):
            raise TableError(f"{name}: not the same queries (labels or objects differ) as the other query sets")
    return Resampler(first.groups, seed=seed, n_replicates=replicates, n_resamples=resamples, level=level)


def retrieval_frame(
    results: Mapping[tuple[str, str], SearchResult],
    gallery_labels: Mapping[str, np.ndarray],
    resampler: Resampler,
    ks: Sequence[int],
) -> pd.DataFrame:
    """The long retrieval table (COLUMNS; value, low, high and chance in percent): one row per
    (key set, query set, distance, measure, k) for `results` keyed (key set, query set)."""
    rows, chance = [], {}
    for (keys, qset), result in results.items():
        if keys not in chance:
            chance[keys] = chance_levels(gallery_labels[keys], result.labels, ks)
        base, enhancer = split_qset(qset)
        for (distance, measure, k), values in result.values.items():
            cell = resampler.mean(values).scaled(100.0)
            level = 100.0 * chance[keys][measure, k]
            rows.append((keys, base, enhancer, distance, measure, k, cell.value, cell.low, cell.high, level))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    first = next(iter(results.values()))
    frame.attrs = {
        "n_gallery": first.n_gallery,
        "n_queries": {qset: len(r.labels) for (keys, qset), r in results.items() if keys == STANDARD},
        "n_objects": resampler.n_groups,
        "resamples": resampler.n_resamples,
        "level": resampler.level,
    }
    return frame


def classification_chance(labels: np.ndarray, classes: int, train_counts: Sequence[int] | None = None) -> dict:
    """The test accuracy (fraction) of classifiers that ignore the image, for the test `labels`
    (0..classes-1) and the training images per class `train_counts` (unknown: None, and the
    test split's own frequencies stand in): ``uniform`` guesses a class uniformly (1 / C);
    ``prior`` draws it with the training frequencies, sum_c p_test(c) p_train(c); ``majority``
    always answers the most frequent training class (first of ties), p_test(that class).
    ``frequencies`` says whose frequencies `prior` and `majority` used."""
    test = np.bincount(np.asarray(labels, np.int64), minlength=classes)[:classes].astype(np.float64)
    if test.sum() == 0:
        raise TableError("classification chance needs test images")
    p_test = test / test.sum()
    counts = np.asarray(train_counts if train_counts is not None else test, np.float64)
    if counts.shape != (classes,) or counts.sum() <= 0 or (counts < 0).any():
        raise TableError(f"training counts {train_counts} are not {classes} class counts")
    p_train = counts / counts.sum()
    return {
        "uniform": 1.0 / classes,
        "prior": float(p_test @ p_train),
        "majority": float(p_test[int(np.argmax(counts))]),
        "frequencies": "training" if train_counts is not None else "test",
    }


def _compare(resampler: Resampler, after: np.ndarray, before: np.ndarray) -> tuple[Interval, float]:
    """Paired change after - before (percent) with its interval, and McNemar's p (binary values)."""
    return resampler.difference(after, before).scaled(100.0), mcnemar_exact(after > 0.5, before > 0.5)


def search_hits(results: Mapping[tuple[str, str], SearchResult]):
    """((distance, k) of every top-k accuracy stored, hits(keys, query set, distance, k) -> the
    [replicates, Nq] top-k hits of that search), for the tables that compare searches."""
    first = next(iter(results.values()))
    combos = [(d, k) for (d, m, k) in first.values if m == "top_k_accuracy"]

    def hits(keys: str, qset: str, distance: str, k: int) -> np.ndarray:
        result = results.get((keys, qset))
        if result is None:
            raise TableError(f"no retrieval of the {keys} keys for the query set {qset}")
        return result.values[distance, "top_k_accuracy", k]

    return combos, hits


def enhancement_frame(
    results: Mapping[tuple[str, str], SearchResult],
    resampler: Resampler,
    *,
    enhance: Mapping[str, Sequence[str]],
    clean: str,
    quality: Mapping[str, tuple[float, float]],
    judges: Mapping[str, SearchResult] | None = None,
    networks: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per (key set, query set, remedy, distance, k) with ENHANCEMENT_COLUMNS (top-k
    accuracy in percent, gap closed as a fraction; values [replicates, Nq] averaged over both).
    clean and degraded are the standard keys' (the baseline every remedy is compared with, query
    by query). judge: a standard-keys restorer's change measured with keys it was never trained
    through: with replicates, replicate r's restored set searched by replicate r + 1's standard
    keys (`judges`: restored set -> that search; the degraded set by the same keys); with one,
    another key set's. blind: the remedy applied to the clean queries, against the same keys'
    clean score. Only restoration `networks` have a judge (a classical method trains through
    nothing)."""
    judges = judges or {}
    key_sets = list(dict.fromkeys(keys for keys, _ in results))
    other_keys = next((keys for keys in key_sets if keys != STANDARD), None)
    judge_keys = "next replicate" if judges else other_keys
    combos, hits = search_hits(results)
    nan = float("nan")
    rows = []
    for keys in key_sets:
        for query, enhancers in enhance.items():
            for enhancer in [*([] if keys == STANDARD else [NONE]), *enhancers]:
                name = restored_name(query, enhancer)
                if name not in quality:
                    raise TableError(f"no PSNR / SSIM for the image set {name}")
                for distance, k in combos:
                    top, low = hits(STANDARD, clean, distance, k), hits(STANDARD, query, distance, k)
                    remedied = hits(keys, name, distance, k)
                    change, p_value = _compare(resampler, remedied, low)
                    gap = gap_closed(resampler, top, low, remedied)
                    judge = (nan, nan, nan, nan)
                    judged = None
                    if keys == STANDARD and enhancer in networks:
                        judged = _judged(judges, other_keys, hits, name, query, distance, k)
                    if judged is not None:
                        j_change, j_p = _compare(resampler, *judged)
                        judge = (j_change.value, j_change.low, j_change.high, j_p)
                    blind = (nan,) * 5
                    if enhancer != NONE:
                        own_clean = hits(keys, clean, distance, k)
                        restored_clean = hits(keys, restored_name(clean, enhancer), distance, k)
                        b_change, b_p = _compare(resampler, restored_clean, own_clean)
                        blind = (100.0 * restored_clean.mean(), b_change.value, b_change.low, b_change.high, b_p)
                    gap_cell = gap.gap.scaled(100.0)
                    rows.append(
                        (
                            keys,
                            query,
                            enhancer,
                            distance,
                            k,
                            100.0 * top.mean(),
                            100.0 * low.mean(),
                            100.0 * remedied.mean(),
                            change.value,
                            change.low,
                            change.high,
                            p_value,
                            change.excludes_zero(),
                            gap_cell.value,
                            gap_cell.low,
                            gap_cell.high,
                            gap.value,
                            gap.low,
                            gap.high,
                            _gap_note(gap, gap_cell),
                            judge_keys if not np.isnan(judge[0]) else "",
                            *judge,
                            *blind,
                            *quality[name],
                        )
                    )
    frame = pd.DataFrame(rows, columns=list(ENHANCEMENT_COLUMNS))
    frame.attrs = {"level": resampler.level}
    return frame


def _judged(judges, other_keys, hits, name: str, query: str, distance: str, k: int):
    """(restored, degraded) hits [replicates, Nq] as the judge sees them, or None: with replicates,
    replicate r's restored set by replicate r + 1's standard keys (`judges`) against the degraded
    set by the same keys (the standard keys' replicates rolled by one); else the other key set."""
    if name in judges:
        degraded = np.roll(hits(STANDARD, query, distance, k), -1, axis=0)
        return judges[name].values[distance, "top_k_accuracy", k], degraded
    if judges or other_keys is None:
        return None
    return hits(other_keys, name, distance, k), hits(other_keys, query, distance, k)


def _gap_note(gap, cell: Interval) -> str:
    """Why gap closed is empty, in points like the table ("" when it is defined)."""
    if not np.isnan(gap.value):
        return ""
    where = f"clean - degraded = {cell.value:+.2f} points [{cell.low:+.1f}, {cell.high:+.1f}]"
    return f"no gap: clean <= degraded ({where})" if cell.value <= 0 else f"the gap's interval includes zero ({where})"
