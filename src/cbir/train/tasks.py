"""What differs between training the classifier and an enhancer: batches, loss, metric
and the held-out evaluation (paper section IV.B).

The classifier minimises cross-entropy (with the recipe's label_smoothing, also in the
held-out loss) on augmented training images (`cbir.augment`); its head is the recipe's
`head`, its trunk initialised from `weights` (`cbir.pretrained.load_pretrained`). Its
training split is one uint8 tensor on the device; each batch is cut from it by index,
normalised and augmented there. A robust key set (config `keys.<name>`) is the same
classifier whose recipe adds `degrade: {share, degradations}`: in every batch exactly
round(share * batch) images, at positions drawn from (seed, name, epoch, step), are
augmented like the rest and then degraded (`cbir.degrade.degrade` on the augmented image
quantised to uint8, stream "<name>/epoch<e>/step<s>", one of `degradations` drawn per image)
and min-max normalised, as a query is: degrading first would let the augmentation's bilinear
resampling smooth the noise and the blocks away, so training would not see what queries hold.
An enhancer trains on images degraded afresh every batch by `cbir.degrade.degrade` with the
stream "<name>/epoch<e>/step<s>", one of the recipe's degradations drawn per image. Its clean
batches are cut from the split in host memory (the degradations are numpy code) and moved to
the device with their degraded copies.

An enhancer's loss (recipe `loss`) is pixel * MSE(restored, clean) + feature *
MSE(f(restored'), f(clean)), both images on [-1, 1]. The second term is retrieval-aware
training (Liu et al., IJCAI 2018): f is the frozen trained classifier's embedding
(`Classifier.embed`, the retrieval key), so restoration is pushed towards what retrieval
compares. restored' is the output as the query set will store and embed it: clipped to
[-1, 1] (`to_uint8`) and min-max normalised per image (`normalize`, differentiable), as
`cbir.inference.embed` does with the stored restored query. The classifier stays in eval
mode with requires_grad off and outside the optimizer: only the restorer learns. With
feature 0 no classifier is used and the loss is exactly the plain MSE (pixel 1).

Held-out metrics after every epoch: the classifier's cross-entropy and accuracy on
`eval_images` validation images (whole training objects held out of training, never the test
split); an enhancer's MSE and PSNR on `eval_images` validation images degraded once with the
stream "heldout". Both subsets are fixed by the seed.

Tasks take arrays (uint8 images, grey [N, H, W] or colour [N, H, W, 3], int labels [N]), never
files. The network gets as many image channels as the training images have (`image_channels` in
its arch_args for colour); the held-out images (and a feature loss's classifier) must match.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cbir.augment import augment, check_params
from cbir.checkpoint import weights_sha256
from cbir.degrade import check_specs, degrade
from cbir.device import Placement
from cbir.imagemath import from_stored, image_channels, normalize, psnr_pm1, to_stored, unit_range
from cbir.inference import embed
from cbir.networks import ENHANCER_KINDS, KINDS, NUM_CLASSES, create, input_channels
from cbir.pretrained import load_pretrained
from cbir.seeding import torch_seed

log = logging.getLogger("cbir.train")

EVAL_BATCH = 256


class TrainingError(ValueError):
    """A training job cannot run as configured."""


def cpu_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def channels_of(name: str, train_images: np.ndarray, heldout_images: np.ndarray) -> int:
    """The image channels (1 or 3) of a task's training and held-out images, which must agree."""
    try:
        channels = [image_channels(images) for images in (train_images, heldout_images)]
    except ValueError as exc:
        raise TrainingError(f"{name}: {exc}") from exc
    if channels[0] != channels[1]:
        kinds = ["colour" if c == 3 else "grey" for c in channels]
        raise TrainingError(f"{name}: the training images are {kinds[0]} but the held-out images are {kinds[1]}")
    return channels[0]


def heldout_indices(n: int, count: int, seed: int) -> np.ndarray:
    """A fixed, sorted subset of `count` of range(n) (all when count is 0 or >= n)."""
    if count <= 0 or count >= n:
        return np.arange(n)
    perm = torch.randperm(n, generator=cpu_generator(torch_seed(seed, "heldout")))
    return np.sort(perm[:count].numpy())


