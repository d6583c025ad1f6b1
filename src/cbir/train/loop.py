"""The training loop shared by the classifier and the enhancers: epochs, optimizer and
schedule, history rows and resumable progress.

Recipe (config `classifier` / `enhancers.<name>`, complete): Adam (lr), StepLR multiplying
the learning rate by lr_gamma every lr_step epochs, epochs; batches and losses come from
the task (`cbir.train.tasks`).

Resuming: after every epoch the model, optimizer, scheduler and history go to the partial
checkpoint (`partial_path`). A rerun finding a partial file whose fingerprint (network,
recipe, seed, data digests and the task's `fingerprint_extra`, e.g. the weights digest of
the classifier of a feature loss) matches resumes at the next epoch; otherwise it logs a
warning and starts over. All randomness of epoch e (batch order, augmentation, degradations) is
seeded from (seed, name, e), so on the CPU a resumed run ends with the same weights as an
uninterrupted one (see docs/design.md, Determinism). `train` returns the finished state;
the caller writes the final model and history, then removes the partial file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cbir.augment import seeded_generator
from cbir.checkpoint import CheckpointError, cpu_state_dict, read_checkpoint, save_checkpoint
from cbir.networks import architecture
from cbir.runlog import progress
from cbir.seeding import torch_seed
from cbir.train.tasks import Task, cpu_generator

log = logging.getLogger("cbir.train")

NORMALIZATION = "per-image min-max to [0, 1], then 2 x - 1 to [-1, 1]"


class TrainingDiverged(RuntimeError):
    """A training loss or held-out score became NaN or infinite: the weights are useless."""


@dataclass
class Trained:
    """A finished training job: CPU weights, the checkpoint meta and the history rows."""

    state_dict: dict[str, torch.Tensor]
    meta: dict
    history: list[dict]
    fields: list[str]


def digest(images: np.ndarray, labels: np.ndarray) -> str:
    """A short digest of an image set's pixels and labels."""
    h = hashlib.blake2b(digest_size=12)
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels, np.int64).tobytes())
    return h.hexdigest()


def partial_path(model_path: str | os.PathLike) -> Path:
    """Where the in-progress checkpoint of `model_path` lives."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".partial")


def history_fields(metric: str, terms: tuple[str, ...] = ()) -> list[str]:
    """The columns of a training history; `metric` is acc or psnr, `terms` the task's `loss_terms`."""
    return [
        "epoch",
        "train_loss",
        f"train_{metric}",
        *(f"train_{term}_mse" for term in terms),
        "heldout_loss",
        f"heldout_{metric}",
        "lr",
        "seconds",
        "images_per_s",
    ]


def _plain(value):
    """JSON round trip: tuples -> lists, Snakemake containers -> dicts, numbers stay numbers."""
    return json.loads(json.dumps(value, default=lambda v: dict(v.items()) if hasattr(v, "items") else list(v)))


