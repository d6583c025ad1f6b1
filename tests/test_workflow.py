"""The Snakemake workflow as a whole: DAG, lint, formatting and config validation."""

import re
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, planned_jobs, run_snakemake, write_config
from test_config import MINIMAL

from cbir.config import SCHEMA_PATH
from cbir.resources import gpu_visible

CONDA_ADVICE = "Specify a conda environment or container for each rule."


def test_dry_run_default_config(workdir):
    jobs = planned_jobs(workdir)
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    n_queries = len(config["queries"])
    used = {name for names in config["enhance"].values() for name in names}
    trained = {name for name in used if "network" in config["enhancers"][name]}
    routed = {name for name in used if "route" in config["enhancers"][name]}
    tuned = {name for name in used if config["enhancers"][name].get("grid")}
    n_keys, reps = 1 + len(config["keys"]), config["replicates"]  # standard and the robust keys
    assert n_keys == 2 and reps == 3 and len(tuned) == 3 and len(trained) == 4 and routed == {"blind", "oracle"}
    assert jobs["synthesize_smallnorb"] == 1 and "download_smallnorb" not in jobs
    assert jobs["convert_norb_to_hdf5"] == 2 and jobs["split_validation"] == 1
    # every query set on the test and the validation split, once (replicates share them)
    assert jobs["degrade_queries"] == 2 * n_queries and jobs["mix_queries"] == 2 * len(config["mixtures"])
    assert jobs["train_classifier"] == n_keys * reps and jobs["train_enhancer"] == len(trained) * reps
    assert jobs["train_detector"] == reps and jobs["evaluate_detector"] == 1
    assert jobs["tune_enhancer"] == len(tuned)  # tuned once, with replicate 0's keys
    # one job per restorer and split: classical ones shared, networks and routers per replicate
    for name in used:
        assert jobs[f"enhance_{name}"] == 2 * (reps if name in trained | routed else 1), name
    # one search job per key set, replicate and split: every query set embedded by one classifier
    assert jobs["embed_gallery"] == n_keys * reps and jobs["search_queries"] == 2 * n_keys * reps
    assert jobs["judge_restorers"] == 2 * reps  # each replicate's restorers judged by the next one's keys
    assert jobs["evaluate_enhancement"] == jobs["evaluate_retrieval"] == 2 and jobs["plot_gap_closed"] == 1
    assert jobs["plot_enhancement"] == len(config["enhance"])
    assert jobs["plot_learning_curve"] == n_keys + len(trained) + 1  # and the detector's
    assert jobs["evaluate_blind"] == 2 and jobs["plot_blind"] == 1
    # the severity sweeps and the calibration are named targets, not part of `all`
    assert not {"degrade_sweep", "enhance_sweep", "retrieve_sweep", "evaluate_robustness"} & set(jobs)
    assert not {"degrade_calibration", "search_calibration", "evaluate_calibration"} & set(jobs)


def test_dry_run_with_one_replicate(workdir):
    """One replicate: every network once, no judge job (the other key set judges)."""
    jobs = planned_jobs(workdir, "--config", "replicates=1")
    assert jobs["train_classifier"] == 2 and jobs["train_enhancer"] == 4 and jobs["train_detector"] == 1
    assert jobs["embed_gallery"] == 2 and jobs["search_queries"] == 2 * 2
    assert "judge_restorers" not in jobs
    assert sum(n for rule, n in jobs.items() if rule.startswith("enhance_")) == 2 * (4 + 6)  # one per restorer


def test_dry_run_calibrate_target(workdir):
    """Calibration needs the classifiers only: one degrade job for every grid strength, one search
    per replicate, no restorer trained; of the query sets, only the validation split's clean and
    calibrated ones (the configured strengths)."""
    jobs = planned_jobs(workdir, "calibrate")
    assert jobs["degrade_calibration"] == 1 and jobs["search_calibration"] == 3
    assert jobs["evaluate_calibration"] == jobs["plot_calibration"] == 1
    assert jobs["train_classifier"] == 3  # the standard keys of each replicate
    assert jobs["degrade_queries"] == 4
    assert not {"train_enhancer", "search_queries", "tune_enhancer"} & set(jobs)
    assert not [rule for rule in jobs if rule.startswith("enhance_")]


def test_nothing_that_trains_or_chooses_reads_the_test_split(workdir):
    """The DAG below the test split's conversion holds no training, tuning or selection job."""
    dot = run_snakemake(workdir, "all", "robustness", "--dag").stdout
    labels = dict(re.findall(r'^\s*(\d+)\[label = "([^"]*)"', dot, re.M))
    children = {}
    for parent, child in re.findall(r"^\s*(\d+) -> (\d+)", dot, re.M):
        children.setdefault(parent, []).append(child)
    todo = [n for n, label in labels.items() if label.startswith("convert_norb_to_hdf5") and "split: test" in label]
    assert len(todo) == 1
    below = set()
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in below:
                below.add(child)
                todo.append(child)
    rules = {labels[n].split("\\n")[0] for n in below}
    assert not rules & {"train_classifier", "train_enhancer", "tune_enhancer", "split_validation"}
    assert {"degrade_queries", "search_queries", "evaluate_retrieval", "evaluate_classifier"} <= rules


