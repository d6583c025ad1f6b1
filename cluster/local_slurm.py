"""A throwaway single-node Slurm on this machine, for `make slurm-check` (cluster/slurm_check.py).

Everything lives in one private folder: its own munge key and socket, slurm.conf generated from
`slurmd -C` (the machine's real CPUs and memory), state, spool, logs and pid files, on free ports.
The one file outside it is the link /etc/slurm/slurm.conf, because the executor's job step strips
SLURM_CONF before calling `srun`, which then reads the compiled-in path; the link is removed on stop.
A GPU stand-in (gres `gpu` backed by /dev/null) makes GPU requests schedulable on a machine without
one; a TaskProlog hides it from the jobs (no CUDA_VISIBLE_DEVICES, SLURM_JOB_GPUS, ...) since it is
not a GPU, so that jobs on runtime.device auto run on the CPU instead of failing for a GPU they hold.
MinJobAge is an hour, so finished jobs stay in `scontrol show job` and `squeue` for the comparison.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
DAEMONS = ("slurmd", "slurmctld", "munged")  # stop order
PACKAGES = ("slurm-wlm", "munge")
GPU_VARIABLES = (
    "CUDA_VISIBLE_DEVICES",
    "GPU_DEVICE_ORDINAL",
    "SLURM_JOB_GPUS",
    "SLURM_STEP_GPUS",
    "SLURM_GPUS_ON_NODE",
)
MARKER = "# cbir slurm check"


class SlurmSetupError(RuntimeError):
    """The local Slurm could not be installed, configured or started."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kwargs.pop("timeout", 120), **kwargs)


def ensure_installed(log) -> None:
    """apt-get install slurm-wlm and munge if a command is missing; services are not started (policy-rc.d)."""
    missing = [c for c in ("slurmctld", "slurmd", "munged", "mungekey", "sbatch", "sinfo") if not shutil.which(c)]
    if not missing:
        return
    if not shutil.which("apt-get"):
        raise SlurmSetupError(f"missing {', '.join(missing)} and no apt-get to install {' '.join(PACKAGES)}")
    log(f"installing {' '.join(PACKAGES)} (missing: {', '.join(missing)}); they stay installed")
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:  # keep the packages' services from starting (or failing to start) on install
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]):
            proc = _run(cmd, env=env, timeout=900)
            if proc.returncode != 0:
                raise SlurmSetupError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    finally:
        if own_policy:
            policy.unlink()


def node_hardware() -> dict[str, str]:
    """`slurmd -C`: NodeName, CPUs, RealMemory, ... of this machine."""
    proc = _run(["slurmd", "-C"])
    if proc.returncode != 0:
        raise SlurmSetupError(f"slurmd -C failed: {proc.stderr.strip()}")
    return dict(re.findall(r"(\w+)=(\S+)", proc.stdout.splitlines()[0]))


def already_running() -> list[str]:
    """Slurm or munge daemons on this machine that are not ours."""
    return [d for d in DAEMONS if _run(["pgrep", "-x", d]).returncode == 0]


