"""Stage of the tuning rule: a classical enhancer's `auto` parameters chosen on the validation
split, so that no parameter of a restorer is picked by looking at the test split.

The criterion is what the pipeline reports, retrieval, not PSNR: each grid point restores the
validation query set, the standard classifier embeds it, and the point whose top-1 neighbour in
the training gallery most often has the query's label wins (ties to the earlier grid point).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping

import numpy as np

from cbir.classical import restore
from cbir.fsutil import atomic_path
from cbir.h5store import read_embeddings, read_image_set
from cbir.runlog import progress
from cbir.search import topk
from cbir.tuning import auto_params, choose, grid_points, resolve

log = logging.getLogger("cbir.stages.tune")

CHUNK_SIZE = 1024  # query rows per search block: memory bound only, the result does not depend on it


def top1_accuracy(query_labels: np.ndarray, gallery_labels: np.ndarray, nearest: np.ndarray) -> float:
    """Percent of queries whose nearest gallery row (indices `nearest` [N]) has the query's label."""
    if not len(query_labels):
        raise ValueError("no queries to score")
    return 100.0 * float(np.mean(gallery_labels[nearest] == query_labels))


def tune_enhancer(
    *,
    name: str,
    enhancer: dict,
    queries: str | os.PathLike,
    model: str | os.PathLike,
    gallery: str | os.PathLike,
    output: str | os.PathLike,
    runtime: dict,
    batch_size: int,
    threads: int,
    distance: str = "l2",
    expect: Mapping | None = None,
) -> dict:
    """Score every grid point of the classical enhancer `name` by validation top-1 retrieval
    accuracy (`queries`: a validation query set; `gallery`: the training split's embeddings
    by the classifier `model`) and write the choice to `output` (JSON, atomically); returns
    what was written. `chosen` holds the tuned values only; `params` is what
    `cbir.classical.restore` gets (`cbir.tuning.resolve`). `expect`: what the classifier
    checkpoint must be (`load_network`); it must also be the one that embedded the gallery,
    where the gallery records its model."""
    # torch only here: an enhancement job reads its tuning file (`read_tuned`) without starting it
    from cbir.inference import embed
    from cbir.stages.common import check_gallery_model, load_network

    if "method" not in enhancer:
        raise ValueError(f"enhancer {name!r} is a network, not a classical method: nothing to tune")
    points = grid_points(enhancer, name)
    autos = auto_params(enhancer)
    query_set = read_image_set(queries)
    gallery_set = read_embeddings(gallery)
    if not len(query_set):
        raise ValueError(f"{queries}: no queries to tune {name!r} on")
    net, meta = load_network(
        model, kind="classifier", images=query_set, images_path=queries, runtime=runtime, threads=threads, expect=expect
    )
    check_gallery_model(model, meta, gallery, gallery_set.attrs)
    log.info(
        "tuning %s (%s) over %d grid points: %d queries (%s), gallery %d (%s), %s",
        name,
        enhancer["method"],
        len(points),
        len(query_set),
        queries,
        len(gallery_set.features),
        gallery,
        distance,
    )
    scores = []
    for params in progress(points, total=len(points), desc=f"tune {name}"):
        features = embed(net, restore(query_set.images, **params), batch_size=batch_size)
        nearest, _ = topk(features, gallery_set.features, k=1, distance=distance, chunk_size=CHUNK_SIZE)
        scores.append(top1_accuracy(query_set.labels, gallery_set.labels, nearest[:, 0]))
        log.info("%s %s: top-1 %.2f%%", name, {p: params[p] for p in autos}, scores[-1])
    best = choose(scores)
    chosen = {p: points[best][p] for p in autos}
    result = {
        "enhancer": name,
        "method": enhancer["method"],
        "criterion": f"validation top-1 retrieval accuracy ({distance})",
        "queries": str(queries),
        "n_queries": len(query_set),
        "chosen": chosen,
        "params": resolve(enhancer, chosen, name),
        "grid": [
            {"params": {p: point[p] for p in autos}, "top1": score} for point, score in zip(points, scores, strict=True)
        ],
    }
    with atomic_path(output) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    log.info("wrote %s: %s chose %s (top-1 %.2f%%)", output, name, chosen, scores[best])
    return result


def read_tuned(path: str | os.PathLike) -> dict:
    """The chosen values of a file `tune_enhancer` wrote (parameter -> value)."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a tuning result (invalid JSON: {exc})") from exc
    chosen = data.get("chosen") if isinstance(data, dict) else None
    if not isinstance(chosen, dict):
        raise ValueError(f"{path}: not a tuning result (no 'chosen' object)")
    return chosen
