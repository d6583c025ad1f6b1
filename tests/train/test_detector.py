"""The degradation detector: its network, its training task (kinds drawn per image, pools
checked, held-out set) and a short real training run that learns the kinds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from train.toydata import CPU, colourise

from cbir.degrade import KINDS, degrade
from cbir.device import placement
from cbir.imagemath import from_stored, normalize
from cbir.networks import ENHANCER_KINDS, Detector, NetworkError, architecture, build, create
from cbir.train.detector import DetectorTask, predict_kinds
from cbir.train.loop import digest, train
from cbir.train.tasks import TrainingError, cpu_generator

# the demo strengths (config/config.yaml's query sets)
POOLS = {
    "none": [],
    "noise": [
        {"name": "gaussian", "sigma": 0.34},
        {"name": "salt_pepper", "amount": 0.1},
        {"name": "speckle", "amount": 0.34},
    ],
    "blur": [{"name": "motion_blur", "sigma": 0.19, "T": 1.0, "zero_centre": True}],
    "lowres": [{"name": "lowres", "level": 1}, {"name": "lowres", "level": 2}],
}
RECIPE = {
    "width": 16,
    "epochs": 6,
    "batch_size": 32,
    "lr": 3e-3,
    "lr_step": 4,
    "lr_gamma": 0.5,
    "steps_per_epoch": 0,
    "eval_images": 200,
}


def scenes(n: int, seed: int, size: int = 32) -> np.ndarray:
    """uint8 [n, size, size]: a gentle gradient with four flat rectangles of random grey levels
    on it (sharp edges: the detail blur removes and low resolution coarsens)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    slope = rng.uniform(-0.2, 0.2, (2, n, 1, 1))
    images = 0.3 + (slope[0] * yy + slope[1] * xx) / size
    for _ in range(4):
        y0, x0 = rng.integers(0, size - 4, (2, n, 1, 1))
        h, w = rng.integers(4, size // 2, (2, n, 1, 1))
        box = (yy >= y0) & (yy < y0 + h) & (xx >= x0) & (xx < x0 + w)
        images = np.where(box, rng.uniform(0, 1, (n, 1, 1)), images)
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


TRAIN, HELDOUT = scenes(400, 0), scenes(300, 1)


def detector_task(pools=POOLS, recipe=RECIPE, images=(TRAIN, HELDOUT), seed=0) -> DetectorTask:
    return DetectorTask(
        "detector",
        train_images=images[0],
        heldout_images=images[1],
        pools=pools,
        recipe=recipe,
        seed=seed,
        placement=placement(CPU, 2),
        rescale="minmax",
    )


# ---------------------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------------------


def test_detector_network_shapes_layout_and_registry():
    torch.manual_seed(0)
    model = create("detector", width=8).eval()
    assert isinstance(model, Detector) and model.kind == "detector" and Detector.config_keys == ("width",)
    assert model.arch_args == {"width": 8} and Detector().arch_args == {"width": 16}
    assert "detector" not in ENHANCER_KINDS  # it maps images to logits, not to images
    for shape in [(3, 1, 32, 32), (2, 1, 24, 40), (1, 1, 7, 9)]:  # any size
        assert model(torch.randn(shape)).shape == (shape[0], len(KINDS)) == (shape[0], 4)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 8, 16, 32]
    assert [c.stride for c in convs] == [(1, 1), (1, 1), (2, 2), (2, 2)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 4
    assert (model.head.in_features, model.head.out_features) == (64, 4)  # average and maximum of 32 channels
    colour = create("detector", width=8, image_channels=3).eval()
    assert colour.arch_args == {"width": 8, "image_channels": 3} and colour.features[0].in_channels == 3
    assert colour(torch.randn(2, 3, 32, 32)).shape == (2, 4)
    with pytest.raises(NetworkError, match="detector: needs width >= 1"):
        Detector(width=0)
    with pytest.raises(NetworkError, match="detector: image_channels"):
        Detector(image_channels=2)


@pytest.mark.parametrize("args", [{"width": 8}, {"width": 4, "image_channels": 3}])
def test_detector_build_from_meta_round_trip(args):
    torch.manual_seed(1)
    model = create("detector", **args).eval()
    meta = architecture(model)
    assert meta == {"kind": "detector", "arch_args": args}
    rebuilt = build(meta).eval()
    assert list(rebuilt.state_dict()) == list(model.state_dict())
    x = torch.randn(2, args.get("image_channels", 1), 32, 32)
    assert not torch.equal(rebuilt(x), model(x))  # freshly initialised: the test can fail
    rebuilt.load_state_dict(model.state_dict())
    torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)


