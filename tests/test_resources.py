"""cbir.resources: memory estimates from the config, and the warning when a plan exceeds the machine."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from conftest import REPO, run_snakemake, write_config

from cbir.config import validate_config
from cbir.resources import MARGIN, estimates, gpu_visible, images_per_split, local_threads, memory_warnings


def demo() -> dict:
    return validate_config(yaml.safe_load((REPO / "config/config.yaml").read_text()))


def test_images_per_split_follows_the_subset():
    config = demo()  # camera 0, lightings 0 2 4, every 2nd azimuth and elevation
    assert images_per_split(config) == 25 * 5 * 9 * 3 * 1 == 3375
    config["dataset"]["subset"] = {
        "cameras": [0, 1],
        "lightings": list(range(6)),
        "azimuth_step": 1,
        "elevation_step": 1,
    }
    assert images_per_split(config) == 48_600  # the whole split, both cameras


def test_search_estimate_by_hand():
    config = demo()
    n, chunk, batch = 3375, config["retrieval"]["chunk_size"], config["inference"]["batch_size"]
    mb = 2**20
    raw = 1500 + 2 * n * 32 * 32 // mb + 2 * n * 512 * 4 // mb + batch * 32 * 32 * 4 * 200 // mb
    raw += 3 * chunk * n * 4 // mb + chunk * n * 12 // mb
    assert estimates(config)["search_queries"] == 100 * -(-MARGIN * raw // 100)


def test_colour_splits_count_three_bytes_a_pixel():
    grey = demo()
    grey["dataset"]["image_size"] = 96
    colour = copy.deepcopy(grey)
    colour["dataset"]["channels"] = 3
    mb, pixels = 2**20, images_per_split(grey) * 96 * 96
    raw = {c: 300 + 3 * c * pixels // mb + 64 for c in (1, 3)}  # degrade_queries: Python, three splits, slack
    assert [estimates(c)["degrade_queries"] for c in (grey, colour)] == [
        100 * -(-MARGIN * raw[c] // 100) for c in (1, 3)
    ]


def test_a_plan_beyond_the_machine_is_named_with_its_key():
    config = demo()
    assert memory_warnings(config, 24_000) == []
    big = copy.deepcopy(config)
    big["dataset"]["subset"] = {"cameras": [0, 1], "lightings": list(range(6)), "azimuth_step": 1, "elevation_step": 1}
    big["retrieval"]["chunk_size"] = 100_000
    lines = memory_warnings(big, 24_000)
    assert len(lines) == 1 and lines[0].startswith("rule search_queries needs about")
    assert "lower retrieval.chunk_size" in lines[0]


def test_dry_run_warns_but_plans(workdir):
    write_config(
        workdir,
        dataset={
            "subset": {"cameras": [0, 1], "lightings": [0, 1, 2, 3, 4, 5], "azimuth_step": 1, "elevation_step": 1}
        },
        retrieval={"chunk_size": 60_000},
    )
    proc = run_snakemake(workdir, "-n")
    assert "rule search_queries needs about" in proc.stdout + proc.stderr


def test_local_jobs_take_half_the_cores():
    assert [local_threads(c) for c in (1, 2, 3, 4, 16, 64)] == [1, 1, 1, 2, 8, 8]


def test_gpu_visible_reads_the_driver_and_the_environment(tmp_path):
    driver = tmp_path / "gpus"
    assert not gpu_visible({}, driver) or Path("/dev/kfd").exists()  # no driver folder
    driver.mkdir()
    assert not gpu_visible({}, driver) or Path("/dev/kfd").exists()  # a driver without GPUs
    (driver / "0000:01:00.0").mkdir()
    assert gpu_visible({}, driver) and gpu_visible({"CUDA_VISIBLE_DEVICES": "0"}, driver)
    assert not gpu_visible({"CUDA_VISIBLE_DEVICES": ""}, driver)
    assert not gpu_visible({"CUDA_VISIBLE_DEVICES": "-1"}, driver)
