"""The whole workflow end to end on a tiny dataset, then staleness by dry runs (slow: about 2 minutes).

The dataset is a small factor grid rendered by the surrogate renderer and placed as
official-format smallNORB files, so the run exercises the same rules as the real data
path (minus the download). The table's numbers are recomputed here, independently,
from the stored embeddings.
"""

import math
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
ENHANCE = {
    "noisy": ["denoiser", "median"],
    "blurry": ["deblurrer", "blind", "universal"],
    "lowres": ["upscaler", "lanczos"],
}
RESTORED = [f"{q}__{e}" for q, names in ENHANCE.items() for e in names]
BLIND = [f"clean__{e}" for names in ENHANCE.values() for e in names]  # every restorer on the clean queries
KEYS = ["standard", "robust"]
# Two severity sweeps of three steps (the named target `robustness`), replacing the default's five.
SWEEPS = {
    "gaussian": {
        "degradation": {"name": "gaussian"},
        "vary": "sigma",
        "severities": [0.05, 0.1, 0.2],
        "enhancers": ["median"],
    },
    "lowres": {
        "degradation": {"name": "lowres"},
        "vary": "level",
        "severities": [1, [1, 2], 2],
        "enhancers": ["upscaler"],
    },
}


# The named target `calibrate` on the tiny run: blur on a three-value grid, lowres measured only.
CALIBRATION = {
    "blurry": {"drop": 5.0, "vary": {"motion_blur": "sigma"}, "values": [0.02, 0.05, 0.1]},
    "lowres": {"drop": 5.0},
}


SMALLNORB_SUBSET = {
    "source": "smallnorb",
    "image_size": 32,
    "subset": {"cameras": [0], "lightings": [0, 3], "azimuth_step": 1, "elevation_step": 1},
}


def tiny_config(workdir, dataset=SMALLNORB_SUBSET):
    """The tiny run's config (one epoch of a few steps everywhere) on `dataset`."""
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
        # every kind and clean images: the blind table's `universal`
        "universal": {
            "network": "residual",
            "degradations": QUERIES["noisy"] + QUERIES["blurry"] + QUERIES["lowres"],
            "loss": {"feature": 0.0},
            "depth": 4,
            "clean_share": 0.2,
            **short,
        },
    }
    write_config(
        workdir,
        run=RUN,
        replicates=1,
        dataset=dataset,
        queries=QUERIES,  # merged over the default config's query sets and `enhance` lists
        enhance=ENHANCE,
        classifier={"arch": "resnet18", "epochs": 1, "batch_size": 32, "eval_images": 50},
        enhancers=enhancers,
        retrieval={"distances": ["l2", "cosine"], "topk": 10, "ks": [1, 5, 10], "chunk_size": 64},
        report={"figure_queries": 2},
        keys={"robust": {"share": 0.5, "degradations": QUERIES["noisy"] + QUERIES["lowres"]}},
        detector={"epochs": 1, "batch_size": 16, "steps_per_epoch": 2, "eval_images": 50},
    )
    path = workdir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    config["sweeps"] = SWEEPS
    config["calibration"] = CALIBRATION
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pipeline")
    shutil.copytree(REPO / "config", workdir / "config")
    tiny_config(workdir)
    synthetic = yaml.safe_load((REPO / "config/config.yaml").read_text())["dataset"]["synthetic"]
    synthesize(
        folder=workdir / "resources" / "smallnorb",
        synthetic=synthetic,
        threads=1,
        elevations=[0, 4, 8],
        azimuths=[0, 6, 12],
        lightings=[0, 3],
    )
    run_snakemake(workdir, "--cores", "2", "all", "robustness", "calibrate", "heldout")
    return workdir


# The pipeline ranks in float32, this reference in float64: two gallery items whose float64
# scores lie within this band of each other may come in either order on another machine's
# kernels. 3e-5 is the worst-case relative error of a 512-term float32 sum (512 x 6e-8), relative
# to the squared norms for L2 and absolute for the cosine similarity of unit vectors.
_FLOAT32_BAND = 3e-5


def _reference_scores(queries, gallery, distance):
    """float64 [Nq, Ng] scores, smaller is nearer, and per query the width of its near-tie band."""
    q, g = queries.astype(np.float64), gallery.astype(np.float64)
    if distance == "l2":
        score = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
        band = _FLOAT32_BAND * ((q * q).sum(1) + (g * g).sum(1).max())
    else:
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        gn = g / np.linalg.norm(g, axis=1, keepdims=True)
        score, band = -(qn @ gn.T), np.full(len(q), _FLOAT32_BAND)
    return score, band[:, None]


