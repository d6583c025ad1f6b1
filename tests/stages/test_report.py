"""Stages of report.smk on tiny hand-made embedding, retrieval and image files."""

from __future__ import annotations

import hashlib
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from test_tables import (
    ENHANCED,
    GALLERY_LABELS,
    NOISY,
    PERFECT,
    QUERY_LABELS,
    ROBUST,
    cosine_of,
    whole_ranking,
)

from cbir.evaluation import COLUMNS, ENHANCEMENT_COLUMNS
from cbir.h5store import COLUMNS as H5_COLUMNS
from cbir.h5store import StoreError, write_embeddings, write_image_set, write_retrieval
from cbir.search import ranking_measures, topk
from cbir.stages.report import evaluate_enhancement, evaluate_retrieval, plot_retrieval
from cbir.tables import TableError

EVALUATION = {"resamples": 2000, "level": 0.95}
STANDARD_SETS = {"clean": PERFECT, "noisy": NOISY, "noisy__denoiser": ENHANCED}
# The sets the enhancement table reads besides: a median that changes nothing (0 % of the gap)
# and both restorers applied to the clean queries (the blind cost).
STANDARD_MORE = {"noisy__median": NOISY, "clean__denoiser": ENHANCED, "clean__median": PERFECT}
ROBUST_MORE = {"noisy__median": ROBUST["noisy"], "clean__denoiser": PERFECT, "clean__median": ROBUST["clean"]}


def cols(labels, instances=None) -> dict:
    labels = np.asarray(labels)
    instances = np.arange(len(labels)) if instances is None else np.asarray(instances)
    out = {c: np.zeros(len(labels), np.int64) for c in H5_COLUMNS}
    return {**out, "label": labels, "instance": instances}


def made_by(keys: str, rep: int = 0) -> dict:
    """Embedding attributes naming the model that made them (one digest per key set and replicate)."""
    return {"keys": keys, "weights_sha256": hashlib.sha256(f"{keys}@{rep}".encode()).hexdigest()}


class Searches:
    """Embedding and retrieval files under `root` with the plan that lists them, as the rule
    passes them: entries [role, key set, query set, replicate, folder, file name]."""

    def __init__(self, root, key_sets=("standard",), replicates: int = 1, flipped=()):
        self.root, self.key_sets, self.replicates = root, list(key_sets), replicates
        self.plan, self.embeddings, self.results = [], [], []
        self.flipped = set(flipped)  # key sets whose gallery is stored in reverse order
        self.galleries = []
        rng = np.random.default_rng(0)
        for keys in self.key_sets:
            for rep in range(replicates):
                path = root / "embeddings" / f"{keys}@{rep}" / "gallery.h5"
                path.parent.mkdir(parents=True, exist_ok=True)
                labels = GALLERY_LABELS[::-1] if keys in self.flipped else GALLERY_LABELS
                write_embeddings(path, rng.standard_normal((12, 4)), cols(labels, np.zeros(12)), made_by(keys, rep))
                self.galleries.append(path)

    def add(self, qset: str, indices: np.ndarray, keys: str = "standard", rep: int = 0, role: str = "search"):
        """One search: the queries' embeddings and their top-10 (L2 and cosine) with whole-ranking
        measures consistent with the hand rankings (see test_tables.whole_ranking)."""
        folder = f"judge@{rep}" if role == "judge" else f"{keys}@{rep}"
        emb = self.root / "embeddings" / folder / f"{qset}.h5"
        res = self.root / "retrieval" / folder / f"{qset}.h5"
        emb.parent.mkdir(parents=True, exist_ok=True)
        res.parent.mkdir(parents=True, exist_ok=True)
        model = made_by("standard", (rep + 1) % self.replicates) if role == "judge" else made_by(keys, rep)
        write_embeddings(emb, np.random.default_rng(1).standard_normal((4, 4)), cols(QUERY_LABELS), model)
        rankings = {"l2": indices, "cosine": cosine_of(indices)}
        flip = keys in self.flipped
        stored = {d: (11 - i if flip else i, np.zeros(i.shape)) for d, i in rankings.items()}
        write_retrieval(res, stored, {"k": 10}, measures={d: whole_ranking(i) for d, i in rankings.items()})
        self.plan.append([role, keys, qset, rep, folder, qset])
        self.embeddings.append(emb)
        self.results.append(res)
        return self

    def kwargs(self) -> dict:
        return {
            "galleries": list(self.galleries),
            "plan": [list(entry) for entry in self.plan],
            "embeddings": list(self.embeddings),
            "results": list(self.results),
            "key_sets": self.key_sets,
            "replicates": self.replicates,
            "evaluation": EVALUATION,
            "seed": 3,
        }


