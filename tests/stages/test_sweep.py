"""Stages of sweep.smk: severity sweeps from query sets to robustness.csv, recomputed by hand and by brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import CPU_RUNTIME, columns
from matplotlib.image import imread

from cbir.checkpoint import save_checkpoint
from cbir.config import severity_specs
from cbir.h5store import (
    read_embeddings,
    read_image_set,
    read_ranking_measures,
    read_retrieval,
    write_embeddings,
    write_image_set,
    write_retrieval,
)
from cbir.networks import Classifier, architecture
from cbir.search import ranking_measures, topk
from cbir.seeding import stream_key
from cbir.stages.degrade import degrade_query_set
from cbir.stages.retrieve import embed_images, search_query_sets
from cbir.stages.sweep import (
    clean_levels,
    degrade_sweep,
    enhance_sweep,
    evaluate_robustness,
    plot_robustness,
    retrieve_sweep,
)
from cbir.stats import Resampler
from cbir.tables import TableError

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


def paths(folder, kind, enhancer, keys=None):
    where = folder / kind / (keys or "") / enhancer
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
    for enhancer in ("none", "median"):
        for keys in ("standard", "robust"):
            retrieve_sweep(
                model=folder / f"{keys}.pt",
                gallery=folder / f"gallery_{keys}.h5",
                queries=paths(folder, "queries", enhancer),
                embeddings=paths(folder, "embeddings", enhancer, keys),
                results=paths(folder, "retrieval", enhancer, keys),
                sweep="gaussian",
                enhancer=enhancer,
                runtime=CPU_RUNTIME,
                batch_size=16,
                distances=["l2", "cosine"],
                k=5,
                chunk_size=8,
                threads=1,
            )
            runs += [(keys, enhancer, "gaussian", n) for n in (1, 2, 3)]
            embeddings += paths(folder, "embeddings", enhancer, keys)
            results += paths(folder, "retrieval", enhancer, keys)
    # each key set's clean test queries, searched like every query set
    clean_files = {}
    for keys in ("standard", "robust"):
        clean_files[keys] = (folder / f"clean_{keys}_embeddings.h5", folder / f"clean_{keys}_retrieval.h5")
        search_query_sets(
            model=folder / f"{keys}.pt",
            gallery=folder / f"gallery_{keys}.h5",
            images=[folder / "test.h5"],
            names=["clean"],
            embeddings=[clean_files[keys][0]],
            results=[clean_files[keys][1]],
            runtime=CPU_RUNTIME,
            batch_size=16,
            distances=["l2", "cosine"],
            k=5,
            chunk_size=8,
            threads=1,
        )
    retrieval_csv(folder / "retrieval.csv", {"standard": 80.0, "robust": 79.0})
    # the same files stand in for the validation split: this test is about the files of the sweep stages
    table = evaluate_robustness(
        retrieval=folder / "retrieval.csv",
        galleries={keys: folder / f"gallery_{keys}.h5" for keys in ("standard", "robust")},
        runs=[("", *run) for run in runs] + [("validation/", *run) for run in runs],
        embeddings=embeddings * 2,
        results=results * 2,
        clean_embeddings={keys: files[0] for keys, files in clean_files.items()},
        clean_results={keys: files[1] for keys, files in clean_files.items()},
        clean="clean",
        ks=[1, 5],
        k=1,
        evaluation={"resamples": 50, "level": 0.95},
        seed=3,
        csv=folder / "robustness.csv",
        markdown=folder / "robustness.md",
    )
    stored = pd.read_csv(folder / "robustness.csv")
    assert list(stored.columns) == list(CSV_COLUMNS)
    assert len(stored) == len(runs) * 2 * 2  # the test split only, x distances x ks
    # every top-k accuracy recomputed from the stored embeddings' labels and top-k indices alone
    for (keys, enhancer, _, n), embedding, result in zip(runs, embeddings, results, strict=True):
        gallery = read_embeddings(folder / f"gallery_{keys}.h5").labels
        labels = read_embeddings(embedding).labels
        stored_results, _ = read_retrieval(result)
        # every severity's file also holds the whole-ranking measures of its embeddings
        stored_measures = read_ranking_measures(result)
        assert set(stored_measures) == set(stored_results) == {"l2", "cosine"}
        for distance, values in stored_measures.items():
            again = ranking_measures(
                read_embeddings(embedding).features,
                read_embeddings(folder / f"gallery_{keys}.h5").features,
                query_labels=labels,
                gallery_labels=gallery,
                distance=distance,
                chunk_size=8,
            )
            for name, array in again.items():
                np.testing.assert_array_equal(values[name], array)
        for distance, (indices, _scores) in stored_results.items():
            for k in (1, 5):
                want = 100 * np.mean((gallery[indices[:, :k]] == labels[:, None]).any(1))
                row = stored[
                    (stored["keys"] == keys)
                    & (stored["enhancer"] == enhancer)
                    & (stored["severity"] == n)
                    & (stored["distance"] == distance)
                    & (stored["k"] == k)
                ]
                assert row["top_k_accuracy"].item() == pytest.approx(want, abs=1e-6)
                assert row["low"].item() <= row["top_k_accuracy"].item() <= row["high"].item()
    assert len(table) == len(stored)
    # each severity with the value it stands for, read from the embedded query sets' provenance
    # (restored sets keep their query set's specs)
    assert set(stored["parameter"]) == {"sigma"}
    by_severity = stored.groupby("severity")["value"].agg(set).to_dict()
    assert by_severity == {1: {0.05}, 2: {0.1}, 3: {0.3}}
    text = (folder / "robustness.md").read_text()
    assert "best restorer" in text and "chosen on the validation split" in text
    assert "## L2 metric, top-1" in text and "## cosine sim, top-1" in text
    header = "| Keys | Enhancer | Severity 1 (sigma=0.05) | Severity 2 (sigma=0.1) | Severity 3 (sigma=0.3) |"
    assert header in text


CSV_COLUMNS = (
    *("keys", "enhancer", "sweep", "severity", "parameter", "value"),
    *("distance", "k", "top_k_accuracy", "low", "high"),
)


def retrieval_csv(path, clean: dict[str, float]) -> None:
    """A retrieval.csv in the evaluator's format (value, low, high, chance; k = 0 for whole-ranking measures)."""
    rows = []
    for keys, value in clean.items():
        for distance in ("l2", "cosine"):
            rows.append((keys, "clean", "none", distance, "top_k_accuracy", 1, value, value - 2, value + 2, 20.0))
            rows.append((keys, "clean", "none", distance, "map_full", 0, 50.0, 48.0, 52.0, 21.0))
            rows.append((keys, "noisy", "none", distance, "top_k_accuracy", 1, 40.0, 38.0, 42.0, 20.0))
    columns = ["keys", "query_set", "enhancer", "distance", "measure", "k", "value", "low", "high", "chance"]
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)