class Task:
    """One training job: data, batches, loss, metric and held-out evaluation.

    Set by the subclasses: name, metric (column suffix: acc or psnr), model (freshly
    initialised, on the CPU), recipe, seed, placement, batch_size, steps (per epoch), n_train,
    input_size [H, W], data (sizes for the checkpoint's meta), extra_meta, eval_targets.
    Optional: loss_terms (names of the loss's parts, logged per epoch as train_<term>_mse)
    and fingerprint_extra (what else must match for a resume).
    """

    name: str
    metric: str
    model: nn.Module
    recipe: dict
    seed: int
    placement: Placement
    batch_size: int
    steps: int
    n_train: int
    input_size: list[int]
    data: dict
    extra_meta: dict
    eval_targets: torch.Tensor
    loss_terms: tuple[str, ...] = ()
    fingerprint_extra: dict = {}  # never mutated: subclasses assign their own

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

    def loss_parts(self, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(the loss to minimise, its unweighted parts in the order of `loss_terms`)."""
        return self.loss(output, target), []

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
            x = self.placement.prepare_input(self.eval_input(slice(start, start + EVAL_BATCH)))
            y = self.eval_targets[start : start + EVAL_BATCH]
            with self.placement.autocast():
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
        heldout_images: np.ndarray,
        heldout_labels: np.ndarray,
        recipe: dict,
        seed: int,
        placement: Placement,
        name: str = "classifier",
        rescale: str | None = None,
        class_names: list[str] | None = None,
    ):
        self.name, self.recipe, self.seed, self.placement = name, recipe, seed, placement
        # the head has one output per class the training split names (smallNORB: its five)
        self.class_names = list(class_names) if class_names is not None else None
        num_classes = len(self.class_names) if self.class_names is not None else NUM_CLASSES
        for role, labels in (("training", train_labels), ("held-out", heldout_labels)):
            if len(labels) and not 0 <= int(np.min(labels)) <= int(np.max(labels)) < num_classes:
                raise TrainingError(f"{name}: {role} labels outside 0..{num_classes - 1} ({num_classes} classes)")
        self.augment = check_params(recipe["augment"])
        robust = recipe.get("degrade")
        self.share = float(robust["share"]) if robust else 0.0
        self.specs = check_specs(robust["degradations"]) if robust else []
        if self.share and (not self.specs or rescale is None):
            raise TrainingError(f"{name}: degrade.share {self.share} needs degradations and degradation.rescale")
        self.rescale = rescale
        # Stability training (Zheng et al., CVPR 2016): the degraded images' clean twins go
        # through the network too, and the MSE between the two embeddings joins the loss.
        self.consistency = float(robust.get("consistency", 0.0)) if robust else 0.0
        channels = channels_of(name, train_images, heldout_images)
        self.n_train = len(train_images)
        self.input_size = list(train_images.shape[1:])
        self.batch_size = min(int(recipe["batch_size"]), self.n_train)
        self.steps = max(1, self.n_train // self.batch_size)  # incomplete last batch dropped
        # [N, C, H, W] on the device: a colour split is permuted once here, not every batch
        self.images = from_stored(torch.from_numpy(train_images).to(placement.device)).contiguous()
        self.labels = torch.from_numpy(np.asarray(train_labels, np.int64)).to(placement.device)
        rows = heldout_indices(len(heldout_images), int(recipe["eval_images"]), seed)
        self.eval_images = from_stored(torch.from_numpy(heldout_images[rows]).to(placement.device)).contiguous()
        self.eval_targets = torch.from_numpy(np.asarray(heldout_labels[rows], np.int64)).to(placement.device)
        torch.manual_seed(torch_seed(seed, self.name, "init"))
        self.label_smoothing = float(recipe["label_smoothing"])
        model = create(
            "classifier", arch=recipe["arch"], num_classes=num_classes, head=recipe["head"], image_channels=channels
        )
        self.extra_meta = {"weights_init": load_pretrained(model, recipe["weights"]), "classes": num_classes}
        if self.class_names is not None:
            counts = np.bincount(np.asarray(train_labels, np.int64), minlength=num_classes)
            self.extra_meta |= {"class_names": self.class_names, "class_counts": counts.tolist()}
        self.model = model
        self.data = {"n_train": self.n_train, "n_heldout": len(rows)}
        if self.share:
            self.extra_meta["degrade"] = {
                "share": self.share,
                "degradations": self.specs,
                "rescale": rescale,
                "consistency": self.consistency,
            }
        self._features, self._pairs = None, None
        if self.share and self.consistency > 0:
            self.loss_terms = ("consistency",)
            self.model.fc.register_forward_pre_hook(self._keep_features)

    def _keep_features(self, module, args):
        self._features = args[0]  # the embedding: the head's input

    def degraded_positions(self, n: int, epoch: int, step: int) -> torch.Tensor:
        """Sorted positions, within a batch of n, of the round(share * n) images to degrade."""
        count = round(self.share * n)
        if count == 0:
            return torch.zeros(0, dtype=torch.int64)
        generator = cpu_generator(torch_seed(self.seed, self.name, f"epoch{epoch}", f"step{step}", "degraded"))
        return torch.randperm(n, generator=generator)[:count].sort().values

    def batch(self, index, epoch, step, generator):
        """(input, labels): the batch, round(share * batch) of its images degraded; with a
        consistency weight the degraded images' clean twins follow as extra rows."""
        index = index.to(self.placement.device)
        x = augment(unit_range(self.images[index]), self.augment, generator)
        rows = self.degraded_positions(len(index), epoch, step).to(self.placement.device)
        self._pairs = None
        if len(rows):  # degrade the augmented image, as a query is degraded after capture
            clean = x[rows]
            chosen = to_stored((clean * 255.0).round_().to(torch.uint8)).cpu().numpy()
            stream = f"{self.name}/epoch{epoch}/step{step}"
            degraded = degrade(chosen, self.specs, seed=self.seed, stream=stream, rescale=self.rescale, threads=1)
            x = x.clone()
            x[rows] = unit_range(from_stored(torch.from_numpy(degraded).to(self.placement.device)))
            if self.consistency > 0:
                self._pairs = rows
                x = torch.cat([x, clean])
        return x * 2.0 - 1.0, self.labels[index]

    def loss_parts(self, output, target):
        n = len(target)
        loss = self.loss(output, target)
        if self.consistency <= 0:
            return loss, []
        if self._pairs is None:  # no image of this batch was degraded
            zero = output.new_zeros((), dtype=torch.float32)
            return loss, [zero]
        features = self._features.float()
        mse = F.mse_loss(features[self._pairs], features[n:].detach())  # clean twins: the anchors
        return loss + self.consistency * mse, [mse]

    def loss(self, output, target):  # rows past the targets are clean twins (consistency only)
        return F.cross_entropy(output[: len(target)].float(), target, label_smoothing=self.label_smoothing)

    def metric_sum(self, output, target):
        return (output[: len(target)].argmax(1) == target).sum()

    def eval_input(self, rows):
        return normalize(self.eval_images[rows])


class EnhancerTask(Task):
    """An enhancer's training; `classifier` (a trained `Classifier`) and `classifier_path`
    (where it came from, for the meta) are needed only when the recipe's loss.feature > 0,
    and ignored otherwise."""

    metric = "psnr"

    def __init__(
        self,
        name: str,
        *,
        train_images: np.ndarray,
        heldout_images: np.ndarray,
        recipe: dict,
        seed: int,
        placement: Placement,
        rescale: str,
        classifier: nn.Module | None = None,
        classifier_path: str | None = None,
    ):
        network = recipe["network"]
        if network not in ENHANCER_KINDS:
            raise TrainingError(f"enhancers.{name}.network: unknown restoration network {network!r}")
        self.pixel_weight, self.feature_weight = float(recipe["loss"]["pixel"]), float(recipe["loss"]["feature"])
        if self.pixel_weight <= 0 and self.feature_weight <= 0:
            raise TrainingError(f"enhancers.{name}.loss: pixel and feature are both 0, nothing to minimise")
        if self.feature_weight > 0 and classifier is None:
            raise TrainingError(
                f"enhancers.{name}.loss.feature is {self.feature_weight} but no trained classifier was given "
                "(the feature term compares its embeddings); set it to 0 or pass the classifier checkpoint"
            )
        channels = channels_of(f"enhancers.{name}", train_images, heldout_images)
        if self.feature_weight > 0 and input_channels(classifier) != channels:
            raise TrainingError(
                f"enhancers.{name}.loss.feature: the classifier takes {input_channels(classifier)}-channel images "
                f"but the training images have {channels} channels; use a classifier trained on these images"
            )
        torch.manual_seed(torch_seed(seed, name, "init"))
        arch_args = {key: recipe[key] for key in getattr(KINDS[network], "config_keys", ())}
        self.model = create(network, **arch_args, image_channels=channels)
        multiple = getattr(self.model, "multiple", 1)  # the autoencoders halve the image 5 times, a unet scales-1
        if train_images.shape[1] % multiple or train_images.shape[2] % multiple:
            raise TrainingError(
                f"enhancers.{name}: the {network} needs dataset.image_size to be a multiple of {multiple}, "
                f"got {train_images.shape[1]} px"
            )
        self.name, self.recipe, self.seed, self.placement, self.rescale = name, recipe, seed, placement, rescale
        self.specs = check_specs(recipe["degradations"])
        self.train_images = np.ascontiguousarray(train_images)
        self.n_train = len(train_images)
        self.input_size = list(train_images.shape[1:])
        self.batch_size = min(int(recipe["batch_size"]), self.n_train)
        self.steps = int(recipe["steps_per_epoch"]) or max(1, self.n_train // self.batch_size)
        # the first round(clean_share x batch) pairs of every batch (a random subset: the batch's rows
        # are a random draw) stay clean, with the identity as target: a restorer that sees only
        # degraded inputs alters clean queries too (its blind cost)
        self.n_clean = round(float(recipe.get("clean_share", 0.0)) * self.batch_size)
        rows = heldout_indices(len(heldout_images), int(recipe["eval_images"]), seed)
        clean = heldout_images[rows]
        degraded = degrade(clean, self.specs, seed=seed, stream="heldout", indices=rows, rescale=rescale, threads=1)
        self.eval_degraded = torch.from_numpy(degraded).to(placement.device)
        self.eval_targets = normalize(from_stored(torch.from_numpy(clean).to(placement.device)))
        baseline = psnr_pm1(self.eval_input(slice(None)), self.eval_targets).mean().item()
        log.info("%s: held-out PSNR of the degraded input itself: %.2f dB", name, baseline)
        loss = {"pixel": self.pixel_weight, "feature": self.feature_weight}
        self.extra_meta = {"degradations": self.specs, "rescale": rescale, "heldout_input_psnr": baseline, "loss": loss}
        self.extra_meta["clean_share"] = float(recipe.get("clean_share", 0.0))
        self.data = {"n_train": self.n_train, "n_heldout": len(rows)}
        self.classifier, self.train_goals = None, None
        if self.feature_weight > 0:
            self.classifier = placement.prepare_model(classifier).eval().requires_grad_(False)
            identity = {"path": None if classifier_path is None else str(classifier_path)}
            identity["digest"] = weights_sha256(classifier.state_dict())
            self.extra_meta["feature_classifier"] = identity
            self.fingerprint_extra = {"feature_classifier": identity["digest"]}  # the path may move
            self.loss_terms = ("pixel", "feature")
            # f(clean) is the same each time an image is drawn: embedded once (a third of the feature
            # term's work per step) when training draws more images than there are
            if int(recipe["epochs"]) * self.steps * self.batch_size > self.n_train:
                self.train_goals = torch.from_numpy(embed(self.classifier, self.train_images, batch_size=EVAL_BATCH))
        self._goal = None  # the goals of the batch `batch` returned last, for `loss_parts`

    def batch(self, index, epoch, step, generator):
        clean = self.train_images[index.numpy()]
        stream = f"{self.name}/epoch{epoch}/step{step}"
        degraded = degrade(clean, self.specs, seed=self.seed, stream=stream, rescale=self.rescale, threads=1)
        degraded[: self.n_clean] = clean[: self.n_clean]
        if self.train_goals is not None:
            self._goal = self.train_goals[index].to(self.placement.device)
        pair = torch.from_numpy(np.stack([degraded, clean]))
        if self.placement.cuda:
            pair = pair.pin_memory()
        pair = pair.to(self.placement.device, non_blocking=True)
        return normalize(from_stored(pair[0])), normalize(from_stored(pair[1]))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """The frozen classifier's embedding of normalised images [N, C, H, W] (float32 [N, D])."""
        with self.placement.autocast():
            return self.classifier.embed(self.placement.prepare_input(images)).float()

    def loss_parts(self, output, target):
        pixel = F.mse_loss(output.float(), target)
        if self.classifier is None:
            return self.pixel_weight * pixel, []  # x 1.0 is exact: the plain MSE of the paper's recipe
        goal, self._goal = self._goal, None  # set by `batch` for this target; evaluation embeds its own
        if goal is None:
            with torch.no_grad():
                goal = self.embed(target)
        feature = F.mse_loss(self.embed(normalize(output.float().clamp(-1.0, 1.0))), goal)
        return self.pixel_weight * pixel + self.feature_weight * feature, [pixel, feature]

    def loss(self, output, target):
        return self.loss_parts(output, target)[0]

    def metric_sum(self, output, target):
        return psnr_pm1(output, target).sum()

    def eval_input(self, rows):
        return normalize(from_stored(self.eval_degraded[rows]))
