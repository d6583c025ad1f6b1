"""Stages of workflow/rules/calibrate.smk: the strength of each query set's degradation at which
its validation drop matches the paper's (`cbir.calibration`), and the figure of the curves.

The grid's query sets are degraded by `cbir.stages.sweep.degrade_sweep` and searched by
`cbir.stages.retrieve.search_query_sets`, so their files are those of any query set; here they
are reduced to top-1 hits (L2, the paper's Table 1 column) per query and replicate, and every
drop gets an interval from the evaluator's cluster bootstrap over objects and replicates.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import yaml

from cbir.calibration import INTERPOLATED, CalibrationError, crossing, grid_specs, rounded
from cbir.evaluation import object_ids
from cbir.fsutil import atomic_path
from cbir.h5store import read_retrieval
from cbir.measures import top_k_hits
from cbir.plots import save_figure
from cbir.seeding import stream_key
from cbir.stages.sweep import query_columns
from cbir.stats import Resampler

log = logging.getLogger("cbir.stages.calibrate")

PathLike = str | os.PathLike
DISTANCE = "l2"  # the paper's drops are read from its L2 rows
CONFIGURED = -1  # grid index of a query set at its configured strength
COLUMNS = (
    "query_set",
    "parameter",
    "value",
    "replicates",
    "top1",
    "top1_low",
    "top1_high",
    "drop",
    "drop_low",
    "drop_high",
    "target",
)
TOLERANCE = 0.2  # "matches the paper": a drop within +-20 % of the paper's


def degrade_calibration(
    *,
    validation: PathLike,
    outputs: Sequence[PathLike],
    grids: Mapping[str, Sequence[Sequence[dict]]],
    seed: int,
    rescale: str,
    chunk_size: int,
    threads: int,
) -> None:
    """Rule degrade_calibration: each calibrated query set's validation images at every grid
    strength (`grids`: set -> the degradation list per value; `outputs` in that order), drawn from
    the stream of the set's own validation queries (`validation/<set>`), so the grid value equal to
    the configured strength reproduces that query set."""
    from cbir.stages.sweep import degrade_sweep

    total = sum(len(specs) for specs in grids.values())
    if len(outputs) != total:
        raise CalibrationError(f"{len(outputs)} output files for {total} grid strengths")
    start = 0
    for qset, specs in grids.items():
        degrade_sweep(
            test=validation,
            outputs=outputs[start : start + len(specs)],
            severities=specs,
            sweep=qset,
            seed=seed,
            rescale=rescale,
            chunk_size=chunk_size,
            threads=threads,
            stream=f"validation/{qset}",
        )
        start += len(specs)


def _hits(gallery_labels: np.ndarray, embedding: PathLike, result: PathLike, labels0, groups0) -> np.ndarray:
    labels, groups = query_columns(embedding)
    if not (np.array_equal(labels, labels0) and np.array_equal(groups, groups0)):
        raise CalibrationError(f"{embedding}: not the same validation queries as the clean set")
    stored, _ = read_retrieval(result)
    if DISTANCE not in stored:
        raise CalibrationError(f"{result}: no {DISTANCE} results; calibration needs 'l2' in retrieval.distances")
    indices = np.asarray(stored[DISTANCE][0])
    if indices.ndim != 2 or indices.shape[0] != len(labels) or indices.shape[1] < 1:
        raise CalibrationError(f"{result}: {DISTANCE} results of shape {indices.shape} for {len(labels)} queries")
    if indices.size and (indices.min() < 0 or indices.max() >= len(gallery_labels)):
        raise CalibrationError(
            f"{result}: {DISTANCE} gallery indices {indices.min()}..{indices.max()} outside the gallery's "
            f"0..{len(gallery_labels) - 1}: the retrieval file is damaged or from another gallery; rerun its search"
        )
    return top_k_hits(gallery_labels[indices], labels, 1).astype(np.float64)


def parameter_text(vary: Mapping[str, str]) -> str:
    return ", ".join(f"{name}.{param}" for name, param in vary.items())


def configured_strength(specs: Sequence[Mapping], vary: Mapping[str, str]) -> float | None:
    """The value the config gives the varied parameters (None if they differ)."""
    values = {spec[vary[spec["name"]]] for spec in specs if spec["name"] in vary}
    return float(values.pop()) if len(values) == 1 else None


def evaluate_calibration(
    *,
    calibration: Mapping[str, Mapping],
    queries: Mapping[str, Sequence[Mapping]],
    runs: Sequence[Sequence],
    galleries: Sequence[PathLike],
    clean_embeddings: Sequence[PathLike],
    clean_results: Sequence[PathLike],
    embeddings: Sequence[PathLike],
    results: Sequence[PathLike],
    evaluation: Mapping,
    seed: int,
    csv: PathLike,
    markdown: PathLike,
) -> pd.DataFrame:
    """Rule evaluate_calibration: `runs` ((query set, grid index or CONFIGURED, replicate) of each
    `embeddings` / `results` file), each replicate's gallery and clean validation queries -> the
    curve of drops (clean - degraded top-1, points; mean over replicates with its interval) ->
    `csv`; the strength read off each curve at the paper's drop, with the configured strength's
    measured drop and a config snippet -> `markdown`."""
    n_rep = len(galleries)
    if not (len(clean_embeddings) == len(clean_results) == n_rep):
        raise CalibrationError(f"{n_rep} galleries but {len(clean_embeddings)} clean validation query files")
    if not (len(runs) == len(embeddings) == len(results)):
        raise CalibrationError(f"{len(runs)} runs, {len(embeddings)} embedding files, {len(results)} result files")
    labels0, instances0 = query_columns(clean_embeddings[0])
    gallery_labels = [query_columns(path)[0] for path in galleries]
    clean = np.stack(
        [
            _hits(g, e, r, labels0, instances0)
            for g, e, r in zip(gallery_labels, clean_embeddings, clean_results, strict=True)
        ]
    )
    hits: dict[tuple[str, int], list] = {}
    for (qset, index, rep), embedding, result in zip(runs, embeddings, results, strict=True):
        cell = hits.setdefault((str(qset), int(index)), [None] * n_rep)
        cell[int(rep)] = _hits(gallery_labels[int(rep)], embedding, result, labels0, instances0)
    resampler = Resampler(
        object_ids(labels0, instances0),
        seed=stream_key(seed, "bootstrap"),
        n_replicates=n_rep,
        n_resamples=evaluation["resamples"],
        level=evaluation["level"],
    )
    rows = []
    for (qset, index), per_rep in hits.items():
        if any(h is None for h in per_rep):
            raise CalibrationError(f"query set {qset!r}: a replicate's search is missing")
        spec = calibration[qset]
        vary = spec.get("vary") or {}
        if index == CONFIGURED:
            value = configured_strength(queries[qset], vary) if vary else math.nan
        else:
            value = float(spec["values"][index])
        degraded = np.stack(per_rep)
        top1 = resampler.mean(degraded).scaled(100.0)
        drop = resampler.difference(clean, degraded).scaled(100.0)
        rows.append(
            (qset, parameter_text(vary), value, index == CONFIGURED, n_rep, top1.value, top1.low, top1.high)
            + (drop.value, drop.low, drop.high, float(spec["drop"]))
        )
    frame = pd.DataFrame(rows, columns=[*COLUMNS[:3], "configured", *COLUMNS[3:]])
    frame.attrs["clean"] = resampler.mean(clean).scaled(100.0)
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    text = calibration_markdown(frame, calibration, queries, n_objects=resampler.n_groups, level=resampler.level)
    with atomic_path(markdown) as tmp:
        tmp.write_text(text)
    log.info("calibration of %d query sets from %d replicates -> %s", len(calibration), n_rep, csv)
    return frame


def read_offs(frame: pd.DataFrame) -> dict[str, tuple[float, str]]:
    """Query set -> (strength, status) read off its grid curve at the target drop."""
    out = {}
    for qset, rows in frame[~frame["configured"]].groupby("query_set", sort=False):
        rows = rows.sort_values("value")
        out[str(qset)] = crossing(rows["value"], rows["drop"], float(rows["target"].iloc[0]))
    return out


def _interval(value, low, high) -> str:
    return f"{value:.1f} [{low:.1f}, {high:.1f}]"


def calibration_markdown(
    frame: pd.DataFrame, calibration: Mapping, queries: Mapping, *, n_objects: int, level: float
) -> str:
    """The summary (target, strength read off, configured strength and its measured drop), each
    curve, and the query sets at the read-off strengths as a config snippet."""
    offs = read_offs(frame)
    clean = frame.attrs["clean"]
    lines = [
        "# Calibration: degradation strengths matched to the paper's drops",
        "",
        f"Validation split, standard keys, L2 top-1, mean of {int(frame['replicates'].iloc[0])} replicate(s); "
        f"clean queries {_interval(clean.value, clean.low, clean.high)} %. A drop is clean - degraded in points, "
        f"its {round(100 * level)} % interval from the bootstrap over the {n_objects} objects behind the queries "
        "and the replicates. The strength is read off the curve of drops by linear interpolation at the first "
        "grid value whose drop reaches the paper's; it is rounded to two significant digits.",
        "",
        "| Query set | Parameter | Paper's drop | Read-off strength | Configured strength | Drop at configured | "
        "Within +-20 % |",
        "|---|---|---|---|---|---|---|",
    ]
    configured = frame[frame["configured"]].set_index("query_set")
    snippet = {}
    for qset, spec in calibration.items():
        vary = spec.get("vary") or {}
        target = float(spec["drop"])
        if qset in offs:
            strength, status = offs[qset]
            read = f"{rounded(strength):g}" + ("" if status == INTERPOLATED else f" ({status})")
            snippet[qset] = grid_specs(queries[qset], vary, rounded(strength))
        else:
            read = "– (not varied)"
        if qset in configured.index:
            row = configured.loc[qset]
            now = "–" if math.isnan(row["value"]) else f"{row['value']:g}"
            measured = _interval(row["drop"], row["drop_low"], row["drop_high"])
            ok = "yes" if abs(row["drop"] - target) <= TOLERANCE * target else "no"
        else:
            now, measured, ok = "–", "–", "–"
        lines.append(f"| {qset} | {parameter_text(vary) or '–'} | {target:.1f} | {read} | {now} | {measured} | {ok} |")
    for qset, rows in frame[~frame["configured"]].groupby("query_set", sort=False):
        lines += [
            "",
            f"## {qset}: drop by {rows['parameter'].iloc[0]}",
            "",
            "| Value | Top 1 | Drop |",
            "|---|---|---|",
        ]
        for row in rows.sort_values("value").itertuples():
            lines.append(
                f"| {row.value:g} | {_interval(row.top1, row.top1_low, row.top1_high)} | "
                f"{_interval(row.drop, row.drop_low, row.drop_high)} |"
            )
    if snippet:
        body = yaml.safe_dump({"queries": snippet}, default_flow_style=None, sort_keys=False)
        lines += ["", "## The query sets at the read-off strengths (for a config)", "", "```yaml", body.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def plot_calibration(*, table: PathLike, output: PathLike) -> None:
    """Rule plot_calibration: one panel per varied query set, its drop against the strength with the
    interval band, the paper's drop and the read-off strength; the configured strength as a point."""
    import matplotlib.pyplot as plt

    frame = pd.read_csv(table)
    offs = read_offs(frame)
    sets = list(frame["query_set"].unique())
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 3.4), squeeze=False)
    for ax, qset in zip(axes[0], sets, strict=True):
        rows = frame[frame["query_set"] == qset]
        grid = rows[~rows["configured"]].sort_values("value")
        target = float(rows["target"].iloc[0])
        ax.axhline(target, color="0.4", ls="--", lw=1, label=f"paper's drop {target:.1f}")
        if len(grid):
            ax.fill_between(grid["value"], grid["drop_low"], grid["drop_high"], color="C0", alpha=0.2, lw=0)
            ax.plot(grid["value"], grid["drop"], "o-", color="C0", ms=3, label="validation drop")
            strength, _ = offs[qset]
            ax.axvline(strength, color="C3", lw=1.5, label=f"read off {rounded(strength):g}")
            ax.set_xlabel(grid["parameter"].iloc[0])
        else:
            ax.set_xticks([])
            ax.set_xlabel("configured strength (not varied)")
        for row in rows[rows["configured"]].itertuples():
            x = 0.0 if math.isnan(row.value) else row.value  # a set measured only: at 0
            ax.errorbar(
                [x],
                [row.drop],
                yerr=[[row.drop - row.drop_low], [row.drop_high - row.drop]],
                fmt="s",
                color="C1",
                label="configured",
            )
        ax.set_title(qset)
        ax.set_ylabel("top-1 drop (points, L2)")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("Calibration on the validation split: drop against strength", y=1.03)
    save_figure(fig, output)