def _hit_bounds(score, band, relevant, k):
    """Per query: whether a relevant item is among the k nearest under every / some order that
    float32 rounding can produce. An item is surely in the top k when at most k items (itself
    included) score within the band of it or better; possibly, when fewer than k score clearly
    better."""
    ordered = np.sort(score, axis=1)
    surely, possibly = np.empty(score.shape, bool), np.empty(score.shape, bool)
    for row, (s, b) in enumerate(zip(score, band[:, 0], strict=True)):
        surely[row] = np.searchsorted(ordered[row], s + 2 * b, side="right") <= k
        possibly[row] = np.searchsorted(ordered[row], s - 2 * b, side="left") < k
    return (surely & relevant).any(1), (possibly & relevant).any(1)


@pytest.mark.parametrize("keys", KEYS)
def test_table_recomputed_from_embeddings(tiny_run, keys):
    results = tiny_run / "results" / RUN
    gallery = read_embeddings(results / f"embeddings/{keys}/gallery.h5")
    assert gallery.features.shape == (360, 512)  # the training split without its 5 validation objects
    assert gallery.attrs["model"].endswith("classifier.pt" if keys == "standard" else f"classifier_{keys}.pt")
    table = pd.read_csv(results / "tables/retrieval.csv")
    top = table[(table["measure"] == "top_k_accuracy") & (table["keys"] == keys)]
    undecided = []  # per query set, distance and k: the share of queries a near-tie leaves open
    for qset in [*QUERIES, *RESTORED, *BLIND]:
        emb = read_embeddings(results / f"embeddings/{keys}/{qset}.h5")
        stored, _ = read_retrieval(results / f"retrieval/{keys}/{qset}.h5")
        base, _, enhancer = qset.partition("__")
        assert (emb.attrs["query_set"], emb.attrs["enhancer"]) == (base, enhancer or "none")
        relevant = gallery.labels[None, :] == emb.labels[:, None]
        for distance in ("l2", "cosine"):
            score, band = _reference_scores(emb.features, gallery.features, distance)
            # the stored neighbours are the k nearest: their scores are the k smallest, rank
            # by rank, up to the near-tie band
            found = np.take_along_axis(score, stored[distance][0][:, :10].astype(np.int64), axis=1)
            assert (np.abs(found - np.sort(score, axis=1)[:, :10]) <= 2 * band).all(), (qset, distance)
            for k in (1, 5, 10):
                low, high = _hit_bounds(score, band, relevant, k)
                undecided.append((low != high).mean())
                row = top[
                    (top.query_set == base)
                    & (top.enhancer == (enhancer or "none"))
                    & (top.distance == distance)
                    & (top.k == k)
                ]
                assert len(row) == 1, (qset, distance, k)
                value = row["value"].iloc[0]
                assert 100 * low.mean() - 1e-6 <= value <= 100 * high.mean() + 1e-6, (qset, distance, k)
    # over all the checks (one set of the tiny run's one-epoch keys may have more, with the
    # machine's and the thread count's rounding deciding which)
    assert np.mean(undecided) < 0.1, "near-ties must stay rare, or this test checks nothing"


def test_table1_layout_and_other_outputs(tiny_run):
    results = tiny_run / "results" / RUN
    table1 = (results / "tables/table1.md").read_text()
    for row in ("Ideal", "Noisy", "Motion blurry", "Low resolution", "L2", "cosine"):
        assert row in table1
    interval = r"\d+\.\d\d \[\d+\.\d, \d+\.\d\]"
    assert re.search(f"{interval} / {interval}", table1), "cells must read degraded / enhanced, with intervals"
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


def _top1_hits(results, keys, qset):
    """Per-query top-1 hits (0/1) of a stored search, from its retrieval and embedding files."""
    gallery = read_embeddings(results / f"embeddings/{keys}/gallery.h5").labels
    labels = read_embeddings(results / f"embeddings/{keys}/{qset}.h5").labels
    stored, _ = read_retrieval(results / f"retrieval/{keys}/{qset}.h5")
    return (gallery[stored["l2"][0][:, 0]] == labels).astype(int)


