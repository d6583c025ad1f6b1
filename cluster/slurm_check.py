"""`make slurm-check`: the Slurm profile proven on a real single-node Slurm, as root on a Debian-like machine.

Installs slurm-wlm and munge if missing, starts a throwaway Slurm sized by `slurmd -C` (cluster/local_slurm.py:
partitions named as in profiles/slurm/partitions.yaml, a GPU stand-in, no accounting database), runs the
preflight against it, then runs a tiny config through `snakemake --workflow-profile profiles/slurm` with the
profile's job groups, its node size set to this node's (`--cores <CPUs> --resources mem_mb=<MB> ...`, as the
README tells a user to), and checks every Slurm job against the DAG: its partition, CPUs (a rule's threads
capped at the node's CPUs; a group job's widest layer), memory, time limit and GPUs, all derived from dry
runs rather than job names; that it completed; that each group job ran the jobs planned for it; and that
there are at least MIN_REDUCTION times fewer submissions than jobs. Runs the same config locally
(`--cores <CPUs>`) and compares the tables byte for byte. Stops the daemons it started and removes its
folder (kept on failure, or with --keep). Exit status 0 only if everything matched.

    python cluster/slurm_check.py [--cpu-only] [--keep] [--timeout SECONDS]

--cpu-only: a cluster without GPUs (no gres, one partition) and the config's `runtime.device: cpu`:
no job may ask for a GPU.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_slurm import LocalSlurm, SlurmSetupError, ensure_installed  # noqa: E402
from slurm_preflight import (  # noqa: E402
    DRY_RUN_CORES,
    SINFO_FORMAT,
    PlannedJob,
    choose_partition,
    group_limits,
    parse_dry_run,
    parse_sinfo,
    parse_slurm_minutes,
    partition_file,
    planned_jobs,
    planned_submissions,
    report,
)
from slurm_preflight import main as preflight  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm"
RUN = "slurmcheck"
MIN_REDUCTION = 3  # at least this many times fewer Slurm submissions than jobs (the profile's groups)
START = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - START:6.1f}s] {msg}", flush=True)


def tiny_config(device: str) -> dict:
    """The repository's default config cut down to a run of a few minutes on 2 CPUs."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["run"] = RUN
    config["dataset"]["image_size"] = 32
    config["dataset"]["subset"] = {"cameras": [0], "lightings": [0], "azimuth_step": 6, "elevation_step": 4}
    config["queries"] = {"clean": [], "noisy": [{"name": "gaussian", "sigma": 0.1}]}
    config["enhance"] = {"noisy": ["denoiser", "median"]}  # a network (with the feature term) and a classical method
    config["calibration"] = {}  # it names the demo's query sets
    config["mixtures"] = {}  # so does the mixture of unannounced degradations
    config["replicates"] = 1
    config["runtime"]["device"] = device
    config["classifier"].update(epochs=1, eval_images=100)
    for recipe in config["enhancers"].values():
        if "network" in recipe:
            recipe.update(epochs=1, steps_per_epoch=2, eval_images=50)
    config["report"]["figure_queries"] = 2
    return config