def standard_searches(root, sets=STANDARD_SETS) -> Searches:
    searches = Searches(root)
    for qset, indices in sets.items():
        searches.add(qset, indices)
    return searches


def retrieval_outputs(out) -> dict:
    return {"csv": out / "retrieval.csv", "table1": out / "table1.md", "per_query": out / "queries.md"}


def test_writers_and_table1_layout(tmp_path):
    out = tmp_path / "tables"
    frame = evaluate_retrieval(
        **standard_searches(tmp_path).kwargs(), ks=[1, 5, 10], defaults={"noisy": "denoiser"}, **retrieval_outputs(out)
    )
    csv = pd.read_csv(out / "retrieval.csv")
    assert list(csv.columns) == list(COLUMNS)
    assert len(csv) == 3 * 2 * (3 * 3 + 3)  # query sets x distances x (measures x ks + whole-ranking measures)
    assert set(csv.measure) == {"top_k_accuracy", "precision", "map", "map_full", "r_precision", "map_at_r"}
    assert set(csv[csv.measure == "map_full"].k) == {0}
    assert set(csv["keys"]) == {"standard"}
    top1 = csv[(csv.measure == "top_k_accuracy") & (csv.k == 1) & (csv.distance == "l2")]
    got = {(r.query_set, r.enhancer): (r.value, r.low, r.high, r.chance) for r in top1.itertuples()}
    third = pytest.approx(100 / 3, abs=1e-5)  # chance: 4 of the 12 gallery images share each label
    assert got == {
        ("clean", "none"): (100.0, 100.0, 100.0, third),
        ("noisy", "none"): (0.0, 0.0, 0.0, third),
        ("noisy", "denoiser"): (50.0, 0.0, 100.0, third),  # 2 of 4 objects: either pair alone in 1/16 resamples
    }
    # The whole-ranking measures are the stored per-query values' means (noisy L2: see
    # test_tables.test_per_query_values_by_hand).
    noisy = csv[(csv.query_set == "noisy") & (csv.enhancer == "none") & (csv.distance == "l2")].set_index("measure")
    ap = [
        (1 / 3 + 1 / 2 + 3 / 5 + 2 / 3) / 4,
        (1 / 6 + 2 / 7 + 3 / 8 + 4 / 9) / 4,
        (1 / 9 + 2 / 10 + 3 / 11 + 4 / 12) / 4,
    ]
    assert noisy.loc["map_full", "value"] == pytest.approx(100 * (ap[0] + ap[1] + 2 * ap[2]) / 4, abs=1e-5)
    assert noisy.loc["r_precision", "value"] == pytest.approx(12.5)
    assert frame.attrs == {
        "n_gallery": 12,
        "n_queries": {"clean": 4, "noisy": 4, "noisy__denoiser": 4},
        "n_objects": 4,
        "resamples": 2000,
        "level": 0.95,
    }
    table1 = (out / "table1.md").read_text()
    ours, paper = table1.split("## The paper")
    assert "| Query | Metric | Top 1 | Top 5 | Top 10 |" in ours
    assert "Ideal query" in ours and "Noisy query/enhanced" in ours
    assert "Motion blurry" not in table1 and "Low resolution" not in table1  # not configured
    hundred = "100.00 [100.0, 100.0]"
    assert f"|  | L2 metric | {hundred} | {hundred} | {hundred} |" in ours
    assert f"|  | L2 metric | 0.00 [0.0, 0.0] / 50.00 [0.0, 100.0] | 25.00 [0.0, 75.0] / {hundred} | " in ours
    assert re.search(r"\| cosine sim \| \d+\.\d\d \[\d+\.\d, \d+\.\d\] / \d+\.\d\d \[", ours)
    assert "89.42" in paper and "39.95 / 55.38" in paper and "40.24 / 55.37" in paper
    assert "top 1 33.3, top 5 92.9, top 10 100.0" in table1 and "(4 objects, 2000 resamples)" in table1
    per_query = (out / "queries.md").read_text()
    for qset in STANDARD_SETS:
        assert f"| {qset} |" in per_query
    assert f"| standard | noisy__denoiser | denoiser | L2 metric | 4 | 50.00 [0.0, 100.0] | {hundred} |" in per_query
    assert "P@10" in per_query and "mAP@10" in per_query and "| mAP | R-prec. | MAP@R |" in per_query
    assert per_query.splitlines()[-1].startswith("| chance | (random ranking) |  |  |  | 33.33 |")


