"""Severity sweeps (ImageNet-C style): retrieval accuracy against the strength of a degradation.

A sweep degrades the queries at severities 1..N (severity 3 is the paper's setting) and
retrieves each severity's queries against the gallery with every key set (`standard`: the
normal classifier's features, `robust`: a classifier trained on degraded images), either
unrestored (enhancer `none`) or restored by one of the sweep's enhancers. Sweeps run on the
test split (every reported number) and on the validation split (where choices are made).

Every cell is the evaluator's (`cbir.evaluation`): per-query top-k hits, their mean and its
cluster-bootstrap interval from one `cbir.stats.Resampler` per split, over the objects behind
the queries ((label, instance) pairs, `cbir.evaluation.object_ids`). The cells also keep their
value under each resample, so that a summary of many cells gets its interval by being computed
once per resample (all cells share the resamples) and taking percentiles.

Error E = 100 - top-k accuracy (%, the paper's eq. 8) at one distance and k. A remedy is a key
set without restorer, or a key set with the "best restorer" of each sweep (one degradation at
growing strength; table column `sweep`): the enhancer with the lowest mean error over that
sweep's severities on the VALIDATION split (numbers reported are the test split's). Baseline:
this run's standard keys, no restorer. Per remedy r:
    mean_error    mean of E_r(d, s) over every sweep d and severity s;
    error_ratio   mean_error / the baseline's mean_error (pooled error ratio; below 1 is better);
    mce           ImageNet-C's mean corruption error, mean over d of
                  sum_s E_r(d, s) / sum_s E_base(d, s) (ImageNet-C normalises by AlexNet, here
                  by the baseline, so the baseline's mCE is 1);
    relative_mce  ImageNet-C's relative mCE, mean over d of
                  sum_s (E_r(d, s) - E_r,clean) / sum_s (E_base(d, s) - E_base,clean), with
                  E_clean the error of the clean test queries searched by the remedy's key set
                  without restorer. Not defined (NaN, with the reason) where a sweep's
                  denominator is <= 0 or its interval includes 0.
A ratio whose denominator is 0 is NaN.

Severity n stands for a value of the sweep's parameter (config `sweeps.<name>.severities`):
`severity_labels` recovers each severity's (parameter, value) from the degradation lists the
queries were degraded with, and `labelled` adds them to the table (robustness.csv's `parameter`
and `value` columns), so that tables and curves show the values, not only 1..N.

Pure computation on tables and arrays: reading the sweep files is `cbir.stages.sweep`'s, the
Markdown report `cbir.robustness_tables`'s.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cbir.search import DISTANCES
from cbir.stats import Resampler, StatsError
from cbir.tables import NONE, STANDARD, TableError, ordered

COLUMNS = ("keys", "enhancer", "sweep", "severity", "distance", "k", "top_k_accuracy", "low", "high")
# What severity n stands for: the varied parameter and its value as text ("0.07"; a mixture, one
# value drawn per image, as the config writes it: "[1, 1, 2]"); empty where the files do not say.
LABEL_COLUMNS = ("parameter", "value")
CSV_COLUMNS = (*COLUMNS[:4], *LABEL_COLUMNS, *COLUMNS[4:])  # robustness.csv
SUMMARY_COLUMNS = (
    "keys",
    "remedy",
    "enhancers",
    "distance",
    "k",
    "mean_error",
    "mean_error_low",
    "mean_error_high",
    "error_ratio",
    "error_ratio_low",
    "error_ratio_high",
    "error_ratio_differs",
    "mce",
    "mce_low",
    "mce_high",
    "mce_differs",
    "relative_mce",
    "relative_mce_low",
    "relative_mce_high",
    "relative_mce_differs",
    "relative_mce_note",
    "clean_error",
    "clean_error_low",
    "clean_error_high",
)
BEST = "best restorer"
MEASURE = "top_k_accuracy"

# (keys, enhancer, sweep, severity, (distance, measure, k) -> per-query values [Nq] as
# `cbir.evaluation.per_query_values` gives them; only top_k_accuracy is read)
Run = tuple[str, str, str, int, Mapping[tuple[str, str, int], np.ndarray]]
# keys -> sweep -> (chosen enhancer, candidate -> its mean validation error, %)
Choices = dict[str, dict[str, tuple[str, dict[str, float]]]]
# (sweep, severity) -> (parameter, value text): what each severity stands for
Labels = Mapping[tuple[str, int], tuple[str, str]]


def format_value(value) -> str:
    """A parameter value as the tables show it: 0.07 -> "0.07", a mixture [1, 1, 2] -> "[1, 1, 2]"."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:g}"


