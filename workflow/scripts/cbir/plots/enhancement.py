"""Before/after enhancement figures (the paper's A1-A3): clean, degraded and enhanced images with PSNR.

PSNR as in `cbir.imagemath.psnr`: the clean reference min-max normalised per image to
[0, 1], the judged uint8 image taken as stored (/ 255). Degraded sets are stored min-max
rescaled already and an enhancer's output as 255 (y + 1) / 2, so this is the PSNR of the
network output itself, the number training reports. The suptitle adds the enhanced PSNR
after a per-image min-max (`renormalize=True`): what a network downstream sees.
"""

from __future__ import annotations

import numpy as np

from cbir.imagemath import psnr, unit
from cbir.plots import plt

ROWS = ("clean", "degraded", "enhanced")
EXAMPLES = 6  # columns: images shown


def pick_examples(n_images: int, count: int, seed: int) -> np.ndarray:
    """Sorted indices of `count` (at most `n_images`) distinct images drawn with `seed`."""
    return np.sort(np.random.default_rng(seed).choice(n_images, size=min(count, n_images), replace=False))


def enhancement_figure(
    clean: np.ndarray, degraded: np.ndarray, enhanced: np.ndarray, *, seed: int, title: str
) -> plt.Figure:
    """Rows clean / degraded / enhanced (uint8 [N, H, W], same rows) for `EXAMPLES` images
    picked by `seed`, one column each; PSNR per image in the titles, the means over all
    images in the suptitle."""
    if not (clean.shape == degraded.shape == enhanced.shape) or clean.ndim != 3:
        raise ValueError(
            f"image sets must be [N, H, W] of one shape, got {clean.shape}, {degraded.shape}, {enhanced.shape}"
        )
    picks = pick_examples(len(clean), EXAMPLES, seed)
    psnr_degraded, psnr_enhanced = psnr(clean, degraded), psnr(clean, enhanced)
    fig, axes = plt.subplots(len(ROWS), len(picks), figsize=(1.7 * len(picks), 5.6), squeeze=False)
    for j, i in enumerate(picks):
        cells = [
            (clean[i], f"#{i}"),
            (degraded[i], f"{psnr_degraded[i]:.1f} dB"),
            (enhanced[i], f"{psnr_enhanced[i]:.1f} dB"),
        ]
        for r, (image, label) in enumerate(cells):
            ax = axes[r, j]
            ax.imshow(unit(image), cmap="gray", vmin=0, vmax=1)
            ax.set_title(label, fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    for r, name in enumerate(ROWS):
        axes[r, 0].set_ylabel(name)
    renormalized = psnr(clean, enhanced, renormalize=True).mean()
    fig.suptitle(
        f"{title}: mean PSNR over {len(clean)} images: degraded {psnr_degraded.mean():.2f} dB, "
        f"enhanced {psnr_enhanced.mean():.2f} dB\n(enhanced after the per-image min-max of a network input: "
        f"{renormalized:.2f} dB)",
        fontsize=9,
    )
    fig.tight_layout()
    return fig
