"""Provenance checked where it is consumed (issue 24): every stage that loads a checkpoint refuses
one that is not what its rule expects (another key set, architecture, restorer, recipe or replicate,
or weights edited after saving), and a search refuses query embeddings another model made than the
gallery's. Tiny networks really trained by the training stage, real files; each error names the
file that is wrong, what it holds and what was expected."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch
from train.toydata import CLASSIFIER, CPU, DENOISER, FEATURE_DENOISER, UPSCALER, write_toy_splits

from cbir.checkpoint import CheckpointError, read_checkpoint
from cbir.h5store import StoreError, read_embeddings, write_embeddings
from cbir.search import SearchError
from cbir.stages.calibrate import _hits
from cbir.stages.enhance import enhance_query_set
from cbir.stages.retrieve import embed_images, retrieve_topk, search_query_sets
from cbir.stages.train import evaluate_classifier, train_classifier, train_enhancer
from cbir.stages.tune import tune_enhancer

R18 = {**CLASSIFIER, "epochs": 1}
R34 = {**R18, "arch": "resnet34"}
ROBUST = {**R18, "degrade": {"share": 0.5, "consistency": 0.0, "degradations": [{"name": "gaussian", "sigma": 0.3}]}}
DEN = {**DENOISER, "epochs": 1, "steps_per_epoch": 2}
UPS = {**UPSCALER, "epochs": 1, "steps_per_epoch": 2}


def search_noisy(run, model, gallery, out, expect=None):
    """The search job of the test split's images as the query set `noisy` (embeddings `out`)."""
    search_query_sets(
        model=model,
        gallery=gallery,
        images=[run / "test.h5"],
        names=["noisy"],
        embeddings=[out],
        results=[out.with_name(out.stem + "_retrieval.h5")],
        runtime=CPU,
        batch_size=16,
        distances=["l2"],
        k=3,
        chunk_size=8,
        threads=1,
        expect=expect,
    )


def classifier_expectation(keys="standard", recipe=R18, seed=0):
    """As workflow/rules/common.smk's `classifier_expectation` builds it from the config."""
    return {"role": "classifier", "name": keys, "arch": recipe["arch"], "recipe": recipe, "seed": seed}


STANDARD = classifier_expectation()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The toy splits and the checkpoints of a run, each trained by the training stage: the
    standard classifier (seed 0), its replicate 1 (seed 7), the robust key set, a ResNet34 of
    another run, the denoiser and the upscaler."""
    root = tmp_path_factory.mktemp("run")
    write_toy_splits(root)
    models = root / "models"

    def classifier(file, recipe, seed=0, name="classifier", keys=None):
        assert train_classifier(
            train=root / "train.h5",
            validation=root / "test.h5",
            model_path=models / file,
            history_path=models / f"{file}.csv",
            recipe=recipe,
            runtime=CPU,
            seed=seed,
            threads=1,
            name=name,
            rescale="minmax",
            keys=keys,
        )

    classifier("classifier.pt", R18)
    classifier("classifier@1.pt", R18, seed=7)
    classifier("classifier_robust.pt", ROBUST, name="classifier_robust", keys="robust")
    classifier("resnet34.pt", R34)
    for name, recipe in (("denoiser", DEN), ("upscaler", UPS)):
        assert train_enhancer(
            name=name,
            train=root / "train.h5",
            validation=root / "test.h5",
            model_path=models / f"{name}.pt",
            history_path=models / f"{name}.csv",
            recipe=recipe,
            runtime=CPU,
            seed=0,
            threads=1,
            rescale="minmax",
        )
    return root


def swapped(run, tmp_path, source, target="classifier.pt"):
    """`source` copied over models/`target` of a fresh run folder: the adversary's move."""
    path = tmp_path / "models" / target
    path.parent.mkdir(exist_ok=True)
    shutil.copyfile(run / "models" / source, path)
    return path


def embed(run, model, output, expect=STANDARD, images="test.h5", name="noisy"):
    embed_images(
        model=model,
        images=run / images,
        output=output,
        name=name,
        runtime=CPU,
        batch_size=16,
        threads=1,
        expect=expect,
    )