def _mcnemar_by_hand(after, before):
    """Exact two-sided McNemar from the discordant counts, with integers (independent of cbir.stats)."""
    n01, n10 = int(((after == 1) & (before == 0)).sum()), int(((after == 0) & (before == 1)).sum())
    n = n01 + n10
    tail = sum(math.comb(n, i) for i in range(min(n01, n10) + 1))
    return min(1.0, 2 * tail / 2**n) if n else 1.0


def test_calibration_agrees_with_the_validation_tables(tiny_run):
    """The target `calibrate`: the grid value equal to the configured blur is the validation query
    set byte for byte, so its drop is the configured set's; both equal clean - degraded of the
    validation tables (same classifier, same images); the strength read off lies in the grid."""
    table = pd.read_csv(tiny_run / f"results/{RUN}/tables/calibration.csv")
    retrieval = pd.read_csv(tiny_run / f"results/{RUN}/tables/validation/retrieval.csv")
    top1 = retrieval[
        (retrieval["keys"] == "standard")
        & (retrieval["enhancer"] == "none")
        & (retrieval["distance"] == "l2")
        & (retrieval["measure"] == "top_k_accuracy")
        & (retrieval["k"] == 1)
    ].set_index("query_set")["value"]
    configured = table[table["configured"]].set_index("query_set")
    for qset in ("blurry", "lowres"):
        assert configured.loc[qset, "drop"] == pytest.approx(top1["clean"] - top1[qset], abs=1e-3)
    grid = table[(table["query_set"] == "blurry") & ~table["configured"]].set_index("value")
    assert list(grid.index) == [0.02, 0.05, 0.1]
    assert grid.loc[0.05, "drop"] == pytest.approx(configured.loc["blurry", "drop"], abs=1e-9)
    grid_file = tiny_run / f"results/{RUN}/calibration/queries/blurry/v1.h5"
    query_file = tiny_run / f"results/{RUN}/queries/validation/blurry.h5"
    assert np.array_equal(read_image_set(grid_file).images, read_image_set(query_file).images)
    text = (tiny_run / f"results/{RUN}/tables/calibration.md").read_text()
    assert "| blurry | motion_blur.sigma | 5.0 |" in text and "| lowres | – | 5.0 | – (not varied) |" in text
    assert (tiny_run / f"results/{RUN}/figures/calibration.png").stat().st_size > 10_000


def test_enhancement_table_recomputed_from_images_and_tables(tiny_run):
    from cbir.imagemath import psnr

    results = tiny_run / "results" / RUN
    table = pd.read_csv(results / "tables/enhancement.csv")
    for column in (
        "change",
        "change_low",
        "change_high",
        "p_value",
        "gap_closed_low",
        "gap_closed_high",
        "significant",
    ):
        assert column in table.columns, column
    assert {"judge_change", "blind_change", "psnr", "ssim"} <= set(table.columns)
    clean = read_image_set(results / "data/test.h5").images
    top = _top1_hits(results, "standard", "clean")
    for keys in KEYS:
        for query, names in ENHANCE.items():
            low = _top1_hits(results, "standard", query)
            # every remedy against the standard keys' gap: a restorer, other keys, or both
            for name in names if keys == "standard" else ["none", *names]:
                row = table[
                    (table["keys"] == keys)
                    & (table.query_set == query)
                    & (table.enhancer == name)
                    & (table.distance == "l2")
                    & (table.k == 1)
                ]
                assert len(row) == 1
                row = row.iloc[0]
                images = f"{query}__{name}" if name != "none" else query
                after = _top1_hits(results, keys, images)
                assert (row.clean, row.degraded) == (pytest.approx(100 * top.mean()), pytest.approx(100 * low.mean()))
                assert row.change == pytest.approx(100 * (after.mean() - low.mean()), abs=1e-6)
                assert row.change_low <= row.change <= row.change_high
                assert row.p_value == pytest.approx(_mcnemar_by_hand(after, low), rel=1e-6)
                assert bool(row.significant) == (row.change_low > 0 or row.change_high < 0)
                if np.isnan(row.gap_closed):  # only where the gap is not distinguishable from zero
                    assert row.gap_low <= 0 or row.gap <= 0
                    assert isinstance(row.gap_note, str) and row.gap_note
                else:
                    gap = (after.mean() - low.mean()) / (top.mean() - low.mean())
                    assert row.gap_closed == pytest.approx(gap, abs=1e-6) and row.gap_low > 0
                restored = read_image_set(results / f"queries/{images}.h5").images
                assert row.psnr == pytest.approx(psnr(clean, restored, affine=True).mean(), abs=1e-4)
                assert 0 < row.ssim <= 1
                if name != "none":  # the blind cost: the same remedy on the clean queries
                    blind = _top1_hits(results, keys, f"clean__{name}")
                    own = _top1_hits(results, keys, "clean")
                    assert row.blind_change == pytest.approx(100 * (blind.mean() - own.mean()), abs=1e-6)
    markdown = (results / "tables/enhancement.md").read_text()
    assert "| noisy | (degraded) |" in markdown and "95 %" in markdown
    assert (results / "tables/validation/enhancement.csv").is_file()


