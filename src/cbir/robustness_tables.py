"""The severity sweeps' Markdown report (robustness.md): the summary per remedy, the restorers
chosen on validation and the top-k accuracy per severity, rendered from `cbir.robustness`'s
Cells and summaries. Kept apart from the computation so that each stays small; text only."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from cbir.robustness import BEST, Cells, Labels, choose_restorers
from cbir.tables import DISTANCE_NAMES, MISSING, NONE, STANDARD, Cell, fmt, fmt_cell, markdown_table, ordered


def _ratio_cell(value: float, low: float, high: float, differs: bool, baseline: bool) -> str:
    """A ratio with its interval, `*` when the interval excludes 1; the baseline's own is 1 by definition."""
    if np.isnan(value):
        return MISSING
    if baseline:
        return "1 (baseline)"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]" + (" \\*" if differs else "")


def _percent(value: float, low: float, high: float) -> str:
    return fmt_cell(Cell(value, low, high))


def severity_title(severity: int, label: tuple[str, str] | None) -> str:
    """A severity's column title with its parameter value: "Severity 2 (sigma=0.07)"."""
    parameter, value = label or ("", "")
    return f"Severity {severity}" + (f" ({parameter}={value})" if value else "")


def robustness_markdown(
    test: Cells,
    validation: Cells,
    clean: Cells,
    summaries: Mapping[str, pd.DataFrame],
    *,
    k: int,
    labels: Labels | None = None,
) -> str:
    """A markdown report: per distance (`summaries`: distance -> `summary` at k), the summary per
    remedy, the restorers chosen on validation with every candidate's validation error, and per
    sweep the test split's top-k accuracy per severity with intervals, one row per (keys,
    enhancer), with each key set's clean accuracy; each severity's column names its parameter
    value (`labels`: (sweep, severity) -> (parameter, value), `cbir.robustness.severity_labels`).
    The text calls a sweep a degradation, as ImageNet-C calls its corruptions."""
    labels = labels or {}
    resamples = test.resampled.shape[1]
    parts = [
        "# Severity sweeps: retrieval under growing degradation\n",
        f"Top-{k} matching accuracy (the paper's eq. 8), in percent, of the test queries degraded at growing "
        "severity (severity 3 is the paper's setting). Error E = 100 - top-k accuracy. Brackets: "
        f"{100 * test.level:g} % cluster-bootstrap percentile interval ({resamples} resamples of the "
        f"{test.n_objects} objects behind the test queries; every number of the split, summaries included, is "
        "computed under the same resamples).\n",
        f"Remedies: each key set without restorer, and each key set with the *{BEST}* of each degradation: the "
        "enhancer with the lowest mean error over that degradation's severities, **chosen on the validation "
        "split**; every number reported is the test split's. Baseline: this run's "
        f"{STANDARD} keys without restorer.\n",
        "- *Mean error*: E averaged over every degradation and severity.\n"
        "- *Pooled error ratio*: a remedy's mean error divided by the baseline's; below 1 is better.\n"
        "- *mCE* (ImageNet-C's mean corruption error): per degradation the remedy's errors summed over "
        "severities, divided by the baseline's, averaged over degradations. ImageNet-C normalises by AlexNet; "
        "here the baseline is this run's unremedied standard keys, so the baseline's mCE is 1.\n"
        "- *Relative mCE* (ImageNet-C's): the same with each error minus the clean error of the remedy's key "
        "set (the clean test queries searched by those keys; a restorer is not applied to clean queries in "
        "this number). Not defined (–) where a degradation's baseline excess error over clean, summed over "
        "severities, is not positive or its interval includes 0.\n"
        "- A ratio marked \\* has an interval that excludes 1: it differs from the baseline; unmarked ratios "
        "are not distinguishable from it.\n",
    ]
    for distance, frame in summaries.items():
        name = DISTANCE_NAMES.get(distance, distance)
        header = ["Keys", "Remedy", "Mean error (%)", "Pooled error ratio", "mCE", "Relative mCE"]
        header += ["Clean error (%)", "Restorers (chosen on validation)"]
        rows = []
        for i, r in enumerate(frame.itertuples(index=False)):
            base = i == 0
            rows.append(
                [
                    r.keys,
                    r.remedy,
                    _percent(r.mean_error, r.mean_error_low, r.mean_error_high),
                    _ratio_cell(r.error_ratio, r.error_ratio_low, r.error_ratio_high, r.error_ratio_differs, base),
                    _ratio_cell(r.mce, r.mce_low, r.mce_high, r.mce_differs, base),
                    _ratio_cell(r.relative_mce, r.relative_mce_low, r.relative_mce_high, r.relative_mce_differs, base),
                    _percent(r.clean_error, r.clean_error_low, r.clean_error_high),
                    r.enhancers,
                ]
            )
        notes = [n for n in dict.fromkeys(frame["relative_mce_note"]) if n]
        parts += [f"## {name}, top-{k}\n", "### Summary\n", markdown_table(header, rows)]
        parts += [f"Relative mCE {n}.\n" for n in notes]
        choices = choose_restorers(test, validation, distance=distance, k=k)
        choice_rows = [
            [keys, d, pick, ", ".join(f"{e} {fmt(v)}" for e, v in scores.items()) or MISSING]
            for keys, per in choices.items()
            for d, (pick, scores) in per.items()
        ]
        if choice_rows:
            parts += [
                f"### {BEST.capitalize()} per degradation, chosen on the validation split\n",
                markdown_table(
                    ["Keys", "Degradation", "Chosen", "Validation mean error (%) per candidate"], choice_rows
                ),
            ]
        part = test.table[(test.table["distance"] == distance) & (test.table["k"] == k)]
        levels = {
            r.keys: _percent(r.top_k_accuracy, r.low, r.high)
            for r in clean.table[(clean.table["distance"] == distance) & (clean.table["k"] == k)].itertuples()
        }
        for sweep in dict.fromkeys(part["sweep"]):
            sub = part[part["sweep"] == sweep]
            severities = sorted({int(s) for s in sub["severity"]})
            values = {
                (r.keys, r.enhancer, int(r.severity)): Cell(r.top_k_accuracy, r.low, r.high) for r in sub.itertuples()
            }
            key_sets = ordered(sub["keys"], [STANDARD])
            stated = ", ".join(f"{keys} keys {levels.get(keys, MISSING)} %" for keys in key_sets)
            rows = [
                [keys, enhancer, *[fmt_cell(values.get((keys, enhancer, s))) for s in severities]]
                for keys in key_sets
                for enhancer in ordered(sub.loc[sub["keys"] == keys, "enhancer"], [NONE])
            ]
            parts += [
                f"### {sweep}\n",
                f"Top-{k} accuracy (%) per severity, test split; clean test queries: {stated}.\n",
                markdown_table(
                    ["Keys", "Enhancer", *[severity_title(s, labels.get((sweep, s))) for s in severities]], rows
                ),
            ]
    return "\n".join(parts)
