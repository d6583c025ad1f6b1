"""Figures of the pipeline, one module per topic. Matplotlib only, no torch import."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # headless: rules run without a display

import matplotlib.pyplot as plt  # noqa: E402

from cbir.fsutil import atomic_path  # noqa: E402


def save_figure(fig: plt.Figure, path: str | os.PathLike, dpi: int = 120) -> None:
    """Write `fig` as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    plt.close(fig)


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
