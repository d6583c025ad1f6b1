"""The whole workflow end to end on a tiny dataset, then staleness by dry runs (slow: about 2 minutes).

The dataset is a small factor grid rendered by the surrogate renderer and placed as
official-format smallNORB files, so the run exercises the same rules as the real data
path (minus the download). The table's numbers are recomputed here, independently,
from the stored embeddings.
"""

import re
import shutil

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, planned_jobs, run_snakemake, write_config

from cbir.h5store import read_embeddings, read_image_set, read_retrieval
from cbir.stages.data import synthesize

pytestmark = pytest.mark.slow

RUN = "tiny"
QUERIES = {
    "clean": [],
    "noisy": [{"name": "gaussian", "sigma": 0.1}, {"name": "salt_pepper", "amount": 0.1}],
    "blurry": [{"name": "motion_blur", "sigma": 0.05, "T": 1.0}],
    "lowres": [{"name": "lowres", "level": 1}, {"name": "lowres", "level": 2}],
}
ENHANCE = {"noisy": ["denoiser", "median"], "blurry": ["deblurrer"], "lowres": ["upscaler", "lanczos"]}
RESTORED = [f"{q}__{e}" for q, names in ENHANCE.items() for e in names]


def _tiny_config(workdir):
    short = {"epochs": 1, "batch_size": 16, "steps_per_epoch": 2}
    enhancers = {
        # The feature term makes the denoiser's training read the classifier.
        "denoiser": {
            "network": "residual",
            "degradations": QUERIES["noisy"],
            "loss": {"feature": 0.5},
            "depth": 4,
            **short,
        },
        "deblurrer": {"network": "autoencoder", "degradations": QUERIES["blurry"], **short},
        "upscaler": {"network": "srcnn", "degradations": QUERIES["lowres"], **short},
    }
    write_config(
        workdir,
        run=RUN,
        dataset={
            "source": "smallnorb",
            "image_size": 32,
            "subset": {"cameras": [0], "lightings": [0, 3], "azimuth_step": 1, "elevation_step": 1},
        },
        queries=QUERIES,  # merged over the default config's query sets and `enhance` lists
        enhance=ENHANCE,
        classifier={"arch": "resnet18", "epochs": 1, "batch_size": 32, "eval_images": 50},
        enhancers=enhancers,
        retrieval={"distances": ["l2", "cosine"], "topk": 10, "ks": [1, 5, 10], "chunk_size": 64},
        report={"figure_queries": 2},
    )


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(REPO / "config", workdir / "config")
    _tiny_config(workdir)
    synthetic = yaml.safe_load((REPO / "config/config.yaml").read_text())["dataset"]["synthetic"]
    synthesize(
        folder=workdir / "resources" / "smallnorb",
        synthetic=synthetic,
        threads=1,
        elevations=[0, 4, 8],
        azimuths=[0, 6, 12],
        lightings=[0, 3],
    )
    run_snakemake(workdir, "--cores", "2")
    return workdir


def _brute_force_topk(queries, gallery, distance, k):
    """Independent reference: full distance table, stable sort (ties -> lower index)."""
    q, g = queries.astype(np.float64), gallery.astype(np.float64)
    if distance == "l2":
        score = np.sqrt(((q[:, None, :] - g[None, :, :]) ** 2).sum(-1))
    else:
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        gn = g / np.linalg.norm(g, axis=1, keepdims=True)
        score = -(qn @ gn.T)
    return np.argsort(score, axis=1, kind="stable")[:, :k]


def test_table_recomputed_from_embeddings(tiny_run):
    results = tiny_run / "results" / RUN
    gallery = read_embeddings(results / "embeddings/gallery.h5")
    assert gallery.features.shape == (450, 512)
    table = pd.read_csv(results / "tables/retrieval.csv")
    top = table[table["measure"] == "top_k_accuracy"]
    for qset in [*QUERIES, *RESTORED]:
        emb = read_embeddings(results / f"embeddings/{qset}.h5")
        stored, _ = read_retrieval(results / f"retrieval/{qset}.h5")
        base, _, enhancer = qset.partition("__")
        assert (emb.attrs["query_set"], emb.attrs["enhancer"]) == (base, enhancer or "none")
        for distance in ("l2", "cosine"):
            ranks = _brute_force_topk(emb.features, gallery.features, distance, 10)
            # float32 rounding may swap near-equal neighbours; the label sets must agree
            assert (stored[distance][0][:, :1] == ranks[:, :1]).mean() > 0.97
            hits = gallery.labels[ranks] == emb.labels[:, None]
            for k in (1, 5, 10):
                expected = 100 * hits[:, :k].any(axis=1).mean()
                row = top[
                    (top.query_set == base)
                    & (top.enhancer == (enhancer or "none"))
                    & (top.distance == distance)
                    & (top.k == k)
                ]
                assert len(row) == 1, (qset, distance, k)
                assert row["value"].iloc[0] == pytest.approx(expected, abs=100 / len(emb.labels) + 1e-9)


