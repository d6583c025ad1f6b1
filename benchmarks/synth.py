"""Render time of the smallNORB surrogate (cbir.synth) with the default config's parameters.

First `cbir.stages.data.synthesize`: both splits over the full grid at 96 px (2 x 24300
stereo pairs, 97200 images) in --threads worker processes, written to a temporary folder
(or --out); prints seconds and images/s. Then, in one process on --baseline-objects objects, ours (geometry
cast once per view, six lightings shaded from it) against a baseline that casts the
geometry again for every lighting; prints the ratio.

    .venv/bin/python benchmarks/synth.py [--threads 2] [--quick] [--out DIR]

--quick renders 3 elevations x 3 azimuths (all lightings, 1/18 of the grid) instead.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml  # noqa: E402

from cbir.norb import TRAIN_INSTANCES  # noqa: E402
from cbir.runlog import setup_logging  # noqa: E402
from cbir.stages.data import synthesize  # noqa: E402
from cbir.synth import RenderParams, render_views  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="worker processes")
    parser.add_argument("--quick", action="store_true", help="1/18 of the grid (3 elevations x 3 azimuths)")
    parser.add_argument("--size", type=int, default=96, help="image side in pixels")
    parser.add_argument("--out", help="keep the files in this folder (default: a temporary folder)")
    parser.add_argument("--baseline-objects", type=int, default=2, help="objects timed for the baseline (0: skip)")
    args = parser.parse_args()
    setup_logging(None)
    synthetic = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["dataset"]["synthetic"]
    params = RenderParams(**{k: v for k, v in synthetic.items() if k != "seed"})

    grid = {"elevations": range(9), "azimuths": range(18), "lightings": range(6)}
    if args.quick:
        grid = {"elevations": [0, 4, 8], "azimuths": [0, 6, 12], "lightings": range(6)}
    views = len(grid["elevations"]) * len(grid["azimuths"])
    images = 2 * 25 * views * 6 * 2  # splits x objects per split x views x lightings x cameras

    with tempfile.TemporaryDirectory(prefix="synthnorb-bench-") as tmp:
        out = Path(args.out or tmp)
        start = time.perf_counter()
        synthesize(folder=out, synthetic=synthetic, threads=args.threads, image_size=args.size, **grid)
        ours = time.perf_counter() - start
    print(
        f"ours: {ours:.1f} s for {images} images ({images / ours:.0f} images/s), "
        f"{args.size} px, {args.threads} worker process(es){', quick grid' if args.quick else ''}"
    )

    if args.baseline_objects > 0:
        # Same process, same objects, one at a time: cast once and shade six lightings, or
        # cast again for every lighting.
        objects = [(c % 5, TRAIN_INSTANCES[c % 5]) for c in range(args.baseline_objects)]
        options = {"image_size": args.size, "seed": synthetic["seed"], "params": params}
        factors = {"elevations": grid["elevations"], "azimuths": grid["azimuths"]}
        start = time.perf_counter()
        for category, instance in objects:
            render_views(category, instance, **factors, lightings=grid["lightings"], **options)
        once = time.perf_counter() - start
        start = time.perf_counter()
        for category, instance in objects:
            for lighting in grid["lightings"]:
                render_views(category, instance, **factors, lightings=[lighting], **options)
        again = time.perf_counter() - start
        print(
            f"per object, 1 process ({len(objects)} objects): cast once {once / len(objects):.2f} s, "
            f"re-cast per lighting (baseline) {again / len(objects):.2f} s; ratio baseline/ours = {again / once:.2f}"
        )


if __name__ == "__main__":
    main()
