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
# one with the most GPUs and memory, the other with the most CPUs; a bigger GPU node, drained (not counted).
SINFO = """\
cpu*|n1|16|64000|(null)|1-00:00:00|idle
cpu*|n2|32|128000|(null)|1-00:00:00|mix
gpu|g1|32|256000|gpu:a100:4(S:0-1)|2:00:00|idle
gpu|g2|64|32000|gpu:1,shard:8|2:00:00|mix
gpu|g3|128|1024000|gpu:8|2:00:00|drain
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
        ("g2", 64, 32000, 1, "mix"),
        ("g3", 128, 1024000, 8, "drain"),
    ]


@pytest.mark.parametrize(
    "text, minutes",
    [("infinite", None), ("UNLIMITED", None), ("45", 45), ("30:00", 30), ("30:01", 31), ("2:00:00", 120)]
    + [("1-12:00:00", 2160), ("12:00:00", 720), ("1-12", 2160), ("1-12:30", 2190), ("0-00:00:01", 1)],
)
def test_parse_slurm_minutes(text, minutes):
    assert pf.parse_slurm_minutes(text) == minutes


@pytest.mark.parametrize("text", ["1-02:03:04:05", "1:02:03:04", "abc", "-5", "1-", "2:xx:00", "1.5"])
def test_parse_slurm_minutes_names_what_is_not_a_slurm_time(text):
    with pytest.raises(ValueError, match=f"time limit '{text}' is not a Slurm time"):
        pf.parse_slurm_minutes(text)


@pytest.mark.parametrize(
    "gres, gpus", [("(null)", 0), ("gpu:2", 2), ("gpu:a100:4(S:0-1)", 4), ("gpu:1,shard:8", 1), ("gpu", 1)]
)
def test_parse_gres_gpus(gres, gpus):
    assert pf.parse_gres_gpus(gres) == gpus


GOOD = "cpu*|n1|16|64000|(null)|1-00:00:00|idle"
NOT_A_TIME = "is not a Slurm time ([days-]hours:minutes:seconds)"


@pytest.mark.parametrize(
    "line, what",
    [
        (GOOD + "|extra", "8 fields where %P|%n|%c|%m|%G|%l|%t gives 7"),
        ("cpu*|n1|16|64000|(null)|idle", "6 fields where %P|%n|%c|%m|%G|%l|%t gives 7"),
        ("cpu*|n1|N/A|64000|(null)|1-00:00:00|idle", "CPUs 'N/A' is not a whole number"),
        ("cpu*|n1|16|N/A|(null)|1-00:00:00|idle", "memory 'N/A' is not a whole number"),
        ("cpu*|n1|16|64000|(null)|1-02:03:04:05|idle", f"time limit '1-02:03:04:05' {NOT_A_TIME}"),
        (
            "sinfo: error: slurm_load_partitions: Unable to contact slurm controller",
            "1 field where %P|%n|%c|%m|%G|%l|%t gives 7",
        ),
        ("cpu*|n1|16|64000|(null)|1-00:00:00|", "empty state"),
        ("cpu*||16|64000|(null)|1-00:00:00|idle", "empty node"),
        ("cpu*|n1|16|64000|(null)|1-00:00:00|12 nodes", "state '12 nodes' is not a Slurm node state"),
    ],
)
def test_an_unexpected_sinfo_line_is_named_with_what_is_wrong(line, what):
    with pytest.raises(ValueError) as raised:
        pf.parse_sinfo(f"{GOOD}\n{line}\n")
    message = str(raised.value)
    assert message == f"unexpected sinfo line 2 {line!r}: {what}"
    assert "\n" not in message


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_an_empty_listing_says_sinfo_listed_nothing(text):
    with pytest.raises(ValueError, match="sinfo listed nothing") as raised:
        pf.parse_sinfo(text)
    assert "partitions.yaml" not in str(raised.value)


UNUSABLE = ["down", "down*", "drain", "drain*", "drng", "fail", "failg", "maint", "idle*", "mix*", "inval", "unk"]
UNUSABLE += ["futr", "boot", "boot^", "idle^", "idle$", "resv", "npc", "pow_dn", "powered_down", "drain~", "down~"]
USABLE = ["idle", "IDLE", "mix", "alloc", "alloc+", "comp", "plnd", "idle~", "idle#", "idle!", "idle%", "mix@", "mix-"]


@pytest.mark.parametrize("state", UNUSABLE)
def test_nodes_that_cannot_take_jobs_are_not_counted(state):
    cluster = pf.parse_sinfo(f"p|small|4|8000|(null)|infinite|idle\np|big|64|512000|gpu:4|infinite|{state}\n")
    assert pf.job_problems(job(threads=64), "p", cluster) == ["asks for 64 CPUs; the largest usable node in 'p' has 4"]
    alone = pf.parse_sinfo(f"p|big|64|512000|gpu:4|infinite|{state}\np|big2|64|512000|gpu:4|infinite|{state}\n")
    problems = pf.job_problems(job(), "p", alone)
    assert problems == [f"no node in 'p' can take jobs: sinfo lists its nodes as 2 {state}"]
    assert "ask the cluster's admins" in pf.advice(problems[0], job(), alone, "p")


@pytest.mark.parametrize("state", USABLE)
def test_nodes_that_take_jobs_are_counted(state):
    cluster = pf.parse_sinfo(f"p|small|4|8000|(null)|infinite|idle\np|big|64|512000|gpu:4|infinite|{state}\n")
    assert pf.job_problems(job(threads=64, gpu=4), "p", cluster) == []


def _fake_sinfo(tmp_path: Path, monkeypatch, text: str) -> None:
    """A `sinfo` first on PATH that prints `text` whatever it is asked."""
    (tmp_path / "sinfo.txt").write_text(text)
    sinfo = tmp_path / "bin" / "sinfo"
    sinfo.parent.mkdir()
    sinfo.write_text(f"#!/bin/sh\ncat '{tmp_path / 'sinfo.txt'}'\n")
    sinfo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{sinfo.parent}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(
    "text, message",
    [
        ("cpu*|n1|N/A|64000|(null)|1-00:00:00|idle\n", "sinfo line 1 'cpu*|n1|N/A|64000|(null)|1-00:00:00|idle'"),
        ("", "sinfo listed nothing"),
    ],
)
def test_the_preflight_stops_with_one_line_on_sinfo_it_cannot_read(tmp_path, monkeypatch, capsys, text, message):
    _fake_sinfo(tmp_path, monkeypatch, text)
    assert pf.main(["--directory", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert message in err and err.count("\n") == 1 and not out
    assert "partitions.yaml" not in err


def test_the_preflight_script_prints_no_traceback_on_a_garbage_sinfo_line(tmp_path, monkeypatch):
    _fake_sinfo(tmp_path, monkeypatch, f"{GOOD}\ngpu|g1|32|256000|gpu:4|1-02:03:04:05|idle|extra\n")
    script = REPO / "cluster" / "slurm_preflight.py"
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == (
        "slurm preflight: unexpected sinfo line 2 'gpu|g1|32|256000|gpu:4|1-02:03:04:05|idle|extra': "
        "8 fields where %P|%n|%c|%m|%G|%l|%t gives 7\n"
    )


def test_cpus_follow_threads_unless_the_profile_overrides_them():
    assert job(threads=8).cpus == 8
    assert job(threads=8, gpu=1).cpus == 8
    assert job(threads=8, cpus_per_task=4).cpus == 4  # the old profile's bug: threads ignored
    assert job(threads=8, gpu=2, cpus_per_gpu=3).cpus == 6
    assert job(mem_mb_per_cpu=500, threads=4).mem_mb == 2000


BIG = [("128 CPUs", 64), ("8 GPUs", 4)]  # only the drained g3 is that large


@pytest.mark.parametrize(
    "planned, partition, expected",
    [
        (job(threads=32, mem_mb=128000), "cpu", []),
        (job(threads=64, gpu=1), "gpu", []),
        (job(threads=33), "cpu", ["asks for 33 CPUs; the largest usable node in 'cpu' has 32"]),
        (job(mem_mb=200000), "cpu", ["asks for 200000 MB memory; the largest usable node in 'cpu' has 128000"]),
        (job(gpu=1), "cpu", ["asks for 1 GPUs; the largest usable node in 'cpu' has 0"]),
        (job(threads=128, gpu=8), "gpu", [f"asks for {n}; the largest usable node in 'gpu' has {m}" for n, m in BIG]),
        (job(gpu=1, runtime=180), "gpu", ["runtime 180 min exceeds the partition's time limit of 120 min"]),
        (job(threads=64, gpu=2), "gpu", ["no single usable node in 'gpu' has 64 CPUs, 1000 MB and 2 GPUs"]),
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
    assert "NEVER  embed x1 -> gpu" in text and "`cores: 64`" in text
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
    jobs = pf.planned_jobs(REPO / "workflow" / "Snakefile", workdir, PROFILE, [])
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
        "Slurm job 2 (rule_other) matches no job of the dry run, or was submitted twice",
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


GROUP_DRY_RUN = """\
[Tue Dec  1 11:52:51 2026]
rule train:
    input: data/train.h5
    output: models/net.pt
    jobid: 1
    threads: 8
    resources: tmpdir=/tmp, disk_mb=<TBD>, disk=<TBD>, mem_mb=4000, mem=4 GB, runtime=240, gpu=1
