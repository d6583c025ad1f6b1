"""Before submitting: can every job of the workflow start on this Slurm cluster, and can the executor see it finish?

    python cluster/slurm_preflight.py [--profile profiles/slurm] [SNAKEMAKE ARGS ...]   (or: make slurm-preflight)

Reads what each submission will ask for from a dry run of the whole workflow through the profile
(threads, mem_mb, gpu, runtime, the partition the Slurm plugin picks from the profile's partitions.yaml)
and what the cluster has from `sinfo` (CPUs, memory and GPUs of each partition's nodes, its time limit),
and names every submission that could never start: Slurm rejects some of them at submission and leaves
others PENDING forever without a word. A submission is a job of a rule the profile does not group, or a
group job (the profile's `groups`), whose request is computed as Snakemake computes it for a cluster:
its jobs in parallel layers that each fit `cores` and `resources`, the layers' runtimes added up.
Then checks the executor's job status query: `sacct` fails without an accounting database, and the
`squeue` alternative needs finished jobs to stay visible (MinJobAge).
Only nodes that can take jobs count (see USABLE_STATES): down, drained or failing nodes do not.
Exit status 0: everything fits; 1: a job can never start or the status query cannot work;
2: no `sinfo`, or it failed, listed nothing or printed a line this script cannot read (named on stderr).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# One line per (partition, node): name (default marked *), node, CPUs, memory MB, gres, time limit, state.
SINFO_FORMAT = "%P|%n|%c|%m|%G|%l|%t"
SINFO_FIELDS = ("partition", "node", "CPUs", "memory", "gres", "time limit", "state")
# Node states (sinfo %t, or %T's long names) in which Slurm starts new jobs on a node: idle, mixed, allocated
# (busy, but jobs queue for it), completing, planned (held by backfill for a while). Not usable: down, drain
# (drained), drng (draining), fail, failg (failing), maint, resv (reserved), boot (rebooting), inval, unk
# (unknown), futr (future), npc, block, and the bare power-save states (pow_dn, powered_down ...: we cannot
# tell whether they are drained too): jobs sent there wait for an admin or never start.
USABLE_STATES = {"idle", "mix", "mixed", "alloc", "allocated", "comp", "completing", "plnd", "planned"}
# A state's suffix flags: * not responding, $ in a maintenance reservation, ^ reboot under way make a node
# unusable. ~ powered off, # powering up, ! and % powering down are power saving: Slurm powers the node up
# for a job, so idle~ counts (else every job on a power-saving cluster would look stuck). @ reboot pending
# (jobs still start until then; `reboot ASAP` drains it, shown as drain@), - planned by backfill and
# + (alloc+) jobs completing count too.
STATE_FLAGS = "*~#!%$@^-+"
UNUSABLE_FLAGS = set("*$^")
PLUGIN_DEFAULT_INIT_SECONDS = 40  # the plugin's --slurm-init-seconds-before-status-checks default
PLUGIN_MAX_POLL_SECONDS = 180  # the plugin never waits longer between two status queries
DRY_RUN_CORES = 1_000_000  # a dry run caps threads at --cores; a cluster run does not


@dataclass
class PlannedJob:
    """One job of a dry run, or one group job (`members` its jobs): what Snakemake hands the Slurm executor."""

    rule: str  # a group job: the name the plugin gives it, "<group>_<its rules>"
    wildcards: dict[str, str] = field(default_factory=dict)
    threads: int = 1
    resources: dict[str, object] = field(default_factory=dict)
    input: list[str] = field(default_factory=list)
    output: list[str] = field(default_factory=list)
    group: str | None = None  # the group of a group job, or the group a job runs in
    group_job: int | None = None  # which group job of the dry run (its place there) a job runs in
    members: list[PlannedJob] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.members:
            return f"group {self.group} ({len(self.members)} jobs)"
        wc = ",".join(f"{k}={v}" for k, v in self.wildcards.items())
        return f"{self.rule}[{wc}]" if wc else self.rule

    @property
    def comment(self) -> str:
        """The --comment the plugin gives this job's sbatch call (how a Slurm job is traced back to it);
        a group job has no wildcards, so group jobs of the same rules share one comment."""
        wc = "_".join(self.wildcards.values()).replace("/", "_")
        return f"rule_{self.rule}_wildcards_{wc}" if wc else f"rule_{self.rule}"

    @property
    def gpus(self) -> int:
        if self.resources.get("gpu"):
            return int(self.resources["gpu"])
        return parse_gres_gpus(str(self.resources.get("gres") or ""))

    @property
    def cpus(self) -> int:
        """CPUs the job asks for, as the plugin maps them: cpus_per_task, else cpus_per_gpu x GPUs, else threads."""
        if self.resources.get("cpus_per_task"):
            return max(1, int(self.resources["cpus_per_task"]))
        if self.gpus and self.resources.get("cpus_per_gpu"):
            return int(self.resources["cpus_per_gpu"]) * self.gpus
        return self.threads

    @property
    def mem_mb(self) -> int | None:
        if self.resources.get("mem_mb_per_cpu"):
            return int(self.resources["mem_mb_per_cpu"]) * self.cpus
        return int(self.resources["mem_mb"]) if self.resources.get("mem_mb") else None

    @property
    def runtime(self) -> int | None:
        return int(self.resources["runtime"]) if self.resources.get("runtime") else None

    @property
    def rule_counts(self) -> str:
        """A group job's rules and how many jobs of each, e.g. 'degrade_queries x4, split_validation'."""
        counts = Counter(job.rule for job in self.members)
        return ", ".join(f"{rule} x{n}" if n > 1 else rule for rule, n in sorted(counts.items()))