def test_routing_and_the_blind_table_recomputed_from_the_stored_kinds(tiny_run):
    """mixed keeps each query's true kind; the oracle routes by it, the blind router by the
    detector's prediction (both stored), a clean-routed query is left as it is, a noise-routed one
    is the denoiser's output; blind.csv's values and gaps follow from the stored searches."""
    import torch

    from cbir.checkpoint import load_model
    from cbir.degrade import KINDS
    from cbir.inference import enhance
    from cbir.train.detector import predict_kinds

    results = tiny_run / "results" / RUN
    mixed = read_image_set(results / "queries/mixed.h5")
    counts = np.bincount(mixed.columns["kind"], minlength=len(KINDS))
    assert (counts > 0).all() and counts.sum() == len(mixed)
    oracle = read_image_set(results / "queries/mixed__oracle.h5")
    assert np.array_equal(oracle.columns["routed_kind"], mixed.columns["kind"])
    none = mixed.columns["kind"] == 0
    assert np.array_equal(oracle.images[none], mixed.images[none])
    denoiser, _ = load_model(results / "models/denoiser.pt", kind="residual", device=torch.device("cpu"))
    noise = np.flatnonzero(mixed.columns["kind"] == KINDS.index("noise"))
    restored = enhance(denoiser, mixed.images[noise], batch_size=64).astype(int)
    assert np.abs(oracle.images[noise].astype(int) - restored).max() <= 1  # float rounding of another batch
    blind = read_image_set(results / "queries/mixed__blind.h5")
    detector, _ = load_model(results / "models/detector.pt", kind="detector", device=torch.device("cpu"))
    assert np.array_equal(blind.columns["routed_kind"], predict_kinds(detector, mixed.images, batch_size=64))
    kept = blind.columns["routed_kind"] == 0
    assert np.array_equal(blind.images[kept], mixed.images[kept])
    table = pd.read_csv(results / "tables/blind.csv")
    assert set(table.remedy) == {"none", "oracle", "blind", "universal"} and set(table["keys"]) == set(KEYS)
    top, low = _top1_hits(results, "standard", "clean"), _top1_hits(results, "standard", "mixed")
    rows = table[(table.query_set == "mixed") & (table.distance == "l2") & (table.k == 1)]
    for row in rows.itertuples():
        after = _top1_hits(results, row.keys, row.image_set)
        assert row.value == pytest.approx(100 * after.mean(), abs=1e-6)
        assert row.change == pytest.approx(100 * (after.mean() - low.mean()), abs=1e-6)
        if not np.isnan(row.gap_closed):
            assert row.gap_closed == pytest.approx((after.mean() - low.mean()) / (top.mean() - low.mean()), abs=1e-6)
    assert set(rows.image_set) >= {"mixed", "mixed__oracle", "mixed__blind", "mixed__universal"}
    detector_table = pd.read_csv(results / "tables/detector.csv")
    mixed_rows = detector_table[detector_table.query_set == "mixed"].set_index("kind")
    predicted = blind.columns["routed_kind"]
    for k, kind in enumerate(KINDS):
        right = (predicted[mixed.columns["kind"] == k] == k).mean()
        assert mixed_rows.loc[kind, "value"] == pytest.approx(100 * right, abs=1e-3)  # 6 digits stored


