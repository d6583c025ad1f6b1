"""The training tasks: held-out subsets, batches, losses, metrics and seeded initialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from train.toydata import (
    AUTHORS_CLASSIFIER,
    CLASSIFIER,
    CPU,
    DENOISE,
    DENOISER,
    FEATURE_DENOISER,
    REFERENCE_DENOISER,
    RESIDUAL_DENOISER,
    UNET_DENOISER,
    UPSCALER,
    toy_images,
    toy_splits,
)

from cbir.checkpoint import weights_sha256
from cbir.degrade import degrade
from cbir.device import placement
from cbir.imagemath import normalize, unit_range
from cbir.networks import Classifier
from cbir.seeding import torch_seed
from cbir.train.tasks import (
    ClassifierTask,
    EnhancerTask,
    TrainingError,
    cpu_generator,
    heldout_indices,
)

SPLITS = toy_splits()


def classifier_task(seed=0, recipe=CLASSIFIER, **key_set) -> ClassifierTask:
    """The classifier's task on the toy splits; `key_set`: name and rescale of a robust key set."""
    (train_images, train_labels), (heldout_images, heldout_labels) = SPLITS["train"], SPLITS["test"]
    return ClassifierTask(
        train_images=train_images,
        train_labels=train_labels,
        heldout_images=heldout_images,
        heldout_labels=heldout_labels,
        recipe=recipe,
        seed=seed,
        placement=placement(CPU, 1),
        **key_set,
    )


def enhancer_task(name="upscaler", recipe=UPSCALER, seed=0, images=None, classifier=None) -> EnhancerTask:
    return EnhancerTask(
        name,
        train_images=SPLITS["train"][0] if images is None else images,
        heldout_images=SPLITS["test"][0] if images is None else images,
        recipe=recipe,
        seed=seed,
        placement=placement(CPU, 1),
        rescale="minmax",
        classifier=classifier,
        classifier_path=None if classifier is None else "models/classifier.pt",
    )


def toy_classifier(seed=0) -> Classifier:
    torch.manual_seed(seed)
    return Classifier("resnet18").eval()


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


@pytest.mark.parametrize(("share", "expected"), [(0.0, 0), (0.2, 2), (0.5, 4)])
def test_enhancer_batches_keep_the_clean_share_clean(share, expected):
    """round(share x 8) pairs of every batch are clean -> clean (the identity); the rest are degraded
    exactly as without a clean share."""
    task = enhancer_task("denoiser", {**DENOISER, "clean_share": share})
    base = enhancer_task("denoiser", DENOISER)
    index = torch.randperm(32, generator=cpu_generator(3))[:8]
    degraded, clean = task.batch(index, 1, 2, None)
    reference, _ = base.batch(index, 1, 2, None)
    same = [torch.equal(d, c) for d, c in zip(degraded, clean, strict=True)]
    assert same == [True] * expected + [False] * (8 - expected)
    assert torch.equal(degraded[expected:], reference[expected:])
    assert task.extra_meta["clean_share"] == share


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


# ---------------------------------------------------------------------------------------
# residual restorers and the retrieval-aware (feature) loss
# ---------------------------------------------------------------------------------------


def test_residual_and_unet_tasks_take_their_size_from_the_recipe():
    residual, unet = enhancer_task("denoiser", RESIDUAL_DENOISER), enhancer_task("denoiser", UNET_DENOISER)
    assert residual.model.arch_args == {"width": 8, "depth": 4}
    assert unet.model.arch_args == {"width": 8, "scales": 2}
    # they start as the identity: the held-out PSNR is that of the degraded input
    assert unet.evaluate(unet.model)[1] == pytest.approx(unet.extra_meta["heldout_input_psnr"], abs=1e-4)
    images, _ = toy_images(10, 30, 0)
    with pytest.raises(TrainingError, match="enhancers.denoiser: the unet needs .* multiple of 4, got 30 px"):
        enhancer_task("denoiser", {**UNET_DENOISER, "scales": 3}, images=images)
    assert enhancer_task("denoiser", RESIDUAL_DENOISER, images=images).input_size == [30, 30]  # any size
    assert enhancer_task("denoiser", DENOISER).model.arch_args == {"channels": [16, 32, 64, 128, 256]}


