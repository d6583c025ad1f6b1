# Shared definitions: config validation, paths and the lists that drive wildcards.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

from cbir.config import validate_config
from cbir.norb import KINDS, official_name

validate_config(config)

RUN = config["run"]
RESULTS = f"results/{RUN}"
LOGS = f"logs/{RUN}"
SYNTHETIC = config["dataset"]["source"] == "synthetic"
RAW = "resources/synthnorb" if SYNTHETIC else "resources/smallnorb"
QUERIES = list(config["queries"])
ENHANCED = [f"{query}_enhanced" for query in config["enhance"]]
QUERY_SETS = QUERIES + ENHANCED
ENHANCERS = ["denoiser", "deblurrer", "upscaler"]
SPLITS = ["train", "test"]


wildcard_constraints:
    split="train|test",
    query="|".join(QUERIES),
    qset="|".join(QUERY_SETS),
    enhancer="|".join(ENHANCERS),


def raw_file(split, kind):
    """A raw smallNORB file: plain if the user placed it, else the gzipped download."""
    name = official_name(split, kind)
    if SYNTHETIC or Path(RAW, name).exists():
        return f"{RAW}/{name}"
    return f"{RAW}/{name}.gz"


def raw_split(wildcards):
    return {kind: raw_file(wildcards.split, kind) for kind in KINDS}


def all_raw_files():
    return [raw_file(split, kind) for split in SPLITS for kind in KINDS]


def embed_source(wildcards):
    """Embeddings are computed for the gallery (training split) or a query set."""
    if wildcards.name == "gallery":
        return f"{RESULTS}/data/train.h5"
    return f"{RESULTS}/queries/{wildcards.name}.h5"


def final_outputs():
    figures = ["dataset", "degradations", "augmentation", "confusion_matrix"]
    return [
        expand(f"{RESULTS}/data/{{split}}.h5", split=SPLITS),
        expand(f"{RESULTS}/queries/{{qset}}.h5", qset=QUERY_SETS),
        expand(f"{RESULTS}/figures/{{name}}.png", name=figures),
        expand(
            f"{RESULTS}/figures/learning_curve_{{m}}.png", m=["classifier", *ENHANCERS]
        ),
        expand(f"{RESULTS}/figures/enhancement_{{query}}.png", query=config["enhance"]),
        expand(f"{RESULTS}/figures/retrieval_{{qset}}.png", qset=QUERY_SETS),
        f"{RESULTS}/tables/classification.json",
        f"{RESULTS}/tables/retrieval.csv",
        f"{RESULTS}/tables/table1.md",
        f"{RESULTS}/tables/queries.md",
    ]
