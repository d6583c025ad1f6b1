"""Toy training data and complete recipes shared by the training tests (tests/train, tests/stages)."""

from __future__ import annotations

import numpy as np

from cbir.h5store import COLUMNS, write_image_set

CPU = {"device": "cpu", "amp": True, "channels_last": True}  # config `runtime`; amp/channels_last are CUDA-only
AUGMENT = {"hflip": True, "rotate_deg": 5.0, "translate_px": 5.0, "brightness": 0.2, "contrast": 0.2, "fill": "border"}
CLASSIFIER = {
    "arch": "resnet18",
    "weights": "none",
    "head": "fc",
    "label_smoothing": 0.0,
    "epochs": 3,
    "batch_size": 8,
    "lr": 1e-3,
    "lr_step": 2,
    "lr_gamma": 0.5,
    "eval_images": 20,
    "augment": AUGMENT,
}
PIXEL_LOSS = {"pixel": 1.0, "feature": 0.0}  # config `enhancers.<name>.loss`: the paper's plain MSE
UPSCALER = {
    "network": "srcnn",
    "degradations": [{"name": "lowres", "level": 1}],
    "loss": PIXEL_LOSS,
    "width": 8,  # residual, unet: ignored by the paper's networks
    "depth": 4,  # residual
    "scales": 2,  # unet
    "epochs": 3,
    "batch_size": 8,
    "lr": 1e-3,
    "lr_step": 40,
    "lr_gamma": 0.5,
    "steps_per_epoch": 4,
    "eval_images": 10,
}
DENOISE = [{"name": "gaussian", "sigma": 0.1}, {"name": "speckle", "amount": 0.1}]
DENOISER = {**UPSCALER, "network": "autoencoder", "degradations": DENOISE}
# the authors' recipe (config/paper.yaml) where it differs from the paper's text
AUTHORS_AUGMENT = {**AUGMENT, "translate_px": 4.8, "brightness": 0.01, "fill": "black"}
AUTHORS_CLASSIFIER = {**CLASSIFIER, "head": "mlp", "label_smoothing": 0.1, "augment": AUTHORS_AUGMENT}
REFERENCE_DENOISER = {**DENOISER, "network": "reference_autoencoder"}
RESIDUAL_DENOISER = {**DENOISER, "network": "residual"}
UNET_DENOISER = {**DENOISER, "network": "unet"}
FEATURE_DENOISER = {**RESIDUAL_DENOISER, "loss": {"pixel": 1.0, "feature": 0.5}}  # retrieval-aware


def toy_images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Five classes of stripes with class-dependent frequency, random phase and noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 5
    grid = np.arange(size) / size
    phase = rng.uniform(0, 1, (n, 1, 1))
    stripes = np.sin(2 * np.pi * (labels[:, None, None] + 1) * (grid[None, None, :] + phase))
    images = 0.5 + 0.4 * stripes * np.ones((1, size, 1)) + rng.normal(0, 0.05, (n, size, size))
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), labels


def colourise(images: np.ndarray) -> np.ndarray:
    """Grey images [N, H, W] as colour [N, H, W, 3] whose channels differ: red the image, green
    its mirror image, blue its negative at half contrast."""
    return np.stack([images, images[:, :, ::-1], 255 - images // 2], axis=-1)


def toy_splits(n: int = 40, size: int = 32, colour: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The train (seed 0) and test (seed 1) toy splits as (images, labels); `colour`: `colourise`d."""
    splits = {"train": toy_images(n, size, 0), "test": toy_images(n, size, 1)}
    return {k: (colourise(images), labels) for k, (images, labels) in splits.items()} if colour else splits


def write_toy_splits(folder, n: int = 40, size: int = 32, colour: bool = False) -> None:
    """train.h5 and test.h5 of `toy_splits` in `folder`."""
    for split, (images, labels) in toy_splits(n, size, colour).items():
        columns = {c: np.zeros(len(images), np.int64) for c in COLUMNS}
        columns["label"] = labels
        write_image_set(folder / f"{split}.h5", images, columns, {"source": "toy"})