def test_feature_loss_needs_a_classifier_and_some_weight():
    with pytest.raises(TrainingError, match=r"enhancers.denoiser.loss.feature is 0.5 but no trained classifier"):
        enhancer_task("denoiser", FEATURE_DENOISER)
    with pytest.raises(TrainingError, match=r"enhancers.denoiser.loss: pixel and feature are both 0"):
        enhancer_task("denoiser", {**DENOISER, "loss": {"pixel": 0.0, "feature": 0.0}})
    with pytest.raises(TrainingError, match=r"enhancers.denoiser.network: unknown .* 'classifier'"):
        enhancer_task("denoiser", {**DENOISER, "network": "classifier"})


class Untouchable(nn.Module):
    """A stand-in classifier that fails on any use."""

    def embed(self, x):
        raise AssertionError("the classifier was used")

    def forward(self, x):
        raise AssertionError("the classifier was used")


def test_without_feature_weight_the_classifier_is_never_used():
    task = enhancer_task("denoiser", RESIDUAL_DENOISER, classifier=Untouchable())
    assert task.classifier is None and task.loss_terms == () and task.fingerprint_extra == {}
    assert "feature_classifier" not in task.extra_meta and task.extra_meta["loss"] == {"pixel": 1.0, "feature": 0.0}
    x, y = task.batch(torch.arange(8), 0, 0, None)
    loss, parts = task.loss_parts(task.model(x), y)
    assert parts == [] and loss.item() == pytest.approx(torch.nn.functional.mse_loss(x, y).item())
    task.evaluate(task.model)


def _perturb_last_conv(model: nn.Module) -> None:
    """Leave the identity start, so every layer gets a gradient."""
    last = [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]
    with torch.no_grad():
        last.weight.copy_(torch.randn(last.weight.shape, generator=torch.Generator().manual_seed(0)) * 0.1)


def test_feature_term_gradient_reaches_only_the_restorer():
    classifier = toy_classifier()
    task = enhancer_task("denoiser", FEATURE_DENOISER, classifier=classifier)
    assert task.classifier is classifier and not classifier.training
    assert task.loss_terms == ("pixel", "feature")
    model = task.model.train()
    _perturb_last_conv(model)
    x, y = task.batch(torch.arange(8), 0, 0, None)
    _, (pixel, feature) = task.loss_parts(model(x), y)
    assert feature.item() > 0
    feature.backward()
    assert all(p.grad is None and not p.requires_grad for p in classifier.parameters())
    grads = {name: p.grad for name, p in model.named_parameters()}
    assert all(g is not None and g.abs().sum() > 0 for g in grads.values()), [k for k, g in grads.items() if g is None]


def test_feature_goals_embedded_once_are_the_goals_embedded_per_batch():
    classifier = toy_classifier()
    task = enhancer_task("denoiser", FEATURE_DENOISER, classifier=classifier)
    # 3 epochs x 4 steps x 8 images > the training images: the clean images are embedded once
    assert task.n_train < 96 and task.train_goals.shape == (task.n_train, classifier.embedding_size)
    index = torch.tensor([5, 0, 3, 3, 9, 1, 2, 7])
    x, y = task.batch(index, 0, 0, None)
    output = x.clone()  # the noisy input: a feature loss above zero
    cached = task.loss_parts(output, y)[1][1]
    assert task._goal is None  # used up by this target
    uncached = task.loss_parts(output, y)[1][1]  # no goal pending: embeds y itself
    assert cached.item() > 1e-5 and cached.item() == pytest.approx(uncached.item(), rel=1e-4)
    # a training that draws fewer images than there are embeds each batch instead
    few = enhancer_task("denoiser", {**FEATURE_DENOISER, "epochs": 1, "steps_per_epoch": 1}, classifier=classifier)
    assert few.train_goals is None