def test_checkpoints_record_what_they_are(run):
    metas = {name: read_checkpoint(run / "models" / f"{name}.pt")["meta"] for name in ("classifier", "upscaler")}
    metas["robust"] = read_checkpoint(run / "models" / "classifier_robust.pt")["meta"]
    assert (metas["classifier"]["role"], metas["classifier"]["keys"]) == ("classifier", "standard")
    assert (metas["robust"]["role"], metas["robust"]["keys"]) == ("classifier", "robust")
    assert metas["robust"]["name"] == "classifier_robust" and metas["robust"]["recipe"]["degrade"]["share"] == 0.5
    assert (metas["upscaler"]["role"], metas["upscaler"]["name"], metas["upscaler"]["kind"]) == (
        "enhancer",
        "upscaler",
        "srcnn",
    )
    assert metas["upscaler"]["recipe"]["network"] == "srcnn" and metas["upscaler"]["format"] == 2
    digests = {name: meta["weights_sha256"] for name, meta in metas.items()}
    assert len(set(digests.values())) == 3 and all(len(d) == 64 for d in digests.values())


def _stages(run, tmp_path, model, expect):
    """Every stage that loads a classifier, given `model` and what its rule expects."""
    gallery = tmp_path / "gallery.h5"
    embed(run, run / "models" / "classifier.pt", gallery, name="gallery", images="train.h5")
    return {
        "embed_images": lambda: embed(run, model, tmp_path / "out.h5", expect=expect),
        "search_query_sets": lambda: search_noisy(run, model, gallery, tmp_path / "out.h5", expect=expect),
        "evaluate_classifier": lambda: evaluate_classifier(
            model=model,
            test=run / "test.h5",
            table=tmp_path / "out.json",
            figure=tmp_path / "out.png",
            batch_size=16,
            runtime=CPU,
            threads=1,
            expect=expect,
        ),
        "tune_enhancer": lambda: tune_enhancer(
            name="median",
            enhancer={"method": "median", "size": "auto", "grid": {"size": [3, 5]}},
            queries=run / "test.h5",
            model=model,
            gallery=gallery,
            output=tmp_path / "out.json",
            runtime=CPU,
            batch_size=16,
            threads=1,
            expect=expect,
        ),
        "train_enhancer": lambda: train_enhancer(
            name="denoiser",
            train=run / "train.h5",
            validation=run / "test.h5",
            model_path=tmp_path / "out.pt",
            history_path=tmp_path / "out.csv",
            recipe={**FEATURE_DENOISER, "epochs": 1},
            runtime=CPU,
            seed=0,
            threads=1,
            rescale="minmax",
            classifier=model,
            classifier_expect=expect,
        ),
    }


STAGES = ["embed_images", "search_query_sets", "evaluate_classifier", "tune_enhancer", "train_enhancer"]


@pytest.mark.parametrize("stage", STAGES)
def test_a_key_sets_classifier_where_the_standard_one_is_expected_is_refused(run, tmp_path, stage):
    model = swapped(run, tmp_path, "classifier_robust.pt")
    with pytest.raises(CheckpointError) as error:
        _stages(run, tmp_path, model, STANDARD)[stage]()
    assert str(error.value) == (
        f"{model}: holds the classifier of key set 'robust' (resnet18), "
        "expected the classifier of key set 'standard' (resnet18)"
    )
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("out")]  # nothing written


def test_another_architecture_is_refused(run, tmp_path):
    model = swapped(run, tmp_path, "resnet34.pt")
    with pytest.raises(CheckpointError) as error:
        embed(run, model, tmp_path / "out.h5")
    assert str(error.value) == (
        f"{model}: holds the classifier of key set 'standard' (resnet34), "
        "expected the classifier of key set 'standard' (resnet18)"
    )
    assert not (tmp_path / "out.h5").exists()


def test_another_replicate_or_recipe_is_refused(run, tmp_path):
    model = swapped(run, tmp_path, "classifier@1.pt")
    with pytest.raises(CheckpointError) as error:
        embed(run, model, tmp_path / "out.h5")
    assert str(error.value) == (
        f"{model}: the classifier of key set 'standard' (resnet18) was trained with seed 7, expected 0 "
        "(another replicate's checkpoint?)"
    )
    edited = classifier_expectation(recipe={**R18, "epochs": 2, "lr": 0.01})
    with pytest.raises(CheckpointError) as error:
        embed(run, run / "models" / "classifier.pt", tmp_path / "out.h5", expect=edited)
    assert str(error.value).startswith(
        f"{run / 'models' / 'classifier.pt'}: the classifier of key set 'standard' (resnet18) was trained with "
        "another recipe than the config's (epochs: 1 here, 2 expected; lr: 0.001 here, 0.01 expected)"
    )
    assert not (tmp_path / "out.h5").exists()


