"""The paper's Figure 6: a few test images and their degraded versions, one column per
degradation that the configured query sets use."""

from __future__ import annotations

import numpy as np

from cbir.degrade import check_specs, degrade
from cbir.plots import plt, show_image

FIGURE_IMAGES = 4  # rows: test images shown


def figure_specs(queries: dict[str, list[dict]]) -> list[dict]:
    """The distinct degradation specs of the query sets `queries` (name -> specs), in the
    order they first appear; the clean set (no specs) adds none."""
    seen: dict[tuple, dict] = {}
    for specs in queries.values():
        for spec in check_specs(specs):
            seen.setdefault(tuple(spec.items()), spec)
    return list(seen.values())


def _title_parts(spec: dict) -> tuple[list[str], list[str]]:
    """The numeric parameters as "key=value" and the true boolean ones by their key (false
    ones are left out: "motion_blur ... zero_centre" is the authors' blur, without it eq. (9))."""
    numbers = [f"{key}={value:g}" for key, value in spec.items() if key != "name" and not isinstance(value, bool)]
    flags = [key for key, value in spec.items() if value is True]
    return numbers, flags


def spec_title(spec: dict) -> str:
    """ "gaussian sigma=0.1", "lowres level=2", "motion_blur sigma=0.05 T=1 zero_centre": the
    name and the parameters of a checked spec; distinct specs get distinct titles."""
    numbers, flags = _title_parts(spec)
    return " ".join([spec["name"], *numbers, *flags])


def _panel_title(spec: dict) -> str:
    """`spec_title` on up to three lines (name, numbers, flags), to fit a narrow column."""
    numbers, flags = _title_parts(spec)
    return "\n".join(line for line in (spec["name"], " ".join(numbers), " ".join(flags)) if line)


def pick_rows(n_images: int) -> np.ndarray:
    """`FIGURE_IMAGES` evenly spaced rows of a split (so several classes show)."""
    return np.linspace(0, n_images - 1, min(FIGURE_IMAGES, n_images)).round().astype(int)


def degradations_figure(
    images: np.ndarray, rows: np.ndarray, queries: dict[str, list[dict]], *, seed: int, rescale: str
) -> plt.Figure:
    """Rows: `images` (uint8 [n, H, W] grey or [n, H, W, 3] RGB, the test split's rows `rows`,
    whose indices seed the draws); columns: the originals, then each spec of
    `figure_specs(queries)` applied alone (stream "figure")."""
    columns = [("original", images)]
    for spec in figure_specs(queries):
        shown = degrade(images, [spec], seed=seed, stream="figure", indices=rows, rescale=rescale, threads=1)
        columns.append((_panel_title(spec), shown))
    fig, axes = plt.subplots(len(images), len(columns), figsize=(1.6 * len(columns), 1.7 * len(images)), squeeze=False)
    for col, (title, shown) in enumerate(columns):
        for row in range(len(images)):
            ax = axes[row, col]
            show_image(ax, shown[row], interpolation="nearest")
            if row == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle(f"Degraded test images (seed {seed}, {rescale} rescale)", fontsize=10)
    fig.tight_layout()
    return fig
