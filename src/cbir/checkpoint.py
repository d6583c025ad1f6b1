"""Self-describing checkpoints: a network can be rebuilt and judged from its file alone.

A checkpoint is ``{"meta": {...}, "state_dict": {...}}`` saved with torch.save. meta holds:

- ``kind``, ``arch_args`` (`cbir.networks.build`), ``embedding_size`` (classifier);
- ``name`` (classifier, denoiser, deblurrer, upscaler), ``input_size`` [H, W] (grey) or
  [H, W, 3] (colour: arch_args hold ``image_channels`` 3) and ``normalization`` (how inputs are
  prepared, `cbir.imagemath`);
- ``seed``, ``epochs_done``, ``epochs``, ``complete``, ``history`` (the per-epoch rows);
- ``recipe`` (the config section that trained it), ``runtime`` (the config section: device, AMP, channels_last),
  ``data`` (the training files, sizes and a digest of the images) and ``fingerprint``,
  the part of them that must match for a resume;
- ``optimizer``, ``scheduler`` and ``scaler`` states for resuming, and ``rng``: the random
  streams of epoch e are seeded from (seed, name, e), so no generator state is carried.

What a checkpoint is (format 2; `save_checkpoint` adds these, whoever saves):

- ``role``: ``classifier`` or ``enhancer`` (from ``kind``); ``keys``: a classifier's key set
  (``standard`` for config `classifier`, ``<k>`` for ``classifier_<k>``, unless the saver names it);
- ``weights_sha256``: SHA-256 of the state_dict (`weights_sha256`), checked on every read, so a
  file whose weights were edited after it was written is refused.

`load_model` (and every stage through `cbir.stages.common.load_network`) checks a checkpoint
against what the caller expects (`expect`: role, name, arch, recipe, seed; see `check_expected`)
and refuses anything else, naming the file, what it holds and what was expected.

Files are written atomically; a write that runs out of space raises `cbir.fsutil.DiskFullError`
naming the file. Reading validates the structure and names the file in every error
(`CheckpointError`). This is the one compute module that touches files: the training loop
keeps its resumable progress in one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from cbir.fsutil import atomic_path, disk_full_error
from cbir.networks import NetworkError, build

log = logging.getLogger("cbir.checkpoint")

FORMAT = 2  # 2: role, keys and weights_sha256 in the meta
STANDARD = "standard"  # the key set of config `classifier` (workflow/rules/common.smk: KEYS)
EXPECTED = ("role", "name", "arch", "recipe", "seed")  # what a caller may expect of a checkpoint
# What torch.save raises when the file cannot be written (a full disk shows as a short write).
_WRITE_FAILED = ("inline_container", "unexpected pos", "file write failed", "PytorchStreamWriter failed")


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, malformed or of the wrong kind."""


def cpu_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict as contiguous CPU tensors (independent of device and memory format)."""
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}


def weights_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over a state_dict: per entry in sorted key order its name, dtype, shape and raw
    bytes (CPU, contiguous), so it does not depend on the device or the memory format."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        value = state_dict[key]
        if not isinstance(value, torch.Tensor):
            h.update(f"{key}:{type(value).__name__}:{value!r};".encode())
            continue
        value = value.detach().to("cpu").contiguous()
        h.update(f"{key}:{value.dtype}:{tuple(value.shape)};".encode())
        h.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def keys_of(name: str) -> str:
    """The key set of a classifier saved as `name`: classifier -> standard, classifier_<k> -> <k>
    (workflow/rules/common.smk: CLASSIFIER), any other name is its own key set."""
    if name == "classifier":
        return STANDARD
    return name.removeprefix("classifier_") if name.startswith("classifier_") else name


def identity(meta: Mapping) -> dict:
    """What a checkpoint is: role (classifier, detector or enhancer, from its kind), name (a classifier's
    key set, an enhancer's name) and arch (a classifier's ResNet depth, an enhancer's network)."""
    kind = meta["kind"]
    if kind == "classifier":
        keys = meta.get("keys") or keys_of(str(meta["name"]))
        return {"role": "classifier", "name": str(keys), "arch": str((meta.get("arch_args") or {}).get("arch", kind))}
    if kind == "detector":
        return {"role": "detector", "name": str(meta["name"]), "arch": str(kind)}
    return {"role": "enhancer", "name": str(meta["name"]), "arch": str(kind)}


def describe(role: str | None, name: str | None = None, arch: str | None = None) -> str:
    """'the classifier of key set 'robust' (resnet18)', 'the enhancer 'denoiser' (unet)'; parts
    left None are left out."""
    role = role or "network"
    text = f"the {role}"
    if name is not None:
        text += f" of key set {name!r}" if role == "classifier" else f" {name!r}"
    return f"{text} ({arch})" if arch is not None else text


def save_checkpoint(path: str | os.PathLike, state_dict: dict, meta: dict) -> None:
    """Write {"meta", "state_dict"} to `path` atomically, the meta completed with what the
    network is (`identity`: role, and keys for a classifier unless given) and `weights_sha256`.
    A full disk raises `cbir.fsutil.DiskFullError` naming `path`; nothing is left behind."""
    ident = identity(meta)
    meta = {**meta, "format": FORMAT, "role": ident["role"], "weights_sha256": weights_sha256(state_dict)}
    if ident["role"] == "classifier":
        meta["keys"] = ident["name"]
    with atomic_path(path) as tmp:
        try:
            torch.save({"meta": meta, "state_dict": state_dict}, tmp)
        except RuntimeError as exc:
            if any(text in str(exc) for text in _WRITE_FAILED):
                raise disk_full_error(path, exc, " (or the file system refused the write)") from exc
            raise


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint at `path` as {"meta", "state_dict"}, validated for structure."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle errors, foreign formats
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({type(exc).__name__}: {exc})") from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("meta"), dict)
        or not isinstance(data.get("state_dict"), dict)
    ):
        raise CheckpointError(f"{path}: not a cbir checkpoint (expected a dict with 'meta' and 'state_dict')")
    meta = data["meta"]
    for key in ("kind", "arch_args", "name"):
        if key not in meta:
            raise CheckpointError(f"{path}: checkpoint meta lacks {key!r}")
    stored = meta.get("weights_sha256")
    if stored is not None:
        actual = weights_sha256(data["state_dict"])
        if actual != stored:
            raise CheckpointError(
                f"{path}: its weights are not those it was saved with (sha256 {actual[:16]}..., recorded "
                f"{str(stored)[:16]}...): the file was edited or damaged after it was written; rerun the rule "
                "that trained it"
            )
    return data


