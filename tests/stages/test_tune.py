"""Stage of the tuning rule: a classical enhancer's auto parameters chosen by validation retrieval."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import CPU_RUNTIME, columns

from cbir.checkpoint import save_checkpoint, weights_sha256
from cbir.classical import median
from cbir.h5store import read_embeddings, write_embeddings, write_image_set
from cbir.inference import embed
from cbir.networks import Classifier, architecture
from cbir.stages.tune import read_tuned, tune_enhancer
from cbir.tuning import choose, resolve

N, SIZE, BATCH = 12, 32, 8
# Size 3 sits between the decoy (7, first) and a point that can at best tie with it (5, last).
ENHANCER = {"method": "median", "size": "auto", "grid": {"size": [7, 3, 5]}}


def salt_pepper(images: np.ndarray, rng: np.random.Generator, amount: float = 0.2) -> np.ndarray:
    out = images.copy()
    hit = rng.random(images.shape) < amount
    out[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0, 255).astype(np.uint8)
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Noisy validation queries of 2 classes, a classifier checkpoint, and a gallery where the
    answer is known: each query restored by the median of size 3 (the query's label) and of
    size 7 (the other label, a decoy). Size 3 finds every query's twin (100 %), size 7 every
    query's decoy (0 %)."""
    folder = tmp_path_factory.mktemp("tune")
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (N, SIZE, SIZE), dtype=np.uint8)
    noisy = salt_pepper(clean, rng)
    labels = np.arange(N, dtype=np.int64) % 2
    cols = {**columns(N), "label": labels}
    write_image_set(folder / "queries.h5", noisy, cols, {"query": "noisy"})
    torch.manual_seed(0)
    classifier = Classifier("resnet18").eval()
    meta = {"name": "classifier", **architecture(classifier), "input_size": [SIZE, SIZE], "epochs_done": 1}
    save_checkpoint(folder / "classifier.pt", classifier.state_dict(), meta)
    twins = embed(classifier, median(noisy, size=3), batch_size=BATCH)
    decoys = embed(classifier, median(noisy, size=7), batch_size=BATCH)
    gallery_cols = {k: np.concatenate([v, v]) for k, v in columns(N).items()}
    gallery_cols["label"] = np.concatenate([labels, 1 - labels])
    model = {"keys": "standard", "weights_sha256": weights_sha256(classifier.state_dict())}
    write_embeddings(folder / "gallery.h5", np.concatenate([twins, decoys]), gallery_cols, model)
    return folder


def run_tune(folder, output, enhancer=ENHANCER, name="median"):
    return tune_enhancer(
        name=name,
        enhancer=enhancer,
        queries=folder / "queries.h5",
        model=folder / "classifier.pt",
        gallery=folder / "gallery.h5",
        output=output,
        runtime=CPU_RUNTIME,
        batch_size=BATCH,
        threads=1,
    )


def test_tuning_finds_the_known_answer_and_is_deterministic(files):
    result = run_tune(files, files / "a.json")
    written = json.loads((files / "a.json").read_text())
    assert written == result
    assert [g["params"] for g in written["grid"]] == [{"size": 7}, {"size": 3}, {"size": 5}]  # every point, in order
    scores = [g["top1"] for g in written["grid"]]
    assert all(0.0 <= s <= 100.0 for s in scores)
    assert scores[0] == 0.0 and scores[1] == 100.0  # the decoys, the twins
    assert written["chosen"] == {"size": 3} == written["grid"][choose(scores)]["params"]
    assert written["params"] == {"method": "median", "size": 3} == resolve(ENHANCER, written["chosen"])
    assert written["enhancer"] == "median" and written["method"] == "median" and written["n_queries"] == N
    assert written["criterion"] == "validation top-1 retrieval accuracy (l2)"
    assert written["queries"] == str(files / "queries.h5")
    assert read_tuned(files / "a.json") == {"size": 3}
    run_tune(files, files / "b.json")
    assert (files / "a.json").read_bytes() == (files / "b.json").read_bytes()


def test_a_tie_goes_to_the_earlier_grid_point(files, tmp_path):
    """A gallery whose labels no query has: every point scores 0, and the first is chosen."""
    gallery = read_embeddings(files / "gallery.h5")
    write_embeddings(
        tmp_path / "gallery.h5", gallery.features, {**gallery.columns, "label": gallery.labels * 0 + 2}, gallery.attrs
    )
    enhancer = {"method": "median", "size": "auto", "grid": {"size": [5, 7, 3]}}
    result = tune_enhancer(
        name="median",
        enhancer=enhancer,
        queries=files / "queries.h5",
        model=files / "classifier.pt",
        gallery=tmp_path / "gallery.h5",
        output=tmp_path / "tuned.json",
        runtime=CPU_RUNTIME,
        batch_size=BATCH,
        threads=1,
    )
    assert [g["top1"] for g in result["grid"]] == [0.0, 0.0, 0.0]
    assert result["chosen"] == {"size": 5}


def test_nothing_auto_is_one_point(files):
    result = run_tune(files, files / "d.json", {"method": "median", "size": 7}, name="fixed")
    assert result["chosen"] == {} and result["params"] == {"method": "median", "size": 7}
    assert result["grid"] == [{"params": {}, "top1": 0.0}]
    assert read_tuned(files / "d.json") == {}


def test_a_network_is_not_tuned(files):
    with pytest.raises(ValueError, match="enhancer 'den' is a network"):
        run_tune(files, files / "x.json", {"network": "residual", "degradations": []}, name="den")
    assert not (files / "x.json").exists()


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"enhancer": "median"}', '{"chosen": [3]}'])
def test_read_tuned_names_a_malformed_file(tmp_path, text):
    path = tmp_path / "tuned.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"{path}: not a tuning result"):
        read_tuned(path)
