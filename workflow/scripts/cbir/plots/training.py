"""Figures of training and enhancement: learning curves, augmentation (the paper's
Figure 2), the confusion matrix (Figure 5) and before/after enhancement (A1-A3).

Matplotlib and numpy only (no torch): the learning-curve and enhancement rules start fast.
PSNR here is measured like the held-out PSNR of training (`cbir.tensors`): the clean
reference min-max normalised per image to [0, 1], the judged uint8 image taken as stored
(divided by 255), peak 1, in dB. Degraded sets are stored min-max rescaled already, and an
enhancer's output is stored as 255 (y + 1) / 2, so this is the PSNR of the network output
itself. `psnr(..., renormalize=True)` min-max normalises the judged image too: what a
network downstream sees, since every network input is min-max normalised.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from cbir.plots import plt, save_figure

PSNR_CAP_DB = 100.0


def unit(images: np.ndarray) -> np.ndarray:
    """Per-image min-max to [0, 1] of [N, H, W] (or [H, W]) arrays, float64."""
    x = np.asarray(images, np.float64)
    axes = tuple(range(x.ndim - 2, x.ndim))
    low = x.min(axis=axes, keepdims=True)
    span = x.max(axis=axes, keepdims=True) - low
    return (x - low) / np.where(span > 0, span, 1.0)


def psnr(reference: np.ndarray, images: np.ndarray, renormalize: bool = False) -> np.ndarray:
    """Per-image PSNR (dB) of uint8 `images` [N, H, W] against the min-max normalised `reference`: [N].

    `images` are taken as stored (/ 255), or min-max normalised with `renormalize`.
    """
    ref = unit(reference)
    img = unit(images) if renormalize else np.asarray(images, np.float64) / 255.0
    mse = ((ref - img) ** 2).reshape(len(ref), -1).mean(1)
    return 10.0 * np.log10(1.0 / np.maximum(mse, 10 ** (-PSNR_CAP_DB / 10)))


def read_history(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The per-epoch CSV of a training job as column -> float array."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no epochs in the training history")
    return {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}


def learning_curve_figure(history: str | os.PathLike, output: str | os.PathLike, title: str | None = None) -> None:
    """Loss and accuracy/PSNR per epoch, training and held-out, with the learning rate."""
    data = read_history(history)
    metric = "acc" if "train_acc" in data else "psnr"
    epochs = data["epoch"]
    title = title or Path(history).stem
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 3.6))
    marker = "o" if len(epochs) <= 30 else None
    ax_loss.plot(epochs, data["train_loss"], marker=marker, label="training (augmented/degraded batches)")
    ax_loss.plot(epochs, data["heldout_loss"], marker=marker, label="held-out (test subset)")
    ax_loss.set_ylabel("cross-entropy" if metric == "acc" else "MSE on [-1, 1]")
    scale = 100.0 if metric == "acc" else 1.0
    ax_metric.plot(epochs, scale * data[f"train_{metric}"], marker=marker, label="training")
    ax_metric.plot(epochs, scale * data[f"heldout_{metric}"], marker=marker, label="held-out")
    ax_metric.set_ylabel("accuracy (%)" if metric == "acc" else "PSNR (dB)")
    lr = ax_metric.twinx()
    lr.step(epochs, data["lr"], where="mid", color="0.6", linestyle=":", label="learning rate")
    lr.set_ylabel("learning rate", color="0.4")
    lr.set_ylim(0, data["lr"].max() * 1.1)
    for ax in (ax_loss, ax_metric):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    speed = np.median(data["images_per_s"])
    fig.suptitle(f"{title}: {len(epochs)} epochs, {data['seconds'].sum():.0f} s, median {speed:.0f} training images/s")
    fig.tight_layout()
    save_figure(fig, output)


def plot_augmentation(
    originals: np.ndarray, augmented: np.ndarray, names: list[str], output: str | os.PathLike
) -> None:
    """Rows: images; first column the original [n, H, W], then augmented versions [n, V, H, W] (all in [0, 1])."""
    n, versions = augmented.shape[:2]
    fig, axes = plt.subplots(n, versions + 1, figsize=(1.5 * (versions + 1), 1.55 * n), squeeze=False)
    for i in range(n):
        for j in range(versions + 1):
            ax = axes[i, j]
            ax.imshow(originals[i] if j == 0 else augmented[i, j - 1], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title("original" if j == 0 else f"augmented {j}", fontsize=8)
        axes[i, 0].set_ylabel(names[i], fontsize=8)
    fig.suptitle("Training augmentation: flip, rotation, translation, contrast and brightness", fontsize=9)
    fig.tight_layout()
    save_figure(fig, output)


def plot_confusion_matrix(matrix: np.ndarray, classes: list[str], output: str | os.PathLike, title: str = "") -> None:
    """Row-normalised confusion matrix (rows: true class) with the counts in each cell."""
    matrix = np.asarray(matrix)
    rates = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            colour = "white" if rates[i, j] > 0.6 else "black"
            ax.text(j, i, f"{rates[i, j]:.0%}\n{matrix[i, j]}", ha="center", va="center", fontsize=8, color=colour)
    ax.set_xticks(range(len(classes)), classes, rotation=30)
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    save_figure(fig, output)


def plot_enhancement(
    clean: np.ndarray,
    degraded: np.ndarray,
    enhanced: np.ndarray,
    output: str | os.PathLike,
    seed: int = 0,
    count: int = 6,
    title: str = "",
) -> None:
    """Rows clean / degraded / enhanced for `count` images picked by `seed`; PSNR in the titles."""
    if not (clean.shape == degraded.shape == enhanced.shape):
        raise ValueError(f"image sets differ in shape: {clean.shape}, {degraded.shape}, {enhanced.shape}")
    picks = np.sort(np.random.default_rng(seed).choice(len(clean), size=min(count, len(clean)), replace=False))
    psnr_degraded, psnr_enhanced = psnr(clean, degraded), psnr(clean, enhanced)
    fig, axes = plt.subplots(3, len(picks), figsize=(1.7 * len(picks), 5.6), squeeze=False)
    for j, i in enumerate(picks):
        rows = [
            (clean[i], f"#{i}"),
            (degraded[i], f"{psnr_degraded[i]:.1f} dB"),
            (enhanced[i], f"{psnr_enhanced[i]:.1f} dB"),
        ]
        for r, (image, label) in enumerate(rows):
            ax = axes[r, j]
            ax.imshow(unit(image), cmap="gray", vmin=0, vmax=1)
            ax.set_title(label, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    for r, name in enumerate(("clean", "degraded", "enhanced")):
        axes[r, 0].set_ylabel(name)
    renormalized = psnr(clean, enhanced, renormalize=True).mean()
    fig.suptitle(
        f"{title}: mean PSNR over {len(clean)} images: degraded {psnr_degraded.mean():.2f} dB, "
        f"enhanced {psnr_enhanced.mean():.2f} dB\n(enhanced after the per-image min-max of a network input: "
        f"{renormalized:.2f} dB)",
        fontsize=9,
    )
    fig.tight_layout()
    save_figure(fig, output)


def enhancement_figure(
    clean: str | os.PathLike,
    degraded: str | os.PathLike,
    enhanced: str | os.PathLike,
    output: str | os.PathLike,
    seed: int = 0,
    count: int = 6,
) -> None:
    """The enhancement figure of one query set from its three image-set files (same rows)."""
    from cbir.h5store import read_image_set

    sets = [read_image_set(p) for p in (clean, degraded, enhanced)]
    labels = [s.labels for s in sets]
    if not all(np.array_equal(labels[0], other) for other in labels[1:]):
        raise ValueError(f"{clean}, {degraded} and {enhanced} do not hold the same images (labels differ)")
    name = sets[2].attrs.get("enhancer", "enhancer")
    plot_enhancement(*(s.images for s in sets), output, seed=seed, count=count, title=f"{Path(degraded).stem} / {name}")
