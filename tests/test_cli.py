"""The `cbir` command line (cbir.cli) on hand-made finished runs (tests/cli_run.py) and, slow, on a
tiny run the workflow makes: a query finds what the run stored for the same test image."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from cli_run import CHOSEN, DIGEST, SEED, make_run, write_png
from conftest import REPO, run_snakemake, write_config
from matplotlib.image import imread

from cbir.checkpoint import load_model
from cbir.classical import restore
from cbir.cli import DISTANCES, main
from cbir.degrade import degrade
from cbir.h5store import read_embeddings, read_image_set, read_retrieval
from cbir.inference import embed, enhance
from cbir.norb import CATEGORIES
from cbir.search import DISTANCES as SEARCH_DISTANCES
from cbir.search import topk
from cbir.stages.data import synthesize

COLOURS = ["cat", "dog", "fish"]
ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+(\S.*?)\s+(\S+)$")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """results/ with a grey smallNORB-like run (config recorded), a colour folder-source run and
    a grey run made before runs recorded their config."""
    root = tmp_path_factory.mktemp("results")
    make_run(root, "grey")
    make_run(root, "colour", colour=True, classes=COLOURS, config=False)
    old = shutil.copytree(root / "grey", root / "old")
    for name in ("config.yaml", "config.sha256", "tuning/median.json"):
        (old / name).unlink()
    return root


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def parse(out: str) -> list[list[tuple[int, int, str, float]]]:
    """Per query, its (rank, gallery index, class name, score) rows."""
    queries = []
    for line in out.splitlines():
        if line.startswith("query "):
            queries.append([])
        elif queries and (match := ROW.match(line)):
            queries[-1].append((int(match[1]), int(match[2]), match[3], float(match[4])))
    return queries


def pngs(run, tmp_path, rows, split="test"):
    images = read_image_set(run / "data" / f"{split}.h5").images
    return [write_png(tmp_path / f"{split}{i}.png", images[i]) for i in rows], images[list(rows)]


def reference(run, images, *, k, distance="l2"):
    """Top k of `images` by the run's classifier against its gallery, computed by hand."""
    net, _ = load_model(run / "models" / "classifier.pt", kind="classifier")
    gallery = read_embeddings(run / "embeddings" / "standard" / "gallery.h5")
    features = embed(net, images, batch_size=256)
    return topk(features, gallery.features, k=k, distance=distance, chunk_size=512)


@pytest.mark.parametrize("name", ["grey", "colour"])
@pytest.mark.parametrize("distance", ["l2", "cosine"])
def test_query_finds_the_stored_retrieval_of_test_images(results, tmp_path, capsys, name, distance):
    run = results / name
    files, _ = pngs(run, tmp_path, range(8))
    out_png = tmp_path / "montage.png"
    montage = ["--out", out_png] if distance == "l2" else ["--no-montage"]  # drawn once per run: it is slow
    code, out, err = cli(capsys, "query", "--results", results, name, *files, "-k", 5, "--distance", distance, *montage)
    assert code == 0, err
    stored, _ = read_retrieval(run / "retrieval" / "standard" / "clean.h5")
    indices, scores = stored[distance]
    gallery = read_embeddings(run / "embeddings" / "standard" / "gallery.h5")
    names = COLOURS if name == "colour" else list(CATEGORIES)
    found = parse(out)
    assert len(found) == 8 and all(len(rows) == 5 for rows in found)
    for i, rows in enumerate(found):
        assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
        assert [r[1] for r in rows] == indices[i, :5].tolist()
        assert [r[2] for r in rows] == [names[gallery.labels[g]] for g in indices[i, :5]]
        printed = np.array([r[3] for r in rows])
        np.testing.assert_allclose(printed, scores[i, :5], rtol=1e-5, atol=1e-6)
        assert np.all(np.diff(printed) >= 0) if distance == "l2" else np.all(np.diff(printed) <= 0)
    if distance != "l2":
        assert not out_png.exists()
        return
    pixels = imread(out_png)[..., :3]
    assert pixels.shape[0] > pixels.shape[1] > 500  # 8 rows of the input and its 5 neighbours
    # not blank: the images' dark noise and bright squares, and (colour) coloured pixels
    assert (pixels.mean(axis=2) < 0.2).mean() > 0.05 and pixels.std() > 0.2
    if name == "colour":
        assert (pixels.max(axis=2) - pixels.min(axis=2) > 0.2).mean() > 0.02