GALLERY_SIZE, N_CLASSES = 40, 4
NOISE = {"none": (1.0, 1.0), "soften": (0.5, 1.5), "sharpen": (1.5, 0.5)}  # noise scale on (test, validation)


def write_search(folder, name, features, labels, instances, gallery_features, gallery_labels):
    """Embeddings and retrieval files of one query set, as retrieve_topk writes them."""
    cols = {c: np.zeros(len(labels), np.int64) for c in columns(1)}
    cols.update(label=labels, instance=instances)
    write_embeddings(folder / f"{name}_emb.h5", features, cols, {})
    results, measures = {}, {}
    for distance in ("l2", "cosine"):
        results[distance] = topk(features, gallery_features, k=5, distance=distance, chunk_size=16)
        measures[distance] = ranking_measures(
            features,
            gallery_features,
            query_labels=labels,
            gallery_labels=gallery_labels,
            distance=distance,
            chunk_size=16,
        )
    write_retrieval(folder / f"{name}_ret.h5", results, {}, measures)
    return folder / f"{name}_emb.h5", folder / f"{name}_ret.h5"


@pytest.fixture
def synthetic(tmp_path):
    """Random embeddings of both splits: class centres plus noise growing with severity; the
    restorer `soften` helps on the test split only, `sharpen` on the validation split only."""
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(N_CLASSES, 8))
    gallery_labels = np.arange(GALLERY_SIZE) % N_CLASSES
    galleries, features = {}, {}
    for keys in ("standard", "robust"):
        features[keys] = (centres[gallery_labels] + 0.3 * rng.normal(size=(GALLERY_SIZE, 8))).astype(np.float32)
        cols = {c: np.zeros(GALLERY_SIZE, np.int64) for c in columns(1)} | {"label": gallery_labels}
        galleries[keys] = tmp_path / f"gallery_{keys}.h5"
        write_embeddings(galleries[keys], features[keys], cols, {})
    splits = {"": (36, 24), "validation/": (24, 8)}  # part -> (queries, objects)
    runs, embeddings, results, clean = [], [], [], {}
    for part, (n, objects) in splits.items():
        labels = np.arange(n) % N_CLASSES
        instances = (np.arange(n) // N_CLASSES) % (objects // N_CLASSES)  # numbered within each class
        for keys in ("standard", "robust"):
            if not part:
                noise = 0.3 * rng.normal(size=(n, 8))
                clean[keys] = write_search(
                    tmp_path,
                    f"clean_{keys}",
                    centres[labels] + noise,
                    labels,
                    instances,
                    features[keys],
                    gallery_labels,
                )
            for enhancer in ("none", "soften", "sharpen"):
                for severity in (1, 2, 3):
                    scale = severity * NOISE[enhancer][1 if part else 0]
                    queries = centres[labels] + scale * rng.normal(size=(n, 8))
                    name = f"{part.strip('/') or 'test'}_{keys}_{enhancer}_s{severity}"
                    emb, res = write_search(tmp_path, name, queries, labels, instances, features[keys], gallery_labels)
                    runs.append([part, keys, enhancer, "gaussian", severity])
                    embeddings.append(emb)
                    results.append(res)
    retrieval_csv(tmp_path / "retrieval.csv", {"standard": 90.0, "robust": 88.0})
    return {
        "retrieval": tmp_path / "retrieval.csv",
        "galleries": galleries,
        "runs": runs,
        "embeddings": embeddings,
        "results": results,
        "clean_embeddings": {keys: files[0] for keys, files in clean.items()},
        "clean_results": {keys: files[1] for keys, files in clean.items()},
        "clean": "clean",
        "ks": [1, 3],
        "k": 1,
        "evaluation": {"resamples": 200, "level": 0.95},
        "seed": 11,
        "csv": tmp_path / "robustness.csv",
        "markdown": tmp_path / "robustness.md",
    }


def brute_force_hits(query_path, gallery_path, distance: str, k: int) -> np.ndarray:
    """Per query: whether a gallery item of its label is among its k nearest (full sort, no cbir.search)."""
    queries, gallery = read_embeddings(query_path), read_embeddings(gallery_path)
    q, g = queries.features.astype(np.float64), gallery.features.astype(np.float64)
    if distance == "l2":
        score = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    else:
        score = -(q / np.linalg.norm(q, axis=1, keepdims=True)) @ (g / np.linalg.norm(g, axis=1, keepdims=True)).T
    nearest = np.argsort(score, axis=1, kind="stable")[:, :k]
    return (gallery.labels[nearest] == queries.labels[:, None]).any(1)


def mean_error(synthetic, part: str, keys: str, enhancer: str) -> float:
    """Top-1 L2 error (%) over the three severities, by brute force."""
    errors = []
    for severity in (1, 2, 3):
        i = synthetic["runs"].index([part, keys, enhancer, "gaussian", severity])
        hits = brute_force_hits(synthetic["embeddings"][i], synthetic["galleries"][keys], "l2", 1)
        errors.append(100 * (1 - hits.mean()))
    return float(np.mean(errors))


def test_evaluate_robustness_end_to_end_by_brute_force(synthetic):
    table = evaluate_robustness(**synthetic)
    stored = pd.read_csv(synthetic["csv"])
    assert list(stored.columns) == list(CSV_COLUMNS) and len(stored) == len(table)
    # embeddings that do not say how their queries were degraded: severities without values
    assert stored["parameter"].isna().all() and stored["value"].isna().all()
    assert "| Keys | Enhancer | Severity 1 | Severity 2 | Severity 3 |" in synthetic["markdown"].read_text()
    assert len(stored) == 2 * 3 * 3 * 2 * 2  # test split only: keys x enhancers x severities x distances x ks
    # every test cell by brute force: value, and interval from the resampler the stage must use
    queries = read_embeddings(synthetic["embeddings"][0])
    # an object is a (label, instance) pair: instance numbers restart in every class
    pairs = list(zip(queries.labels.tolist(), queries.columns["instance"].tolist(), strict=True))
    assert len(set(pairs)) == 24 and len(set(queries.columns["instance"])) == 6
    groups = np.array([sorted(set(pairs)).index(pair) for pair in pairs])
    resampler = Resampler(groups, seed=stream_key(11, "bootstrap"), n_resamples=200, level=0.95)
    for run, embedding in zip(synthetic["runs"], synthetic["embeddings"], strict=True):
        part, keys, enhancer, _, severity = run
        if part:
            continue
        for distance, k in [("cosine", 3), ("l2", 1)]:
            hits = brute_force_hits(embedding, synthetic["galleries"][keys], distance, k)
            row = stored[
                (stored["keys"] == keys)
                & (stored["enhancer"] == enhancer)
                & (stored["severity"] == severity)
                & (stored["distance"] == distance)
                & (stored["k"] == k)
            ]
            cell = resampler.mean(hits.astype(float)).scaled(100)
            assert row["top_k_accuracy"].item() == pytest.approx(100 * hits.mean(), abs=1e-5)
            assert (row["low"].item(), row["high"].item()) == pytest.approx((cell.low, cell.high), abs=1e-5)
            assert row["low"].item() <= row["top_k_accuracy"].item() <= row["high"].item()

    # the best restorer is chosen on validation (sharpen), although the test split favours soften;
    # the numbers reported are the test split's
    validation = {e: mean_error(synthetic, "validation/", "standard", e) for e in ("soften", "sharpen")}
    test = {e: mean_error(synthetic, "", "standard", e) for e in ("soften", "sharpen")}
    assert validation["sharpen"] < validation["soften"] and test["soften"] < test["sharpen"]
    text = synthetic["markdown"].read_text()
    assert "(200 resamples of the 24 objects behind the test queries" in text
    l2 = text.split("## L2 metric, top-1\n")[1].split("## cosine sim, top-1\n")[0]
    choice = (
        f"| standard | gaussian | sharpen | soften {validation['soften']:.2f}, sharpen {validation['sharpen']:.2f} |"
    )
    assert choice in l2
    best = next(line for line in l2.splitlines() if line.startswith("| standard | best restorer |"))
    assert best.split(" | ")[2].startswith(f"{test['sharpen']:.2f} [") and best.endswith("| gaussian: sharpen |")
    baseline = next(line for line in l2.splitlines() if line.startswith("| standard | none |"))
    assert baseline.split(" | ")[2].startswith(f"{mean_error(synthetic, '', 'standard', 'none'):.2f} [")
    assert "| 1 (baseline) |" in baseline
    # clean errors from the clean test queries, through the same evaluator
    clean_hits = brute_force_hits(synthetic["clean_embeddings"]["robust"], synthetic["galleries"]["robust"], "l2", 1)
    assert f"robust keys {100 * clean_hits.mean():.2f} [" in l2
    assert f"{100 * (1 - clean_hits.mean()):.2f} [" in next(
        line for line in l2.splitlines() if line.startswith("| robust | none |")
    )

    # deterministic: the same files and seed give the same bytes
    first = synthetic["csv"].read_bytes(), text
    evaluate_robustness(**synthetic)
    assert (synthetic["csv"].read_bytes(), synthetic["markdown"].read_text()) == first

    # the curves from the new CSV, clean levels from the evaluator's retrieval.csv (k = 0 rows, intervals)
    levels = clean_levels(synthetic["retrieval"], clean="clean", distance="l2", k=1)
    assert levels == {"standard": 90.0, "robust": 88.0}
    output = synthetic["csv"].with_name("curves.png")
    plot_robustness(
        table=synthetic["csv"], retrieval=synthetic["retrieval"], clean="clean", distance="l2", k=1, output=output
    )
    assert imread(output)[..., :3].std() > 0.05


def test_evaluate_robustness_rejects_mismatched_inputs(synthetic):
    with pytest.raises(TableError, match="validation split"):
        runs = [run for run in synthetic["runs"] if run[0] == ""]
        evaluate_robustness(
            **synthetic
            | {"runs": runs, "embeddings": synthetic["embeddings"][: len(runs)]}
            | {"results": synthetic["results"][: len(runs)]}
        )
    with pytest.raises(TableError, match="unknown part 'train/'"):
        evaluate_robustness(**synthetic | {"runs": [["train/", *run[1:]] for run in synthetic["runs"]]})
    # a validation file among the test runs: other queries, so the shared resamples would not fit
    swapped = list(synthetic["embeddings"])
    swapped[1] = synthetic["embeddings"][-1]
    with pytest.raises(TableError, match="not the same queries"):
        evaluate_robustness(**synthetic | {"embeddings": swapped})
    with pytest.raises(TableError, match=r"no clean test queries of the key sets \['robust'\]"):
        evaluate_robustness(**synthetic | {"clean_results": {"standard": synthetic["clean_results"]["standard"]}})


def test_clean_levels_name_the_missing_set(tmp_path):
    pd.DataFrame(
        {"keys": ["standard"], "query_set": ["noisy"], "enhancer": ["none"], "distance": ["l2"]}
        | {"measure": ["top_k_accuracy"], "k": [1], "value": [50.0]}
    ).to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(ValueError, match="clean query set 'clean'"):
        clean_levels(tmp_path / "r.csv", clean="clean", distance="l2", k=1)
