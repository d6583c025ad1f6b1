"""Stage of workflow/rules/enhance.smk: degraded query sets restored by their enhancer, and
the before/after figures.

Modules that import torch are imported inside `enhance_query_set`, so the figure rule
starts without torch.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from cbir.h5store import read_image_set, write_image_set
from cbir.plots import save_figure
from cbir.plots.enhancement import enhancement_figure

log = logging.getLogger("cbir.stages.enhance")

ENHANCER_KINDS = ("autoencoder", "reference_autoencoder", "srcnn")


def enhance_query_set(
    *,
    model: str | os.PathLike,
    queries: str | os.PathLike,
    output: str | os.PathLike,
    runtime: dict,
    batch_size: int,
    threads: int,
) -> None:
    """Rule enhance_queries: the query set `queries` restored by the enhancer in `model` ->
    `output`, same columns; the attributes keep the query set's and add the enhancer's."""
    from cbir.checkpoint import public_meta
    from cbir.inference import enhance
    from cbir.stages.common import load_network

    query_set = read_image_set(queries)
    net, meta = load_network(
        model, kind=ENHANCER_KINDS, images=query_set, images_path=queries, runtime=runtime, threads=threads
    )
    restored = enhance(net, query_set.images, batch_size=batch_size)
    attrs = {
        **query_set.attrs,
        "enhanced_from": str(queries),
        "enhancer": meta["name"],
        "enhancer_model": str(model),
        "enhancer_meta": public_meta(meta),
    }
    write_image_set(output, restored, query_set.columns, attrs)
    log.info("wrote %s: %d images restored by the %s", output, len(restored), meta["name"])


def plot_enhancement(
    *,
    clean: str | os.PathLike,
    degraded: str | os.PathLike,
    enhanced: str | os.PathLike,
    output: str | os.PathLike,
    seed: int,
) -> None:
    """Rule plot_enhancement: the figure of one query set from its three image sets, which
    must hold the same images in the same order (checked on the labels)."""
    sets = [read_image_set(path) for path in (clean, degraded, enhanced)]
    labels = [s.labels for s in sets]
    if not all(np.array_equal(labels[0], other) for other in labels[1:]):
        raise ValueError(f"{clean}, {degraded} and {enhanced} do not hold the same images (labels differ)")
    title = f"{Path(degraded).stem} / {sets[2].attrs.get('enhancer', 'enhancer')}"
    save_figure(enhancement_figure(*(s.images for s in sets), seed=seed, title=title), output)
    log.info("wrote %s", output)
