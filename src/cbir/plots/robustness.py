"""Severity sweeps: top-k accuracy against the severity of each sweep's degradation (ImageNet-C
style robustness curves), one panel per sweep, one line per remedy (key set x restorer), each
with a light band for its 95 % interval so that overlapping remedies read as indistinguishable.
Severities are evenly spaced and labelled with the parameter value each stands for."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from cbir.plots import RemedyStyles, plt
from cbir.robustness import format_value
from cbir.tables import DISTANCE_NAMES, NONE, STANDARD, ordered, remedy

COLUMNS_MAX = 3  # panels per row
BAND_ALPHA = 0.15  # interval bands: light enough for the lines above them to stay legible
TICK_CHARS = 12  # tick labels longer than this (long mixtures such as "[0.05, 0.07, 0.1]") are drawn slanted


def remedy_label(keys: str, enhancer: str) -> str:
    """Legend label of a line: the enhancer for standard keys ("standard keys, no restorer"
    without one), "<keys> keys" or "<keys> keys + <enhancer>" for the others."""
    if keys == STANDARD and enhancer == NONE:
        return "standard keys, no restorer"
    return remedy(keys, enhancer)


def clean_label(keys: str) -> str:
    return f"{keys} keys, clean queries"


def severity_ticks(part: pd.DataFrame, severities: list[int]) -> tuple[list[str], str]:
    """The x tick labels of one panel's severities and the axis title: the parameter values and
    the parameter's name from robustness.csv's `value` and `parameter` columns
    (`cbir.robustness.LABEL_COLUMNS`), or the severities 1..N and "severity" where a severity
    has no value (a table without those columns)."""
    if {"parameter", "value"} <= set(part.columns):
        named = part.dropna(subset=["value"])
        named = named[named["value"].astype(str) != ""]
        values = dict(zip(named["severity"].astype(int), named["value"], strict=True))
        if all(s in values for s in severities):
            parameters = [str(p) for p in dict.fromkeys(named["parameter"].dropna()) if str(p)]
            # a CSV column of numbers only reads back as floats: 1.0 is shown as "1"
            return [format_value(values[s]) for s in severities], ", ".join(parameters) or "value"
    return [str(s) for s in severities], "severity"


def robustness_figure(table: pd.DataFrame, *, clean: Mapping[str, float], distance: str, k: int) -> plt.Figure:
    """Top-k accuracy (%) against severity at one distance and k, from robustness.csv
    (`cbir.robustness.CSV_COLUMNS`; `parameter` and `value` may be absent): one panel per sweep (table order, up to three per row),
    one line with markers per (keys, enhancer): its colour the restorer's (grey: none), its line
    style the key set's (`RemedyStyles`), the same in every panel, over a light band of that
    colour from `low` to `high` (its interval; none where the table has no such columns); per
    key set a thin black line in that style at its clean accuracy (`clean`: key set -> %, key
    sets missing there get none). Severities evenly spaced, each labelled with its parameter value
    (`severity_ticks`). Shared y axis 0-100 %, one legend for the figure."""
    rows = table[(table["distance"] == distance) & (table["k"] == k)]
    if rows.empty:
        raise ValueError(f"no robustness rows for distance {distance!r} and k={k}")
    sweeps = list(dict.fromkeys(rows["sweep"]))
    key_sets = ordered(rows["keys"], [STANDARD])
    remedies = [
        (keys, enhancer)
        for keys in key_sets
        for enhancer in ordered(rows.loc[rows["keys"] == keys, "enhancer"], [NONE])
    ]
    labels = [remedy_label(*r) for r in remedies] + [clean_label(keys) for keys in key_sets if keys in clean]
    styles = RemedyStyles()  # colour: the restorer; line style: the key set

    n_cols = min(COLUMNS_MAX, len(sweeps))
    n_rows = math.ceil(len(sweeps) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.6 * n_cols, 3.0 * n_rows + 0.9), squeeze=False, sharey=True)
    for ax in axes.flat[len(sweeps) :]:
        fig.delaxes(ax)
    handles = {}
    for ax, sweep in zip(axes.flat, sweeps, strict=False):
        part = rows[rows["sweep"] == sweep]
        for keys, enhancer in remedies:
            line = part[(part["keys"] == keys) & (part["enhancer"] == enhancer)].sort_values("severity")
            if line.empty:
                continue
            label = remedy_label(keys, enhancer)
            marker = "o" if keys == STANDARD else "s"
            severity, colour = line["severity"].to_numpy(), styles.colour(enhancer)
            if {"low", "high"} <= set(line.columns):
                low, high = line["low"].to_numpy(float), line["high"].to_numpy(float)
                ax.fill_between(severity, low, high, color=colour, alpha=BAND_ALPHA, linewidth=0, zorder=1)
            (handles[label],) = ax.plot(
                severity,
                line["top_k_accuracy"].to_numpy(),
                marker=marker,
                markersize=4,
                color=colour,
                linestyle=styles.linestyle(keys),
                label=label,
                zorder=2,
            )
        for keys in key_sets:
            if keys in clean and keys in set(part["keys"]):
                label = clean_label(keys)
                style = styles.linestyle(keys)
                handles[label] = ax.axhline(clean[keys], color="black", linestyle=style, linewidth=0.8, label=label)
        severities = sorted({int(s) for s in part["severity"]})
        ticks, parameter = severity_ticks(part, severities)
        slanted = max(len(t) for t in ticks) > TICK_CHARS
        ax.set_xticks(severities, ticks, fontsize=8, rotation=30 if slanted else 0, ha="right" if slanted else "center")
        ax.set_xlim(min(severities) - 0.3, max(severities) + 0.3)
        ax.set_ylim(0, 100)
        ax.set_title(sweep, fontsize=10)
        ax.set_xlabel(parameter)
        ax.grid(alpha=0.3)
    for row in axes:
        row[0].set_ylabel(f"top-{k} accuracy (%)")
    shown = [label for label in dict.fromkeys(labels) if label in handles]
    fig.legend(
        [handles[label] for label in shown],
        shown,
        loc="lower center",
        ncol=min(3, len(shown)),
        fontsize=8,
        frameon=False,
    )
    name = DISTANCE_NAMES.get(distance, distance)
    fig.suptitle(f"Retrieval under growing degradation: top-{k} accuracy, {name}", fontsize=11)
    legend_rows = math.ceil(len(shown) / min(3, len(shown)))
    fig.tight_layout(rect=(0, min(0.45, (0.12 + 0.17 * legend_rows) / fig.get_figheight()), 1, 0.97))
    return fig