def enhance(run, model, output, name="upscaler", enhancer=UPS, expect=None):
    enhance_query_set(
        queries=run / "test.h5",
        model=model,
        output=output,
        query="noisy",
        name=name,
        enhancer=enhancer,
        runtime=CPU,
        batch_size=16,
        threads=1,
        expect=expect,
    )


def test_another_restorer_is_refused(run, tmp_path):
    model = swapped(run, tmp_path, "denoiser.pt", "upscaler.pt")
    with pytest.raises(CheckpointError) as error:
        enhance(run, model, tmp_path / "out.h5", expect={"seed": 0})
    assert (
        str(error.value)
        == f"{model}: holds the enhancer 'denoiser' (autoencoder), expected the enhancer 'upscaler' (srcnn)"
    )
    # the same network with another recipe in the config (sweeps give no seed: the rest is still checked)
    with pytest.raises(CheckpointError, match="'upscaler' \\(srcnn\\) was trained with another recipe.*lr: 0.001 here"):
        enhance(run, run / "models" / "upscaler.pt", tmp_path / "out.h5", enhancer={**UPS, "lr": 0.1})
    assert not (tmp_path / "out.h5").exists()
    enhance(run, run / "models" / "upscaler.pt", tmp_path / "ok.h5", expect={"seed": 0})  # the right one is used


