"""Self-describing checkpoints: a network can be rebuilt and judged from its file alone.

A checkpoint is ``{"meta": {...}, "state_dict": {...}}`` saved with torch.save. meta holds:

- ``kind``, ``arch_args`` (`cbir.networks.build`), ``embedding_size`` (classifier);
- ``name`` (classifier, denoiser, deblurrer, upscaler), ``input_size`` [H, W] and
  ``normalization`` (how inputs are prepared, `cbir.imagemath`);
- ``seed``, ``epochs_done``, ``epochs``, ``complete``, ``history`` (the per-epoch rows);
- ``recipe`` (the config section that trained it), ``runtime`` (device settings),
  ``data`` (the training files, sizes and a digest of the images) and ``fingerprint``,
  the part of them that must match for a resume;
- ``optimizer``, ``scheduler`` and ``scaler`` states for resuming, and ``rng``: the random
  streams of epoch e are seeded from (seed, name, e), so no generator state is carried.

Files are written atomically. Reading validates the structure and names the file in
every error (`CheckpointError`). This is the one compute module that touches files: the
training loop keeps its resumable progress in one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from cbir.fsutil import atomic_path
from cbir.networks import NetworkError, build

log = logging.getLogger("cbir.checkpoint")

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, malformed or of the wrong kind."""


def cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict as contiguous CPU tensors (independent of device and memory format)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def save_checkpoint(path: str | os.PathLike, state_dict: dict, meta: dict) -> None:
    """Write {"meta", "state_dict"} to `path` atomically."""
    with atomic_path(path) as tmp:
        torch.save({"meta": {"format": FORMAT, **meta}, "state_dict": state_dict}, tmp)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint at `path` as {"meta", "state_dict"}, validated for structure."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle errors, foreign formats
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("meta"), dict)
        or not isinstance(data.get("state_dict"), dict)
    ):
        raise CheckpointError(f"{path}: not a cbir checkpoint (expected a dict with 'meta' and 'state_dict')")
    meta = data["meta"]
    for key in ("kind", "arch_args", "name"):
        if key not in meta:
            raise CheckpointError(f"{path}: checkpoint meta lacks {key!r}")
    return data


def load_model(
    path: str | os.PathLike, kind: str | tuple[str, ...] | None = None, device: torch.device | str = "cpu"
) -> tuple[nn.Module, dict]:
    """Rebuild the network in `path` from its meta, load its weights; eval mode on `device`.

    `kind` (a kind or tuple of kinds) is what the caller expects; another kind is an error.
    So is a training job's in-progress file (meta ``complete`` false, the training loop's
    `<model>.partial`): only the model written once training has finished is used.
    """
    path = Path(path)
    data = read_checkpoint(path)
    meta = data["meta"]
    if meta.get("complete", True) is not True:
        raise CheckpointError(
            f"{path}: an unfinished training checkpoint ({meta.get('epochs_done', '?')} of "
            f"{meta.get('epochs', '?')} epochs, not marked complete); only a finished model can be used: "
            "rerun the training rule to finish it"
        )
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds and meta["kind"] not in kinds:
        raise CheckpointError(f"{path}: holds a {meta['kind']} ({meta['name']}), expected {' or '.join(kinds)}")
    try:
        model = build(meta)
    except (NetworkError, TypeError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the network from its meta: {exc}") from exc
    try:
        model.load_state_dict(data["state_dict"], strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match the {meta['kind']} {meta['arch_args']}: {exc}") from exc
    return model.to(device).eval(), meta


def public_meta(meta: dict) -> dict:
    """The meta without optimizer/scheduler tensors and history: safe to store as JSON attributes."""
    skip = {"optimizer", "scheduler", "scaler", "history", "rng"}
    return {k: v for k, v in meta.items() if k not in skip}