def test_degrade_is_degrade_by_hand_and_changes_the_search(results, tmp_path, capsys):
    run = results / "grey"
    files, images = pngs(run, tmp_path, [0, 3, 5])
    code, out, err = cli(
        capsys,
        "query",
        "--results",
        results,
        "grey",
        *files,
        "-k",
        4,
        "--degrade",
        "motion_blur:sigma=0.3",
        "--no-montage",
    )
    assert code == 0, err
    assert "degraded by motion_blur(sigma=0.3, T=1.0, zero_centre=False)" in out  # the schema's defaults
    spec = {"name": "motion_blur", "sigma": 0.3, "T": 1.0, "zero_centre": False}
    degraded = degrade(images, [spec], seed=SEED, stream="cli", rescale="minmax", threads=1)
    assert not np.array_equal(degraded, images)
    indices, scores = reference(run, degraded, k=4)
    found = parse(out)
    assert [[r[1] for r in rows] for rows in found] == indices.tolist()
    np.testing.assert_allclose([[r[3] for r in rows] for rows in found], scores, rtol=1e-5, atol=1e-6)
    _, clean_scores = reference(run, images, k=4)
    assert not np.allclose(scores, clean_scores)  # the embedding changed
    # a list of specs draws one per image, like a query set's
    code, _, err = cli(
        capsys,
        "query",
        "--results",
        results,
        "grey",
        *files,
        "--degrade",
        "gaussian",
        "--degrade",
        "lowres:level=2",
        "--no-montage",
    )
    assert code == 0, err


def test_learned_enhancer_restores_what_it_searches(results, tmp_path, capsys):
    run = results / "colour"
    files, images = pngs(run, tmp_path, [1, 2])
    out_png = tmp_path / "restored.png"
    code, out, err = cli(
        capsys,
        "query",
        "--results",
        results,
        "colour",
        *files,
        "-k",
        3,
        "--degrade",
        "lowres",
        "--enhancer",
        "upscaler",
        "--out",
        out_png,
    )
    assert code == 0, err
    assert "degraded by lowres(level=1), restored by upscaler" in out
    degraded = degrade(images, [{"name": "lowres", "level": 1}], seed=SEED, stream="cli", rescale="minmax", threads=1)
    net, _ = load_model(run / "models" / "upscaler.pt")
    indices, _ = reference(run, enhance(net, degraded, batch_size=256), k=3)
    assert [[r[1] for r in rows] for rows in parse(out)] == indices.tolist()
    assert imread(out_png).shape[1] > imread(out_png).shape[0]  # input, degraded, restored, 3 neighbours


def test_enhancers_of_a_run_with_a_recorded_config(results, tmp_path, capsys):
    run = results / "grey"
    files, images = pngs(run, tmp_path, [2, 4])
    code, out, err = cli(
        capsys, "query", "--results", results, "grey", *files, "-k", 3, "--enhancer", "median", "--no-montage"
    )
    assert code == 0, err
    indices, _ = reference(run, restore(images, method="median", **CHOSEN), k=3)
    assert [[r[1] for r in rows] for rows in parse(out)] == indices.tolist()
    # a trained restorer of a run with a config: its checkpoint must hold the config's recipe
    code, out, err = cli(
        capsys, "query", "--results", results, "grey", *files, "--enhancer", "upscaler", "--no-montage"
    )
    assert code == 0 and "restored by upscaler" in out, err


