# Shared definitions: config validation, paths and the lists that drive wildcards.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "scripts"))

import psutil
from snakemake.logging import logger

from cbir.calibration import grids as calibration_grids
from cbir.config import severity_specs, validate_config
from cbir.norb import KINDS, official_name
from cbir.resources import estimates, memory_warnings
from cbir.seeding import stream_key

validate_config(config)
MEM_MB = estimates(config)  # each heavy rule's mem_mb (cbir.resources)
for line in memory_warnings(config, psutil.virtual_memory().total >> 20):
    logger.warning(f"Warning: {line}")

RUN = config["run"]
RESULTS = f"results/{RUN}"
LOGS = f"logs/{RUN}"
SYNTHETIC = config["dataset"]["source"] == "synthetic"
FOLDER = config["dataset"]["source"] == "folder"
RAW = "resources/synthnorb" if SYNTHETIC else "resources/smallnorb"
QUERIES = list(config["queries"])
CLEAN = next((q for q, specs in config["queries"].items() if not specs), None)
ENHANCE = config["enhance"]  # query set -> its enhancers, the default first
# A restored query set is <query>__<enhancer> (`__` never occurs in configured names).
RESTORED = [f"{query}__{name}" for query, names in ENHANCE.items() for name in names]
# Blind cost: every restorer of `enhance` also restores the clean queries (what it costs a query
# that needed nothing).
BLIND = [
    f"{CLEAN}__{name}"
    for name in dict.fromkeys(n for names in ENHANCE.values() for n in names)
]
QUERY_SETS = QUERIES + RESTORED + BLIND
# Query sets come from the test split (PART "") and, for every choice, the validation split
# (PART "validation/"): queries/[validation/]<set>.h5 and so on; tables/[validation/]...
PARTS = ["", "validation/"]
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
# Classical methods with `auto` parameters: chosen on the validation split (rule tune_enhancer).
TUNED = [name for name in USED if config["enhancers"][name].get("grid")]
TUNED_ALL = [name for name in TUNED if any(name in names for names in ENHANCE.values())]
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
# Replicates: every network is trained `replicates` times; replicate r's files carry the tag
# "@r" after the network's, key set's or restored query set's name (none for r = 0, so one
# replicate gives the paths and bytes of a run without replicates). Query sets stay fixed.
REPLICATES = config["replicates"]
TAGS = ["", *[f"@{r}" for r in range(1, REPLICATES)]]
# What the search of one key set and replicate covers: the unrestored and classically restored
# query sets (the same for every replicate) and the sets restored by that replicate's networks.
SEARCHED_SHARED = [q for q in QUERY_SETS if q.partition("__")[2] not in TRAINED]
SEARCHED_OWN = [q for q in QUERY_SETS if q.partition("__")[2] in TRAINED]


def replicate(tag):
    """The replicate number of a tag ("" -> 0, "@2" -> 2)."""
    return int(tag[1:]) if tag else 0


def replicate_seed(tag):
    """Replicate 0 trains with the master seed (a run without replicates), replicate r with a seed
    derived from it."""
    r = replicate(tag)
    return (
        config["seed"] if r == 0 else stream_key(config["seed"], "replicate", r) % 2**32
    )


def tagged(qset, tag):
    """The file name of query set `qset` as replicate `tag` searches it."""
    return f"{qset}{tag}" if qset in SEARCHED_OWN else qset


def judge_tag(tag):
    """The replicate whose classifier judges replicate `tag`'s restorers: the next one."""
    return TAGS[(replicate(tag) + 1) % REPLICATES]


wildcard_constraints:
    split="train_all|test",
    part="(validation/)?",
    rep="|".join(TAGS[1:]) + "|",
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
    """The raw files of a converted split (train_all: the whole official training split)."""
    split = "train" if wildcards.split == "train_all" else wildcards.split
    return {kind: raw_file(split, kind) for kind in KINDS}


def query_source(wildcards):
    """The clean images a query set of `part` degrades: the test or the validation split."""
    return f"{RESULTS}/data/{'validation' if wildcards.part else 'test'}.h5"


def all_raw_files():
    return [raw_file(split, kind) for split in SPLITS for kind in KINDS]


