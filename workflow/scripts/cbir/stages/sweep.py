"""Stages of workflow/rules/sweep.smk: severity sweeps, from degraded query sets to the
robustness table and curves.

Every severity of a sweep is an ordinary query set (`cbir.stages.degrade.degrade_query_set`,
stream = the sweep's name at every severity), restored, embedded and searched by the same
stage functions as the configured query sets, so the files have the same formats; one job
handles all severities of a sweep. Modules that import torch are imported by the stages that
need them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import pandas as pd

from cbir.fsutil import atomic_path
from cbir.h5store import read_embeddings, read_retrieval
from cbir.plots import save_figure
from cbir.tables import NONE, SEPARATOR, TableError

log = logging.getLogger("cbir.stages.sweep")

PathLike = str | os.PathLike


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
) -> None:
    """Rule degrade_sweep: the query set of every severity of `sweep` (`severities`: the
    degradation list of each, `cbir.config.severity_specs`) -> `outputs`, in order."""
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
) -> None:
    """Rule enhance_sweep: every severity's query set of `sweep` restored by the enhancer
    `name` (a network whose checkpoint is `model`, or a classical method)."""
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
        )


def retrieve_sweep(
    *,
    model: PathLike,
    gallery: PathLike,
    queries: Sequence[PathLike],
    embeddings: Sequence[PathLike],
    results: Sequence[PathLike],
    sweep: str,
    variant: str,
    runtime: dict,
    batch_size: int,
    distances: list[str],
    k: int,
    chunk_size: int,
    threads: int,
) -> None:
    """Rule retrieve_sweep: each severity's image set (`queries`: unrestored, or restored by
    the enhancer `variant`) embedded by one key set's classifier (`model`) -> `embeddings`,
    and its top-k against that key set's `gallery` embeddings -> `results`."""
    from cbir.stages.retrieve import embed_images, retrieve_topk

    _check_count(f"sweep {sweep} ({variant})", embeddings, len(queries))
    _check_count(f"sweep {sweep} ({variant})", results, len(queries))
    name = sweep if variant == NONE else f"{sweep}{SEPARATOR}{variant}"
    for source, embedding, result in zip(queries, embeddings, results, strict=True):
        embed_images(
            model=model,
            images=source,
            output=embedding,
            name=name,
            runtime=runtime,
            batch_size=batch_size,
            threads=threads,
        )
        retrieve_topk(
            gallery=gallery,
            queries=embedding,
            output=result,
            distances=distances,
            k=k,
            chunk_size=chunk_size,
            threads=threads,
        )


def clean_levels(retrieval: PathLike, *, clean: str, distance: str, k: int) -> dict[str, float]:
    """Key set -> top-k accuracy (%) of the clean query set `clean`, from retrieval.csv."""
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
    return {str(keys): float(value) for keys, value in zip(rows["keys"], rows["value"], strict=True)}


def evaluate_robustness(
    *,
    retrieval: PathLike,
    galleries: Mapping[str, PathLike],
    runs: Sequence[Sequence],
    embeddings: Sequence[PathLike],
    results: Sequence[PathLike],
    clean: str,
    ks: list[int],
    distance: str,
    k: int,
    csv: PathLike,
    markdown: PathLike,
) -> pd.DataFrame:
    """Rule evaluate_robustness: top-k accuracy of every sweep retrieval (`runs`: (keys,
    enhancer, sweep, severity) of each `embeddings` / `results` file; labels from the
    embedding files, so every number can be recomputed from them) -> `csv`, and the summary
    per remedy at (`distance`, `k`) with the clean levels from `retrieval` (retrieval.csv) -> `markdown`."""
    from cbir.robustness import robustness_markdown, robustness_table, summary

    if not len(runs) == len(embeddings) == len(results):
        raise TableError(f"{len(runs)} sweep runs, {len(embeddings)} embedding files, {len(results)} result files")
    gallery_labels = {keys: read_embeddings(path).labels for keys, path in galleries.items()}

    def load():
        for (keys, enhancer, sweep, severity), embedding, result in zip(runs, embeddings, results, strict=True):
            stored, _ = read_retrieval(result)
            yield str(keys), str(enhancer), str(sweep), int(severity), read_embeddings(embedding).labels, stored

    table = robustness_table(gallery_labels, load(), ks)
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    levels = clean_levels(retrieval, clean=clean, distance=distance, k=k)
    remedies = summary(table, distance=distance, k=k)
    text = robustness_markdown(table, remedies, clean=levels, distance=distance, k=k)
    with atomic_path(markdown) as tmp:
        tmp.write_text(text)
    log.info("wrote %s (%d rows) and %s", csv, len(table), markdown)
    for row in remedies.itertuples():
        log.info(
            "%s keys, %s: mean error %.2f %%, relative %.3f", row.keys, row.remedy, row.mean_error, row.relative_error
        )
    return table


def plot_robustness(
    *, table: PathLike, retrieval: PathLike, clean: str, distance: str, k: int, output: PathLike
) -> None:
    """Rule plot_robustness: top-k accuracy against severity, a panel per sweep, a line per remedy."""
    from cbir.plots.robustness import robustness_figure

    levels = clean_levels(retrieval, clean=clean, distance=distance, k=k)
    save_figure(robustness_figure(pd.read_csv(table), clean=levels, distance=distance, k=k), output)
    log.info("wrote %s", output)
