"""Stage of workflow/rules/retrieve.smk: embeddings of image sets, exact top-k search on them.

Embeddings record the model that made them (key set and weights digest, `cbir.h5store.PROVENANCE`),
and a search refuses query embeddings that another model made than the gallery's, naming the
query file; features with NaN are refused naming the file that holds them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping

import numpy as np

from cbir.checkpoint import identity, public_meta
from cbir.h5store import (
    Embeddings,
    check_same_model,
    read_embeddings,
    read_image_set,
    write_embeddings,
    write_retrieval,
)
from cbir.inference import embed
from cbir.search import SearchError, ranking_measures, topk
from cbir.stages.common import check_gallery_model, check_input_size, load_network
from cbir.tables import split_qset

log = logging.getLogger("cbir.stages.retrieve")


def embed_images(
    *,
    model: str | os.PathLike,
    images: str | os.PathLike,
    output: str | os.PathLike,
    name: str,
    runtime: dict,
    batch_size: int,
    threads: int,
    expect: Mapping | None = None,
) -> None:
    """Rule embed_images: the classifier's features of the image set `images` (the gallery or
    the query set `name`) with its columns -> `output`; the attributes name the query set and
    the enhancer it came from ("none" when not restored; the gallery's query set is
    "gallery"), the model (path, key set, weights digest) and the source image set, and carry
    the source's own attributes. `expect`: what the checkpoint must be (`load_network`)."""
    image_set = read_image_set(images)
    net, meta = load_network(
        model,
        kind="classifier",
        images=image_set,
        images_path=images,
        runtime=runtime,
        threads=threads,
        expect=expect,
    )
    _embed_with(
        net, meta, model=model, image_set=image_set, images=images, output=output, name=name, batch_size=batch_size
    )


def _embed_with(net, meta: dict, *, model, image_set, images, output, name: str, batch_size: int) -> None:
    """`embed_images` with the network already loaded (a search job embeds many sets with one)."""
    features = embed(net, image_set.images, batch_size=batch_size)
    query_set, enhancer = split_qset(name)
    attrs = {
        "query_set": query_set,
        "enhancer": enhancer,
        "model": str(model),
        "keys": identity(meta)["name"],
        "weights_sha256": meta["weights_sha256"],
        "source": str(images),
        "model_meta": public_meta(meta),
        "source_attrs": image_set.attrs,
        "embedding_size": int(features.shape[1]),
    }
    write_embeddings(output, features, image_set.columns, attrs)
    log.info("wrote %s: %s features", output, features.shape)