def make_workdir(path: Path, config: dict) -> Path:
    (path / "config").mkdir(parents=True)
    (path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile"), "-d", str(workdir), *args]
    log("$ " + " ".join(cmd))
    with open(workdir / "snakemake.log", "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return subprocess.CompletedProcess(cmd, proc.returncode, (workdir / "snakemake.log").read_text(), "")


def slurm_jobs() -> list[dict[str, str]]:
    """Every job slurmctld still knows (MinJobAge keeps finished ones), as key -> value."""
    out = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True).stdout
    return [dict(re.findall(r"(?:^|\s)([\w/:]+)=(\S*)", line)) for line in out.splitlines() if "JobId=" in line]


def gpus_of(job: dict[str, str]) -> int:
    """GPUs a Slurm job asked for (--gpus: TresPerJob, --gres: TresPerNode), e.g. 'gres:gpu:1' -> 1."""
    total = 0
    for key in ("TresPerJob", "TresPerNode"):
        for entry in job.get(key, "").split(","):
            match = re.fullmatch(r"gres[:/]gpu(?::\w+)?[:=](\d+)", entry)
            total += int(match[1]) if match else 0
    return total


def mem_mb_of(job: dict[str, str]) -> int | None:
    match = re.fullmatch(r"(\d+)([MGT]?)", job.get("MinMemoryNode", ""))
    if not match:
        return None
    return int(match[1]) * {"": 1, "M": 1, "G": 1024, "T": 1024**2}[match[2]]


def job_mismatches(sj: dict[str, str], job: PlannedJob, want: dict, gpu_partitions: set, reserved: set) -> list[str]:
    """What Slurm granted one job (scontrol) against what the DAG asks for it."""
    actual = {
        "partition": sj.get("Partition"),
        "cpus": int(sj.get("NumCPUs", 0)),
        "mem_mb": mem_mb_of(sj),
        "runtime": parse_slurm_minutes(sj.get("TimeLimit", "")),
        "gpus": gpus_of(sj),
    }
    errors = [f"{job.label}: {k} {actual[k]} != expected {v}" for k, v in want.items() if actual[k] != v]
    if job.cpus != want["cpus"]:
        errors.append(f"{job.label}: the profile turns {want['cpus']} threads into {job.cpus} CPUs")
    if actual["gpus"] and actual["partition"] not in gpu_partitions:
        errors.append(f"{job.label}: asks for GPUs in partition {actual['partition']}, which has none")
    if not actual["gpus"] and actual["partition"] in reserved:
        errors.append(f"{job.label}: a CPU job in {actual['partition']}, a GPU partition of the profile")
    if sj.get("JobState") != "COMPLETED":
        errors.append(f"{job.label}: state {sj.get('JobState')} (reason {sj.get('Reason')})")
    return errors


def compare_jobs(
    submitted: list[dict[str, str]], expected: list[PlannedJob], raw: list[PlannedJob], cluster, part_file, node_cpus
) -> list[str]:
    """Print one line per Slurm job with what it was granted; return every mismatch with the DAG.

    Expected, per submission of the dry run through the profile (`submissions`: a job outside groups, or a
    group job): the partition the plugin picks, mem_mb, runtime and GPUs; CPUs = a rule's threads (from a dry
    run without a thread cap) capped at the node's CPUs, or a group job's CPUs (its widest layer)."""
    pending: dict[str, list[PlannedJob]] = {}
    for job in expected:
        pending.setdefault(job.comment, []).append(job)
    raw_threads = {job.comment: job.threads for job in raw}
    default = next((p.name for p in cluster.values() if p.default), None)
    gpu_partitions = {p.name for p in cluster.values() if any(n.gpus for n in p.nodes)}
    entries = yaml.safe_load(part_file.read_text())["partitions"] if part_file else {}
    reserved = {name for name, limits in entries.items() if (limits or {}).get("max_gpu", 0) > 0}
    errors = []
    log(f"{len(submitted)} Slurm jobs submitted (the DAG through the profile: {len(expected)}); what each was granted:")
    print(
        f"  {'id':>4} {'job':44} {'partition':9} {'cpus':>4} {'mem_mb':>7} {'time':>10} {'gpus':>4}  {'state':9} vs DAG"
    )
    for sj in sorted(submitted, key=lambda j: int(j["JobId"])):
        comment = sj.get("Comment", "")
        candidates = pending.get(comment, [])
        job = _closest(sj, candidates)
        if job is None:
            found = [f"Slurm job {sj['JobId']} ({comment}) matches no job of the dry run, or was submitted twice"]
        else:
            candidates.remove(job)
            want = {
                "partition": choose_partition(job, part_file, default),
                "cpus": job.cpus if job.members else min(raw_threads.get(comment, job.threads), node_cpus),
                "mem_mb": job.mem_mb,
                "runtime": job.runtime,
                "gpus": job.gpus,
            }
            found = job_mismatches(sj, job, want, gpu_partitions, reserved)
        print(
            f"  {sj['JobId']:>4} {job.label if job else comment:44.44} {sj.get('Partition', '?'):9} "
            f"{sj.get('NumCPUs', '?'):>4} {mem_mb_of(sj) or '-':>7} {sj.get('TimeLimit', '?'):>10} "
            f"{gpus_of(sj):>4}  {sj.get('JobState', '?'):9} {'MISMATCH' if found else 'ok'}"
        )
        if job is not None and job.members:
            print(f"{'':7}its {len(job.members)} jobs: {job.rule_counts}")
        errors += found
    errors += [f"{job.label} was never submitted" for jobs in pending.values() for job in jobs]
    if not errors:
        log(f"all {len(expected)} submissions: partition, CPUs, memory, time limit and GPUs as the DAG asks")
    return errors


def _closest(sj: dict[str, str], candidates: list[PlannedJob]) -> PlannedJob | None:
    """The expected job a Slurm job is: group jobs of the same rules share a comment, so the one whose
    request it was granted (else the first)."""
    granted = (int(sj.get("NumCPUs", 0)), mem_mb_of(sj), parse_slurm_minutes(sj.get("TimeLimit", "")))
    for job in candidates:
        if granted == (job.cpus, job.mem_mb, job.runtime):
            return job
    return candidates[0] if candidates else None


def group_members(sj: dict[str, str]) -> list[PlannedJob]:
    """The jobs a group's Slurm job ran, from its Slurm log (the Snakemake run inside it prints each job)."""
    path = Path(sj.get("StdOut", ""))
    return parse_dry_run(path.read_text(errors="replace")) if path.is_file() else []


def check_submissions(
    submitted: list[dict[str, str]], expected: list[PlannedJob], n_jobs: int, snakemake_log: str
) -> list[str]:
    """At least MIN_REDUCTION times fewer submissions than jobs, one sbatch call per Slurm job, and every
    group's Slurm job ran the jobs of one planned group job."""
    errors = []
    sbatch_ids = sorted(int(i) for i in re.findall(r"has been submitted with SLURM jobid (\d+)", snakemake_log))
    slurm_ids = sorted(int(j["JobId"]) for j in submitted)
    groups = [j for j in expected if j.members]
    in_groups = sum(len(g.members) for g in groups)
    log(
        f"submissions: {len(sbatch_ids)} sbatch calls, {len(slurm_ids)} Slurm jobs for the {n_jobs} jobs of the DAG "
        f"({len(groups)} group jobs ran {in_groups} of them): {n_jobs / max(len(slurm_ids), 1):.1f}x fewer "
        f"submissions than jobs (at least {MIN_REDUCTION}x required)"
    )
    if sbatch_ids != slurm_ids:
        errors.append(f"sbatch reported jobs {sbatch_ids}, Slurm knows {slurm_ids}")
    if len(slurm_ids) * MIN_REDUCTION > n_jobs:
        errors.append(f"{len(slurm_ids)} submissions for {n_jobs} jobs: not {MIN_REDUCTION}x fewer")
    planned = {frozenset((j.rule, tuple(j.wildcards.items())) for j in g.members) for g in groups}
    ran = 0
    for sj in sorted(submitted, key=lambda j: int(j["JobId"])):
        if not sj.get("Comment", "").startswith(tuple(f"rule_{g.group}_" for g in groups)):
            continue
        members = group_members(sj)
        ran += len(members)
        log(f"group job {sj['JobId']} ran {len(members)} jobs (its Slurm log {sj.get('StdOut')})")
        if frozenset((j.rule, tuple(j.wildcards.items())) for j in members) not in planned:
            errors.append(f"group job {sj['JobId']} ran {len(members)} jobs, not those of a planned group job")
    if ran != in_groups:
        errors.append(f"the group jobs ran {ran} jobs; the dry run put {in_groups} in groups")
    return errors


def compare_tables(slurm_dir: Path, local_dir: Path) -> list[str]:
    """Byte equality of every result table (tables/*.csv, *.md, *.json; not the runtime table) of the two runs."""
    a, b = (d / "results" / RUN / "tables" for d in (slurm_dir, local_dir))
    # runtime.* holds wall-clock timings of the jobs, which differ between any two runs.
    names = sorted(
        {
            p.name
            for d in (a, b)
            if d.is_dir()
            for p in d.iterdir()
            if p.suffix in {".csv", ".md", ".json"} and not p.name.startswith("runtime.")
        }
    )
    if not names:
        return ["no tables were written"]
    errors = []
    for name in names:
        same = (a / name).is_file() and (b / name).is_file() and filecmp.cmp(a / name, b / name, shallow=False)
        print(f"  {'equal ' if same else 'DIFFER'} tables/{name}")
        if not same:
            errors.append(f"tables/{name} differs between the Slurm and the local run")
    return errors


def node_args(cpus: int, mem_mb: int) -> list[str]:
    """The profile's node size set to this node's: its CPUs (`cores`) and memory (`mem_mb` in `resources`;
    the profile's other resources, the GPUs per group job, kept), as the README tells a user to."""
    settings = yaml.safe_load((PROFILE / "config.yaml").read_text()) or {}
    _, limits = group_limits(settings, [])
    limits["mem_mb"] = mem_mb
    return ["--cores", str(cpus), "--resources", *(f"{k}={v}" for k, v in limits.items())]


def check_preflight(
    workdir: Path, shipped: list[PlannedJob], cluster, part_file, node, adapted: list[str]
) -> list[str]:
    """The preflight against the real Slurm: with the profile as shipped (its node size, not this node's) it
    must name exactly the submissions that ask for more CPUs or memory than the node has; with `adapted` (the
    node size set to this node's) it must pass."""
    errors = []
    too_big = sum(job.cpus > node.cpus or (job.mem_mb or 0) > node.mem_mb for job in shipped)
    never, _ = report(shipped, cluster, part_file)
    log(f"preflight with the profile as shipped (expect {too_big} submissions that could never start):")
    code = preflight(["--directory", str(workdir)])
    if never != too_big or (code != 0) != (too_big > 0):
        errors.append(
            f"preflight flagged {never} submissions (exit {code}); {too_big} ask for more than "
            f"{node.cpus} CPUs or {node.mem_mb} MB"
        )
    log(f"preflight with {' '.join(adapted)} (expect all ok):")
    if preflight(["--directory", str(workdir), *adapted]) != 0:
        errors.append(f"preflight with {' '.join(adapted)} reports a problem")
    return errors


def run_on_slurm(root: Path, config: dict, gpu: bool, timeout: float) -> tuple[list[str], int]:
    """(errors, node CPUs) of the Slurm part; the daemons are stopped when it returns."""
    partitions = list(yaml.safe_load((PROFILE / "partitions.yaml").read_text())["partitions"])
    with LocalSlurm(root / "slurm", partitions if gpu else partitions[:1], gpu, log) as slurm:
        workdir = make_workdir(root / "slurm_run", config)
        sinfo = ["sinfo", "--noheader", "-N", "-o", SINFO_FORMAT]
        cluster = parse_sinfo(subprocess.run(sinfo, capture_output=True, text=True).stdout)
        part_file = partition_file(PROFILE, [])
        adapted = node_args(slurm.cpus, slurm.mem_mb)
        raw = planned_jobs(
            REPO / "workflow" / "Snakefile", workdir, PROFILE, ["--cores", str(DRY_RUN_CORES)]
        )  # rule threads
        shipped = planned_submissions(REPO / "workflow" / "Snakefile", workdir, PROFILE, [])
        expected = planned_submissions(REPO / "workflow" / "Snakefile", workdir, PROFILE, adapted)
        errors = check_preflight(workdir, shipped, cluster, part_file, slurm, adapted)
        log(f"the plan: {len(raw)} jobs in {len(expected)} submissions; what each group job will ask for:")
        for job in expected:
            if job.members:
                print(
                    f"  {job.label:26} {job.cpus} CPUs, {job.mem_mb} MB, {job.runtime} min, {job.gpus} GPUs "
                    f"[{job.rule_counts}]"
                )
        args = ["--workflow-profile", str(PROFILE), *adapted]
        # Poll every few seconds instead of 40 s: a fast check (MinJobAge 3600 >= 3 x 2 s keeps squeue in use).
        args += ["--slurm-init-seconds-before-status-checks", "2"]
        args += ["--slurm-keep-successful-logs"]  # each group job's log: the jobs it ran (check_submissions)
        try:
            proc = snakemake(workdir, *args, timeout=timeout)
            if proc.returncode != 0:
                errors.append(f"the Slurm run failed ({proc.returncode}); log: {workdir / 'snakemake.log'}")
                print(proc.stdout[-5000:])
        except subprocess.TimeoutExpired:
            errors.append(f"the Slurm run did not finish within {timeout:.0f} s (a job the executor never saw finish?)")
            slurm.cancel_all()
        submitted = [j for j in slurm_jobs() if j.get("Comment", "").startswith("rule_")]
        main_log = (workdir / "snakemake.log").read_text()
        if "Falling back to 'sacct'" in main_log:
            errors.append("the plugin fell back to sacct for status queries")
        errors += compare_jobs(submitted, expected, raw, cluster, part_file, slurm.cpus)
        errors += check_submissions(submitted, expected, len(raw), main_log)
        if not gpu:
            errors += [f"{j.label} asks for {j.gpus} GPUs on a CPU-only cluster" for j in expected if j.gpus]
        return errors, slurm.cpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-only", action="store_true", help="no GPU stand-in; config runtime.device: cpu")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (work dirs, Slurm logs)")
    parser.add_argument("--timeout", type=float, default=1500, help="seconds for each of the two runs")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the daemons when killed, too
    if os.geteuid() != 0:
        print("slurm check: run as root (it installs and starts Slurm daemons)", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="cbir-slurm-check-"))
    root.chmod(0o711)  # munged checks every folder above its socket
    log(f"folder {root}")
    config = tiny_config("cpu" if args.cpu_only else "auto")
    errors: list[str] = []
    try:
        ensure_installed(log)
        errors, cpus = run_on_slurm(root, config, gpu=not args.cpu_only, timeout=args.timeout)
        log("daemons stopped; the same config locally:")
        local = make_workdir(root / "local_run", config)
        proc = snakemake(local, "--cores", str(cpus), timeout=args.timeout)
        if proc.returncode != 0:
            errors.append(f"the local run failed ({proc.returncode}); log: {local / 'snakemake.log'}")
            print(proc.stdout[-5000:])
        log("tables, Slurm run vs local run:")
        errors += compare_tables(root / "slurm_run", local)
    except (SlurmSetupError, subprocess.TimeoutExpired) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        keep = args.keep or bool(errors)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    for error in errors:
        log(f"MISMATCH {error}")
    log(f"slurm check {'FAILED' if errors else 'passed'}" + (f"; files kept in {root}" if keep else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
