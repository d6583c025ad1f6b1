"""Severity sweeps (ImageNet-C style): retrieval accuracy against the strength of a degradation.

A sweep degrades the test queries at severities 1..N (severity 3 is the paper's setting) and
retrieves each severity's queries against the gallery with every key set (`standard`: the
normal classifier's features, `robust`: a classifier trained on degraded images), either
unrestored (enhancer `none`) or restored by one of the sweep's enhancers.

Error E = 100 - top-k accuracy (%, the paper's eq. 8) at one distance and k. A remedy is a key
set without restorer, or a key set with the "best restorer" of each degradation: the enhancer
with the lowest mean error over that degradation's severities (picked on the same test results,
so optimistic). Baseline: standard keys, no restorer. Per remedy r:
    mean_error      mean of E_r(d, s) over every degradation d and severity s;
    relative_error  mean_error / the baseline's mean_error (an mCE-style ratio; below 1 is better);
    mce             ImageNet-C's mean corruption error: the mean over d of
                    sum_s E_r(d, s) / sum_s E_baseline(d, s).
A ratio whose baseline error is 0 is NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from cbir.measures import top_k_accuracy
from cbir.search import DISTANCES
from cbir.tables import DISTANCE_NAMES, NONE, STANDARD, TableError, fmt, markdown_table, ordered

COLUMNS = ("keys", "enhancer", "degradation", "severity", "distance", "k", "top_k_accuracy")
SUMMARY_COLUMNS = ("keys", "remedy", "enhancers", "mean_error", "relative_error", "mce")
BEST = "best restorer"

# (keys, enhancer, degradation, severity, query labels [Nq], distance -> (gallery indices [Nq, K], scores))
Run = tuple[str, str, str, int, np.ndarray, Mapping[str, tuple[np.ndarray, np.ndarray]]]


def _rank(values: Iterable, first: Sequence = ()) -> dict:
    """value -> position in `ordered(values, first)`."""
    return {v: i for i, v in enumerate(ordered(values, first))}


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows by keys (standard first), degradation (appearance), enhancer (none first), severity,
    distance (cbir.search.DISTANCES order, then appearance) and k."""
    ranks = {
        "keys": _rank(frame["keys"], [STANDARD]),
        "degradation": _rank(frame["degradation"]),
        "enhancer": _rank(frame["enhancer"], [NONE]),
        "distance": _rank(frame["distance"], DISTANCES),
    }
    order = frame.assign(**{f"_{c}": frame[c].map(r) for c, r in ranks.items()})
    by = ["_keys", "_degradation", "_enhancer", "severity", "_distance", "k"]
    order = order.sort_values(by, kind="stable").drop(columns=[f"_{c}" for c in ranks])
    return order.reset_index(drop=True)


def _check_results(where: str, labels: np.ndarray, n_gallery: int, indices, scores, top: int) -> np.ndarray:
    indices, scores = np.asarray(indices), np.asarray(scores)
    if indices.ndim != 2 or indices.shape[0] != len(labels):
        raise TableError(f"{where}: gallery indices of shape {indices.shape} for {len(labels)} queries")
    if scores.shape != indices.shape:
        raise TableError(f"{where}: scores of shape {scores.shape} for indices of shape {indices.shape}")
    if not np.issubdtype(indices.dtype, np.integer):
        raise TableError(f"{where}: gallery indices must be integers, got {indices.dtype}")
    if indices.shape[1] < top:
        raise TableError(
            f"{where}: {indices.shape[1]} results stored per query but k={top} is asked for; raise retrieval.topk"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= n_gallery):
        raise TableError(f"{where}: gallery indices outside 0..{n_gallery - 1}")
    return indices


