"""Write tiles of the colour photographs bundled in the scikit-image and scikit-learn wheels (no
download) as a labelled image folder with a manifest: the class of a tile is the photograph it
was cut from, its group the 64-px block it lies in, so no region straddles train and test.

    python examples/export_photo_tiles.py resources/photo_tiles
    snakemake --cores all --configfile config/photo_tiles.yaml

Each photograph is resized (area interpolation) so its short side is 256 px, then cut into
non-overlapping 32-px tiles: a colour retrieval task on real photographs ("which picture is
this patch from?") that any machine can rebuild exactly. It exercises the colour path; it is
not a benchmark of object retrieval.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data
from sklearn.datasets import load_sample_images

SHORT_SIDE = 256
TILE = 32
BLOCK = 2  # tiles per group side: a group is a 64 x 64 px block


def photographs() -> dict[str, np.ndarray]:
    """The bundled RGB photographs by name (uint8 [H, W, 3])."""
    photos = {name: getattr(data, name)() for name in ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field")}
    photos["retina"] = data.retina()
    samples = load_sample_images()
    for path, image in zip(samples.filenames, samples.images, strict=True):
        photos[Path(path).stem] = image
    return {name: np.ascontiguousarray(image[..., :3]) for name, image in sorted(photos.items())}


def shrink(image: np.ndarray) -> np.ndarray:
    scale = SHORT_SIDE / min(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def export(out: Path) -> int:
    rows = []
    for name, photo in photographs().items():
        small = shrink(photo)
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(small.shape[0] // TILE):
            for j in range(small.shape[1] // TILE):
                tile = small[i * TILE : (i + 1) * TILE, j * TILE : (j + 1) * TILE]
                path = folder / f"{i:02d}_{j:02d}.png"
                Image.fromarray(tile, mode="RGB").save(path)
                group = f"{name}/{i // BLOCK}_{j // BLOCK}"
                rows.append({"path": path.relative_to(out).as_posix(), "label": name, "group": group})
    with open(out / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "label", "group"])
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write (created)")
    n = export(parser.parse_args().out)
    print(f"wrote {n} tiles and manifest.csv")
