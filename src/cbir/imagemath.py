"""Image maths shared by training, inference and figures: one definition of each.

Images are grey uint8 [N, H, W] or colour uint8 [N, H, W, 3] (channels last, RGB); tensors
given to a network are [N, C, H, W] with C = 1 or 3. Every image given to a network is min-max
normalised per image to [0, 1] and then mapped linearly to [-1, 1]:
x' = 2 (x - min x) / (max x - min x) - 1, min and max over all its pixels and channels together
(a per-channel stretch would change the colour balance). A constant image (max = min) maps to
-1 everywhere. Networks output [-1, 1] (tanh), which maps back to uint8 by 255 (y + 1) / 2,
rounded and clipped, in the stored layout.

PSNR is measured on the [0, 1] scale (peak 1), per image, the MSE over all pixels and
channels; an exact reconstruction (MSE 0) is reported as `PSNR_CAP_DB`. SSIM of colour images
is the mean over the channels of the per-channel SSIM. The numpy functions serve figures and
tables, the torch ones training and inference; tests keep the two in agreement. The torch
functions use tensor methods only, so figure jobs importing this module do not pay for
importing torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

PSNR_CAP_DB = 100.0
_MSE_FLOOR = 10 ** (-PSNR_CAP_DB / 10)


# ---------------------------------------------------------------------------------------
# numpy: uint8 or float arrays [N, H, W] or [N, H, W, 3] (or one grey image [H, W])
# ---------------------------------------------------------------------------------------


def image_channels(images: np.ndarray) -> int:
    """1 for a grey batch [N, H, W], 3 for a colour batch [N, H, W, 3]; any other shape is an error.

    A 3-d array is always a grey batch: [H, W, 3] (one colour image) cannot be told from [N, H, W]
    with W = 3, so one colour image is given as a batch of one."""
    shape = np.shape(images)
    if len(shape) == 3:
        return 1
    if len(shape) == 4 and shape[-1] == 3:
        return 3
    raise ValueError(f"expected grey images [N, H, W] or colour images [N, H, W, 3], got shape {tuple(shape)}")


def unit(images: np.ndarray) -> np.ndarray:
    """Per-image min-max to [0, 1], float64, of grey [N, H, W], colour [N, H, W, 3] (min and max
    over all channels together) or one grey image [H, W]."""
    x = np.asarray(images, np.float64)
    if x.ndim != 2:
        image_channels(x)
    axes = (0, 1) if x.ndim == 2 else tuple(range(1, x.ndim))
    low = x.min(axis=axes, keepdims=True)
    span = x.max(axis=axes, keepdims=True) - low
    return (x - low) / np.where(span > 0, span, 1.0)


def psnr_from_mse(mse: np.ndarray) -> np.ndarray:
    """PSNR in dB for peak 1, capped at `PSNR_CAP_DB`."""
    return 10.0 * np.log10(1.0 / np.maximum(mse, _MSE_FLOOR))


def _same_layout(reference: np.ndarray, images: np.ndarray) -> None:
    image_channels(reference)
    if np.shape(reference) != np.shape(images):
        raise ValueError(f"reference {np.shape(reference)} and images {np.shape(images)} differ in shape")


def affine_match(reference: np.ndarray, images: np.ndarray) -> np.ndarray:
    """`images` (uint8 [N, H, W] or [N, H, W, 3], / 255) mapped by the per-image a x + b (a >= 0)
    closest in least squares to the min-max normalised `reference`, float64, same shape. A colour
    image gets one (a, b) for all its channels, which keeps its colour balance.

    Every stored query is min-max rescaled after its degradation, which changes brightness and
    contrast without changing what the image shows (a blur that loses the mean, one salt pixel
    that sets the maximum); matching a and b first makes PSNR and SSIM measure the image, not that
    finish. a is kept >= 0 so that an inverted image is not credited."""
    _same_layout(reference, images)
    ref = unit(reference).reshape(len(reference), -1)
    img = (np.asarray(images, np.float64) / 255.0).reshape(len(ref), -1)
    img_c = img - img.mean(1, keepdims=True)
    ref_c = ref - ref.mean(1, keepdims=True)
    var = (img_c**2).sum(1, keepdims=True)
    a = np.maximum(np.divide((img_c * ref_c).sum(1, keepdims=True), var, out=np.zeros_like(var), where=var > 0), 0)
    fitted = a * img_c + ref.mean(1, keepdims=True)
    return fitted.reshape(np.shape(images))


def psnr(reference: np.ndarray, images: np.ndarray, renormalize: bool = False, affine: bool = False) -> np.ndarray:
    """Per-image PSNR (dB) of uint8 `images` [N, H, W] or [N, H, W, 3] against the min-max normalised
    `reference` (same shape), the MSE over all pixels and channels: [N].

    `images` are taken as stored (/ 255), min-max normalised with `renormalize`, or matched to the
    reference by a per-image affine intensity map with `affine` (`affine_match`).
    """
    _same_layout(reference, images)
    ref = unit(reference)
    if affine:
        img = affine_match(reference, images)
    else:
        img = unit(images) if renormalize else np.asarray(images, np.float64) / 255.0
    return psnr_from_mse(((ref - img) ** 2).reshape(len(ref), -1).mean(1))


# A source whose every channel spans fewer grey levels than this shows no detail to wipe out (a
# black border, a patch of night sky): a filter that flattens it has done nothing wrong.
DETAIL_RANGE = 8


def blanked(source: np.ndarray, result: np.ndarray) -> np.ndarray:
    """bool [N]: images that are constant in `result` though `source` shows detail (some channel
    spans at least `DETAIL_RANGE` levels); same shape, grey [N, H, W] or colour [N, H, W, 3], where
    constant means one colour (every channel flat): a degradation or restoration that wiped them
    out (an overflow, a level that keeps no detail)."""

    def channels(images: np.ndarray) -> np.ndarray:
        return images.reshape(len(images), -1, images.shape[3] if images.ndim == 4 else 1)

    flat = channels(result)
    constant = (flat == flat[:, :1]).all(axis=(1, 2))
    pixels = channels(source)
    detail = (pixels.max(axis=1).astype(np.int16) - pixels.min(axis=1) >= DETAIL_RANGE).any(axis=1)
    return constant & detail


class BlankedImagesError(ValueError):
    """A degradation or restoration left images constant that were not."""


def refuse_blanked(
    source: np.ndarray, result: np.ndarray, what: str, specs: Sequence[dict], output: str | os.PathLike
) -> None:
    """Stop before writing `output` when `result` wiped images of `source` out (all one grey
    level or colour), naming `what` and the parameters (`specs[i]`: image i's) that did it."""
    wiped = blanked(source, result)
    if not wiped.any():
        return
    culprits = sorted({json.dumps(specs[i], sort_keys=True) for i in np.flatnonzero(wiped)})
    raise BlankedImagesError(
        f"{output}: {wiped.sum()} of {len(wiped)} images of {what} come out constant "
        f"(all one level) under {', '.join(culprits)}: these parameters destroy the image; "
        "choose values within the schema's physical bounds"
    )


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of at most `batch_size` covering range(n)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


# ---------------------------------------------------------------------------------------
# torch: the network side
# ---------------------------------------------------------------------------------------


def from_stored(images: torch.Tensor) -> torch.Tensor:
    """Stored layout -> network layout: [N, H, W] -> [N, 1, H, W], [N, H, W, 3] -> [N, 3, H, W] (views)."""
    if images.ndim == 3:
        return images.unsqueeze(1)
    if images.ndim == 4 and images.shape[-1] == 3:
        return images.permute(0, 3, 1, 2)
    raise ValueError(f"expected stored images [N, H, W] or [N, H, W, 3], got {tuple(images.shape)}")


def to_stored(images: torch.Tensor) -> torch.Tensor:
    """Network layout -> stored layout: [N, 1, H, W] -> [N, H, W], [N, 3, H, W] -> [N, H, W, 3] (contiguous)."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images [N, C, H, W] with C 1 or 3, got {tuple(images.shape)}")
    return images[:, 0] if images.shape[1] == 1 else images.permute(0, 2, 3, 1).contiguous()


def unit_range(images: torch.Tensor) -> torch.Tensor:
    """Per-image min-max to [0, 1], over all channels together: uint8 or float [N, H, W] or
    [N, H, W, 3] (stored, `from_stored`) or [N, C, H, W] with C 1 or 3 -> float32 [N, C, H, W].

    A 4-d tensor whose dim 1 is 1 or 3 is taken as [N, C, H, W]; callers holding stored images
    whose height may be 1 or 3 pass `from_stored` of them."""
    x = images.float()
    if x.ndim == 3 or (x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[-1] == 3):
        x = from_stored(x)
    elif x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"expected images [N, H, W], [N, H, W, 3] or [N, C, H, W] with C 1 or 3, got {tuple(images.shape)}"
        )
    flat = x.flatten(1)
    low = flat.amin(1).view(-1, 1, 1, 1)
    span = flat.amax(1).view(-1, 1, 1, 1) - low
    return (x - low) / span.masked_fill(~(span > 0), 1.0)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """The network input: per-image min-max to [0, 1], then mapped to [-1, 1] (float32 [N, C, H, W])."""
    return unit_range(images) * 2.0 - 1.0


def to_uint8(output: torch.Tensor) -> np.ndarray:
    """Network output in [-1, 1] -> uint8 on the CPU in the stored layout: [N, 1, H, W] or
    [N, H, W] -> [N, H, W], [N, 3, H, W] -> [N, H, W, 3]."""
    y = output.detach().float()
    if y.ndim == 4:
        y = to_stored(y)
    elif y.ndim != 3:
        raise ValueError(f"expected network output [N, C, H, W] or [N, H, W], got {tuple(output.shape)}")
    y = ((y + 1.0) * 127.5).round().clamp(0, 255)
    return y.byte().cpu().numpy()


def psnr_pm1(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB, peak 1 on the [0, 1] scale) of tensors given on the [-1, 1] scale, the MSE
    over all pixels and channels: [N]."""
    # On [-1, 1] the squared error is 4 times that on [0, 1].
    mse01 = ((prediction.float() - target.float()) ** 2).flatten(1).mean(1) / 4.0
    return 10.0 * (1.0 / mse01.clamp_min(_MSE_FLOOR)).log10()


def ssim(reference: np.ndarray, images: np.ndarray, affine: bool = False) -> np.ndarray:
    """Per-image SSIM of uint8 `images` [N, H, W] or [N, H, W, 3] against the min-max normalised
    `reference` (as in `psnr`, `affine` as there): scikit-image's `structural_similarity` with its
    defaults (7 x 7 uniform window, K1 0.01, K2 0.03), data range 1; colour: its `channel_axis`,
    the mean over the channels of the per-channel SSIM: [N]."""
    from skimage.metrics import structural_similarity

    _same_layout(reference, images)
    channel_axis = -1 if image_channels(reference) == 3 else None
    ref = unit(reference)
    img = affine_match(reference, images) if affine else np.asarray(images, np.float64) / 255.0
    return np.array(
        [structural_similarity(r, i, data_range=1.0, channel_axis=channel_axis) for r, i in zip(ref, img, strict=True)]
    )
