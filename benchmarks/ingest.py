"""Throughput and peak memory of ingest_folder on folders of 256 x 256 JPEGs, against a
straightforward per-image version.

The images: smooth random colour content (8 x 8 random colours, bicubic to 256 x 256, a little
noise), JPEG quality 90, in 5 class folders (<folder>/<class>/<k>.jpg: the seeded test split),
written once for the largest size (the smaller folders are hard links to its first images).

    baseline  the obvious loop in one process: Image.open, convert("L") (a full decode), the
              centred square, cv2.resize INTER_AREA, stacked in memory; no checks, no file
              written. Timed on --baseline-n images.
    ours      cbir.stages.ingest.ingest_folder with --threads worker processes to 32 px (the
              header pass, the decode pass with DCT scaling, the duplicate hashes, the HDF5
              files and the report), each size in a child process of its own, so that its peak
              memory is its own: ru_maxrss of the child (the parent of the pool), and the
              largest worker's VmHWM sampled from /proc every 0.1 s (Linux; the children's
              ru_maxrss would report the parent's size, copied into each worker by the fork
              before its exec). Memory that grows with N shows as a growing parent peak.

Times are wall clock; on a shared machine compare the ratios, not the seconds.

    .venv/bin/python benchmarks/ingest.py                     # 10,000 and 100,000 images
    .venv/bin/python benchmarks/ingest.py --sizes 2000 10000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

CLASSES = 5
SOURCE_SIZE = 256
TARGET_SIZE = 32


def class_path(root: Path, k: int) -> Path:
    return root / f"class{k % CLASSES}" / f"{k:06d}.jpg"


def _write_images(task: tuple[str, int, int]) -> None:
    root, start, stop = task
    for k in range(start, stop):
        rng = np.random.default_rng(k)
        low = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image = cv2.resize(low, (SOURCE_SIZE, SOURCE_SIZE), interpolation=cv2.INTER_CUBIC)
        image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(class_path(Path(root), k), quality=90)


def make_images(root: Path, n: int, threads: int) -> None:
    for c in range(CLASSES):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
    tasks = [(str(root), start, min(start + 500, n)) for start in range(0, n, 500)]
    with ProcessPoolExecutor(threads) as pool:
        list(pool.map(_write_images, tasks))


def linked_subset(master: Path, root: Path, n: int) -> Path:
    for c in range(CLASSES):
        (root / f"class{c}").mkdir(parents=True)
    for k in range(n):
        os.link(class_path(master, k), class_path(root, k))
    return root


def baseline(master: Path, n: int) -> float:
    """Images per second of the per-image loop."""
    start = time.perf_counter()
    out = []
    for k in range(n):
        with Image.open(class_path(master, k)) as image:
            pixels = np.asarray(image.convert("L"))
        side = min(pixels.shape)
        top, left = (pixels.shape[0] - side) // 2, (pixels.shape[1] - side) // 2
        square = pixels[top : top + side, left : left + side]
        out.append(cv2.resize(square, (TARGET_SIZE, TARGET_SIZE), interpolation=cv2.INTER_AREA))
    np.stack(out)
    return n / (time.perf_counter() - start)


def watch_workers(peak: dict, stop: threading.Event) -> None:
    """Largest VmHWM (KiB) of this process's children, sampled until `stop`."""
    me = f"PPid:\t{os.getpid()}\n"
    while not stop.wait(0.1):
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            if me in status and "VmHWM:" in status:
                peak["kib"] = max(peak["kib"], int(status.split("VmHWM:")[1].split()[0]))


def child(folder: str, out: str, threads: int) -> None:
    """One ingest run; prints seconds and peak memory (KiB) as JSON."""
    from cbir.stages.ingest import ingest_folder

    out_dir = Path(out)
    peak, stop = {"kib": 0}, threading.Event()
    if Path("/proc/self/status").exists():
        threading.Thread(target=watch_workers, args=(peak, stop), daemon=True).start()
    start = time.perf_counter()
    ingest_folder(
        folder={"path": folder},
        image_size=TARGET_SIZE,
        channels=1,
        seed=0,
        train_all=out_dir / "train_all.h5",
        test=out_dir / "test.h5",
        report=out_dir / "report.json",
        threads=threads,
    )
    seconds = time.perf_counter() - start
    stop.set()
    report = json.loads((out_dir / "report.json").read_text())
    print(
        json.dumps(
            {
                "seconds": seconds,
                "images": report["totals"]["train"] + report["totals"]["test"],
                "self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "workers_kib": peak["kib"],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline-n", type=int, default=2000)
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.threads)
        return

    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        tmp = Path(tmp)
        master = tmp / "master"
        start = time.perf_counter()
        make_images(master, max(args.sizes), args.threads)
        files = sorted(master.rglob("*.jpg"))
        mean_kib = sum(p.stat().st_size for p in files[:1000]) / min(1000, len(files)) / 1024
        print(
            f"{len(files)} JPEGs of {SOURCE_SIZE} x {SOURCE_SIZE} (mean {mean_kib:.1f} KiB) written in "
            f"{time.perf_counter() - start:.0f} s; {os.cpu_count()} CPUs, ingest threads {args.threads}"
        )
        rate0 = baseline(master, min(args.baseline_n, len(files)))
        print(f"baseline (one process, full decode): {rate0:,.0f} images/s on {min(args.baseline_n, len(files))}")
        print(f"{'images':>8} {'seconds':>8} {'images/s':>9} {'x baseline':>10} {'parent MiB':>10} {'worker MiB':>10}")
        for n in args.sizes:
            folder = master if n == len(files) else linked_subset(master, tmp / f"n{n}", n)
            out = tmp / f"out{n}"
            done = subprocess.run(
                [sys.executable, __file__, "--threads", str(args.threads), "--child", str(folder), str(out)],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            rate = result["images"] / result["seconds"]
            print(
                f"{result['images']:>8} {result['seconds']:>8.1f} {rate:>9,.0f} {rate / rate0:>10.2f} "
                f"{result['self_kib'] / 1024:>10.0f} {result['workers_kib'] / 1024:>10.0f}"
            )


if __name__ == "__main__":
    main()