def folder_inputs():
    """What the ingest of an image folder reads: the manifest if there is one, and the folder
    (a file added or removed there changes its time stamp)."""
    folder = config["dataset"]["folder"]
    return [p for p in (folder["manifest"], folder["path"]) if p]


def dataset_figure_inputs():
    """The dataset figure draws smallNORB's raw files, or a folder source's converted splits."""
    if FOLDER:
        return [f"{RESULTS}/data/{split}.h5" for split in ("train_all", "test")]
    return all_raw_files()


def restored_sets(query):
    """The restored query sets of `query`, in the order of its enhancers."""
    return [f"{RESULTS}/queries/{query}__{name}.h5" for name in ENHANCE[query]]


def restorer_inputs(enhancer, tag=""):
    """A restorer's own inputs: a trained network's checkpoint (of replicate `tag`), or the
    validation choice of a classical method's `auto` parameters."""
    if enhancer in TRAINED:
        return {"model": f"{RESULTS}/models/{enhancer}{tag}.pt"}
    if enhancer in TUNED:
        return {"tuned": f"{RESULTS}/tuning/{enhancer}.json"}
    return {}


def enhancement_inputs(wildcards):
    """What a restorer needs: the query set, and `restorer_inputs`."""
    queries = f"{RESULTS}/queries/{wildcards.part}{wildcards.query}.h5"
    return {"queries": queries, **restorer_inputs(wildcards.enhancer, wildcards.rep)}