def severity_labels(specs: Mapping[int, Sequence[Mapping] | None]) -> dict[int, tuple[str, str]]:
    """severity -> (parameter, value text) of one sweep, from the degradation list each severity's
    queries were degraded with (`cbir.config.severity_specs`: one spec, or one per value of a
    mixture). The parameter is the one whose value differs between severities (the sweep's
    `vary`; the others are the sweep's fixed ones); several such are joined with ", ". Empty
    labels ("", "") when a severity's list is unknown (None) or nothing differs."""
    if not specs or any(not s for s in specs.values()):
        return {severity: ("", "") for severity in specs}

    def value(severity: int, param: str):
        values = [spec.get(param) for spec in specs[severity]]
        return values[0] if all(v == values[0] for v in values) else values  # a mixture keeps its draws

    params = dict.fromkeys(p for listed in specs.values() for spec in listed for p in spec if p != "name")
    first = next(iter(specs))
    varied = [p for p in params if any(value(s, p) != value(first, p) for s in specs)]
    return {
        severity: (", ".join(varied), "; ".join(format_value(value(severity, p)) for p in varied)) for severity in specs
    }


def labelled(table: pd.DataFrame, labels: Labels) -> pd.DataFrame:
    """`table` (COLUMNS) with the LABEL_COLUMNS after `severity` (CSV_COLUMNS): each row's
    (parameter, value) from `labels`, empty where it has none."""
    keys = zip(table["sweep"], table["severity"].astype(int), strict=True)
    pairs = [labels.get(key, ("", "")) for key in keys]
    out = table.copy()
    out["parameter"] = [p for p, _ in pairs]
    out["value"] = [v for _, v in pairs]
    return out[list(CSV_COLUMNS)]


@dataclass
class Cells:
    """Top-k accuracy (%) of every retrieval of one split: `table` (COLUMNS) and, row for row,
    the value under each of the split's bootstrap resamples (`resampled` [rows, B]): summaries
    of many cells take their intervals from these shared resamples."""

    table: pd.DataFrame
    resampled: np.ndarray
    level: float
    n_objects: int


def _rank(values: Iterable, first: Sequence = ()) -> dict:
    """value -> position in `ordered(values, first)`."""
    return {v: i for i, v in enumerate(ordered(values, first))}


def _order(frame: pd.DataFrame) -> np.ndarray:
    """Row positions by keys (standard first), sweep (appearance), enhancer (none first),
    severity, distance (cbir.search.DISTANCES order, then appearance) and k."""
    ranks = {
        "keys": _rank(frame["keys"], [STANDARD]),
        "sweep": _rank(frame["sweep"]),
        "enhancer": _rank(frame["enhancer"], [NONE]),
        "distance": _rank(frame["distance"], DISTANCES),
    }
    keyed = pd.DataFrame({c: frame[c].map(r) for c, r in ranks.items()} | {c: frame[c] for c in ("severity", "k")})
    keyed = keyed.reset_index(drop=True)
    by = ["keys", "sweep", "enhancer", "severity", "distance", "k"]
    return keyed.sort_values(by, kind="stable").index.to_numpy()


def sweep_cells(runs: Iterable[Run], resampler: Resampler) -> Cells:
    """Every run's top-k accuracy (%) at each (distance, k) of its values with its interval,
    sorted (keys, sweep, enhancer, severity, distance, k), all from `resampler` (the
    split's one). Raises TableError on a run given twice, one without top-k values, or values
    that do not fit the resampler's queries."""
    rows, draws, seen = [], [], set()
    for keys, enhancer, sweep, severity, values in runs:
        severity = int(severity)
        where = f"{keys} keys, {sweep} severity {severity}, enhancer {enhancer}"
        if (keys, enhancer, sweep, severity) in seen:
            raise TableError(f"{where}: given twice")
        seen.add((keys, enhancer, sweep, severity))
        hits = {(distance, int(k)): v for (distance, measure, k), v in values.items() if measure == MEASURE}
        if not hits:
            raise TableError(f"{where}: no per-query top-k accuracy")
        for (distance, k), v in hits.items():
            try:
                cell = resampler.mean(v).scaled(100.0)
                draws.append(100.0 * resampler.resampled_means(v))
            except StatsError as exc:
                raise TableError(f"{where} [{distance}, k={k}]: {exc}") from exc
            rows.append((keys, enhancer, sweep, severity, distance, k, cell.value, cell.low, cell.high))
    if not rows:
        raise TableError("no sweep retrievals")
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    order = _order(frame)
    return Cells(frame.iloc[order].reset_index(drop=True), np.stack(draws)[order], resampler.level, resampler.n_groups)


