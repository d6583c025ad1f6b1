"""The blind table (tables/blind.{csv,md}): remedies for queries whose degradation nobody
announces, on a mixture, on each paper set and on the clean queries, with every key set.

Remedies: `none` (the queries as they are), `oracle` (each query to its true kind's restorer:
on a mixture the router `route: truth`, on a paper set its default restorer, on clean queries
nothing), `blind` (the router `route: detector`) and `universal` (one restorer trained on every
kind and on clean images). Values are top-k accuracies in percent, the mean over replicates with
the table's interval; `gap_closed` is a fraction of the standard keys' clean - degraded gap, like
tables/enhancement.csv; `change` is the paired difference to the standard keys' unremedied set;
`of_oracle` is the remedy's gain as a fraction of the oracle's (same keys), paired.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from cbir.blind_plan import REMEDIES
from cbir.blind_plan import remedy_sets as remedy_sets  # re-exported: the table's plan
from cbir.stats import Resampler, gap_closed, mcnemar_exact
from cbir.tables import STANDARD, fmt, markdown_table

BLIND_COLUMNS = (
    "keys", "remedy", "query_set", "distance", "k", "value", "low", "high",
    "gap_closed", "gap_closed_low", "gap_closed_high", "change", "change_low", "change_high", "p_value",
    "of_oracle", "of_oracle_low", "of_oracle_high", "image_set",
)  # fmt: skip


def blind_frame(
    hits,
    resampler: Resampler,
    *,
    key_sets: Sequence[str],
    plan: Mapping[str, Mapping[str, str]],
    clean: str,
    combos: Sequence[tuple[str, int]],
) -> pd.DataFrame:
    """BLIND_COLUMNS for every key set, query set (`plan`: query set -> remedy -> image set, in
    table order), remedy and (distance, k). `hits(keys, image set, distance, k)` gives the
    [replicates, Nq] hits of a search."""
    nan = (math.nan,) * 3
    rows = []
    for keys in key_sets:
        for query, sets in plan.items():
            for remedy in REMEDIES:
                if remedy not in sets:
                    continue
                for distance, k in combos:
                    base = hits(STANDARD, query, distance, k)
                    values = hits(keys, sets[remedy], distance, k)
                    cell = resampler.mean(values).scaled(100.0)
                    change = resampler.difference(values, base).scaled(100.0)
                    p_value = mcnemar_exact(values > 0.5, base > 0.5)
                    gap = nan
                    if query != clean:
                        closed = gap_closed(resampler, hits(STANDARD, clean, distance, k), base, values)
                        gap = (closed.value, closed.low, closed.high)
                    of_oracle = nan
                    if remedy in ("blind", "universal") and "oracle" in sets and query != clean:
                        own = hits(keys, sets["none"], distance, k)
                        ratio, _ = resampler.ratio(values, own, hits(keys, sets["oracle"], distance, k), own)
                        of_oracle = (ratio.value, ratio.low, ratio.high)
                    rows.append(
                        (keys, remedy, query, distance, k, cell.value, cell.low, cell.high, *gap,
                         change.value, change.low, change.high, p_value, *of_oracle, sets[remedy])
                    )  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(BLIND_COLUMNS))
    frame.attrs = {"level": resampler.level}
    return frame


def _pct(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "–"
    return f"{100 * value:.0f} % [{100 * low:.0f}, {100 * high:.0f}]"


def blind_markdown(frame: pd.DataFrame, *, distance: str, k: int, n_objects: int | None, replicates: int) -> str:
    """The blind table at one (distance, k): a row per key set and remedy, a column group per
    query set (top-k with its interval, and the share of the gap closed)."""
    part = frame[(frame.distance == distance) & (frame.k == k)]
    queries = list(dict.fromkeys(part.query_set))
    header = ["keys", "remedy", *[f"{q}" for q in queries]]
    body = []
    for (keys, remedy), group in part.groupby(["keys", "remedy"], sort=False):
        cells = []
        for query in queries:
            row = group[group.query_set == query]
            if row.empty:
                cells.append("–")
                continue
            r = row.iloc[0]
            text = f"{fmt(r.value)} [{fmt(r.low, 1)}, {fmt(r.high, 1)}]"
            if not math.isnan(r.gap_closed) and not (keys == STANDARD and remedy == "none"):  # 0 by definition
                text += f"; gap {_pct(r.gap_closed, r.gap_closed_low, r.gap_closed_high)}"
            if not math.isnan(r.of_oracle):
                text += f"; {_pct(r.of_oracle, r.of_oracle_low, r.of_oracle_high)} of oracle"
            cells.append(text)
        body.append([keys, remedy, *cells])
    objects = f" over {n_objects} objects" if n_objects else ""
    return (
        f"# Unannounced degradations: top-{k} accuracy ({distance}), %\n\n"
        + markdown_table(header, body)
        + f"\n\nMean of {replicates} replicate(s); 95 % intervals resample the objects{objects} and the "
        "replicates. gap: the share of the standard keys' clean - degraded gap the remedy closes; "
        "of oracle: the remedy's gain over the same keys' unremedied queries as a share of the oracle "
        "routing's. oracle on a paper set is its default restorer, on clean queries nothing; blind "
        "routes by the detector; universal is one restorer trained on every kind and clean images.\n"
    )
