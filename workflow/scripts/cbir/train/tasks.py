"""What differs between training the classifier and an enhancer: batches, loss, metric
and the held-out evaluation (paper section IV.B).

The classifier minimises cross-entropy (with the recipe's label_smoothing, also in the
held-out loss) on augmented training images (`cbir.augment`); its head is the recipe's
`head`, its trunk initialised from `weights` (`cbir.networks.load_pretrained`). Its
training split is one uint8 tensor on the device; each batch is cut from it by index,
normalised and augmented there. An enhancer minimises the MSE between its output and the
clean image (both in [-1, 1]) on training images degraded afresh every batch by
`cbir.degrade.degrade` with the stream "<name>/epoch<e>/step<s>", one of the recipe's
degradations drawn per image. Its clean batches are cut from the split in host memory
(the degradations are numpy code) and moved to the device with their degraded copies.

Held-out metrics after every epoch: the classifier's cross-entropy and accuracy on
`eval_images` test images; an enhancer's MSE and PSNR on `eval_images` test images
degraded once with the stream "heldout". Both subsets are fixed by the seed.

Tasks take arrays (uint8 images [N, H, W], int labels [N]), never files.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cbir.augment import augment, check_params
from cbir.degrade import check_specs, degrade
from cbir.device import Runtime
from cbir.imagemath import normalize, psnr_pm1, unit_range
from cbir.networks import NUM_CLASSES, create, load_pretrained
from cbir.seeding import torch_seed

log = logging.getLogger("cbir.train")

EVAL_BATCH = 256


class TrainingError(ValueError):
    """A training job cannot run as configured."""


def cpu_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def heldout_indices(n: int, count: int, seed: int) -> np.ndarray:
    """A fixed, sorted subset of `count` of range(n) (all when count is 0 or >= n)."""
    if count <= 0 or count >= n:
        return np.arange(n)
    perm = torch.randperm(n, generator=cpu_generator(torch_seed(seed, "heldout")))
    return np.sort(perm[:count].numpy())


class Task:
    """One training job: data, batches, loss, metric and held-out evaluation.

    Set by the subclasses: name, metric (column suffix: acc or psnr), model (freshly
    initialised, on the CPU), recipe, seed, rt, batch_size, steps (per epoch), n_train,
    input_size [H, W], data (sizes for the checkpoint's meta), extra_meta, eval_targets.
    """

    name: str
    metric: str
    model: nn.Module
    recipe: dict
    seed: int
    rt: Runtime
    batch_size: int
    steps: int
    n_train: int
    input_size: list[int]
    data: dict
    extra_meta: dict
    eval_targets: torch.Tensor

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """Training indices of one epoch, steps * batch_size of them, drawn from `generator`."""
        need = self.steps * self.batch_size
        passes = math.ceil(need / self.n_train)
        return torch.cat([torch.randperm(self.n_train, generator=generator) for _ in range(passes)])[:need]

    def batch(self, index: torch.Tensor, epoch: int, step: int, generator: torch.Generator):
        """(network input, target) of the training step `step` of `epoch`, for the rows `index`."""
        raise NotImplementedError

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def metric_sum(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The metric summed over the batch (accuracy: correct predictions; PSNR: dB)."""
        raise NotImplementedError

    def eval_input(self, rows: slice) -> torch.Tensor:
        """The normalised network input of held-out rows `rows`."""
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


class ClassifierTask(Task):
    metric = "acc"

    def __init__(
        self,
        *,
        train_images: np.ndarray,
        train_labels: np.ndarray,
        test_images: np.ndarray,
        test_labels: np.ndarray,
        recipe: dict,
        seed: int,
        rt: Runtime,
    ):
        self.name, self.recipe, self.seed, self.rt = "classifier", recipe, seed, rt
        self.augment = check_params(recipe["augment"])
        self.n_train = len(train_images)
        self.input_size = list(train_images.shape[1:])
        self.batch_size = min(int(recipe["batch_size"]), self.n_train)
        self.steps = max(1, self.n_train // self.batch_size)  # incomplete last batch dropped
        self.images = torch.from_numpy(train_images).to(rt.device)
        self.labels = torch.from_numpy(np.asarray(train_labels, np.int64)).to(rt.device)
        rows = heldout_indices(len(test_images), int(recipe["eval_images"]), seed)
        self.eval_images = torch.from_numpy(test_images[rows]).to(rt.device)
        self.eval_targets = torch.from_numpy(np.asarray(test_labels[rows], np.int64)).to(rt.device)
        torch.manual_seed(torch_seed(seed, self.name, "init"))
        self.label_smoothing = float(recipe["label_smoothing"])
        model = create("classifier", arch=recipe["arch"], num_classes=NUM_CLASSES, head=recipe["head"])
        self.extra_meta = {"weights_init": load_pretrained(model, recipe["weights"]), "classes": NUM_CLASSES}
        self.model = model
        self.data = {"n_train": self.n_train, "n_heldout": len(rows)}

    def batch(self, index, epoch, step, generator):
        index = index.to(self.rt.device)
        x = augment(unit_range(self.images[index]), self.augment, generator) * 2.0 - 1.0
        return x, self.labels[index]

    def loss(self, output, target):
        return F.cross_entropy(output.float(), target, label_smoothing=self.label_smoothing)

    def metric_sum(self, output, target):
        return (output.argmax(1) == target).sum()

    def eval_input(self, rows):
        return normalize(self.eval_images[rows])


class EnhancerTask(Task):
    metric = "psnr"

    def __init__(
        self,
        name: str,
        *,
        train_images: np.ndarray,
        test_images: np.ndarray,
        recipe: dict,
        seed: int,
        rt: Runtime,
        rescale: str,
    ):
        network = recipe["network"]
        torch.manual_seed(torch_seed(seed, name, "init"))
        self.model = create(network)
        multiple = getattr(self.model, "multiple", 1)  # the autoencoders halve the image 5 times
        if train_images.shape[1] % multiple or train_images.shape[2] % multiple:
            raise TrainingError(
                f"enhancers.{name}: the {network} needs dataset.image_size to be a multiple of {multiple}, "
                f"got {train_images.shape[1]} px"
            )
        self.name, self.recipe, self.seed, self.rt, self.rescale = name, recipe, seed, rt, rescale
        self.specs = check_specs(recipe["degradations"])
        self.train_images = np.ascontiguousarray(train_images)
        self.n_train = len(train_images)
        self.input_size = list(train_images.shape[1:])
        self.batch_size = min(int(recipe["batch_size"]), self.n_train)
        self.steps = int(recipe["steps_per_epoch"]) or max(1, self.n_train // self.batch_size)
        rows = heldout_indices(len(test_images), int(recipe["eval_images"]), seed)
        clean = test_images[rows]
        degraded = degrade(clean, self.specs, seed=seed, stream="heldout", indices=rows, rescale=rescale, threads=1)
        self.eval_degraded = torch.from_numpy(degraded).to(rt.device)
        self.eval_targets = normalize(torch.from_numpy(clean).to(rt.device))
        baseline = psnr_pm1(normalize(self.eval_degraded), self.eval_targets).mean().item()
        log.info("%s: held-out PSNR of the degraded input itself: %.2f dB", name, baseline)
        self.extra_meta = {"degradations": self.specs, "rescale": rescale, "heldout_input_psnr": baseline}
        self.data = {"n_train": self.n_train, "n_heldout": len(rows)}

    def batch(self, index, epoch, step, generator):
        clean = self.train_images[index.numpy()]
        stream = f"{self.name}/epoch{epoch}/step{step}"
        degraded = degrade(clean, self.specs, seed=self.seed, stream=stream, rescale=self.rescale, threads=1)
        pair = torch.from_numpy(np.stack([degraded, clean]))
        if self.rt.cuda:
            pair = pair.pin_memory()
        pair = pair.to(self.rt.device, non_blocking=True)
        return normalize(pair[0]), normalize(pair[1])

    def loss(self, output, target):
        return F.mse_loss(output.float(), target)

    def metric_sum(self, output, target):
        return psnr_pm1(output, target).sum()

    def eval_input(self, rows):
        return normalize(self.eval_degraded[rows])