[Tue Dec  1 11:52:51 2026] Group job report (jobs in lexicogr. order):

    [Tue Dec  1 11:52:51 2026]
    rule degrade:
        input: data/test.h5
        output: queries/a.h5
        jobid: 2
        wildcards: query=a
        threads: 2
        resources: tmpdir=/tmp, disk_mb=<TBD>, mem_mb=600, mem=600 MB, runtime=60
    [Tue Dec  1 11:52:51 2026]
    rule degrade:
        input: data/test.h5
        output: queries/b.h5
        jobid: 3
        wildcards: query=b
        threads: 2
        resources: tmpdir=/tmp, disk_mb=<TBD>, mem_mb=600, mem=600 MB, runtime=60
    [Tue Dec  1 11:52:51 2026]
    rule degrade:
        input: data/test.h5
        output: queries/c.h5
        jobid: 4
        wildcards: query=c
        threads: 2
        resources: tmpdir=/tmp, disk_mb=<TBD>, mem_mb=600, mem=600 MB, runtime=60
    [Tue Dec  1 11:52:51 2026]
    rule table:
        input: queries/a.h5, queries/b.h5, queries/c.h5, models/net.pt
        output: tables/table.md
        jobid: 5
        resources: tmpdir=/tmp, mem_mb=8000, mem=8 GB, runtime=60
