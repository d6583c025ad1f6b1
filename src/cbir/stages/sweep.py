"""Stages of workflow/rules/sweep.smk: severity sweeps, from degraded query sets to the
robustness table and curves.

Every severity of a sweep is an ordinary query set (`cbir.stages.degrade.degrade_query_set`,
stream = the sweep's name at every severity), restored, embedded and searched by the same
stage functions as the configured query sets, so the files have the same formats; one job
handles all severities of a sweep. Modules that import torch are imported by the stages that
need them. The sweep files are read here (`query_columns`, `load_cells`); what is computed from
them is `cbir.robustness`'s and the report's text `cbir.robustness_tables`'s, which touch no file.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from cbir.evaluation import object_ids, per_query_values
from cbir.fsutil import atomic_path
from cbir.h5store import read_columns, read_ranking_measures, read_retrieval
from cbir.layout import restored_name
from cbir.plots import save_figure
from cbir.robustness import COLUMNS, Cells, distance_order, labelled, severity_labels, summary, sweep_cells
from cbir.robustness_tables import robustness_markdown
from cbir.seeding import stream_key
from cbir.stats import Resampler
from cbir.tables import NONE, TableError

log = logging.getLogger("cbir.stages.sweep")

PathLike = str | os.PathLike
# ((keys, enhancer, sweep, severity), embeddings file, retrieval file)
Item = tuple[tuple[str, str, str, int], PathLike, PathLike]
PARTS = {"": "test", "validation/": "validation"}  # a sweep run's part (workflow/rules/common.smk) -> its split


def _check_count(what: str, files: Sequence, count: int) -> None:
    if len(files) != count:
        raise ValueError(f"{what}: {len(files)} files for {count} severities")


def degrade_sweep(
    *,
    test: PathLike,
    outputs: Sequence[PathLike],
    severities: Sequence[Sequence[dict]],
    sweep: str,
    seed: int,
    rescale: str,
    chunk_size: int,
    threads: int,
    stream: str | None = None,
) -> None:
    """Rule degrade_sweep: the query set of every severity of `sweep` (`severities`: the
    degradation list of each, `cbir.config.severity_specs`) -> `outputs`, in order; random
    stream `stream` (default: the sweep's name, the same at every severity)."""
    from cbir.stages.degrade import degrade_query_set

    _check_count(f"sweep {sweep}", outputs, len(severities))
    for n, (output, specs) in enumerate(zip(outputs, severities, strict=True), start=1):
        degrade_query_set(
            test=test,
            output=output,
            specs=specs,
            query=sweep,
            seed=seed,
            rescale=rescale,
            chunk_size=chunk_size,
            threads=threads,
            extra_attrs={"sweep": sweep, "severity": n},
            stream=stream or sweep,
        )


def enhance_sweep(
    *,
    queries: Sequence[PathLike],
    model: PathLike | None,
    outputs: Sequence[PathLike],
    sweep: str,
    name: str,
    enhancer: dict,
    runtime: dict,
    batch_size: int,
    threads: int,
    tuned: PathLike | None = None,
    expect: Mapping | None = None,
) -> None:
    """Rule enhance_sweep: every severity's query set of `sweep` restored by the enhancer
    `name` (a network whose checkpoint is `model`, or a classical method whose `auto`
    parameters come from `tuned`); `expect`: what the checkpoint must be (`load_network`)."""
    from cbir.stages.enhance import enhance_query_set

    _check_count(f"sweep {sweep} restored by {name}", outputs, len(queries))
    for source, output in zip(queries, outputs, strict=True):
        enhance_query_set(
            queries=source,
            model=model,
            output=output,
            query=sweep,
            name=name,
            enhancer=enhancer,
            runtime=runtime,
            batch_size=batch_size,
            threads=threads,
            tuned=tuned,
            expect=expect,
        )


def retrieve_sweep(
    *,
    model: PathLike,
    gallery: PathLike,
    queries: Sequence[PathLike],
    embeddings: Sequence[PathLike],
    results: Sequence[PathLike],
    sweep: str,
    enhancer: str,
    runtime: dict,
    batch_size: int,
    distances: list[str],
    k: int,
    chunk_size: int,
    threads: int,
    expect: Mapping | None = None,
) -> None:
    """Rule retrieve_sweep: each severity's image set (`queries`: restored by `enhancer`, or
    unrestored where it is `none`) embedded by one key set's classifier (`model`) -> `embeddings`,
    and its top-k and whole-ranking measures against that key set's `gallery` embeddings ->
    `results` (`retrieve_topk`, so the files are those of the configured query sets); `expect`:
    what the checkpoint must be (`load_network`)."""
    from cbir.stages.retrieve import search_query_sets

    _check_count(f"sweep {sweep} ({enhancer})", embeddings, len(queries))
    _check_count(f"sweep {sweep} ({enhancer})", results, len(queries))
    name = restored_name(sweep, enhancer)
    search_query_sets(
        model=model,
        gallery=gallery,
        images=list(queries),
        names=[name] * len(queries),
        embeddings=list(embeddings),
        results=list(results),
        runtime=runtime,
        batch_size=batch_size,
        distances=distances,
        k=k,
        chunk_size=chunk_size,
        threads=threads,
        expect=expect,
    )


def clean_levels(retrieval: PathLike, *, clean: str, distance: str, k: int) -> dict[str, float]:
    """Key set -> top-k accuracy (%) of the clean query set `clean`, from retrieval.csv (the
    evaluator's long table: value, low, high, chance; whole-ranking measures at k = 0)."""
    frame = pd.read_csv(retrieval)
    rows = frame[
        (frame["query_set"] == clean)
        & (frame["enhancer"] == NONE)
        & (frame["distance"] == distance)
        & (frame["measure"] == "top_k_accuracy")
        & (frame["k"] == k)
    ]
    if rows.empty:
        raise TableError(f"{retrieval}: no top-{k} {distance} accuracy of the clean query set {clean!r}")
    if rows["keys"].duplicated().any():
        raise TableError(f"{retrieval}: two top-{k} {distance} rows of the clean query set {clean!r} for one key set")
    return {str(keys): float(value) for keys, value in zip(rows["keys"], rows["value"], strict=True)}


def query_columns(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(labels, instances) of an embedding file, without its features (hundreds of files are read)."""
    with h5py.File(path, "r") as h5:
        columns = read_columns(h5, Path(path))
    return columns["label"], columns["instance"]


def source_specs(path: PathLike) -> list[dict] | None:
    """The degradation list the queries of an embedding file were degraded with: the `specs`
    attribute of the image set it embedded (a restored set keeps its query set's), or None where
    the file does not say."""
    with h5py.File(path, "r") as h5:
        meta = h5.attrs.get("meta")
    try:
        source = json.loads(meta).get("source_attrs") if meta is not None else None
    except ValueError as exc:
        raise TableError(f"{path}: unreadable attributes ({exc})") from exc
    specs = source.get("specs") if isinstance(source, dict) else None
    return specs if isinstance(specs, list) else None


def sweep_labels(items: Sequence[Item]) -> dict[tuple[str, int], tuple[str, str]]:
    """(sweep, severity) -> (parameter, value) of every sweep of `items`
    (`cbir.robustness.severity_labels`), from the first embedding file of each severity."""
    specs: dict[str, dict[int, list[dict] | None]] = {}
    for (_keys, _enhancer, sweep, severity), embedding, _result in items:
        if severity not in specs.setdefault(sweep, {}):
            specs[sweep][severity] = source_specs(embedding)
    return {
        (sweep, severity): label
        for sweep, per in specs.items()
        for severity, label in severity_labels(dict(sorted(per.items()))).items()
    }


def load_cells(
    items: Sequence[Item],
    gallery_labels: Mapping[str, np.ndarray],
    ks: Sequence[int],
    *,
    seed: int,
    resamples: int,
    level: float,
    extra: Sequence[Item] = (),
) -> tuple[Cells, Cells | None]:
    """The Cells of one split's files through the evaluator (`per_query_values`), with one
    resampler over the objects (`object_ids`) behind the first file's queries, seeded from the
    master `seed` like the retrieval tables; and the Cells of `extra` (the clean queries) with
    the same resampler. Every file must hold the same queries (labels and objects), else the
    shared resamples would mean different objects: TableError."""
    reference = items[0][1]
    labels0, groups0 = query_columns(reference)
    resampler = Resampler(
        object_ids(labels0, groups0), seed=stream_key(seed, "bootstrap"), n_resamples=resamples, level=level
    )

    def runs(chosen):
        for (keys, enhancer, sweep, severity), embedding, result in chosen:
            if keys not in gallery_labels:
                raise TableError(f"{result}: no gallery for key set {keys!r} (have {sorted(gallery_labels)})")
            labels, groups = query_columns(embedding)
            if not (np.array_equal(labels, labels0) and np.array_equal(groups, groups0)):
                raise TableError(f"{embedding}: not the same queries (labels or objects) as {reference}")
            stored, _ = read_retrieval(result)
            measures = read_ranking_measures(result)
            values = per_query_values(gallery_labels[keys], labels, stored, measures, ks, where=str(result))
            yield keys, enhancer, sweep, severity, values

    return sweep_cells(runs(items), resampler), (sweep_cells(runs(extra), resampler) if extra else None)


def evaluate_robustness(
    *,
    retrieval: PathLike,
    galleries: Mapping[str, PathLike],
    runs: Sequence[Sequence],
    embeddings: Sequence[PathLike],
    results: Sequence[PathLike],
    clean_embeddings: Mapping[str, PathLike],
    clean_results: Mapping[str, PathLike],
    clean: str,
    ks: list[int],
    k: int,
    evaluation: Mapping,
    seed: int,
    csv: PathLike,
    markdown: PathLike,
) -> pd.DataFrame:
    """Rule evaluate_robustness: every sweep retrieval (`runs`: (part, keys, enhancer, sweep,
    severity) of each `embeddings` / `results` file, part "" the test split, "validation/" the
    validation split) through the evaluator, one resampler per split (config `evaluation`,
    seeded from `seed`) -> `csv` (the test split's cells, each severity with the parameter value it
    stands for, read from the embedding files' provenance: `sweep_labels`); the summary per remedy at each
    distance and k, with best restorers chosen on validation and the clean errors of each key
    set's clean test queries (`clean_embeddings` / `clean_results`, key set -> file) -> `markdown`.
    Labels and objects come from the embedding files, so every number can be recomputed from
    them. retrieval.csv (`retrieval`) is only compared with the clean accuracy, in the log:
    it averages replicates, the sweeps use the first one."""
    if not len(runs) == len(embeddings) == len(results):
        raise TableError(f"{len(runs)} sweep runs, {len(embeddings)} embedding files, {len(results)} result files")
    gallery_labels = {keys: query_columns(path)[0] for keys, path in galleries.items()}
    splits: dict[str, list] = {split: [] for split in PARTS.values()}
    for (part, keys, enhancer, sweep, severity), embedding, result in zip(runs, embeddings, results, strict=True):
        if part not in PARTS:
            raise TableError(f"{result}: unknown part {part!r} (expected one of {sorted(PARTS)})")
        splits[PARTS[part]].append(((str(keys), str(enhancer), str(sweep), int(severity)), embedding, result))
    for split, items in splits.items():
        if not items:
            raise TableError(f"no sweep retrievals of the {split} split (best restorers are chosen on validation)")
    missing = [keys for keys in gallery_labels if keys not in clean_embeddings or keys not in clean_results]
    if missing:
        raise TableError(f"no clean test queries of the key sets {missing}")
    clean_items = [((keys, NONE, clean, 0), clean_embeddings[keys], clean_results[keys]) for keys in gallery_labels]
    bootstrap = {"seed": seed, "resamples": evaluation["resamples"], "level": evaluation["level"]}
    # the clean test queries: the test split's resampler (same queries, checked), so E_clean pairs with E
    test, clean_cells = load_cells(splits["test"], gallery_labels, ks, **bootstrap, extra=clean_items)
    validation, _ = load_cells(splits["validation"], gallery_labels, ks, **bootstrap)

    labels = sweep_labels(splits["test"])
    table = labelled(test.table[list(COLUMNS)], labels)
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    distances = distance_order(table["distance"])
    summaries = {d: summary(test, validation, clean_cells, distance=d, k=k) for d in distances}
    text = robustness_markdown(test, validation, clean_cells, summaries, k=k, labels=labels)
    with atomic_path(markdown) as tmp:
        tmp.write_text(text)
    log.info("wrote %s (%d rows) and %s", csv, len(table), markdown)
    ours = clean_cells.table
    for distance in distances:
        listed = clean_levels(retrieval, clean=clean, distance=distance, k=k)
        for row in ours[(ours["distance"] == distance) & (ours["k"] == k)].itertuples():
            log.info(
                "clean top-%d %s accuracy, %s keys: %.2f %% (the sweeps' classifiers), %s %% in retrieval.csv",
                k,
                distance,
                row.keys,
                row.top_k_accuracy,
                f"{listed[row.keys]:.2f}" if row.keys in listed else "no row",
            )
        for row in summaries[distance].itertuples():
            log.info(
                "%s, %s keys, %s: mean error %.2f %%, pooled error ratio %.3f, mCE %.3f, relative mCE %.3f",
                distance,
                row.keys,
                row.remedy,
                row.mean_error,
                row.error_ratio,
                row.mce,
                row.relative_mce,
            )
    return table


def plot_robustness(
    *, table: PathLike, retrieval: PathLike, clean: str, distance: str, k: int, output: PathLike
) -> None:
    """Rule plot_robustness: top-k accuracy against severity with its interval band, a panel
    per sweep, a line per remedy."""
    from cbir.plots.robustness import robustness_figure

    levels = clean_levels(retrieval, clean=clean, distance=distance, k=k)
    save_figure(robustness_figure(pd.read_csv(table), clean=levels, distance=distance, k=k), output)
    log.info("wrote %s", output)
