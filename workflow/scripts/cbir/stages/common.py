"""What several stages share (as workflow/rules/common.smk is what several rule files share):
putting a trained network on the runtime's device for an image set."""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from cbir.checkpoint import CheckpointError, load_model
from cbir.device import select_device
from cbir.h5store import ImageSet

log = logging.getLogger("cbir.stages")


def load_network(
    path: str | os.PathLike,
    *,
    kind: str | tuple[str, ...],
    images: ImageSet,
    images_path: str | os.PathLike,
    runtime: dict,
    threads: int,
) -> tuple[nn.Module, dict]:
    """The network in checkpoint `path` (of `kind`), eval mode on the device `runtime` names,
    with `threads` CPU threads; its meta. An image size other than the training one is an
    error naming both files.

    Only `runtime["device"]` applies: inference stays in float32 with the default memory
    format (see `cbir.inference`), so embeddings do not depend on the GPU's AMP support."""
    device = select_device(runtime["device"])
    torch.set_num_threads(int(threads))
    model, meta = load_model(path, kind=kind, device=device)
    size = tuple(images.images.shape[1:])
    expected = tuple(meta.get("input_size", size))
    if size != expected:
        raise CheckpointError(
            f"{path}: trained on {expected[0]}x{expected[1]} images but {images_path} holds {size[0]}x{size[1]}"
        )
    log.info(
        "%s (%s, %s epochs) on %s: %d images, device %s, threads %d",
        path,
        meta["name"],
        meta.get("epochs_done", "?"),
        images_path,
        len(images),
        device,
        torch.get_num_threads(),
    )
    return model, meta
