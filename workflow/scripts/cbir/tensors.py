"""Image tensors as the networks see them.

Definition (DESIGN section 5): every image given to a network is min-max normalised per
image to [0, 1] and then mapped linearly to [-1, 1]: x' = 2 (x - min x) / (max x - min x) - 1.
A constant image (max = min) maps to -1 everywhere. Networks output [-1, 1] (tanh), which
maps back to uint8 by 255 (y + 1) / 2, rounded and clipped.

PSNR is measured on the [0, 1] scale (peak 1), per image, then averaged over images.
"""

from __future__ import annotations

import numpy as np
import torch

PSNR_CAP_DB = 100.0  # the PSNR of an exact reconstruction (MSE 0) is reported as this


def unit_range(images: torch.Tensor) -> torch.Tensor:
    """Per-image min-max to [0, 1]: uint8 or float [N, H, W] or [N, 1, H, W] -> float32 [N, 1, H, W]."""
    x = images.float()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected images [N, H, W] or [N, 1, H, W], got {tuple(images.shape)}")
    flat = x.flatten(1)
    low = flat.amin(1).view(-1, 1, 1, 1)
    span = flat.amax(1).view(-1, 1, 1, 1) - low
    return (x - low) / torch.where(span > 0, span, torch.ones_like(span))


def normalize(images: torch.Tensor) -> torch.Tensor:
    """The network input: per-image min-max to [0, 1], then mapped to [-1, 1] (float32 [N, 1, H, W])."""
    return unit_range(images) * 2.0 - 1.0


def to_uint8(output: torch.Tensor) -> np.ndarray:
    """Network output in [-1, 1] ([N, 1, H, W] or [N, H, W]) -> uint8 [N, H, W] on the CPU."""
    y = output.detach().float()
    if y.ndim == 4:
        y = y[:, 0]
    y = ((y + 1.0) * 127.5).round().clamp(0, 255)
    return y.to(torch.uint8).cpu().numpy()


def psnr_pm1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB, peak 1 on the [0, 1] scale) of tensors given on the [-1, 1] scale: [N]."""
    # On [-1, 1] the squared error is 4 times that on [0, 1].
    mse01 = ((prediction.float() - target.float()) ** 2).flatten(1).mean(1) / 4.0
    psnr = 10.0 * torch.log10(1.0 / mse01.clamp_min(10 ** (-PSNR_CAP_DB / 10)))
    return psnr


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of at most `batch_size` covering range(n)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