def test_dry_run_robustness_target(workdir):
    jobs = planned_jobs(workdir, "robustness")
    sweeps = yaml.safe_load((REPO / "config/config.yaml").read_text())["sweeps"]
    enhancers = sum(1 + len(sweep["enhancers"]) for sweep in sweeps.values())  # `none` too
    # on the test split and on the validation split (where each sweep's best restorer is chosen)
    assert jobs["degrade_sweep"] == 2 * len(sweeps) == 10
    assert jobs["enhance_sweep"] == 2 * (enhancers - len(sweeps))
    assert jobs["retrieve_sweep"] == 2 * 2 * enhancers  # x key sets x splits
    assert jobs["evaluate_robustness"] == jobs["plot_robustness"] == jobs["robustness"] == 1
    # it needs retrieval.csv (the clean levels), so the main line runs first, but no figure of it
    assert jobs["evaluate_retrieval"] == 1 and "plot_retrieval" not in jobs


def test_dry_run_paper_config_downloads_the_real_files(workdir):
    stdout = run_snakemake(workdir, "-n", "--configfile", str(REPO / "config/paper.yaml")).stdout
    assert "results/paper/tables/table1.md" in stdout
    jobs = planned_jobs(workdir, "--configfile", str(REPO / "config/paper.yaml"))
    assert jobs["download_smallnorb"] == 6 and "synthesize_smallnorb" not in jobs


def test_lint_is_clean_but_for_the_conda_advice():
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    findings = re.findall(r"^\s+\* (.+?):?$", proc.stdout + proc.stderr, re.M)
    assert findings, "expected at least the conda advice; did the lint run?"
    assert set(findings) == {CONDA_ADVICE.rstrip(".") + "."} or set(findings) == {CONDA_ADVICE}, findings


def test_snakefmt_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "workflow"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"datset": {}}, "config key 'datset': unknown key"),
        ({"dataset": {"image_size": 7}}, "config key 'dataset.image_size': 7 is less than the minimum of 16"),
        ({"dataset": {"source": "imagenet"}}, "config key 'dataset.source': 'imagenet' is not one of"),
        ({"retrieval": {"ks": [1, 50]}}, "config key 'retrieval.ks': k = 50 exceeds retrieval.topk"),
        ({"enhance": {"nosiy": ["denoiser"]}}, "config key 'enhance.nosiy': no query set named"),
        ({"enhance": {"noisy": ["denoiser", "mediann"]}}, "config key 'enhance.noisy': no enhancer named 'mediann'"),
        (
            {"enhance": {"noisy": "denoiser"}},
            "config key 'enhance.noisy': now a list of enhancer names, e.g. [denoiser]",
        ),
    ],
)
def test_bad_config_is_rejected_before_any_job(workdir, override, message):
    write_config(workdir, **override)
    proc = run_snakemake(workdir, "-n", check=False)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (workdir / "results").exists()


