"""Retrieval tables: the long-form CSV, the paper's Table 1 and a per-query-set table.

Every number belongs to a key set (column `keys`): the classifier whose embeddings index the
gallery and the queries. `standard` is the paper's classifier; others (a classifier trained on
degraded images, say) each search their own gallery embeddings.

Measures (cbir.measures), all stored and printed in percent:
    top_k_accuracy  the paper's eq. 8: share of queries with at least one result of
                    their label among the first k;
    precision       precision@k: mean share of relevant results among the first k;
    map             mAP@k: mean average precision within the first k results, normalised
                    by min(k, number of gallery images of the query's label).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from cbir.layout import SEPARATOR as SEPARATOR  # a restored query set is <query>__<enhancer>
from cbir.layout import split_restored
from cbir.search import DISTANCES

MEASURES = ("top_k_accuracy", "precision", "map")
STANDARD = "standard"  # the key set of the paper's classifier
COLUMNS = ("keys", "query_set", "enhancer", "distance", "measure", "k", "value")  # then low, high, chance
NONE = "none"  # the enhancer of a query set that was not restored
DISTANCE_NAMES = {"l2": "L2 metric", "cosine": "cosine sim"}  # the paper's row labels

# Table 1 of the paper: top-k matching accuracy (%), query set -> distance -> k -> value.
PAPER_TABLE1 = {
    "clean": {"l2": {1: 89.42, 5: 91.82, 10: 92.32}, "cosine": {1: 89.47, 5: 91.82, 10: 92.30}},
    "noisy": {"l2": {1: 39.95, 5: 42.41, 10: 42.84}, "cosine": {1: 40.24, 5: 42.10, 10: 42.91}},
    "noisy_enhanced": {"l2": {1: 55.38, 5: 60.90, 10: 64.41}, "cosine": {1: 55.37, 5: 60.62, 10: 61.86}},
    "blurry": {"l2": {1: 72.23, 5: 77.76, 10: 79.36}, "cosine": {1: 72.44, 5: 77.84, 10: 78.67}},
    "blurry_enhanced": {"l2": {1: 74.80, 5: 80.32, 10: 81.33}, "cosine": {1: 74.81, 5: 79.95, 10: 81.55}},
    "lowres": {"l2": {1: 79.47, 5: 84.14, 10: 84.94}, "cosine": {1: 79.36, 5: 83.81, 10: 84.58}},
    "lowres_enhanced": {"l2": {1: 81.01, 5: 85.37, 10: 86.35}, "cosine": {1: 81.08, 5: 85.06, 10: 86.06}},
}
# Row group title -> query set, in the paper's order; "Ideal" has no enhanced variant.
TABLE1_ROWS = (
    ("Ideal query", "clean"),
    ("Noisy query/enhanced", "noisy"),
    ("Motion blurry/enhanced", "blurry"),
    ("Low resolution/enhanced", "lowres"),
)
MISSING = "–"
# Measures over the whole gallery ranking (k = 0 in the long table) and their column titles.
RANKING_TITLES = {"map_full": "mAP", "r_precision": "R-prec.", "map_at_r": "MAP@R"}


class TableError(ValueError):
    """Inputs that do not fit together (lengths, shapes, cut-offs)."""


def split_qset(qset: str) -> tuple[str, str]:
    """(query set, enhancer) of a query-set name: noisy__median -> (noisy, median), noisy -> (noisy, none)."""
    base, enhancer = split_restored(qset)
    return base, enhancer or NONE


def ordered(values: Iterable, first: Sequence = ()) -> list:
    """The distinct `values`: those in `first` that occur (in that order), then the rest in
    order of appearance."""
    values = list(dict.fromkeys(values))
    return [v for v in first if v in values] + [v for v in values if v not in first]


def key_sets(frame: pd.DataFrame) -> list[str]:
    """The key sets of a table: standard first, then the others in their order in `frame`."""
    return ordered(frame["keys"], [STANDARD]) if "keys" in frame else [STANDARD]


def remedy(keys: str, enhancer: str) -> str:
    """What a row of the enhancement table tries: the enhancer with the standard keys, else
    `<keys> keys` (unrestored queries) or `<keys> keys + <enhancer>`."""
    if keys == STANDARD:
        return enhancer
    return f"{keys} keys" if enhancer == NONE else f"{keys} keys + {enhancer}"


def _lookup(frame: pd.DataFrame) -> dict:
    """(keys, query_set, enhancer, distance, measure, k) -> value, or (value, low, high) when the
    frame has intervals; a frame without `keys` is standard."""
    if "keys" not in frame:
        frame = frame.assign(keys=STANDARD)
    if "low" in frame:
        columns = [*COLUMNS, "low", "high"]
        return {tuple(row[:6]): Cell(*row[6:9]) for row in frame[columns].itertuples(index=False)}
    return {tuple(row[:6]): row[6] for row in frame[list(COLUMNS)].itertuples(index=False)}


class Cell(tuple):
    """A table value with its interval: (value, low, high)."""

    def __new__(cls, value: float, low: float, high: float):
        return super().__new__(cls, (value, low, high))


def fmt_cell(cell, digits: int = 2) -> str:
    """A value, with its interval as `value [low, high]` when it has one (bounds to 1 decimal)."""
    if isinstance(cell, Cell):
        value, low, high = cell
        if value is None or np.isnan(value):
            return MISSING
        return f"{value:.{digits}f} [{low:.1f}, {high:.1f}]"
    return fmt(cell, digits)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def fmt(value: float | None, digits: int = 2) -> str:
    """A table cell: the value with `digits` decimals, MISSING for None or NaN."""
    return MISSING if value is None or np.isnan(value) else f"{value:.{digits}f}"


def _cell(degraded, enhanced, pair: bool) -> str:
    return f"{fmt_cell(degraded)} / {fmt_cell(enhanced)}" if pair else fmt_cell(degraded)


def _table1_rows(get, distances: Sequence[str], ks: Sequence[int], bases, others=(), get_keys=None) -> list[list[str]]:
    """Rows of the Table 1 layout; get(query_set, enhanced?, distance, k) -> value or None, then
    per key set in `others` and k get_keys(keys, query_set, distance, k) (None: all MISSING)."""
    rows = []
    for title, base in TABLE1_ROWS:
        if base not in bases:
            continue
        rows.append([f"**{title}**", "", *[""] * (len(ks) * (1 + len(others)))])
        pair = base != "clean"
        for distance in distances:
            cells = [_cell(get(base, False, distance, k), get(base, True, distance, k), pair) for k in ks]
            cells += [fmt_cell(get_keys(keys, base, distance, k) if get_keys else None) for keys in others for k in ks]
            rows.append(["", DISTANCE_NAMES.get(distance, distance), *cells])
    return rows


def table1_markdown(frame: pd.DataFrame, defaults: Mapping[str, str], ks: Sequence[int] | None = None) -> str:
    """The paper's Table 1 layout for our numbers, then the paper's own (top-k matching
    accuracy, %): row groups Ideal / Noisy / Motion blurry / Low resolution (only those whose
    query set was evaluated), sub-rows per distance, cells `degraded / enhanced` where
    `enhanced` is the query set's default enhancer (`defaults`: query set -> enhancer), all
    with the standard keys; then for every other key set K one column per k, `K keys: Top k`,
    K's accuracy on the unrestored query set (MISSING in the paper's part)."""
    acc = frame[frame["measure"] == "top_k_accuracy"]
    ks = sorted(ks or acc["k"].unique().tolist())
    chance = _chance(acc, ks)
    distances = [d for d in DISTANCES if d in set(acc["distance"])]
    values = _lookup(acc)
    bases = {key[1] for key in values if key[0] == STANDARD}
    others = [keys for keys in key_sets(acc) if keys != STANDARD]

    def ours(base, enhanced, distance, k):
        enhancer = defaults.get(base, MISSING) if enhanced else NONE
        return values.get((STANDARD, base, enhancer, distance, "top_k_accuracy", k))

    def ours_keys(keys, base, distance, k):
        return values.get((keys, base, NONE, distance, "top_k_accuracy", k))

    def paper(base, enhanced, distance, k):
        name = f"{base}_enhanced" if enhanced else base
        return PAPER_TABLE1.get(name, {}).get(distance, {}).get(k)

    header = ["Query", "Metric", *[f"Top {k}" for k in ks], *[f"{keys} keys: Top {k}" for keys in others for k in ks]]
    n_gallery = frame.attrs.get("n_gallery")
    counts = frame.attrs.get("n_queries", {})
    sizes = ", ".join(f"{name} {n}" for name, n in counts.items())
    intro = (
        "Top-k matching accuracy (the paper's eq. 8) in percent: the share of queries with at least "
        f"one gallery image of their own class among the first k results, with its {_level(frame)} interval "
        "[low, high] where the run has one. Cells are "
        f"`degraded / enhanced` ({MISSING}: not configured), enhanced by each set's default enhancer"
        + (f" ({', '.join(f'{q}: {e}' for q, e in defaults.items() if q in bases)})" if defaults else "")
        + "."
    )
    if others:
        intro += (
            f" A column `K keys: Top k` ({', '.join(others)}) is the accuracy of the unrestored queries searched "
            "with key set K instead, a classifier of its own embedding its own gallery; the paper has none "
            f"({MISSING})."
        )
    parts = [
        "# Table 1: retrieval performance\n",
        intro + "\n",
        "## This run\n",
        markdown_table(header, _table1_rows(ours, distances, ks, bases, others, ours_keys)),
        "## The paper (Table 1)\n",
        markdown_table(header, _table1_rows(paper, distances, ks, bases, others)),
    ]
    if n_gallery is not None:
        parts.append(f"Gallery: {n_gallery} images. Queries per set: {sizes}.\n")
    if chance:
        parts.append(
            "Chance (a random ranking of the gallery, from the class frequencies): "
            + ", ".join(f"top {k} {value:.1f}" for k, value in chance.items())
            + f". Intervals: {_level(frame)} bootstrap over the objects behind the queries "
            + f"({frame.attrs.get('n_objects', '?')} objects, {frame.attrs.get('resamples', '?')} resamples).\n"
        )
    return "\n".join(parts)


def _level(frame: pd.DataFrame) -> str:
    """The confidence level of a frame's intervals as text ("95 %"; config `evaluation.level`)."""
    return f"{100 * frame.attrs.get('level', 0.95):g} %"


