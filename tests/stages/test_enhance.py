"""Stages of enhance.smk: a query-set file restored by an enhancer checkpoint, and its figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import CPU_RUNTIME, columns
from matplotlib.image import imread

from cbir.checkpoint import CheckpointError, save_checkpoint
from cbir.h5store import COLUMNS, read_image_set, write_image_set
from cbir.imagemath import normalize, to_uint8
from cbir.networks import SRCNN, Classifier, architecture
from cbir.stages.enhance import enhance_query_set, plot_enhancement

RUNTIME = CPU_RUNTIME
UPSCALER = {"network": "srcnn", "degradations": [{"name": "lowres", "level": 1}]}


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (23, 32, 32), dtype=np.uint8)
    write_image_set(tmp_path / "noisy.h5", images, columns(23), {"query": "noisy"})
    torch.manual_seed(0)
    upscaler = SRCNN()
    save_checkpoint(
        tmp_path / "upscaler.pt",
        upscaler.state_dict(),
        {"name": "upscaler", **architecture(upscaler), "input_size": [32, 32], "recipe": UPSCALER},
    )
    classifier = Classifier("resnet18")
    save_checkpoint(
        tmp_path / "classifier.pt",
        classifier.state_dict(),
        {"name": "classifier", **architecture(classifier), "input_size": [32, 32]},
    )
    return tmp_path, images, upscaler.eval()


def run_enhance(folder, model, queries, output, enhancer=UPSCALER, name="upscaler"):
    enhance_query_set(
        queries=queries,
        model=None if model is None else folder / model,
        output=output,
        query="noisy",
        name=name,
        enhancer=enhancer,
        runtime=RUNTIME,
        batch_size=10,
        threads=1,
    )


def test_enhance_query_set(files):
    folder, images, upscaler = files
    run_enhance(folder, "upscaler.pt", folder / "noisy.h5", folder / "out.h5")
    out = read_image_set(folder / "out.h5")
    assert out.images.shape == images.shape and out.images.dtype == np.uint8
    for name in COLUMNS:
        assert np.array_equal(out.columns[name], columns(23)[name])
    assert out.attrs["query"] == "noisy"  # the query set's provenance is kept
    assert out.attrs["query_set"] == "noisy" and out.attrs["enhancer_config"] == UPSCALER
    assert out.attrs["enhancer"] == "upscaler" and out.attrs["enhancer_model"].endswith("upscaler.pt")
    assert out.attrs["enhanced_from"].endswith("noisy.h5")
    assert out.attrs["enhancer_meta"]["kind"] == "srcnn"
    assert out.attrs["enhancer_weights_sha256"] == out.attrs["enhancer_meta"]["weights_sha256"]
    with torch.no_grad():
        direct = to_uint8(upscaler(normalize(torch.from_numpy(images))))
    assert np.array_equal(out.images, direct)


def test_classical_enhancer_needs_no_checkpoint(files):
    from cbir.classical import median

    folder, images, _ = files
    run_enhance(folder, None, folder / "noisy.h5", folder / "m.h5", {"method": "median", "size": 3}, "median")
    out = read_image_set(folder / "m.h5")
    assert np.array_equal(out.images, median(images, size=3))
    assert out.attrs["enhancer"] == "median" and "enhancer_model" not in out.attrs
    with pytest.raises(ValueError, match="needs a trained checkpoint"):
        run_enhance(folder, None, folder / "noisy.h5", folder / "x.h5")
    assert not (folder / "x.h5").exists()


def test_enhance_rejects_wrong_kind_or_size(files, tmp_path):
    folder, _, _ = files
    with pytest.raises(CheckpointError, match="holds the classifier of key set 'standard' .*expected the enhancer"):
        run_enhance(folder, "classifier.pt", folder / "noisy.h5", folder / "x.h5")
    write_image_set(tmp_path / "big.h5", np.zeros((2, 64, 64), np.uint8), columns(2))
    with pytest.raises(CheckpointError, match="trained on 32x32"):
        run_enhance(folder, "upscaler.pt", tmp_path / "big.h5", folder / "x.h5")
    assert not (folder / "x.h5").exists()


def test_plot_enhancement(files, tmp_path):
    folder, images, _ = files
    degraded = np.clip(images.astype(int) + 20, 0, 255).astype(np.uint8)
    write_image_set(tmp_path / "clean.h5", images, columns(23))
    write_image_set(tmp_path / "deg.h5", degraded, columns(23))
    write_image_set(tmp_path / "enh.h5", images, columns(23), {"enhancer": "denoiser"})
    paths = {"clean": tmp_path / "clean.h5", "degraded": tmp_path / "deg.h5"}
    restored = {"denoiser": tmp_path / "enh.h5", "median": tmp_path / "deg.h5"}
    plot_enhancement(**paths, restored=restored, output=tmp_path / "e.png", query="noisy", seed=0)
    pixels = imread(tmp_path / "e.png")
    height, width = pixels.shape[:2]
    assert width > 500 and height > 400
    # Four rows of random-noise images: every row band of the image area has texture.
    grey = pixels[..., :3].mean(-1)
    top = int(0.06 * height)  # below the suptitle
    bands = np.array_split(grey[top:], 4)
    assert all(band.std() > 0.1 for band in bands)
    write_image_set(tmp_path / "other.h5", images, {**columns(23), "label": np.zeros(23, np.int64)})
    with pytest.raises(ValueError, match="labels differ"):
        plot_enhancement(
            **paths, restored={"d": tmp_path / "other.h5"}, output=tmp_path / "x.png", query="noisy", seed=0
        )


def test_a_restorer_that_wipes_images_out_is_refused(files):
    """A diverged or broken network whose output is one grey level must not become a query set."""
    from cbir.imagemath import BlankedImagesError

    folder, _, _ = files
    dead = SRCNN()
    with torch.no_grad():
        for p in dead.parameters():
            p.zero_()
    meta = {"name": "upscaler", **architecture(dead), "input_size": [32, 32], "recipe": UPSCALER}
    save_checkpoint(folder / "dead.pt", dead.state_dict(), meta)
    with pytest.raises(BlankedImagesError, match=r"x.h5: 23 of 23 images of 'noisy' restored by 'upscaler' come out"):
        run_enhance(folder, "dead.pt", folder / "noisy.h5", folder / "x.h5")
    assert not (folder / "x.h5").exists()


def test_colour_query_set_restored_in_colour(files, tmp_path):
    folder, _, _ = files
    colour = np.random.default_rng(1).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    write_image_set(tmp_path / "colour.h5", colour, columns(9), {"query": "noisy"})
    torch.manual_seed(0)
    upscaler = SRCNN(image_channels=3)
    meta = {"name": "upscaler", **architecture(upscaler), "input_size": [32, 32, 3], "recipe": UPSCALER}
    save_checkpoint(folder / "colour.pt", upscaler.state_dict(), meta)
    run_enhance(folder, "colour.pt", tmp_path / "colour.h5", tmp_path / "out.h5")
    out = read_image_set(tmp_path / "out.h5")
    assert out.images.shape == colour.shape and out.images.dtype == np.uint8
    with torch.no_grad():
        direct = upscaler.eval()(normalize(torch.from_numpy(colour).permute(0, 3, 1, 2)))
    assert np.array_equal(out.images, to_uint8(direct))
    assert out.attrs["enhancer_meta"]["arch_args"]["image_channels"] == 3
    # a grey network on the colour set, and the colour one on a grey set, are refused before writing
    with pytest.raises(CheckpointError, match="grey.*colour"):
        run_enhance(folder, "upscaler.pt", tmp_path / "colour.h5", tmp_path / "x.h5")
    with pytest.raises(CheckpointError, match="colour.*grey"):
        run_enhance(folder, "colour.pt", folder / "noisy.h5", tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()
