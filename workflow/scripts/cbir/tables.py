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

from cbir.measures import mean_average_precision, precision_at_k, relevant_counts, top_k_accuracy
from cbir.search import DISTANCES

MEASURES = ("top_k_accuracy", "precision", "map")
STANDARD = "standard"  # the key set of the paper's classifier
COLUMNS = ("keys", "query_set", "enhancer", "distance", "measure", "k", "value")
ENHANCEMENT_COLUMNS = (
    "keys",
    "query_set",
    "enhancer",
    "distance",
    "k",
    "clean",
    "degraded",
    "enhanced",
    "gap_closed",
    "psnr",
    "ssim",
)
NONE = "none"  # the enhancer of a query set that was not restored
SEPARATOR = "__"  # a restored query set is <query>__<enhancer>
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


class TableError(ValueError):
    """Inputs that do not fit together (lengths, shapes, cut-offs)."""


def split_qset(qset: str) -> tuple[str, str]:
    """(query set, enhancer) of a query-set name: noisy__median -> (noisy, median), noisy -> (noisy, none)."""
    base, _, enhancer = qset.partition(SEPARATOR)
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


def evaluate(
    gallery_labels: np.ndarray,
    query_sets: Mapping[str, tuple[np.ndarray, Mapping[str, tuple[np.ndarray, np.ndarray]]]],
    ks: Sequence[int],
    keys: str = STANDARD,
) -> pd.DataFrame:
    """Every measure at every k in `ks`, per query set and distance, as a long DataFrame with
    COLUMNS (value in percent; `keys` names the key set on every row). `query_sets` maps a
    query set, in table order, to (its query labels [Nq], distance -> (gallery indices [Nq, K],
    scores)), the indices into `gallery_labels`, the gallery of that key set.
    df.attrs holds n_gallery and n_queries (query set -> count)."""
    ks = sorted(int(k) for k in ks)
    rows, n_queries = [], {}
    for qset, (labels, results) in query_sets.items():
        base, enhancer = split_qset(qset)
        n_queries[qset] = len(labels)
        n_relevant = relevant_counts(gallery_labels, labels)
        for distance in [d for d in DISTANCES if d in results] + [d for d in results if d not in DISTANCES]:
            indices = results[distance][0]
            where = f"query set {qset} [{distance}]"
            if indices.shape[0] != len(labels):
                raise TableError(f"{where}: {indices.shape[0]} result rows for {len(labels)} queries")
            if indices.shape[1] < ks[-1]:
                raise TableError(
                    f"{where}: {indices.shape[1]} results stored per query but retrieval.ks asks for "
                    f"k={ks[-1]}; raise retrieval.topk"
                )
            if len(indices) and (indices.min() < 0 or indices.max() >= len(gallery_labels)):
                raise TableError(f"{where}: gallery indices outside 0..{len(gallery_labels) - 1}")
            retrieved = gallery_labels[indices]
            for k in ks:
                values = {
                    "top_k_accuracy": top_k_accuracy(retrieved, labels, k),
                    "precision": precision_at_k(retrieved, labels, k),
                    "map": mean_average_precision(retrieved, labels, k, n_relevant),
                }
                rows += [(keys, base, enhancer, distance, m, k, 100.0 * values[m]) for m in MEASURES]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame.attrs = {"n_gallery": len(gallery_labels), "n_queries": n_queries}
    return frame


def _lookup(frame: pd.DataFrame) -> dict:
    """(keys, query_set, enhancer, distance, measure, k) -> value; a frame without `keys` is standard."""
    if "keys" not in frame:
        frame = frame.assign(keys=STANDARD)
    return {tuple(row[:6]): row[6] for row in frame[list(COLUMNS)].itertuples(index=False)}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def fmt(value: float | None, digits: int = 2) -> str:
    """A table cell: the value with `digits` decimals, MISSING for None or NaN."""
    return MISSING if value is None or np.isnan(value) else f"{value:.{digits}f}"


