"""What the data is.

smallNORB (`dataset_figure`): every object of both splits, and one object across the factor
grid. Rows 1-5: one row per category, one image per instance (instances 0-9; the split holding
it named in the title), all in the same view. Rows 6-8: one object across the 18 azimuths
(every second one), the 9 elevations, and the 6 lightings followed by its stereo pair
(cameras 0 and 1). A view the data does not hold is drawn as "absent".

Any other labelled image set (`examples_figure`, a folder of images): one row per class (up to
MAX_CLASSES), its name and image counts per split beside it, then a few of its images drawn at
random (seeded), each titled with its split and row. Grey images are drawn grey, colour ones
([N, H, W, 3]) in colour (`cbir.plots.show_image`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cbir.plots import plt, show_image

N_COLUMNS = 10  # instances 0..9
VIEW = (4, 3, 0)  # (elevation, azimuth, lighting) indices of the instance rows: 50°, 60°, lighting 0
SWEEP_OBJECT = (0, 4)  # (category, instance) shown across the factors
EXAMPLES = 8  # images per class in the examples figure
MAX_CLASSES = 20  # rows of the examples figure; more classes: the first MAX_CLASSES

Split = tuple[np.ndarray, np.ndarray, np.ndarray]  # images [N, 2, H, W], labels [N], info [N, 4]


class _Lookup:
    """Images of several splits addressed by (category, instance, elevation, azimuth, lighting)."""

    def __init__(self, splits: Sequence[Split]):
        self.images = [images for images, _, _ in splits]
        self.rows: dict[tuple[int, ...], tuple[int, int]] = {}
        for s, (_, labels, info) in enumerate(splits):
            keys = np.column_stack([labels, info])
            for r, key in enumerate(map(tuple, keys.tolist())):
                self.rows.setdefault(key, (s, r))

    def get(self, category: int, instance: int, elevation: int, azimuth: int, lighting: int, camera: int = 0):
        """The image, or None when no split holds that factor combination (azimuth as an index)."""
        key = (category, instance, elevation, 2 * azimuth, lighting)
        if key not in self.rows:
            return None
        s, r = self.rows[key]
        return self.images[s][r, camera]


def _show(ax, image, title: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if image is None:
        ax.text(0.5, 0.5, "absent", ha="center", va="center", fontsize=7, transform=ax.transAxes)
    else:
        show_image(ax, image, interpolation="nearest")
    ax.set_title(title, fontsize=7, pad=2)


def dataset_figure(
    splits: Mapping[str, Split],
    *,
    categories: Sequence[str],
    view: tuple[int, int, int] = VIEW,
    sweep_object: tuple[int, int] = SWEEP_OBJECT,
) -> plt.Figure:
    """The figure of the smallNORB-format `splits` (name -> images, labels, info; info columns
    instance, elevation index, 2 * azimuth index, lighting), `categories` naming the labels.

    `view` is the (elevation, azimuth, lighting) index triple of the instance rows;
    `sweep_object` the (category, instance) shown across azimuths, elevations and lightings.
    Azimuth indices are 0..17 (20 degrees apart), elevation 0..8 (30..70 degrees by 5).
    """
    lookup = _Lookup(list(splits.values()))
    holder = {int(i): name for name, (_, _, info) in splits.items() for i in np.unique(info[:, 0])}
    elevation, azimuth, lighting = view
    cat, inst = sweep_object
    rows = len(categories) + 3
    fig, axes = plt.subplots(rows, N_COLUMNS, figsize=(1.25 * N_COLUMNS, 1.42 * rows), squeeze=False)
    for c, name in enumerate(categories):
        for i in range(N_COLUMNS):
            title = f"{i} ({holder[i]})" if i in holder else str(i)
            _show(axes[c, i], lookup.get(c, i, elevation, azimuth, lighting), title)
        axes[c, 0].set_ylabel(f"{c}: {name}", fontsize=8)
    r = len(categories)
    for k in range(N_COLUMNS):
        for ax in axes[r:, k]:
            ax.axis("off")  # unused cells stay blank; used ones are redrawn below
        if k < 9:
            ax_a, ax_e = axes[r, k], axes[r + 1, k]
            ax_a.axis("on")
            ax_e.axis("on")
            _show(ax_a, lookup.get(cat, inst, elevation, 2 * k, lighting), f"az {40 * k}°")
            _show(ax_e, lookup.get(cat, inst, k, azimuth, lighting), f"elev {30 + 5 * k}°")
        if k < 8:
            axes[r + 2, k].axis("on")
            if k < 6:
                _show(axes[r + 2, k], lookup.get(cat, inst, elevation, azimuth, k), f"lighting {k}")
            else:
                camera = k - 6
                _show(axes[r + 2, k], lookup.get(cat, inst, elevation, azimuth, lighting, camera), f"camera {camera}")
    axes[r, 0].set_ylabel("azimuth", fontsize=8)
    axes[r + 1, 0].set_ylabel("elevation", fontsize=8)
    axes[r + 2, 0].set_ylabel("lighting, stereo", fontsize=8)
    fig.suptitle(
        f"Rows 1-5: instances 0-9 of each category (elevation {30 + 5 * elevation}°, azimuth {20 * azimuth}°, "
        f"lighting {lighting}, camera 0).\nRows 6-8: {categories[cat]} {inst} across azimuth, elevation, "
        f"lighting and the two cameras.",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def examples_figure(
    splits: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    classes: Sequence[str],
    columns: int = EXAMPLES,
    seed: int = 0,
    max_classes: int = MAX_CLASSES,
) -> plt.Figure:
    """Example images of each class of a labelled image set (see module doc). `splits`: split
    name -> (uint8 images [N, H, W] or [N, H, W, 3], labels [N] in 0..C-1), `classes` naming the labels. The
    examples of class c are `columns` rows drawn without replacement (seed `seed`) from all the
    splits' images of class c, shown in split and row order; a class with fewer shows all."""
    names = list(splits)
    labels = np.concatenate([np.asarray(lab, np.int64) for _, lab in splits.values()])
    split_of = np.concatenate([np.full(len(lab), s) for s, (_, lab) in enumerate(splits.values())])
    row_of = np.concatenate([np.arange(len(lab)) for _, lab in splits.values()])
    shown = list(range(min(len(classes), max_classes)))
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(len(shown), columns, figsize=(1.1 * columns + 1.6, 1.3 * len(shown) + 0.6), squeeze=False)
    for c in shown:
        members = np.flatnonzero(labels == c)
        picked = np.sort(rng.choice(members, size=min(columns, len(members)), replace=False))
        for j, ax in enumerate(axes[c]):
            if j >= len(picked):  # blank, but its axes kept: the first one carries the row label
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                if j == 0:
                    ax.text(0.5, 0.5, "no images", ha="center", va="center", fontsize=7, transform=ax.transAxes)
                continue
            s, r = int(split_of[picked[j]]), int(row_of[picked[j]])
            _show(ax, splits[names[s]][0][r], f"{names[s]} {r}")
        counts = [int((np.asarray(lab) == c).sum()) for _, lab in splits.values()]
        label = f"{c}: {classes[c]}\n{len(members)} image{'' if len(members) == 1 else 's'}"
        if len(names) > 1:
            label += "\n" + "\n".join(f"{name} {n}" for name, n in zip(names, counts, strict=True))
        axes[c, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center", labelpad=6)
    sizes = ", ".join(f"{name} {len(lab)}" for name, (_, lab) in splits.items())
    more = f" (the first {len(shown)} shown)" if len(shown) < len(classes) else ""
    fig.suptitle(
        f"{len(classes)} classes{more}, {len(labels)} images ({sizes}); {columns} random examples per class, "
        "titled with their split and row",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig
