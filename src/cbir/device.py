"""Where torch runs: device choice, CPU threads, mixed precision and memory format.

The config section `runtime` says where to run: device (auto: CUDA when present, cpu or
cuda), amp and channels_last. Training resolves it to a `Placement` on this node
(`placement`: torch device, AMP dtype, channels_last) and honours all three: on CUDA, AMP uses
bfloat16 where supported (no loss scaling needed) and float16 with a GradScaler
otherwise, and channels_last is applied to the model and the inputs; both are ignored on
the CPU. Inference takes only the device (`select_device`): it runs in float32 with the
default memory format, so its outputs do not depend on the GPU's AMP support.

With device auto, a job that was given a GPU (a batch system says so in its environment) but
cannot use it fails instead of quietly training on the CPU for hours while holding the GPU.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import torch

log = logging.getLogger("cbir.device")


class DeviceError(ValueError):
    """The requested device is not available."""


@dataclass(frozen=True)
class Placement:
    """Where and how training runs on this node: the config section `runtime` resolved (`placement`)."""

    device: torch.device
    amp_dtype: torch.dtype | None  # None: full precision
    channels_last: bool

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        """Context manager: autocast on CUDA with AMP, a no-op otherwise."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A GradScaler that is enabled only for float16 AMP."""
        return torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


# Variables through which Slurm (and CUDA-aware schedulers in general) hand a job its GPUs.
GPU_ALLOCATION_VARIABLES = ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE")
# CUDA_VISIBLE_DEVICES values that hide every GPU rather than hand one out.
_NO_GPU_VALUES = {"", "-1", "NoDevFiles"}


def allocated_gpus(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment variables that say this process was allocated a GPU (name -> value)."""
    environ = os.environ if environ is None else environ
    found = {}
    for name in GPU_ALLOCATION_VARIABLES:
        value = environ.get(name)
        if value is None or value.strip() in _NO_GPU_VALUES:
            continue
        if name == "SLURM_GPUS_ON_NODE" and value.strip() == "0":
            continue
        found[name] = value
    return found


def select_device(name: str) -> torch.device:
    """auto -> cuda if available else cpu; cuda without a GPU, or auto with an allocated GPU
    that torch cannot use, is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        allocated = allocated_gpus()
        if allocated:
            given = ", ".join(f"{k}={v}" for k, v in allocated.items())
            if torch.version.cuda is None:
                why = f"torch {torch.__version__} was built without CUDA"
            else:
                why = (
                    f"torch {torch.__version__} is built for CUDA {torch.version.cuda} but finds no usable GPU "
                    "(a driver too old for that CUDA version, or no GPU device visible to the job)"
                )
            raise DeviceError(
                f"config key 'runtime.device' is 'auto' and this job was allocated a GPU ({given}), but "
                f"torch.cuda.is_available() is False: {why}. Install a torch build that matches the node's "
                "driver, or run on the CPU on purpose: set runtime.device: cpu, so that no job asks for a GPU "
                "(README, 'CPU-only clusters')."
            )
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("config key 'runtime.device' is 'cuda' but no CUDA device is available")
    return torch.device(name)


def placement(runtime: dict, threads: int) -> Placement:
    """The training Placement for the config section `runtime`; uses `threads` CPU threads."""
    device = select_device(runtime["device"])
    torch.set_num_threads(int(threads))
    cuda = device.type == "cuda"
    amp_dtype = None
    if cuda and runtime["amp"]:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    channels_last = cuda and bool(runtime["channels_last"])
    if cuda:
        torch.backends.cudnn.benchmark = True
    log.info(
        "device %s, threads %d, amp %s, channels_last %s", device, torch.get_num_threads(), amp_dtype, channels_last
    )
    return Placement(device, amp_dtype, channels_last)