def _train_epoch(task: Task, model: nn.Module, optimizer, scaler, epoch: int, epochs: int) -> dict:
    placement = task.placement
    started = time.perf_counter()
    model.train()
    order = task.epoch_order(cpu_generator(torch_seed(task.seed, task.name, f"epoch{epoch}", "order")))
    generator = seeded_generator(torch_seed(task.seed, task.name, f"epoch{epoch}", "augment"), placement.device)
    lr = optimizer.param_groups[0]["lr"]
    totals = torch.zeros(2 + len(task.loss_terms), dtype=torch.float64, device=placement.device)
    seen = 0
    for step in progress(range(task.steps), total=task.steps, desc=f"{task.name} epoch {epoch + 1}/{epochs}"):
        index = order[step * task.batch_size : (step + 1) * task.batch_size]
        x, y = task.batch(index, epoch, step, generator)
        with placement.autocast():
            output = model(placement.prepare_input(x))
        loss, parts = task.loss_parts(output, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        with torch.no_grad():
            totals += torch.stack(
                [
                    loss.detach().double() * len(index),
                    task.metric_sum(output.detach().float(), y).double(),
                    *(part.detach().double() * len(index) for part in parts),
                ]
            )
        seen += len(index)
    if placement.cuda:
        torch.cuda.synchronize()
    train_seconds = time.perf_counter() - started
    train_loss, train_metric, *train_parts = (totals / seen).tolist()
    heldout_loss, heldout_metric = task.evaluate(model)
    m = task.metric
    return {
        "epoch": epoch + 1,
        "train_loss": train_loss,
        f"train_{m}": train_metric,
        **{f"train_{term}_mse": value for term, value in zip(task.loss_terms, train_parts, strict=True)},
        "heldout_loss": heldout_loss,
        f"heldout_{m}": heldout_metric,
        "lr": lr,
        "seconds": time.perf_counter() - started,
        "images_per_s": seen / train_seconds,
    }


# No loss here comes near this while learning (cross-entropy of a few classes starts near ln C,
# the pixel MSE of [-1, 1] images is at most 4): above it the optimiser has blown up, even
# where the numbers are still finite (the trial's lr 1e6 gave held-out losses of 1e22).
DIVERGED_LOSS = 1e6


def _check_diverged(task: Task, row: dict, model: nn.Module) -> None:
    """Stop before a diverged epoch is saved: nothing after it could be trusted, and the
    partial checkpoint keeps the last sound epoch."""
    losses = {k: v for k, v in row.items() if k.endswith(("_loss", "_mse"))}
    bad = {k: v for k, v in losses.items() if not abs(v) <= DIVERGED_LOSS}  # NaN fails <=
    if not bad and all(torch.isfinite(p).all() for p in model.parameters()):
        return
    found = ", ".join(f"{k} {v:.3g}" for k, v in bad.items()) or "non-finite weights"
    raise TrainingDiverged(
        f"{task.name}: training diverged in epoch {row['epoch']} ({found}) at lr {task.recipe['lr']}; "
        f"no model written: lower the learning rate of {task.name!r} and rerun"
    )


def train(
    task: Task,
    *,
    digests: dict[str, str],
    source: str | None,
    runtime: dict,
    partial: Path,
    stop_after: int | None,
) -> Trained | None:
    """Run (or resume) the epochs of `task`, keeping progress in `partial`.

    `digests` ({"train", "validation"}: `digest` of each split) join the resume fingerprint;
    `source` (where the training split came from) and `runtime` (the config section) are
    recorded in the meta. `stop_after` ends the job after that many epochs in total and
    returns None, leaving only the partial checkpoint (a simulated kill, for tests).
    """
    recipe, placement = task.recipe, task.placement
    epochs = int(recipe["epochs"])
    model = placement.prepare_model(task.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=float(recipe["lr"]))
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=int(recipe["lr_step"]), gamma=float(recipe["lr_gamma"])
    )
    scaler = placement.grad_scaler()
    arch = architecture(model)
    fingerprint = _plain(
        {
            "name": task.name,
            **arch,
            "recipe": recipe,
            "seed": task.seed,
            "data": dict(digests),
            **task.fingerprint_extra,
        }
    )
    meta = {
        "name": task.name,
        **arch,
        "input_size": list(task.input_size),
        "normalization": NORMALIZATION,
        "seed": task.seed,
        "epochs": epochs,
        "recipe": _plain(recipe),
        "runtime": _plain(runtime),
        "data": {**task.data, "train_source": source, **fingerprint["data"]},
        "fingerprint": fingerprint,
        "rng": f"epoch e seeded from (seed, {task.name!r}, e); initial weights from (seed, {task.name!r}, 'init')",
        "torch_version": str(torch.__version__),
        **_plain(task.extra_meta),
    }

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
    for epoch in range(start, epochs):
        if stop_after is not None and epoch >= stop_after:
            log.warning("%s: stopping after epoch %d on request; %s holds the progress", task.name, epoch, partial)
            return None
        row = _train_epoch(task, model, optimizer, scaler, epoch, epochs)
        _check_diverged(task, row, model)
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

    final = _state_meta(meta, epochs, history, optimizer, scheduler, scaler)
    final["complete"] = True
    return Trained(cpu_state_dict(model), final, history, history_fields(task.metric, task.loss_terms))


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
    try:
        data = read_checkpoint(partial)
    except CheckpointError as exc:  # only a cache of progress: losing it costs epochs, not the job
        log.warning("%s; the unreadable in-progress checkpoint is discarded, training starts over", exc)
        partial.unlink(missing_ok=True)
        return 0, []
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
