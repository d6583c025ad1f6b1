"""cbir.layout: every derived name and path of a run, from a validated config (common.smk's source)."""

from __future__ import annotations

import ast
import copy
import re

import pytest
import yaml
from conftest import REPO, beside_example_folders, run_snakemake

from cbir import blind_plan, run_plan, tables
from cbir import layout as layout_module
from cbir.config import validate_config
from cbir.layout import RunLayout, classifier_name, replicate_of, restored_name, split_restored, tag_of
from cbir.seeding import stream_key

SMALL = {
    "run": "small",
    "seed": 7,
    "replicates": 2,
    "queries": {
        "clean": [],
        "noisy": [{"name": "gaussian", "sigma": 0.3}],
        "blurry": [{"name": "motion_blur", "sigma": 0.2}],
    },
    "enhance": {"noisy": ["denoiser", "median"], "blurry": ["wiener"]},
    "enhancers": {
        "denoiser": {
            "network": "unet",
            "degradations": [{"name": "gaussian", "sigma": 0.3}],
            "loss": {"pixel": 1.0, "feature": 1.0},
        },
        # used by the sweep only; no feature loss
        "deblurrer": {
            "network": "residual",
            "degradations": [{"name": "motion_blur"}],
            "loss": {"pixel": 1.0, "feature": 0.0},
        },
        "median": {"method": "median", "size": "auto", "grid": {"size": [3, 5]}},
        "wiener": {"method": "wiener", "sigma": 0.2, "nsr": 0.1},  # nothing to tune
        "nlmeans": {"method": "nlmeans", "h": "auto", "grid": {"h": [25.0, 50.0]}},  # the sweep's only
    },
    "keys": {"robust": {"share": 0.5, "degradations": [{"name": "gaussian", "sigma": 0.3}]}},
    "sweeps": {
        "blur": {
            "degradation": {"name": "motion_blur"},
            "vary": "sigma",
            "severities": [0.05, 0.1, 0.2],
            "enhancers": ["deblurrer", "nlmeans", "wiener"],
        }
    },
    "calibration": {
        "noisy": {"drop": 40.0, "vary": {"gaussian": "sigma"}, "values": [0.1, 0.2]},
        "blurry": {"drop": 10.0},
    },
}
R = "results/small"


@pytest.fixture
def small() -> RunLayout:
    return RunLayout(validate_config(copy.deepcopy(SMALL)))