def test_weights_edited_after_saving_are_refused(run, tmp_path):
    model = swapped(run, tmp_path, "classifier.pt")
    data = torch.load(model, weights_only=True)
    data["state_dict"]["fc.weight"][0, 0] += 0.01  # the meta, digest included, left as it was
    torch.save(data, model)
    with pytest.raises(CheckpointError) as error:
        embed(run, model, tmp_path / "out.h5")
    assert str(error.value).startswith(f"{model}: its weights are not those it was saved with (sha256 ")
    assert "edited or damaged after it was written" in str(error.value)
    del data["meta"]["weights_sha256"]  # and a file without a digest cannot be checked at all
    torch.save(data, model)
    with pytest.raises(CheckpointError, match=f"{model}: records no weights digest"):
        embed(run, model, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


@pytest.fixture(scope="module")
def embeddings(run, tmp_path_factory):
    """<folder>/{gallery,noisy}.h5 of the standard and robust key sets, and of the standard keys'
    replicate 1 (same key set, other weights), each embedded by its own checkpoint."""
    folder = tmp_path_factory.mktemp("embeddings")
    for name, model, expect in (
        ("standard", "classifier.pt", STANDARD),
        ("robust", "classifier_robust.pt", classifier_expectation("robust", ROBUST)),
        ("standard@1", "classifier@1.pt", classifier_expectation(seed=7)),
    ):
        (folder / name).mkdir()
        embed(run, run / "models" / model, folder / name / "noisy.h5", expect=expect)
        embed(
            run, run / "models" / model, folder / name / "gallery.h5", expect=expect, images="train.h5", name="gallery"
        )
    return folder


def search(gallery, queries, output):
    retrieve_topk(gallery=gallery, queries=queries, output=output, distances=["l2"], k=3, chunk_size=8, threads=1)


def test_query_embeddings_of_another_key_set_are_refused_naming_the_query_file(embeddings, tmp_path):
    tampered = tmp_path / "standard" / "noisy.h5"
    tampered.parent.mkdir()
    shutil.copyfile(embeddings / "robust" / "noisy.h5", tampered)  # robust keys' queries over the standard ones
    gallery = embeddings / "standard" / "gallery.h5"
    with pytest.raises(StoreError) as error:
        search(gallery, tampered, tmp_path / "retrieval.h5")
    message = str(error.value)
    assert message.startswith(f"{tampered}: query embeddings of key set 'robust' (weights sha256 ")
    assert f"but the gallery {gallery} was made by key set 'standard'" in message
    assert not (tmp_path / "retrieval.h5").exists()
    search(gallery, embeddings / "standard" / "noisy.h5", tmp_path / "retrieval.h5")  # the genuine pair searches


def test_query_embeddings_of_other_weights_of_the_same_key_set_are_refused(embeddings, tmp_path):
    replicate = embeddings / "standard@1" / "noisy.h5"
    with pytest.raises(StoreError, match=f"{replicate}: query embeddings of key set 'standard' .*but the gallery"):
        search(embeddings / "standard" / "gallery.h5", replicate, tmp_path / "retrieval.h5")
    gallery_digest = read_embeddings(embeddings / "standard" / "gallery.h5").attrs["weights_sha256"]
    assert read_embeddings(replicate).attrs["weights_sha256"] != gallery_digest


def test_a_search_job_refuses_a_classifier_that_did_not_embed_its_gallery(run, embeddings, tmp_path):
    gallery = embeddings / "standard" / "gallery.h5"
    with pytest.raises(CheckpointError) as error:
        search_noisy(run, run / "models" / "classifier_robust.pt", gallery, tmp_path / "noisy.h5")
    message = str(error.value)
    assert message.startswith(f"{run / 'models' / 'classifier_robust.pt'}: the classifier of key set 'robust'")
    assert f"is not the model that embedded the gallery {gallery} (key set 'standard'" in message
    assert not list(tmp_path.iterdir())


def test_nan_query_embeddings_are_refused_naming_the_query_file(embeddings, tmp_path):
    genuine = read_embeddings(embeddings / "standard" / "noisy.h5")
    features = genuine.features.copy()
    features[3, 5] = np.nan
    tampered = tmp_path / "noisy.h5"
    write_embeddings(tampered, features, genuine.columns, genuine.attrs)
    gallery = embeddings / "standard" / "gallery.h5"
    with pytest.raises(SearchError) as error:
        search(gallery, tampered, tmp_path / "retrieval.h5")
    message = str(error.value)
    assert message.startswith(f"{tampered}: 1 of {len(features)} query embeddings hold NaN or infinite values")
    assert "(first: row 3)" in message and str(gallery) not in message
    assert not (tmp_path / "retrieval.h5").exists()


def test_calibration_refuses_gallery_indices_outside_the_gallery_naming_the_retrieval_file(embeddings, tmp_path):
    queries, gallery = embeddings / "standard" / "noisy.h5", embeddings / "standard" / "gallery.h5"
    result = tmp_path / "retrieval.h5"
    search(gallery, queries, result)
    gallery_labels = read_embeddings(gallery).labels
    columns = read_embeddings(queries).columns
    hits = _hits(gallery_labels, queries, result, columns["label"], columns["instance"])
    assert hits.shape == (len(columns["label"]),)
    for bad in (len(gallery_labels), -1):  # past the end, and negative (numpy would wrap it silently)
        with h5py.File(result, "r+") as h5:
            h5["l2/indices"][0, 0] = bad
        with pytest.raises(ValueError) as error:
            _hits(gallery_labels, queries, result, columns["label"], columns["instance"])
        assert str(error.value).startswith(f"{result}: l2 gallery indices ")
        assert f"outside the gallery's 0..{len(gallery_labels) - 1}" in str(error.value)


def test_tuning_checks_the_gallery_model(run, tmp_path):
    """The gallery tuned against must come from the tuning rule's classifier; one that does not
    record its model (written by hand, or before embeddings recorded it) is refused too."""
    genuine = tmp_path / "gallery.h5"
    embed(run, run / "models" / "classifier.pt", genuine, images="train.h5", name="gallery")
    bare = tmp_path / "bare.h5"
    stored = read_embeddings(genuine)
    write_embeddings(bare, stored.features, stored.columns)
    common = {
        "name": "median",
        "enhancer": {"method": "median", "size": "auto", "grid": {"size": [3]}},
        "queries": run / "test.h5",
        "runtime": CPU,
        "batch_size": 16,
        "threads": 1,
    }
    tune_enhancer(**common, model=run / "models" / "classifier.pt", gallery=genuine, output=tmp_path / "ok.json")
    with pytest.raises(StoreError, match=f"{bare}: the embeddings do not record the model that made them"):
        tune_enhancer(**common, model=run / "models" / "classifier.pt", gallery=bare, output=tmp_path / "a.json")
    with pytest.raises(CheckpointError, match="is not the model that embedded the gallery"):
        tune_enhancer(**common, model=run / "models" / "classifier@1.pt", gallery=genuine, output=tmp_path / "b.json")
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()
