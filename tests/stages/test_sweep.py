"""Stages of sweep.smk: severity sweeps from query sets to robustness.csv, recomputed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import CPU_RUNTIME, columns

from cbir.checkpoint import save_checkpoint
from cbir.config import severity_specs
from cbir.h5store import read_embeddings, read_image_set, read_retrieval, write_image_set
from cbir.networks import Classifier, architecture
from cbir.stages.degrade import degrade_query_set
from cbir.stages.retrieve import embed_images
from cbir.stages.sweep import clean_levels, degrade_sweep, enhance_sweep, evaluate_robustness, retrieve_sweep

SWEEP = {"degradation": {"name": "gaussian", "sigma": 0.1}, "vary": "sigma", "severities": [0.05, 0.1, 0.3]}
MEDIAN = {"method": "median", "size": 3}


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    write_image_set(tmp_path / "test.h5", rng.integers(0, 256, (30, 32, 32), dtype=np.uint8), columns(30), {})
    write_image_set(tmp_path / "train.h5", rng.integers(0, 256, (40, 32, 32), dtype=np.uint8), columns(40), {})
    for keys, seed in [("standard", 0), ("robust", 1)]:
        torch.manual_seed(seed)
        net = Classifier("resnet18")
        meta = {"name": keys, **architecture(net), "input_size": [32, 32], "epochs_done": 1}
        save_checkpoint(tmp_path / f"{keys}.pt", net.state_dict(), meta)
        embed_images(
            model=tmp_path / f"{keys}.pt",
            images=tmp_path / "train.h5",
            output=tmp_path / f"gallery_{keys}.h5",
            name="gallery",
            runtime=CPU_RUNTIME,
            batch_size=16,
            threads=1,
        )
    return tmp_path


def paths(folder, kind, variant, keys=None):
    where = folder / kind / (keys or "") / variant
    return [where / f"s{n}.h5" for n in (1, 2, 3)]


def test_sweep_stages_write_query_sets_like_degrade_queries_and_the_table_recomputes(folder):
    severities = severity_specs(SWEEP)
    degrade_sweep(
        test=folder / "test.h5",
        outputs=paths(folder, "queries", "none"),
        severities=severities,
        sweep="gaussian",
        seed=4,
        rescale="minmax",
        chunk_size=7,
        threads=1,
    )
    # severity 2 is the query set `gaussian` with the same spec (same stream: the name), byte for byte
    degrade_query_set(
        test=folder / "test.h5",
        output=folder / "gaussian.h5",
        specs=[{"name": "gaussian", "sigma": 0.1}],
        query="gaussian",
        seed=4,
        rescale="minmax",
        chunk_size=512,
        threads=1,
    )
    second = read_image_set(paths(folder, "queries", "none")[1])
    assert np.array_equal(second.images, read_image_set(folder / "gaussian.h5").images)
    assert (second.attrs["sweep"], second.attrs["severity"]) == ("gaussian", 2)
    # one stream for all severities: the same noise draws, scaled by sigma, so stronger is farther
    clean = read_image_set(folder / "test.h5").images.astype(float)
    errors = [np.abs(read_image_set(p).images - clean).mean() for p in paths(folder, "queries", "none")]
    assert errors[0] < errors[1] < errors[2]

    enhance_sweep(
        queries=paths(folder, "queries", "none"),
        model=None,
        outputs=paths(folder, "queries", "median"),
        sweep="gaussian",
        name="median",
        enhancer=MEDIAN,
        runtime=CPU_RUNTIME,
        batch_size=16,
        threads=1,
    )
    assert read_image_set(paths(folder, "queries", "median")[0]).attrs["enhancer"] == "median"

    runs, embeddings, results = [], [], []
    for variant in ("none", "median"):
        for keys in ("standard", "robust"):
            retrieve_sweep(
                model=folder / f"{keys}.pt",
                gallery=folder / f"gallery_{keys}.h5",
                queries=paths(folder, "queries", variant),
                embeddings=paths(folder, "embeddings", variant, keys),
                results=paths(folder, "retrieval", variant, keys),
                sweep="gaussian",
                variant=variant,
                runtime=CPU_RUNTIME,
                batch_size=16,
                distances=["l2", "cosine"],
                k=5,
                chunk_size=8,
                threads=1,
            )
            runs += [(keys, variant, "gaussian", n) for n in (1, 2, 3)]
            embeddings += paths(folder, "embeddings", variant, keys)
            results += paths(folder, "retrieval", variant, keys)
    pd.DataFrame(
        {
            "keys": ["standard", "robust"],
            "query_set": "clean",
            "enhancer": "none",
            "distance": "l2",
            "measure": "top_k_accuracy",
            "k": 1,
            "value": [80.0, 79.0],
        }
    ).to_csv(folder / "retrieval.csv", index=False)
    table = evaluate_robustness(
        retrieval=folder / "retrieval.csv",
        galleries={keys: folder / f"gallery_{keys}.h5" for keys in ("standard", "robust")},
        runs=runs,
        embeddings=embeddings,
        results=results,
        clean="clean",
        ks=[1, 5],
        distance="l2",
        k=1,
        csv=folder / "robustness.csv",
        markdown=folder / "robustness.md",
    )
    stored = pd.read_csv(folder / "robustness.csv")
    assert list(stored.columns) == ["keys", "enhancer", "degradation", "severity", "distance", "k", "top_k_accuracy"]
    assert len(stored) == len(runs) * 2 * 2  # x distances x ks
    # every top-k accuracy recomputed from the stored embeddings' labels and top-k indices alone
    for (keys, variant, _, n), embedding, result in zip(runs, embeddings, results, strict=True):
        gallery = read_embeddings(folder / f"gallery_{keys}.h5").labels
        labels = read_embeddings(embedding).labels
        stored_results, _ = read_retrieval(result)
        for distance, (indices, _scores) in stored_results.items():
            for k in (1, 5):
                want = 100 * np.mean((gallery[indices[:, :k]] == labels[:, None]).any(1))
                row = stored[
                    (stored["keys"] == keys)
                    & (stored["enhancer"] == variant)
                    & (stored["severity"] == n)
                    & (stored["distance"] == distance)
                    & (stored["k"] == k)
                ]
                assert row["top_k_accuracy"].item() == pytest.approx(want, abs=1e-6)
    assert len(table) == len(stored)
    text = (folder / "robustness.md").read_text()
    assert "best restorer" in text and "80.00" in text


def test_clean_levels_name_the_missing_set(tmp_path):
    pd.DataFrame(
        {"keys": ["standard"], "query_set": ["noisy"], "enhancer": ["none"], "distance": ["l2"]}
        | {"measure": ["top_k_accuracy"], "k": [1], "value": [50.0]}
    ).to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(ValueError, match="clean query set 'clean'"):
        clean_levels(tmp_path / "r.csv", clean="clean", distance="l2", k=1)
