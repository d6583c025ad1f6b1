"""Replicates end to end (slow): every network trained twice, the tables averaged over both, each
replicate's restorer judged by the other replicate's classifier; recomputed here from the files."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, run_snakemake, write_config

from cbir.h5store import read_embeddings, read_retrieval
from cbir.stages.data import synthesize

pytestmark = pytest.mark.slow

RUN = "reps"
QUERIES = {"clean": [], "noisy": [{"name": "gaussian", "sigma": 0.1}]}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import shutil

    import yaml

    workdir = tmp_path_factory.mktemp("replicates")
    shutil.copytree(REPO / "config", workdir / "config")
    short = {"epochs": 1, "batch_size": 16, "steps_per_epoch": 2}
    write_config(
        workdir,
        run=RUN,
        replicates=2,
        dataset={
            "source": "smallnorb",
            "image_size": 32,
            "subset": {"cameras": [0], "lightings": [0], "azimuth_step": 1, "elevation_step": 1},
        },
        queries=QUERIES,
        enhance={"noisy": ["denoiser"]},
        classifier={"epochs": 1, "batch_size": 32, "eval_images": 20},
        enhancers={
            "denoiser": {
                "network": "residual",
                "degradations": QUERIES["noisy"],
                "loss": {"feature": 0.5},
                "depth": 4,
                **short,
            }
        },
        evaluation={"resamples": 200},
    )
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    # only the standard keys, only the paper's four query names used here
    config["keys"] = {"robust": None}
    config["enhance"] = {"noisy": ["denoiser"]}
    config["queries"] = QUERIES
    config["calibration"] = {}  # it names the demo's query sets
    config["mixtures"] = {}  # so does the mixture
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    synthetic = yaml.safe_load((REPO / "config/config.yaml").read_text())["dataset"]["synthetic"]
    synthesize(
        folder=workdir / "resources" / "smallnorb",
        synthetic=synthetic,
        threads=1,
        elevations=[0, 4, 8],
        azimuths=[0, 6, 12],
        lightings=[0],
    )
    run_snakemake(workdir, "--cores", "2", "all")
    return workdir / "results" / RUN


def _hits(results, folder, qset, gallery_keys=None):
    """Per-query top-1 hits (L2) of one stored search, from its files alone (the gallery of
    `gallery_keys`, by default the folder's own key set)."""
    gallery = read_embeddings(results / f"embeddings/{gallery_keys or folder}/gallery.h5").labels
    labels = read_embeddings(results / f"embeddings/{folder}/{qset}.h5").labels
    stored, _ = read_retrieval(results / f"retrieval/{folder}/{qset}.h5")
    return (gallery[stored["l2"][0][:, 0]] == labels).astype(float)


def test_each_network_trained_per_replicate_with_its_own_seed(run):
    for name in ("classifier", "denoiser"):
        first = torch.load(run / f"models/{name}.pt", weights_only=False)
        second = torch.load(run / f"models/{name}@1.pt", weights_only=False)
        assert first["meta"]["seed"] != second["meta"]["seed"]
        weights = [first["state_dict"][k] for k in first["state_dict"] if k.endswith("weight")]
        others = [second["state_dict"][k] for k in second["state_dict"] if k.endswith("weight")]
        assert any(not torch.equal(a, b) for a, b in zip(weights, others, strict=True))
    # the query sets are shared: one degraded set, each replicate's own restored set
    assert (run / "queries/noisy.h5").is_file() and not (run / "queries/noisy@1.h5").exists()
    assert (run / "queries/noisy__denoiser.h5").is_file() and (run / "queries/noisy__denoiser@1.h5").is_file()


def test_tables_average_replicates_and_the_next_replicate_judges(run):
    table = pd.read_csv(run / "tables/enhancement.csv")
    row = table[(table.enhancer == "denoiser") & (table.distance == "l2") & (table.k == 1)].iloc[0]
    # each replicate's keys on its own restored set, averaged
    own = [_hits(run, "standard", "noisy__denoiser"), _hits(run, "standard@1", "noisy__denoiser@1")]
    noisy = [_hits(run, "standard", "noisy"), _hits(run, "standard@1", "noisy")]
    assert row.enhanced == pytest.approx(100 * np.mean(own), abs=1e-6)
    assert row.degraded == pytest.approx(100 * np.mean(noisy), abs=1e-6)
    # judge: replicate 0's restorer seen by replicate 1's keys (folder judge), and the other way round,
    # each against the judging keys on the unrestored queries
    judged = [
        _hits(run, "judge", "noisy__denoiser", gallery_keys="standard@1"),
        _hits(run, "judge@1", "noisy__denoiser@1", gallery_keys="standard"),
    ]
    expected = 100 * (np.mean(judged[0] - noisy[1]) + np.mean(judged[1] - noisy[0])) / 2
    assert row.judge_keys == "next replicate" and row.judge_change == pytest.approx(expected, abs=1e-6)
    assert row.judge_low <= row.judge_change <= row.judge_high
    retrieval = pd.read_csv(run / "tables/retrieval.csv")
    top = (retrieval.measure == "top_k_accuracy") & (retrieval.k == 1)
    clean = retrieval[top & (retrieval.query_set == "clean") & (retrieval.enhancer == "none")]
    top1 = clean[clean.distance == "l2"].value.item()
    assert top1 == pytest.approx(100 * np.mean([_hits(run, f"standard{t}", "clean") for t in ("", "@1")]), abs=1e-6)
    assert "mean over 2 replicates" in (run / "tables/enhancement.md").read_text()