def _recipe_differences(held: Mapping, wanted: Mapping) -> list[str]:
    """The top-level entries where two recipes differ, as 'key: held X, expected Y'."""

    def plain(value):
        return json.loads(json.dumps(value, sort_keys=True, default=lambda v: dict(v.items())))

    held, wanted = plain(held), plain(wanted)
    out = []
    for key in sorted(set(held) | set(wanted)):
        if held.get(key, ...) != wanted.get(key, ...):
            a, b = (json.dumps(r[key], sort_keys=True) if key in r else "absent" for r in (held, wanted))
            out.append(f"{key}: {a[:80]} here, {b[:80]} expected")
    return out


def check_expected(path: str | os.PathLike, meta: Mapping, expect: Mapping | None) -> None:
    """Refuse a checkpoint that is not what the caller expects: `expect` may give ``role``
    (classifier or enhancer), ``name`` (a classifier's key set, an enhancer's name), ``arch``
    (a classifier's ResNet depth, an enhancer's network kind), ``recipe`` (the config section
    that trains it) and ``seed`` (the replicate's); those absent or None are not checked.
    The error names the file, what it holds and what was expected."""
    if not expect:
        return
    unknown = sorted(set(expect) - set(EXPECTED))
    if unknown:
        raise ValueError(f"unknown expectations {unknown} of {path}; expected some of {list(EXPECTED)}")
    held = identity(meta)
    wanted = {k: (None if expect.get(k) is None else str(expect[k])) for k in ("role", "name", "arch")}
    if any(wanted[k] is not None and wanted[k] != held[k] for k in wanted):
        expected = describe(wanted["role"] or held["role"], wanted["name"], wanted["arch"])
        raise CheckpointError(f"{path}: holds {describe(**held)}, expected {expected}")
    what = describe(**held)
    if expect.get("recipe") is not None:
        if not isinstance(meta.get("recipe"), Mapping):
            raise CheckpointError(f"{path}: {what} records no training recipe, so it cannot be matched to the config")
        differences = _recipe_differences(meta["recipe"], expect["recipe"])
        if differences:
            raise CheckpointError(
                f"{path}: {what} was trained with another recipe than the config's ({'; '.join(differences)}): "
                "rerun its training rule"
            )
    if expect.get("seed") is not None and meta.get("seed") != int(expect["seed"]):
        raise CheckpointError(
            f"{path}: {what} was trained with seed {meta.get('seed')}, expected {int(expect['seed'])} "
            "(another replicate's checkpoint?)"
        )


def load_model(
    path: str | os.PathLike,
    kind: str | tuple[str, ...] | None = None,
    device: torch.device | str = "cpu",
    expect: Mapping | None = None,
) -> tuple[nn.Module, dict]:
    """Rebuild the network in `path` from its meta, load its weights; eval mode on `device`.

    `expect` (see `check_expected`) and `kind` (a kind or tuple of kinds) are what the caller
    expects; anything else is an error. So is a training job's in-progress file (meta
    ``complete`` false, the training loop's `<model>.partial`): only the model written once
    training has finished is used; and a file without a weights digest (format 1), whose
    weights could not be checked.
    """
    path = Path(path)
    data = read_checkpoint(path)
    meta = data["meta"]
    if meta.get("complete", True) is not True:
        raise CheckpointError(
            f"{path}: an unfinished training checkpoint ({meta.get('epochs_done', '?')} of "
            f"{meta.get('epochs', '?')} epochs, not marked complete); only a finished model can be used: "
            "rerun the training rule to finish it"
        )
    if "weights_sha256" not in meta:
        raise CheckpointError(
            f"{path}: records no weights digest (checkpoint format {meta.get('format', '?')}, written before "
            "checkpoints recorded one), so its weights cannot be checked: rerun the rule that trained it"
        )
    check_expected(path, meta, expect)
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds and meta["kind"] not in kinds:
        raise CheckpointError(f"{path}: holds a {meta['kind']} ({meta['name']}), expected {' or '.join(kinds)}")
    try:
        model = build(meta)
    except (NetworkError, TypeError) as exc:
        raise CheckpointError(f"{path}: cannot rebuild the network from its meta: {exc}") from exc
    try:
        model.load_state_dict(data["state_dict"], strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match the {meta['kind']} {meta['arch_args']}: {exc}") from exc
    return model.to(device).eval(), meta


def public_meta(meta: dict) -> dict:
    """The meta without optimizer/scheduler tensors and history: safe to store as JSON attributes."""
    skip = {"optimizer", "scheduler", "scaler", "history", "rng"}
    return {k: v for k, v in meta.items() if k not in skip}