def test_feature_term_compares_embeddings_of_the_renormalised_output():
    classifier = toy_classifier()
    task = enhancer_task("denoiser", FEATURE_DENOISER, classifier=classifier)
    _, y = task.batch(torch.arange(8), 0, 0, None)
    loss, (pixel, feature) = task.loss_parts(y.clone(), y)
    assert loss.item() == pixel.item() == feature.item() == 0
    # an output of lower contrast is what the stored query looks like after per-image min-max: no feature loss
    loss, (pixel, feature) = task.loss_parts(0.5 * y, y)
    assert pixel.item() > 0.01 and feature.item() < 1e-8
    # out of range values are clipped first, as to_uint8 does when the query set is stored
    loss, (pixel, feature) = task.loss_parts(y * 3, y)
    assert feature.item() > 1e-4
    clipped = normalize((y * 3).clamp(-1, 1))
    expected = torch.nn.functional.mse_loss(classifier.embed(clipped), classifier.embed(y))
    assert feature.item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss.item() == pytest.approx(pixel.item() + 0.5 * feature.item(), rel=1e-6)


def test_feature_classifier_identity_in_meta_and_fingerprint():
    a, b = toy_classifier(0), toy_classifier(1)
    task = enhancer_task("denoiser", FEATURE_DENOISER, classifier=a)
    digest = weights_sha256(a.state_dict())
    assert task.extra_meta["feature_classifier"] == {"path": "models/classifier.pt", "digest": digest}
    assert task.extra_meta["loss"] == {"pixel": 1.0, "feature": 0.5}
    assert task.fingerprint_extra == {"feature_classifier": digest}
    assert weights_sha256(toy_classifier(0).state_dict()) == digest != weights_sha256(b.state_dict())


# ---------------------------------------------------------------------------------------
# Robust keys: a share of every classifier batch degraded (config `keys.<name>`)
# ---------------------------------------------------------------------------------------

NO_AUGMENT = {
    "hflip": False,
    "rotate_deg": 0.0,
    "translate_px": 0.0,
    "brightness": 0.0,
    "contrast": 0.0,
    "fill": "border",
}
ROBUST_SPECS = [{"name": "gaussian", "sigma": 0.2}, {"name": "lowres", "level": 1}]


def robust_task(
    share: float, batch_size: int = 16, augment=NO_AUGMENT, consistency: float = 0.0, rescale: str | None = "minmax"
) -> ClassifierTask:
    recipe = {
        **CLASSIFIER,
        "batch_size": batch_size,
        "augment": augment,
        "degrade": {"share": share, "degradations": ROBUST_SPECS, "consistency": consistency},
    }
    return classifier_task(recipe=recipe, name="classifier_robust", rescale=rescale)


@pytest.mark.parametrize(("share", "batch_size", "expected"), [(0.5, 16, 8), (0.25, 16, 4), (0.3, 10, 3), (1.0, 8, 8)])
def test_robust_batches_hold_the_configured_share_of_degraded_images(share, batch_size, expected):
    task = robust_task(share, batch_size)
    clean = SPLITS["train"][0]
    for epoch, step in [(0, 0), (0, 1), (2, 3)]:
        index = task.epoch_order(cpu_generator(step))[:batch_size]
        x, y = task.batch(index, epoch, step, torch.Generator().manual_seed(0))
        plain = normalize(torch.from_numpy(clean[index.numpy()]))  # the same rows, not degraded
        changed = (x - plain).abs().flatten(1).amax(1) > 1e-6
        assert int(changed.sum()) == expected  # exactly round(share * batch) images degraded
        rows = task.degraded_positions(batch_size, epoch, step)
        assert torch.equal(torch.nonzero(changed).flatten(), rows)
        # each degraded row is one of the configured degradations of its clean image, seeded by the step
        stream = f"classifier_robust/epoch{epoch}/step{step}"
        # degraded after the augmentation (none here: the min-max normalised image), quantised to uint8
        augmented = unit_range(torch.from_numpy(clean[index.numpy()][rows.numpy()]))[:, 0]
        quantised = (augmented * 255.0).round().to(torch.uint8).numpy()
        want = degrade(quantised, ROBUST_SPECS, seed=0, stream=stream, rescale="minmax", threads=1)
        assert torch.allclose(x[rows], normalize(torch.from_numpy(want)), atol=1e-6)
        assert torch.equal(y, task.labels[index])
    # positions differ between steps, and are a function of (seed, name, epoch, step)
    assert not torch.equal(task.degraded_positions(16, 0, 0), task.degraded_positions(16, 0, 1)) or share == 1.0
    assert torch.equal(
        task.degraded_positions(batch_size, 1, 2), robust_task(share, batch_size).degraded_positions(batch_size, 1, 2)
    )