# ---------------------------------------------------------------------------------------
# the task
# ---------------------------------------------------------------------------------------


def test_batches_draw_every_kind_reproducibly():
    task = detector_task(recipe={**RECIPE, "batch_size": 400})
    assert (task.batch_size, task.steps, task.n_train, task.input_size) == (400, 1, 400, [32, 32])
    index = torch.arange(400)
    x, y = task.batch(index, 0, 0, cpu_generator(0))
    assert x.shape == (400, 1, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= -1 and x.max() <= 1
    counts = np.bincount(y.numpy(), minlength=4)
    assert counts.sum() == 400 and all(70 <= c <= 130 for c in counts), counts  # about a quarter each
    by_kind = {kind: np.flatnonzero(y.numpy() == k) for k, kind in enumerate(KINDS)}
    clean = normalize(from_stored(torch.from_numpy(TRAIN)))
    # clean rows are the clean images as a query is normalised
    none = by_kind["none"]
    assert torch.equal(x[none], clean[none])
    assert not torch.equal(x[by_kind["noise"]], clean[by_kind["noise"]])
    assert not torch.equal(x[by_kind["blur"]], clean[by_kind["blur"]])

    def constant_blocks(images):  # every 2x2 block of each image one value
        return all(torch.equal(images[..., dy::2, dx::2], images[..., ::2, ::2]) for dy in (0, 1) for dx in (0, 1))

    assert constant_blocks(x[by_kind["lowres"]])
    assert not constant_blocks(x[by_kind["noise"]]) and not constant_blocks(x[none])
    # a degraded row is `degrade` of its pool with the kind's stream, by its position in the batch
    noise = by_kind["noise"]
    expected = degrade(
        TRAIN[noise], POOLS["noise"], seed=0, stream="detector/epoch0/step0/noise", indices=noise, rescale="minmax",
        threads=1,
    )  # fmt: skip
    assert torch.equal(x[noise], normalize(from_stored(torch.from_numpy(expected))))
    # the same (seed, epoch, step) gives the same batch; another step another draw
    x2, y2 = task.batch(index, 0, 0, cpu_generator(5))
    assert torch.equal(x, x2) and torch.equal(y, y2)
    _, y3 = task.batch(index, 0, 1, cpu_generator(0))
    assert not torch.equal(y, y3)
    _, y4 = detector_task(seed=1, recipe={**RECIPE, "batch_size": 400}).batch(index, 0, 0, cpu_generator(0))
    assert not torch.equal(y, y4)


def test_heldout_set_meta_and_loss(caplog):
    with caplog.at_level("INFO", logger="cbir.train"):
        task = detector_task(recipe={**RECIPE, "eval_images": 120})
    assert task.data == {"n_train": 400, "n_heldout": 120} and len(task.eval_targets) == 120
    counts = np.bincount(task.eval_targets.numpy(), minlength=4)
    assert all(counts > 15), counts
    assert f"held-out kinds none {counts[0]}, noise {counts[1]}, blur {counts[2]}, lowres {counts[3]}" in caplog.text
    assert task.eval_degraded.dtype == torch.uint8 and task.eval_degraded.shape == (120, 32, 32)
    again = detector_task(recipe={**RECIPE, "eval_images": 120})
    assert torch.equal(task.eval_degraded, again.eval_degraded) and torch.equal(task.eval_targets, again.eval_targets)
    none = task.eval_targets == 0
    x = task.eval_input(slice(None))
    assert x.shape == (120, 1, 32, 32) and torch.equal(x[none], normalize(from_stored(task.eval_degraded[none])))
    assert task.extra_meta == {"kinds": list(KINDS), "pools": POOLS, "rescale": "minmax"}
    assert task.fingerprint_extra == {"pools": POOLS, "rescale": "minmax"}
    logits = torch.tensor([[2.0, 0, 0, 0], [0, 0, 3.0, 0], [0, 0, 0, 1.0]])
    target = torch.tensor([0, 1, 3])
    assert task.metric_sum(logits, target).item() == 2
    assert task.loss(logits, target).item() == pytest.approx(nn.functional.cross_entropy(logits, target).item())


def test_pools_in_another_order_and_int_like_values_are_the_same_pools():
    reordered = {kind: POOLS[kind] for kind in reversed(KINDS)}
    reordered["lowres"] = [{"level": 1.0, "name": "lowres"}, {"name": "lowres", "level": 2}]
    task = detector_task(pools=reordered)
    assert list(task.pools) == list(KINDS) and task.pools == POOLS
    assert torch.equal(task.eval_targets, detector_task().eval_targets)


MIXED_BLUR = [*POOLS["blur"], {"name": "gaussian", "sigma": 0.1}]  # a noise among the blurs


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"blur": MIXED_BLUR}, r"detector: pool 'blur' holds 'gaussian', a degradation of the kind 'noise'"),
        ({"none": [{"name": "lowres", "level": 1}]}, r"detector: pool 'none' must be empty"),
        ({"noise": []}, r"detector: pool 'noise' is empty"),
        ({"lowres": None}, r"detector: no pool for the kind 'lowres'"),
        ({"shear": []}, r"detector: pools of unknown kind\(s\) \['shear'\]"),
        ({"blur": [{"name": "motion_blur", "sigma": 0.19}]}, r"detector: pool 'blur':.*missing parameter"),
        ({"lowres": [{"name": "lowres", "level": 3}]}, r"detector: pool 'lowres':.*divisible by 8, got 36x36"),
    ],
)
def test_bad_pools_are_rejected(change, message):
    pools = {**POOLS, **change}
    pools = {kind: specs for kind, specs in pools.items() if specs is not None}
    images = (scenes(8, 0, 36), scenes(8, 1, 36))
    detector_task(pools=POOLS, recipe=RECIPE, images=images)  # the 36 px images themselves are fine
    with pytest.raises(TrainingError, match=message):
        detector_task(pools=pools, images=images)


