"""Figures of the pipeline, one module per topic. Matplotlib only, no torch import."""

from __future__ import annotations

import os

import matplotlib
import numpy as np

matplotlib.use("Agg")  # headless: rules run without a display

import matplotlib.pyplot as plt  # noqa: E402

from cbir.fsutil import atomic_path  # noqa: E402


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 120) -> None:
    """Write `fig` as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


def show_image(ax: plt.Axes, image: np.ndarray, *, unit: bool = False, interpolation: str | None = None) -> None:
    """Draw one image on `ax`, without ticks. Values are on 0..255 (uint8), or on [0, 1] with `unit`.

    Grey [H, W]: the grey colour map on that fixed range (so a dark image looks dark, not
    stretched). Colour [H, W, 3] (RGB, channels last): as it is, uint8 as stored, floats scaled
    to and clipped at [0, 1] (imshow would clip them with a warning). `interpolation` is imshow's
    (None: matplotlib's default)."""
    image = np.asarray(image)
    if image.ndim == 2:
        ax.imshow(image, cmap="gray", vmin=0, vmax=1 if unit else 255, interpolation=interpolation)
    elif image.ndim == 3 and image.shape[-1] == 3:
        if unit or image.dtype != np.uint8:
            image = np.clip(image if unit else image / 255.0, 0, 1)
        ax.imshow(image, interpolation=interpolation)
    else:
        raise ValueError(f"an image must be grey [H, W] or colour [H, W, 3], got shape {image.shape}")
    ax.set_xticks([])
    ax.set_yticks([])


class RemedyStyles:
    """How a remedy (key set x enhancer) looks in every figure and panel: one colour per
    enhancer (grey for none), one bar hatch and line style per key set, the standard keys
    plain. Remedies that share a restorer share a colour, so the key sets compare at a glance."""

    NO_RESTORER = "0.4"
    HATCHES = ("", "//", "..", "xx")
    LINESTYLES = ("-", "--", ":", "-.")
    # tab10 without its grey (C7: no restorer), then tab20's light shades: 17 enhancers before a
    # colour repeats (the demo with the paper's restorers draws 10)
    _PALETTE = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C8", "C9")
    _PALETTE += ("#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#dbdb8d", "#9edae5")

    def __init__(self) -> None:
        self._colours: dict[str, str] = {}
        self._keys: dict[str, int] = {}

    def colour(self, enhancer: str) -> str:
        if enhancer == "none":
            return self.NO_RESTORER
        return self._colours.setdefault(enhancer, self._PALETTE[len(self._colours) % len(self._PALETTE)])

    def _key(self, keys: str) -> int:
        return self._keys.setdefault(keys, 0 if keys == "standard" else max(self._keys.values(), default=0) + 1)

    def hatch(self, keys: str) -> str:
        return self.HATCHES[self._key(keys) % len(self.HATCHES)]

    def linestyle(self, keys: str) -> str:
        return self.LINESTYLES[self._key(keys) % len(self.LINESTYLES)]