[Tue Dec  1 11:52:51 2026] Group job report (jobs in lexicogr. order):

    [Tue Dec  1 11:52:51 2026]
    rule table:
        input: queries/a.h5
        output: tables/other.md
        jobid: 6
        resources: tmpdir=/tmp, mem_mb=8000, mem=8 GB, runtime=60
[Tue Dec  1 11:52:51 2026]
rule all:
    input: tables/table.md, tables/other.md
    jobid: 0
    resources: tmpdir=/tmp
"""


def test_parse_dry_run_reads_which_group_job_each_job_runs_in():
    train, a, b, c, table, other = pf.parse_dry_run(GROUP_DRY_RUN)
    assert (train.group, train.group_job, train.threads, train.input) == (None, None, 8, ["data/train.h5"])
    assert {j.group for j in (a, b, c, table, other)} == {"report"}
    assert [j.group_job for j in (a, b, c, table, other)] == [0, 0, 0, 0, 1]
    assert table.input == ["queries/a.h5", "queries/b.h5", "queries/c.h5", "models/net.pt"]
    assert (a.wildcards, a.threads, a.output) == ({"query": "a"}, 2, ["queries/a.h5"])
    assert "disk_mb" not in a.resources and a.resources["mem_mb"] == 600  # <TBD> dropped
    assert [len(level) for level in pf.layers([a, b, c, table])] == [3, 1]


@pytest.mark.parametrize(
    "cores, limits, asked",
    [
        # no limits: the three degrade jobs side by side (6 CPUs), then the table (the unsized group of old)
        (None, {}, (6, 8000, 120)),
        # 4 CPUs: two degrade jobs, then one, then the table; runtimes add up over the three layers
        (4, {"mem_mb": 32000}, (4, 8000, 180)),
        (2, {"mem_mb": 32000}, (2, 8000, 240)),
    ],
)
def test_a_group_job_asks_for_its_widest_layer_within_cores_and_resources(cores, limits, asked):
    planned = pf.submissions(pf.parse_dry_run(GROUP_DRY_RUN), cores, limits)
    train, report, other = planned
    assert not train.members and train.label == "train"
    assert (report.cpus, report.mem_mb, report.runtime, report.gpus) == (*asked, 0)
    assert report.label == "group report (4 jobs)" and report.rule_counts == "degrade x3, table"
    assert report.comment == "rule_report_degrade_table"  # the plugin's --comment for this group job
    assert (other.cpus, other.mem_mb, other.runtime, other.comment) == (1, 8000, 60, "rule_report_table")


def test_the_preflight_names_a_group_job_that_no_node_holds(cluster):
    planned = pf.submissions(pf.parse_dry_run(GROUP_DRY_RUN), None, {})
    small = pf.parse_sinfo("cpu*|n1|4|6000|(null)|infinite|idle\ngpu|g1|4|6000|gpu:1|infinite|idle\n")
    never, lines = pf.report(planned, small, PROFILE / "partitions.yaml")
    text = "\n".join(lines)
    assert never == 3  # train (8 threads), both group jobs (6 CPUs; 8000 MB)
    assert "NEVER  group report (4 jobs) -> cpu: 6 CPUs, 8000 MB, 0 GPUs, 120 min [degrade x3, table]" in text
    assert "set `cores: 4` in the profile" in text and "set `mem_mb=6000` in the profile's resources" in text


def test_group_limits_come_from_the_profile_unless_the_command_line_sets_them():
    profile = {"cores": 8, "resources": ["mem_mb=32000", "gpu=1"]}
    assert pf.group_limits(profile, []) == (8, {"mem_mb": 32000, "gpu": 1})
    assert pf.group_limits(profile, ["--cores", "2", "--resources", "mem_mb=1000", "-n"]) == (2, {"mem_mb": 1000})
    assert pf.group_limits({"resources": {"mem_mb": 5}}, ["-c", "all"]) == (None, {"mem_mb": 5})
    assert pf.group_limits({}, []) == (None, {})


SHORT_RULES = {"degrade_queries", "mix_queries", "tune_enhancer", "search_queries", "evaluate_retrieval"}


def test_the_profile_groups_the_short_jobs_and_sizes_every_group_job():
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    groups = dict(item.split("=") for item in profile["groups"])
    components = dict(item.split("=") for item in profile["group-components"])
    assert SHORT_RULES <= set(groups) and set(groups.values()) == set(components)
    assert not {"train_classifier", "train_enhancer", "train_detector"} & set(groups)  # one Slurm job per model
    assert 'group:\n            "restore"' in (REPO / "workflow/rules/enhance.smk").read_text()  # enhance_<e> rules
    cores, limits = pf.group_limits(profile, [])
    assert cores and limits["mem_mb"] and limits["gpu"] == 1  # without them a group asks for sums
    assert {"mem_mb=local", "gpu=local"} <= set(profile["set-resource-scopes"])  # per group job, not per run


def _fits(planned, cpus: int, mem_mb: int, gpus: int = 1) -> list[str]:
    return [j.label for j in planned if j.cpus > cpus or (j.mem_mb or 0) > mem_mb or j.gpus > gpus]


@pytest.fixture(scope="module")
def check_dir(tmp_path_factory):
    return check.make_workdir(tmp_path_factory.mktemp("slurmcheck") / "w", check.tiny_config("auto"))


def test_the_checks_run_submits_3x_fewer_jobs_each_fitting_a_2_cpu_node(check_dir):
    """The check's tiny config through the profile sized to its 2-CPU node: every group job fits the node
    (through cores and resources, no job dropped) and there are at least 3x fewer submissions than jobs."""
    adapted = check.node_args(2, 24000)
    assert adapted == ["--cores", "2", "--resources", "mem_mb=24000", "gpu=1"]
    jobs = pf.planned_jobs(REPO / "workflow" / "Snakefile", check_dir, PROFILE, adapted)
    planned = pf.submissions(jobs, *pf.group_limits({}, adapted))
    assert sum(max(len(j.members), 1) for j in planned) == len(jobs)  # every job runs, alone or in a group
    assert len(planned) * check.MIN_REDUCTION <= len(jobs), (len(planned), len(jobs))
    assert _fits(planned, 2, 24000) == []
    assert {j.group for j in planned if j.members} == {"data", "models", "restore", "search", "report"}
    # The profile as shipped (8 CPUs, 32000 MB a node) is too big for this node: the preflight's
    # finding on the check's Slurm, and the original bug had the group jobs ask for sums.
    shipped = pf.planned_submissions(REPO / "workflow" / "Snakefile", check_dir, PROFILE, [])
    assert _fits(shipped, 8, 32000) == [] and _fits(shipped, 2, 24000)
    unsized = pf.submissions(jobs, None, {})
    assert any(j.cpus > 2 for j in unsized if j.members)


def test_every_group_job_of_the_default_run_fits_the_profiles_node(workdir):
    """The default config with every target (robustness sweeps, calibration too): groups valid (no group
    depends on itself), each group job within the profile's node size and under a day."""
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    cores, limits = pf.group_limits(profile, [])
    assert cores and limits.get("mem_mb"), "the profile's node size (cores, resources: mem_mb) sizes group jobs"
    jobs = pf.planned_jobs(REPO / "workflow" / "Snakefile", workdir, PROFILE, ["all", "robustness", "calibrate"])
    planned = pf.submissions(jobs, cores, limits)
    assert len(planned) * check.MIN_REDUCTION <= len(jobs), (len(planned), len(jobs))
    assert _fits(planned, cores, limits["mem_mb"]) == []
    assert max(j.runtime for j in planned if j.members) <= 24 * 60


