"""Where torch runs: device choice, CPU threads, mixed precision and memory format.

`training.device` is auto (CUDA when present), cpu or cuda. On CUDA, AMP uses bfloat16
where supported (no loss scaling needed) and float16 with a GradScaler otherwise;
channels_last is applied to the model and the inputs. Both are ignored on the CPU.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import torch

log = logging.getLogger("cbir.device")


class DeviceError(ValueError):
    """The requested device is not available."""


@dataclass(frozen=True)
class Runtime:
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


def select_device(name: str = "auto") -> torch.device:
    """auto -> cuda if available else cpu; cuda without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("config key 'training.device' is 'cuda' but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise DeviceError(f"config key 'training.device': expected auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def runtime(training: dict | None = None, threads: int | None = None) -> Runtime:
    """The Runtime for a `training` config section; sets the CPU thread count when given."""
    training = dict(training or {})
    device = select_device(training.get("device", "auto"))
    if threads:
        torch.set_num_threads(int(threads))
    amp_dtype = None
    if device.type == "cuda" and training.get("amp", True):
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    channels_last = device.type == "cuda" and bool(training.get("channels_last", True))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    log.info(
        "device %s, threads %d, amp %s, channels_last %s", device, torch.get_num_threads(), amp_dtype, channels_last
    )
    return Runtime(device, amp_dtype, channels_last)