def distance_order(distances: Iterable[str]) -> list[str]:
    """The distinct distances, cbir.search.DISTANCES first."""
    return ordered(distances, DISTANCES)


def _errors(cells: Cells, distance: str, k: int, split: str) -> tuple[dict[tuple, np.ndarray], pd.DataFrame]:
    """(keys, enhancer, sweep, severity) -> E [1 + B] (the point, then each resample), and
    the rows at (distance, k)."""
    mask = ((cells.table["distance"] == distance) & (cells.table["k"] == k)).to_numpy()
    if not mask.any():
        raise TableError(f"{split}: no robustness rows for distance {distance!r} and k={k}")
    part = cells.table[mask]
    values = 100.0 - np.column_stack([part["top_k_accuracy"].to_numpy(np.float64), cells.resampled[mask]])
    errors = {}
    names = part[["keys", "enhancer", "sweep", "severity"]].itertuples(index=False, name=None)
    for (keys, enhancer, sweep, severity), row in zip(names, values, strict=True):
        key = (keys, enhancer, sweep, int(severity))
        if key in errors:
            raise TableError(f"{split}: two rows for {keys} keys, {sweep} severity {severity}, enhancer {enhancer}")
        errors[key] = row
    return errors, part


def _layout(errors: Mapping[tuple, np.ndarray], part: pd.DataFrame) -> tuple[list[str], dict[str, list[int]]]:
    """The sweeps (table order) and each one's severities, set by the baseline."""
    sweeps = list(dict.fromkeys(part["sweep"]))
    severities = {d: sorted(s for (kk, e, dd, s) in errors if (kk, e, dd) == (STANDARD, NONE, d)) for d in sweeps}
    if not any(severities.values()):
        raise TableError(f"no baseline rows ({STANDARD} keys, enhancer {NONE})")
    lacking = [d for d in sweeps if not severities[d]]
    if lacking:
        raise TableError(f"the baseline ({STANDARD} keys, enhancer {NONE}) has no rows for {', '.join(lacking)}")
    return sweeps, severities


def _curve(errors, keys: str, enhancer: str, sweep: str, severities: list[int], split: str):
    """E [S, 1 + B] at the baseline's severities of `sweep`; None when there is no row at all."""
    rows = [errors.get((keys, enhancer, sweep, s)) for s in severities]
    if all(r is None for r in rows):
        return None
    missing = [s for s, r in zip(severities, rows, strict=True) if r is None]
    if missing:
        raise TableError(f"{split}: {keys} keys, enhancer {enhancer}: {sweep} severities {missing} missing")
    return np.stack(rows)


