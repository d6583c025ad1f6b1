# Snakemake glue: the validated config, the run's layout (cbir.layout.RunLayout: every derived
# name and path, unit-tested) under the global names the rule files use, the input functions
# that unpack wildcards for it, and what needs the file system (raw files, the runtime table).
import sys
from pathlib import Path


import psutil
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger

from cbir.config import severity_specs, validate_config
from cbir.layout import RunLayout, restored_name
from cbir.norb import KINDS, official_name
from cbir.resources import estimates, gpu_visible, local_threads, memory_warnings

validate_config(config)
LAYOUT = RunLayout(config)
MEM_MB = estimates(config)  # each heavy rule's mem_mb (cbir.resources)
for line in memory_warnings(config, psutil.virtual_memory().total >> 20):
    logger.warning(f"Warning: {line}")

# The rule files' names for LAYOUT's attributes (RESULTS is LAYOUT.results, ...) and methods.
for _name in (
    "RESULTS LOGS FOLDER SPLITS CLEAN ENHANCE RESTORED SWEEPS USED TRAINED TUNED "
    "TUNED_ALL KEYS KEYS_OF GPU REPLICATES TAGS SEARCHED_SHARED SEARCHED_OWN CALIBRATION "
    "GRIDS GRID ROUTED"
).split():
    globals()[_name] = getattr(LAYOUT, _name.lower())
# Locally, torch jobs take half the cores each, and with runtime.device auto on a machine without a
# GPU nothing asks for one (the profile's gpu cap would serialise them); a cluster keeps 8 and gpu=1.
try:
    THREADS = local_threads(workflow.cores) if workflow.local_exec else 8
except WorkflowError:  # no --cores (--dag, --report): nothing runs
    THREADS = 8
if workflow.local_exec and config["runtime"]["device"] == "auto" and not gpu_visible():
    GPU = 0
SEARCHED = LAYOUT.calibration_searched  # what one replicate's calibration search covers
# A restored query set's file name (<query>__<enhancer>, built by cbir.layout) as wildcards.
RESTORED_SET = restored_name("{query}", "{enhancer}")
for _name in (
    "replicate_seed judge_tag folder_inputs restored_sets classifier_model "
    "classifier_recipe classifier_expectation enhancer_expectation search_outputs "
    "search_plan final_outputs restored_by enhancement_outputs sweep_files sweep_runs sweep_outputs "
    "sweep_enhancer_constraint "
    "robustness_outputs calibration_file calibration_runs calibration_images "
    "calibration_searches calibration_reads calibration_outputs"
).split():
    globals()[_name] = getattr(LAYOUT, _name)


wildcard_constraints:
    **LAYOUT.wildcard_constraints(),


def unpacking(method, *names):
    """An input (or params) function: LAYOUT's `method` called with the wildcards `names`."""
    return lambda wildcards: method(*(wildcards[name] for name in names))


query_source = unpacking(LAYOUT.query_source, "part")
# The restorers of `enhance` (one rule each, enhance.smk) and their outputs' replicate wildcard.
ENHANCING = [e for e in USED if any(e in names for names in ENHANCE.values())]
REP_OF = {e: "{rep}" if e in TRAINED + ROUTED else "" for e in ENHANCING}


def for_enhancer(method, enhancer, *names):
    """An input or params function: LAYOUT's `method` of `enhancer` and the wildcards `names`
    (rep "" where there is no such wildcard, as for a classical method, shared by the replicates).
    """
    return lambda wildcards: method(
        enhancer, *(wildcards.get(name, "") for name in names)
    )


tuning_inputs = unpacking(LAYOUT.tuning_inputs, "enhancer")
sweep_enhancement_inputs = unpacking(
    LAYOUT.sweep_enhancement_inputs, "sweep", "enhancer", "part"
)
enhancer_training_inputs = unpacking(LAYOUT.enhancer_training_inputs, "enhancer", "rep")
feature_classifier_expectation = unpacking(
    LAYOUT.feature_classifier_expectation, "enhancer", "rep"
)
search_inputs = unpacking(LAYOUT.search_inputs, "key_set", "rep", "part")
judge_inputs = unpacking(LAYOUT.judge_inputs, "rep", "part")
searches = unpacking(LAYOUT.searches, "part")


def raw_file(split, kind):
    """A raw smallNORB file: plain if the user placed it, else the gzipped download."""
    name = official_name(split, kind)
    return LAYOUT.raw_file(name, placed=Path(LAYOUT.raw, name).exists())


def raw_split(wildcards):
    """The raw files of a converted split (train_all: the whole official training split)."""
    return {kind: raw_file(LAYOUT.raw_split(wildcards.split), kind) for kind in KINDS}


def dataset_figure_inputs():
    """The dataset figure's inputs: the raw files, or a folder source's converted splits."""
    raw = [raw_file(split, kind) for split in SPLITS for kind in KINDS]
    return LAYOUT.dataset_figure_inputs(raw)


def write_runtime_table():
    """tables/runtime.{csv,md} from this run's benchmark files (after a successful run)."""
    from cbir.stages.report import runtime_table

    files = {}
    root = Path(LAYOUT.benchmarks)
    for path in sorted(root.rglob("*.tsv")):  # <rule>/[<keys>/]<job>.tsv
        files.setdefault(path.relative_to(root).parts[0], []).append(path)
    render = LAYOUT.render_benchmark  # the surrogate's rendering, shared by every run
    if render and Path(render).exists():
        files["synthesize_smallnorb"] = [Path(render)]
    if files:
        runtime_table(benchmarks=files, **LAYOUT.runtime_tables())
