"""The worked examples' exporters write what their configs read: real bundled images, a valid
folder or manifest, the documented classes and groups."""

from __future__ import annotations

import csv
import importlib.util
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from snakemake.utils import update_config

from cbir.config import validate_config

REPO = Path(__file__).resolve().parents[1]


def _example(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _overlay(name: str, folder: Path) -> dict:
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / f"config/{name}.yaml").read_text()))
    shipped = config["dataset"]["folder"]
    config["dataset"]["folder"]["path"] = str(folder)
    if shipped.get("manifest"):
        config["dataset"]["folder"]["manifest"] = str(folder / Path(shipped["manifest"]).name)
    return config


def test_photo_tiles_are_colour_tiles_of_eight_photographs_grouped_by_block(tmp_path):
    out = tmp_path / "photo_tiles"
    assert _example("export_photo_tiles").export(out) == 680
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    classes = sorted({r["label"] for r in rows})
    assert classes == ["astronaut", "chelsea", "china", "coffee", "flower", "hubble_deep_field", "retina", "rocket"]
    members = defaultdict(set)
    for r in rows:
        assert r["path"].startswith(r["label"] + "/") and r["group"].startswith(r["label"] + "/")
        members[r["group"]].add(r["path"])
    assert len(members) == 172 and max(map(len, members.values())) == 4  # 2 x 2 tiles per 64-px block
    tile = np.asarray(Image.open(out / rows[0]["path"]))
    assert tile.shape == (32, 32, 3) and tile.dtype == np.uint8
    assert np.abs(tile[..., 0].astype(int) - tile[..., 2]).mean() > 5  # colour, not grey stored as RGB
    config = _overlay("photo_tiles", out)
    assert config["run"] == "photo_tiles" and config["dataset"]["channels"] == 3
    validate_config(config)


def test_digits_export_writes_ten_class_folders(tmp_path):
    out = tmp_path / "digits"
    assert _example("export_digits").export(out) == 1797
    assert sorted(p.name for p in out.iterdir()) == [str(d) for d in range(10)]
    image = np.asarray(Image.open(next((out / "3").iterdir())))
    assert image.shape == (8, 8) and image.max() > 200  # 0..16 spread over 0..255
    validate_config(_overlay("digits", out))