@dataclass
class Node:
    name: str
    cpus: int
    mem_mb: int
    gpus: int
    state: str  # as sinfo printed it

    @property
    def usable(self) -> bool:
        """Can Slurm start a new job here (see USABLE_STATES)?"""
        state = self.state.lower()
        base = state.rstrip(STATE_FLAGS)
        return base in USABLE_STATES and not UNUSABLE_FLAGS & set(state[len(base) :])


@dataclass
class Partition:
    name: str
    default: bool = False
    time_limit: int | None = None  # minutes; None: no limit
    nodes: list[Node] = field(default_factory=list)


def _value(text: str) -> object:
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def _pairs(text: str) -> dict[str, object]:
    """'a=1, b=x y' -> {'a': 1, 'b': 'x y'} (Snakemake's job info lines)."""
    pairs = (item.split("=", 1) for item in text.split(", ") if "=" in item)
    return {key.strip(): _value(value.strip()) for key, value in pairs}


def parse_dry_run(text: str) -> list[PlannedJob]:
    """The jobs a `snakemake -n` printed that reach Slurm: not local rules, nor rules without output
    files (targets such as `all`, which Snakemake runs itself). A job printed under "Group job <name>"
    (indented) runs in that group job: its `group` is the name, its `group_job` the group job's place."""
    jobs: list[PlannedJob] = []
    current: PlannedJob | None = None
    indent = 0
    group: tuple[str, int] | None = None
    groups_seen = 0
    for line in text.splitlines():
        head = re.match(r"^.*\] Group job (\S+) \(jobs in lexicogr\. order\):$", line)
        if head:
            group, groups_seen, current = (head[1], groups_seen), groups_seen + 1, None
            continue
        head = re.match(r"^( *)(local)?(?:rule|checkpoint) (\w+):$", line)
        if head:
            indent = len(head[1])
            if indent == 0:
                group = None
            current = None if head[2] else PlannedJob(head[3])
            if current is not None and group is not None and indent > 0:
                current.group, current.group_job = group
            continue
        item = re.match(r"^( *)(input|output|wildcards|threads|resources): (.*)$", line)
        if current is None or not item or len(item[1]) != indent + 4:
            continue
        if item[2] == "output":
            current.output = item[3].split(", ")
            jobs.append(current)
        elif item[2] == "input":
            current.input = item[3].split(", ")
        elif item[2] == "wildcards":
            current.wildcards = {k: str(v) for k, v in _pairs(item[3]).items()}
        elif item[2] == "threads":
            current.threads = int(item[3])
        else:
            current.resources = {k: v for k, v in _pairs(item[3]).items() if v != "<TBD>"}
    return jobs


def plugin_group_name(group: str, rules: list[str]) -> str:
    """The name Snakemake gives a group job (the plugin's comment is "rule_" + this): the group and
    its first five rules in sorted order."""
    names = sorted(set(rules))
    return "_".join([group, *names[:5], *(["..."] if len(names) > 5 else [])])


