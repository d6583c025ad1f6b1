"""Throughput of the batched degradations against a straightforward per-image version.

The baseline follows the paper's reference code: a Python loop over the images, each one
converted to float64 in [0, 1], given its own numpy Generator (seeded by seed and index,
so it is deterministic per image as ours is), degraded with numpy calls on that image
(np.fft.fft2 with a centred transfer function, for motion_blur_zc with the notebook's zeroed
centre too; pywt.wavedec2), min-max rescaled and quantised. Ours is `cbir.degrade.degrade` on the whole batch, with 1 thread and with
each count in --threads (blocks of images shared out to a thread pool). The baseline runs on
a subset (--baseline-n images) and its time is scaled to the full batch. Times are the best
of --repeats wall-clock runs; on a shared machine compare the ratios, not the seconds.

    .venv/bin/python benchmarks/degradations.py                 # 24300 images of 96 x 96
    .venv/bin/python benchmarks/degradations.py --n 2000 --size 32
    .venv/bin/python benchmarks/degradations.py --h5 results/demo/data/test.h5
    .venv/bin/python benchmarks/degradations.py --threads 2 4
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pywt

from cbir.degrade import degrade  # noqa: E402

CASES = {
    "gaussian": {"name": "gaussian", "sigma": 0.1},
    "salt_pepper": {"name": "salt_pepper", "amount": 0.1},
    "speckle": {"name": "speckle", "amount": 0.1},
    "motion_blur": {"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": False},
    "motion_blur_zc": {"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": True},
    "lowres_x2": {"name": "lowres", "level": 1},
    "lowres_x4": {"name": "lowres", "level": 2},
}


def structured_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """uint8 [n, size, size]: smooth random blobs on a gradient (object-like, not white noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, size, size), np.uint8)
    for start in range(0, n, 256):
        m = min(256, n - start)
        cy, cx, r = (rng.uniform(0.2, 0.8, (3, m, 1, 1)) * [[[[1]]], [[[1]]], [[[0.4]]]]).astype(np.float32)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))
        img = 0.2 + 0.6 * blob + 0.1 * xx + 0.05 * rng.standard_normal((m, size, size))
        out[start : start + m] = np.clip(img * 255, 0, 255).astype(np.uint8)
    return out


# ---- the straightforward per-image implementation ---------------------------------------


def _finish(g: np.ndarray) -> np.ndarray:
    lo, hi = g.min(), g.max()
    if hi > lo:
        g = (g - lo) / (hi - lo)
    return np.round(np.clip(g, 0, 1) * 255).astype(np.uint8)


def _one(f: np.ndarray, rng: np.random.Generator, spec: dict) -> np.ndarray:
    name = spec["name"]
    if name == "gaussian":
        return f + rng.normal(0, spec["sigma"], f.shape)
    if name == "salt_pepper":
        mask = rng.random(f.shape) < spec["amount"]
        salt = (rng.random(f.shape) < 0.5).astype(float)
        return np.where(mask, salt, f)
    if name == "speckle":
        return f + f * rng.uniform(-spec["amount"], spec["amount"], f.shape)
    if name == "motion_blur":
        a, b = rng.normal(0, spec["sigma"], 2)
        rows, cols = f.shape
        u = np.arange(-rows // 2, rows - rows // 2)[:, None]
        v = np.arange(-cols // 2, cols - cols // 2)[None, :]
        s = np.pi * (u * a + v * b)
        s[s == 0] = 1e-12
        H = spec["T"] * np.sin(s) / s * np.exp(-1j * s)
        F = np.fft.fftshift(np.fft.fft2(f))
        if spec["zero_centre"]:  # the authors' notebook: the centre 2x2 of the shifted spectrum
            F[rows // 2 - 1 : rows // 2 + 1, cols // 2 - 1 : cols // 2 + 1] = 0
        return np.real(np.fft.ifft2(np.fft.ifftshift(F * H)))
    if name == "lowres":
        level = spec["level"]
        approx = pywt.wavedec2(f, "haar", mode="periodization", level=level)[0] / 2**level
        return np.repeat(np.repeat(approx, 2**level, axis=0), 2**level, axis=1)
    raise ValueError(name)


def baseline(images: np.ndarray, spec: dict, seed: int) -> np.ndarray:
    out = np.empty_like(images)
    for j, image in enumerate(images):
        rng = np.random.default_rng([seed, j])
        out[j] = _finish(_one(image / 255.0, rng, spec))
    return out


# ---------------------------------------------------------------------------------------


def timed(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=24300, help="images in the batch (default: the test split)")
    parser.add_argument("--size", type=int, default=96, help="image side length")
    parser.add_argument("--h5", help="take the images from this image-set file instead")
    parser.add_argument("--baseline-n", type=int, default=1000, help="images the baseline runs on (then scaled)")
    parser.add_argument("--repeats", type=int, default=2, help="timing repeats (best of)")
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run only these degradations")
    parser.add_argument("--threads", type=int, nargs="*", default=[2], help="thread counts to time besides 1")
    args = parser.parse_args()
    counts = [1] + sorted({t for t in args.threads if t > 1})

    if args.h5:
        from cbir.h5store import read_image_set

        images = read_image_set(args.h5).images
    else:
        images = structured_images(args.n, args.size)
    n = len(images)
    nb = min(args.baseline_n, n)
    print(
        f"{n} images of {images.shape[1]}x{images.shape[2]}; baseline timed on {nb} images and scaled by {n / nb:.2f}"
    )
    head = f"{'degradation':<14} {'base us/img':>12}"
    for t in counts:
        head += f" {f'{t}T us/img':>10} {f'{t}T ratio':>9}"
    print(head)
    single = {}  # case -> our seconds per image on 1 thread
    for case, spec in CASES.items():
        if args.only and case not in args.only:
            continue
        base = timed(lambda spec=spec: baseline(images[:nb], spec, seed=0), args.repeats) / nb
        row = f"{case:<14} {base * 1e6:12.1f}"
        reference = None
        for t in counts:

            def run(spec=spec, t=t):
                return degrade(images, [spec], seed=0, stream="bench", rescale="minmax", threads=t)

            ours = timed(run, args.repeats) / n
            single.setdefault(case, ours)
            result = run()
            if reference is None:
                reference = result
            elif not np.array_equal(result, reference):
                raise SystemExit(f"{case}: {t} threads gave other bytes than 1 thread")
            row += f" {ours * 1e6:10.1f} {base / ours:8.1f}x"
        print(row)
    if {"motion_blur", "motion_blur_zc"} <= set(single):
        cost = single["motion_blur_zc"] / single["motion_blur"]
        print(f"zero_centre: {cost:.2f}x the time of eq. (9) alone (ours, 1 thread)")


if __name__ == "__main__":
    main()