def test_the_blind_router_restores_each_image_by_the_kind_the_detector_sees(results, tmp_path, capsys):
    from cbir.checkpoint import load_model
    from cbir.inference import enhance
    from cbir.kinds import KINDS
    from cbir.train.detector import predict_kinds

    run = results / "grey"
    files, images = pngs(run, tmp_path, [0, 1, 2, 3, 5])
    code, out, err = cli(
        capsys, "query", "--results", results, "grey", *files, "-k", 3, "--enhancer", "blind", "--no-montage"
    )
    assert code == 0, err
    detector, _ = load_model(run / "models" / "detector.pt", kind="detector")
    kinds = predict_kinds(detector, images, batch_size=8)
    assert re.findall(r"detected as (\w+)", out) == [KINDS[k] for k in kinds]
    upscaler, _ = load_model(run / "models" / "upscaler.pt", kind="srcnn")
    expected = images.copy()
    low = kinds == KINDS.index("lowres")  # the run's only route: lowres -> upscaler; other kinds stay
    if low.any():
        expected[low] = enhance(upscaler, images[low], batch_size=8)
    indices, _ = reference(run, expected, k=3)
    assert [[r[1] for r in rows] for rows in parse(out)] == indices.tolist()
    code, out, err = cli(capsys, "query", "--results", results, "old", *files, "--enhancer", "blind", "--no-montage")
    assert code != 0 and "blind" in err


def test_export_round_trip(results, tmp_path, capsys):
    run = results / "colour"
    path = tmp_path / "out" / "gallery.parquet"
    code, out, err = cli(capsys, "export", "--results", results, "colour", "--to", path)
    assert code == 0, err
    gallery = read_embeddings(run / "embeddings" / "standard" / "gallery.h5")
    frame = pd.read_parquet(path)
    assert len(frame) == len(gallery.features) == 36
    features = frame[[f"f{j:03d}" for j in range(512)]].to_numpy()
    assert features.dtype == np.float32 and np.array_equal(features, gallery.features)
    assert np.array_equal(frame["gallery_index"], np.arange(36))
    for column, values in gallery.columns.items():
        assert np.array_equal(frame[column].to_numpy(), values)
    assert frame["class_name"].tolist() == [COLOURS[label] for label in gallery.labels]
    assert frame.attrs["weights_sha256"] == gallery.attrs["weights_sha256"] and frame.attrs["keys"] == "standard"
    assert frame.attrs["source_attrs"]["classes"] == COLOURS and frame.attrs["export"]["run"] == "colour"
    assert b"PANDAS_ATTRS" in pq.read_schema(path).metadata  # key-value metadata any Parquet reader sees


def test_runs_lists_each_run(results, capsys):
    code, out, err = cli(capsys, "runs", "--results", results)
    assert code == 0, err
    lines = {line.split()[0]: line.split() for line in out.splitlines()}
    assert lines["run"][:5] == ["run", "config", "source", "images", "replicates"]
    assert lines["grey"][:7] == ["grey", DIGEST[:12], "synthetic", "32x32", "grey", "0", "standard"]
    assert lines["grey"][7:9] == ["clean,lowres,noisy,blurry", "yes"]  # the configured query sets
    assert lines["colour"][:7] == ["colour", "-", "folder", "32x32", "colour", "0", "standard"]
    assert lines["colour"][7:9] == ["clean", "yes"]  # without a config: the degraded sets found


def test_help_of_the_command_and_each_subcommand(capsys):
    for argv in ([], ["query"], ["export"], ["runs"]):
        assert main([*argv, "--help"]) == 0
        assert "usage: cbir" in capsys.readouterr().out
    assert DISTANCES == SEARCH_DISTANCES