def test_retrieval_from_real_features(tmp_path):
    """The ranking measures as the retrieve stage stores them (cbir.search on the features)."""
    rng = np.random.default_rng(7)
    gallery, g_labels = rng.standard_normal((30, 5)), np.arange(30) % 3
    queries, q_labels = rng.standard_normal((10, 5)), np.arange(10) % 3
    # Instances are numbered within each category: instance 0 of class 0 and of class 1 are two
    # objects. (label, instance): (0, 0) (1, 0) (2, 0) (0, 0) (1, 1) (2, 1) (0, 1) (1, 1) (2, 1) (0, 1).
    instances = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    (tmp_path / "g").mkdir()
    write_embeddings(tmp_path / "g" / "gallery.h5", gallery, cols(g_labels, np.zeros(30)), made_by("standard"))
    write_embeddings(tmp_path / "g" / "clean.h5", queries, cols(q_labels, instances), made_by("standard"))
    stored, measures = {}, {}
    for distance in ("l2", "cosine"):
        stored[distance] = topk(queries, gallery, k=5, distance=distance, chunk_size=4)
        measures[distance] = ranking_measures(
            queries, gallery, query_labels=q_labels, gallery_labels=g_labels, distance=distance, chunk_size=4
        )
    write_retrieval(tmp_path / "g" / "r_clean.h5", stored, measures=measures)
    frame = evaluate_retrieval(
        galleries=[tmp_path / "g" / "gallery.h5"],
        plan=[["search", "standard", "clean", 0, "g", "clean"]],
        embeddings=[tmp_path / "g" / "clean.h5"],
        results=[tmp_path / "g" / "r_clean.h5"],
        key_sets=["standard"],
        replicates=1,
        ks=[1, 5],
        defaults={},
        evaluation=EVALUATION,
        seed=0,
        **retrieval_outputs(tmp_path / "t"),
    )
    assert frame.attrs["n_objects"] == 6  # the objects behind the 10 queries (2 instance numbers)
    for distance in ("l2", "cosine"):
        mine = frame[frame.distance == distance].set_index(["measure", "k"])["value"]
        retrieved = g_labels[stored[distance][0]]
        for k in (1, 5):
            assert mine["top_k_accuracy", k] == pytest.approx(
                100 * (retrieved[:, :k] == q_labels[:, None]).any(1).mean()
            )
        for name, values in measures[distance].items():
            assert mine[name, 0] == pytest.approx(100 * values.mean())


