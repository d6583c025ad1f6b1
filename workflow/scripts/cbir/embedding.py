"""Inference with trained networks: embeddings, class predictions and enhancement.

All three take uint8 images [N, H, W], normalise them like training did
(`cbir.tensors.normalize`), run the network in eval mode without gradients in batches of
`batch_size`, in float32, and return numpy arrays:

- `embed`: the classifier's 512-d pooled features (float32 [N, 512]), the retrieval keys;
- `classify`: predicted labels (int64 [N]);
- `enhance`: an enhancer's output mapped from [-1, 1] back to uint8 [N, H, W].

The file-level functions behind the rules (`embed_image_set`, `enhance_image_set`,
`evaluate_classifier`) keep the per-image columns and note model and source in the
output's attributes. They run on CUDA when present (`device="auto"`), else on the CPU
with `threads` threads.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cbir.checkpoint import CheckpointError, load_model, public_meta
from cbir.device import select_device
from cbir.fsutil import atomic_path
from cbir.h5store import read_image_set, write_embeddings, write_image_set
from cbir.runlog import progress
from cbir.tensors import batch_slices, normalize, to_uint8

log = logging.getLogger("cbir.embedding")


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def _map_batches(model_fn, images: np.ndarray, batch_size: int, device: torch.device, desc: str) -> list:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"images must be uint8 [N, H, W], got {images.dtype} {images.shape}")
    slices = batch_slices(len(images), int(batch_size))
    out = []
    for part in progress(slices, total=len(slices), desc=desc):
        x = normalize(torch.from_numpy(images[part]).to(device))
        out.append(model_fn(x))
    return out


def embed(model: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The classifier's pooled features of uint8 [N, H, W] images: float32 [N, D]."""
    model.eval()
    parts = _map_batches(lambda x: model.embed(x).float().cpu().numpy(), images, batch_size, _device_of(model), "embed")
    return np.concatenate(parts) if parts else np.zeros((0, model.embedding_size), np.float32)


def classify(model: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Predicted labels (argmax of the logits) of uint8 [N, H, W] images: int64 [N]."""
    model.eval()
    parts = _map_batches(lambda x: model(x).argmax(1).cpu().numpy(), images, batch_size, _device_of(model), "classify")
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def enhance(model: nn.Module, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """An enhancer's output for uint8 [N, H, W] images, mapped back to uint8 [N, H, W]."""
    model.eval()
    parts = _map_batches(lambda x: to_uint8(model(x)), images, batch_size, _device_of(model), "enhance")
    return np.concatenate(parts) if parts else np.zeros_like(images)


def _prepare(model_path, kind, images_path, threads, device):
    device = select_device(device)
    if threads:
        torch.set_num_threads(int(threads))
    model, meta = load_model(model_path, kind=kind, device=device)
    images = read_image_set(images_path)
    expected = tuple(meta.get("input_size", images.images.shape[1:]))
    if tuple(images.images.shape[1:]) != expected:
        raise CheckpointError(
            f"{model_path}: trained on {expected[0]}x{expected[1]} images but {images_path} holds "
            f"{images.images.shape[1]}x{images.images.shape[2]}"
        )
    log.info(
        "%s (%s, %d epochs) on %s: %d images, device %s",
        model_path,
        meta["name"],
        meta.get("epochs_done", -1),
        images_path,
        len(images),
        device,
    )
    return model, meta, images


def embed_image_set(
    model: str | os.PathLike,
    images: str | os.PathLike,
    output: str | os.PathLike,
    batch_size: int = 256,
    threads: int | None = None,
    device: str = "auto",
) -> None:
    """Write the embeddings of the image set `images` (same columns) to `output`."""
    net, meta, image_set = _prepare(model, "classifier", images, threads, device)
    features = embed(net, image_set.images, batch_size)
    attrs = {
        "model": str(model),
        "source": str(images),
        "model_meta": public_meta(meta),
        "source_attrs": image_set.attrs,
        "embedding_size": int(features.shape[1]),
    }
    write_embeddings(output, features, image_set.columns, attrs)
    log.info("wrote %s: %s features", output, features.shape)


def enhance_image_set(
    model: str | os.PathLike,
    images: str | os.PathLike,
    output: str | os.PathLike,
    batch_size: int = 256,
    threads: int | None = None,
    device: str = "auto",
) -> None:
    """Write the image set `images` restored by the enhancer in `model` to `output`."""
    net, meta, image_set = _prepare(model, ("autoencoder", "srcnn"), images, threads, device)
    restored = enhance(net, image_set.images, batch_size)
    attrs = {
        **image_set.attrs,
        "enhanced_from": str(images),
        "enhancer": meta["name"],
        "enhancer_model": str(model),
        "enhancer_meta": public_meta(meta),
    }
    write_image_set(output, restored, image_set.columns, attrs)
    log.info("wrote %s: %d images restored by the %s", output, len(restored), meta["name"])


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int) -> np.ndarray:
    """Counts [true class, predicted class]: int64 [classes, classes]."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (np.asarray(labels, np.int64), np.asarray(predictions, np.int64)), 1)
    return matrix


def evaluate_classifier(
    model: str | os.PathLike,
    test: str | os.PathLike,
    table: str | os.PathLike,
    figure: str | os.PathLike,
    batch_size: int = 256,
    threads: int | None = None,
    device: str = "auto",
) -> dict:
    """Test accuracy and confusion matrix on the whole split -> `table` (JSON) and `figure` (PNG)."""
    from cbir.norb import CATEGORIES
    from cbir.plots.training import plot_confusion_matrix

    net, meta, test_set = _prepare(model, "classifier", test, threads, device)
    predictions = classify(net, test_set.images, batch_size)
    labels = np.asarray(test_set.labels, np.int64)
    matrix = confusion_matrix(labels, predictions, len(CATEGORIES))
    totals = matrix.sum(1)
    result = {
        "accuracy": float((predictions == labels).mean()) if len(labels) else float("nan"),
        "n_images": len(labels),
        "classes": list(CATEGORIES),
        "confusion_matrix": matrix.tolist(),
        "confusion_matrix_axes": "rows: true class, columns: predicted class",
        "per_class_accuracy": {
            name: (float(matrix[i, i] / totals[i]) if totals[i] else None) for i, name in enumerate(CATEGORIES)
        },
        "model": str(model),
        "test": str(test),
        "model_meta": public_meta(meta),
    }
    with atomic_path(table) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=2, sort_keys=False, default=str) + "\n")
    plot_confusion_matrix(
        matrix,
        list(CATEGORIES),
        figure,
        title=f"{meta['arch_args'].get('arch', 'classifier')}: test accuracy {result['accuracy']:.1%}",
    )
    log.info(
        "test accuracy %.4f on %d images; per class %s", result["accuracy"], len(labels), result["per_class_accuracy"]
    )
    return result
