"""The Slurm profile, its preflight (cluster/slurm_preflight.py) and the pieces of the Slurm check.

The end-to-end check on a real single-node Slurm (`make slurm-check`, as root, minutes) runs only
with CBIR_SLURM_CHECK=1 and `-m slow`.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cbir.device import GPU_ALLOCATION_VARIABLES

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"


def _load(name: str):
    """A module of cluster/ (not a package: its scripts run as `python cluster/<name>.py`)."""
    sys.path.insert(0, str(REPO / "cluster"))
    spec = importlib.util.spec_from_file_location(name, REPO / "cluster" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


pf = _load("slurm_preflight")
local_slurm = _load("local_slurm")
check = _load("slurm_check")

# `sinfo --noheader -N -o '%P|%n|%c|%m|%G|%l|%t'` of a made-up cluster: two CPU nodes; two GPU nodes,
# one with the most GPUs and memory, the other with the most CPUs.
SINFO = """\
cpu*|n1|16|64000|(null)|1-00:00:00|idle
cpu*|n2|32|128000|(null)|1-00:00:00|mix
gpu|g1|32|256000|gpu:a100:4(S:0-1)|2:00:00|idle
gpu|g2|64|32000|gpu:1,shard:8|2:00:00|drain
"""


def job(rule="r", threads=1, **resources) -> object:
    return pf.PlannedJob(rule, {}, threads, {"runtime": 60, "mem_mb": 1000, **resources})


@pytest.fixture(scope="module")
def cluster():
    return pf.parse_sinfo(SINFO)


def test_parse_sinfo(cluster):
    assert list(cluster) == ["cpu", "gpu"]
    assert cluster["cpu"].default and not cluster["gpu"].default
    assert (cluster["cpu"].time_limit, cluster["gpu"].time_limit) == (1440, 120)
    assert [(n.name, n.cpus, n.mem_mb, n.gpus, n.state) for n in cluster["gpu"].nodes] == [
        ("g1", 32, 256000, 4, "idle"),
        ("g2", 64, 32000, 1, "drain"),
    ]


@pytest.mark.parametrize(
    "text, minutes",
    [("infinite", None), ("UNLIMITED", None), ("45", 45), ("30:00", 30), ("30:01", 31), ("2:00:00", 120)]
    + [("1-12:00:00", 2160), ("12:00:00", 720)],
)
def test_parse_slurm_minutes(text, minutes):
    assert pf.parse_slurm_minutes(text) == minutes


@pytest.mark.parametrize(
    "gres, gpus", [("(null)", 0), ("gpu:2", 2), ("gpu:a100:4(S:0-1)", 4), ("gpu:1,shard:8", 1), ("gpu", 1)]
)
def test_parse_gres_gpus(gres, gpus):
    assert pf.parse_gres_gpus(gres) == gpus


def test_cpus_follow_threads_unless_the_profile_overrides_them():
    assert job(threads=8).cpus == 8
    assert job(threads=8, gpu=1).cpus == 8
    assert job(threads=8, cpus_per_task=4).cpus == 4  # the old profile's bug: threads ignored
    assert job(threads=8, gpu=2, cpus_per_gpu=3).cpus == 6
    assert job(mem_mb_per_cpu=500, threads=4).mem_mb == 2000


@pytest.mark.parametrize(
    "planned, partition, expected",
    [
        (job(threads=32, mem_mb=128000), "cpu", []),
        (job(threads=64, gpu=1), "gpu", []),
        (job(threads=33), "cpu", ["asks for 33 CPUs; the largest node in 'cpu' has 32"]),
        (job(mem_mb=200000), "cpu", ["asks for 200000 MB memory; the largest node in 'cpu' has 128000"]),
        (job(gpu=1), "cpu", ["asks for 1 GPUs; the largest node in 'cpu' has 0"]),
        (job(gpu=1, runtime=180), "gpu", ["runtime 180 min exceeds the partition's time limit of 120 min"]),
        (job(threads=64, gpu=2), "gpu", ["no single node in 'gpu' has 64 CPUs, 1000 MB and 2 GPUs"]),
        (job(), "bigmem", ["partition 'bigmem' does not exist (sinfo lists: cpu, gpu)"]),
    ],
)
def test_job_problems(cluster, planned, partition, expected):
    assert pf.job_problems(planned, partition, cluster) == expected


def test_report_counts_the_jobs_that_could_never_start_and_says_what_to_change(cluster):
    jobs = [job("train", threads=8, gpu=1), job("embed", threads=128, gpu=1), job("plot"), job("plot")]
    jobs += [job("big", mem_mb=10**6)]
    never, lines = pf.report(jobs, cluster, PROFILE / "partitions.yaml")
    assert never == 2
    text = "\n".join(lines)
    assert "ok     train x1 -> gpu: 8 CPUs, 1000 MB, 1 GPUs, 60 min" in text
    assert "ok     plot x2 -> cpu" in text
    assert "NEVER  embed x1 -> gpu" in text and "max-threads: 64" in text
    assert "NEVER  big x1 -> cpu" in text and "lower mem_mb" in text


def test_the_profile_sends_gpu_jobs_to_a_gpu_partition_and_the_rest_elsewhere():
    part_file = PROFILE / "partitions.yaml"
    assert pf.choose_partition(job(threads=8, gpu=1), part_file, "cpu") == "gpu"
    assert pf.choose_partition(job(threads=8), part_file, "cpu") == "cpu"
    assert pf.choose_partition(job(slurm_partition="short"), part_file, "cpu") == "short"
    assert pf.choose_partition(job(gpu=1), None, "batch") == "batch"


@pytest.mark.parametrize(
    "configured, sacct_present, sacct_works, min_job_age, ok, words",
    [
        ("squeue", True, False, 300, True, "polls with squeue"),
        ("sacct", True, True, 300, True, "polls with sacct"),
        (None, True, True, 10, True, "polls with sacct"),
        ("sacct", True, False, 300, False, "slurm-status-command: squeue"),
        (None, True, False, 300, False, "slurm-status-command: squeue"),
        ("squeue", True, False, 60, False, "replaces the profile's squeue by sacct"),
        ("squeue", False, False, 150, False, "MinJobAge (150 s) < 180 s"),
        ("squeue", True, False, None, False, "MinJobAge (unknown)"),
    ],
)
def test_status_report(configured, sacct_present, sacct_works, min_job_age, ok, words):
    fine, message = pf.status_report(configured, sacct_present, sacct_works, min_job_age, 40)
    assert fine == ok and words in message


DRY_RUN = """\
[Tue Dec  1 11:52:51 2026]
rule convert:
    input: a.mat
    output: results/demo/data/train.h5
    jobid: 1
    wildcards: split=train, kind=a/b
    threads: 4
    resources: tmpdir=/tmp, mem_mb=8000, mem=8 GB, runtime=60, gpu=1, slurm_partition=big
