# Shared definitions: config validation, paths and the lists that drive wildcards.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

import psutil
from snakemake.logging import logger

from cbir.config import severity_specs, validate_config
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
SWEEPS = config[
    "sweeps"
]  # severity sweeps: name -> degradation at increasing strengths
SEVERITIES = (
    list(range(1, len(next(iter(SWEEPS.values()))["severities"]) + 1)) if SWEEPS else []
)
USED = sorted(
    {name for names in ENHANCE.values() for name in names}
    | {name for sweep in SWEEPS.values() for name in sweep["enhancers"]}
)
TRAINED = [name for name in USED if "network" in config["enhancers"][name]]
# Networks that only the sweeps use are trained by the target `robustness`, not by `all`.
TRAINED_ALL = [
    name for name in TRAINED if any(name in names for names in ENHANCE.values())
]
SPLITS = ["train", "test"]
# Key sets: `standard` (config `classifier`) and each of config `keys`, one classifier each.
KEYS = ["standard", *config["keys"]]
CLASSIFIER = {
    keys: "classifier" if keys == "standard" else f"classifier_{keys}" for keys in KEYS
}
KEYS_OF = {model: keys for keys, model in CLASSIFIER.items()}
# Rules that run a network ask for a GPU unless the config says CPU (a CPU-only cluster).
GPU = 0 if config["runtime"]["device"] == "cpu" else 1


wildcard_constraints:
    split="train|test",
    query="|".join(QUERIES),
    qset="|".join(QUERY_SETS),
    enhancer="|".join(USED) or "(?!)",
    keyset="|".join(KEYS),
    sweep="|".join(SWEEPS) or "(?!)",
    variant="|".join(["none", *USED]),


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


def sweep_enhancement_inputs(wildcards):
    """What a restorer needs for a sweep: every severity's query set, and a trained checkpoint."""
    inputs = {"queries": sweep_files("queries", wildcards.sweep, "none")}
    if wildcards.variant in TRAINED:
        inputs["model"] = f"{RESULTS}/models/{wildcards.variant}.pt"
    return inputs


def enhancer_training_inputs(wildcards):
    """The splits, and the classifier when the loss compares its embeddings (loss.feature > 0):
    retraining the classifier then retrains exactly these restorers."""
    inputs = {"train": f"{RESULTS}/data/train.h5", "test": f"{RESULTS}/data/test.h5"}
    if config["enhancers"][wildcards.enhancer]["loss"]["feature"] > 0:
        inputs["classifier"] = classifier_model("standard")
    return inputs


def classifier_model(keys):
    """The checkpoint of key set `keys`."""
    return f"{RESULTS}/models/{CLASSIFIER[keys]}.pt"


def classifier_recipe(keys):
    """The training recipe of key set `keys`: config `classifier`, plus `degrade` for the robust ones."""
    if keys == "standard":
        return config["classifier"]
    return {**config["classifier"], "degrade": config["keys"][keys]}


def sweep_variants(sweep):
    """The image sets of one sweep: unrestored (`none`) and each of its enhancers."""
    return ["none", *SWEEPS[sweep]["enhancers"]]


def sweep_file(kind, sweep, variant, n, keys=None):
    """One severity's file of a sweep: kind queries, or embeddings / retrieval of a key set."""
    return "/".join(
        [RESULTS, "sweeps", sweep, kind, *([keys] if keys else []), variant, f"s{n}.h5"]
    )


def sweep_files(kind, sweep, variant, keys=None):
    """The per-severity files of one sweep, severity 1 first."""
    return [sweep_file(kind, sweep, variant, n, keys) for n in SEVERITIES]


def sweep_runs():
    """(keys, enhancer, sweep, severity) of every sweep retrieval."""
    return [
        [keys, variant, sweep, n]
        for sweep in SWEEPS
        for variant in sweep_variants(sweep)
        for keys in KEYS
        for n in SEVERITIES
    ]


def sweep_outputs(kind):
    """The embeddings or retrieval file of every sweep retrieval, in `sweep_runs` order."""
    return [
        sweep_file(kind, sweep, variant, n, keys)
        for keys, variant, sweep, n in sweep_runs()
    ]


def robustness_outputs():
    """The severity sweeps' results: the named target `robustness` (not part of `all`)."""
    if not SWEEPS:
        raise ValueError(
            "config key 'sweeps' is empty: the target `robustness` has no severity sweep to run"
        )
    curves = [
        f"{RESULTS}/figures/learning_curve_{m}.png"
        for m in TRAINED
        if m not in TRAINED_ALL
    ]
    return [
        f"{RESULTS}/tables/robustness.csv",
        f"{RESULTS}/tables/robustness.md",
        f"{RESULTS}/figures/robustness_curves.png",
        *curves,
    ]


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
            f"{RESULTS}/figures/learning_curve_{{m}}.png",
            m=[*CLASSIFIER.values(), *TRAINED_ALL],
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
    root = Path(LOGS, "benchmarks")
    for path in sorted(root.rglob("*.tsv")):  # <rule>/[<keys>/]<job>.tsv
        files.setdefault(path.relative_to(root).parts[0], []).append(path)
    render = Path("logs/benchmarks/synthesize_smallnorb.tsv")
    if SYNTHETIC and render.exists():
        files["synthesize_smallnorb"] = [render]
    if files:
        runtime_table(
            benchmarks=files,
            csv=f"{RESULTS}/tables/runtime.csv",
            markdown=f"{RESULTS}/tables/runtime.md",
        )