class LocalSlurm:
    """Start with `with LocalSlurm(root, ...) as slurm:`; the daemons stop on exit, whatever happened."""

    def __init__(self, root: Path, partitions: list[str], gpu: bool, log):
        self.root, self.partitions, self.gpu, self.log = root, partitions, gpu, log
        self.conf = root / "slurm.conf"
        self.hardware: dict[str, str] = {}
        self.started: list[str] = []
        self.linked = False
        self._saved_env = os.environ.get("SLURM_CONF")

    @property
    def cpus(self) -> int:
        return int(self.hardware["CPUs"])

    @property
    def mem_mb(self) -> int:
        return int(self.hardware["RealMemory"])

    def write_config(self) -> None:
        r = self.root
        for sub in ("state", "spool"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        r.chmod(0o711)  # munged wants its socket's folder searchable by all, writable by none but root
        self.hardware = node_hardware()
        node = self.hardware["NodeName"]
        gres = " Gres=gpu:1" if self.gpu else ""
        lines = [
            MARKER + f" ({r}); removed when the check stops",
            "ClusterName=cbircheck",
            f"SlurmctldHost={node}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={r}/munge.socket",
            f"StateSaveLocation={r}/state",
            f"SlurmdSpoolDir={r}/spool",
            f"SlurmctldPidFile={r}/slurmctld.pid",
            f"SlurmdPidFile={r}/slurmd.pid",
            f"SlurmctldLogFile={r}/slurmctld.log",
            f"SlurmdLogFile={r}/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            f"TaskProlog={r}/hide_gpu_standin.sh",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU_Memory",  # CPUs as cpus-per-task counts them, also with hyperthreads
            "AccountingStorageType=accounting_storage/none",  # no slurmdbd: sacct fails, as on the cluster
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MinJobAge=3600",
            "ReturnToService=2",
            "MpiDefault=none",
            "SwitchType=switch/none",
            *(["GresTypes=gpu"] if self.gpu else []),
            f"NodeName={node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb}{gres} State=UNKNOWN",
        ]
        for i, name in enumerate(self.partitions):
            lines.append(
                f"PartitionName={name} Nodes={node} Default={'YES' if i == 0 else 'NO'} MaxTime=INFINITE State=UP"
            )
        self.conf.write_text("\n".join(lines) + "\n")
        if self.gpu:  # a gres gpu needs a device file; /dev/null stands in (a file-less gpu is dropped)
            (r / "gres.conf").write_text(f"NodeName={node} Name=gpu File=/dev/null\n")
        prolog = r / "hide_gpu_standin.sh"
        prolog.write_text("#!/bin/sh\n" + "".join(f"echo unset {v}\n" for v in GPU_VARIABLES))
        prolog.chmod(0o755)
        self.log(f"slurm.conf: node {node}, {self.cpus} CPUs, {self.mem_mb} MB, gpu stand-in: {self.gpu}")

    def __enter__(self) -> LocalSlurm:
        if SYSTEM_CONF.exists() or SYSTEM_CONF.is_symlink():
            raise SlurmSetupError(
                f"{SYSTEM_CONF} exists: this machine has a Slurm configuration, which the check would shadow. "
                "Run the check on a scratch machine (or move that file away)"
            )
        running = already_running()
        if running:
            raise SlurmSetupError(
                f"already running here: {', '.join(running)}; the check needs a machine without Slurm"
            )
        try:
            self.write_config()
            os.environ["SLURM_CONF"] = str(self.conf)
            SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
            SYSTEM_CONF.symlink_to(self.conf)
            self.linked = True
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _daemon(self, name: str, cmd: list[str]) -> None:
        proc = _run(cmd)
        if proc.returncode != 0:
            logs = "".join(p.read_text()[-1500:] for p in self.root.glob(f"{name}*.log"))
            raise SlurmSetupError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}\n{logs}")
        self.started.append(name)

    def _start(self) -> None:
        r = self.root
        key = r / "munge.key"
        if _run(["mungekey", "--create", f"--keyfile={key}"]).returncode != 0:
            key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self._daemon(
            "munged",
            ["munged", f"--socket={r}/munge.socket", f"--key-file={key}", f"--pid-file={r}/munged.pid"]
            + [f"--log-file={r}/munged.log", f"--seed-file={r}/munged.seed"],
        )
        self._daemon("slurmctld", ["slurmctld", "-f", str(self.conf)])
        self._daemon("slurmd", ["slurmd", "-f", str(self.conf)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = _run(["sinfo", "--noheader", "-N", "-o", "%t"]).stdout.split()
            if state and all(s == "idle" for s in state):
                self.log(f"slurm up: partitions {', '.join(self.partitions)} on node {self.hardware['NodeName']}")
                return
            time.sleep(1)
        node = _run(["scontrol", "show", "node"]).stdout
        raise SlurmSetupError(f"the node did not become idle within 60 s:\n{node}")

    def cancel_all(self) -> None:
        if "slurmctld" in self.started:
            _run(["scancel", "--full", "--user", "root"])

    def stop(self) -> None:
        """Stop the daemons this object started (by their pid files), remove the link, restore SLURM_CONF."""
        for name in DAEMONS:
            if name not in self.started:
                continue
            pid_file = self.root / f"{name}.pid"
            try:
                pid = int(pid_file.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                self.log(f"warning: no pid file for {name}; it may still run")
                continue
            _terminate(pid)
            self.started.remove(name)
        if self.linked and SYSTEM_CONF.is_symlink() and Path(os.readlink(SYSTEM_CONF)) == self.conf:
            SYSTEM_CONF.unlink()
            self.linked = False
        if self._saved_env is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = self._saved_env


def _terminate(pid: int, wait: float = 15) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