[Tue Dec  1 11:52:51 2026]
localrule archive:
    output: x.tar
    threads: 2
[Tue Dec  1 11:52:51 2026]
rule all:
    input: results/demo/data/train.h5
    jobid: 0
    resources: tmpdir=/tmp
"""


def test_parse_dry_run_keeps_the_jobs_that_reach_slurm():
    (convert,) = pf.parse_dry_run(DRY_RUN)
    assert (convert.rule, convert.wildcards, convert.threads) == ("convert", {"split": "train", "kind": "a/b"}, 4)
    assert convert.resources["mem_mb"] == 8000 and convert.resources["mem"] == "8 GB"
    assert (convert.gpus, convert.cpus, convert.runtime) == (1, 4, 60)
    assert convert.comment == "rule_convert_wildcards_train_a_b"  # as the plugin's --comment
    assert convert.label == "convert[split=train,kind=a/b]"


def test_the_profile_never_overrides_threads():
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    assert "set-threads" not in profile
    defaults = profile.get("default-resources", {})
    for resources in [defaults, *profile.get("set-resources", {}).values()]:
        assert not {"cpus_per_task", "cpus_per_gpu", "slurm_partition"} & set(resources), resources
    assert profile["slurm-status-command"] == "squeue"
    assert (PROFILE / profile["slurm-partition-config"]).is_file()


def test_the_workflow_through_the_profile_asks_for_its_rules_threads(workdir):
    """A dry run of the whole workflow through profiles/slurm: every job's CPUs are its rule's threads,
    and a job goes to the GPU partition exactly when it asks for a GPU."""
    jobs = pf.planned_jobs(REPO / "Snakefile", workdir, PROFILE, [])
    assert len(jobs) > 10 and max(j.threads for j in jobs) > 1  # threads not capped by the dry run
    for planned in jobs:
        assert planned.cpus == planned.threads, planned.label
        partition = pf.choose_partition(planned, PROFILE / "partitions.yaml", "cpu")
        assert partition == ("gpu" if planned.gpus else "cpu"), planned.label
        assert planned.runtime and planned.mem_mb, planned.label


def test_the_slurm_config_hides_every_gpu_variable_the_device_check_reads(tmp_path, monkeypatch):
    hardware = {"NodeName": "n1", "CPUs": "4", "RealMemory": "8000"}
    monkeypatch.setattr(local_slurm, "node_hardware", lambda: hardware)
    slurm = local_slurm.LocalSlurm(tmp_path, ["cpu", "gpu"], gpu=True, log=lambda msg: None)
    slurm.write_config()
    conf = (tmp_path / "slurm.conf").read_text()
    assert "NodeName=n1 NodeAddr=127.0.0.1 CPUs=4 RealMemory=8000 Gres=gpu:1" in conf
    assert "PartitionName=cpu Nodes=n1 Default=YES" in conf and "PartitionName=gpu Nodes=n1 Default=NO" in conf
    assert "MinJobAge=3600" in conf and "AccountingStorageType=accounting_storage/none" in conf
    assert (tmp_path / "gres.conf").read_text() == "NodeName=n1 Name=gpu File=/dev/null\n"
    prolog = subprocess.run([str(tmp_path / "hide_gpu_standin.sh")], capture_output=True, text=True).stdout
    assert set(GPU_ALLOCATION_VARIABLES) <= {line.removeprefix("unset ") for line in prolog.splitlines()}


def test_the_check_reads_what_slurm_granted():
    assert check.gpus_of({"TresPerJob": "gres:gpu:1"}) == 1
    assert check.gpus_of({"TresPerNode": "gres:gpu:a100:2"}) == 2
    assert check.gpus_of({"TresPerJob": "cpu=2"}) == 0
    assert check.mem_mb_of({"MinMemoryNode": "16000M"}) == 16000
    assert check.mem_mb_of({"MinMemoryNode": "2G"}) == 2048


def test_the_check_reports_every_mismatch(cluster, capsys):
    planned = [job("train", threads=8, gpu=1), job("plot")]
    granted = {"JobState": "COMPLETED", "MinMemoryNode": "1000M", "TimeLimit": "01:00:00"}
    submitted = [
        {
            **granted,
            "JobId": "1",
            "Comment": "rule_train",
            "Partition": "gpu",
            "NumCPUs": "4",
            "TresPerJob": "gres:gpu:1",
        },
        {**granted, "JobId": "2", "Comment": "rule_other", "Partition": "cpu", "NumCPUs": "1"},
    ]
    errors = check.compare_jobs(submitted, planned, planned, cluster, PROFILE / "partitions.yaml", node_cpus=32)
    assert errors == [
        "train: cpus 4 != expected 8",
        "Slurm job 2 (rule_other) matches no job of the dry run",
        "plot was never submitted",
    ]


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("CBIR_SLURM_CHECK") != "1", reason="set CBIR_SLURM_CHECK=1 (root, minutes)")
def test_slurm_check_on_a_real_slurm():
    proc = subprocess.run(
        [sys.executable, str(REPO / "cluster" / "slurm_check.py")], capture_output=True, text=True, timeout=3600
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert "slurm check passed" in proc.stdout and "equal  tables/table1.md" in proc.stdout


def test_the_checks_tiny_config_is_valid():
    """The check's config is cut from config/config.yaml: it must stay valid as that evolves."""
    from cbir.config import validate_config

    for device in ("auto", "cpu"):
        config = validate_config(check.tiny_config(device))
        assert config["enhance"] == {"noisy": ["denoiser", "median"]} and config["runtime"]["device"] == device
