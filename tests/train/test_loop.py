"""The training loop: the finished state, resumable progress, exact resume, fingerprints."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from train.toydata import CLASSIFIER, CPU, DENOISE, DENOISER, FEATURE_DENOISER, RESIDUAL_DENOISER, UPSCALER, toy_splits

from cbir.checkpoint import read_checkpoint
from cbir.device import placement
from cbir.inference import embed
from cbir.networks import Classifier, build
from cbir.train.loop import Trained, TrainingDiverged, digest, history_fields, partial_path, train
from cbir.train.tasks import ClassifierTask, EnhancerTask

SPLITS = toy_splits()
DIGESTS = {split: digest(images, labels) for split, (images, labels) in SPLITS.items()}


def classifier_task(recipe=CLASSIFIER) -> ClassifierTask:
    (train_images, train_labels), (heldout_images, heldout_labels) = SPLITS["train"], SPLITS["test"]
    return ClassifierTask(
        train_images=train_images,
        train_labels=train_labels,
        heldout_images=heldout_images,
        heldout_labels=heldout_labels,
        recipe=recipe,
        seed=0,
        placement=placement(CPU, 1),
    )


def enhancer_task(name="upscaler", recipe=UPSCALER, classifier=None, cls=EnhancerTask) -> EnhancerTask:
    return cls(
        name,
        train_images=SPLITS["train"][0],
        heldout_images=SPLITS["test"][0],
        recipe=recipe,
        seed=0,
        placement=placement(CPU, 1),
        rescale="minmax",
        classifier=classifier,
    )


def toy_classifier(seed=0) -> Classifier:
    torch.manual_seed(seed)
    return Classifier("resnet18").eval()


def run(task, partial, stop_after=None) -> Trained | None:
    return train(task, digests=DIGESTS, source="toy", runtime=CPU, partial=partial, stop_after=stop_after)


def same_weights(a: dict, b: dict) -> bool:
    assert a.keys() == b.keys()
    return all(torch.equal(a[k], b[k]) for k in a)


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in rows]


def test_helpers():
    assert history_fields("acc") == [
        "epoch", "train_loss", "train_acc", "heldout_loss", "heldout_acc", "lr", "seconds", "images_per_s"
    ]  # fmt: skip
    assert history_fields("psnr", ("pixel", "feature"))[:5] == [
        "epoch", "train_loss", "train_psnr", "train_pixel_mse", "train_feature_mse"
    ]  # fmt: skip
    assert partial_path("/x/models/denoiser.pt").name == "denoiser.pt.partial"
    images, labels = SPLITS["train"]
    assert digest(images, labels) == DIGESTS["train"] != DIGESTS["test"]
    assert digest(images, labels[::-1]) != DIGESTS["train"]


def test_classifier_finished_state_and_progress(tmp_path):
    partial = tmp_path / "classifier.pt.partial"
    trained = run(classifier_task(), partial)
    assert trained.fields == history_fields("acc")
    assert [r["epoch"] for r in trained.history] == [1, 2, 3]
    assert [r["lr"] for r in trained.history] == pytest.approx([1e-3, 1e-3, 5e-4])  # halved after lr_step = 2
    meta = trained.meta
    assert meta["complete"] and meta["epochs_done"] == 3 and meta["epochs"] == 3
    assert meta["kind"] == "classifier" and meta["name"] == "classifier" and meta["input_size"] == [32, 32]
    assert meta["runtime"] == CPU and meta["recipe"] == CLASSIFIER
    assert meta["data"] == {"n_train": 40, "n_heldout": 20, "train_source": "toy", **DIGESTS}
    assert meta["fingerprint"]["data"] == DIGESTS and meta["weights_init"] == "none"
    assert {"optimizer", "scheduler", "scaler", "history"} <= set(meta)
    assert all(v.device.type == "cpu" for v in trained.state_dict.values())
    # progress of the last epoch stays in the partial file; removing it is the caller's job
    assert read_checkpoint(partial)["meta"]["epochs_done"] == 3


def test_enhancer_resume_is_exact(tmp_path):
    recipe = {**DENOISER, "epochs": 3}
    whole = run(enhancer_task("denoiser", recipe), tmp_path / "whole.partial")
    killed = tmp_path / "killed.partial"
    assert run(enhancer_task("denoiser", recipe), killed, stop_after=2) is None
    assert read_checkpoint(killed)["meta"]["epochs_done"] == 2
    resumed = run(enhancer_task("denoiser", recipe), killed)
    assert same_weights(whole.state_dict, resumed.state_dict)
    assert without_timing(whole.history) == without_timing(resumed.history)
    assert resumed.meta["degradations"] == DENOISE


def test_resume_with_another_recipe_starts_over(tmp_path, caplog):
    partial = tmp_path / "upscaler.pt.partial"
    assert run(enhancer_task(), partial, stop_after=1) is None
    changed = {**UPSCALER, "lr": 5e-4}
    with caplog.at_level(logging.INFO, logger="cbir"):
        trained = run(enhancer_task(recipe=changed), partial)
    assert "different recipe" in caplog.text and "resuming" not in caplog.text
    assert len(trained.history) == 3 and trained.history[0]["lr"] == 5e-4


def test_resume_logs_and_skips_done_epochs(tmp_path, caplog):
    partial = tmp_path / "upscaler.pt.partial"
    assert run(enhancer_task(), partial, stop_after=3) is not None  # stop_after beyond the epochs: no stop
    with caplog.at_level(logging.INFO, logger="cbir"):
        trained = run(enhancer_task(), partial)
    assert "resuming after epoch 3" in caplog.text
    assert [r["epoch"] for r in trained.history] == [1, 2, 3]


def test_unreadable_partial_checkpoint_is_discarded_with_a_warning(tmp_path, caplog):
    """The in-progress file is only a cache: damaged bytes cost the epochs it held, not the job."""
    partial = tmp_path / "upscaler.pt.partial"
    assert run(enhancer_task(), partial, stop_after=1) is None
    partial.write_bytes(partial.read_bytes()[:-100])  # cut short, as by a full disk or bit rot
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cbir"):
        trained = run(enhancer_task(), partial)
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert str(partial) in warning.getMessage() and "discarded" in warning.getMessage()
    assert "resuming" not in caplog.text
    assert [r["epoch"] for r in trained.history] == [1, 2, 3]
    assert same_weights(trained.state_dict, run(enhancer_task(), tmp_path / "fresh.partial").state_dict)
    assert read_checkpoint(partial)["meta"]["epochs_done"] == 3  # replaced by the new progress


def test_digests_change_the_fingerprint(tmp_path):
    partial = tmp_path / "upscaler.pt.partial"
    assert run(enhancer_task(), partial, stop_after=1) is None
    other = {"train": DIGESTS["test"], "test": DIGESTS["train"]}
    trained = train(enhancer_task(), digests=other, source="toy", runtime=CPU, partial=partial, stop_after=None)
    assert len(trained.history) == 3
    assert trained.meta["fingerprint"]["data"] == other


class PlainMSE(EnhancerTask):
    """The enhancer loss as it was before loss weights: F.mse_loss alone."""

    def loss_parts(self, output, target):
        return F.mse_loss(output.float(), target), []


@pytest.mark.parametrize("recipe", [DENOISER, UPSCALER, RESIDUAL_DENOISER])
def test_pixel_loss_alone_is_the_plain_mse_bit_for_bit(tmp_path, recipe):
    recipe = {**recipe, "epochs": 2}
    ours = run(enhancer_task("e", recipe, classifier=object()), tmp_path / "a.partial")  # never used
    plain = run(enhancer_task("e", recipe, cls=PlainMSE), tmp_path / "b.partial")
    assert same_weights(ours.state_dict, plain.state_dict)
    assert without_timing(ours.history) == without_timing(plain.history)
    assert ours.fields == history_fields("psnr")  # no loss-term columns
    doubled = run(enhancer_task("e", {**recipe, "loss": {"pixel": 2.0, "feature": 0.0}}), tmp_path / "c.partial")
    assert not same_weights(doubled.state_dict, plain.state_dict)  # the weight is applied: the test can fail


def test_feature_loss_trains_the_restorer_only(tmp_path):
    classifier = toy_classifier()
    before = {k: v.clone() for k, v in classifier.state_dict().items()}  # BatchNorm statistics included
    task = enhancer_task("denoiser", {**FEATURE_DENOISER, "epochs": 2}, classifier=classifier)
    initial = {k: v.clone() for k, v in task.model.state_dict().items()}
    trained = run(task, tmp_path / "f.partial")
    assert same_weights(classifier.state_dict(), before)
    assert not classifier.training and not any(p.requires_grad for p in classifier.parameters())
    assert not same_weights(trained.state_dict, initial)
    assert trained.fields == history_fields("psnr", ("pixel", "feature"))
    row = trained.history[-1]
    assert row["train_feature_mse"] > 0 and row["train_pixel_mse"] > 0
    # the total is the weighted sum of the terms (a float32 sum per batch)
    assert row["train_loss"] == pytest.approx(row["train_pixel_mse"] + 0.5 * row["train_feature_mse"], rel=1e-6)
    assert trained.meta["loss"] == {"pixel": 1.0, "feature": 0.5}
    assert trained.meta["fingerprint"]["feature_classifier"] == trained.meta["feature_classifier"]["digest"]


def test_another_feature_classifier_starts_over(tmp_path, caplog):
    partial = tmp_path / "denoiser.pt.partial"
    assert run(enhancer_task("denoiser", FEATURE_DENOISER, classifier=toy_classifier(0)), partial, 1) is None
    with caplog.at_level(logging.INFO, logger="cbir"):
        run(enhancer_task("denoiser", FEATURE_DENOISER, classifier=toy_classifier(1)), partial, 2)
    assert "different recipe" in caplog.text and "resuming" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="cbir"):  # same weights, another object: resumes
        run(enhancer_task("denoiser", FEATURE_DENOISER, classifier=toy_classifier(1)), partial)
    assert "resuming after epoch 2" in caplog.text


@pytest.mark.parametrize(
    "make_task",
    [
        lambda: classifier_task({**CLASSIFIER, "lr": 1e6}),
        lambda: enhancer_task("denoiser", {**DENOISER, "lr": 1e6}),
    ],
    ids=["classifier", "denoiser"],
)
def test_diverged_training_stops_without_a_model(tmp_path, make_task):
    """The trial's `lr: 1e6`: a NaN or infinite loss ends the job naming the network and its
    lr; the partial file never holds the diverged epoch, and nothing is returned as finished."""
    task = make_task()
    partial = tmp_path / "net.pt.partial"
    with pytest.raises(TrainingDiverged, match=rf"{task.name}: training diverged in epoch \d .*at lr 1000000\.0"):
        run(task, partial)
    if partial.exists():  # the epochs before the divergence, all finite
        history = read_checkpoint(partial)["meta"]["history"]
        assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in history)


# ---------------------------------------------------------------------------------------
# Colour splits through the loop
# ---------------------------------------------------------------------------------------

COLOUR = toy_splits(colour=True)
COLOUR_DIGESTS = {split: digest(images, labels) for split, (images, labels) in COLOUR.items()}


def test_colour_classifier_checkpoint_describes_a_colour_network(tmp_path):
    (train_images, train_labels), (heldout_images, heldout_labels) = COLOUR["train"], COLOUR["test"]
    task = ClassifierTask(
        train_images=train_images,
        train_labels=train_labels,
        heldout_images=heldout_images,
        heldout_labels=heldout_labels,
        recipe={**CLASSIFIER, "epochs": 1},
        seed=0,
        placement=placement(CPU, 1),
    )
    trained = train(
        task, digests=COLOUR_DIGESTS, source="toy", runtime=CPU, partial=tmp_path / "c.partial", stop_after=None
    )
    meta = trained.meta
    assert meta["arch_args"] == {"arch": "resnet18", "num_classes": 5, "head": "fc", "image_channels": 3}
    assert meta["input_size"] == [32, 32, 3] and meta["data"]["train"] == COLOUR_DIGESTS["train"]
    model = build(meta)
    model.load_state_dict(trained.state_dict, strict=True)
    assert embed(model, heldout_images[:4], batch_size=4).shape == (4, 512)
    assert all(r["train_loss"] > 0 and 0 <= r["heldout_acc"] <= 1 for r in trained.history)


def test_colour_enhancer_resume_is_exact(tmp_path):
    def task():
        return EnhancerTask(
            "denoiser",
            train_images=COLOUR["train"][0],
            heldout_images=COLOUR["test"][0],
            recipe={**RESIDUAL_DENOISER, "epochs": 2},
            seed=0,
            placement=placement(CPU, 1),
            rescale="minmax",
        )

    def run_colour(partial, stop_after=None):
        return train(task(), digests=COLOUR_DIGESTS, source="toy", runtime=CPU, partial=partial, stop_after=stop_after)

    whole = run_colour(tmp_path / "whole.partial")
    assert whole.meta["arch_args"]["image_channels"] == 3 and whole.meta["input_size"] == [32, 32, 3]
    assert run_colour(tmp_path / "killed.partial", stop_after=1) is None
    resumed = run_colour(tmp_path / "killed.partial")
    assert same_weights(whole.state_dict, resumed.state_dict)
    assert without_timing(whole.history) == without_timing(resumed.history)
    # trained: no longer the identity start, so the weights of the last conv moved
    assert resumed.state_dict["body.8.weight"].abs().sum() > 0
