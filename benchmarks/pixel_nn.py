"""Difficulty of a smallNORB-format dataset: nearest-neighbour classification on raw pixels.

Gallery: every training image (both cameras); queries: a random subset of the test images
(both cameras). A query takes the label of its nearest gallery image in L2 distance,
computed as |g|^2 - 2 q.g in float32 matrix products over gallery blocks. LeCun et al.
(2004) report about 18% error for this classifier on the real smallNORB (about 80% top-1).
Reported at 96 px and after 3x3 area downsampling to 32 px.

    .venv/bin/python benchmarks/pixel_nn.py [FOLDER] [--queries 3000] [--seed 0]

FOLDER holds the six official files, plain or gzipped (default resources/synthnorb).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from cbir.norb import CATEGORIES, read_split_from  # noqa: E402


def downsample(images: np.ndarray, factor: int) -> np.ndarray:
    """Area (block-mean) downsampling of [N, H, W] images by an integer factor, float32."""
    if factor == 1:
        return images.astype(np.float32)
    n, h, w = images.shape
    blocks = images.reshape(n, h // factor, factor, w // factor, factor).astype(np.float32)
    return blocks.mean((2, 4))


def nearest_labels(
    gallery: np.ndarray, gallery_labels: np.ndarray, queries: np.ndarray, factor: int, block: int = 4096
):
    """Label of each query's L2-nearest gallery image; images are uint8 [N, H, W]."""
    q = downsample(queries, factor).reshape(len(queries), -1)
    best = np.full(len(q), np.inf, np.float32)
    label = np.zeros(len(q), np.int64)
    for start in range(0, len(gallery), block):
        g = downsample(gallery[start : start + block], factor).reshape(-1, q.shape[1])
        dist = (g * g).sum(1)[None, :] - 2.0 * (q @ g.T)  # |q|^2 is the same for every candidate
        arg = dist.argmin(1)
        value = dist[np.arange(len(q)), arg]
        better = value < best
        best[better] = value[better]
        label[better] = gallery_labels[start + arg[better]]
    return label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="resources/synthnorb")
    parser.add_argument("--queries", type=int, default=3000, help="test images drawn as queries (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--factors", type=int, nargs="+", default=[1, 3], help="downsampling factors (1: 96 px)")
    parser.add_argument("--per-instance", action="store_true", help="also print the accuracy of each test object")
    args = parser.parse_args()

    train, test = read_split_from(args.folder, "train"), read_split_from(args.folder, "test")
    n, _, h, w = train.images.shape
    gallery = train.images.reshape(-1, h, w)  # rows: (pair, camera)
    gallery_labels = np.repeat(train.labels, 2)
    rng = np.random.default_rng(args.seed)
    pool = test.images.reshape(-1, h, w)
    count = len(pool) if args.queries <= 0 else min(args.queries, len(pool))
    pick = np.sort(rng.choice(len(pool), count, replace=False))
    queries, query_labels = pool[pick], np.repeat(test.labels, 2)[pick]
    query_instances = np.repeat(test.info[:, 0], 2)[pick]
    print(f"{args.folder}: gallery {len(gallery)} training images, {count} test queries (seed {args.seed})")
    for factor in args.factors:
        start = time.perf_counter()
        predicted = nearest_labels(gallery, gallery_labels, queries, factor)
        correct = predicted == query_labels
        per_class = ", ".join(
            f"{name} {correct[query_labels == c].mean():.2f}"
            for c, name in enumerate(CATEGORIES)
            if (query_labels == c).any()
        )
        print(
            f"{h // factor} px: top-1 {correct.mean():.4f} ({time.perf_counter() - start:.1f} s); per class: {per_class}"
        )
        confusion = np.zeros((len(CATEGORIES), len(CATEGORIES)), np.int64)
        np.add.at(confusion, (query_labels, predicted), 1)
        print("  confusion (rows: true, columns: predicted):\n  " + str(confusion).replace("\n", "\n  "))
        if args.per_instance:
            for c, name in enumerate(CATEGORIES):
                cells = []
                for i in np.unique(query_instances[query_labels == c]):
                    sel = (query_labels == c) & (query_instances == i)
                    wrong = np.bincount(predicted[sel], minlength=len(CATEGORIES))
                    cells.append(f"{i}: {correct[sel].mean():.2f} {wrong.tolist()}")
                print(f"  {name}: " + "; ".join(cells))


if __name__ == "__main__":
    main()
