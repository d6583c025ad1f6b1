"""Runtime settings: device choice, threads, and AMP / channels_last only on CUDA."""

from __future__ import annotations

import pytest
import torch

from cbir.device import DeviceError, Runtime, runtime, select_device


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_cpu_runtime_ignores_amp_and_channels_last(restore_threads):
    rt = runtime({"device": "cpu", "amp": True, "channels_last": True}, 1)
    assert rt == Runtime(torch.device("cpu"), None, False) and not rt.cuda
    assert torch.get_num_threads() == 1
    x = torch.randn(2, 1, 4, 4)
    assert rt.prepare_input(x) is x
    with rt.autocast():
        assert (x @ x).dtype == torch.float32
    assert not rt.grad_scaler().is_enabled()
    model = rt.prepare_model(torch.nn.Conv2d(1, 1, 3))
    assert next(model.parameters()).device.type == "cpu"


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(DeviceError, match="runtime.device"):
        select_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_runtime_uses_amp_and_channels_last(restore_threads):
    rt = runtime({"device": "cuda", "amp": True, "channels_last": True}, 1)
    assert rt.cuda and rt.amp_dtype in (torch.bfloat16, torch.float16) and rt.channels_last
    assert rt.prepare_input(torch.zeros(2, 3, 4, 4, device="cuda")).is_contiguous(memory_format=torch.channels_last)
    plain = runtime({"device": "cuda", "amp": False, "channels_last": False}, 1)
    assert plain.amp_dtype is None and not plain.channels_last