def test_heldout_families_left_out_of_training_and_scored_as_the_sweeps(tiny_run):
    """The target `heldout`: the models trained without a family saw none of it; the standard keys'
    and the full robust keys' values agree with the robustness table on the same sweep queries."""
    import torch

    from cbir.checkpoint import load_model
    from cbir.degrade import kind_of

    results = tiny_run / "results" / RUN
    table = pd.read_csv(results / "tables/heldout.csv")
    assert list(table[["family", "sweep"]].drop_duplicates().itertuples(index=False, name=None)) == [
        ("noise", "gaussian"),
        ("lowres", "lowres"),
    ]
    for family in ("noise", "lowres"):
        for model in ("keys", "universal"):
            _, meta = load_model(results / f"models/heldout/{model}_without_{family}.pt", device=torch.device("cpu"))
            recipe = meta["recipe"]["degrade"] if model == "keys" else meta["recipe"]
            kinds = {kind_of([spec]) for spec in recipe["degradations"]}
            assert family not in kinds and kinds, (model, family, kinds)
    robustness = pd.read_csv(results / "tables/robustness.csv")
    robustness = robustness[(robustness.enhancer == "none") & (robustness.distance == "l2") & (robustness.k == 1)]
    n_queries = len(read_image_set(results / "data/test.h5"))
    for keys, remedy, trained in (("standard", "none", "-"), ("robust", "robust keys", "all")):
        mine = table[(table.remedy == remedy) & (table.trained_on == trained)].set_index(["sweep", "severity"])
        theirs = robustness[robustness["keys"] == keys].set_index(["sweep", "severity"])
        for index, row in mine.iterrows():
            # the same model, gallery and queries; the gallery embedded again: a near-tie may flip one query
            assert abs(row.value - theirs.loc[index, "top_k_accuracy"]) <= 100 / n_queries + 1e-6, (keys, index)
    held = table[table.trained_on == "held out"]
    assert held["transfer"].notna().all() and (held["transfer_low"] <= held["transfer_high"]).all()
    assert (results / "figures/heldout.png").stat().st_size > 10_000