def _cell(degraded: float | None, enhanced: float | None, pair: bool) -> str:
    return f"{fmt(degraded)}/{fmt(enhanced)}" if pair else fmt(degraded)


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
            cells += [fmt(get_keys(keys, base, distance, k) if get_keys else None) for keys in others for k in ks]
            rows.append(["", DISTANCE_NAMES.get(distance, distance), *cells])
    return rows


def table1_markdown(frame: pd.DataFrame, defaults: Mapping[str, str], ks: Sequence[int] | None = None) -> str:
    """The paper's Table 1 layout for our numbers, then the paper's own (top-k matching
    accuracy, %): row groups Ideal / Noisy / Motion blurry / Low resolution (only those whose
    query set was evaluated), sub-rows per distance, cells `degraded/enhanced` where
    `enhanced` is the query set's default enhancer (`defaults`: query set -> enhancer), all
    with the standard keys; then for every other key set K one column per k, `K keys: Top k`,
    K's accuracy on the unrestored query set (MISSING in the paper's part)."""
    acc = frame[frame["measure"] == "top_k_accuracy"]
    ks = sorted(ks or acc["k"].unique().tolist())
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
        "one gallery image of their own class among the first k results. Cells are "
        f"`degraded/enhanced` ({MISSING}: not configured), enhanced by each set's default enhancer"
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
    return "\n".join(parts)


def queries_markdown(frame: pd.DataFrame, qsets: Sequence[str]) -> str:
    """One row per key set (standard first), configured query set and distance: top-k accuracy
    for every k, then precision and mAP at the largest k (all percent)."""
    ks = sorted(frame["k"].unique().tolist())
    top = ks[-1]
    values = _lookup(frame)
    counts = frame.attrs.get("n_queries", {})
    distances = [d for d in DISTANCES if d in set(frame["distance"])]
    header = ["Keys", "Query set", "Enhancer", "Metric", "Queries", *[f"Top {k}" for k in ks]]
    header += [f"P@{top}", f"mAP@{top}"]
    rows = []
    for keys in key_sets(frame):
        for qset in qsets:
            base, enhancer = split_qset(qset)
            for distance in distances:
                key = (keys, base, enhancer, distance)
                if values.get((*key, "top_k_accuracy", top)) is None:
                    continue
                cells = [fmt(values.get((*key, "top_k_accuracy", k))) for k in ks]
                cells += [fmt(values.get((*key, "precision", top))), fmt(values.get((*key, "map", top)))]
                shown = MISSING if enhancer == NONE else enhancer
                metric = DISTANCE_NAMES.get(distance, distance)
                rows.append([keys, qset, shown, metric, str(counts.get(qset, "")), *cells])
    return "\n".join(
        [
            "# Retrieval per query set\n",
            f"Keys: the key set (classifier) that embeds the gallery and the queries. Top k: top-k matching "
            f"accuracy (eq. 8); P@{top}: precision at {top}; mAP@{top}: mean average precision within the "
            f"first {top} results, normalised by min({top}, gallery images of the query's class). All in percent.\n",
            markdown_table(header, rows),
        ]
    )