def _check_finite(path, features: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(features).all(axis=1)
    if bad.any():
        raise SearchError(
            f"{path}: {int(bad.sum())} of {len(features)} {what} hold NaN or infinite values (first: row "
            f"{int(np.flatnonzero(bad)[0])}); the file is damaged or its model gives NaN: rerun the rule that wrote it"
        )


def retrieve_topk(
    *,
    gallery: str | os.PathLike,
    queries: str | os.PathLike,
    output: str | os.PathLike,
    distances: list[str],
    k: int,
    chunk_size: int,
    threads: int,
) -> None:
    """Rule retrieve_topk: top-k of every query embedding against the gallery embeddings,
    one (indices, scores) pair per distance, and per query the measures over its ranking of
    the whole gallery (`cbir.search.ranking_measures`, labels from the embedding files, with
    the same chunk size, so the ranking extends the stored top k), written with
    `cbir.h5store.write_retrieval` (one group per distance name).

    Query embeddings made by another model than the gallery's (key set or weights digest,
    `cbir.h5store.check_same_model`), of another size, or holding NaN are refused naming the file.
    BLAS threads follow OPENBLAS_NUM_THREADS, which Snakemake sets to the job's `threads`."""
    _retrieve(
        gallery,
        read_embeddings(gallery),
        queries,
        output,
        distances=distances,
        k=k,
        chunk_size=chunk_size,
        threads=threads,
    )


def _retrieve(gallery, gallery_set: Embeddings, queries, output, *, distances, k, chunk_size, threads) -> None:
    """`retrieve_topk` with the gallery already read (a search job searches many sets in it)."""
    query_set = read_embeddings(queries)
    check_same_model(queries, query_set.attrs, gallery, gallery_set.attrs)
    n_gallery, dim = gallery_set.features.shape
    if query_set.features.shape[1] != dim:
        raise SearchError(
            f"{queries}: {query_set.features.shape[1]}-d query embeddings, but the gallery {gallery} holds {dim}-d"
        )
    _check_finite(queries, query_set.features, "query embeddings")
    _check_finite(gallery, gallery_set.features, "gallery embeddings")
    if k > n_gallery:
        raise SearchError(f"retrieval.topk={k} exceeds the gallery size {n_gallery} ({gallery})")
    log.info(
        "%d queries x %d gallery x %d features, k=%d, chunk %d, threads %d",
        len(query_set.features),
        *gallery_set.features.shape,
        k,
        chunk_size,
        threads,
    )
    results, measures = {}, {}
    for distance in distances:
        start = time.perf_counter()
        results[distance] = topk(
            query_set.features, gallery_set.features, k=k, distance=distance, chunk_size=chunk_size
        )
        log.info("%s search: %.2f s", distance, time.perf_counter() - start)
        start = time.perf_counter()
        measures[distance] = ranking_measures(
            query_set.features,
            gallery_set.features,
            query_labels=query_set.labels,
            gallery_labels=gallery_set.labels,
            distance=distance,
            chunk_size=chunk_size,
        )
        log.info("%s whole-gallery ranking measures: %.2f s", distance, time.perf_counter() - start)
    attrs = {
        "distances": list(distances),
        "k": int(k),
        "chunk_size": int(chunk_size),
        "gallery": str(gallery),
        "queries": str(queries),
        "n_gallery": n_gallery,
        "n_queries": len(query_set.features),
        "keys": query_set.attrs["keys"],
        "weights_sha256": query_set.attrs["weights_sha256"],
    }
    write_retrieval(output, results, attrs, measures)
    log.info("wrote %s", output)


def search_query_sets(
    *,
    model: str | os.PathLike,
    gallery: str | os.PathLike,
    images: list[str | os.PathLike],
    names: list[str],
    embeddings: list[str | os.PathLike],
    results: list[str | os.PathLike],
    runtime: dict,
    batch_size: int,
    distances: list[str],
    k: int,
    chunk_size: int,
    threads: int,
    expect: Mapping | None = None,
) -> None:
    """Rules search_queries and judge_restorers: each image set of `images` (query set `names[i]`)
    embedded by the classifier `model` (loaded once) into `embeddings[i]` and searched against
    the gallery embeddings `gallery` into `results[i]`, as `embed_images` and `retrieve_topk` do
    one set at a time (same files). `expect`: what the checkpoint must be (`load_network`); it
    must also be the model that embedded the gallery (key set and weights digest)."""
    counts = {len(images), len(names), len(embeddings), len(results)}
    if len(counts) != 1:
        raise ValueError(
            f"{len(images)} image sets, {len(names)} names, {len(embeddings)} embedding and {len(results)} result files"
        )
    if not images:
        return
    first = read_image_set(images[0])
    net, meta = load_network(
        model, kind="classifier", images=first, images_path=images[0], runtime=runtime, threads=threads, expect=expect
    )
    gallery_set = read_embeddings(gallery)
    check_gallery_model(model, meta, gallery, gallery_set.attrs)
    for i, (source, name, emb, out) in enumerate(zip(images, names, embeddings, results, strict=True)):
        image_set = first if i == 0 else read_image_set(source)
        check_input_size(model, meta, image_set.images.shape, source)
        _embed_with(
            net, meta, model=model, image_set=image_set, images=source, output=emb, name=name, batch_size=batch_size
        )
        _retrieve(gallery, gallery_set, emb, out, distances=distances, k=k, chunk_size=chunk_size, threads=threads)
    log.info("searched %d query sets with %s", len(images), model)