def robustness_table(gallery_labels: Mapping[str, np.ndarray], runs: Iterable[Run], ks: Iterable[int]) -> pd.DataFrame:
    """Top-k accuracy (%) of every run at every k in `ks`, one row per run x distance x k, with
    COLUMNS, sorted (see `_sorted`). `gallery_labels` maps a key set to its gallery labels; a
    run is (keys, enhancer, degradation, severity, query labels [Nq], distance -> (gallery
    indices [Nq, K], scores [Nq, K])). Raises TableError on shapes that do not fit, K < max(ks),
    indices outside the gallery, an unknown key set, no queries or a run given twice."""
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise TableError(f"cut-offs k must be positive integers, got {ks}")
    rows, seen = [], set()
    for keys, enhancer, degradation, severity, labels, results in runs:
        severity = int(severity)
        where = f"{keys} keys, {degradation} severity {severity}, enhancer {enhancer}"
        if (keys, enhancer, degradation, severity) in seen:
            raise TableError(f"{where}: given twice")
        seen.add((keys, enhancer, degradation, severity))
        if keys not in gallery_labels:
            raise TableError(f"{where}: no gallery labels for key set {keys!r} (have {sorted(gallery_labels)})")
        gallery = np.asarray(gallery_labels[keys])
        labels = np.asarray(labels)
        if labels.ndim != 1 or not len(labels):
            raise TableError(f"{where}: query labels must be a non-empty [Nq] array, got shape {labels.shape}")
        if not results:
            raise TableError(f"{where}: no retrieval results")
        for distance, (indices, scores) in results.items():
            checked = _check_results(f"{where} [{distance}]", labels, len(gallery), indices, scores, ks[-1])
            retrieved = gallery[checked]
            for k in ks:
                accuracy = 100.0 * top_k_accuracy(retrieved, labels, k)
                rows.append((keys, enhancer, degradation, severity, distance, k, accuracy))
    return _sorted(pd.DataFrame(rows, columns=list(COLUMNS)))


def _select(table: pd.DataFrame, distance: str, k: int) -> pd.DataFrame:
    part = table[(table["distance"] == distance) & (table["k"] == k)]
    if part.empty:
        raise TableError(f"no robustness rows for distance {distance!r} and k={k}")
    return part


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b != 0 else float("nan")


