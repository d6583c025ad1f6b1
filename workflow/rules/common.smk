# Shared definitions: config validation, paths and the lists that drive wildcards.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

import psutil
from snakemake.logging import logger

from cbir.config import validate_config
from cbir.norb import KINDS, official_name
from cbir.resources import estimates, memory_warnings

validate_config(config)
MEM_MB = estimates(config)  # each heavy rule's mem_mb (cbir.resources)
for line in memory_warnings(config, psutil.virtual_memory().total >> 20):
    logger.warning(f"Warning: {line}")

RUN = config["run"]
RESULTS = f"results/{RUN}"
LOGS = f"logs/{RUN}"
SYNTHETIC = config["dataset"]["source"] == "synthetic"
RAW = "resources/synthnorb" if SYNTHETIC else "resources/smallnorb"
QUERIES = list(config["queries"])
CLEAN = next((q for q, specs in config["queries"].items() if not specs), None)
ENHANCE = config["enhance"]  # query set -> its enhancers, the default first
# A restored query set is <query>__<enhancer> (`__` never occurs in configured names).
RESTORED = [f"{query}__{name}" for query, names in ENHANCE.items() for name in names]
QUERY_SETS = QUERIES + RESTORED
DEFAULT_RESTORED = [f"{query}__{names[0]}" for query, names in ENHANCE.items()]
USED = sorted({name for names in ENHANCE.values() for name in names})
TRAINED = [name for name in USED if "network" in config["enhancers"][name]]
SPLITS = ["train", "test"]
# Rules that run a network ask for a GPU unless the config says CPU (a CPU-only cluster).
GPU = 0 if config["runtime"]["device"] == "cpu" else 1


wildcard_constraints:
    split="train|test",
    query="|".join(QUERIES),
    qset="|".join(QUERY_SETS),
    enhancer="|".join(USED) or "(?!)",


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


def restored_sets(query):
    """The restored query sets of `query`, in the order of its enhancers."""
    return [f"{RESULTS}/queries/{query}__{name}.h5" for name in ENHANCE[query]]


def enhancement_inputs(wildcards):
    """What a restorer needs: the query set, and the checkpoint of a trained network."""
    inputs = {"queries": f"{RESULTS}/queries/{wildcards.query}.h5"}
    if wildcards.enhancer in TRAINED:
        inputs["model"] = f"{RESULTS}/models/{wildcards.enhancer}.pt"
    return inputs


def enhancer_training_inputs(wildcards):
    """The splits, and the classifier when the loss compares its embeddings (loss.feature > 0):
    retraining the classifier then retrains exactly these restorers."""
    inputs = {"train": f"{RESULTS}/data/train.h5", "test": f"{RESULTS}/data/test.h5"}
    if config["enhancers"][wildcards.enhancer]["loss"]["feature"] > 0:
        inputs["classifier"] = f"{RESULTS}/models/classifier.pt"
    return inputs


def final_outputs():
    figures = ["dataset", "degradations", "augmentation", "confusion_matrix"]
    tables = ["classification.json", "retrieval.csv", "table1.md", "queries.md"]
    if ENHANCE:
        figures.append("gap_closed")
        tables += ["enhancement.csv", "enhancement.md"]
    return [
        expand(f"{RESULTS}/data/{{split}}.h5", split=SPLITS),
        expand(f"{RESULTS}/queries/{{qset}}.h5", qset=QUERY_SETS),
        expand(f"{RESULTS}/figures/{{name}}.png", name=figures),
        expand(
            f"{RESULTS}/figures/learning_curve_{{m}}.png", m=["classifier", *TRAINED]
        ),
        expand(f"{RESULTS}/figures/enhancement_{{query}}.png", query=ENHANCE),
        expand(
            f"{RESULTS}/figures/retrieval_{{qset}}.png", qset=QUERIES + DEFAULT_RESTORED
        ),
        expand(f"{RESULTS}/tables/{{name}}", name=tables),
    ]


def write_runtime_table():
    """tables/runtime.{csv,md} from this run's benchmark files (after a successful run)."""
    from cbir.stages.report import runtime_table

    files = {}
    for path in sorted(Path(LOGS, "benchmarks").glob("*/*.tsv")):
        files.setdefault(path.parent.name, []).append(path)
    render = Path("logs/benchmarks/synthesize_smallnorb.tsv")
    if SYNTHETIC and render.exists():
        files["synthesize_smallnorb"] = [render]
    if files:
        runtime_table(
            benchmarks=files,
            csv=f"{RESULTS}/tables/runtime.csv",
            markdown=f"{RESULTS}/tables/runtime.md",
        )
