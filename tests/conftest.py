"""Shared test helpers: an independent smallNORB writer and a Snakemake runner."""

from __future__ import annotations

import contextlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

# Written from the published format, not with cbir.norb, so the reader is checked
# against an independent encoder.
MAGICS = {"u1": 0x1E3D4C55, "<i4": 0x1E3D4C54, "<f4": 0x1E3D4C51, "<f8": 0x1E3D4C53, "<i2": 0x1E3D4C56}


def norb_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array)
    code = array.dtype.str if array.dtype.itemsize > 1 else "u1"
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    header = struct.pack(f"<ii{len(dims)}i", MAGICS[code], array.ndim, *dims)
    return header + array.tobytes()


def tiny_split(n_pairs: int = 6, size: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Arrays of a small official-format split with a varied factor grid."""
    rng = np.random.default_rng(seed)
    info = np.stack(
        [
            rng.integers(0, 10, n_pairs),  # instance
            np.arange(n_pairs) % 9,  # elevation
            (np.arange(n_pairs) % 18) * 2,  # azimuth 0, 2, ..., 34
            np.arange(n_pairs) % 6,  # lighting
        ],
        axis=1,
    ).astype("<i4")
    return {
        "dat": rng.integers(0, 256, (n_pairs, 2, size, size), dtype=np.uint8),
        "cat": (np.arange(n_pairs) % 5).astype("<i4"),
        "info": info,
    }


# Inference runs in float32 with the default memory format whatever amp/channels_last say.
CPU_RUNTIME = {"device": "cpu", "amp": True, "channels_last": True}


def columns(n: int) -> dict[str, np.ndarray]:
    """Image-set columns for n rows: labels cycle 0..4, the factors 0..2."""
    from cbir.h5store import COLUMNS

    cols = {c: np.arange(n, dtype=np.int64) % 3 for c in COLUMNS}
    cols["label"] = np.arange(n, dtype=np.int64) % 5
    return cols


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "-d", str(workdir), *args]


def run_snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run Snakemake on the project's Snakefile in `workdir` and return the completed process."""
    proc = subprocess.run(snakemake_cmd(workdir, *args), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> job count from a dry run's job table; empty when nothing is to be done."""
    stdout = run_snakemake(workdir, "-n", *args).stdout
    if "Job stats:" not in stdout:
        return {}
    table = stdout.split("Job stats:")[1].split("Reasons:")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A Snakemake working directory holding a copy of the project's config folder."""
    shutil.copytree(REPO / "config", tmp_path / "config")
    return tmp_path


def write_config(workdir: Path, **overrides) -> Path:
    """Write config/config.yaml in `workdir`: the default config with top-level sections replaced."""
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextlib.contextmanager
def beside_example_folders():
    """Work in a temporary folder that holds (empty) the image folders and manifest the shipped
    folder configs name, so validating those configs does not need the examples exported."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        for path in sorted(REPO.glob("config/*.yaml")):
            folder = (yaml.safe_load(path.read_text()).get("dataset") or {}).get("folder") or {}
            if folder.get("path"):
                Path(folder["path"]).mkdir(parents=True, exist_ok=True)
            if folder.get("manifest"):
                Path(folder["manifest"]).parent.mkdir(parents=True, exist_ok=True)
                Path(folder["manifest"]).write_text("path,label\n")
        yield
