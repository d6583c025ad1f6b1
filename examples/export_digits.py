"""Write scikit-learn's handwritten digits (UCI "Optical Recognition of Handwritten Digits",
1,797 images of 8x8 pixels, 10 classes, bundled in the wheel: no download) as a labelled image
folder, <out>/<digit>/<index>.png, the layout `dataset.source: folder` reads.

    python examples/export_digits.py resources/digits
    snakemake --cores all --configfile config/digits.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def export(out: Path) -> int:
    digits = load_digits()
    # 17 grey levels (0..16) spread over 0..255, ink white on black as the scans were stored
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)
    for index, (image, label) in enumerate(zip(images, digits.target, strict=True)):
        folder = out / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(folder / f"{index:04d}.png")
    return len(images)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write (created)")
    n = export(parser.parse_args().out)
    print(f"wrote {n} images")
