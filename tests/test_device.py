"""The config section `runtime` placed on this node (`Placement`): device choice, threads, AMP /
channels_last only on CUDA, and a GPU that a batch system allocated but torch cannot use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cbir.device import GPU_ALLOCATION_VARIABLES, DeviceError, Placement, allocated_gpus, placement, select_device

SOURCES = Path(__file__).resolve().parents[1] / "src"  # the package, for a machine without the install


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_cpu_placement_ignores_amp_and_channels_last(restore_threads):
    cpu = placement({"device": "cpu", "amp": True, "channels_last": True}, 1)
    assert cpu == Placement(torch.device("cpu"), None, False) and not cpu.cuda
    assert torch.get_num_threads() == 1
    x = torch.randn(2, 1, 4, 4)
    assert cpu.prepare_input(x) is x
    with cpu.autocast():
        assert (x @ x).dtype == torch.float32
    assert not cpu.grad_scaler().is_enabled()
    model = cpu.prepare_model(torch.nn.Conv2d(1, 1, 3))
    assert next(model.parameters()).device.type == "cpu"


def test_select_device(monkeypatch):
    for name in GPU_ALLOCATION_VARIABLES:  # as outside a batch job
        monkeypatch.delenv(name, raising=False)
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(DeviceError, match="runtime.device"):
        select_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_placement_uses_amp_and_channels_last(restore_threads):
    cuda = placement({"device": "cuda", "amp": True, "channels_last": True}, 1)
    assert cuda.cuda and cuda.amp_dtype in (torch.bfloat16, torch.float16) and cuda.channels_last
    assert cuda.prepare_input(torch.zeros(2, 3, 4, 4, device="cuda")).is_contiguous(memory_format=torch.channels_last)
    plain = placement({"device": "cuda", "amp": False, "channels_last": False}, 1)
    assert plain.amp_dtype is None and not plain.channels_last


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, {}),
        (
            {"CUDA_VISIBLE_DEVICES": "0,1", "SLURM_JOB_GPUS": "3"},
            {"CUDA_VISIBLE_DEVICES": "0,1", "SLURM_JOB_GPUS": "3"},
        ),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, {}),
        ({"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, {}),
        ({"CUDA_VISIBLE_DEVICES": ""}, {}),
        ({"SLURM_GPUS_ON_NODE": "0"}, {}),
        ({"SLURM_GPUS_ON_NODE": "1", "SLURM_STEP_GPUS": "0"}, {"SLURM_GPUS_ON_NODE": "1", "SLURM_STEP_GPUS": "0"}),
        ({"SLURM_GPUS": "1", "PATH": "/bin"}, {}),  # a request, not an allocation
    ],
)
def test_allocated_gpus_reads_the_scheduler_variables(environ, expected):
    assert allocated_gpus(environ) == expected


def _select_in_subprocess(device: str, **env: str) -> subprocess.CompletedProcess:
    """select_device(device) in a fresh interpreter whose environment holds exactly `env`'s GPU variables."""
    environ = {k: v for k, v in os.environ.items() if k not in GPU_ALLOCATION_VARIABLES}
    environ["PYTHONPATH"] = os.pathsep.join([str(SOURCES), environ.get("PYTHONPATH", "")])
    code = f"from cbir.device import select_device; print(select_device({device!r}))"
    return subprocess.run(
        [sys.executable, "-c", code], env={**environ, **env}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_auto_with_an_allocated_gpu_that_torch_cannot_use_is_a_clear_error():
    proc = _select_in_subprocess("auto", SLURM_JOB_GPUS="0", CUDA_VISIBLE_DEVICES="0")
    assert proc.returncode != 0
    message = proc.stderr.strip().splitlines()[-1]
    assert message.startswith("cbir.device.DeviceError: config key 'runtime.device' is 'auto'")
    assert "SLURM_JOB_GPUS=0" in message and "CUDA_VISIBLE_DEVICES=0" in message
    assert "runtime.device: cpu" in message and "torch.cuda.is_available() is False" in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
@pytest.mark.parametrize(
    "device, env",
    [
        ("auto", {"CUDA_VISIBLE_DEVICES": "-1", "SLURM_GPUS_ON_NODE": "0"}),  # GPUs hidden: the CPU
        ("cpu", {"SLURM_JOB_GPUS": "0", "CUDA_VISIBLE_DEVICES": "0"}),  # the config asks for the CPU
    ],
)
def test_the_cpu_when_no_gpu_is_allocated_or_the_config_asks_for_it(device, env):
    proc = _select_in_subprocess(device, **env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "cpu"