def test_colour_task_trains_a_colour_detector():
    task = detector_task(recipe={**RECIPE, "eval_images": 20}, images=(colourise(TRAIN[:64]), colourise(HELDOUT[:40])))
    assert task.model.arch_args == {"width": 16, "image_channels": 3} and task.input_size == [32, 32, 3]
    x, y = task.batch(torch.arange(16), 0, 0, cpu_generator(0))
    assert x.shape == (16, 3, 32, 32) and y.shape == (16,)
    assert task.eval_input(slice(None)).shape == (20, 3, 32, 32)
    with pytest.raises(TrainingError, match="detector: the training images are grey but the held-out images are"):
        detector_task(images=(TRAIN, colourise(HELDOUT)))


def test_initial_weights_follow_the_seed():
    a, b, c = detector_task(), detector_task(), detector_task(seed=1)
    wa, wb, wc = (t.model.state_dict()["head.weight"] for t in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


# ---------------------------------------------------------------------------------------
# a short real training run
# ---------------------------------------------------------------------------------------


def test_training_learns_the_kinds(tmp_path):
    task = detector_task()
    digests = {"train": digest(TRAIN, np.zeros(len(TRAIN))), "validation": digest(HELDOUT, np.zeros(len(HELDOUT)))}
    trained = train(task, digests=digests, source="toy", runtime=CPU, partial=tmp_path / "p", stop_after=None)
    history = trained.history
    assert [r["epoch"] for r in history] == [1, 2, 3, 4, 5, 6]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["heldout_acc"] > 0.8, [r["heldout_acc"] for r in history]  # chance: 0.25
    meta = trained.meta
    assert meta["kind"] == "detector" and meta["kinds"] == list(KINDS) and meta["pools"] == POOLS
    assert meta["fingerprint"]["pools"] == POOLS and meta["fingerprint"]["rescale"] == "minmax"
    # the checkpoint alone rebuilds the detector, and inference predicts what the evaluation scored
    model = build(meta)
    model.load_state_dict(trained.state_dict)
    predicted = predict_kinds(model, task.eval_degraded.numpy(), batch_size=64)
    assert predicted.dtype == np.int64 and predicted.shape == (200,)
    accuracy = float((predicted == task.eval_targets.numpy()).mean())
    assert accuracy == pytest.approx(history[-1]["heldout_acc"])
    with pytest.raises(ValueError, match="detector takes grey images"):
        predict_kinds(model, colourise(HELDOUT[:4]), batch_size=4)
