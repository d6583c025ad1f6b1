"""Checkpoints: round trip, validation with the file named in every error, public meta."""

from __future__ import annotations

import shutil

import pytest
import torch
from train.toydata import CPU, UPSCALER, toy_images

from cbir.checkpoint import (
    FORMAT,
    CheckpointError,
    cpu_state_dict,
    load_model,
    public_meta,
    read_checkpoint,
    save_checkpoint,
)
from cbir.device import runtime
from cbir.networks import SRCNN, architecture
from cbir.train.loop import partial_path, train
from cbir.train.tasks import EnhancerTask


def test_round_trip_rebuilds_the_network(tmp_path):
    torch.manual_seed(0)
    model = SRCNN()
    path = tmp_path / "srcnn.pt"
    save_checkpoint(path, cpu_state_dict(model), {"name": "upscaler", **architecture(model), "epochs_done": 2})
    data = read_checkpoint(path)
    assert data["meta"]["format"] == FORMAT and data["meta"]["epochs_done"] == 2
    loaded, meta = load_model(path, kind=("autoencoder", "srcnn"))
    assert meta["name"] == "upscaler" and not loaded.training
    x = torch.randn(1, 1, 16, 16)
    torch.testing.assert_close(loaded(x), model.eval()(x), rtol=0, atol=0)
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically, nothing left over


def test_cpu_state_dict_is_a_contiguous_copy():
    model = SRCNN().to(memory_format=torch.channels_last)
    state = cpu_state_dict(model)
    assert all(v.is_contiguous() and v.device.type == "cpu" for v in state.values())
    before = model.state_dict()["layers.0.weight"].clone()
    state["layers.0.weight"].zero_()
    assert torch.equal(model.state_dict()["layers.0.weight"], before)  # a copy, not a view


def test_corrupt_or_mismatched_model_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match=f"{bad}: not a readable"):
        load_model(bad)
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a cbir checkpoint"):
        load_model(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "missing.pt")
    torch.save({"meta": {"kind": "srcnn", "arch_args": {}}, "state_dict": {}}, tmp_path / "nameless.pt")
    with pytest.raises(CheckpointError, match="lacks 'name'"):
        read_checkpoint(tmp_path / "nameless.pt")

    model = SRCNN()
    path = tmp_path / "srcnn.pt"
    save_checkpoint(path, model.state_dict(), {"name": "upscaler", **architecture(model)})
    with pytest.raises(CheckpointError, match=f"{path}: holds a srcnn.*expected classifier"):
        load_model(path, kind="classifier")
    meta = {
        "name": "upscaler",
        "kind": "srcnn",
        "arch_args": {"channels": [16, 64, 128, 32, 1], "kernels": [5, 5, 5, 3, 3]},
    }
    save_checkpoint(path, model.state_dict(), meta)
    with pytest.raises(CheckpointError, match=f"{path}: weights do not match"):
        load_model(path)
    save_checkpoint(path, model.state_dict(), {**meta, "kind": "vgg"})
    with pytest.raises(CheckpointError, match="cannot rebuild"):
        load_model(path)


def test_public_meta_drops_the_training_state():
    meta = {"name": "x", "optimizer": {}, "scheduler": {}, "scaler": {}, "history": [], "rng": "", "seed": 0}
    assert public_meta(meta) == {"name": "x", "seed": 0}


def test_unfinished_training_checkpoint_is_refused(tmp_path):
    """The in-progress file of a killed training job has the same format as the model: copied
    over the model's path, it is refused, naming the file; the finished model loads."""
    images = toy_images(40, 32, seed=0)[0]
    model_path = tmp_path / "upscaler.pt"

    def run(stop_after):
        task = EnhancerTask(
            "upscaler",
            train_images=images,
            heldout_images=images[:10],
            recipe=UPSCALER,
            seed=0,
            rt=runtime(CPU, 1),
            rescale="minmax",
        )
        digests = {"train": "a", "test": "b"}
        return train(
            task, digests=digests, source="toy", settings=CPU, partial=partial_path(model_path), stop_after=stop_after
        )

    assert run(stop_after=1) is None
    shutil.copyfile(partial_path(model_path), model_path)
    with pytest.raises(CheckpointError, match=f"{model_path}: an unfinished training checkpoint \\(1 of 3 epochs"):
        load_model(model_path)
    trained = run(stop_after=None)
    save_checkpoint(model_path, trained.state_dict, trained.meta)
    assert load_model(model_path)[1]["epochs_done"] == 3
    shutil.copyfile(partial_path(model_path), model_path)  # all epochs done, but the final file was never written
    with pytest.raises(CheckpointError, match=f"{model_path}: an unfinished training checkpoint \\(3 of 3 epochs"):
        load_model(model_path)
