"""Memory estimates per rule from the config, so Snakemake (and a cluster) can plan jobs.

The numbers are upper-bound-ish estimates of a job's peak resident memory in MB, from the
sizes the config implies: images per split, image size, batch and chunk sizes. They feed
each heavy rule's `mem_mb`; `memory_warnings` names the rules whose estimate exceeds the
machine, with the config key that drives it, before any job runs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

MB = 1 << 20
PAIRS_PER_SPLIT = 24_300  # 5 categories x 5 instances x 9 elevations x 18 azimuths x 6 lightings
TORCH_MB = 1_500  # an imported torch with its CPU kernels
PYTHON_MB = 300  # an interpreter with numpy, h5py and friends


def local_threads(cores: int) -> int:
    """Threads of each torch or BLAS job in a local run of `cores` cores: half of them (1 to 8), so
    that two jobs run side by side. Networks on 32-px images gain little from a second thread
    (benchmarks/whole_run.py), and a job on every core leaves the other jobs waiting."""
    return min(8, max(1, int(cores) // 2))


def gpu_visible(environ: dict[str, str] | None = None, driver: Path = Path("/proc/driver/nvidia/gpus")) -> bool:
    """Whether this machine shows a GPU that `runtime.device: auto` could use (an NVIDIA driver
    with a GPU, or ROCm's /dev/kfd), without importing torch. CUDA_VISIBLE_DEVICES empty or -1
    hides them."""
    environ = os.environ if environ is None else environ
    if environ.get("CUDA_VISIBLE_DEVICES", "0").strip() in ("", "-1"):
        return False
    return (driver.is_dir() and any(driver.iterdir())) or Path("/dev/kfd").exists()


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


def _folder_images(folder: dict) -> int:
    """How many images a folder source holds: its manifest's rows, or its image files (a walk of
    the names only, a fraction of a second for 100,000 files)."""
    if folder.get("manifest"):
        with open(folder["manifest"], "rb") as f:
            return max(sum(1 for _ in f) - 1, 1)
    return max(
        sum(name.lower().endswith(IMAGE_SUFFIXES) for _, _, names in os.walk(folder["path"]) for name in names), 1
    )


def images_per_split(config: dict) -> int:
    """Images in each converted split: from `dataset.subset`, or a folder's whole count (a bound)."""
    if config["dataset"]["source"] == "folder":
        return _folder_images(config["dataset"]["folder"])
    subset = config["dataset"]["subset"]
    kept = (
        math.ceil(9 / subset["elevation_step"])
        * math.ceil(18 / subset["azimuth_step"])
        * len(subset["lightings"])
        * len(subset["cameras"])
    )
    return 25 * kept


MARGIN = 1.5  # over the sizes below: allocator slack, copies the sum does not count


def estimates(config: dict) -> dict[str, int]:
    """Rule name -> estimated peak memory (MB), with `MARGIN`, rounded up to 100 MB."""
    return {rule: 100 * math.ceil(MARGIN * mb / 100) for rule, mb in _sizes(config).items()}


def _sizes(config: dict) -> dict[str, int]:
    n = images_per_split(config)
    size = config["dataset"]["image_size"]
    pixels = n * size * size * config["dataset"].get("channels", 1)  # bytes of one uint8 split
    full = PAIRS_PER_SPLIT * 2 * 96 * 96  # one raw split, both cameras
    chunk = config["retrieval"]["chunk_size"]
    batch = config["inference"]["batch_size"]
    train_batch = max(
        [config["classifier"]["batch_size"], *(e.get("batch_size", 0) for e in config["enhancers"].values())]
    )
    # Training: the split on the device as uint8 plus float copies of a batch through a ResNet
    # (about 200 activations of size^2 floats per image, a generous bound at 32-96 px).
    training = TORCH_MB + 2 * pixels // MB + train_batch * size * size * 4 * 200 // MB
    return {
        "synthesize_smallnorb": PYTHON_MB + 3 * full // MB,  # both splits rendered, then written
        "convert_norb_to_hdf5": PYTHON_MB + 3 * full // MB,  # gzip bytes, raw bytes, kept images
        "degrade_queries": PYTHON_MB + 3 * pixels // MB + 64,
        # streamed in chunks: a few hundred decoded images per worker, whatever the folder's size
        "ingest_folder": PYTHON_MB + 500,
        "train_classifier": training,
        "train_enhancer": training + TORCH_MB // 2,  # the frozen classifier of the feature term
        "enhance_queries": TORCH_MB + 3 * pixels // MB + batch * size * size * 4 * 100 // MB,
        "embed_images": TORCH_MB + pixels // MB + n * 512 * 4 // MB + batch * size * size * 4 * 200 // MB,
        "evaluate_classifier": TORCH_MB + pixels // MB + batch * size * size * 4 * 200 // MB,
        # Embedding, then the search of one query set at a time: the gallery's features, per query
        # chunk a [chunk, gallery] float32 product with its selection temporaries (about three of
        # it), and the whole-ranking measures' sorted block (float32 ranks, int64 order).
        "search_queries": TORCH_MB
        + 2 * pixels // MB
        + 2 * n * 512 * 4 // MB
        + batch * size * size * 4 * 200 // MB
        + 3 * min(chunk, n) * n * 4 // MB
        + min(chunk, n) * n * 12 // MB,
    }


# The config key that drives each estimate, for the warning.
DRIVERS = {
    "search_queries": "retrieval.chunk_size",
    "embed_images": "inference.batch_size",
    "enhance_queries": "inference.batch_size",
    "evaluate_classifier": "inference.batch_size",
    "train_classifier": "classifier.batch_size",
    "train_enhancer": "enhancers.<name>.batch_size",
}


def memory_warnings(config: dict, available_mb: int) -> list[str]:
    """One line per rule whose estimate exceeds `available_mb`."""
    lines = []
    for rule, mb in estimates(config).items():
        if mb > available_mb:
            driver = DRIVERS.get(rule, "dataset.subset and dataset.image_size")
            lines.append(
                f"rule {rule} needs about {mb / 1024:.1f} GB but this machine has {available_mb / 1024:.1f} GB; "
                f"lower {driver} or run it on a larger node"
            )
    return lines
