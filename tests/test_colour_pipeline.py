"""The whole workflow on a folder of colour images (slow: about 3 minutes): every image set from
the ingest to the restored queries is RGB, the degradations keep the colours apart, the figures
are drawn in colour and the tables name the folder's classes."""

import json
import shutil

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, run_snakemake
from PIL import Image
from test_pipeline import ENHANCE, QUERIES, RUN, tiny_config

from cbir.h5store import read_image_set

pytestmark = pytest.mark.slow

# Each class a hue: a tinted textured background with a disc of another tint.
HUES = {"amber": (230, 140, 30), "moss": (60, 170, 50), "sky": (40, 110, 230)}
PER_CLASS = 30


def _colour_folder(root, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:40, :40]
    for name, hue in HUES.items():
        (root / name).mkdir(parents=True)
        for k in range(PER_CLASS):
            texture = rng.normal(0, 25, (40, 40, 1))
            image = np.asarray(hue, float) * rng.uniform(0.6, 1.0) + texture
            cy, cx, r = rng.integers(10, 30, 2).tolist() + [int(rng.integers(5, 10))]
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            image[disc] = 255 - image[disc]
            Image.fromarray(np.clip(image, 0, 255).astype(np.uint8), "RGB").save(root / name / f"{k:02d}.png")


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("colour")
    shutil.copytree(REPO / "config", workdir / "config")
    _colour_folder(workdir / "images")
    folder = {"path": str(workdir / "images"), "test_share": 0.25}
    tiny_config(workdir, dataset={"source": "folder", "folder": folder, "image_size": 32, "channels": 3})
    run_snakemake(workdir, "--cores", "2", "all")
    return workdir / "results" / RUN


def _apart(images):
    """Mean absolute difference between the red and blue channels (0 for grey stored as RGB)."""
    return float(np.abs(images[..., 0].astype(int) - images[..., 2]).mean())


def test_every_image_set_is_colour(colour_run):
    train = read_image_set(colour_run / "data/train.h5")
    assert train.images.shape[1:] == (32, 32, 3) and train.attrs["channels"] == 3
    assert _apart(train.images) > 40
    names = [*QUERIES, *(f"{q}__{e}" for q, es in ENHANCE.items() for e in es)]
    for name in names:
        images = read_image_set(colour_run / f"queries/{name}.h5").images
        assert images.shape[1:] == (32, 32, 3), name
        assert _apart(images) > 15, name  # the hues survive degradation and restoration


def _residuals(clean, degraded):
    """float [N, 3, H*W]: what remains of each channel of `degraded` after the least-squares
    affine map of the clean channel onto it (undoes the per-channel min-max rescale)."""
    x = np.moveaxis(clean, -1, 1).reshape(len(clean), 3, -1).astype(float)
    y = np.moveaxis(degraded, -1, 1).reshape(len(degraded), 3, -1).astype(float)
    xc, yc = x - x.mean(-1, keepdims=True), y - y.mean(-1, keepdims=True)
    slope = (xc * yc).sum(-1, keepdims=True) / np.maximum((xc * xc).sum(-1, keepdims=True), 1e-9)
    return yc - slope * xc


def test_noise_is_drawn_per_channel_and_blur_is_shared(colour_run):
    clean = read_image_set(colour_run / "queries/clean.h5").images
    noisy = read_image_set(colour_run / "queries/noisy.h5").images
    r = _residuals(clean, noisy)
    assert r.std() > 5  # noise is there
    # independent draws per channel: the channels' noise fields are uncorrelated (shared: 1)
    corr = [np.corrcoef(r[i, a], r[i, b])[0, 1] for i in range(len(r)) for a, b in ((0, 1), (0, 2), (1, 2))]
    assert abs(np.mean(corr)) < 0.2
    blurry = read_image_set(colour_run / "queries/blurry.h5").images
    assert blurry.shape == clean.shape and _apart(blurry) > 15


def test_tables_name_the_classes_and_figures_are_in_colour(colour_run):
    classification = json.loads((colour_run / "tables/classification.json").read_text())
    assert sorted(classification["classes"]) == sorted(HUES)
    table = pd.read_csv(colour_run / "tables/retrieval.csv")
    assert set(table["query_set"]) >= set(QUERIES) and table["value"].between(0, 100).all()
    top1 = table[(table["keys"] == "standard") & (table.enhancer == "none") & (table.measure == "top_k_accuracy")]
    clean = top1[(top1.query_set == "clean") & (top1.distance == "l2") & (top1.k == 1)]
    assert len(clean) == 1 and clean["low"].item() > clean["chance"].item()  # hues this distinct: above chance
    for png in ("dataset", "degradations", "retrieval_noisy__denoiser", "enhancement_noisy"):
        rgb = mpimg.imread(colour_run / f"figures/{png}.png")[..., :3]
        saturation = rgb.max(axis=2) - rgb.min(axis=2)
        assert (saturation > 0.4).mean() > 0.01, png  # coloured pixels, not a grey rendering