def summary(table: pd.DataFrame, *, distance: str, k: int) -> pd.DataFrame:
    """One row per remedy with SUMMARY_COLUMNS (see the module doc), at one distance and k.

    Per key set (table order): (keys, "none"), then, where those keys have restored runs,
    (keys, "best restorer"): per degradation the enhancer with the lowest mean error over its
    severities (ties: the first in table order); a degradation without any enhancer for those
    keys keeps no restorer (listed as "<degradation>: none"). The baseline (standard keys,
    enhancer none) sets each degradation's severities; every remedy needs all of them, else
    TableError."""
    part = _select(table, distance, k)
    errors: dict[tuple, float] = {}
    for keys, enhancer, degradation, severity, accuracy in part[
        ["keys", "enhancer", "degradation", "severity", "top_k_accuracy"]
    ].itertuples(index=False):
        key = (keys, enhancer, degradation, int(severity))
        if key in errors:
            raise TableError(f"two rows for {keys} keys, {degradation} severity {severity}, enhancer {enhancer}")
        errors[key] = 100.0 - float(accuracy)
    degradations = list(dict.fromkeys(part["degradation"]))
    severities = {d: sorted(s for (kk, e, dd, s) in errors if (kk, e, dd) == (STANDARD, NONE, d)) for d in degradations}
    if not any(severities.values()):
        raise TableError(f"no baseline rows ({STANDARD} keys, enhancer {NONE}) at {distance} k={k}")

    def curve(keys: str, enhancer: str, d: str) -> np.ndarray | None:
        """E per baseline severity of d; None when there is no row at all."""
        if not severities[d]:
            raise TableError(f"the baseline ({STANDARD} keys, enhancer {NONE}) has no {d} rows")
        values = [errors.get((keys, enhancer, d, s)) for s in severities[d]]
        if all(v is None for v in values):
            return None
        missing = [s for s, v in zip(severities[d], values, strict=True) if v is None]
        if missing:
            raise TableError(f"{keys} keys, enhancer {enhancer}: {d} severities {missing} missing")
        return np.array(values, dtype=np.float64)

    remedies = []  # (keys, remedy, enhancers, degradation -> E per severity)
    for keys in _rank(part["keys"], [STANDARD]):
        plain = {d: curve(keys, NONE, d) for d in degradations}
        lacking = [d for d, c in plain.items() if c is None]
        if lacking:
            raise TableError(f"{keys} keys without restorer: no rows for {', '.join(lacking)}")
        remedies.append((keys, NONE, NONE, plain))
        restorers = [e for e in _rank(part.loc[part["keys"] == keys, "enhancer"]) if e != NONE]
        if not restorers:
            continue
        best, chosen = {}, []
        for d in degradations:
            pick, pick_curve = NONE, plain[d]
            candidates = [(e, c) for e in restorers if (c := curve(keys, e, d)) is not None]
            for e, c in candidates:
                if pick == NONE or c.mean() < pick_curve.mean():
                    pick, pick_curve = e, c
            best[d] = pick_curve
            chosen.append(f"{d}: {pick}")
        remedies.append((keys, BEST, ", ".join(chosen), best))

    base = remedies[0][3]
    base_mean = float(np.concatenate(list(base.values())).mean())
    rows = []
    for keys, remedy, enhancers, curves in remedies:
        mean_error = float(np.concatenate(list(curves.values())).mean())
        mce = float(np.mean([_ratio(curves[d].sum(), base[d].sum()) for d in degradations]))
        rows.append((keys, remedy, enhancers, mean_error, _ratio(mean_error, base_mean), mce))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def robustness_markdown(
    table: pd.DataFrame, summary_frame: pd.DataFrame, *, clean: Mapping[str, float], distance: str, k: int
) -> str:
    """A markdown report: the summary (mean error, relative error, mCE, chosen enhancers),
    then per degradation the top-k accuracy (%) per severity, one row per (keys, enhancer),
    with each key set's clean accuracy (`clean`: key set -> top-k accuracy, %) stated."""
    part = _select(table, distance, k)
    name = DISTANCE_NAMES.get(distance, distance)
    header = ["Keys", "Remedy", "Mean error (%)", "Relative error", "mCE", "Enhancers"]
    rows = [
        [r.keys, r.remedy, fmt(r.mean_error), fmt(r.relative_error, 3), fmt(r.mce, 3), r.enhancers]
        for r in summary_frame.itertuples(index=False)
    ]
    parts = [
        "# Severity sweeps: retrieval under growing degradation\n",
        f"Top-{k} matching accuracy (the paper's eq. 8) with the {name}, in percent, for queries degraded "
        "at growing severity (severity 3 is the paper's setting). Error E = 100 - top-k accuracy. "
        "*Mean error*: E averaged over every degradation and severity. *Relative error*: a remedy's mean "
        f"error divided by that of the baseline ({STANDARD} keys, no restorer); below 1 is better. *mCE* "
        "(ImageNet-C's mean corruption error): per degradation the remedy's error summed over severities, "
        "divided by the baseline's, then averaged over degradations. *Best restorer* takes, per degradation, "
        "the enhancer with the lowest mean error over that degradation's severities; it is picked on these "
        "same test results, so it is an optimistic (oracle) figure, not a held-out choice.\n",
        "## Summary\n",
        markdown_table(header, rows),
    ]
    for degradation in dict.fromkeys(part["degradation"]):
        sub = part[part["degradation"] == degradation]
        severities = sorted({int(s) for s in sub["severity"]})
        values = {(r.keys, r.enhancer, int(r.severity)): r.top_k_accuracy for r in sub.itertuples(index=False)}
        keysets = list(_rank(sub["keys"], [STANDARD]))
        levels = ", ".join(f"{keys} keys {fmt(clean.get(keys))} %" for keys in keysets)
        rows = [
            [keys, enhancer, *[fmt(values.get((keys, enhancer, s))) for s in severities]]
            for keys in keysets
            for enhancer in _rank(sub.loc[sub["keys"] == keys, "enhancer"], [NONE])
        ]
        parts += [
            f"## {degradation}\n",
            f"Top-{k} accuracy (%) per severity; clean queries: {levels}.\n",
            markdown_table(["Keys", "Enhancer", *[f"Severity {s}" for s in severities]], rows),
        ]
    return "\n".join(parts)