def test_schema_documents_every_key():
    """Every property in the schema has a description, and every optional leaf a default."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())

    def walk(node, path):
        for name, sub in node.get("properties", {}).items():
            if not sub:  # re-declared key whose definition comes from an allOf reference
                continue
            where = f"{path}.{name}".lstrip(".")
            assert "description" in sub or "$ref" in sub, f"{where} lacks a description"
            leaf = sub.get("type") not in ("object", None) and "$ref" not in sub
            if leaf and name not in node.get("required", []):
                assert "default" in sub, f"{where} lacks a default"
            walk(sub, where)

    walk(schema, "")
    for name, sub in schema["$defs"].items():
        walk(sub, name)


def test_dag_draws_without_cores(workdir):
    """`snakemake all --dag` (README) must not need --cores: rules declare fixed threads."""
    stdout = run_snakemake(workdir, "all", "--dag").stdout
    assert stdout.lstrip().startswith("digraph") and "train_classifier" in stdout


def test_config_without_optional_sections_dry_runs(workdir):
    """Only `queries` is required: every other section comes from the schema."""
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump({"queries": MINIMAL["queries"]}))
    jobs = planned_jobs(workdir)
    assert jobs["synthesize_smallnorb"] == 1 and jobs["degrade_queries"] == 2 * 2  # test and validation
    # `enhance` and `enhancers` default to {}: nothing to restore, nothing to train but the classifier.
    assert "train_enhancer" not in jobs and "evaluate_enhancement" not in jobs
    assert not [rule for rule in jobs if rule.startswith("enhance_")]
    assert jobs["search_queries"] == 2 and jobs["embed_gallery"] == 1 and jobs["evaluate_retrieval"] == 2


def test_only_the_enhancers_in_use_are_trained(workdir):
    config = {**MINIMAL, "enhance": {"noisy": ["deblurrer", "median"]}}
    config["enhancers"] = {**MINIMAL["enhancers"], "median": {"method": "median"}}
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    jobs = planned_jobs(workdir)
    # one job per restorer and split: noisy and (the blind cost) the clean queries together
    assert jobs["train_enhancer"] == 1 and jobs["enhance_deblurrer"] == jobs["enhance_median"] == 2
    assert jobs["plot_learning_curve"] == 2
    assert jobs["evaluate_enhancement"] == 2


def test_old_key_is_rejected_with_the_new_name(workdir):
    write_config(workdir, training={"device": "cpu"})
    proc = run_snakemake(workdir, "-n", check=False)
    assert proc.returncode != 0
    assert "config key 'training' was renamed: use 'runtime'" in proc.stdout + proc.stderr


def test_failing_job_log_holds_its_traceback(workdir):
    """A job that dies on bad input leaves the exception and its traceback in its log."""
    raw = workdir / "resources" / "synthnorb"
    raw.mkdir(parents=True)
    from cbir.norb import KINDS, official_name

    for split in ("train", "test"):
        for kind in KINDS:
            (raw / official_name(split, kind)).write_bytes(b"not a smallNORB file")
    proc = run_snakemake(workdir, "--cores", "1", "results/demo/data/test.h5", "--show-failed-logs", check=False)
    assert proc.returncode != 0
    log = (workdir / "logs" / "demo" / "convert_norb_to_hdf5" / "test.log").read_text()
    assert "Traceback (most recent call last)" in log
    assert "NorbFormatError" in log and "smallnorb-5x01235x9x18x6x2x96x96-testing-" in log
    assert "Traceback (most recent call last)" in proc.stdout + proc.stderr  # --show-failed-logs prints it
    assert not (workdir / "results" / "demo" / "data" / "test.h5").exists()


def test_cpu_runtime_asks_for_no_gpu(workdir):
    """runtime.device: cpu is the switch for CPU-only clusters: no job requests a GPU; cuda asks for
    one; auto asks for one in a local run only where this machine shows a GPU."""
    write_config(workdir, runtime={"device": "cpu"})
    stdout = run_snakemake(workdir, "-n").stdout
    assert "gpu=1" not in stdout and "gpu=0" in stdout
    stdout = run_snakemake(workdir, "-n", "--config", "runtime={'device': 'cuda'}").stdout
    assert "gpu=1" in stdout
    stdout = run_snakemake(workdir, "-n", "--config", "runtime={'device': 'auto'}").stdout
    assert ("gpu=1" in stdout) == gpu_visible()


def _job_threads(stdout: str, rule: str) -> set[int]:
    """The threads of every planned job of `rule` in a dry run's output (1 where none is printed)."""
    blocks = re.findall(rf"^rule {rule}:\n((?:    .*\n)+)", stdout, re.M)
    return {int(m[1]) if (m := re.search(r"threads: (\d+)", block)) else 1 for block in blocks}


def test_local_torch_jobs_take_half_the_cores(workdir):
    """Two torch jobs side by side: half of --cores each (rendering keeps every core)."""
    stdout = run_snakemake(workdir, "-n", "--cores", "4").stdout
    assert _job_threads(stdout, "train_classifier") == {2} and _job_threads(stdout, "search_queries") == {2}
    assert _job_threads(stdout, "synthesize_smallnorb") == {4}
    assert _job_threads(run_snakemake(workdir, "-n", "--cores", "2").stdout, "train_enhancer") == {1}


def test_networks_only_the_sweeps_use_train_for_the_robustness_target(workdir):
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["enhance"] = {"noisy": ["denoiser"]}  # the deblurrer and the upscaler serve the sweeps only
    config["replicates"] = 1
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert planned_jobs(workdir)["train_enhancer"] == 1
    jobs = planned_jobs(workdir, "robustness")
    assert jobs["train_enhancer"] == 3 and jobs["plot_learning_curve"] == 2  # deblurrer, upscaler


def test_robustness_target_without_sweeps_names_the_key(workdir):
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["sweeps"] = {}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    assert "train_classifier" in planned_jobs(workdir)  # `all` runs as before
    proc = run_snakemake(workdir, "-n", "robustness", check=False)
    assert proc.returncode != 0
    assert "config key 'sweeps' is empty" in proc.stdout + proc.stderr
