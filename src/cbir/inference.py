"""Inference with trained networks on arrays: embeddings, class predictions, enhancement.

Each function takes a network already on its device and uint8 images, grey [N, H, W] or
colour [N, H, W, 3] as the network was trained on (its `image_channels`; anything else is an
error naming both), normalises them like training did (`cbir.imagemath.normalize`), runs the
network in eval mode without gradients in batches of `batch_size`, in float32, and returns
numpy arrays:

- `embed`: the classifier's 512-d pooled features (float32 [N, 512]), the retrieval keys;
- `classify`: predicted labels (int64 [N]);
- `enhance`: an enhancer's output mapped from [-1, 1] back to uint8 in the input's layout
  ([N, H, W] or [N, H, W, 3]).

Always float32 and the default memory format, whatever `runtime.amp` and
`runtime.channels_last` say: those speed up training, but here they would make the
embeddings (and so the retrieval results) depend on the GPU's AMP support.
Reading checkpoints and image sets is the stages' job (`cbir.stages.enhance`,
`cbir.stages.retrieve`, `cbir.stages.train`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from cbir.imagemath import batch_slices, from_stored, image_channels, normalize, to_uint8
from cbir.networks import input_channels
from cbir.runlog import progress

_LAYOUT = {1: "grey images [N, H, W]", 3: "colour images [N, H, W, 3]"}


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _map_batches(model: nn.Module, fn: Callable, images: np.ndarray, batch_size: int, desc: str) -> list:
    """`fn(normalised batch)` for consecutive batches of `images`, model in eval mode."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(f"images must be uint8 [N, H, W] or [N, H, W, 3], got {images.dtype} {images.shape}")
    channels, wanted = image_channels(images), input_channels(model)
    if channels != wanted:
        raise ValueError(
            f"the {getattr(model, 'kind', 'network')} takes {_LAYOUT[wanted]} ({wanted} channel"
            f"{'s' * (wanted > 1)}) but got {_LAYOUT[channels]} ({channels} channel{'s' * (channels > 1)}, "
            f"shape {images.shape}): use a network trained on images like these"
        )
    model.eval()
    device = _device_of(model)
    slices = batch_slices(len(images), int(batch_size))
    out = []
    for part in progress(slices, total=len(slices), desc=desc):
        out.append(fn(normalize(from_stored(torch.from_numpy(images[part]).to(device)))))
    return out


def embed(model: nn.Module, images: np.ndarray, *, batch_size: int) -> np.ndarray:
    """The classifier's pooled features of uint8 [N, H, W] or [N, H, W, 3] images: float32 [N, D]."""
    parts = _map_batches(model, lambda x: model.embed(x).float().cpu().numpy(), images, batch_size, "embed")
    return np.concatenate(parts) if parts else np.zeros((0, model.embedding_size), np.float32)


def classify(model: nn.Module, images: np.ndarray, *, batch_size: int) -> np.ndarray:
    """Predicted labels (argmax of the logits) of uint8 [N, H, W] or [N, H, W, 3] images: int64 [N]."""
    parts = _map_batches(model, lambda x: model(x).argmax(1).cpu().numpy(), images, batch_size, "classify")
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def enhance(model: nn.Module, images: np.ndarray, *, batch_size: int) -> np.ndarray:
    """An enhancer's output for uint8 [N, H, W] or [N, H, W, 3] images, mapped back to uint8 in the
    same layout."""
    parts = _map_batches(model, lambda x: to_uint8(model(x)), images, batch_size, "enhance")
    return np.concatenate(parts) if parts else np.zeros_like(images)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    """Counts [true class, predicted class]: int64 [classes, classes]."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (np.asarray(labels, np.int64), np.asarray(predictions, np.int64)), 1)
    return matrix