def test_table1_layout_and_other_outputs(tiny_run):
    results = tiny_run / "results" / RUN
    table1 = (results / "tables/table1.md").read_text()
    for row in ("Ideal", "Noisy", "Motion blurry", "Low resolution", "L2", "cosine"):
        assert row in table1
    assert re.search(r"\d+\.\d\d/\d+\.\d\d", table1), "cells must read degraded/enhanced"
    assert "89.42" in table1, "the paper's numbers stand beside ours"
    queries = read_image_set(results / "queries/noisy.h5")
    assert queries.images.shape == (450, 32, 32)
    for png in [
        "dataset",
        "degradations",
        "augmentation",
        "confusion_matrix",
        "retrieval_noisy__denoiser",
        "gap_closed",
    ]:
        image = mpimg.imread(results / f"figures/{png}.png")
        assert min(image.shape[:2]) > 200 and image[..., :3].std() > 0.05, png  # drawn, not blank
    assert (results / "tables/classification.json").exists()


def test_enhancement_table_recomputed_from_images_and_tables(tiny_run):
    from cbir.imagemath import psnr

    results = tiny_run / "results" / RUN
    retrieval = pd.read_csv(results / "tables/retrieval.csv")
    top1 = retrieval[(retrieval.measure == "top_k_accuracy") & (retrieval.k == 1) & (retrieval.distance == "l2")]
    acc = {(r.query_set, r.enhancer): r.value for r in top1.itertuples()}
    table = pd.read_csv(results / "tables/enhancement.csv")
    assert list(table.columns) == [
        "query_set",
        "enhancer",
        "distance",
        "k",
        "clean",
        "degraded",
        "enhanced",
        "gap_closed",
        "psnr",
        "ssim",
    ]
    clean = read_image_set(results / "data/test.h5").images
    for query, names in ENHANCE.items():
        for name in names:
            row = table[
                (table.query_set == query) & (table.enhancer == name) & (table.distance == "l2") & (table.k == 1)
            ]
            assert len(row) == 1
            row = row.iloc[0]
            expected = (acc[(query, name)] - acc[(query, "none")]) / (acc[("clean", "none")] - acc[(query, "none")])
            assert row.gap_closed == pytest.approx(expected, abs=1e-6)
            restored = read_image_set(results / f"queries/{query}__{name}.h5").images
            assert row.psnr == pytest.approx(psnr(clean, restored).mean(), abs=1e-4)
            assert 0 < row.ssim <= 1
    assert "| noisy | (degraded) |" in (results / "tables/enhancement.md").read_text()


def test_retraining_the_classifier_retrains_exactly_the_feature_loss_restorers(tiny_run):
    jobs = planned_jobs(tiny_run, "-R", "train_classifier")
    assert jobs["train_enhancer"] == 1  # the denoiser (loss.feature > 0); not the deblurrer or the upscaler


def test_only_stale_stages_rerun(tiny_run):
    workdir = tiny_run
    assert planned_jobs(workdir) == {}
    config_path = workdir / "config" / "config.yaml"
    original = config_path.read_text()
    try:
        write_config(workdir, retrieval={"ks": [1, 5]})
        assert set(planned_jobs(workdir)) == {"evaluate_retrieval", "evaluate_enhancement", "plot_gap_closed", "all"}

        config_path.write_text(original)
        write_config(workdir, retrieval={"topk": 12})
        jobs = planned_jobs(workdir)
        assert {"retrieve_topk", "evaluate_retrieval"} <= set(jobs)
        assert not {"train_classifier", "train_enhancer", "embed_images", "degrade_queries"} & set(jobs)

        config_path.write_text(original)
        write_config(workdir, queries={**QUERIES, "blurry": [{"name": "motion_blur", "sigma": 0.08, "T": 1.0}]})
        jobs = planned_jobs(workdir)
        assert jobs["degrade_queries"] == 1 and jobs["enhance_queries"] == 1
        assert jobs["embed_images"] == 2 and jobs["retrieve_topk"] == 2 and jobs["evaluate_enhancement"] == 1
        assert not {"train_classifier", "train_enhancer", "convert_norb_to_hdf5"} & set(jobs)
    finally:
        config_path.write_text(original)