def test_mismatched_files_are_named(tmp_path):
    out = tmp_path / "tables"
    common = {"ks": [1], "defaults": {"noisy": "denoiser"}, **retrieval_outputs(out)}
    searches = standard_searches(tmp_path, {"clean": PERFECT})
    good = searches.kwargs()

    def fails(match, **changes):
        with pytest.raises(TableError, match=match):
            evaluate_retrieval(**{**good, **common, **changes})

    fails(r"1 planned searches but 2 embeddings and 1 results", embeddings=good["embeddings"] * 2)
    fails(r"1 galleries for 1 key sets x 2 replicates", replicates=2)
    fails("no standard key set among", key_sets=["robust"])
    # A plan without replicate 1 of 2 (each replicate with its gallery, here the same file).
    fails(r"search standard / clean: replicates \[0\] of 2", replicates=2, galleries=good["galleries"] * 2)
    # Entries outside the key sets or replicates are named, not a KeyError.
    fails(
        r"plan entry search standard / clean replicate 1 .*replicates",
        plan=[["search", "standard", "clean", 1, "", ""]],
    )
    fails(
        r"plan entry search robust / clean replicate 0 .*key sets \['standard'\]",
        plan=[["search", "robust", "clean", 0, "", ""]],
    )
    fails(r"plan entry rerun standard / clean", plan=[["rerun", "standard", "clean", 0, "", ""]])
    # More results requested than stored: the file and its gallery named.
    fails(r"clean\.h5 \(gallery .*gallery\.h5\) \[l2\]: 10 results stored .*raise retrieval\.topk", ks=[1, 20])
    # The replicates' galleries must hold the same images.
    other = tmp_path / "other_gallery.h5"
    write_embeddings(other, np.zeros((12, 4)), cols(GALLERY_LABELS[::-1], np.zeros(12)), made_by("standard", 1))
    plan = [["search", "standard", "clean", r, "", ""] for r in (0, 1)]
    fails(
        "other_gallery.h5: not the gallery of the other replicates",
        replicates=2,
        galleries=[good["galleries"][0], other],
        plan=plan,
        embeddings=good["embeddings"] * 2,
        results=good["results"] * 2,
    )
    # Query sets of other queries cannot share one resampler.
    searches.add("noisy", NOISY)
    write_embeddings(searches.embeddings[-1], np.zeros((4, 4)), cols(QUERY_LABELS[::-1]), made_by("standard"))
    fails(
        "not the same queries", **{k: v for k, v in searches.kwargs().items() if k in ("plan", "embeddings", "results")}
    )
    # A retrieval file from before the whole-ranking measures.
    write_retrieval(searches.results[0], {"l2": (PERFECT, np.zeros(PERFECT.shape))})
    with pytest.raises(StoreError, match="lacks the ranking measures"):
        evaluate_retrieval(**good, **common)
    assert not out.exists()  # nothing half-written


def test_every_key_set_against_its_own_gallery(tmp_path):
    # The robust key set stores its gallery in reverse order: read against the standard gallery
    # its rankings would find other labels. The key sets are given robust first: galleries and
    # plan follow that order.
    searches = Searches(tmp_path, key_sets=["robust", "standard"], flipped=["robust"])
    for qset, indices in ROBUST.items():
        searches.add(qset, indices, keys="robust")
    for qset, indices in STANDARD_SETS.items():
        searches.add(qset, indices)
    out = tmp_path / "tables"
    frame = evaluate_retrieval(
        **searches.kwargs(), ks=[1, 5, 10], defaults={"noisy": "denoiser"}, **retrieval_outputs(out)
    )
    csv = pd.read_csv(out / "retrieval.csv")
    assert sorted(set(csv["keys"])) == ["robust", "standard"] and len(csv) == 2 * 72
    assert frame.attrs["n_gallery"] == 12 and frame.attrs["n_queries"] == {"clean": 4, "noisy": 4, "noisy__denoiser": 4}
    top1 = csv[(csv.measure == "top_k_accuracy") & (csv.k == 1) & (csv.distance == "l2")]
    got = {(r.keys, r.query_set, r.enhancer): r.value for r in top1.itertuples()}
    assert got == {
        ("standard", "clean", "none"): 100.0,
        ("standard", "noisy", "none"): 0.0,
        ("standard", "noisy", "denoiser"): 50.0,
        ("robust", "clean", "none"): 75.0,
        ("robust", "noisy", "none"): 75.0,
        ("robust", "noisy", "denoiser"): 100.0,
    }
    table1 = (out / "table1.md").read_text()
    assert (
        "| Query | Metric | Top 1 | Top 5 | Top 10 | robust keys: Top 1 | robust keys: Top 5 | robust keys: Top 10 |"
        in table1
    )
    assert "|  | L2 metric | 0.00 [0.0, 0.0] / 50.00 [0.0, 100.0] | " in table1
    assert "| 75.00 [25.0, 100.0] | 100.00 [100.0, 100.0] | 100.00 [100.0, 100.0] |" in table1
    per_query = (out / "queries.md").read_text()
    rows = [line for line in per_query.splitlines() if line.startswith(("| standard |", "| robust |"))]
    assert rows[0].startswith("| standard |")  # standard first whatever the key sets' order
    assert "| robust | noisy | – | L2 metric | 4 | 75.00 [25.0, 100.0] |" in per_query