def test_robust_task_records_its_degradations_and_standard_task_is_unchanged():
    task = robust_task(0.5)
    assert task.extra_meta["degrade"] == {
        "share": 0.5,
        "degradations": ROBUST_SPECS,
        "rescale": "minmax",
        "consistency": 0.0,
    }
    standard = classifier_task()
    assert standard.share == 0.0 and "degrade" not in standard.extra_meta and standard.name == "classifier"
    index = torch.arange(8)
    x, _ = standard.batch(index, 0, 0, torch.Generator().manual_seed(0))
    assert x.shape == (8, 1, *SPLITS["train"][0].shape[1:])


def test_robust_share_without_rescale_is_refused():
    with pytest.raises(TrainingError, match="degrade.share"):
        robust_task(0.5, rescale=None)


def test_consistency_adds_the_clean_twins_and_the_embedding_mse():
    train_images = SPLITS["train"][0]
    task = robust_task(0.5, batch_size=8, consistency=2.0)
    assert task.loss_terms == ("consistency",)
    index = torch.arange(8)
    x, y = task.batch(index, 0, 0, torch.Generator().manual_seed(0))
    rows = task.degraded_positions(8, 0, 0)
    assert x.shape[0] == 8 + 4 and len(y) == 8  # the batch, then the clean twins of its 4 degraded images
    assert torch.allclose(x[8:], normalize(torch.from_numpy(train_images[rows.numpy()])), atol=1e-6)
    model = task.model.eval()
    with torch.no_grad():
        output = model(x)
        total, (mse,) = task.loss_parts(output, y)
        features = model.embed(x)
    want_mse = ((features[rows] - features[8:]) ** 2).mean()
    want_ce = torch.nn.functional.cross_entropy(output[:8], y)
    assert mse.item() == pytest.approx(want_mse.item(), rel=1e-5) and mse.item() > 0
    assert total.item() == pytest.approx(want_ce.item() + 2.0 * want_mse.item(), rel=1e-5)
    assert task.metric_sum(output, y) == (output[:8].argmax(1) == y).sum()


# ---------------------------------------------------------------------------------------
# Colour: [N, H, W, 3] splits, networks of image_channels 3
# ---------------------------------------------------------------------------------------

COLOUR = toy_splits(colour=True)


def colour_classifier_task(recipe=CLASSIFIER, heldout=None, **key_set) -> ClassifierTask:
    (train_images, train_labels), (heldout_images, heldout_labels) = COLOUR["train"], COLOUR["test"]
    return ClassifierTask(
        train_images=train_images,
        train_labels=train_labels,
        heldout_images=heldout_images if heldout is None else heldout,
        heldout_labels=heldout_labels,
        recipe=recipe,
        seed=0,
        placement=placement(CPU, 1),
        **key_set,
    )


def colour_enhancer_task(name="denoiser", recipe=DENOISER, classifier=None) -> EnhancerTask:
    return EnhancerTask(
        name,
        train_images=COLOUR["train"][0],
        heldout_images=COLOUR["test"][0],
        recipe=recipe,
        seed=0,
        placement=placement(CPU, 1),
        rescale="minmax",
        classifier=classifier,
        classifier_path=None if classifier is None else "models/classifier.pt",
    )


