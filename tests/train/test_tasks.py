"""The training tasks: held-out subsets, batches, losses, metrics and seeded initialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train.toydata import (
    AUTHORS_CLASSIFIER,
    CLASSIFIER,
    CPU,
    DENOISE,
    DENOISER,
    REFERENCE_DENOISER,
    UPSCALER,
    toy_images,
    toy_splits,
)

from cbir.degrade import degrade
from cbir.device import runtime
from cbir.imagemath import normalize
from cbir.seeding import torch_seed
from cbir.train.tasks import ClassifierTask, EnhancerTask, TrainingError, cpu_generator, heldout_indices

SPLITS = toy_splits()


def classifier_task(seed=0, recipe=CLASSIFIER) -> ClassifierTask:
    (train_images, train_labels), (test_images, test_labels) = SPLITS["train"], SPLITS["test"]
    return ClassifierTask(
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        recipe=recipe,
        seed=seed,
        rt=runtime(CPU, 1),
    )


def enhancer_task(name="upscaler", recipe=UPSCALER, seed=0, images=None) -> EnhancerTask:
    return EnhancerTask(
        name,
        train_images=SPLITS["train"][0] if images is None else images,
        test_images=SPLITS["test"][0] if images is None else images,
        recipe=recipe,
        seed=seed,
        rt=runtime(CPU, 1),
        rescale="minmax",
    )


def test_heldout_subset():
    subset = heldout_indices(100, 10, 0)
    assert len(subset) == 10 and np.all(np.diff(subset) > 0) and subset.max() < 100
    assert np.array_equal(subset, heldout_indices(100, 10, 0))
    assert not np.array_equal(subset, heldout_indices(100, 10, 1))
    assert np.array_equal(heldout_indices(100, 0, 0), np.arange(100))
    assert np.array_equal(heldout_indices(100, 200, 0), np.arange(100))
    # the subset is the start of the permutation drawn from the seed's "heldout" stream
    perm = torch.randperm(100, generator=cpu_generator(torch_seed(0, "heldout")))
    assert np.array_equal(subset, np.sort(perm[:10].numpy()))


def test_classifier_batches_loss_and_evaluation():
    task = classifier_task()
    assert (task.batch_size, task.steps, task.n_train, task.input_size) == (8, 5, 40, [32, 32])
    assert task.data == {"n_train": 40, "n_heldout": 20} and len(task.eval_targets) == 20
    order = task.epoch_order(cpu_generator(1))
    assert len(order) == 40 and sorted(order.tolist()) == list(range(40))  # one pass, incomplete batch dropped
    index = order[:8]
    x, y = task.batch(index, 0, 0, cpu_generator(2))
    assert x.shape == (8, 1, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(y, torch.from_numpy(SPLITS["train"][1][index.numpy()]).long())  # labels stay aligned
    assert not torch.allclose(x, normalize(torch.from_numpy(SPLITS["train"][0][index.numpy()])))  # augmented
    x2, _ = task.batch(index, 0, 0, cpu_generator(2))
    assert torch.equal(x, x2)
    logits = torch.tensor([[2.0, 0, 0, 0, 0], [0, 0, 3.0, 0, 0]])
    target = torch.tensor([0, 1])
    assert task.metric_sum(logits, target).item() == 1
    assert task.loss(logits, target).item() == pytest.approx(torch.nn.functional.cross_entropy(logits, target).item())
    loss, accuracy = task.evaluate(task.model)
    assert loss > 0 and 0 <= accuracy <= 1 and not task.model.training


def test_initial_weights_follow_the_seed():
    a, b, c = classifier_task(0), classifier_task(0), classifier_task(1)
    wa, wb, wc = (t.model.state_dict()["fc.weight"] for t in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    assert a.extra_meta == {"weights_init": "none", "classes": 5}


def test_authors_recipe_head_and_label_smoothing():
    task = classifier_task(recipe=AUTHORS_CLASSIFIER)
    assert isinstance(task.model.fc, torch.nn.Sequential) and task.model.arch_args["head"] == "mlp"
    assert classifier_task().model.arch_args["head"] == "fc"
    logits = torch.tensor([[2.0, 0, 0, 0, 0], [0, 0, 3.0, 0, 0]])
    target = torch.tensor([0, 1])
    smoothed = torch.nn.functional.cross_entropy(logits, target, label_smoothing=0.1).item()
    assert task.loss(logits, target).item() == pytest.approx(smoothed)
    assert smoothed != pytest.approx(torch.nn.functional.cross_entropy(logits, target).item(), abs=1e-3)
    x, _ = task.batch(torch.arange(8), 0, 0, cpu_generator(2))
    assert x.shape == (8, 1, 32, 32) and x.min() >= -1 and x.max() <= 1


def test_enhancer_batches_are_degraded_afresh_and_seeded():
    task = enhancer_task("denoiser", DENOISER)
    assert (task.batch_size, task.steps) == (8, 4)  # steps_per_epoch
    assert len(task.epoch_order(cpu_generator(0))) == 32
    index = torch.arange(8)
    degraded, clean = task.batch(index, 0, 0, None)
    assert degraded.shape == clean.shape == (8, 1, 32, 32)
    torch.testing.assert_close(clean, normalize(torch.from_numpy(SPLITS["train"][0][:8])))
    stream = degrade(SPLITS["train"][0][:8], DENOISE, seed=0, stream="denoiser/epoch0/step0", rescale="minmax",
                     threads=1)  # fmt: skip
    torch.testing.assert_close(degraded, normalize(torch.from_numpy(stream)))
    again, _ = task.batch(index, 0, 0, None)
    next_step, _ = task.batch(index, 0, 1, None)
    next_epoch, _ = task.batch(index, 1, 0, None)
    assert torch.equal(degraded, again)
    assert not torch.equal(degraded, next_step) and not torch.equal(degraded, next_epoch)
    out = torch.zeros(2, 1, 4, 4)
    assert task.metric_sum(out + 0.2, out).item() == pytest.approx(40.0, abs=1e-3)  # 2 images at 20 dB
    assert task.loss(out + 0.2, out).item() == pytest.approx(0.04)


def test_enhancer_heldout_is_degraded_once():
    task = enhancer_task("denoiser", DENOISER)
    rows = heldout_indices(40, 10, 0)
    expected = degrade(SPLITS["test"][0][rows], DENOISER["degradations"], seed=0, stream="heldout", indices=rows,
                       rescale="minmax", threads=1)  # fmt: skip
    assert np.array_equal(task.eval_degraded.numpy(), expected)
    torch.testing.assert_close(task.eval_targets, normalize(torch.from_numpy(SPLITS["test"][0][rows])))
    assert task.extra_meta["degradations"] == DENOISER["degradations"] and task.extra_meta["rescale"] == "minmax"
    assert task.extra_meta["heldout_input_psnr"] < 40
    loss, psnr = task.evaluate(task.model)
    assert loss > 0 and psnr > 0


def test_autoencoder_needs_a_multiple_of_32():
    images, _ = toy_images(10, 48, 0)
    with pytest.raises(TrainingError, match="multiple of 32"):
        enhancer_task("denoiser", DENOISER, images=images)
    with pytest.raises(TrainingError, match="reference_autoencoder needs .* multiple of 32"):
        enhancer_task("denoiser", REFERENCE_DENOISER, images=images)
    assert enhancer_task("upscaler", UPSCALER, images=images).input_size == [48, 48]  # SRCNN takes any size


def test_reference_autoencoder_task():
    task = enhancer_task("denoiser", REFERENCE_DENOISER)
    assert task.model.kind == "reference_autoencoder"
    again = enhancer_task("denoiser", REFERENCE_DENOISER)
    first, second = task.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)  # seeded initialisation
    loss, psnr = task.evaluate(task.model)
    assert loss > 0 and psnr > 0