def enhancement_table(
    frame: pd.DataFrame, quality: Mapping[str, tuple[float, float]], enhance: Mapping[str, Sequence[str]], clean: str
) -> pd.DataFrame:
    """One row per (key set, query set, remedy, distance, k) with ENHANCEMENT_COLUMNS: per key
    set K (standard first) and query set, for K other than standard first a row of enhancer
    `none` (K's keys on the unrestored queries), then one per enhancer in `enhance`. `clean`
    and `degraded` are always the standard keys' top-k accuracies (%) of the clean set `clean`
    and of the unrestored query set, the baseline; `enhanced` is K's accuracy on the row's
    queries; gap_closed = (enhanced - degraded) / (clean - degraded) (NaN where there is no gap);
    psnr (dB) and ssim of the row's images against the clean ones (`quality`: restored name
    <query>__<enhancer> or degraded query name -> (psnr, ssim))."""
    acc = _lookup(frame[frame["measure"] == "top_k_accuracy"])
    distances = [d for d in DISTANCES if d in set(frame["distance"])]
    ks = sorted(frame["k"].unique().tolist())

    def accuracy(keys, query, enhancer, distance, k):
        value = acc.get((keys, query, enhancer, distance, "top_k_accuracy", k))
        if value is None:
            raise TableError(f"no top-{k} {distance} accuracy of the {keys} keys for {query} / {enhancer}")
        return value

    rows = []
    for keys in key_sets(frame):
        for query, enhancers in enhance.items():
            for enhancer in [*([] if keys == STANDARD else [NONE]), *enhancers]:
                name = query if enhancer == NONE else f"{query}{SEPARATOR}{enhancer}"
                if name not in quality:
                    raise TableError(f"no PSNR / SSIM for the image set {name}")
                psnr_value, ssim_value = quality[name]
                for distance in distances:
                    for k in ks:
                        top = accuracy(STANDARD, clean, NONE, distance, k)
                        low = accuracy(STANDARD, query, NONE, distance, k)
                        restored = accuracy(keys, query, enhancer, distance, k)
                        gap = (restored - low) / (top - low) if top != low else float("nan")
                        rows.append(
                            (keys, query, enhancer, distance, k, top, low, restored, gap, psnr_value, ssim_value)
                        )
    return pd.DataFrame(rows, columns=list(ENHANCEMENT_COLUMNS))


def enhancement_markdown(table: pd.DataFrame, degraded_quality: Mapping[str, tuple[float, float]]) -> str:
    """The enhancement table at k = 1 per distance, one row per remedy (an enhancer, another
    key set, or both), the default enhancer of each set first, with the degraded set's own
    PSNR and SSIM for reference."""
    top1 = table[table["k"] == table["k"].min()]
    if "keys" not in top1:
        top1 = top1.assign(keys=STANDARD)
    k = int(top1["k"].iloc[0]) if len(top1) else 1
    distances = [d for d in DISTANCES if d in set(top1["distance"])]
    header = ["Query set", "Remedy", "PSNR (dB)", "SSIM"]
    for distance in distances:
        name = DISTANCE_NAMES.get(distance, distance)
        header += [f"{name}: clean", "degraded", "enhanced", "gap closed"]
    rows = []
    for query in dict.fromkeys(top1["query_set"]):
        psnr_value, ssim_value = degraded_quality[query]
        cells = [query, "(degraded)", f"{psnr_value:.2f}", f"{ssim_value:.3f}"]
        for distance in distances:
            first = top1[(top1["query_set"] == query) & (top1["distance"] == distance)].iloc[0]
            cells += [fmt(first["clean"]), fmt(first["degraded"]), MISSING, MISSING]
        rows.append(cells)
        part = top1[top1["query_set"] == query]
        for keys, enhancer in dict.fromkeys(zip(part["keys"], part["enhancer"], strict=True)):
            mine = part[(part["keys"] == keys) & (part["enhancer"] == enhancer)]
            cells = ["", remedy(keys, enhancer), f"{mine['psnr'].iloc[0]:.2f}", f"{mine['ssim'].iloc[0]:.3f}"]
            for distance in distances:
                row = mine[mine["distance"] == distance].iloc[0]
                gap = row["gap_closed"]
                cells += ["", "", fmt(row["enhanced"]), MISSING if np.isnan(gap) else f"{100 * gap:.0f} %"]
            rows.append(cells)
    others = [keys for keys in key_sets(top1) if keys != STANDARD]
    text = (
        f"Top-{k} matching accuracy (%) of each query set clean, degraded and after each remedy; clean and "
        "degraded are the standard keys' (the baseline), so every row closes the same gap: gap closed = "
        "(enhanced - degraded) / (clean - degraded): 100 % recovers the clean accuracy, below 0 % makes "
        "retrieval worse. PSNR and SSIM of the restored (or degraded) images against the clean ones. "
        "Each set's default enhancer (the one in Table 1) comes first; `enhancement.csv` has every k."
    )
    if others:
        text += (
            " `K keys` searches the unrestored queries with key set K (a classifier of its own embedding its "
            "own gallery), `K keys + enhancer` the restored ones."
        )
    return "\n".join(["# Enhancement: which remedy recovers retrieval\n", text + "\n", markdown_table(header, rows)])