def _chance(frame: pd.DataFrame, ks) -> dict:
    """k -> the chance level (percent) of the standard keys' first query set, if the frame has one."""
    if "chance" not in frame or frame.empty:
        return {}
    rows = frame[frame["keys"] == STANDARD] if "keys" in frame else frame
    first = rows[rows["query_set"] == rows["query_set"].iloc[0]]
    return {k: float(first[first["k"] == k]["chance"].iloc[0]) for k in ks if (first["k"] == k).any()}


def queries_markdown(frame: pd.DataFrame, qsets: Sequence[str]) -> str:
    """One row per key set (standard first), configured query set and distance: top-k accuracy
    for every k, precision and mAP at the largest k, and the whole-ranking measures (mAP,
    R-precision, MAP@R) where the frame has them (all percent, with intervals where present);
    then a row of chance levels."""
    ks = sorted(k for k in frame["k"].unique().tolist() if k > 0)
    top = ks[-1]
    values = _lookup(frame)
    counts = frame.attrs.get("n_queries", {})
    distances = [d for d in DISTANCES if d in set(frame["distance"])]
    ranking = [(m, title) for m, title in RANKING_TITLES.items() if (frame["measure"] == m).any()]
    header = ["Keys", "Query set", "Enhancer", "Metric", "Queries", *[f"Top {k}" for k in ks]]
    header += [f"P@{top}", f"mAP@{top}", *[title for _, title in ranking]]
    rows = []
    for keys in key_sets(frame):
        for qset in qsets:
            base, enhancer = split_qset(qset)
            for distance in distances:
                key = (keys, base, enhancer, distance)
                if values.get((*key, "top_k_accuracy", top)) is None:
                    continue
                cells = [fmt_cell(values.get((*key, "top_k_accuracy", k))) for k in ks]
                cells += [fmt_cell(values.get((*key, "precision", top))), fmt_cell(values.get((*key, "map", top)))]
                cells += [fmt_cell(values.get((*key, m, 0))) for m, _ in ranking]
                shown = MISSING if enhancer == NONE else enhancer
                metric = DISTANCE_NAMES.get(distance, distance)
                rows.append([keys, qset, shown, metric, str(counts.get(qset, "")), *cells])
    if "chance" in frame and len(frame):
        first = frame.iloc[0]
        chance = frame[(frame["keys"] == first["keys"]) & (frame["query_set"] == first["query_set"])]
        level = {(r.measure, r.k): r.chance for r in chance.itertuples()}
        cells = [fmt(level.get(("top_k_accuracy", k))) for k in ks]
        cells += [fmt(level.get(("precision", top))), fmt(level.get(("map", top)))]
        cells += [fmt(level.get((m, 0))) for m, _ in ranking]
        rows.append(["chance", "(random ranking)", "", "", "", *cells])
    return "\n".join(
        [
            "# Retrieval per query set\n",
            f"Keys: the key set (classifier) that embeds the gallery and the queries. Top k: top-k matching "
            f"accuracy (eq. 8); P@{top}: precision at {top}; mAP@{top}: mean average precision within the "
            f"first {top} results, normalised by min({top}, gallery images of the query's class); mAP: average "
            "precision over the whole gallery ranking; R-prec.: relevant results among the first R (R: the gallery "
            "images of the query's class), over R; MAP@R: mean average precision within the first R (Musgrave et "
            f"al. 2020). All in percent, each with its {_level(frame)} interval [low, high] (bootstrap over the objects behind "
            "the queries); the last row is what a random ranking scores.\n",
            markdown_table(header, rows),
        ]
    )