def merged(base: dict, overlay: dict) -> dict:
    """`overlay` over `base`, nested mappings merged (as Snakemake loads a --configfile)."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def layout_of(path: str) -> RunLayout:
    """The layout of a run of config/config.yaml with the config file `path` over it (the Snakefile's order)."""
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    with beside_example_folders():  # a folder config's files must exist to validate
        return RunLayout(validate_config(merged(config, yaml.safe_load((REPO / path).read_text()))))


def test_restored_names_round_trip():
    assert restored_name("noisy", "median") == "noisy__median"
    assert split_restored("noisy__median") == ("noisy", "median")
    assert split_restored("noisy") == ("noisy", "")
    assert restored_name("noisy", "none") == "noisy"  # enhancer none: the query set itself
    for query, enhancer in [("clean", "denoiser"), ("blurry_eq9", "wiener"), ("lowres", "lanczos")]:
        assert split_restored(restored_name(query, enhancer)) == (query, enhancer)
    # the tables split names the same way, with the same separator
    assert tables.SEPARATOR is layout_module.SEPARATOR
    assert tables.split_qset("noisy__median") == ("noisy", "median") and tables.split_qset("noisy") == ("noisy", "none")


def test_tags_and_classifier_names():
    assert [tag_of(r) for r in range(3)] == ["", "@1", "@2"]
    assert [replicate_of(t) for t in ["", "@1", "@12"]] == [0, 1, 12]
    assert classifier_name("standard") == "classifier" and classifier_name("robust") == "classifier_robust"


def test_names_of_a_small_run(small):
    assert (small.results, small.logs, small.raw) == (R, "logs/small", "resources/synthnorb")
    assert small.synthetic and not small.folder
    assert small.queries == ["clean", "noisy", "blurry"] and small.clean == "clean"
    assert small.restored == ["noisy__denoiser", "noisy__median", "blurry__wiener"]
    assert small.default_restored == ["noisy__denoiser", "blurry__wiener"]
    assert small.blind == ["clean__denoiser", "clean__median", "clean__wiener"]
    assert small.query_sets == small.queries + small.restored + small.blind
    assert small.used == ["deblurrer", "denoiser", "median", "nlmeans", "wiener"]
    assert small.trained == ["deblurrer", "denoiser"] and small.trained_all == ["denoiser"]
    assert small.tuned == ["median", "nlmeans"] and small.tuned_all == ["median"]
    assert small.keys == ["standard", "robust"]
    assert small.classifier == {"standard": "classifier", "robust": "classifier_robust"}
    assert small.keys_of == {"classifier": "standard", "classifier_robust": "robust"}
    assert small.tags == ["", "@1"] and small.gpu == 1 and small.severities == [1, 2, 3]
    assert small.searched_own == ["noisy__denoiser", "clean__denoiser"]
    assert small.searched_shared == ["clean", "noisy", "blurry", "noisy__median", "blurry__wiener"] + [
        "clean__median",
        "clean__wiener",
    ]


def test_replicates_seeds_and_judges(small):
    assert small.replicate_seed("") == 7
    assert small.replicate_seed("@1") == stream_key(7, "replicate", 1) % 2**32
    assert small.judge_tag("") == "@1" and small.judge_tag("@1") == ""
    assert small.tagged("noisy__denoiser", "@1") == "noisy__denoiser@1" and small.tagged("noisy", "@1") == "noisy"


def test_wildcard_constraints(small):
    assert small.wildcard_constraints() == {
        "split": "train_all|test",
        "part": "(validation/)?",
        "rep": "@1|",
        "query": "clean|noisy|blurry",
        "qset": "|".join(small.query_sets),
        "enhancer": "deblurrer|denoiser|median|nlmeans|wiener",
        "key_set": "standard|robust",
        "sweep": "blur",
    }
    # retrieve_sweep's own: the unrestored image sets of a sweep too
    assert small.sweep_enhancer_constraint() == "none|deblurrer|denoiser|median|nlmeans|wiener"
    bare = RunLayout(validate_config({"queries": {"clean": []}}))
    assert bare.wildcard_constraints()["enhancer"] == bare.wildcard_constraints()["sweep"] == "(?!)"
    assert bare.wildcard_constraints()["rep"] == "|"  # the schema's default: one replicate, no tag


def test_data_and_model_paths(small):
    assert small.raw_file("x.mat") == "resources/synthnorb/x.mat"
    smallnorb = RunLayout(validate_config({**copy.deepcopy(SMALL), "dataset": {"source": "smallnorb"}}))
    assert smallnorb.raw_file("x.mat") == "resources/smallnorb/x.mat.gz"
    assert smallnorb.raw_file("x.mat", placed=True) == "resources/smallnorb/x.mat"
    assert small.raw_split("train_all") == "train" and small.raw_split("test") == "test"
    assert small.dataset_figure_inputs(["a", "b"]) == ["a", "b"]
    assert small.query_source("") == f"{R}/data/test.h5"
    assert small.query_source("validation/") == f"{R}/data/validation.h5"
    assert small.query_file("noisy__median", "validation/") == f"{R}/queries/validation/noisy__median.h5"
    assert small.classifier_model("robust", "@1") == f"{R}/models/classifier_robust@1.pt"
    assert small.gallery("standard", "@1") == f"{R}/embeddings/standard@1/gallery.h5"
    assert small.restored_sets("noisy") == [f"{R}/queries/noisy__denoiser.h5", f"{R}/queries/noisy__median.h5"]


def test_folder_source_paths():
    folder = layout_of("config/photo_tiles.yaml")  # the folder need not exist: nothing is read
    assert folder.folder and folder.results == "results/photo_tiles"
    assert folder.folder_inputs() == ["resources/photo_tiles/manifest.csv", "resources/photo_tiles"]
    assert folder.dataset_figure_inputs(["raw"]) == [
        "results/photo_tiles/data/train_all.h5",
        "results/photo_tiles/data/test.h5",
    ]


def test_restorer_and_training_inputs(small):
    queries = f"{R}/queries/validation/noisy.h5"
    # one job per restorer: every set it restores (the clean set last: its blind cost), its model once
    both = [queries, f"{R}/queries/validation/clean.h5"]
    assert small.restored_by("denoiser") == ["noisy", "clean"]
    assert small.enhancement_inputs("denoiser", "validation/", "@1") == {
        "queries": both,
        "model": f"{R}/models/denoiser@1.pt",
    }
    assert small.enhancement_inputs("median", "validation/") == {"queries": both, "tuned": f"{R}/tuning/median.json"}
    assert small.enhancement_inputs("wiener", "") == {"queries": [f"{R}/queries/blurry.h5", f"{R}/queries/clean.h5"]}
    assert small.enhancement_outputs("denoiser") == [
        f"{R}/queries/{{part}}noisy__denoiser{{rep}}.h5",
        f"{R}/queries/{{part}}clean__denoiser{{rep}}.h5",
    ]
    assert small.enhancement_outputs("wiener") == [f"{R}/queries/{{part}}{q}__wiener.h5" for q in ("blurry", "clean")]
    assert small.tuning_inputs("median") == {
        "queries": queries,
        "model": f"{R}/models/classifier.pt",
        "gallery": f"{R}/embeddings/standard/gallery.h5",
    }
    splits = {"train": f"{R}/data/train.h5", "validation": f"{R}/data/validation.h5"}
    assert small.enhancer_training_inputs("deblurrer", "@1") == splits  # no feature loss
    assert small.enhancer_training_inputs("denoiser", "@1") == {**splits, "classifier": f"{R}/models/classifier@1.pt"}


def test_expectations(small):
    robust = small.classifier_expectation("robust", "@1")
    assert robust["role"] == "classifier" and robust["name"] == "robust" and robust["arch"] == "resnet34"  # default
    assert robust["recipe"]["degrade"] == small.config["keys"]["robust"] and robust["seed"] == small.replicate_seed(
        "@1"
    )
    assert small.classifier_recipe("standard") is small.config["classifier"]
    denoiser = small.enhancer_expectation("denoiser", "@1")
    assert (denoiser["role"], denoiser["name"], denoiser["arch"]) == ("enhancer", "denoiser", "unet")
    assert small.enhancer_expectation("median") is None
    assert small.feature_classifier_expectation("denoiser", "@1") == small.classifier_expectation("standard", "@1")
    assert small.feature_classifier_expectation("deblurrer", "") is None


def test_search_paths(small):
    assert small.search_outputs("embeddings", ["clean"], ["noisy__denoiser"]) == [
        f"{R}/embeddings/{{key_set}}{{rep}}/{{part}}clean.h5",
        f"{R}/embeddings/{{key_set}}{{rep}}/{{part}}noisy__denoiser{{rep}}.h5",
    ]
    assert small.search_outputs("retrieval", [], ["x"], folder="judge") == [
        f"{R}/retrieval/judge{{rep}}/{{part}}x{{rep}}.h5"
    ]
    job = small.search_inputs("robust", "@1", "validation/")
    assert job["model"] == f"{R}/models/classifier_robust@1.pt"
    assert job["gallery"] == f"{R}/embeddings/robust@1/gallery.h5"
    assert job["images"][0] == f"{R}/queries/validation/clean.h5"
    assert job["images"][-2:] == [
        f"{R}/queries/validation/noisy__denoiser@1.h5",
        f"{R}/queries/validation/clean__denoiser@1.h5",
    ]
    judge = small.judge_inputs("@1", "")
    assert judge["model"] == f"{R}/models/classifier.pt"  # replicate 1 is judged by replicate 0 (of 2)
    assert judge["images"] == [f"{R}/queries/noisy__denoiser@1.h5", f"{R}/queries/clean__denoiser@1.h5"]


def test_search_plan_and_its_files(small):
    plan = small.search_plan()
    assert len(plan) == 2 * 2 * 9 + 2 * 2  # key sets x replicates x query sets, then the judges
    assert ["search", "robust", "noisy__denoiser", 1, "robust@1", "noisy__denoiser@1"] in plan
    assert ["search", "robust", "noisy__median", 1, "robust@1", "noisy__median"] in plan
    assert plan[-1] == ["judge", "standard", "clean__denoiser", 1, "judge@1", "clean__denoiser@1"]
    files = small.searches("validation/")
    assert files["galleries"] == [small.gallery(k, t) for k in ("standard", "robust") for t in ("", "@1")]
    assert files["embeddings"][-1] == f"{R}/embeddings/judge@1/validation/clean__denoiser@1.h5"
    assert files["results"][0] == f"{R}/retrieval/standard/validation/clean.h5"
    assert len(files["embeddings"]) == len(files["results"]) == len(plan)
    assert not any(p[0] == "judge" for p in RunLayout(validate_config({**SMALL, "replicates": 1})).search_plan())


def test_sweep_paths(small):
    path = small.sweep_file("retrieval", "blur", "wiener", 2, "robust", "validation/")
    assert path == f"{R}/sweeps/validation/blur/retrieval/robust/wiener/s2.h5"
    assert small.sweep_files("queries", "blur", "none") == [f"{R}/sweeps/blur/queries/none/s{n}.h5" for n in (1, 2, 3)]
    assert small.sweep_enhancement_inputs("blur", "deblurrer", "") == {
        "queries": small.sweep_files("queries", "blur", "none"),
        "model": f"{R}/models/deblurrer.pt",
    }
    runs = small.sweep_runs()
    assert small.sweep_enhancers("blur") == ["none", "deblurrer", "nlmeans", "wiener"]
    assert len(runs) == 2 * 4 * 2 * 3  # parts x enhancers (none too) x key sets x severities
    assert runs[0] == ["", "standard", "none", "blur", 1] and runs[-1] == ["validation/", "robust", "wiener", "blur", 3]
    assert small.sweep_outputs("embeddings")[-1] == f"{R}/sweeps/validation/blur/embeddings/robust/wiener/s3.h5"
    assert small.robustness_outputs() == [
        f"{R}/tables/robustness.csv",
        f"{R}/tables/robustness.md",
        f"{R}/figures/robustness_curves.png",
        f"{R}/figures/learning_curve_deblurrer.png",  # trained for the sweep only
    ]
    # a classical method only a sweep uses is tuned on the sweep's middle severity
    assert small.tuning_inputs("nlmeans")["queries"] == f"{R}/sweeps/validation/blur/queries/none/s2.h5"
    assert small.sweep_enhancement_inputs("blur", "nlmeans", "validation/") == {
        "queries": small.sweep_files("queries", "blur", "none", part="validation/"),
        "tuned": f"{R}/tuning/nlmeans.json",
    }


def test_calibration_paths(small):
    assert small.grid == [["noisy", 0], ["noisy", 1]]
    assert small.calibration_searched == [
        ["noisy", "v0"],
        ["noisy", "v1"],
        ["noisy", "configured"],
        ["blurry", "configured"],
        ["clean", "configured"],
    ]
    assert small.calibration_file("queries", "noisy", 1) == f"{R}/calibration/queries/noisy/v1.h5"
    assert small.calibration_images()[1:3] == [
        f"{R}/calibration/queries/noisy/v1.h5",
        f"{R}/queries/validation/noisy.h5",
    ]
    assert (
        small.calibration_searches("retrieval", "@1")[-1] == f"{R}/calibration/retrieval/standard@1/clean/configured.h5"
    )
    assert small.calibration_searches("embeddings")[0] == f"{R}/calibration/embeddings/standard{{rep}}/noisy/v0.h5"
    assert small.calibration_runs() == [
        ["noisy", 0, 0],
        ["noisy", 0, 1],
        ["noisy", 1, 0],
        ["noisy", 1, 1],
        ["noisy", -1, 0],
        ["noisy", -1, 1],
        ["blurry", -1, 0],
        ["blurry", -1, 1],
    ]
    assert small.calibration_reads("retrieval")[5] == f"{R}/calibration/retrieval/standard@1/noisy/configured.h5"
    assert small.calibration_outputs()[-1] == f"{R}/figures/calibration.png"


def test_empty_named_targets_name_their_config_key():
    bare = RunLayout(validate_config({"queries": {"clean": []}}))
    with pytest.raises(ValueError, match="config key 'sweeps' is empty"):
        bare.robustness_outputs()
    with pytest.raises(ValueError, match="config key 'calibration' is empty"):
        bare.calibration_outputs()


def test_final_outputs(small):
    final = small.final_outputs()
    # data, queries of both splits, tuning, figures, curves, enhancement and retrieval figures, tables
    assert len(final) == len(set(final)) == 3 + 2 * 9 + 1 + 5 + 3 + 2 + 5 + 2 * 5 + 2
    assert final[:3] == [f"{R}/data/{s}.h5" for s in ("train", "validation", "test")]
    assert f"{R}/queries/validation/clean__wiener.h5" in final and f"{R}/tuning/median.json" in final
    curves = [p for p in final if "learning_curve" in p]
    assert curves == [f"{R}/figures/learning_curve_{m}.png" for m in ("classifier", "classifier_robust", "denoiser")]
    figures = [p.rsplit("/", 1)[1] for p in final if "/figures/retrieval_" in p]
    assert figures == [f"retrieval_{q}.png" for q in ("clean", "noisy", "blurry", "noisy__denoiser", "blurry__wiener")]
    assert final[-2:] == [f"{R}/tables/classification.json", f"{R}/config.yaml"]
    assert small.runtime_tables() == {"csv": f"{R}/tables/runtime.csv", "markdown": f"{R}/tables/runtime.md"}
    assert small.benchmarks == "logs/small/benchmarks"
    bare = RunLayout(validate_config({"queries": {"clean": []}, "run": "bare"}))
    assert not any("enhancement" in p or "gap_closed" in p for p in bare.final_outputs())


@pytest.mark.parametrize("path", ["config/config.yaml", "config/paper.yaml", "config/photo_tiles.yaml"])
def test_every_file_of_a_run_lies_under_its_folder(path):
    run = layout_of(path)
    root = f"results/{run.run}/"
    files = run.final_outputs() + run.robustness_outputs() + run.calibration_outputs()
    files += run.sweep_outputs("embeddings") + run.calibration_reads("retrieval") + run.calibration_images()
    for part in run.parts:
        files += [f for group in run.searches(part).values() for f in group]
    assert files and all(f.startswith(root) and ".." not in f for f in files)
    assert run.benchmarks.startswith(f"logs/{run.run}/")


def test_layout_is_pure():
    """No Snakemake, no file system: the two modules import only names, seeds and the calibration
    grid (which imports numpy), and read a config that names a missing folder without complaint."""
    allowed = {"__future__", "collections.abc", "cbir.calibration", "cbir.seeding", "cbir.run_plan", "cbir.blind_plan"}
    allowed |= {"cbir.kinds", "cbir.config_checks"}  # blind_plan: the kinds' names, the sweeps' specs
    for module in (layout_module, run_plan, blind_plan):
        tree = ast.parse(open(module.__file__).read())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert imported <= allowed, (module.__name__, imported - allowed)
        assert not re.search(r"\bopen\(|\.exists\(|\.glob\(", open(module.__file__).read())
    config = validate_config({"queries": {"clean": []}})
    config["dataset"] = {
        **config["dataset"],
        "source": "folder",
        "folder": {"path": "no/such/folder", "manifest": None},
    }
    assert RunLayout(config).folder_inputs() == ["no/such/folder"]


def test_common_smk_names_resolve_on_the_layout(small):
    """common.smk's aliases: each upper-case name is a layout attribute, each function a method."""
    text = (REPO / "workflow/rules/common.smk").read_text()
    lists = re.findall(r"^for _name in \(\n(.*?)\n\)\.split\(\):", text, re.M | re.S)
    assert len(lists) == 2
    names = [n for block in lists for n in "".join(re.findall(r'"([^"]*)"', block)).split()]
    assert "RESULTS" in names and "classifier_model" in names
    for name in names:
        value = getattr(small, name.lower() if name.isupper() else name)
        assert name.isupper() or callable(value), name


# Today's plan of the default config's three targets (before common.smk moved into cbir.layout).
DEFAULT_JOBS = {
    "all": 1,
    "calibrate": 1,
    "convert_norb_to_hdf5": 2,
    "degrade_calibration": 1,
    "degrade_queries": 10,
    "degrade_sweep": 10,
    "embed_gallery": 6,
    "enhance_blind": 6,
    "enhance_deblurrer": 6,
    "enhance_denoiser": 6,
    "enhance_lanczos": 2,
    "enhance_median": 2,
    "enhance_nlmeans": 2,
    "enhance_oracle": 6,
    "enhance_sweep": 20,
    "enhance_universal": 6,
    "enhance_upscaler": 6,
    "enhance_wiener": 2,
    "evaluate_blind": 2,
    "evaluate_calibration": 1,
    "evaluate_classifier": 1,
    "evaluate_detector": 1,
    "evaluate_enhancement": 2,
    "evaluate_retrieval": 2,
    "evaluate_robustness": 1,
    "judge_restorers": 6,
    "mix_queries": 2,
    "plot_augmentation": 1,
    "plot_blind": 1,
    "plot_calibration": 1,
    "plot_dataset": 1,
    "plot_degradations": 1,
    "plot_enhancement": 4,
    "plot_gap_closed": 1,
    "plot_learning_curve": 7,
    "plot_retrieval": 10,
    "plot_robustness": 1,
    "record_config": 1,
    "retrieve_sweep": 60,
    "robustness": 1,
    "search_calibration": 3,
    "search_queries": 12,
    "split_validation": 1,
    "synthesize_smallnorb": 1,
    "train_classifier": 6,
    "train_detector": 3,
    "train_enhancer": 12,
    "tune_enhancer": 3,
}


def test_default_dry_run_plans_todays_jobs_and_the_layouts_files(workdir):
    stdout = run_snakemake(workdir, "-n", "all", "robustness", "calibrate").stdout
    table = stdout.split("Job stats:")[1].split("Reasons:")[0]
    jobs = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] != "total"}
    assert jobs == DEFAULT_JOBS
    run = layout_of("config/config.yaml")
    planned = set(re.findall(r"results/demo/\S+?(?=[,\s])", stdout))
    wanted = run.final_outputs() + run.robustness_outputs() + run.calibration_outputs() + run.sweep_outputs("retrieval")
    assert set(wanted) <= planned, sorted(set(wanted) - planned)[:5]


