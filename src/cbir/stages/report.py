"""Stages of workflow/rules/report.smk: the retrieval tables and the retrieval figures."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from cbir.evaluation import (
    SearchResult,
    enhancement_frame,
    object_ids,
    per_query_values,
    resampler_for,
    retrieval_frame,
)
from cbir.fsutil import atomic_path
from cbir.h5store import (
    check_same_model,
    class_names,
    read_embeddings,
    read_image_set,
    read_ranking_measures,
    read_retrieval,
)
from cbir.imagemath import psnr, ssim
from cbir.layout import restored_name
from cbir.plots import save_figure
from cbir.plots.enhancement import gap_closed_figure
from cbir.plots.retrieval import retrieval_figure
from cbir.runtime_tables import runtime_markdown, runtime_summary
from cbir.seeding import stream_key
from cbir.stats import chance_levels
from cbir.tables import (
    STANDARD,
    TableError,
    enhancement_markdown,
    queries_markdown,
    table1_markdown,
    tuning_markdown,
)

log = logging.getLogger("cbir.stages.report")

PathLike = str | os.PathLike


def _write_text(path: PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def load_searches(
    *,
    galleries: Sequence[PathLike],
    plan: Sequence[Sequence],
    embeddings: Sequence[PathLike],
    results: Sequence[PathLike],
    key_sets: Sequence[str],
    replicates: int,
    ks: list[int],
) -> tuple[dict[tuple[str, str], SearchResult], dict[str, SearchResult], dict[str, np.ndarray]]:
    """Per-query values of every search of one split: (key set, query set) -> SearchResult with
    values [replicates, Nq] in replicate order; query set -> the judge's SearchResult (replicate
    r's restored set searched by the next replicate's standard keys; empty with one replicate);
    and each key set's gallery labels. `plan` has one entry [role, key set, query set, replicate,
    folder, file name] per file of `embeddings` and `results`, in their order; `galleries` are
    ordered key set by key set, replicate by replicate. Labels and objects come from the
    embedding files, so every number can be recomputed from them alone."""
    if STANDARD not in key_sets:
        raise TableError(f"no {STANDARD} key set among {list(key_sets)}")
    if not len(plan) == len(embeddings) == len(results):
        raise TableError(f"{len(plan)} planned searches but {len(embeddings)} embeddings and {len(results)} results")
    if len(galleries) != len(key_sets) * replicates:
        raise TableError(f"{len(galleries)} galleries for {len(key_sets)} key sets x {replicates} replicates")
    gallery_paths = {
        (keys, r): galleries[i * replicates + r] for i, keys in enumerate(key_sets) for r in range(replicates)
    }
    labels_of, attrs_of = {}, {}
    for (keys, rep), path in gallery_paths.items():
        stored_gallery = read_embeddings(path)
        labels, attrs_of[keys, rep] = stored_gallery.labels, stored_gallery.attrs
        if keys in labels_of and not np.array_equal(labels, labels_of[keys]):
            raise TableError(f"{path}: not the gallery of the other replicates (labels differ)")
        labels_of[keys] = labels
    stacks: dict[tuple, dict[int, tuple]] = {}
    for (role, keys, qset, rep, _folder, _name), emb_path, res_path in zip(plan, embeddings, results, strict=True):
        if role not in ("search", "judge") or keys not in key_sets or not 0 <= rep < replicates:
            raise TableError(
                f"plan entry {role} {keys} / {qset} replicate {rep} ({res_path}): not a search or judge of the "
                f"key sets {list(key_sets)} x {replicates} replicates"
            )
        gallery_keys = keys
        gallery_rep = (rep + 1) % replicates if role == "judge" else rep
        gallery = gallery_paths[gallery_keys, gallery_rep]
        queries = read_embeddings(emb_path)
        # the tables read embeddings directly: a file swapped in after its search is caught here
        check_same_model(emb_path, queries.attrs, gallery, attrs_of[gallery_keys, gallery_rep])
        stored, _ = read_retrieval(res_path)
        values = per_query_values(
            labels_of[gallery_keys],
            queries.labels,
            stored,
            read_ranking_measures(res_path),
            ks,
            where=f"{res_path} (gallery {gallery})",
        )
        stacks.setdefault((role, keys, qset), {})[int(rep)] = (queries, values)
    searches, judges = {}, {}
    for (role, keys, qset), by_rep in stacks.items():
        if sorted(by_rep) != list(range(replicates)):
            raise TableError(f"{role} {keys} / {qset}: replicates {sorted(by_rep)} of {replicates}")
        first, _ = by_rep[0]
        stacked = {key: np.stack([by_rep[r][1][key] for r in range(replicates)]) for key in by_rep[0][1]}
        objects = object_ids(first.labels, first.columns["instance"])
        result = SearchResult(first.labels, objects, stacked, len(labels_of[keys]))
        (searches if role == "search" else judges)[(keys, qset) if role == "search" else qset] = result
    return searches, judges, labels_of


def _searched(galleries, plan, embeddings, results, key_sets, replicates, ks, seed: int, evaluation: Mapping):
    """`load_searches` and the table's one resampler (objects and replicates, seeded from the
    master seed): what both evaluate rules start from."""
    searches, judges, gallery_labels = load_searches(
        galleries=galleries,
        plan=plan,
        embeddings=embeddings,
        results=results,
        key_sets=key_sets,
        replicates=replicates,
        ks=ks,
    )
    resampler = resampler_for(
        searches,
        seed=stream_key(seed, "bootstrap"),
        resamples=evaluation["resamples"],
        level=evaluation["level"],
        replicates=replicates,
    )
    return searches, judges, gallery_labels, resampler


def evaluate_retrieval(
    *,
    galleries: Sequence[PathLike],
    plan: Sequence[Sequence],
    embeddings: Sequence[PathLike],
    results: Sequence[PathLike],
    key_sets: Sequence[str],
    replicates: int,
    ks: list[int],
    defaults: Mapping[str, str],
    evaluation: Mapping,
    seed: int,
    csv: PathLike,
    table1: PathLike,
    per_query: PathLike,
) -> pd.DataFrame:
    """Rule evaluate_retrieval: every measure of every search (see `load_searches`) with its
    interval and chance level (`cbir.evaluation`; config `evaluation`) -> the long CSV, Table 1
    and the per-query-set table. `defaults`: query set -> the enhancer Table 1 shows."""
    searches, _, gallery_labels, resampler = _searched(
        galleries, plan, embeddings, results, key_sets, replicates, ks, seed, evaluation
    )
    frame = retrieval_frame(searches, gallery_labels, resampler, ks)
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6f")
    _write_text(table1, table1_markdown(frame, defaults, ks))
    qsets = list(dict.fromkeys(qset for _keys, qset in searches))
    _write_text(per_query, queries_markdown(frame, qsets))
    log.info("wrote %s, %s and %s (%d rows)", csv, table1, per_query, len(frame))
    return frame


def plot_retrieval(
    *, results: PathLike, queries: PathLike, gallery: PathLike, output: PathLike, name: str, n_queries: int, seed: int
) -> None:
    """Rule plot_retrieval: a query set's queries and their top results per distance, each image
    named by its class: the gallery's class names (`cbir.h5store.class_names`; a query set names
    no classes of its own, or the same)."""
    stored, _ = read_retrieval(results)
    query_set = read_image_set(queries)
    gallery_set = read_image_set(gallery)
    names = class_names(gallery_set.attrs, gallery_set.labels, gallery)
    if "classes" in query_set.attrs and class_names(query_set.attrs) != names:
        raise ValueError(f"{queries} names the classes {query_set.attrs['classes']} but {gallery} names {names}")
    class_names({"classes": names}, query_set.labels, queries)  # the queries' labels are the gallery's classes
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
        categories=names,
        n_queries=n_queries,
        seed=seed,
    )
    save_figure(fig, output)
    log.info("wrote %s", output)


def _quality(clean, path: PathLike) -> tuple[float, float]:
    """Mean PSNR and SSIM of the image set at `path` against the clean images, each image first
    matched by a global affine intensity map (`cbir.imagemath.affine_match`: the min-max finish
    of every query is not a loss of detail)."""
    images = read_image_set(path)
    if not np.array_equal(images.labels, clean.labels):
        raise TableError(f"{path} does not hold the clean images in their order (labels differ)")
    return (
        float(psnr(clean.images, images.images, affine=True).mean()),
        float(ssim(clean.images, images.images, affine=True).mean()),
    )


def evaluate_enhancement(
    *,
    galleries: Sequence[PathLike],
    plan: Sequence[Sequence],
    embeddings: Sequence[PathLike],
    results: Sequence[PathLike],
    key_sets: Sequence[str],
    replicates: int,
    ks: list[int],
    clean_images: PathLike,
    degraded: Mapping[str, PathLike],
    restored: Mapping[str, PathLike],
    enhance: Mapping[str, list[str]],
    clean: str,
    evaluation: Mapping,
    seed: int,
    csv: PathLike,
    markdown: PathLike,
    tuned: Mapping[str, PathLike] | None = None,
    networks: Sequence[str] = (),
) -> pd.DataFrame:
    """Rule evaluate_enhancement: for every key set, query set and remedy (an enhancer, another
    key set or both) the top-k accuracies clean and degraded (the standard keys') and after the
    remedy, the paired change with its interval and McNemar p-value, the share of the gap closed
    with its interval, the change an independent judge sees, the blind cost on clean queries
    (`cbir.evaluation.enhancement_frame`), and PSNR / SSIM of the images searched against the
    clean images (`clean_images`: the test or validation split). `degraded`: query set -> its
    image set; `restored`: <query>__<enhancer> -> its image set. The searches as for
    `evaluate_retrieval`; `tuned`: classical enhancer -> its tuning file (the parameters chosen on
    the validation split, cited under the table); `networks`: the restoration networks (each
    judged by keys it was not trained through)."""
    searches, judges, gallery_labels, resampler = _searched(
        galleries, plan, embeddings, results, key_sets, replicates, ks, seed, evaluation
    )
    reference = read_image_set(clean_images)
    quality = {name: _quality(reference, path) for name, path in {**degraded, **restored}.items()}
    missing = {restored_name(q, e) for q, names in enhance.items() for e in names} - set(quality)
    if missing:
        raise TableError(f"no restored image set for {sorted(missing)}")
    table = enhancement_frame(
        searches, resampler, enhance=enhance, clean=clean, quality=quality, judges=judges, networks=networks
    )
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.8g")  # significant digits: p-values can be tiny
    degraded_quality = {name: quality[name] for name in degraded}
    choices = {name: json.loads(Path(path).read_text()) for name, path in (tuned or {}).items()}
    labels = next(iter(searches.values())).labels
    chance = {
        k: 100 * level
        for (m, k), level in chance_levels(gallery_labels[STANDARD], labels, ks).items()
        if m == "top_k_accuracy"
    }
    text = enhancement_markdown(
        table, degraded_quality, n_objects=resampler.n_groups, replicates=replicates, chance=chance
    )
    _write_text(markdown, text + tuning_markdown(choices))
    log.info("wrote %s and %s (%d rows)", csv, markdown, len(table))
    return table


def plot_gap_closed(*, enhancement: PathLike, output: PathLike, distance: str, k: int) -> None:
    """Rule plot_gap_closed: bars of the gap each enhancer closes, from enhancement.csv."""
    save_figure(gap_closed_figure(pd.read_csv(enhancement), distance=distance, k=k), output)
    log.info("wrote %s", output)


def record_config(*, config: Mapping, output: PathLike, digest: PathLike) -> None:
    """Rule record_config: the run's validated config (every default filled) as YAML, and its
    sha256 (`cbir.config.config_digest`), so a run's folder says how it was made (`cbir runs`)."""
    import yaml

    from cbir.config import config_digest

    config = json.loads(json.dumps(dict(config), default=str))  # plain dicts and lists for YAML
    header = "# The validated config of this run (every default filled), written by rule record_config.\n"
    _write_text(output, header + yaml.safe_dump(config, sort_keys=False))
    _write_text(digest, config_digest(config) + "\n")


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