def test_bad_input_from_a_shell_is_one_line_and_status_2(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed package
    argv = [sys.executable, "-m", "cbir.cli", "query", "--results", str(tmp_path), "nothere", "x.png"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, shlex.join(argv)
    assert proc.stderr.splitlines() == [f"cbir query: error: no run 'nothere' under {tmp_path}/ (it holds no runs)"]
    assert proc.stdout == ""


@pytest.fixture(scope="module")
def broken(results, tmp_path_factory):
    """Runs that are not finished, and a file that is no image."""
    root = tmp_path_factory.mktemp("broken")
    (root / "fresh" / "data").mkdir(parents=True)  # ingested, nothing trained
    (root / "half" / "models").mkdir(parents=True)
    os.link(results / "grey" / "models" / "classifier.pt", root / "half" / "models" / "classifier.pt")
    (root / "text.png").write_text("not an image")
    image = read_image_set(results / "grey" / "data" / "test.h5").images[0]
    write_png(root / "ok.png", image)
    return root


Q = ["query", "--results", "{results}"]  # a query of the runs of `results`
BAD = {
    "no run": ([*Q, "nothere", "{ok}"], "no run 'nothere' under"),
    "no classifier": (["query", "--results", "{broken}", "fresh", "{ok}"], "run fresh is unfinished: no classifier"),
    "no gallery": (["query", "--results", "{broken}", "half", "{ok}"], "unfinished: no gallery embeddings"),
    "no image": ([*Q, "grey", "{broken}/missing.png"], "cannot read image"),
    "not an image": ([*Q, "grey", "{broken}/text.png"], "cannot read image"),
    "key set": ([*Q, "grey", "{ok}", "--keys", "robust"], "unknown key set 'robust': run grey has standard"),
    "judge": ([*Q, "grey", "{ok}", "--keys", "judge"], "key set 'judge' needs replicates"),
    "replicate": ([*Q, "grey", "{ok}", "--replicate", "2"], "no replicate 2 in run grey (replicates: 0)"),
    "distance": ([*Q, "grey", "{ok}", "--distance", "manhattan"], "invalid choice: 'manhattan'"),
    "enhancer": ([*Q, "grey", "{ok}", "--enhancer", "sharpener"], "unknown enhancer 'sharpener'"),
    "classifier as enhancer": ([*Q, "grey", "{ok}", "--enhancer", "classifier"], "unknown enhancer"),
    "classical, no config": ([*Q, "old", "{ok}", "--enhancer", "median"], "no recorded config"),
    "degradation": ([*Q, "grey", "{ok}", "--degrade", "fog:level=2"], "'fog' is not one of"),
    "parameter": ([*Q, "grey", "{ok}", "--degrade", "gaussian:amount=0.1"], "parameter 'amount': unknown key"),
    "value": ([*Q, "grey", "{ok}", "--degrade", "motion_blur:sigma=3"], "parameter 'sigma': 3 is greater"),
    "spec syntax": ([*Q, "grey", "{ok}", "--degrade", "gaussian:sigma"], "expected NAME or NAME:PARAM=VALUE"),
    "k": ([*Q, "grey", "{ok}", "-k", "37"], "-k 37 exceeds the gallery size 36"),
    "k zero": ([*Q, "grey", "{ok}", "-k", "0"], "argument -k: 0 is less than 1"),
    "no images": ([*Q, "grey"], "the following arguments are required: IMAGE"),
    "export run": (["export", "--results", "{results}", "nothere", "--to", "{broken}/x.parquet"], "no run 'nothere'"),
    "export to": (["export", "--results", "{results}", "grey"], "the following arguments are required: --to"),
    "export unfinished": (["export", "--results", "{broken}", "half", "--to", "{broken}/x.parquet"], "unfinished"),
    "runs": (["runs", "--results", "{broken}/nothere"], "no results folder"),
    "command": (["frobnicate"], "invalid choice: 'frobnicate'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_status_2(results, broken, capsys, case):
    argv, expected = BAD[case]
    argv = [a.format(ok=broken / "ok.png", broken=broken, results=results) for a in argv]
    code, out, err = cli(capsys, *argv)
    assert code == 2, (out, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    command = "cbir" if argv[0] == "frobnicate" else f"cbir {argv[0]}"
    assert err.startswith(f"{command}: error: "), err
    if expected:
        assert expected in err, err


# ---------------------------------------------------------------------------------------
# slow: a tiny run of the workflow (smallNORB surrogate, one replicate, clean and lowres queries)
# ---------------------------------------------------------------------------------------

SUBSET = {
    "source": "smallnorb",
    "image_size": 32,
    "subset": {"cameras": [0], "lightings": [0, 3], "azimuth_step": 1, "elevation_step": 1},
}
SHORT = {"epochs": 1, "batch_size": 16, "steps_per_epoch": 2}
LOWRES = [{"name": "lowres", "level": 1}]


@pytest.fixture(scope="module")
def workflow_results(tmp_path_factory):
    """results/ of a tiny workflow run `cli`: what was not needed dropped from the default config."""
    workdir = tmp_path_factory.mktemp("cli_workflow")
    shutil.copytree(REPO / "config", workdir / "config")
    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

    def dropped(section, *keep):  # an overlay drops a name by setting it to null
        return {name: None for name in default[section] if name not in keep}

    write_config(
        workdir,
        run="cli",
        replicates=1,
        dataset=SUBSET,
        queries={**dropped("queries", "clean"), "lowres": LOWRES},
        enhance={**dropped("enhance"), "lowres": ["upscaler", "lanczos"]},
        enhancers={
            **dropped("enhancers", "lanczos"),
            "upscaler": {"network": "srcnn", "degradations": LOWRES, **SHORT},
        },
        classifier={"arch": "resnet18", "epochs": 1, "batch_size": 32, "eval_images": 50},
        retrieval={"distances": ["l2", "cosine"], "topk": 10, "ks": [1, 5, 10], "chunk_size": 64},
        report={"figure_queries": 2},
        keys=dropped("keys"),
        sweeps=dropped("sweeps"),
        calibration=dropped("calibration"),
        mixtures=dropped("mixtures"),
    )
    synthesize(
        folder=workdir / "resources" / "smallnorb",
        synthetic=default["dataset"]["synthetic"],
        threads=1,
        elevations=[0, 4, 8],
        azimuths=[0, 6, 12],
        lightings=[0, 3],
    )
    run_snakemake(workdir, "--cores", "2", "all")
    return workdir / "results"


@pytest.mark.slow
def test_commands_on_a_workflow_run(workflow_results, tmp_path, capsys):
    results, run = workflow_results, workflow_results / "cli"
    test = read_image_set(run / "data" / "test.h5").images
    rows = np.linspace(0, len(test) - 1, 6).astype(int)
    files = [write_png(tmp_path / f"test{i}.png", test[i]) for i in rows]
    code, out, err = cli(capsys, "query", "--results", results, "cli", *files, "--out", tmp_path / "montage.png")
    assert code == 0, err
    stored, _ = read_retrieval(run / "retrieval" / "standard" / "clean.h5")
    assert [[r[1] for r in found] for found in parse(out)] == stored["l2"][0][rows].tolist()
    assert (tmp_path / "montage.png").stat().st_size > 10_000
    # restored by the run's trained upscaler, and by lanczos with the parameters of its recorded config
    for enhancer in ("upscaler", "lanczos"):
        argv = ["query", "--results", results, "cli", *files[:2], "--degrade", "lowres", "--enhancer", enhancer]
        code, out, err = cli(capsys, *argv, "--no-montage")
        assert code == 0 and f"restored by {enhancer}" in out, err
    code, _, err = cli(capsys, "export", "--results", results, "cli", "--to", tmp_path / "gallery.parquet")
    frame = pd.read_parquet(tmp_path / "gallery.parquet")
    gallery = read_embeddings(run / "embeddings" / "standard" / "gallery.h5")
    assert code == 0 and np.array_equal(frame.filter(regex=r"^f\d+$").to_numpy(), gallery.features), err
    assert set(frame["class_name"]) <= set(CATEGORIES)
    code, out, err = cli(capsys, "runs", "--results", results)
    digest = (run / "config.sha256").read_text().split()[0]
    assert code == 0 and out.splitlines()[1].split()[:6] == ["cli", digest[:12], "smallnorb", "32x32", "grey", "0"]