def test_blind_routing_of_the_default_run():
    """The default run's mixture, routes, detector pools and blind table, from its config alone."""
    run = layout_of("config/config.yaml")
    assert run.mixtures == {"mixed": ["clean", "noisy", "blurry", "lowres"]} and "mixed" in run.queries
    assert run.routes == {"noise": "denoiser", "blur": "deblurrer", "lowres": "upscaler"}
    assert run.routed == ["blind", "oracle"] and run.detected
    assert run.blind_remedies() == {"blind": "blind", "oracle": "oracle", "universal": "universal"}
    # a router's sets are the replicate's own, like a network's
    assert {"mixed__blind", "noisy__blind", "clean__blind", "mixed__oracle"} <= set(run.searched_own)
    assert run.routed_inputs("blind", "@1") == {
        "detector": f"{run.results}/models/detector@1.pt",
        "noise_model": f"{run.results}/models/denoiser@1.pt",
        "blur_model": f"{run.results}/models/deblurrer@1.pt",
        "lowres_model": f"{run.results}/models/upscaler@1.pt",
    }
    assert "detector" not in run.routed_inputs("oracle", "")
    routing = run.route_params("blind", "@2")
    assert routing["routes"]["noise"]["expect"]["seed"] == run.replicate_seed("@2") == routing["detector"]["seed"]
    assert run.route_params("denoiser", "") is None
    # the detector learns every strength of every kind: the query sets' and each sweep severity's
    pools = run.detector_pools()
    assert list(pools) == ["none", "noise", "blur", "lowres"] and pools["none"] == []
    blur_sigmas = sorted(spec["sigma"] for spec in pools["blur"])
    assert blur_sigmas == [0.02, 0.035, 0.05, 0.07, 0.1, 0.19, 0.19]  # blurry and blurry_eq9 (no zero centre)
    assert sorted(spec["level"] for spec in pools["lowres"]) == [1, 2, 3]
    assert len(pools["noise"]) == 3 + 15 - 1  # salt and pepper's 0.1: a query set's and a severity, once
    assert run.detector_extremes()["motion_blur_s1"][0]["sigma"] == 0.02
    plan = run.blind_table_plan()
    assert list(plan) == ["mixed", "noisy", "blurry", "lowres", "clean"]
    assert plan["mixed"] == {
        "none": "mixed",
        "oracle": "mixed__oracle",
        "blind": "mixed__blind",
        "universal": "mixed__universal",
    }
    assert plan["noisy"]["oracle"] == "noisy__denoiser" and plan["clean"]["oracle"] == "clean"
    assert plan["clean"]["blind"] == "clean__blind"
    outputs = run.final_outputs()
    for name in ("tables/blind.csv", "tables/validation/blind.md", "tables/detector.md", "figures/blind.png"):
        assert f"{run.results}/{name}" in outputs
