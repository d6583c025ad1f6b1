"""Stages of retrieve.smk: embeddings of image-set files and top-k search of embedding files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import CPU_RUNTIME, columns

from cbir.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from cbir.h5store import (
    COLUMNS,
    read_embeddings,
    read_ranking_measures,
    read_retrieval,
    write_embeddings,
    write_image_set,
)
from cbir.inference import embed
from cbir.networks import Classifier, architecture
from cbir.search import SearchError, topk
from cbir.stages.retrieve import embed_images, retrieve_topk

RUNTIME = CPU_RUNTIME
# The provenance every embeddings file of the pipeline records (one model made both files).
MODEL = {"keys": "standard", "weights_sha256": "ab" * 32, "model": "models/classifier.pt"}


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (23, 32, 32), dtype=np.uint8)
    write_image_set(tmp_path / "images.h5", images, columns(23), {"query": "noisy"})
    torch.manual_seed(0)
    classifier = Classifier("resnet18")
    meta = {"name": "classifier", **architecture(classifier), "input_size": [32, 32], "epochs_done": 1}
    save_checkpoint(tmp_path / "classifier.pt", classifier.state_dict(), meta)
    return tmp_path, images, classifier.eval()


def run_embed(folder, images, output, batch_size=8, name="noisy__median"):
    embed_images(
        model=folder / "classifier.pt",
        images=images,
        output=output,
        name=name,
        runtime=RUNTIME,
        batch_size=batch_size,
        threads=1,
    )


def test_embeddings_shape_columns_attrs_and_determinism(files):
    folder, images, classifier = files
    run_embed(folder, folder / "images.h5", folder / "a.h5")
    run_embed(folder, folder / "images.h5", folder / "b.h5")
    run_embed(folder, folder / "images.h5", folder / "c.h5", batch_size=23)
    a, b, c = (read_embeddings(folder / f"{k}.h5") for k in "abc")
    assert a.features.shape == (23, 512) and a.features.dtype == np.float32
    assert np.array_equal(a.features, b.features)
    np.testing.assert_allclose(a.features, c.features, rtol=1e-4, atol=1e-5)  # batch size does not matter
    for name in COLUMNS:
        assert np.array_equal(a.columns[name], columns(23)[name])
    assert a.attrs["model"].endswith("classifier.pt") and a.attrs["source"].endswith("images.h5")
    assert a.attrs["source_attrs"]["query"] == "noisy" and a.attrs["embedding_size"] == 512
    assert a.attrs["model_meta"]["arch_args"]["arch"] == "resnet18"
    # the model that made them: its key set and weights digest (what a search compares)
    digest = read_checkpoint(folder / "classifier.pt")["meta"]["weights_sha256"]
    assert (a.attrs["keys"], a.attrs["weights_sha256"]) == ("standard", digest) and len(digest) == 64
    assert (a.attrs["query_set"], a.attrs["enhancer"]) == ("noisy", "median")  # the set and the restorer
    run_embed(folder, folder / "images.h5", folder / "g.h5", name="gallery")
    g = read_embeddings(folder / "g.h5")
    assert (g.attrs["query_set"], g.attrs["enhancer"]) == ("gallery", "none")
    # The file holds exactly what the pure function computes from the checkpoint's weights.
    assert np.array_equal(a.features, embed(classifier, images, batch_size=8))


def test_embedding_rejects_wrong_kind_or_size(files, tmp_path):
    folder, _, _ = files
    write_image_set(tmp_path / "big.h5", np.zeros((2, 64, 64), np.uint8), columns(2))
    with pytest.raises(CheckpointError, match="trained on 32x32 grey images but .*big.h5 holds 64x64 grey"):
        run_embed(folder, tmp_path / "big.h5", folder / "x.h5")
    save_checkpoint(
        tmp_path / "other.pt", {}, {"kind": "srcnn", "arch_args": {}, "name": "upscaler", "input_size": [32, 32]}
    )
    with pytest.raises(CheckpointError, match="holds a srcnn"):
        embed_images(
            model=tmp_path / "other.pt",
            images=folder / "images.h5",
            output=folder / "x.h5",
            name="noisy",
            runtime=RUNTIME,
            batch_size=8,
            threads=1,
        )
    assert not (folder / "x.h5").exists()


def test_retrieve_topk_writes_every_distance(tmp_path):
    rng = np.random.default_rng(6)
    gallery = rng.standard_normal((50, 8)).astype(np.float32)
    queries = rng.standard_normal((7, 8)).astype(np.float32)
    write_embeddings(tmp_path / "gallery.h5", gallery, columns(50), MODEL)
    write_embeddings(tmp_path / "q.h5", queries, columns(7), MODEL)
    out = tmp_path / "retrieval" / "q.h5"
    common = {"gallery": tmp_path / "gallery.h5", "queries": tmp_path / "q.h5", "output": out, "threads": 1}
    retrieve_topk(**common, distances=["l2", "cosine"], k=5, chunk_size=3)
    results, attrs = read_retrieval(out)
    assert set(results) == {"l2", "cosine"}
    assert attrs["distances"] == ["l2", "cosine"] and attrs["k"] == 5 and attrs["chunk_size"] == 3
    assert attrs["gallery"].endswith("gallery.h5") and attrs["queries"].endswith("q.h5")
    assert attrs["n_gallery"] == 50 and attrs["n_queries"] == 7
    assert (attrs["keys"], attrs["weights_sha256"]) == (MODEL["keys"], MODEL["weights_sha256"])
    for distance in ("l2", "cosine"):
        expected = topk(queries, gallery, k=5, distance=distance, chunk_size=3)
        np.testing.assert_array_equal(results[distance][0], expected[0])
        np.testing.assert_array_equal(results[distance][1], expected[1])
    retrieve_topk(**common, distances=["cosine"], k=2, chunk_size=3)
    assert set(read_retrieval(out)[0]) == set(read_ranking_measures(out)) == {"cosine"}
    with pytest.raises(SearchError, match="retrieval.topk=51 exceeds the gallery size 50"):
        retrieve_topk(**common, distances=["l2"], k=51, chunk_size=3)


def brute_force_measures(queries, gallery, query_labels, gallery_labels, distance):
    """map_full, r_precision, map_at_r per query from a float64 full argsort and the definitions."""
    q, g = queries.astype(np.float64), gallery.astype(np.float64)
    if distance == "l2":
        rank = np.sqrt(((q[:, None, :] - g[None]) ** 2).sum(-1))
    else:
        rank = -(q @ g.T) / np.outer(np.linalg.norm(q, axis=1), np.linalg.norm(g, axis=1))
    out = {"map_full": [], "r_precision": [], "map_at_r": []}
    for row, label in zip(np.argsort(rank, axis=1, kind="stable"), query_labels, strict=True):
        relevant = gallery_labels[row] == label
        n_rel = relevant.sum()
        precision = np.cumsum(relevant) / np.arange(1, len(row) + 1)
        out["map_full"].append((precision * relevant).sum() / n_rel if n_rel else 0.0)
        out["r_precision"].append(relevant[:n_rel].sum() / n_rel if n_rel else 0.0)
        out["map_at_r"].append((precision * relevant)[:n_rel].sum() / n_rel if n_rel else 0.0)
    return {name: np.array(values) for name, values in out.items()}


def test_retrieve_topk_stores_the_whole_ranking_measures(tmp_path):
    rng = np.random.default_rng(7)
    gallery = rng.standard_normal((60, 8)).astype(np.float32)
    queries = rng.standard_normal((9, 8)).astype(np.float32)
    gallery_cols, query_cols = columns(60), columns(9)
    gallery_cols["label"] = rng.integers(0, 4, 60)  # uneven R per label
    query_cols["label"] = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3])  # label 4: R = 0
    write_embeddings(tmp_path / "gallery.h5", gallery, gallery_cols, MODEL)
    write_embeddings(tmp_path / "q.h5", queries, query_cols, MODEL)
    out = tmp_path / "r.h5"
    retrieve_topk(
        gallery=tmp_path / "gallery.h5",
        queries=tmp_path / "q.h5",
        output=out,
        distances=["l2", "cosine"],
        k=4,
        chunk_size=4,
        threads=1,
    )
    stored = read_ranking_measures(out)
    assert set(stored) == {"l2", "cosine"}
    for distance in ("l2", "cosine"):
        expected = brute_force_measures(queries, gallery, query_cols["label"], gallery_cols["label"], distance)
        for name in ("map_full", "r_precision", "map_at_r"):
            assert stored[distance][name].shape == (9,)
            np.testing.assert_allclose(stored[distance][name], expected[name], rtol=1e-12, atol=0)
        assert stored[distance]["map_full"][4] == 0 and 0 < stored[distance]["map_full"][0] < 1
