"""PSNR and throughput of the classical restorers (cbir.classical) on degraded query images.

Test images: --h5 (a pipeline test split, e.g. results/demo/data/test.h5) when given and
present, else the surrogate's test objects rendered at 96 px with the default config's
parameters and area-resized to --size (as the pipeline converts). A seeded sample of --n
images is degraded with each of the default config's query sets (config/config.yaml) and
restored by the restorers meant for it, over a few parameter values each. Prints the mean
PSNR (cbir.imagemath.psnr against the clean image) of the degraded and restored images and
the restorer's images/s (one process; the machine's other work shows in the rates). The blur
sets also get an oracle: Wiener deconvolution with each image's true transfer function
(redrawn from the degradation's internals), the ceiling of any blind deconvolution.

    .venv/bin/python benchmarks/classical.py                    # 500 images of 32 px
    .venv/bin/python benchmarks/classical.py --n 2000 --h5 results/demo/data/test.h5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]

from cbir import classical  # noqa: E402
from cbir.config import validate_config  # noqa: E402
from cbir.convert import resize_batch  # noqa: E402
from cbir.degrade import CounterRandom, degrade, finish, motion_transfer  # noqa: E402
from cbir.degrade.motion import blur_params  # noqa: E402
from cbir.imagemath import psnr  # noqa: E402
from cbir.norb import CATEGORIES, TEST_INSTANCES  # noqa: E402
from cbir.synth import RenderParams, render_grid  # noqa: E402

NOISES = ("gaussian", "salt_pepper", "speckle")


def restorers_for(specs: list[dict], *, seed: int, stream: str) -> dict[str, callable]:
    """Label -> restorer(images) of every restorer and parameter value tried on a query set."""
    names = {spec["name"] for spec in specs}
    found = {}
    if names <= set(NOISES):
        for size in (3, 5):
            found[f"median size={size}"] = lambda x, size=size: classical.median(x, size=size)
        for h, t, s in ((15, 5, 11), (20, 5, 11), (25, 5, 11), (30, 5, 11), (25, 3, 11), (25, 7, 21)):
            found[f"nlmeans h={h} template={t} search={s}"] = lambda x, h=h, t=t, s=s: classical.nlmeans(
                x, h=h, template_size=t, search_size=s
            )
    if names == {"motion_blur"} and len(specs) == 1:
        blur = {key: specs[0][key] for key in ("sigma", "T", "zero_centre")}
        for nsr in (1e-3, 1e-2, 0.1, 0.3, 1.0):
            found[f"wiener nsr={nsr:g}"] = lambda x, nsr=nsr: classical.wiener(x, **blur, nsr=nsr)
        if blur["zero_centre"]:  # what ignoring the zeroed centre costs
            found["wiener nsr=0.3, centre ignored"] = lambda x: classical.wiener(
                x, **blur | {"zero_centre": False}, nsr=0.3
            )
        found["oracle: true H per image, nsr=1e-3"] = lambda x: oracle_wiener(x, blur, seed=seed, stream=stream)
    if names == {"lowres"}:
        for method in classical.INTERPOLATIONS:
            found[f"interpolate {method}"] = lambda x, method=method: classical.interpolate(x, method=method)
    return found


def oracle_wiener(images: np.ndarray, blur: dict, *, seed: int, stream: str) -> np.ndarray:
    """The ceiling of `classical.wiener`: each image's own blur, redrawn as `degrade` draws it
    (its internals: the stream's counter-based draws for image indices 0 .. N-1)."""
    a, b = blur_params(CounterRandom.for_stream(seed, stream, np.arange(len(images))), blur["sigma"])
    transfer = motion_transfer(images.shape[1:], a, b, T=blur["T"])
    if blur["zero_centre"]:
        transfer = transfer * classical.centre_mask(images.shape[1:])
    return finish(classical.wiener_deconvolve(images / 255, transfer, nsr=1e-3).astype(np.float32), "minmax")


def load_images(args, config: dict) -> np.ndarray:
    """uint8 [n, size, size] clean test images, a seeded sample."""
    if args.h5 and Path(args.h5).exists():
        from cbir.h5store import read_image_set

        pool = read_image_set(args.h5).images
        source = args.h5
    else:
        synthetic = config["dataset"]["synthetic"]
        params = RenderParams(**{k: v for k, v in synthetic.items() if k != "seed"})
        rendered, _, _ = render_grid(
            TEST_INSTANCES,
            categories=range(len(CATEGORIES)),
            elevations=[1, 4, 7],
            azimuths=range(0, 18, 3),
            lightings=[0, 2, 4],
            image_size=96,
            seed=synthetic["seed"],
            params=params,
            threads=args.threads,
            desc="render",
        )
        pool = resize_batch(rendered[:, 0], args.size)
        source = f"the surrogate's test objects, camera 0, rendered at 96 px and resized to {args.size} px"
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.choice(len(pool), min(args.n, len(pool)), replace=False))
    print(f"{len(pick)} clean images of {pool.shape[1]} px from {source}")
    return pool[pick]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="images in the sample")
    parser.add_argument("--size", type=int, default=32, help="image side of rendered images")
    parser.add_argument("--h5", help="an image set to sample instead of rendering (when it exists)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="render worker processes")
    parser.add_argument("--sets", nargs="+", help="query sets to run (default: all of the config's)")
    args = parser.parse_args()
    config = validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    clean = load_images(args, config)
    for name, specs in config["queries"].items():
        stream = f"queries/{name}"
        restorers = restorers_for(specs, seed=args.seed, stream=stream)
        if not specs or not restorers or (args.sets and name not in args.sets):
            continue
        rescale = config["degradation"]["rescale"]
        degraded = degrade(clean, specs, seed=args.seed, stream=stream, rescale=rescale, threads=1)
        print(f"\n{name}: {specs}\n  {'degraded':<40} PSNR {psnr(clean, degraded).mean():6.2f} dB")
        for label, restore in restorers.items():
            start = time.perf_counter()
            restored = restore(degraded)
            seconds = time.perf_counter() - start
            assert restored.shape == clean.shape and restored.dtype == np.uint8
            print(f"  {label:<40} PSNR {psnr(clean, restored).mean():6.2f} dB  {len(clean) / seconds:9.0f} images/s")


if __name__ == "__main__":
    main()
