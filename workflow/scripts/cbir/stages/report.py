"""Stages of workflow/rules/report.smk: the retrieval tables and the retrieval figures."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from cbir.fsutil import atomic_path
from cbir.h5store import read_embeddings, read_image_set, read_retrieval
from cbir.imagemath import psnr, ssim
from cbir.norb import CATEGORIES
from cbir.plots import save_figure
from cbir.plots.enhancement import gap_closed_figure
from cbir.plots.retrieval import retrieval_figure
from cbir.runtime_tables import runtime_markdown, runtime_summary
from cbir.tables import (
    SEPARATOR,
    STANDARD,
    TableError,
    enhancement_markdown,
    enhancement_table,
    evaluate,
    queries_markdown,
    table1_markdown,
)

log = logging.getLogger("cbir.stages.report")

PathLike = str | os.PathLike


def _write_text(path: PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def evaluate_retrieval(
    *,
    galleries: Mapping[str, PathLike],
    embeddings: Mapping[str, Mapping[str, PathLike]],
    results: Mapping[str, Mapping[str, PathLike]],
    ks: list[int],
    defaults: Mapping[str, str],
    csv: PathLike,
    table1: PathLike,
    per_query: PathLike,
) -> pd.DataFrame:
    """Rule evaluate_retrieval: `galleries` maps each key set to its gallery embeddings,
    `embeddings` and `results` map it to its query sets (in table order) -> their embeddings
    and top-k files. Each key set is evaluated against its own gallery, standard first; labels
    come from the embedding files, so every number can be recomputed from them alone.
    `defaults`: query set -> the enhancer Table 1 shows."""
    if STANDARD not in galleries:
        raise TableError(f"no {STANDARD} key set among {sorted(galleries)}")
    if not set(galleries) == set(embeddings) == set(results):
        raise TableError(
            f"key sets differ: galleries {sorted(galleries)}, embeddings {sorted(embeddings)}, results {sorted(results)}"
        )
    frames = []
    for keys in sorted(galleries, key=lambda name: name != STANDARD):
        if set(embeddings[keys]) != set(results[keys]):
            raise TableError(
                f"query sets differ ({keys} keys): embeddings {sorted(embeddings[keys])}, results {sorted(results[keys])}"
            )
        gallery = galleries[keys]
        query_sets = {}
        for qset, path in embeddings[keys].items():
            stored, _ = read_retrieval(results[keys][qset])
            query_sets[qset] = (read_embeddings(path).labels, stored)
        try:
            frames.append(evaluate(read_embeddings(gallery).labels, query_sets, ks, keys=keys))
        except TableError as exc:
            raise TableError(f"{exc} ({keys} keys, gallery {gallery})") from None
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs = dict(frames[0].attrs)  # gallery and query counts of the standard keys
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6f")
    _write_text(table1, table1_markdown(frame, defaults, ks))
    qsets = list(dict.fromkeys(qset for names in embeddings.values() for qset in names))
    _write_text(per_query, queries_markdown(frame, qsets))
    log.info("wrote %s, %s and %s (%d rows)", csv, table1, per_query, len(frame))
    return frame


def plot_retrieval(
    *, results: PathLike, queries: PathLike, gallery: PathLike, output: PathLike, name: str, n_queries: int, seed: int
) -> None:
    """Rule plot_retrieval: a query set's queries and their top results per distance."""
    stored, _ = read_retrieval(results)
    query_set = read_image_set(queries)
    gallery_set = read_image_set(gallery)
    for distance, (indices, _scores) in stored.items():
        if len(indices) != len(query_set):
            raise ValueError(
                f"{results}: {len(indices)} result rows for {distance} but {len(query_set)} images in {queries}"
            )
        if indices.size and indices.max() >= len(gallery_set):
            raise ValueError(f"{results}: gallery index {indices.max()} outside {gallery} ({len(gallery_set)} images)")
    fig = retrieval_figure(
        stored,
        query_set.images,
        query_set.labels,
        gallery_set.images,
        gallery_set.labels,
        name=name,
        categories=CATEGORIES,
        n_queries=n_queries,
        seed=seed,
    )
    save_figure(fig, output)
    log.info("wrote %s", output)


def _quality(clean, path: PathLike) -> tuple[float, float]:
    """Mean PSNR and SSIM of the image set at `path` against the clean test images."""
    images = read_image_set(path)
    if not np.array_equal(images.labels, clean.labels):
        raise TableError(f"{path} does not hold the test images in their order (labels differ)")
    return float(psnr(clean.images, images.images).mean()), float(ssim(clean.images, images.images).mean())


def evaluate_enhancement(
    *,
    retrieval: PathLike,
    test: PathLike,
    degraded: Mapping[str, PathLike],
    restored: Mapping[str, PathLike],
    enhance: Mapping[str, list[str]],
    clean: str,
    csv: PathLike,
    markdown: PathLike,
) -> pd.DataFrame:
    """Rule evaluate_enhancement: for every key set, query set and remedy (an enhancer, another
    key set or both) the top-k accuracies clean and degraded (the standard keys') and after
    the remedy (from `retrieval`, the retrieval.csv), the share of the gap closed, and PSNR /
    SSIM of the images searched against the clean test images (`test`).
    `degraded`: query set -> its image set; `restored`: <query>__<enhancer> -> its image set."""
    frame = pd.read_csv(retrieval)
    clean_images = read_image_set(test)
    quality = {name: _quality(clean_images, path) for name, path in restored.items()}
    degraded_quality = {name: _quality(clean_images, path) for name, path in degraded.items()}
    missing = {f"{q}{SEPARATOR}{e}" for q, names in enhance.items() for e in names} - set(quality)
    if missing:
        raise TableError(f"no restored image set for {sorted(missing)}")
    table = enhancement_table(frame, {**degraded_quality, **quality}, enhance, clean)
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    _write_text(markdown, enhancement_markdown(table, degraded_quality))
    log.info("wrote %s and %s (%d rows)", csv, markdown, len(table))
    return table


def plot_gap_closed(*, enhancement: PathLike, output: PathLike, distance: str, k: int) -> None:
    """Rule plot_gap_closed: bars of the gap each enhancer closes, from enhancement.csv."""
    save_figure(gap_closed_figure(pd.read_csv(enhancement), distance=distance, k=k), output)
    log.info("wrote %s", output)


def runtime_table(*, benchmarks: Mapping[str, list[PathLike]], csv: PathLike, markdown: PathLike) -> pd.DataFrame:
    """The runtime table of a run from its benchmark files (`benchmarks`: rule -> its files):
    wall time, CPU time and max RSS per rule -> `csv` and `markdown`. Called when a run ends."""
    rows = []
    for rule, paths in benchmarks.items():
        for path in paths:
            frame = pd.read_csv(path, sep="\t")
            rows += [{"rule": rule, **record} for record in frame.to_dict("records")]
    if not rows:
        raise TableError("no benchmark files to summarise")
    summary = runtime_summary(pd.DataFrame(rows))
    with atomic_path(csv) as tmp:
        summary.to_csv(tmp, index=False, float_format="%.3f")
    _write_text(markdown, runtime_markdown(summary))
    log.info("wrote %s and %s (%d jobs)", csv, markdown, len(rows))
    return summary
