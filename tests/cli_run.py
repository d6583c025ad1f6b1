"""Hand-made finished runs for tests/test_cli.py, written by the stages that write a real run.

An untrained classifier (and an untrained SRCNN restorer) saved with `cbir.checkpoint`, the
gallery embedded by `cbir.stages.retrieve.embed_images` and the clean query set embedded and
searched by `search_query_sets` with the settings of the run's config, as the workflow does:
what `cbir query` finds for test image i must be what the run stored for it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import yaml
from conftest import CPU_RUNTIME
from PIL import Image

from cbir.checkpoint import save_checkpoint
from cbir.config import validate_config
from cbir.h5store import COLUMNS, write_image_set
from cbir.networks import SRCNN, Classifier, Detector, architecture
from cbir.stages.retrieve import embed_images, search_query_sets

SEED = 7
SIZE = 32
DIGEST = "0123456789abcdef" * 4  # config.sha256 of the hand-made run
UPSCALER = {"network": "srcnn", "degradations": [{"name": "lowres", "level": 1}]}
MEDIAN = {"method": "median", "size": "auto", "grid": {"size": [3, 5]}}
CHOSEN = {"size": 3}  # tuning/median.json


def run_config() -> dict:
    """The validated config (every default filled) a hand-made run records."""
    return validate_config(
        {
            "run": "handmade",
            "seed": SEED,
            "replicates": 1,
            "queries": {
                "clean": [],
                "lowres": [{"name": "lowres", "level": 1}],
                # a set of every kind: the detector's pools (noise and blur have no restorer here)
                "noisy": [{"name": "gaussian", "sigma": 0.3}],
                "blurry": [{"name": "motion_blur", "sigma": 0.2}],
            },
            "enhancers": {"median": MEDIAN, "upscaler": UPSCALER, "blind": {"route": "detector"}},
            "enhance": {"lowres": ["upscaler", "median", "blind"]},
        }
    )


def images_of(labels: np.ndarray, channels: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 images with a class pattern (a bright square whose place the label sets) on noise."""
    shape = (len(labels), SIZE, SIZE) + ((3,) if channels == 3 else ())
    images = rng.integers(0, 90, shape, dtype=np.uint8)
    for i, label in enumerate(labels):
        top = 4 + 5 * int(label)
        images[i, top : top + 8, 6:20] = 230 - 20 * int(label)
    return images


def split_columns(labels: np.ndarray) -> dict[str, np.ndarray]:
    n = len(labels)
    cols = {c: (np.arange(n, dtype=np.int64) * (k + 1)) % 7 for k, c in enumerate(COLUMNS)}
    cols["label"] = labels.astype(np.int64)
    return cols


def make_run(
    results: Path,
    name: str,
    *,
    colour: bool = False,
    classes: list[str] | None = None,
    config: bool = True,
    n_train: int = 36,
    n_test: int = 8,
) -> Path:
    """A finished run results/<name>: grey smallNORB-like (no `classes`: smallNORB's five names)
    or, with `classes`, a folder source's; with `config`, the recorded config and the median's
    tuning choice."""
    run = results / name
    channels = 3 if colour else 1
    n_classes = len(classes) if classes else 5
    rng = np.random.default_rng(1 if colour else 0)
    attrs = {"source": "folder", "classes": classes, "channels": channels} if classes else {"source": "synthetic"}
    splits = {}
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % n_classes
        splits[split] = images_of(labels, channels, rng)
        write_image_set(run / "data" / f"{split}.h5", splits[split], split_columns(labels), {**attrs, "split": split})
    recorded = run_config()
    input_size = [SIZE, SIZE] + ([3] if colour else [])
    torch.manual_seed(0)
    classifier = Classifier("resnet18", num_classes=n_classes, image_channels=channels)
    meta = {"name": "classifier", **architecture(classifier), "input_size": input_size, "seed": SEED, "epochs_done": 1}
    model = run / "models" / "classifier.pt"
    save_checkpoint(model, classifier.state_dict(), meta)
    upscaler = SRCNN(image_channels=channels)
    recipe = recorded["enhancers"]["upscaler"]  # as training records it: every default filled
    meta = {"name": "upscaler", **architecture(upscaler), "input_size": input_size, "recipe": recipe, "seed": SEED}
    save_checkpoint(run / "models" / "upscaler.pt", upscaler.state_dict(), meta)
    detector = Detector(width=4, image_channels=channels)  # untrained: what it predicts is what counts
    meta = {"name": "detector", **architecture(detector), "input_size": input_size, "seed": SEED}
    save_checkpoint(run / "models" / "detector.pt", detector.state_dict(), meta)
    batch_size, retrieval = recorded["inference"]["batch_size"], recorded["retrieval"]
    gallery = run / "embeddings" / "standard" / "gallery.h5"
    embed_images(
        model=model,
        images=run / "data" / "train.h5",
        output=gallery,
        name="gallery",
        runtime=CPU_RUNTIME,
        batch_size=batch_size,
        threads=1,
    )
    search_query_sets(
        model=model,
        gallery=gallery,
        images=[run / "data" / "test.h5"],
        names=["clean"],
        embeddings=[run / "embeddings" / "standard" / "clean.h5"],
        results=[run / "retrieval" / "standard" / "clean.h5"],
        runtime=CPU_RUNTIME,
        batch_size=batch_size,
        distances=["l2", "cosine"],
        k=retrieval["topk"],
        chunk_size=retrieval["chunk_size"],
        threads=1,
    )
    write_image_set(run / "queries" / "clean.h5", splits["test"], split_columns(np.arange(n_test) % n_classes))
    (run / "tables").mkdir()
    (run / "tables" / "table1.md").write_text("| table |\n")
    if config:
        (run / "config.yaml").write_text(yaml.safe_dump(recorded, sort_keys=False))
        (run / "config.sha256").write_text(DIGEST + "\n")
        (run / "tuning").mkdir()
        (run / "tuning" / "median.json").write_text(json.dumps({"enhancer": "median", "chosen": CHOSEN}))
    return run


def write_png(path: Path, image: np.ndarray) -> Path:
    """`image` (uint8 [H, W] or [H, W, 3]) as a lossless PNG."""
    Image.fromarray(image).save(path)
    return path