INNER_LOG = """\
[Tue Dec  1 11:52:51 2026]
rule table:
    input: queries/a.h5
    output: tables/other.md
    jobid: 6
    resources: tmpdir=/tmp, mem_mb=8000, mem=8 GB, runtime=60
[Tue Dec  1 11:52:52 2026]
localrule table:
    input: queries/a.h5
    output: tables/other.md
    jobid: 0
Finished jobid: 6 (Rule: table)
"""


def test_the_check_counts_submissions_and_reads_what_each_group_job_ran(tmp_path):
    planned = pf.submissions(pf.parse_dry_run(GROUP_DRY_RUN), 4, {})
    (tmp_path / "3.log").write_text(INNER_LOG)
    submitted = [
        {"JobId": "1", "Comment": "rule_train"},
        {"JobId": "2", "Comment": "rule_report_degrade_table", "StdOut": str(tmp_path / "2.log")},
        {"JobId": "3", "Comment": "rule_report_table", "StdOut": str(tmp_path / "3.log")},
    ]
    log = "".join(f"Job {i} has been submitted with SLURM jobid {i} (log: x).\n" for i in (1, 2, 3))
    # 2.log is missing: group job 2 cannot show that it ran its 4 jobs
    assert check.check_submissions(submitted, planned, 9, log) == [
        "group job 2 ran 0 jobs, not those of a planned group job",
        "the group jobs ran 1 jobs; the dry run put 5 in groups",
    ]
    (tmp_path / "2.log").write_text(GROUP_DRY_RUN.split("Group job report")[1].replace("\n    ", "\n"))
    assert check.check_submissions(submitted, planned, 9, log) == []
    assert check.check_submissions(submitted, planned, 8, log) == ["3 submissions for 8 jobs: not 3x fewer"]
    assert check.check_submissions(submitted, planned, 9, log.replace("jobid 3", "jobid 4")) == [
        "sbatch reported jobs [1, 2, 4], Slurm knows [1, 2, 3]"
    ]