def test_plot_retrieval_draws_every_query_and_result(tmp_path):
    import matplotlib.image as mpimg

    searches = standard_searches(tmp_path, {"noisy": NOISY})
    rng = np.random.default_rng(1)
    gallery = rng.integers(0, 256, (12, 16, 16), dtype=np.uint8)
    queries = rng.integers(0, 256, (4, 16, 16), dtype=np.uint8)
    write_image_set(tmp_path / "g.h5", gallery, cols(GALLERY_LABELS))
    write_image_set(tmp_path / "q.h5", queries, cols(QUERY_LABELS))
    out = tmp_path / "fig.png"
    plot_retrieval(
        results=searches.results[0],
        queries=tmp_path / "q.h5",
        gallery=tmp_path / "g.h5",
        output=out,
        name="noisy",
        n_queries=2,
        seed=0,
    )
    image = mpimg.imread(out)
    # 2 queries x 2 distances = 4 rows of 11 panels: wider than tall, about 11:4.8.
    height, width = image.shape[:2]
    assert 1.6 < width / height < 3.2
    # Every row band holds drawn images: the grey-level spread is far from a blank page.
    bands = np.array_split(image[..., :3].mean(axis=2), 4, axis=0)
    assert all(band.std() > 0.1 for band in bands)
    # The frames use the right/wrong colours: some strongly green and some strongly red pixels.
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    assert ((g > 0.5) & (r < 0.3) & (b < 0.3)).sum() > 50
    assert ((r > 0.7) & (g < 0.3) & (b < 0.3)).sum() > 50
    with pytest.raises(ValueError, match=r"4 result rows for \w+ but 12 images in .*g\.h5"):
        plot_retrieval(
            results=searches.results[0],
            queries=tmp_path / "g.h5",
            gallery=tmp_path / "g.h5",
            output=tmp_path / "x.png",
            name="noisy",
            n_queries=2,
            seed=0,
        )


def image_sets(root, names) -> dict:
    """The clean test images, a noisy version, and the restored sets: `denoised` the clean images
    themselves, `median` the noisy ones."""
    rng = np.random.default_rng(3)
    clean = rng.integers(0, 256, (4, 16, 16), dtype=np.uint8)
    clean[:, 0, 0], clean[:, 0, 1] = 0, 255  # stored as min-max rescaled sets are: the full range
    noisy = np.clip(clean.astype(int) + rng.integers(-60, 61, clean.shape), 0, 255).astype(np.uint8)
    images = {"test": clean, "noisy": noisy, "denoised": clean, "median": noisy}
    paths = {}
    for name in ["test", "noisy", *names]:
        paths[name] = root / f"{name}.h5"
        write_image_set(paths[name], images[name], cols(QUERY_LABELS))
    return paths