def layers(members: list[PlannedJob]) -> list[list[PlannedJob]]:
    """A group job's jobs in toposort levels (each level needs only earlier ones), as Snakemake sorts
    them: a job depends on another of the group whose output it reads."""
    producer = {path: job for job in members for path in job.output}
    needs = {id(job): {id(producer[p]) for p in job.input if p in producer} for job in members}
    done: set[int] = set()
    levels = []
    while len(done) < len(members):
        level = [job for job in members if id(job) not in done and needs[id(job)] <= done]
        if not level:
            raise ValueError(f"the jobs of group {members[0].group} depend on each other in a cycle")
        levels.append(level)
        done |= {id(job) for job in level}
    return levels


def group_request(members: list[PlannedJob], cores: int | None, limits: dict[str, int]) -> dict[str, object]:
    """What Snakemake asks the cluster for a group job: its jobs in toposort levels, each level cut
    into layers that fit `cores` (--cores) and `limits` (--resources), the widest layer's CPUs, memory
    and GPUs, and the sum of the layers' runtimes (snakemake.resources.GroupResources, run_local=False).
    ValueError if one job alone exceeds a limit."""
    from types import SimpleNamespace

    from snakemake.resources import GroupResources, Resources

    constraints = Resources.from_mapping(dict(limits))
    constraints["_cores"] = cores
    toposorted = [
        [
            SimpleNamespace(
                resources={
                    **{k: v for k, v in job.resources.items() if k not in {"mem", "disk"}},
                    "_cores": job.threads,
                    "_nodes": 1,
                },
                pipe_group=None,
            )
            for job in level
        ]
        for level in layers(members)
    ]
    try:
        request = GroupResources.basic_layered(
            toposorted_jobs=toposorted,
            constraints=constraints,
            run_local=False,
            additive_resources=["runtime"],
            sortby=["runtime"],
        )
    except Exception as err:  # ResourceInsufficiencyError, WorkflowError
        raise ValueError(f"group {members[0].group}: {err}") from None
    return dict(request)


def submissions(jobs: list[PlannedJob], cores: int | None, limits: dict[str, int]) -> list[PlannedJob]:
    """What reaches Slurm: every job outside groups as it is, and one PlannedJob per group job (its
    `members`, its request from `group_request`)."""
    out: list[PlannedJob] = []
    grouped: dict[int, list[PlannedJob]] = {}
    for job in jobs:
        if job.group_job is None:
            out.append(job)
        else:
            grouped.setdefault(job.group_job, []).append(job)
    for members in grouped.values():
        request = group_request(members, cores, limits)
        name = plugin_group_name(members[0].group, [job.rule for job in members])
        resources = {k: v for k, v in request.items() if not k.startswith("_")}
        out.append(PlannedJob(name, {}, int(request["_cores"]), resources, group=members[0].group, members=members))
    return out


def parse_gres_gpus(gres: str) -> int:
    """GPUs in a gres string: 'gpu:a100:4(S:0-1),shard:8' -> 4, '(null)' -> 0."""
    total = 0
    for entry in gres.split(","):
        parts = re.sub(r"\(.*?\)", "", entry.strip()).split(":")
        if parts[0] == "gpu":
            total += int(parts[-1]) if len(parts) > 1 and parts[-1].isdigit() else 1
    return total