def test_changing_the_test_split_plans_no_training_or_choice(tiny_run):
    """The test split feeds the final tables only: nothing that trains, tunes or chooses reruns.
    (Snakemake compares a small input's checksum, not only its time: a bare `touch` plans nothing,
    so the file's content changes here, then goes back byte for byte with its time.)"""
    import os

    import h5py

    test = tiny_run / "results" / RUN / "data" / "test.h5"
    original, stat = test.read_bytes(), test.stat()
    try:
        with h5py.File(test, "r+") as h5:
            h5.attrs["edited"] = 1
        jobs = planned_jobs(tiny_run, "all", "robustness")
        assert {"degrade_queries", "search_queries", "evaluate_retrieval", "degrade_sweep"} <= set(jobs)
        assert not {"train_classifier", "train_enhancer", "tune_enhancer", "split_validation"} & set(jobs)
    finally:
        test.write_bytes(original)
        os.utime(test, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert planned_jobs(tiny_run, "all", "robustness") == {}


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
        jobs = planned_jobs(workdir)
        # a changed config also rewrites its record (rule record_config), and nothing else does
        tables = {"evaluate_retrieval", "evaluate_enhancement", "plot_gap_closed", "evaluate_blind", "plot_blind"}
        assert set(jobs) == {*tables, "record_config", "all"}
        assert jobs["evaluate_retrieval"] == jobs["evaluate_enhancement"] == 2  # test and validation tables

        config_path.write_text(original)
        write_config(workdir, retrieval={"topk": 12})
        jobs = planned_jobs(workdir)
        assert {"search_queries", "evaluate_retrieval"} <= set(jobs)
        assert not {"train_classifier", "train_enhancer", "embed_gallery", "degrade_queries"} & set(jobs)

        config_path.write_text(original)
        write_config(workdir, queries={**QUERIES, "blurry": [{"name": "motion_blur", "sigma": 0.08, "T": 1.0}]})
        jobs = planned_jobs(workdir)
        # the query set and its restored set, on the test and the validation split
        assert jobs["degrade_queries"] == 2 and jobs["enhance_deblurrer"] == 2
        # one search job per key set and split
        assert jobs["search_queries"] == 4 and jobs["evaluate_enhancement"] == 2
        assert not {"train_classifier", "train_enhancer", "convert_norb_to_hdf5", "tune_enhancer"} & set(jobs)
    finally:
        config_path.write_text(original)


def test_robustness_table_recomputed_from_embeddings(tiny_run):
    results = tiny_run / "results" / RUN
    table = pd.read_csv(results / "tables/robustness.csv")
    assert list(table.columns) == [
        "keys",
        "enhancer",
        "sweep",
        "severity",
        "parameter",
        "value",
        "distance",
        "k",
        "top_k_accuracy",
        "low",
        "high",
    ]
    enhancers = {"gaussian": ["none", "median"], "lowres": ["none", "upscaler"]}
    # the test split's rows only: keys x sweeps x enhancers (none too) x severities x distances x ks
    assert len(table) == len(KEYS) * 2 * 2 * 3 * 2 * 3
    assert ((table["low"] <= table["top_k_accuracy"]) & (table["top_k_accuracy"] <= table["high"])).all()
    # every severity row names its value, not only its index
    shown = table.groupby(["sweep", "severity"])[["parameter", "value"]].first()
    assert shown.loc["gaussian"]["value"].astype(float).tolist() == SWEEPS["gaussian"]["severities"]
    undecided = []  # per key set, sweep, restorer and severity: queries a near-tie leaves open
    assert set(shown.loc["gaussian"]["parameter"]) == {"sigma"} and set(shown.loc["lowres"]["parameter"]) == {"level"}
    for keys in KEYS:
        gallery = read_embeddings(results / f"embeddings/{keys}/gallery.h5")
        for sweep, names in enhancers.items():
            for enhancer in names:
                for n in (1, 2, 3):
                    # the validation split's sweep (where the best restorer is chosen) ran too
                    assert (results / f"sweeps/validation/{sweep}/embeddings/{keys}/{enhancer}/s{n}.h5").is_file()
                    emb = read_embeddings(results / f"sweeps/{sweep}/embeddings/{keys}/{enhancer}/s{n}.h5")
                    score, band = _reference_scores(emb.features, gallery.features, "cosine")
                    relevant = gallery.labels[None, :] == emb.labels[:, None]
                    low, high = _hit_bounds(score, band, relevant, 5)
                    row = table[
                        (table["keys"] == keys)
                        & (table.enhancer == enhancer)
                        & (table.sweep == sweep)
                        & (table.severity == n)
                        & (table.distance == "cosine")
                        & (table.k == 5)
                    ]
                    value = row["top_k_accuracy"].item()
                    assert 100 * low.mean() - 1e-6 <= value <= 100 * high.mean() + 1e-6, (keys, sweep, enhancer, n)
                    undecided.append((low != high).mean())
    assert np.mean(undecided) < 0.1, "near-ties must stay rare, or this test checks nothing"
    # severity 2 of `gaussian` is the paper's sigma 0.1; stronger noise is farther from the clean images
    from cbir.imagemath import psnr

    clean = read_image_set(results / "data/test.h5").images
    sets = [read_image_set(results / f"sweeps/gaussian/queries/none/s{n}.h5") for n in (1, 2, 3)]
    assert [s.attrs["specs"][0]["sigma"] for s in sets] == [0.05, 0.1, 0.2]
    levels = [psnr(clean, s.images).mean() for s in sets]
    assert levels[0] > levels[1] > levels[2]
    report = (results / "tables/robustness.md").read_text()
    assert "relative error" not in report.lower()
    for words in ("Pooled error ratio", "mCE", "Relative mCE", "best restorer", "chosen on the validation split"):
        assert words in report, words
    # a summary per distance at the smallest k, each key set's restorers chosen on validation (one candidate each)
    assert "## L2 metric, top-1" in report and "## cosine sim, top-1" in report
    for keys in KEYS:
        assert report.count(f"| {keys} | best restorer |") == 2
    assert report.count("gaussian: median, lowres: upscaler") == 2 * len(KEYS)
    image = mpimg.imread(results / "figures/robustness_curves.png")
    assert min(image.shape[:2]) > 200 and image[..., :3].std() > 0.05


def test_editing_one_severity_table_reruns_only_that_sweep(tiny_run):
    assert planned_jobs(tiny_run, "robustness") == {}
    config_path = tiny_run / "config" / "config.yaml"
    original = config_path.read_text()
    try:
        config = yaml.safe_load(original)
        config["sweeps"]["gaussian"]["severities"] = [0.05, 0.1, 0.3]
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        assert planned_jobs(tiny_run, "robustness") == {
            "degrade_sweep": 2,  # gaussian only, on the test and validation splits
            "enhance_sweep": 2,  # gaussian, median, both splits
            "retrieve_sweep": 8,  # gaussian: (none, median) x (standard, robust) x splits
            "evaluate_robustness": 1,
            "plot_robustness": 1,
            "robustness": 1,
        }
        # `all` holds no sweep: the record, and the detector's table, which scores the sweeps' extremes
        # (the detector itself learns the strengths config `detector.degradations` lists: not retrained)
        assert planned_jobs(tiny_run) == {"record_config": 1, "evaluate_detector": 1, "all": 1}
    finally:
        config_path.write_text(original)