@pytest.mark.parametrize("robust", [False, True], ids=["standard", "robust"])
def test_evaluate_enhancement_and_gap_figure(tmp_path, robust):
    import matplotlib.image as mpimg

    from cbir.stages.report import plot_gap_closed

    searches = Searches(tmp_path, key_sets=["standard", "robust"] if robust else ["standard"], flipped=["robust"])
    for qset, indices in {**STANDARD_SETS, **STANDARD_MORE}.items():
        searches.add(qset, indices)
    if robust:  # top-1 L2: noisy and median 75, denoised 100 (see test_tables.ROBUST)
        for qset, indices in {**ROBUST, **ROBUST_MORE}.items():
            searches.add(qset, indices, keys="robust")
    paths = image_sets(tmp_path, ["denoised", "median"])
    out = tmp_path / "tables"
    tuned = tmp_path / "median.json"
    tuned.write_text('{"chosen": {"size": 3}, "grid": [{"params": {"size": 3}, "top1": 12.5}], "criterion": "best"}')
    evaluate_enhancement(
        **searches.kwargs(),
        ks=[1, 5, 10],
        clean_images=paths["test"],
        degraded={"noisy": paths["noisy"]},
        restored={"noisy__denoiser": paths["denoised"], "noisy__median": paths["median"]},
        enhance={"noisy": ["denoiser", "median"]},
        clean="clean",
        csv=out / "enhancement.csv",
        markdown=out / "enhancement.md",
        tuned={"median": tuned},
        networks=["denoiser"],
    )
    table = pd.read_csv(out / "enhancement.csv")
    assert list(table.columns) == list(ENHANCEMENT_COLUMNS)
    named = ["change", "change_low", "change_high", "p_value", "gap_closed_low", "gap_closed_high", "significant"]
    assert set(named) <= set(table.columns)
    assert table["keys"].tolist() == ["standard"] * 12 + (["robust"] * 18 if robust else [])
    l2 = table[(table.distance == "l2") & (table.k == 1)]
    top1 = l2[l2["keys"] == "standard"].set_index("enhancer")
    # L2 top-1: clean 100, noisy 0, denoised [1, 0, 1, 0] (50: half the gap, every resample
    # between none and all of it); McNemar: two pairs, both one way: p = 0.5; the median changes
    # nothing. Neither change is distinguishable from zero with 4 objects.
    denoiser, median = top1.loc["denoiser"], top1.loc["median"]
    assert (denoiser.clean, denoiser.degraded, denoiser.enhanced) == (100.0, 0.0, 50.0)
    assert (denoiser.gap_closed, denoiser.gap_closed_low, denoiser.gap_closed_high) == (0.5, 0.0, 1.0)
    assert (denoiser.change, denoiser.change_low, denoiser.change_high, denoiser.p_value) == (50.0, 0.0, 100.0, 0.5)
    assert (median.gap_closed, median.gap_closed_low, median.gap_closed_high) == (0.0, 0.0, 0.0)
    assert (median.change, median.p_value) == (0.0, 1.0)
    assert not denoiser.significant and not median.significant
    # L2 top-5: noisy [1, 0, 0, 0] -> denoised 100: +75, its interval [25, 100] (a resample with
    # at most one of the three gains has probability 13/256 > 2.5 %, with none 1/256): significant.
    five = table[(table["keys"] == "standard") & (table.distance == "l2") & (table.k == 5)].set_index("enhancer")
    assert (five.loc["denoiser", "change"], five.loc["denoiser", "change_low"]) == (75.0, 25.0)
    assert five.loc["denoiser", "significant"] and five.loc["denoiser", "p_value"] == 0.25
    # Blind: the denoiser on the clean queries finds 2 of 4 first (-50), the median all (0).
    assert (denoiser.blind, denoiser.blind_change, median.blind, median.blind_change) == (50.0, -50.0, 100.0, 0.0)
    # The denoised set is the clean images (stored as they are): PSNR at its cap, SSIM 1.
    assert denoiser.psnr == 100.0 and denoiser.ssim == pytest.approx(1.0)
    assert median.psnr < 30 and median.ssim < 0.95
    # Cosine top-1: clean 50 [0, 100], noisy 0: a gap that includes zero -> no gap closed.
    cosine = table[(table["keys"] == "standard") & (table.distance == "cosine") & (table.k == 1)]
    assert cosine.gap_closed.isna().all() and cosine.gap_note.str.contains("includes zero").all()
    text = (out / "enhancement.md").read_text()
    assert "| noisy | (degraded) |" in text
    assert "|  | denoiser | 100.00 | 1.000 | 50.00 | +50.00 [+0.0, +100.0] n.s. | 0.500 | 50 % [0, 100] |" in text
    assert (
        "No gap closed where:" in text
        and "- noisy (cosine sim): the gap's interval includes zero (clean - degraded" in text
    )
    assert "over the 4 objects behind the queries" in text
    assert "Chance (a random ranking of the gallery): top-1 33.3." in text  # 4 of 12 gallery images per class
    assert "- median: size = 3 (of size 3: 12.50; best)" in text  # the tuning file cited
    if robust:
        # The robust keys judge the standard denoiser: 100 on its output against 75 on the noisy
        # queries; the median (classical) has no judge.
        assert denoiser.judge_keys == "robust" and denoiser.judge_change == 25.0
        assert np.isnan(median.judge_change) and pd.isna(median.judge_keys)
        assert "Judge change: a restoration network's change measured with the robust keys" in text
    else:  # one replicate and no other key set: nobody to judge
        assert table["judge_change"].isna().all() and table["judge_keys"].isna().all()
        assert "Judge change" not in text
    plot_gap_closed(enhancement=out / "enhancement.csv", output=tmp_path / "gap.png", distance="l2", k=1)
    image = mpimg.imread(tmp_path / "gap.png")[..., :3]

    def pixels(rgb):
        return (np.abs(image - np.array(rgb)).sum(axis=2) < 0.1).sum()

    # Blue (C0, denoiser at 50 %) drawn, orange (C1, median) at 0 has no height.
    assert pixels([0.12, 0.47, 0.71]) > 500
    if not robust:
        return
    mine = l2[l2["keys"] == "robust"].set_index("enhancer")
    # Against the standard gap (clean 100, noisy 0): robust keys 75, + denoiser 100, + median 75.
    assert mine["gap_closed"].to_dict() == {"none": 0.75, "denoiser": 1.0, "median": 0.75}
    assert (mine["clean"] == 100.0).all() and (mine["degraded"] == 0.0).all()
    # Their blind cost against their own clean queries (75): the denoiser 100 (+25), the median 75.
    assert mine.loc["denoiser", "blind_change"] == 25.0 and mine.loc["median", "blind_change"] == 0.0
    assert np.isnan(mine.loc["none", "blind"])
    # The robust keys alone search the degraded images: their PSNR is the degraded set's.
    assert mine.loc["none", "psnr"] == pytest.approx(median.psnr) and mine.loc["none", "psnr"] < 30
    assert mine.loc["denoiser", "psnr"] == 100.0
    assert "|  | robust keys | " in text and "|  | robust keys + median |" in text
    # Grey (robust keys alone at 75 %) and orange (C1: median's colour, hatched: robust keys +
    # median at 75 %) bars; the median's own bar (0 %) has no height.
    assert pixels([0.4, 0.4, 0.4]) > 500 and pixels([1.0, 0.5, 0.05]) > 500


