"""Training of the classifier and the enhancers (paper section IV.B, DESIGN section 6).

Recipe (config `classifier` / `enhancers.<name>`): Adam (lr), StepLR multiplying the
learning rate by lr_gamma every lr_step epochs, batch_size, epochs. The classifier
minimises cross-entropy on augmented training images (`cbir.augment`); an enhancer
minimises the MSE between its output and the clean image (both in [-1, 1]) on training
images degraded afresh every batch by `cbir.degradations.degrade` with the stream
"<name>/epoch<e>/step<s>", one of the recipe's degradations drawn per image.

Data: the classifier's training split is one uint8 tensor on the device; each batch is
cut from it by index, normalised (`cbir.tensors`) and augmented there. The enhancers'
clean batches are cut from the split in host memory (the degradations are numpy code)
and moved to the device with their degraded copies.

Held-out metrics after every epoch: the classifier's cross-entropy and accuracy on
`eval_images` test images; an enhancer's MSE and PSNR on `eval_images` test images
degraded once with the stream "heldout". Both subsets are fixed by the seed.

Resuming: after every epoch the model, optimizer, scheduler and history go to
`<model>.partial`; the final `<model>` and `<history>` CSV are written only at the end,
and the partial file is then removed. A rerun finding a partial file whose fingerprint
(network, recipe, seed, data digests) matches resumes at the next epoch; otherwise it
logs a warning and starts over. All randomness of epoch e (batch order, augmentation,
degradations) is seeded from (seed, name, e), so on the CPU a resumed run ends with the
same weights as an uninterrupted one.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cbir.augment import augment, check_params, seeded_generator
from cbir.checkpoint import CheckpointError, cpu_state_dict, read_checkpoint, save_checkpoint
from cbir.device import Runtime, runtime
from cbir.fsutil import atomic_path
from cbir.h5store import ImageSet, read_image_set
from cbir.networks import NUM_CLASSES, architecture, create, load_pretrained
from cbir.runlog import progress
from cbir.tensors import normalize, psnr_pm1, unit_range

log = logging.getLogger("cbir.training")

NORMALIZATION = "per-image min-max to [0, 1], then 2 x - 1 to [-1, 1]"
RECIPE_DEFAULTS = {"epochs": 200, "batch_size": 64, "lr": 1e-3, "lr_step": 40, "lr_gamma": 0.5}
CLASSIFIER_DEFAULTS = {**RECIPE_DEFAULTS, "arch": "resnet34", "weights": "none", "eval_images": 0, "augment": {}}
ENHANCER_DEFAULTS = {**RECIPE_DEFAULTS, "steps_per_epoch": 0, "eval_images": 500}
ENHANCERS = ("denoiser", "deblurrer", "upscaler")
EVAL_BATCH = 256


class TrainingError(ValueError):
    """A training job cannot run as configured."""


# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def stream_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed for the random stream named by (seed, *parts)."""
    text = "/".join([str(int(seed)), *map(str, parts)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def cpu_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def heldout_indices(n: int, count: int, seed: int) -> np.ndarray:
    """A fixed, sorted subset of `count` of range(n) (all when count is 0 or >= n)."""
    if count <= 0 or count >= n:
        return np.arange(n)
    perm = torch.randperm(n, generator=cpu_generator(stream_seed(seed, "heldout")))
    return np.sort(perm[:count].numpy())


def digest(images: ImageSet) -> str:
    """A short digest of an image set's pixels and labels."""
    h = hashlib.blake2b(digest_size=12)
    h.update(np.ascontiguousarray(images.images).tobytes())
    h.update(np.ascontiguousarray(images.labels, np.int64).tobytes())
    return h.hexdigest()


def _plain(value):
    """JSON round trip: tuples -> lists, Snakemake containers -> dicts, numbers stay numbers."""
    return json.loads(json.dumps(value, default=lambda v: dict(v.items()) if hasattr(v, "items") else list(v)))


def partial_path(model_path: str | os.PathLike) -> Path:
    """Where the in-progress checkpoint of `model_path` lives."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".partial")


def write_history(path: str | os.PathLike, rows: list[dict], fields: list[str]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


# ---------------------------------------------------------------------------------------
# Tasks: what differs between the classifier and the enhancers
# ---------------------------------------------------------------------------------------


class _Task:
    """One training job: data, batches, loss, metric and held-out evaluation."""

    name: str
    metric: str  # column suffix: acc or psnr
    model: nn.Module
    recipe: dict
    seed: int
    rt: Runtime
    batch_size: int
    steps: int
    n_train: int
    data: dict
    extra_meta: dict

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """Training indices of one epoch, steps * batch_size of them, drawn from `generator`."""
        need = self.steps * self.batch_size
        passes = math.ceil(need / self.n_train)
        return torch.cat([torch.randperm(self.n_train, generator=generator) for _ in range(passes)])[:need]

    def batch(self, index: torch.Tensor, epoch: int, step: int, generator: torch.Generator):
        raise NotImplementedError

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def metric_sum(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, model: nn.Module) -> tuple[float, float]:
        """(mean loss, mean metric) on the held-out data, in eval mode."""
        model.eval()
        loss_sum = metric_sum = 0.0
        n = len(self.eval_targets)
        for start in range(0, n, EVAL_BATCH):
            x = self.rt.prepare_input(self.eval_input(slice(start, start + EVAL_BATCH)))
            y = self.eval_targets[start : start + EVAL_BATCH]
            with self.rt.autocast():
                out = model(x)
            out = out.float()
            loss_sum += float(self.loss(out, y)) * len(y)
            metric_sum += float(self.metric_sum(out, y))
        return loss_sum / n, metric_sum / n


class _ClassifierTask(_Task):
    metric = "acc"

    def __init__(self, train: ImageSet, test: ImageSet, recipe: dict, seed: int, rt: Runtime):
        self.name, self.recipe, self.seed, self.rt = "classifier", recipe, seed, rt
        self.augment = check_params(recipe["augment"])
        self.n_train = len(train)
        self.batch_size = min(int(recipe["batch_size"]), self.n_train)
        self.steps = max(1, self.n_train // self.batch_size)  # incomplete last batch dropped
        self.images = torch.from_numpy(train.images).to(rt.device)
        self.labels = torch.from_numpy(np.asarray(train.labels, np.int64)).to(rt.device)
        rows = heldout_indices(len(test), int(recipe["eval_images"]), seed)
        self.eval_images = torch.from_numpy(test.images[rows]).to(rt.device)
        self.eval_targets = torch.from_numpy(np.asarray(test.labels[rows], np.int64)).to(rt.device)
        torch.manual_seed(stream_seed(seed, self.name, "init"))
        model = create("classifier", arch=recipe["arch"], num_classes=NUM_CLASSES)
        self.extra_meta = {"weights_init": load_pretrained(model, recipe["weights"]), "classes": NUM_CLASSES}
        self.model = model
        self.data = {"n_train": self.n_train, "n_heldout": len(rows)}

    def batch(self, index, epoch, step, generator):
        index = index.to(self.rt.device)
        x = augment(unit_range(self.images[index]), self.augment, generator) * 2.0 - 1.0
        return x, self.labels[index]

    def loss(self, output, target):
        return F.cross_entropy(output.float(), target)

    def metric_sum(self, output, target):
        return (output.argmax(1) == target).sum()

    def eval_input(self, rows: slice) -> torch.Tensor:
        return normalize(self.eval_images[rows])


class _EnhancerTask(_Task):
    metric = "psnr"

    def __init__(self, name: str, train: ImageSet, test: ImageSet, recipe: dict, seed: int, rt: Runtime, rescale: str):
        from cbir.degradations import check_specs, degrade

        self.degrade = degrade
        self.name, self.recipe, self.seed, self.rt, self.rescale = name, recipe, seed, rt, rescale
        self.specs = check_specs(recipe["degradations"])
        if not self.specs:
            raise TrainingError(f"config key 'enhancers.{name}.degradations': empty; nothing to learn")
        self.train_images = np.ascontiguousarray(train.images)
        self.n_train = len(train)
        self.batch_size = min(int(recipe["batch_size"]), self.n_train)
        self.steps = int(recipe["steps_per_epoch"]) or max(1, self.n_train // self.batch_size)
        rows = heldout_indices(len(test), int(recipe["eval_images"]), seed)
        clean = test.images[rows]
        degraded = degrade(clean, self.specs, seed=seed, stream="heldout", indices=rows, rescale=rescale)
        self.eval_degraded = torch.from_numpy(degraded).to(rt.device)
        self.eval_targets = normalize(torch.from_numpy(clean).to(rt.device))
        baseline = psnr_pm1(normalize(self.eval_degraded), self.eval_targets).mean().item()
        log.info("%s: held-out PSNR of the degraded input itself: %.2f dB", name, baseline)
        torch.manual_seed(stream_seed(seed, name, "init"))
        self.model = create(recipe["arch"])
        self.extra_meta = {"degradations": self.specs, "rescale": rescale, "heldout_input_psnr": baseline}
        self.data = {"n_train": self.n_train, "n_heldout": len(rows)}

    def batch(self, index, epoch, step, generator):
        clean = self.train_images[index.numpy()]
        degraded = self.degrade(
            clean, self.specs, seed=self.seed, stream=f"{self.name}/epoch{epoch}/step{step}", rescale=self.rescale
        )
        pair = torch.from_numpy(np.stack([degraded, clean]))
        if self.rt.cuda:
            pair = pair.pin_memory()
        pair = pair.to(self.rt.device, non_blocking=True)
        return normalize(pair[0]), normalize(pair[1])

    def loss(self, output, target):
        return F.mse_loss(output.float(), target)

    def metric_sum(self, output, target):
        return psnr_pm1(output, target).sum()

    def eval_input(self, rows: slice) -> torch.Tensor:
        return normalize(self.eval_degraded[rows])


# ---------------------------------------------------------------------------------------
# The loop
# ---------------------------------------------------------------------------------------


def _fields(metric: str) -> list[str]:
    return [
        "epoch",
        "train_loss",
        f"train_{metric}",
        "heldout_loss",
        f"heldout_{metric}",
        "lr",
        "seconds",
        "images_per_s",
    ]


def _train_epoch(task: _Task, model: nn.Module, optimizer, scaler, epoch: int, epochs: int) -> dict:
    rt = task.rt
    started = time.perf_counter()
    model.train()
    order = task.epoch_order(cpu_generator(stream_seed(task.seed, task.name, f"epoch{epoch}", "order")))
    generator = seeded_generator(stream_seed(task.seed, task.name, f"epoch{epoch}", "augment"), rt.device)
    lr = optimizer.param_groups[0]["lr"]
    totals = torch.zeros(2, dtype=torch.float64, device=rt.device)
    seen = 0
    for step in progress(range(task.steps), total=task.steps, desc=f"{task.name} epoch {epoch + 1}/{epochs}"):
        index = order[step * task.batch_size : (step + 1) * task.batch_size]
        x, y = task.batch(index, epoch, step, generator)
        with rt.autocast():
            output = model(rt.prepare_input(x))
        loss = task.loss(output, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        with torch.no_grad():
            totals += torch.stack(
                [loss.detach().double() * len(index), task.metric_sum(output.detach().float(), y).double()]
            )
        seen += len(index)
    if rt.cuda:
        torch.cuda.synchronize()
    train_seconds = time.perf_counter() - started
    train_loss, train_metric = (totals / seen).tolist()
    heldout_loss, heldout_metric = task.evaluate(model)
    m = task.metric
    return {
        "epoch": epoch + 1,
        "train_loss": train_loss,
        f"train_{m}": train_metric,
        "heldout_loss": heldout_loss,
        f"heldout_{m}": heldout_metric,
        "lr": lr,
        "seconds": time.perf_counter() - started,
        "images_per_s": seen / train_seconds,
    }


def _run(
    task: _Task,
    train: ImageSet,
    test: ImageSet,
    model_path: str | os.PathLike,
    history_path: str | os.PathLike,
    training: dict,
    stop_after: int | None,
) -> bool:
    recipe, rt = task.recipe, task.rt
    epochs = int(recipe["epochs"])
    model = rt.prepare_model(task.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(recipe["lr"]))
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=int(recipe["lr_step"]), gamma=float(recipe["lr_gamma"])
    )
    scaler = rt.grad_scaler()
    arch = architecture(model)
    fingerprint = _plain(
        {
            "name": task.name,
            **arch,
            "recipe": recipe,
            "seed": task.seed,
            "data": {"train": digest(train), "test": digest(test)},
        }
    )
    meta = {
        "name": task.name,
        **arch,
        "input_size": list(train.images.shape[1:]),
        "normalization": NORMALIZATION,
        "seed": task.seed,
        "epochs": epochs,
        "recipe": _plain(recipe),
        "training": _plain(training),
        "data": {**task.data, "train_source": train.attrs.get("source"), **fingerprint["data"]},
        "fingerprint": fingerprint,
        "rng": f"epoch e seeded from (seed, {task.name!r}, e); initial weights from (seed, {task.name!r}, 'init')",
        "torch_version": str(torch.__version__),
        **_plain(task.extra_meta),
    }

    partial = partial_path(model_path)
    start, history = _resume(partial, fingerprint, model, optimizer, scheduler, scaler)
    log.info(
        "%s: %d training images, %d steps of %d per epoch, %d held-out images, epochs %d..%d of %d",
        task.name,
        task.n_train,
        task.steps,
        task.batch_size,
        task.data["n_heldout"],
        start + 1,
        epochs,
        epochs,
    )
    fields = _fields(task.metric)
    for epoch in range(start, epochs):
        if stop_after is not None and epoch >= stop_after:
            log.warning("%s: stopping after epoch %d on request; %s holds the progress", task.name, epoch, partial)
            return False
        row = _train_epoch(task, model, optimizer, scaler, epoch, epochs)
        scheduler.step()
        history.append(row)
        log.info(
            "%s: %s",
            task.name,
            ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
        )
        save_checkpoint(
            partial, cpu_state_dict(model), _state_meta(meta, epoch + 1, history, optimizer, scheduler, scaler)
        )

    write_history(history_path, history, fields)
    final = _state_meta(meta, epochs, history, optimizer, scheduler, scaler)
    final["complete"] = True
    save_checkpoint(model_path, cpu_state_dict(model), final)
    partial.unlink(missing_ok=True)
    log.info("%s: wrote %s and %s", task.name, model_path, history_path)
    return True


def _state_meta(meta: dict, epochs_done: int, history: list, optimizer, scheduler, scaler) -> dict:
    return {
        **meta,
        "epochs_done": epochs_done,
        "complete": False,
        "history": list(history),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
    }


def _resume(partial: Path, fingerprint: dict, model, optimizer, scheduler, scaler) -> tuple[int, list]:
    """Load `partial` into the training state if it matches; return (epochs done, history)."""
    if not partial.exists():
        return 0, []
    data = read_checkpoint(partial)  # a corrupt file is an error naming it, not silently discarded
    meta = data["meta"]
    if meta.get("fingerprint") != fingerprint:
        log.warning(
            "%s: an in-progress checkpoint from a different recipe, seed or data; starting over (it will be replaced)",
            partial,
        )
        return 0, []
    try:
        model.load_state_dict(data["state_dict"], strict=True)
        optimizer.load_state_dict(meta["optimizer"])
        scheduler.load_state_dict(meta["scheduler"])
        scaler.load_state_dict(meta["scaler"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise CheckpointError(
            f"{partial}: cannot resume from this checkpoint ({exc}); delete it to start over"
        ) from exc
    done = int(meta["epochs_done"])
    log.info("%s: resuming after epoch %d", partial, done)
    return done, list(meta["history"])


# ---------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------


def _recipe(recipe: dict | None, defaults: dict, key: str) -> dict:
    recipe = {**defaults, **_plain(dict(recipe or {}))}
    for name in ("epochs", "batch_size", "lr_step"):
        if int(recipe[name]) < 1:
            raise TrainingError(f"config key '{key}.{name}' must be >= 1, got {recipe[name]}")
    return recipe


def train_classifier(
    train: str | os.PathLike,
    test: str | os.PathLike,
    model_path: str | os.PathLike,
    history_path: str | os.PathLike,
    recipe: dict | None = None,
    training: dict | None = None,
    seed: int = 0,
    threads: int | None = None,
    stop_after: int | None = None,
) -> bool:
    """Train the classifier; write `model_path` and `history_path`. False if stopped early.

    `stop_after` ends the job after that many epochs in total, leaving only the
    in-progress checkpoint (a simulated kill, for tests).
    """
    recipe = _recipe(recipe, CLASSIFIER_DEFAULTS, "classifier")
    rt = runtime(training, threads)
    train_set, test_set = read_image_set(train), read_image_set(test)
    task = _ClassifierTask(train_set, test_set, recipe, int(seed), rt)
    return _run(task, train_set, test_set, model_path, history_path, dict(training or {}), stop_after)


def train_enhancer(
    name: str,
    train: str | os.PathLike,
    test: str | os.PathLike,
    model_path: str | os.PathLike,
    history_path: str | os.PathLike,
    recipe: dict,
    training: dict | None = None,
    seed: int = 0,
    threads: int | None = None,
    stop_after: int | None = None,
    rescale: str = "minmax",
) -> bool:
    """Train the enhancer `name`; write `model_path` and `history_path`. False if stopped early."""
    recipe = _recipe(recipe, ENHANCER_DEFAULTS, f"enhancers.{name}")
    if recipe.get("arch") not in ("autoencoder", "srcnn"):
        raise TrainingError(
            f"config key 'enhancers.{name}.arch': expected autoencoder or srcnn, got {recipe.get('arch')!r}"
        )
    rt = runtime(training, threads)
    train_set, test_set = read_image_set(train), read_image_set(test)
    if recipe["arch"] == "autoencoder" and train_set.images.shape[1] % 32:
        raise TrainingError(
            f"enhancers.{name}: the autoencoder needs dataset.image_size to be a multiple of 32, "
            f"got {train_set.images.shape[1]} px in {train}"
        )
    task = _EnhancerTask(name, train_set, test_set, recipe, int(seed), rt, rescale)
    return _run(task, train_set, test_set, model_path, history_path, dict(training or {}), stop_after)