def tuning_inputs(wildcards):
    """What choosing a classical method's parameters reads: the validation queries of the first
    query set it restores (else of the middle severity of the first sweep that uses it), the
    standard keys' classifier and gallery."""
    name = wildcards.enhancer
    query = next((q for q, names in ENHANCE.items() if name in names), None)
    if query is None:
        sweep = next(s for s, spec in SWEEPS.items() if name in spec["enhancers"])
        middle = SEVERITIES[len(SEVERITIES) // 2]
        queries = sweep_file("queries", sweep, "none", middle, part="validation/")
    else:
        queries = f"{RESULTS}/queries/validation/{query}.h5"
    return {
        "queries": queries,
        "model": classifier_model("standard"),
        "gallery": f"{RESULTS}/embeddings/standard/gallery.h5",
    }


def sweep_enhancement_inputs(wildcards):
    """What a restorer needs for a sweep: every severity's query set, and a trained checkpoint."""
    return {
        "queries": sweep_files("queries", wildcards.sweep, "none", part=wildcards.part),
        **restorer_inputs(wildcards.variant),
    }


def enhancer_training_inputs(wildcards):
    """The splits, and the classifier when the loss compares its embeddings (loss.feature > 0):
    retraining the classifier then retrains exactly these restorers."""
    inputs = {
        "train": f"{RESULTS}/data/train.h5",
        "validation": f"{RESULTS}/data/validation.h5",
    }
    if config["enhancers"][wildcards.enhancer]["loss"]["feature"] > 0:
        inputs["classifier"] = classifier_model("standard", wildcards.rep)
    return inputs


def search_outputs(kind, shared, own, folder="{keyset}"):
    """The per-set files (kind embeddings or retrieval) of one search job: `shared` as named,
    `own` tagged with the job's replicate (the wildcard rep appears twice)."""
    root = f"{RESULTS}/{kind}/{folder}{{rep}}/{{part}}"
    return [f"{root}{q}.h5" for q in shared] + [f"{root}{q}{{rep}}.h5" for q in own]


def search_inputs(wildcards):
    """One search job's classifier, gallery embeddings and query image sets (in `names` order)."""
    tag, part = wildcards.rep, wildcards.part
    names = SEARCHED_SHARED + [f"{q}{tag}" for q in SEARCHED_OWN]
    return {
        "model": classifier_model(wildcards.keyset, tag),
        "gallery": f"{RESULTS}/embeddings/{wildcards.keyset}{tag}/gallery.h5",
        "images": [f"{RESULTS}/queries/{part}{name}.h5" for name in names],
    }


def judge_inputs(wildcards):
    """Replicate rep's network-restored sets and the next replicate's standard classifier."""
    tag, judge = wildcards.rep, judge_tag(wildcards.rep)
    return {
        "model": classifier_model("standard", judge),
        "gallery": f"{RESULTS}/embeddings/standard{judge}/gallery.h5",
        "images": [
            f"{RESULTS}/queries/{wildcards.part}{q}{tag}.h5" for q in SEARCHED_OWN
        ],
    }


def search_plan():
    """Every search a table reads, as [role, key set, query set, replicate, folder, file name]:
    role `search` (the key set's own replicate) or `judge` (replicate r's restored sets searched
    by the next replicate's standard keys, when there are replicates); files under
    embeddings/<folder>/ and retrieval/<folder>/."""
    plan = [
        ["search", keys, qset, replicate(tag), f"{keys}{tag}", tagged(qset, tag)]
        for keys in KEYS
        for tag in TAGS
        for qset in QUERY_SETS
    ]
    if REPLICATES > 1:
        plan += [
            ["judge", "standard", qset, replicate(tag), f"judge{tag}", f"{qset}{tag}"]
            for tag in TAGS
            for qset in SEARCHED_OWN
        ]
    return plan


def searches(wildcards):
    """The files of `search_plan` for one split (part): embeddings and top-k files in plan order,
    and each key set's gallery per replicate."""
    part = wildcards.part
    plan = search_plan()
    return {
        "galleries": [
            f"{RESULTS}/embeddings/{k}{t}/gallery.h5" for k in KEYS for t in TAGS
        ],
        "embeddings": [f"{RESULTS}/embeddings/{f}/{part}{n}.h5" for *_, f, n in plan],
        "results": [f"{RESULTS}/retrieval/{f}/{part}{n}.h5" for *_, f, n in plan],
    }


def classifier_model(keys, tag=""):
    """The checkpoint of key set `keys`, replicate `tag`."""
    return f"{RESULTS}/models/{CLASSIFIER[keys]}{tag}.pt"


def classifier_recipe(keys):
    """The training recipe of key set `keys`: config `classifier`, plus `degrade` for the robust ones."""
    if keys == "standard":
        return config["classifier"]
    return {**config["classifier"], "degrade": config["keys"][keys]}


def classifier_expectation(keys, tag=""):
    """What a rule that loads key set `keys`' classifier of replicate `tag` expects of the
    checkpoint (cbir.checkpoint.check_expected): that key set, its ResNet, its recipe and seed.
    """
    recipe = classifier_recipe(keys)
    return {
        "role": "classifier",
        "name": keys,
        "arch": recipe["arch"],
        "recipe": recipe,
        "seed": replicate_seed(tag),
    }


def enhancer_expectation(enhancer, tag=""):
    """What a rule that loads the trained restorer `enhancer` of replicate `tag` expects of it;
    None for a classical method (no checkpoint)."""
    recipe = config["enhancers"][enhancer]
    if "network" not in recipe:
        return None
    return {
        "role": "enhancer",
        "name": enhancer,
        "arch": recipe["network"],
        "recipe": recipe,
        "seed": replicate_seed(tag),
    }


def feature_classifier_expectation(wildcards):
    """The classifier a restorer's feature loss reads (`enhancer_training_inputs`), or None
    where the loss has no feature term (so that the classifier's recipe is no param of theirs).
    """
    if config["enhancers"][wildcards.enhancer]["loss"]["feature"] > 0:
        return classifier_expectation("standard", wildcards.rep)
    return None


def sweep_variants(sweep):
    """The image sets of one sweep: unrestored (`none`) and each of its enhancers."""
    return ["none", *SWEEPS[sweep]["enhancers"]]


def sweep_file(kind, sweep, variant, n, keys=None, part=""):
    """One severity's file of a sweep on the test split (part "") or the validation split:
    kind queries, or embeddings / retrieval of a key set."""
    folder = f"{kind}/{keys}" if keys else kind
    return f"{RESULTS}/sweeps/{part}{sweep}/{folder}/{variant}/s{n}.h5"


def sweep_files(kind, sweep, variant, keys=None, part=""):
    """The per-severity files of one sweep, severity 1 first."""
    return [sweep_file(kind, sweep, variant, n, keys, part) for n in SEVERITIES]


def sweep_runs():
    """(part, keys, enhancer, sweep, severity) of every sweep retrieval: the test split's
    (part ""), then the validation split's."""
    return [
        [part, keys, variant, sweep, n]
        for part in PARTS
        for sweep in SWEEPS
        for variant in sweep_variants(sweep)
        for keys in KEYS
        for n in SEVERITIES
    ]


def sweep_outputs(kind):
    """The embeddings or retrieval file of every sweep retrieval, in `sweep_runs` order."""
    return [
        sweep_file(kind, sweep, variant, n, keys, part)
        for part, keys, variant, sweep, n in sweep_runs()
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
    tables = ["retrieval.csv", "table1.md", "queries.md"]
    if ENHANCE:
        figures.append("gap_closed")
        tables += ["enhancement.csv", "enhancement.md"]
    return [
        expand(f"{RESULTS}/data/{{split}}.h5", split=["train", "validation", "test"]),
        expand(f"{RESULTS}/queries/{{part}}{{qset}}.h5", part=PARTS, qset=QUERY_SETS),
        expand(f"{RESULTS}/tuning/{{name}}.json", name=TUNED_ALL),
        expand(f"{RESULTS}/figures/{{name}}.png", name=figures),
        expand(
            f"{RESULTS}/figures/learning_curve_{{m}}.png",
            m=[*CLASSIFIER.values(), *TRAINED_ALL],
        ),
        expand(f"{RESULTS}/figures/enhancement_{{query}}.png", query=ENHANCE),
        expand(
            f"{RESULTS}/figures/retrieval_{{qset}}.png", qset=QUERIES + DEFAULT_RESTORED
        ),
        expand(f"{RESULTS}/tables/{{part}}{{name}}", part=PARTS, name=tables),
        f"{RESULTS}/tables/classification.json",
        f"{RESULTS}/config.yaml",
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


# Calibration (calibrate.smk): the grid of each calibrated query set and what its searches read.
CALIBRATION = config["calibration"]
GRIDS = calibration_grids(
    config["queries"], CALIBRATION
)  # query set -> specs per value
GRID = [[q, i] for q in GRIDS for i in range(len(GRIDS[q]))]


def calibration_file(kind, qset, i, folder=""):
    """Grid value i's file of a calibrated query set: kind queries, embeddings or retrieval."""
    return f"{RESULTS}/calibration/{kind}/{folder}{qset}/v{i}.h5"


def calibration_runs():
    """(query set, grid index or -1 for the configured strength, replicate) of every search read."""
    return [
        [qset, i, replicate(tag)]
        for qset in CALIBRATION
        for i in [*range(len(GRIDS.get(qset, []))), -1]
        for tag in TAGS
    ]


# What one replicate's calibration search covers: the grid, each calibrated set at its configured
# strength and the clean set (the validation query sets themselves, searched here again so that
# `calibrate` needs no restorer).
SEARCHED = [[q, f"v{i}"] for q, i in GRID] + [[q, "configured"] for q in CALIBRATION]
SEARCHED += [[CLEAN, "configured"]]


def calibration_images():
    return [
        (
            f"{RESULTS}/queries/validation/{q}.h5"
            if n == "configured"
            else f"{RESULTS}/calibration/queries/{q}/{n}.h5"
        )
        for q, n in SEARCHED
    ]


def calibration_searches(kind, tag="{rep}"):
    """One replicate's embeddings or retrieval file of every SEARCHED set."""
    return [
        f"{RESULTS}/calibration/{kind}/standard{tag}/{q}/{n}.h5" for q, n in SEARCHED
    ]


def calibration_reads(kind):
    """The embeddings or retrieval file of each `calibration_runs` entry."""
    return [
        f"{RESULTS}/calibration/{kind}/standard{TAGS[r]}/{q}/{'configured' if i < 0 else f'v{i}'}.h5"
        for q, i, r in calibration_runs()
    ]


def calibration_outputs():
    if not CALIBRATION:
        raise ValueError(
            "config key 'calibration' is empty: the target `calibrate` has nothing to calibrate"
        )
    names = [
        "tables/calibration.csv",
        "tables/calibration.md",
        "figures/calibration.png",
    ]
    return [f"{RESULTS}/{name}" for name in names]
