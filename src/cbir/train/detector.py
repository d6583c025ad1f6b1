"""The degradation detector's training (beyond the paper): which kind of degradation
(`cbir.degrade.KINDS`: none, noise, blur, lowres) a query image holds, so that a router can send
it to the restorer of that kind when nobody announces its degradation.

`pools` maps every kind to the degradation specs it is trained on: "none" to no spec (the clean
image), every other kind to specs of that kind only (`cbir.degrade.kind_of`), e.g. the query
sets' strengths and every severity of the sweeps of that family, so the detector is not tied to
one strength. Every training image gets a kind drawn uniformly over KINDS from (seed, name, epoch,
step) (stream "<name>/epoch<e>/step<s>/kind", by its position in the batch); the images of a kind
other than "none" are degraded by `cbir.degrade.degrade` with the stream
"<name>/epoch<e>/step<s>/<kind>", which draws one spec of the kind's pool per image. The network
input is what inference sees for a stored uint8 query: `normalize(from_stored(...))`. The loss is
the cross-entropy of the kind's index in KINDS, the metric the accuracy.

Held-out: `eval_images` validation images (fixed by the seed), each degraded once with a kind
drawn from the stream "heldout/kind" and a spec of its pool from the stream "heldout/<kind>",
both by the image's row in the validation split.

The pools and the rescale are not part of the recipe (they come from the run's query sets and
sweeps), so they join the resume fingerprint (`fingerprint_extra`) and the checkpoint's meta.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cbir.degrade import KIND_OF, KINDS, DegradationError, check_specs, degrade, spec_choices
from cbir.degrade.registry import check_shape
from cbir.device import Placement
from cbir.imagemath import from_stored, normalize
from cbir.inference import classify
from cbir.networks import KINDS as NETWORKS
from cbir.networks import create
from cbir.seeding import torch_seed
from cbir.train.tasks import Task, TrainingError, channels_of, heldout_indices

log = logging.getLogger("cbir.train")


def check_pools(name: str, pools: Mapping, image_shape: tuple[int, ...]) -> dict[str, list[dict]]:
    """`pools` with its specs checked (`cbir.degrade.check_specs`), in the order of KINDS: one
    pool per kind, "none" empty, every other kind non-empty and of that kind only, and every
    lowres level dividing the image side."""
    if not isinstance(pools, Mapping):
        raise TrainingError(f"{name}: pools must map each kind of {KINDS} to degradation specs, got {pools!r}")
    unknown = sorted(set(pools) - set(KINDS))
    if unknown:
        raise TrainingError(f"{name}: pools of unknown kind(s) {unknown}; the kinds are {list(KINDS)}")
    checked: dict[str, list[dict]] = {}
    for kind in KINDS:
        if kind not in pools:
            raise TrainingError(
                f"{name}: no pool for the kind {kind!r}: the detector must see every kind of {list(KINDS)}"
            )
        try:
            specs = check_specs(pools[kind])
            check_shape(np.zeros((0, *image_shape), np.uint8), specs)
        except DegradationError as exc:
            raise TrainingError(f"{name}: pool {kind!r}: {exc}") from exc
        if kind == "none" and specs:
            raise TrainingError(f"{name}: pool 'none' must be empty (clean images), got {specs}")
        if kind != "none" and not specs:
            raise TrainingError(f"{name}: pool {kind!r} is empty: no degradation of that kind to train on")
        for spec in specs:
            if KIND_OF[spec["name"]] != kind:
                raise TrainingError(
                    f"{name}: pool {kind!r} holds {spec['name']!r}, a degradation of the kind {KIND_OF[spec['name']]!r}"
                )
        checked[kind] = specs
    return checked


def degrade_kinds(
    images: np.ndarray,
    pools: dict[str, list[dict]],
    *,
    seed: int,
    stream: str,
    indices: np.ndarray,
    rescale: str,
) -> tuple[np.ndarray, np.ndarray]:
    """(degraded uint8 images, int64 kind index into KINDS of each): image j gets a kind drawn
    uniformly from (seed, "<stream>/kind", indices[j]) and, unless it is "none", a spec of that
    kind's pool from (seed, "<stream>/<kind>", indices[j])."""
    kinds = spec_choices(len(KINDS), seed=seed, stream=f"{stream}/kind", indices=indices)
    out = np.array(images, copy=True)
    for k, kind in enumerate(KINDS):
        rows = np.flatnonzero(kinds == k)
        if pools[kind] and rows.size:
            out[rows] = degrade(
                images[rows], pools[kind], seed=seed, stream=f"{stream}/{kind}", indices=indices[rows],
                rescale=rescale, threads=1,
            )  # fmt: skip
    return out, kinds