def test_colour_classifier_task_trains():
    task = colour_classifier_task()
    assert task.model.arch_args["image_channels"] == 3 and task.input_size == [32, 32, 3]
    index = torch.arange(8)
    x, y = task.batch(index, 0, 0, cpu_generator(2))
    assert x.shape == (8, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert not torch.allclose(x[:, 0], x[:, 2], atol=0.1)  # the channels stay apart: not grey
    plain = normalize(torch.from_numpy(COLOUR["train"][0][:8]).permute(0, 3, 1, 2))
    assert not torch.allclose(x, plain)  # augmented
    loss, accuracy = task.evaluate(task.model)
    assert loss > 0 and 0 <= accuracy <= 1
    # a few Adam steps on one batch bring its loss down: the colour path carries gradients end to end
    model = task.model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(6):
        loss = task.loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    assert model.stem.weight.grad.abs().sum() > 0


def test_colour_and_grey_splits_do_not_mix():
    with pytest.raises(TrainingError, match="training images are colour but the held-out images are grey"):
        colour_classifier_task(heldout=SPLITS["test"][0])
    with pytest.raises(TrainingError, match=r"colour images \[N, H, W, 3\], got shape \(40, 32, 32, 2\)"):
        colour_classifier_task(heldout=COLOUR["test"][0][..., :2])


def test_colour_robust_batches_degrade_the_augmented_colour_image():
    recipe = {
        **CLASSIFIER,
        "batch_size": 8,
        "augment": NO_AUGMENT,
        "degrade": {"share": 0.5, "degradations": ROBUST_SPECS, "consistency": 1.0},
    }
    task = colour_classifier_task(recipe, name="classifier_robust", rescale="minmax")
    index = torch.arange(8)
    x, y = task.batch(index, 0, 0, torch.Generator().manual_seed(0))
    rows = task.degraded_positions(8, 0, 0)
    assert x.shape == (8 + 4, 3, 32, 32) and len(y) == 8  # the batch, then the clean twins
    clean = COLOUR["train"][0][rows.numpy()]
    quantised = (unit_range(torch.from_numpy(clean).permute(0, 3, 1, 2)) * 255.0).round().to(torch.uint8)
    quantised = quantised.permute(0, 2, 3, 1).numpy()  # degraded in the stored colour layout
    want = degrade(
        quantised, ROBUST_SPECS, seed=0, stream="classifier_robust/epoch0/step0", rescale="minmax", threads=1
    )
    assert want.shape == (4, 32, 32, 3)
    torch.testing.assert_close(x[rows], normalize(torch.from_numpy(want).permute(0, 3, 1, 2)), rtol=0, atol=1e-6)
    total, (mse,) = task.loss_parts(task.model.eval()(x), y)
    assert mse.item() > 0 and torch.isfinite(total)


@pytest.mark.parametrize(
    ("name", "recipe"),
    [("upscaler", UPSCALER), ("denoiser", DENOISER), ("denoiser", RESIDUAL_DENOISER), ("denoiser", UNET_DENOISER)],
)
def test_colour_enhancer_tasks(name, recipe):
    task = colour_enhancer_task(name, recipe)
    assert task.model.arch_args["image_channels"] == 3 and task.input_size == [32, 32, 3]
    degraded, clean = task.batch(torch.arange(8), 0, 0, None)
    assert degraded.shape == clean.shape == (8, 3, 32, 32)
    stored = COLOUR["train"][0][:8]
    torch.testing.assert_close(clean, normalize(torch.from_numpy(stored).permute(0, 3, 1, 2)))
    want = degrade(stored, recipe["degradations"], seed=0, stream=f"{name}/epoch0/step0", rescale="minmax", threads=1)
    torch.testing.assert_close(degraded, normalize(torch.from_numpy(want).permute(0, 3, 1, 2)))
    assert task.model(degraded).shape == (8, 3, 32, 32)
    assert task.eval_degraded.shape == (10, 32, 32, 3) and task.eval_targets.shape == (10, 3, 32, 32)
    loss, psnr = task.evaluate(task.model)
    assert loss > 0 and psnr > 0
    if recipe["network"] in ("residual", "unet"):  # the identity start: the degraded input's own PSNR
        assert psnr == pytest.approx(task.extra_meta["heldout_input_psnr"], abs=1e-4)


def test_colour_feature_loss_needs_a_colour_classifier():
    with pytest.raises(TrainingError, match="classifier takes 1-channel images but the training images have 3"):
        colour_enhancer_task(recipe=FEATURE_DENOISER, classifier=toy_classifier())
    torch.manual_seed(0)
    classifier = Classifier("resnet18", image_channels=3).eval()
    task = colour_enhancer_task(recipe=FEATURE_DENOISER, classifier=classifier)
    model = task.model.train()
    _perturb_last_conv(model)
    x, y = task.batch(torch.arange(8), 0, 0, None)
    _, (pixel, feature) = task.loss_parts(model(x), y)
    assert pixel.item() > 0 and feature.item() > 0