def test_enhancement_with_replicates_and_judges(tmp_path):
    # Two replicates of the standard keys; `net` is a restoration network, searched per replicate
    # (L2 top-1: replicate 0 finds 2 of 4, replicate 1 all), and judged: replicate r's output
    # searched by replicate r + 1's keys (finding 0 and 2 of 4).
    searches = Searches(tmp_path, replicates=2)
    for rep, net in enumerate([ENHANCED, PERFECT]):
        for qset, indices in {"clean": PERFECT, "noisy": NOISY, "noisy__net": net, "clean__net": PERFECT}.items():
            searches.add(qset, indices, rep=rep)
    for rep, judged in enumerate([NOISY, ENHANCED]):
        searches.add("noisy__net", judged, rep=rep, role="judge")
        searches.add("clean__net", PERFECT, rep=rep, role="judge")
    out = tmp_path / "tables"
    frame = evaluate_retrieval(**searches.kwargs(), ks=[1, 5], defaults={"noisy": "net"}, **retrieval_outputs(out))
    # Only the searches make the retrieval table, each value the mean over both replicates.
    assert len(frame) == 4 * 2 * (3 * 2 + 3)
    top1 = frame[(frame.measure == "top_k_accuracy") & (frame.k == 1) & (frame.distance == "l2")]
    assert top1[(top1.query_set == "noisy") & (top1.enhancer == "net")].value.tolist() == [75.0]
    paths = image_sets(tmp_path, ["denoised"])
    table = evaluate_enhancement(
        **searches.kwargs(),
        ks=[1, 5],
        clean_images=paths["test"],
        degraded={"noisy": paths["noisy"]},
        restored={"noisy__net": paths["denoised"]},
        enhance={"noisy": ["net"]},
        clean="clean",
        csv=out / "enhancement.csv",
        markdown=out / "enhancement.md",
        networks=["net"],
    )
    row = table[(table.distance == "l2") & (table.k == 1)].iloc[0]
    assert (row.clean, row.degraded, row.enhanced) == (100.0, 0.0, 75.0)
    # The judge: (0 + 2) / 8 against the degraded 0: +25 points; two pairs, both one way: p = 0.5.
    assert row.judge_keys == "next replicate"
    assert (row.judge_change, row.judge_p_value) == (25.0, 0.5)
    csv = pd.read_csv(out / "enhancement.csv")
    assert csv["judge_keys"].tolist() == ["next replicate"] * 4 and len(csv) == 2 * 2
    text = (out / "enhancement.md").read_text()
    assert "the next replicate's standard keys" in text and "the mean over 2 replicates" in text