class DetectorTask(Task):
    """The detector's training; `pools` maps every kind of KINDS to its degradation specs (see the
    module docstring), `rescale` is the degradations' (config `degradation.rescale`)."""

    metric = "acc"

    def __init__(
        self,
        name: str,
        *,
        train_images: np.ndarray,
        heldout_images: np.ndarray,
        pools: Mapping[str, list[dict]],
        recipe: dict,
        seed: int,
        placement: Placement,
        rescale: str,
    ):
        channels = channels_of(name, train_images, heldout_images)
        self.pools = check_pools(name, pools, train_images.shape[1:])
        self.name, self.recipe, self.seed, self.placement, self.rescale = name, recipe, seed, placement, rescale
        torch.manual_seed(torch_seed(seed, name, "init"))
        arch_args = {key: recipe[key] for key in NETWORKS["detector"].config_keys}
        self.model = create("detector", **arch_args, image_channels=channels)
        self.train_images = np.ascontiguousarray(train_images)
        self.n_train = len(train_images)
        self.input_size = list(train_images.shape[1:])
        self.batch_size = min(int(recipe["batch_size"]), self.n_train)
        self.steps = int(recipe["steps_per_epoch"]) or max(1, self.n_train // self.batch_size)
        rows = heldout_indices(len(heldout_images), int(recipe["eval_images"]), seed)
        degraded, kinds = degrade_kinds(
            heldout_images[rows], self.pools, seed=seed, stream="heldout", indices=rows, rescale=rescale
        )
        self.eval_degraded = torch.from_numpy(degraded).to(placement.device)  # uint8, stored layout
        self.eval_targets = torch.from_numpy(kinds).to(placement.device)
        counts = np.bincount(kinds, minlength=len(KINDS))
        log.info("%s: held-out kinds %s", name, ", ".join(f"{k} {c}" for k, c in zip(KINDS, counts, strict=True)))
        self.extra_meta = {"kinds": list(KINDS), "pools": self.pools, "rescale": rescale}
        self.fingerprint_extra = {"pools": self.pools, "rescale": rescale}  # not in the recipe
        self.data = {"n_train": self.n_train, "n_heldout": len(rows)}

    def batch(self, index, epoch, step, generator):
        """(input, kind indices): the images `index`, each degraded with a kind drawn per image."""
        clean = self.train_images[index.numpy()]
        degraded, kinds = degrade_kinds(
            clean,
            self.pools,
            seed=self.seed,
            stream=f"{self.name}/epoch{epoch}/step{step}",
            indices=np.arange(len(clean)),
            rescale=self.rescale,
        )
        x = torch.from_numpy(degraded)
        if self.placement.cuda:
            x = x.pin_memory()
        x = x.to(self.placement.device, non_blocking=True)
        return normalize(from_stored(x)), torch.from_numpy(kinds).to(self.placement.device)

    def loss(self, output, target):
        return F.cross_entropy(output.float(), target)

    def metric_sum(self, output, target):
        return (output.argmax(1) == target).sum()

    def eval_input(self, rows):
        return normalize(from_stored(self.eval_degraded[rows]))


def predict_kinds(model: nn.Module, images: np.ndarray, *, batch_size: int) -> np.ndarray:
    """The kind (int64 index into KINDS) a trained detector predicts for uint8 stored images
    [N, H, W] or [N, H, W, 3]: `cbir.inference.classify`, normalised as in training."""
    return classify(model, images, batch_size=batch_size)