def choose_restorers(test: Cells, validation: Cells, *, distance: str, k: int) -> Choices:
    """Per key set with restored test runs and per sweep, the enhancer with the lowest
    mean error over the sweep's severities on the validation split (ties: the first in
    table order; none where no enhancer restored that sweep), with every candidate's
    validation mean error. Choosing on validation keeps the test numbers honest."""
    errors, part = _errors(test, distance, k, "test")
    sweeps, severities = _layout(errors, part)
    held_out, _ = _errors(validation, distance, k, "validation")
    choices: Choices = {}
    for keys in _rank(part["keys"], [STANDARD]):
        restorers = [e for e in _rank(part.loc[part["keys"] == keys, "enhancer"]) if e != NONE]
        if not restorers:
            continue
        choices[keys] = {}
        for d in sweeps:
            scores = {}
            for e in restorers:
                if _curve(errors, keys, e, d, severities[d], "test") is None:
                    continue
                curve = _curve(held_out, keys, e, d, severities[d], "validation")
                if curve is None:
                    raise TableError(
                        f"validation: no {d} rows of the {keys} keys restored by {e}, where the best restorer is chosen"
                    )
                scores[e] = float(curve[:, 0].mean())
            choices[keys][d] = (min(scores, key=scores.get) if scores else NONE, scores)
    return choices


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b, NaN where b is 0 (broadcast)."""
    a, b = np.broadcast_arrays(a, b)
    out = np.full(a.shape, np.nan)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _intervals(x: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(point, low, high) along the last axis of x [..., 1 + B]: x[..., 0] and the percentile
    interval of the resamples x[..., 1:], NaN resamples left out (all NaN: NaN)."""
    tail = 50.0 * (1.0 - level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN, as wanted
        low, high = np.nanpercentile(x[..., 1:], [tail, 100.0 - tail], axis=-1)
    return x[..., 0], low, high


def _undefined(excess: np.ndarray, sweeps: Sequence[str], level: float) -> str:
    """Why the relative mCE is not defined ("" when it is): a sweep whose baseline excess
    error over clean, excess [D, 1 + B], is not positive or has an interval including 0."""
    value, low, high = _intervals(excess, level)
    reasons = []
    for d, v, lo, hi in zip(sweeps, value, low, high, strict=True):
        if not v > 0:
            reasons.append(f"{d}: the baseline's error does not exceed its clean error (sum of E - E_clean = {v:.4g})")
        elif not lo > 0:
            reasons.append(f"{d}: the baseline's excess error over clean ({v:.4g} [{lo:.4g}, {hi:.4g}]) includes 0")
    return "; ".join(reasons)


def summary(test: Cells, validation: Cells, clean: Cells, *, distance: str, k: int) -> pd.DataFrame:
    """One row per remedy with SUMMARY_COLUMNS (see the module doc), at one distance and k, from
    the test split's cells, with the best restorers chosen on `validation` (`choose_restorers`)
    and the clean errors of `clean` (one row per key set: the clean test queries, enhancer none,
    same resampler as `test`).

    Per key set (table order): (keys, "none"), then, where those keys have restored runs,
    (keys, "best restorer"); "enhancers" names each sweep's choice. The baseline sets each
    sweep's severities; every remedy needs all of them, else TableError. Intervals: every
    number computed under each resample of the cells, then percentiles; `*_differs`: the
    interval excludes 1 (the baseline's value)."""
    errors, part = _errors(test, distance, k, "test")
    sweeps, severities = _layout(errors, part)
    choices = choose_restorers(test, validation, distance=distance, k=k)
    clean_errors, _ = _errors(clean, distance, k, "clean queries")
    clean_of = {keys: e for (keys, _enh, _sweep, _sev), e in clean_errors.items()}

    remedies = []  # (keys, remedy, enhancers, sweep -> E [S, 1 + B])
    for keys in _rank(part["keys"], [STANDARD]):
        plain = {d: _curve(errors, keys, NONE, d, severities[d], "test") for d in sweeps}
        lacking = [d for d, c in plain.items() if c is None]
        if lacking:
            raise TableError(f"{keys} keys without restorer: no rows for {', '.join(lacking)}")
        if keys not in clean_of:
            raise TableError(f"no clean-query row of the {keys} keys at {distance} k={k}")
        remedies.append((keys, NONE, NONE, plain))
        if keys in choices:
            best = {
                d: plain[d] if pick == NONE else _curve(errors, keys, pick, d, severities[d], "test")
                for d, (pick, _) in choices[keys].items()
            }
            remedies.append((keys, BEST, ", ".join(f"{d}: {pick}" for d, (pick, _) in choices[keys].items()), best))

    counts = np.array([len(severities[d]) for d in sweeps])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    stacked = np.stack([np.concatenate([curves[d] for d in sweeps]) for *_, curves in remedies])  # [R, C, 1+B]
    clean_e = np.stack([clean_of[keys] for keys, *_ in remedies])  # [R, 1 + B]
    sums = np.add.reduceat(stacked, starts, axis=1)  # [R, D, 1 + B]: sum over severities
    mean_error = stacked.mean(axis=1)
    error_ratio = _divide(mean_error, mean_error[0])
    mce = _divide(sums, sums[0]).mean(axis=1)
    excess = sums - counts[None, :, None] * clean_e[:, None, :]
    note = _undefined(excess[0], sweeps, test.level)
    relative = np.full_like(mce, np.nan) if note else _divide(excess, excess[0]).mean(axis=1)

    level = test.level
    columns = {}
    for name, x in [("mean_error", mean_error), ("error_ratio", error_ratio), ("mce", mce), ("relative_mce", relative)]:
        value, low, high = _intervals(x, level)
        columns[name] = value
        columns[f"{name}_low"], columns[f"{name}_high"] = low, high
        if name != "mean_error":
            columns[f"{name}_differs"] = (low > 1) | (high < 1)
    columns["clean_error"], columns["clean_error_low"], columns["clean_error_high"] = _intervals(clean_e, level)
    columns["relative_mce_note"] = np.array([f"not defined: {note}" if note else ""] * len(remedies), dtype=object)
    frame = pd.DataFrame(
        {
            "keys": [r[0] for r in remedies],
            "remedy": [r[1] for r in remedies],
            "enhancers": [r[2] for r in remedies],
            "distance": distance,
            "k": int(k),
            **columns,
        }
    )
    return frame[list(SUMMARY_COLUMNS)]
