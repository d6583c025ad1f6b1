"""Stages of calibrate.smk on hand-made search files: drops, the read-off strength, the table,
the config snippet and the figure, recomputed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import columns
from matplotlib.image import imread

from cbir.calibration import CalibrationError
from cbir.h5store import read_image_set, write_embeddings, write_image_set, write_retrieval
from cbir.stages.calibrate import CONFIGURED, degrade_calibration, evaluate_calibration, plot_calibration
from cbir.stages.degrade import degrade_query_set

LABELS = np.array([0, 0, 1, 1, 0, 0, 1, 1])
INSTANCES = np.array([0, 1, 0, 1, 0, 1, 0, 1])  # 4 objects, two queries each
GALLERY = np.array([0, 1])  # gallery image 0 is class 0, image 1 class 1
BLUR = [{"name": "motion_blur", "sigma": 0.2, "T": 1.0, "zero_centre": True}]
CALIBRATION = {
    "blurry": {"drop": 50.0, "vary": {"motion_blur": "sigma"}, "values": [0.1, 0.2, 0.3]},
    "lowres": {"drop": 10.0, "vary": {}, "values": []},
}
QUERIES = {"clean": [], "blurry": BLUR, "lowres": [{"name": "lowres", "level": 1}]}


def write_search(folder, name: str, wrong: int):
    """A search whose first `wrong` queries retrieve the other class first (top-1 miss)."""
    cols = {c: np.zeros(len(LABELS), np.int64) for c in columns(1)}
    cols.update(label=LABELS, instance=INSTANCES)
    write_embeddings(folder / f"{name}_emb.h5", np.zeros((len(LABELS), 2), np.float32), cols, {})
    first = LABELS.copy()
    first[:wrong] = 1 - first[:wrong]
    indices = np.stack([first, 1 - first], axis=1)
    scores = np.zeros(indices.shape, np.float32)
    write_retrieval(folder / f"{name}_ret.h5", {"l2": (indices, scores), "cosine": (indices, scores)}, {})
    return folder / f"{name}_emb.h5", folder / f"{name}_ret.h5"


@pytest.fixture
def searches(tmp_path):
    cols = {c: np.zeros(2, np.int64) for c in columns(1)}
    cols["label"] = GALLERY
    galleries = []
    for r in range(2):
        write_embeddings(tmp_path / f"gallery{r}.h5", np.zeros((2, 2), np.float32), cols, {})
        galleries.append(tmp_path / f"gallery{r}.h5")
    clean = [write_search(tmp_path, f"clean{r}", 0) for r in range(2)]
    # misses per grid value and replicate: value 0.1 -> 0, 0.2 -> 2 (25 points), 0.3 -> 6 (75);
    # the configured blurry set 4 and 4 (50); lowres 1 and 0 (6.25)
    wrong = {("blurry", 0): (0, 0), ("blurry", 1): (2, 2), ("blurry", 2): (6, 6)}
    wrong |= {("blurry", CONFIGURED): (4, 4), ("lowres", CONFIGURED): (1, 0)}
    runs, files = [], []
    for (qset, i), per_rep in wrong.items():
        for r, n in enumerate(per_rep):
            runs.append([qset, i, r])
            files.append(write_search(tmp_path, f"{qset}_{i}_{r}", n))
    return tmp_path, galleries, clean, runs, files


def evaluate(folder, galleries, clean, runs, files):
    return evaluate_calibration(
        calibration=CALIBRATION,
        queries=QUERIES,
        runs=runs,
        galleries=galleries,
        clean_embeddings=[e for e, _ in clean],
        clean_results=[r for _, r in clean],
        embeddings=[e for e, _ in files],
        results=[r for _, r in files],
        evaluation={"resamples": 200, "level": 0.95},
        seed=0,
        csv=folder / "calibration.csv",
        markdown=folder / "calibration.md",
    )


def test_evaluate_calibration_reads_the_strength_off_the_curve(searches):
    folder, *inputs = searches
    evaluate(folder, *inputs)
    table = pd.read_csv(folder / "calibration.csv")
    grid = table[(table["query_set"] == "blurry") & ~table["configured"]].sort_values("value")
    assert grid["value"].tolist() == [0.1, 0.2, 0.3]
    assert grid["drop"].tolist() == pytest.approx([0.0, 25.0, 75.0])
    assert grid["top1"].tolist() == pytest.approx([100.0, 75.0, 25.0])
    assert (grid["drop_low"] <= grid["drop"]).all() and (grid["drop"] <= grid["drop_high"]).all()
    assert (table["replicates"] == 2).all() and (table["parameter"].iloc[0] == "motion_blur.sigma")
    configured = table[table["configured"]].set_index("query_set")
    assert configured.loc["blurry", "value"] == 0.2 and configured.loc["blurry", "drop"] == pytest.approx(50.0)
    assert configured.loc["lowres", "drop"] == pytest.approx(6.25)  # (1/8 + 0/8) / 2
    text = (folder / "calibration.md").read_text()
    # 25 -> 75 between 0.2 and 0.3: 50 is reached halfway, at 0.25
    assert "| blurry | motion_blur.sigma | 50.0 | 0.25 | 0.2 | 50.0 [" in text
    assert "| lowres | – | 10.0 | – (not varied) | – | 6.2 [" in text and text.count("| no |") == 1
    snippet = yaml.safe_load(text.split("```yaml")[1].split("```")[0])
    assert snippet == {"queries": {"blurry": [{**BLUR[0], "sigma": 0.25}]}}


def test_plot_calibration_draws_the_curve(searches):
    folder, *inputs = searches
    evaluate(folder, *inputs)
    plot_calibration(table=folder / "calibration.csv", output=folder / "calibration.png")
    pixels = imread(folder / "calibration.png")[..., :3]
    assert pixels.shape[0] > 200 and pixels.std() > 0.05
    # the curve (C0 blue) and the read-off line (C3 red) are drawn
    blue = (np.abs(pixels - np.array([0.12, 0.47, 0.71])).sum(axis=2) < 0.1).sum()
    red = (np.abs(pixels - np.array([0.84, 0.15, 0.16])).sum(axis=2) < 0.1).sum()
    assert blue > 50 and red > 20


def test_evaluate_calibration_refuses_other_queries(searches):
    folder, galleries, clean, runs, files = searches
    cols = {c: np.zeros(len(LABELS), np.int64) for c in columns(1)}
    cols.update(label=LABELS[::-1].copy(), instance=INSTANCES)
    write_embeddings(files[0][0], np.zeros((len(LABELS), 2), np.float32), cols, {})
    with pytest.raises(CalibrationError, match="not the same validation queries"):
        evaluate(folder, galleries, clean, runs, files)
    assert not (folder / "calibration.csv").exists()


def test_degrade_calibration_reproduces_the_configured_query_set(tmp_path):
    """The grid value equal to the configured strength is the validation query set byte for byte."""
    rng = np.random.default_rng(0)
    write_image_set(tmp_path / "validation.h5", rng.integers(0, 256, (12, 32, 32), dtype=np.uint8), columns(12), {})
    grid = {"blurry": [[{**BLUR[0], "sigma": s}] for s in (0.1, 0.2)]}
    outputs = [tmp_path / "v0.h5", tmp_path / "v1.h5"]
    common = {"seed": 0, "rescale": "minmax", "chunk_size": 5, "threads": 1}
    degrade_calibration(validation=tmp_path / "validation.h5", outputs=outputs, grids=grid, **common)
    degrade_query_set(
        test=tmp_path / "validation.h5",
        output=tmp_path / "blurry.h5",
        specs=BLUR,
        query="blurry",
        stream="validation/blurry",
        **common,
    )
    assert np.array_equal(read_image_set(outputs[1]).images, read_image_set(tmp_path / "blurry.h5").images)
    assert not np.array_equal(read_image_set(outputs[0]).images, read_image_set(outputs[1]).images)
    with pytest.raises(CalibrationError, match="3 output files for 2"):
        degrade_calibration(
            validation=tmp_path / "validation.h5", outputs=[*outputs, tmp_path / "x.h5"], grids=grid, **common
        )
