"""Exact top-k search: ours against the reference code's method and a bare matrix product.

Paper-sized by default: 48,600 queries against 48,600 gallery vectors of 512 float32
features (non-negative, like pooled ReLU activations), k = 10, both distances.

    reference  the paper's code: per query, np.linalg.norm(gallery - q, axis=1) and a full
               np.argsort. Timed on --reference-queries queries and scaled to all of them.
    matmul     the ceiling: queries @ gallery.T in the same chunks into one preallocated
               block, nothing else (no norms, no selection).
    ours       cbir.search.topk (l2 and cosine).

The machine may be shared, so the phases are interleaved: the queries go through in
slices of --slice rows, and for each slice the bare matmul, ours (per distance) and the
reference's share of its subset run back to back; the totals add the slices up. With
--repeats R each slice runs R times and the best time of each phase is kept. Peak memory
is the process's ru_maxrss (it includes the inputs). The reference's top k is compared
with ours on its subset.

    .venv/bin/python benchmarks/search.py                # paper size (a few minutes on 2 cores)
    .venv/bin/python benchmarks/search.py --quick        # 8192 x 8192 x 512, seconds
    .venv/bin/python benchmarks/search.py --n-queries 20000 --chunk-size 512 --distances l2
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from cbir.search import DISTANCES, topk  # noqa: E402


def reference_search(queries: np.ndarray, gallery: np.ndarray, k: int) -> np.ndarray:
    """The reference code's loop: broadcast difference, norm, full argsort, per query."""
    out = np.empty((len(queries), k), np.int64)
    for i, q in enumerate(queries):
        distances = np.linalg.norm(gallery - q, axis=1)
        out[i] = np.argsort(distances)[:k]
    return out


def bare_matmul(queries: np.ndarray, gallery: np.ndarray, chunk_size: int) -> None:
    block = np.empty((min(chunk_size, len(queries)), len(gallery)), np.float32)
    for start in range(0, len(queries), chunk_size):
        chunk = queries[start : start + chunk_size]
        np.matmul(chunk, gallery.T, out=block[: len(chunk)])


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-queries", type=int, default=48600)
    parser.add_argument("--n-gallery", type=int, default=48600)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--distances", nargs="+", default=list(DISTANCES), choices=DISTANCES)
    parser.add_argument("--reference-queries", type=int, default=100, help="queries timed for the reference")
    parser.add_argument("--slice", type=int, default=8192, help="queries per interleaved slice")
    parser.add_argument("--repeats", type=int, default=1, help="runs per slice; the best of each phase is kept")
    parser.add_argument("--quick", action="store_true", help="8192 x 8192 x 512, 2048-query slices, 3 repeats")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.n_queries, args.n_gallery, args.repeats, args.slice = 8192, 8192, 3, 2048
        args.reference_queries = min(args.reference_queries, 50)

    rng = np.random.default_rng(args.seed)
    gallery = np.abs(rng.standard_normal((args.n_gallery, args.dim), dtype=np.float32))
    queries = np.abs(rng.standard_normal((args.n_queries, args.dim), dtype=np.float32))
    size_mib = (gallery.nbytes + queries.nbytes) / 2**20
    print(
        f"{args.n_queries} queries x {args.n_gallery} gallery x {args.dim} float32, k={args.k}, "
        f"chunk {args.chunk_size}; inputs {size_mib:.0f} MiB, RSS so far {peak_mib():.0f} MiB"
    )

    slices = [np.arange(s, min(s + args.slice, args.n_queries)) for s in range(0, args.n_queries, args.slice)]
    # The reference's subset: the first queries of every slice, n_ref in all.
    n_ref = min(args.reference_queries, args.n_queries)
    per_slice = -(-n_ref // len(slices))
    ref_subsets = [rows[: max(0, min(per_slice, n_ref - i * per_slice))] for i, rows in enumerate(slices)]
    phases = ["matmul", *args.distances, "reference"]
    totals = dict.fromkeys(phases, 0.0)
    ours_idx = {d: np.empty((args.n_queries, args.k), np.int32) for d in args.distances}
    ref_idx = []
    ours_peak = None
    for number, (rows, ref_rows) in enumerate(zip(slices, ref_subsets, strict=True)):
        best = dict.fromkeys(phases, np.inf)
        for _ in range(args.repeats):
            best["matmul"] = min(best["matmul"], timed(bare_matmul, queries[rows], gallery, args.chunk_size)[0])
            for distance in args.distances:
                seconds, (idx, _) = timed(
                    topk, queries[rows], gallery, k=args.k, distance=distance, chunk_size=args.chunk_size
                )
                best[distance] = min(best[distance], seconds)
                ours_idx[distance][rows] = idx
            ours_peak = ours_peak or peak_mib()  # before the reference ever ran
            if len(ref_rows):
                seconds, ref_result = timed(reference_search, queries[ref_rows], gallery, args.k)
                best["reference"] = min(best["reference"], seconds)
        if len(ref_rows):
            ref_idx.append(ref_result)
        for name in phases:
            totals[name] += best[name] if len(ref_rows) or name != "reference" else 0.0
        print(
            f"slice {number + 1}/{len(slices)}: " + ", ".join(f"{n} {t:.2f} s" for n, t in totals.items()), flush=True
        )

    all_ref_rows = np.concatenate(ref_subsets)
    ref_seconds = totals["reference"]
    ref_total = ref_seconds * args.n_queries / len(all_ref_rows)
    agree = (np.concatenate(ref_idx) == ours_idx["l2"][all_ref_rows]).mean() if "l2" in ours_idx else float("nan")
    n_ref = len(all_ref_rows)

    print()
    print(f"reference (per-query norm + argsort): {ref_seconds / n_ref * 1e3:.1f} ms/query on {n_ref} queries,")
    print(f"  scaled to {args.n_queries}: {ref_total:.1f} s")
    print(f"bare matmul (ceiling):                {totals['matmul']:.2f} s")
    for distance in args.distances:
        print(
            f"ours {distance:<7s}                         {totals[distance]:.2f} s: "
            f"{ref_total / totals[distance]:.0f}x faster than the reference, "
            f"{totals[distance] / totals['matmul']:.2f}x the bare matmul"
        )
    print(f"top-{args.k} identical to the reference on its {n_ref} queries: {100 * agree:.2f} % of entries")
    print(
        f"peak RSS after our search: {ours_peak:.0f} MiB (inputs {size_mib:.0f} MiB); at the end: {peak_mib():.0f} MiB"
    )


if __name__ == "__main__":
    main()
