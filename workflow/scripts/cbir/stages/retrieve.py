"""Stage of workflow/rules/retrieve.smk: embeddings of image sets, exact top-k search on them."""

from __future__ import annotations

import logging
import os
import time

from cbir.checkpoint import public_meta
from cbir.h5store import read_embeddings, read_image_set, write_embeddings, write_retrieval
from cbir.inference import embed
from cbir.search import SearchError, topk
from cbir.stages.common import load_network
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
) -> None:
    """Rule embed_images: the classifier's features of the image set `images` (the gallery or
    the query set `name`) with its columns -> `output`; the attributes name the query set and
    the enhancer it came from ("none" when not restored; the gallery's query set is
    "gallery"), the model and the source image set, and carry the source's own attributes."""
    image_set = read_image_set(images)
    net, meta = load_network(
        model, kind="classifier", images=image_set, images_path=images, runtime=runtime, threads=threads
    )
    features = embed(net, image_set.images, batch_size=batch_size)
    query_set, enhancer = split_qset(name)
    attrs = {
        "query_set": query_set,
        "enhancer": enhancer,
        "model": str(model),
        "source": str(images),
        "model_meta": public_meta(meta),
        "source_attrs": image_set.attrs,
        "embedding_size": int(features.shape[1]),
    }
    write_embeddings(output, features, image_set.columns, attrs)
    log.info("wrote %s: %s features", output, features.shape)


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
    one (indices, scores) pair per distance, written with `cbir.h5store.write_retrieval`
    (one group per distance name).

    BLAS threads follow OPENBLAS_NUM_THREADS, which Snakemake sets to the job's `threads`."""
    gallery_set = read_embeddings(gallery)
    query_set = read_embeddings(queries)
    n_gallery = len(gallery_set.features)
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
    results = {}
    for distance in distances:
        start = time.perf_counter()
        results[distance] = topk(
            query_set.features, gallery_set.features, k=k, distance=distance, chunk_size=chunk_size
        )
        log.info("%s search: %.2f s", distance, time.perf_counter() - start)
    attrs = {
        "distances": list(distances),
        "k": int(k),
        "chunk_size": int(chunk_size),
        "gallery": str(gallery),
        "queries": str(queries),
        "n_gallery": n_gallery,
        "n_queries": len(query_set.features),
    }
    write_retrieval(output, results, attrs)
    log.info("wrote %s", output)
