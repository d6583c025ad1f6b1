"""The whole default pipeline's time per stage, scheduled as today and as the previous layout,
both runs in one invocation on this machine (one after the other, never side by side).

    previous  every torch job on every core (`threads` 8, capped at --cores) and `gpu=1` on
              every network job even without a GPU, so the local profile's gpu cap of 1 ran
              them one at a time: Snakemake's `--set-threads` and `--set-resources` restore it.
    current   the workflow as it is: locally, half the cores per torch job
              (`cbir.resources.local_threads`) and no gpu request when `runtime.device: auto`
              finds no GPU, so two jobs run side by side on 2 cores.

The runs use the config given (default: config/config.yaml) with `run` renamed per layout, in a
scratch copy of the config folder; the surrogate is rendered once beforehand and shared, so
neither run pays for it. Each run starts from an empty results folder. Printed per rule: jobs,
summed wall seconds and CPU seconds of each layout (Snakemake's benchmark files), and the whole
run's elapsed seconds with the ratio previous / current. `--quick` shrinks every training to a
few steps (the schedule, not the science: a minute or two per run).

    .venv/bin/python benchmarks/whole_run.py --quick            # minutes
    .venv/bin/python benchmarks/whole_run.py --cores 2          # the default run twice (an hour or more)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile")]
TORCH_RULES = [  # the rules whose threads were fixed at 8 (see workflow/rules), but the restorations'
    "train_classifier",
    "train_enhancer",
    "train_detector",
    "evaluate_classifier",
    "evaluate_detector",
    "tune_enhancer",
    "embed_gallery",
    "search_queries",
    "judge_restorers",
]


def restoration_rules(config: dict) -> tuple[list[str], list[str]]:
    """(every restoration rule, those that run a network): one rule per restorer in `enhance`,
    enhance_<enhancer>. (The per-set restoration jobs of before cannot be scheduled any more: both
    layouts restore one job per restorer.)"""
    names = sorted({name for names in config["enhance"].values() for name in names})
    recipes = config["enhancers"]
    networks = [name for name in names if "network" in recipes[name] or "route" in recipes[name]]
    return [f"enhance_{name}" for name in names], [f"enhance_{name}" for name in networks]


def quick(config: dict) -> dict:
    """Every training cut to a few steps (the robust keys follow `classifier`), and one replicate."""
    config["replicates"] = 1
    config["classifier"].update(epochs=1, eval_images=100)
    for recipe in config["enhancers"].values():
        if "network" in recipe:
            recipe.update(epochs=1, steps_per_epoch=5, eval_images=50)
    config["detector"] = {**config.get("detector", {}), "epochs": 1, "steps_per_epoch": 5, "eval_images": 50}
    return config


def layout_args(layout: str, cores: int, config: dict) -> list[str]:
    if layout == "current":
        return []
    restorers, networks = restoration_rules(config)
    threads = [f"{rule}={min(8, cores)}" for rule in TORCH_RULES + restorers]
    gpus = [f"{rule}:gpu=1" for rule in TORCH_RULES + networks]
    return ["--set-threads", *threads, "--set-resources", *gpus, "--resources", "gpu=1"]


def run(workdir: Path, run_name: str, layout: str, cores: int, config: dict) -> float:
    shutil.rmtree(workdir / "results" / run_name, ignore_errors=True)
    shutil.rmtree(workdir / "logs" / run_name, ignore_errors=True)
    command = [*SNAKEMAKE, "--cores", str(cores), "--config", f"run={run_name}", *layout_args(layout, cores, config)]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode:
        sys.exit(f"{layout} run failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return elapsed


def per_rule(workdir: Path, run_name: str) -> pd.DataFrame:
    table = pd.read_csv(workdir / "results" / run_name / "tables" / "runtime.csv")
    return table.set_index("rule")[["jobs", "wall_s", "cpu_s"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a few training steps and one replicate")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder and print it")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="whole_run_"))
    shutil.copytree(REPO / "config", workdir / "config")
    config = yaml.safe_load(args.config.read_text())
    if args.quick:
        config = quick(config)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    # the surrogate (or the raw files), rendered once for both runs
    subprocess.run(
        [*SNAKEMAKE, "--cores", str(args.cores), "--config", "run=render", "--until", "convert_norb_to_hdf5"],
        cwd=workdir,
        check=True,
        capture_output=True,
    )

    elapsed, tables = {}, {}
    for layout in ("previous", "current"):
        elapsed[layout] = run(workdir, layout, layout, args.cores, config)
        tables[layout] = per_rule(workdir, layout)
        print(f"{layout}: {elapsed[layout]:.0f} s", flush=True)

    both = tables["previous"].add_suffix("_previous").join(tables["current"].add_suffix("_current"), how="outer")
    both = both.sort_values("wall_s_previous", ascending=False)
    print(f"\nper rule ({args.cores} cores{', quick' if args.quick else ''}); wall_s sums the jobs' own times")
    print(both.round(1).to_string())
    ratio = elapsed["previous"] / elapsed["current"]
    print(f"\nwhole run: previous {elapsed['previous']:.0f} s, current {elapsed['current']:.0f} s, ratio {ratio:.2f}x")
    if args.keep:
        print(f"kept: {workdir}")
    else:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
