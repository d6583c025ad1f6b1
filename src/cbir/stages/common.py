"""What several stages share (as workflow/rules/common.smk is what several rule files share):
putting a trained network on the runtime's device for an image set, once it is shown to be the
network the rule expects."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from cbir.checkpoint import CheckpointError, describe, identity, load_model
from cbir.device import select_device
from cbir.h5store import ImageSet, embeddings_model

log = logging.getLogger("cbir.stages")


def load_network(
    path: str | os.PathLike,
    *,
    kind: str | tuple[str, ...],
    images: ImageSet,
    images_path: str | os.PathLike,
    runtime: dict,
    threads: int,
    expect: Mapping | None = None,
) -> tuple[nn.Module, dict]:
    """The network in checkpoint `path` (of `kind`), eval mode on the device `runtime` names,
    with `threads` CPU threads; its meta. A checkpoint that is not what the rule expects
    (`expect`: role, name, arch, recipe, seed; `cbir.checkpoint.check_expected`), whose weights
    were edited after saving, or trained on another image size is an error naming the file.

    Only `runtime["device"]` applies: inference stays in float32 with the default memory
    format (see `cbir.inference`), so embeddings do not depend on the GPU's AMP support."""
    device = select_device(runtime["device"])
    torch.set_num_threads(int(threads))
    model, meta = load_model(path, kind=kind, device=device, expect=expect)
    check_input_size(path, meta, images.images.shape, images_path)
    log.info(
        "%s (%s, %s epochs, weights sha256 %s) on %s: %d images, device %s, threads %d",
        path,
        meta["name"],
        meta.get("epochs_done", "?"),
        meta["weights_sha256"][:12],
        images_path,
        len(images),
        device,
        torch.get_num_threads(),
    )
    return model, meta


def _describe_size(shape: Sequence[int]) -> str:
    return f"{shape[0]}x{shape[1]} {'colour' if len(shape) == 3 else 'grey'}"


def check_input_size(model: str | os.PathLike, meta: Mapping, shape: Sequence[int], images: str | os.PathLike) -> None:
    """The images (array `shape` [N, H, W] or [N, H, W, 3]) must have the size and channels the
    network in `model` was trained on (its meta's `input_size`), else an error naming both."""
    size = tuple(shape[1:])
    expected = tuple(meta.get("input_size", size))
    if size != expected:
        raise CheckpointError(
            f"{model}: trained on {_describe_size(expected)} images but {images} holds {_describe_size(size)} images"
        )


def check_gallery_model(model: str | os.PathLike, meta: Mapping, gallery: str | os.PathLike, attrs: Mapping) -> None:
    """The classifier `model` (its `meta`) must be the one that embedded the gallery `gallery`
    (attributes `attrs`): same key set and weights digest, else its queries' embeddings could not
    be compared with the gallery's. The error names both files and what each holds."""
    gallery_keys, gallery_digest = embeddings_model(gallery, dict(attrs))
    held, digest = identity(meta), meta["weights_sha256"]
    if (held["name"], digest) != (gallery_keys, gallery_digest):
        raise CheckpointError(
            f"{model}: {describe(**held)} (weights sha256 {digest[:12]}...) is not the model that embedded the "
            f"gallery {gallery} (key set {gallery_keys!r}, weights sha256 {gallery_digest[:12]}..., model "
            f"{attrs.get('model', '?')}): search a key set's queries with the checkpoint that embedded its gallery"
        )