def test_runtime_table_from_benchmark_files(tmp_path):
    from cbir.stages.report import runtime_table

    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    paths = []
    for i, seconds in enumerate((1.5, 2.5)):
        path = tmp_path / f"q{i}.tsv"
        path.write_text(header + f"{seconds}\t0:00:0{seconds:.0f}\t{100 + i}\t1\t1\t1\t0\t0\t50\t{seconds}\n")
        paths.append(path)
    summary = runtime_table(benchmarks={"retrieve_topk": paths}, csv=tmp_path / "r.csv", markdown=tmp_path / "r.md")
    assert summary.iloc[0].tolist() == ["retrieve_topk", 2, 4.0, 2.5, 4.0, 101.0]
    assert pd.read_csv(tmp_path / "r.csv")["rule"].tolist() == ["retrieve_topk", "total"]
    with pytest.raises(TableError, match="no benchmark files"):
        runtime_table(benchmarks={}, csv=tmp_path / "x.csv", markdown=tmp_path / "x.md")


def test_swapped_key_set_embeddings_are_refused_by_the_tables(tmp_path):
    """The trial's swap: the robust keys' query embeddings copied over the standard ones after
    the search; the tables read embeddings directly, so they must check the model themselves."""
    searches = Searches(tmp_path, key_sets=("standard", "robust")).add("clean", PERFECT)
    searches.add("clean", PERFECT, keys="robust")
    out = tmp_path / "tables"
    common = {"ks": [1], "defaults": {"noisy": "denoiser"}, **retrieval_outputs(out)}
    evaluate_retrieval(**searches.kwargs(), **common)  # genuine files: accepted
    standard, robust = searches.embeddings
    shutil.copyfile(robust, standard)
    with pytest.raises(StoreError, match=rf"{re.escape(str(standard))}: query embeddings of key set 'robust'"):
        evaluate_retrieval(**searches.kwargs(), **common)