def parse_slurm_minutes(text: str) -> int | None:
    """A Slurm time in whole minutes, rounded up; None: no limit. Slurm's forms: 'infinite', minutes '45',
    minutes:seconds '30:00', hours:minutes:seconds '2:00:00', and after 'days-': hours[:minutes[:seconds]]
    ('1-12', '1-12:30', '1-12:00:00'). ValueError naming the text for anything else."""
    text = text.strip()
    if text.lower() in {"infinite", "unlimited", "n/a", ""}:
        return None
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not match:
        raise ValueError(f"time limit {text!r} is not a Slurm time ([days-]hours:minutes:seconds)")
    days, *clock = match.groups()
    parts = [int(p) for p in clock if p is not None]
    if days is not None:
        hours, minutes, seconds = parts + [0] * (3 - len(parts))
    else:
        hours, minutes, seconds = [0, parts[0], 0] if len(parts) == 1 else [0] * (3 - len(parts)) + parts
    total = int(days or 0) * 86400 + hours * 3600 + minutes * 60 + seconds
    return -(-total // 60)


class SinfoError(ValueError):
    """sinfo printed something the preflight cannot read; the message (one line) says what and where."""


def _count(text: str, what: str) -> int:
    """A CPU or memory count as sinfo prints it ('16', or '16+' where nodes differ)."""
    if not re.fullmatch(r"\d+\+?", text):
        raise ValueError(f"{what} {text!r} is not a whole number")
    return int(text.rstrip("+"))


def parse_sinfo_line(line: str) -> tuple[str, bool, int | None, Node]:
    """(partition, default?, time limit in minutes, node) of one SINFO_FORMAT line; ValueError: what is wrong."""
    fields = [f.strip() for f in line.split("|")]
    if len(fields) != len(SINFO_FIELDS):
        count = f"{len(fields)} field{'s' * (len(fields) != 1)}"
        raise ValueError(f"{count} where {SINFO_FORMAT} gives {len(SINFO_FIELDS)}")
    for what, value in zip(SINFO_FIELDS, fields, strict=True):
        if not value.rstrip("*"):
            raise ValueError(f"empty {what}")
    name, node, cpus, mem, gres, limit, state = fields
    if not re.fullmatch(rf"[A-Za-z_]+[{re.escape(STATE_FLAGS)}]*", state):
        raise ValueError(f"state {state!r} is not a Slurm node state")
    node = Node(node, _count(cpus, "CPUs"), _count(mem, "memory"), parse_gres_gpus(gres), state)
    return name.rstrip("*"), name.endswith("*"), parse_slurm_minutes(limit), node


def parse_sinfo(text: str) -> dict[str, Partition]:
    """Partitions from `sinfo --noheader -N -o SINFO_FORMAT`. SinfoError (one line, naming the line and
    what is wrong with it) for output in another shape, or for none at all."""
    partitions: dict[str, Partition] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            name, default, limit, node = parse_sinfo_line(line)
        except ValueError as err:
            raise SinfoError(f"unexpected sinfo line {number} {line.strip()!r}: {err}") from None
        partitions.setdefault(name, Partition(name, default, limit)).nodes.append(node)
    if not partitions:
        # Not a partitions.yaml problem: Slurm shows this user no partition (controller down? all hidden?).
        raise SinfoError("sinfo listed nothing: no partition or node is visible here (check `sinfo -N`)")
    return partitions


class _PluginJob:
    """The few attributes of a Snakemake job that the Slurm plugin's partition choice reads."""

    def __init__(self, job: PlannedJob):
        self.name, self.threads, self.resources = job.rule, job.threads, job.resources


def choose_partition(job: PlannedJob, partition_file: Path | None, default: str | None) -> str | None:
    """The partition the Slurm plugin submits `job` to: its slurm_partition resource, else the best fit
    among the partition file's entries (the plugin's own scoring), else the cluster's default partition."""
    if job.resources.get("slurm_partition"):
        return str(job.resources["slurm_partition"])
    if partition_file is not None:
        from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file

        quiet = logging.getLogger("cbir.slurm_preflight.plugin")
        quiet.setLevel(logging.ERROR)
        chosen = get_best_partition(read_partition_file(partition_file), _PluginJob(job), quiet)
        if chosen:
            return chosen
    return default


def job_problems(job: PlannedJob, partition: str | None, cluster: dict[str, Partition]) -> list[str]:
    """Why `job` could never start in `partition` (empty: some node there fits it)."""
    if partition is None:
        return ["no partition: the profile names none and the cluster has no default partition"]
    if partition not in cluster:
        return [f"partition '{partition}' does not exist (sinfo lists: {', '.join(sorted(cluster)) or 'nothing'})"]
    part = cluster[partition]
    problems = []
    if part.time_limit is not None and job.runtime is not None and job.runtime > part.time_limit:
        problems.append(f"runtime {job.runtime} min exceeds the partition's time limit of {part.time_limit} min")
    nodes = [node for node in part.nodes if node.usable]
    if not nodes:
        states = Counter(node.state for node in part.nodes)
        listed = ", ".join(f"{count} {state}" for state, count in states.items())
        return [*problems, f"no node in '{partition}' can take jobs: sinfo lists its nodes as {listed}"]
    return problems + _fit_problems(job, partition, nodes)


def _fit_problems(job: PlannedJob, partition: str, nodes: list[Node]) -> list[str]:
    """Why no node of `nodes` (the usable ones of `partition`) holds `job`'s CPUs, memory and GPUs."""
    needs = {"CPUs": job.cpus, "MB memory": job.mem_mb or 0, "GPUs": job.gpus}
    has = {"CPUs": lambda n: n.cpus, "MB memory": lambda n: n.mem_mb, "GPUs": lambda n: n.gpus}
    if any(all(has[k](node) >= v for k, v in needs.items()) for node in nodes):
        return []
    problems = []
    for what, need in needs.items():
        most = max(has[what](node) for node in nodes)
        if need > most:
            problems.append(f"asks for {need} {what}; the largest usable node in '{partition}' has {most}")
    return problems or [
        f"no single usable node in '{partition}' has {job.cpus} CPUs, {job.mem_mb} MB and {job.gpus} GPUs"
    ]


def advice(problem: str, job: PlannedJob, cluster: dict[str, Partition], partition: str | None) -> str:
    """What to change for one problem."""
    nodes = [n for n in cluster.get(partition or "", Partition("")).nodes if n.usable]
    if "can take jobs" in problem:
        return "wait until its nodes are back (ask the cluster's admins) or send these jobs to another partition"
    if "CPUs" in problem:
        most = max((n.cpus for n in nodes), default=1)
        what = "each group job's CPUs" if job.members else f"rule threads: {job.threads}"
        return f"set `cores: {most}` in the profile, the CPUs of one node (it caps {what})"
    if "GPUs" in problem and job.gpus:
        if job.members and job.gpus > 1:
            return "set `gpu=1` in the profile's resources (a group job's GPUs: at most this many in parallel)"
        return "send GPU jobs to a GPU partition in partitions.yaml, or on a CPU-only cluster set runtime.device: cpu"
    if "MB memory" in problem:
        if job.members:
            most = max((n.mem_mb for n in nodes), default=0)
            return f"set `mem_mb={most}` in the profile's resources, the memory of one node (it caps each group job's)"
        return "lower mem_mb (default-resources for rules that declare none) or use a partition with larger nodes"
    if "time limit" in problem:
        if job.members:
            return (
                "lower runtime in the profile, or put fewer jobs in each group job (group-components), "
                "or use a partition with a longer time limit"
            )
        return "lower runtime in the profile or use a partition with a longer time limit"
    if "no single" in problem:
        return "lower one of the requests so that one node holds them all"
    return "fix the partition names in partitions.yaml (or slurm_partition resources)"


def effective_status_command(configured: str | None, sacct_present: bool, min_job_age: int | None, init: int) -> str:
    """The command the plugin actually polls with (it replaces squeue by sacct when MinJobAge looks too short)."""
    command = configured or ("sacct" if sacct_present else "squeue")
    if command == "squeue" and sacct_present and (min_job_age is None or min_job_age < 3 * init):
        return "sacct"
    if command == "sacct" and not sacct_present:
        return "squeue"
    return command


def status_report(
    configured: str | None, sacct_present: bool, sacct_works: bool, min_job_age: int | None, init: int
) -> tuple[bool, str]:
    """(fine?, explanation) for the executor's job status queries."""
    command = effective_status_command(configured, sacct_present, min_job_age, init)
    needed = max(3 * init, PLUGIN_MAX_POLL_SECONDS)
    age = "unknown" if min_job_age is None else f"{min_job_age} s"
    sacct = "sacct works" if sacct_works else "sacct fails (no accounting database, slurmdbd)"
    if command == "sacct":
        if sacct_works:
            return True, f"{sacct}; the plugin polls with sacct"
        if configured == "squeue":
            return False, (
                f"{sacct}, and the plugin replaces the profile's squeue by sacct because MinJobAge ({age}) "
                f"< 3 x slurm-init-seconds-before-status-checks ({3 * init} s): the run would wait forever. "
                f"Ask for MinJobAge >= {needed} s, or lower slurm-init-seconds-before-status-checks"
            )
        return False, f"{sacct}: set `slurm-status-command: squeue` in the profile (it polls squeue instead)"
    if min_job_age is not None and min_job_age >= needed:
        return True, f"{sacct}; the plugin polls with squeue, finished jobs stay visible for MinJobAge = {age}"
    return False, (
        f"{sacct}; the plugin polls with squeue, but MinJobAge ({age}) < {needed} s: a job can finish and "
        f"vanish from squeue between two polls (up to {PLUGIN_MAX_POLL_SECONDS} s apart) and the run then "
        f"waits for it forever. Ask for MinJobAge >= {needed} s"
    )


def _profile_setting(profile: dict, extra: list[str], name: str, *aliases: str) -> str | None:
    """A setting from the command line (--name v / --name=v, or an alias) or else the profile."""
    flags = [f"--{name}", *aliases]
    for i, arg in enumerate(extra):
        if arg in flags and i + 1 < len(extra):
            return extra[i + 1]
        for flag in flags:
            if arg.startswith(f"{flag}="):
                return arg.split("=", 1)[1]
    value = profile.get(name)
    return None if value is None else str(value)


def _profile_list(profile: dict, extra: list[str], name: str, *aliases: str) -> list[str]:
    """A setting of several values ("--name a=1 b=2" on the command line, which replaces the profile's;
    in the profile a list of "a=1" or a mapping) as "key=value" strings."""
    flags = [f"--{name}", *aliases]
    for i, arg in enumerate(extra):
        if arg in flags:
            values = []
            for value in extra[i + 1 :]:
                if value.startswith("-"):
                    break
                values.append(value)
            return values
    value = profile.get(name) or []
    if isinstance(value, dict):
        return [f"{k}={v}" for k, v in value.items()]
    return [str(v) for v in ([value] if isinstance(value, str) else value)]


def group_limits(profile: dict, extra: list[str]) -> tuple[int | None, dict[str, int]]:
    """(cores, resources): what Snakemake's --cores and --resources allow each group job (the limits
    its parallel layers must fit); None and {}: no limit (a group job then asks for the sum of its
    parallel jobs)."""
    cores = _profile_setting(profile, extra, "cores", "-c")
    limits = {}
    for item in _profile_list(profile, extra, "resources", "--res"):
        key, _, value = item.partition("=")
        limits[key.strip()] = int(value)
    return (None if cores in {None, "all"} else int(cores)), limits


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


def min_job_age() -> int | None:
    out = _run(["scontrol", "show", "config"]).stdout
    match = re.search(r"^MinJobAge\s*=\s*(\d+)", out, re.M)
    return int(match[1]) if match else None


def sacct_works() -> bool:
    start = f"{datetime.datetime.now() - datetime.timedelta(hours=1):%Y-%m-%dT%H:%M}"
    cmd = ["sacct", "-X", "--parsable2", "--noheader", "--format=JobIdRaw,State", "--starttime", start]
    return shutil.which("sacct") is not None and _run(cmd).returncode == 0


def planned_jobs(snakefile: Path, directory: Path, profile: Path, extra: list[str]) -> list[PlannedJob]:
    """Every job of a dry run through the profile (a group job's jobs one by one, each with its group)."""
    settings = yaml.safe_load((profile / "config.yaml").read_text()) or {}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(directory)]
    cmd += ["--workflow-profile", str(profile), "-n", "--forceall"]
    if _profile_setting(settings, extra, "cores", "-c") is None:
        cmd += ["--cores", str(DRY_RUN_CORES)]  # a dry run caps threads at --cores (1); a cluster run has none
    proc = _run([*cmd, *extra])
    if proc.returncode != 0:
        raise SystemExit(f"the dry run failed ({' '.join(cmd)}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return parse_dry_run(proc.stdout)


def planned_submissions(snakefile: Path, directory: Path, profile: Path, extra: list[str]) -> list[PlannedJob]:
    """What the run through the profile submits: `submissions` of the dry run's jobs."""
    settings = yaml.safe_load((profile / "config.yaml").read_text()) or {}
    return submissions(planned_jobs(snakefile, directory, profile, extra), *group_limits(settings, extra))


def partition_file(profile: Path, extra: list[str]) -> Path | None:
    settings = yaml.safe_load((profile / "config.yaml").read_text()) or {}
    name = _profile_setting(settings, extra, "slurm-partition-config")
    return None if name is None else (profile / name if (profile / name).exists() else Path(name))


def report(jobs: list[PlannedJob], cluster: dict[str, Partition], part_file: Path | None) -> tuple[int, list[str]]:
    """(submissions that could never start, report lines): one line per rule and request for jobs that
    run alone, one per group job (with its jobs)."""
    default = next((p.name for p in cluster.values() if p.default), None)
    groups: dict[tuple, list[PlannedJob]] = defaultdict(list)
    for job in jobs:
        part = choose_partition(job, part_file, default)
        who = job.label if job.members else job.rule
        groups[(who, id(job) if job.members else None, part, job.cpus, job.mem_mb, job.gpus, job.runtime)].append(job)
    lines, never = [], 0
    for (who, _, part, cpus, mem, gpus, runtime), members in groups.items():
        count = "" if members[0].members else f" x{len(members)}"
        request = f"{who}{count} -> {part}: {cpus} CPUs, {mem} MB, {gpus} GPUs, {runtime} min"
        if members[0].members:
            request += f" [{members[0].rule_counts}]"
        problems = job_problems(members[0], part, cluster)
        if not problems:
            lines.append(f"  ok     {request}")
            continue
        never += len(members)
        lines.append(f"  NEVER  {request}")
        lines += [f"           {p}: {advice(p, members[0], cluster, part)}" for p in problems]
    return never, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", type=Path, default=REPO / "profiles" / "slurm")
    parser.add_argument("--snakefile", type=Path, default=REPO / "workflow" / "Snakefile")
    parser.add_argument("--directory", type=Path, default=Path.cwd(), help="Snakemake's working directory")
    args, extra = parser.parse_known_args(argv)
    if shutil.which("sinfo") is None:
        print("slurm preflight: `sinfo` not found: run this on a Slurm login node", file=sys.stderr)
        return 2
    sinfo = _run(["sinfo", "--noheader", "-N", "-o", SINFO_FORMAT])
    if sinfo.returncode != 0:
        print(f"slurm preflight: sinfo failed: {' / '.join(sinfo.stderr.strip().splitlines())}", file=sys.stderr)
        return 2
    try:
        cluster = parse_sinfo(sinfo.stdout)
    except SinfoError as err:
        print(f"slurm preflight: {err}", file=sys.stderr)
        return 2
    settings = yaml.safe_load((args.profile / "config.yaml").read_text()) or {}
    jobs = planned_jobs(args.snakefile, args.directory, args.profile, extra)
    cores, limits = group_limits(settings, extra)
    try:
        planned = submissions(jobs, cores, limits)
    except ValueError as err:
        print(f"slurm preflight: {err}", file=sys.stderr)
        return 1
    part_file = partition_file(args.profile, extra)
    n_groups = sum(bool(job.members) for job in planned)
    within = ", ".join([f"{cores} CPUs" if cores else "CPUs unlimited", *(f"{k}={v}" for k, v in limits.items())])
    print(
        f"Slurm preflight: {len(jobs)} jobs through {args.profile} in {len(planned)} submissions "
        f"({n_groups} group jobs, each within {within}) against sinfo"
    )
    for part in cluster.values():
        limit = "no time limit" if part.time_limit is None else f"time limit {part.time_limit} min"
        nodes = ", ".join(
            f"{n.name} {n.cpus} CPUs {n.mem_mb} MB {n.gpus} GPUs {n.state}{'' if n.usable else ' (unusable)'}"
            for n in part.nodes
        )
        print(f"  partition {part.name}{' (default)' if part.default else ''}, {limit}: {nodes}")
    never, lines = report(planned, cluster, part_file)
    print("Submissions (rule x count, or group job [its jobs] -> partition: request):")
    print("\n".join(lines))
    init = _profile_setting(settings, extra, "slurm-init-seconds-before-status-checks")
    status_ok, status = status_report(
        _profile_setting(settings, extra, "slurm-status-command"),
        shutil.which("sacct") is not None,
        sacct_works(),
        min_job_age(),
        int(init) if init else PLUGIN_DEFAULT_INIT_SECONDS,
    )
    print(f"Job status: {'ok' if status_ok else 'PROBLEM'}: {status}")
    print(
        f"Result: {never} of {len(planned)} submissions could never start; "
        f"status query {'ok' if status_ok else 'broken'}"
    )
    return 0 if never == 0 and status_ok else 1


if __name__ == "__main__":
    sys.exit(main())
