"""Figures of training: learning curves, augmentation (the paper's Figure 2) and the
classifier's confusion matrix (Figure 5).

Each function builds a Figure from arrays and returns it; `cbir.stages.train` reads the
files and saves the figures. Matplotlib and numpy only (no torch).
"""

from __future__ import annotations

import numpy as np

from cbir.plots import plt, show_image


def learning_curve_figure(history: dict[str, np.ndarray], title: str) -> plt.Figure:
    """Loss and accuracy/PSNR per epoch, training and held-out, with the learning rate.

    `history`: the columns of a training history (epoch, train_loss, train_acc or
    train_psnr, heldout_loss, heldout_acc or heldout_psnr, lr, seconds, images_per_s).
    """
    metric = "acc" if "train_acc" in history else "psnr"
    epochs = history["epoch"]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 3.6))
    marker = "o" if len(epochs) <= 30 else None
    ax_loss.plot(epochs, history["train_loss"], marker=marker, label="training (augmented/degraded batches)")
    ax_loss.plot(epochs, history["heldout_loss"], marker=marker, label="held-out (validation subset)")
    loss_name = "cross-entropy" if metric == "acc" else "MSE on [-1, 1]"
    if "train_consistency_mse" in history:  # robust keys with stability training (held-out: CE alone)
        loss_name = "cross-entropy (+ consistency in training)"
    ax_loss.set_ylabel(loss_name)
    scale = 100.0 if metric == "acc" else 1.0
    ax_metric.plot(epochs, scale * history[f"train_{metric}"], marker=marker, label="training")
    ax_metric.plot(epochs, scale * history[f"heldout_{metric}"], marker=marker, label="held-out")
    ax_metric.set_ylabel("accuracy (%)" if metric == "acc" else "PSNR (dB)")
    lr = ax_metric.twinx()
    lr.step(epochs, history["lr"], where="mid", color="0.6", linestyle=":", label="learning rate")
    lr.set_ylabel("learning rate", color="0.4")
    lr.set_ylim(0, history["lr"].max() * 1.1)
    for ax in (ax_loss, ax_metric):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    speed = np.median(history["images_per_s"])
    fig.suptitle(
        f"{title}: {len(epochs)} epochs, {history['seconds'].sum():.0f} s, median {speed:.0f} training images/s"
    )
    fig.tight_layout()
    return fig


def augmentation_figure(originals: np.ndarray, augmented: np.ndarray, names: list[str]) -> plt.Figure:
    """Rows: images; first column the original [n, H, W], then augmented versions [n, V, H, W] (all in [0, 1]);
    colour images [n, H, W, 3] and [n, V, H, W, 3] (channels last) are drawn in colour."""
    n, versions = augmented.shape[:2]
    fig, axes = plt.subplots(n, versions + 1, figsize=(1.5 * (versions + 1), 1.55 * n), squeeze=False)
    for i in range(n):
        for j in range(versions + 1):
            ax = axes[i, j]
            show_image(ax, originals[i] if j == 0 else augmented[i, j - 1], unit=True)
            if i == 0:
                ax.set_title("original" if j == 0 else f"augmented {j}", fontsize=8)
        axes[i, 0].set_ylabel(names[i], fontsize=8)
    fig.suptitle("Training augmentation: flip, rotation, translation, contrast and brightness", fontsize=9)
    fig.tight_layout()
    return fig


def confusion_matrix_figure(matrix: np.ndarray, classes: list[str], title: str) -> plt.Figure:
    """Row-normalised C x C confusion matrix (rows: true class) with the counts in each cell.

    The figure grows with C (about 0.5 inch a class beyond five) and its texts shrink, so up to
    about 20 classes every cell stays readable; from 7 classes the column names stand at 60°."""
    matrix = np.asarray(matrix)
    n = len(classes)
    if matrix.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {matrix.shape} for {n} classes")
    rates = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    side = max(0.0, 0.5 * (n - 5))
    fig, ax = plt.subplots(figsize=(5.2 + side, 4.6 + side))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    cell_font = 8 if n <= 8 else 7 if n <= 12 else 6
    for i in range(n):
        for j in range(n):
            colour = "white" if rates[i, j] > 0.6 else "black"
            text = f"{rates[i, j]:.0%}\n{matrix[i, j]}"
            ax.text(j, i, text, ha="center", va="center", fontsize=cell_font, color=colour)
    label_font = 10 if n <= 8 else 8
    if n <= 6:
        ax.set_xticks(range(n), classes, rotation=30)
    else:
        ax.set_xticks(range(n), classes, rotation=60, ha="right", rotation_mode="anchor", fontsize=label_font)
    ax.set_yticks(range(n), classes, fontsize=label_font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    return fig