def _signed(value: float, low: float, high: float) -> str:
    """A change in points with its interval: `+1.23 [-0.4, +2.9]`."""
    if np.isnan(value):
        return MISSING
    return f"{value:+.2f} [{low:+.1f}, {high:+.1f}]"


def _p(value: float) -> str:
    return MISSING if np.isnan(value) else ("<0.001" if value < 0.001 else f"{value:.3f}")


def enhancement_markdown(
    table: pd.DataFrame,
    degraded_quality: Mapping[str, tuple[float, float]],
    n_objects=None,
    replicates: int = 1,
    chance: Mapping[int, float] | None = None,
) -> str:
    """The enhancement table at the smallest k, one row per remedy (an enhancer, another key set,
    or both), each set's default enhancer first: per distance the accuracy after the remedy, its
    paired change against the degraded queries with interval and McNemar p (changes whose
    interval includes zero marked n.s.), the gap closed with its interval (empty, with the
    reason below, where the gap itself is not distinguishable from zero), the change an
    independent judge sees, and the blind cost on clean queries."""
    k = int(table["k"].min()) if len(table) else 1
    top1 = table[table["k"] == k]
    distances = [d for d in DISTANCES if d in set(top1["distance"])]
    header = ["Query set", "Remedy", "PSNR (dB)", "SSIM"]
    for distance in distances:
        name = DISTANCE_NAMES.get(distance, distance)
        header += [f"{name}: top-{k}", f"change [{_level(table)} CI]", "p", "gap closed", "judge change", "blind cost"]
    rows, notes = [], {}
    for query in dict.fromkeys(top1["query_set"]):
        psnr_value, ssim_value = degraded_quality[query]
        cells = [query, "(degraded)", f"{psnr_value:.2f}", f"{ssim_value:.3f}"]
        for distance in distances:
            first = top1[(top1["query_set"] == query) & (top1["distance"] == distance)].iloc[0]
            gap = _signed(first["gap"], first["gap_low"], first["gap_high"])
            cells += [f"{fmt(first['degraded'])} (clean {fmt(first['clean'])}, gap {gap})", "", "", "", "", ""]
        rows.append(cells)
        part = top1[top1["query_set"] == query]
        for keys, enhancer in dict.fromkeys(zip(part["keys"], part["enhancer"], strict=True)):
            mine = part[(part["keys"] == keys) & (part["enhancer"] == enhancer)]
            cells = ["", remedy(keys, enhancer), f"{mine['psnr'].iloc[0]:.2f}", f"{mine['ssim'].iloc[0]:.3f}"]
            for distance in distances:
                row = mine[mine["distance"] == distance].iloc[0]
                change = _signed(row["change"], row["change_low"], row["change_high"])
                if not row["significant"]:
                    change += " n.s."
                if np.isnan(row["gap_closed"]):
                    gap = MISSING
                    if row["gap_note"]:
                        notes[query, distance] = row["gap_note"]
                else:
                    gap = (
                        f"{100 * row['gap_closed']:.0f} % [{100 * row['gap_closed_low']:.0f}, "
                        f"{100 * row['gap_closed_high']:.0f}]"
                    )
                judge = _signed(row["judge_change"], row["judge_low"], row["judge_high"])
                blind = _signed(row["blind_change"], row["blind_low"], row["blind_high"])
                cells += [fmt(row["enhanced"]), change, _p(row["p_value"]), gap, judge, blind]
            rows.append(cells)
    others = [keys for keys in key_sets(top1) if keys != STANDARD]
    judges = sorted({j for j in top1.get("judge_keys", pd.Series(dtype=str)).dropna() if j})
    objects = f" over the {n_objects} objects behind the queries" if n_objects else ""
    text = (
        f"Top-{k} matching accuracy (%) after each remedy. Every remedy is compared query by query with the "
        "degraded queries searched with the standard keys (the baseline): change = remedy - degraded in points, "
        f"with its {_level(table)} interval (paired bootstrap{objects}) and the exact McNemar p-value; n.s. marks a change "
        "whose interval includes zero. Gap closed = (remedy - degraded) / (clean - degraded) with its interval, "
        "shown only where the gap clean - degraded is itself distinguishable from zero (100 %: the clean accuracy "
        "recovered; below 0 %: worse than not restoring)."
    )
    if judges:
        who = "the next replicate's standard keys" if judges == ["next replicate"] else f"the {', '.join(judges)} keys"
        text += (
            f" Judge change: a restoration network's change measured with {who}, a classifier it was never "
            "trained through (its feature loss used its own replicate's standard keys): what the image gains, not "
            "the classifier that taught it."
        )
    if replicates > 1:
        text += (
            f" Every value is the mean over {replicates} replicates (every network trained {replicates} times); "
            "the intervals resample replicates and objects."
        )
    text += (
        " Blind cost: the remedy applied to the clean queries, against the same keys on the clean queries "
        "(what restoring costs a query that needed nothing). PSNR and SSIM of the images searched against the "
        "clean ones. `enhancement.csv` has every k."
    )
    if others:
        text += (
            " `K keys` searches the unrestored queries with key set K (a classifier of its own embedding its "
            "own gallery), `K keys + enhancer` the restored ones."
        )
    if chance and k in chance:
        text += f" Chance (a random ranking of the gallery): top-{k} {chance[k]:.1f}."
    parts = ["# Enhancement: which remedy recovers retrieval\n", text + "\n", markdown_table(header, rows)]
    if notes:
        parts.append("No gap closed where:\n")
        parts += [f"- {query} ({DISTANCE_NAMES.get(d, d)}): {note}" for (query, d), note in notes.items()]
        parts.append("")
    return "\n".join(parts)


def tuning_markdown(choices: Mapping[str, Mapping]) -> str:
    """What the tuning rule chose for each classical method's `auto` parameters, with the
    validation score of every candidate (`choices`: enhancer -> its tuning JSON)."""
    if not choices:
        return ""
    lines = ["", "Classical parameters chosen on the validation split (top-1 retrieval of its queries):", ""]
    for name, result in choices.items():
        chosen = ", ".join(f"{k} = {v}" for k, v in result["chosen"].items())
        tried = "; ".join(
            ", ".join(f"{k} {v}" for k, v in point["params"].items()) + f": {point['top1']:.2f}"
            for point in result["grid"]
        )
        lines.append(f"- {name}: {chosen} (of {tried}; {result['criterion']})")
    return "\n".join(lines) + "\n"
