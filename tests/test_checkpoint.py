"""Checkpoints: round trip, validation with the file named in every error, public meta."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys

import pytest
import torch
from train.toydata import CPU, UPSCALER, toy_images

from cbir.checkpoint import (
    FORMAT,
    CheckpointError,
    cpu_state_dict,
    identity,
    keys_of,
    load_model,
    public_meta,
    read_checkpoint,
    save_checkpoint,
    weights_sha256,
)
from cbir.device import placement
from cbir.fsutil import DiskFullError
from cbir.networks import SRCNN, Classifier, architecture
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
            placement=placement(CPU, 1),
            rescale="minmax",
        )
        digests = {"train": "a", "test": "b"}
        return train(
            task, digests=digests, source="toy", runtime=CPU, partial=partial_path(model_path), stop_after=stop_after
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


def test_weights_digest_is_of_the_weights_alone(tmp_path):
    """sha256 over the tensors in key order: the same for a copy on another memory format or in
    another key order, different for one changed value; recorded at save time."""
    torch.manual_seed(0)
    model = SRCNN()
    state = cpu_state_dict(model)
    digest = weights_sha256(state)
    assert len(digest) == 64
    assert weights_sha256(dict(reversed(list(state.items())))) == digest
    assert weights_sha256(cpu_state_dict(SRCNN().to(memory_format=torch.channels_last).requires_grad_(False))) != digest
    assert weights_sha256(cpu_state_dict(model.to(memory_format=torch.channels_last))) == digest
    edited = {k: v.clone() for k, v in state.items()}
    edited["layers.0.weight"][0, 0, 0, 0] += 1e-6
    assert weights_sha256(edited) != digest
    path = tmp_path / "upscaler.pt"
    save_checkpoint(path, state, {"name": "upscaler", **architecture(model)})
    meta = read_checkpoint(path)["meta"]
    assert meta["weights_sha256"] == digest and meta["role"] == "enhancer" and "keys" not in meta


def test_identity_of_classifiers_and_enhancers(tmp_path):
    assert [keys_of(n) for n in ("classifier", "classifier_robust", "robust")] == ["standard", "robust", "robust"]
    model = Classifier("resnet18")
    assert identity({"name": "classifier_robust", **architecture(model)}) == {
        "role": "classifier",
        "name": "robust",
        "arch": "resnet18",
    }
    assert identity({"name": "x", "keys": "blur", **architecture(model)})["name"] == "blur"  # the saver's word
    assert identity({"name": "upscaler", **architecture(SRCNN())}) == {
        "role": "enhancer",
        "name": "upscaler",
        "arch": "srcnn",
    }
    path = tmp_path / "c.pt"
    save_checkpoint(path, model.state_dict(), {"name": "classifier_robust", **architecture(model)})
    meta = read_checkpoint(path)["meta"]
    assert (meta["role"], meta["keys"]) == ("classifier", "robust")
    with pytest.raises(ValueError, match="unknown expectations \\['keys'\\]"):
        load_model(path, expect={"keys": "robust"})
    with pytest.raises(CheckpointError) as error:
        load_model(path, expect={"role": "enhancer"})
    assert str(error.value) == f"{path}: holds the classifier of key set 'robust' (resnet18), expected the enhancer"
    with pytest.raises(CheckpointError, match="records no training recipe"):
        load_model(path, expect={"role": "classifier", "name": "robust", "recipe": {"arch": "resnet18"}})
    assert load_model(path, expect={"role": "classifier", "name": "robust", "arch": "resnet18"})[1]["keys"] == "robust"


def _failing_save(error, written=b"PK\x03\x04half a zip"):
    """torch.save that writes part of the file, then fails as a full disk makes it fail."""

    def save(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(written)
        raise error

    return save


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:595] . unexpected pos 94656 vs 94552"),
    ],
    ids=["ENOSPC", "inline_container"],
)
def test_a_full_disk_names_the_checkpoint_and_leaves_nothing(tmp_path, monkeypatch, error):
    model = SRCNN()
    path = tmp_path / "models" / "upscaler.pt"
    monkeypatch.setattr(torch, "save", _failing_save(error))
    with pytest.raises(DiskFullError) as raised:
        save_checkpoint(path, model.state_dict(), {"name": "upscaler", **architecture(model)})
    message = str(raised.value)
    assert message.startswith(f"{path}: the disk is full") and "MiB free there now" in message
    assert "Nothing was written" in message and raised.value.errno == errno.ENOSPC
    assert list(path.parent.iterdir()) == []  # no half-written checkpoint, no temporary file
    monkeypatch.undo()
    save_checkpoint(path, model.state_dict(), {"name": "upscaler", **architecture(model), "epochs_done": 1})
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", _failing_save(error))
    with pytest.raises(DiskFullError, match="the disk is full"):
        save_checkpoint(path, model.state_dict(), {"name": "upscaler", **architecture(model), "epochs_done": 2})
    assert path.read_bytes() == before and list(path.parent.iterdir()) == [path]  # the previous file untouched
    monkeypatch.undo()
    assert load_model(path)[1]["epochs_done"] == 1


def test_other_save_errors_are_not_called_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", _failing_save(RuntimeError("cannot pickle 'generator' object")))
    with pytest.raises(RuntimeError, match="cannot pickle") as raised:
        save_checkpoint(tmp_path / "x.pt", {}, {"name": "upscaler", "kind": "srcnn", "arch_args": {}})
    assert not isinstance(raised.value, DiskFullError) and list(tmp_path.iterdir()) == []


def test_a_really_full_file_system(tmp_path):
    """A 256 KiB tmpfs (mounted in a private user and mount namespace, gone with the process) and
    a checkpoint of 800 KB: torch's own error becomes the full-disk error naming the file."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    full = tmp_path / "full"
    full.mkdir()
    code = (
        "import os, torch\n"
        "from cbir.checkpoint import save_checkpoint\n"
        "from cbir.fsutil import DiskFullError\n"
        "try:\n"
        f"    save_checkpoint({str(full / 'm.pt')!r}, {{'w': torch.zeros(200_000)}},"
        " {'name': 'upscaler', 'kind': 'srcnn', 'arch_args': {}})\n"
        "except DiskFullError as exc:\n"
        "    print('ERROR', exc)\n"
        f"print('LEFT', os.listdir({str(full)!r}))\n"
    )
    script = f'mount -t tmpfs -o size=256k tmpfs {full} || exit 77; exec {sys.executable} -c "$0"'
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(["unshare", "-Urm", "sh", "-c", script, code], capture_output=True, text=True, env=env)
    if proc.returncode == 77 or "unshare failed" in proc.stderr or "Operation not permitted" in proc.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr
    assert f"ERROR {full / 'm.pt'}: the disk is full" in proc.stdout
    assert "LEFT []" in proc.stdout  # no half-written checkpoint, no temporary file
