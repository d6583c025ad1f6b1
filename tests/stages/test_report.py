"""Stages of report.smk on tiny hand-made embedding, retrieval and image files."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from test_tables import ENHANCED, GALLERY_LABELS, NOISY, PERFECT, QUERY_LABELS, ROBUST, ranks

from cbir.h5store import COLUMNS, write_embeddings, write_image_set, write_retrieval
from cbir.stages.report import evaluate_retrieval, plot_retrieval
from cbir.tables import TableError


def cols(labels) -> dict:
    labels = np.asarray(labels)
    return {c: labels if c == "label" else np.zeros(len(labels), np.int64) for c in COLUMNS}


def write_key_set(where, rankings: dict, gallery_labels, flip: bool = False) -> dict:
    """A key set's gallery embeddings and per query set (embeddings, top-k file) under `where`;
    `flip` stores the gallery in reverse order, each ranking's indices mirrored to match."""
    rng = np.random.default_rng(0)
    where.mkdir(exist_ok=True)
    write_embeddings(
        where / "gallery.h5", rng.standard_normal((12, 4)), cols(gallery_labels[::-1] if flip else gallery_labels)
    )
    paths = {}
    for qset, indices in rankings.items():
        write_embeddings(where / f"{qset}.h5", rng.standard_normal((4, 4)), cols(QUERY_LABELS))
        # cosine: the same ranking with queries 0 and 1 swapped to a wrong first result.
        cosine = indices.copy()
        cosine[:2] = ranks([[1], [0]])
        results = {d: (11 - i if flip else i, np.zeros(i.shape)) for d, i in {"l2": indices, "cosine": cosine}.items()}
        write_retrieval(where / f"r_{qset}.h5", results, {"k": 10})
        paths[qset] = (where / f"{qset}.h5", where / f"r_{qset}.h5")
    return paths


@pytest.fixture
def files(tmp_path):
    paths = write_key_set(tmp_path, {"clean": PERFECT, "noisy": NOISY, "noisy__denoiser": ENHANCED}, GALLERY_LABELS)
    return tmp_path, paths


def standard(tmp, paths, qsets) -> dict:
    """The stage's keyword arguments for the standard key set alone."""
    return {
        "galleries": {"standard": tmp / "gallery.h5"},
        "embeddings": {"standard": {q: paths[q][0] for q in qsets}},
        "results": {"standard": {q: paths[q][1] for q in qsets}},
    }


def test_writers_and_table1_layout(files):
    tmp, paths = files
    qsets = ["clean", "noisy", "noisy__denoiser"]
    out = tmp / "tables"
    evaluate_retrieval(
        **standard(tmp, paths, qsets),
        ks=[1, 5, 10],
        defaults={"noisy": "denoiser"},
        csv=out / "retrieval.csv",
        table1=out / "table1.md",
        per_query=out / "queries.md",
    )
    csv = pd.read_csv(out / "retrieval.csv")
    assert len(csv) == 54 and set(csv.measure) == {"top_k_accuracy", "precision", "map"}
    assert list(csv.columns) == ["keys", "query_set", "enhancer", "distance", "measure", "k", "value"]
    assert set(csv["keys"]) == {"standard"}
    table1 = (out / "table1.md").read_text()
    ours, paper = table1.split("## The paper")
    assert "| Query | Metric | Top 1 | Top 5 | Top 10 |" in ours
    assert "Ideal query" in ours and "Noisy query/enhanced" in ours
    assert "Motion blurry" not in table1 and "Low resolution" not in table1  # not configured
    assert "| | L2 metric | 100.00 | 100.00 | 100.00 |" in ours.replace("|  |", "| |")
    assert "| | L2 metric | 0.00/50.00 | 25.00/100.00 | 100.00/100.00 |" in ours.replace("|  |", "| |")
    assert re.search(r"\| cosine sim \| \d+\.\d\d/\d+\.\d\d \|", ours)
    assert "89.42" in paper and "39.95/55.38" in paper and "40.24/55.37" in paper
    per_query = (out / "queries.md").read_text()
    for qset in qsets:
        assert f"| {qset} |" in per_query
    assert "| standard | noisy__denoiser | denoiser | L2 metric | 4 | 50.00 | 100.00 | 100.00 |" in per_query
    assert "P@10" in per_query and "mAP@10" in per_query


def test_mismatched_files_are_named(files):
    tmp, paths = files
    out = tmp / "tables"
    kwargs = dict(
        ks=[1], defaults={"noisy": "denoiser"}, csv=out / "r.csv", table1=out / "t.md", per_query=out / "q.md"
    )
    gallery = {"standard": tmp / "gallery.h5"}
    with pytest.raises(TableError, match="query sets differ"):
        evaluate_retrieval(
            galleries=gallery, embeddings={"standard": {"clean": paths["clean"][0]}}, results={"standard": {}}, **kwargs
        )
    with pytest.raises(TableError, match=r"standard keys, gallery .*gallery\.h5"):
        evaluate_retrieval(**standard(tmp, paths, ["clean"]), **{**kwargs, "ks": [1, 20]})
    with pytest.raises(TableError, match="key sets differ"):
        evaluate_retrieval(**{**standard(tmp, paths, ["clean"]), "results": {"robust": {}}}, **kwargs)
    with pytest.raises(TableError, match="no standard key set"):
        evaluate_retrieval(
            galleries={"robust": tmp / "gallery.h5"}, embeddings={"robust": {}}, results={"robust": {}}, **kwargs
        )
    assert not out.exists()  # nothing half-written


def test_every_key_set_against_its_own_gallery(files):
    tmp, paths = files
    qsets = ["clean", "noisy", "noisy__denoiser"]
    # The robust key set stores its gallery in reverse order: read against the standard
    # gallery its rankings would find other labels.
    robust = write_key_set(tmp / "robust", ROBUST, GALLERY_LABELS, flip=True)
    out = tmp / "tables"
    frame = evaluate_retrieval(
        galleries={"robust": tmp / "robust" / "gallery.h5", "standard": tmp / "gallery.h5"},
        embeddings={"robust": {q: robust[q][0] for q in qsets}, "standard": {q: paths[q][0] for q in qsets}},
        results={"robust": {q: robust[q][1] for q in qsets}, "standard": {q: paths[q][1] for q in qsets}},
        ks=[1, 5, 10],
        defaults={"noisy": "denoiser"},
        csv=out / "retrieval.csv",
        table1=out / "table1.md",
        per_query=out / "queries.md",
    )
    csv = pd.read_csv(out / "retrieval.csv")
    assert csv["keys"].tolist() == ["standard"] * 54 + ["robust"] * 54  # standard first
    assert frame.attrs == {"n_gallery": 12, "n_queries": {"clean": 4, "noisy": 4, "noisy__denoiser": 4}}
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
    assert "|  | L2 metric | 0.00/50.00 | 25.00/100.00 | 100.00/100.00 | 75.00 | 100.00 | 100.00 |" in table1
    per_query = (out / "queries.md").read_text()
    assert "| robust | noisy | – | L2 metric | 4 | 75.00 |" in per_query


def test_plot_retrieval_draws_every_query_and_result(files):
    import matplotlib.image as mpimg

    tmp, paths = files
    rng = np.random.default_rng(1)
    gallery = rng.integers(0, 256, (12, 16, 16), dtype=np.uint8)
    queries = rng.integers(0, 256, (4, 16, 16), dtype=np.uint8)
    write_image_set(tmp / "g.h5", gallery, cols(GALLERY_LABELS))
    write_image_set(tmp / "q.h5", queries, cols(QUERY_LABELS))
    out = tmp / "fig.png"
    plot_retrieval(
        results=paths["noisy"][1],
        queries=tmp / "q.h5",
        gallery=tmp / "g.h5",
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


@pytest.mark.parametrize("robust", [False, True], ids=["standard", "robust"])
def test_evaluate_enhancement_and_gap_figure(files, robust):
    import matplotlib.image as mpimg

    from cbir.stages.report import evaluate_enhancement, plot_gap_closed

    tmp, paths = files
    qsets = ["clean", "noisy", "noisy__denoiser", "noisy__median"]
    paths["noisy__median"] = paths["noisy"]  # the median changes nothing here: 0 % of the gap
    sets = standard(tmp, paths, qsets)
    if robust:  # top-1 L2: noisy and median 75, denoised 100 (see test_tables.ROBUST)
        other = write_key_set(tmp / "robust", {**ROBUST, "noisy__median": ROBUST["noisy"]}, GALLERY_LABELS, flip=True)
        sets["galleries"]["robust"] = tmp / "robust" / "gallery.h5"
        sets["embeddings"]["robust"] = {q: other[q][0] for q in qsets}
        sets["results"]["robust"] = {q: other[q][1] for q in qsets}
    out = tmp / "tables"
    evaluate_retrieval(
        **sets,
        ks=[1, 5, 10],
        defaults={"noisy": "denoiser"},
        csv=out / "retrieval.csv",
        table1=out / "table1.md",
        per_query=out / "queries.md",
    )
    rng = np.random.default_rng(3)
    clean = rng.integers(0, 256, (4, 16, 16), dtype=np.uint8)
    clean[:, 0, 0], clean[:, 0, 1] = 0, 255  # stored as min-max rescaled sets are: the full range
    noisy = np.clip(clean.astype(int) + rng.integers(-60, 61, clean.shape), 0, 255).astype(np.uint8)
    for name, images in {"test": clean, "noisy": noisy, "denoised": clean, "median": noisy}.items():
        write_image_set(tmp / f"{name}.h5", images, cols(QUERY_LABELS))
    evaluate_enhancement(
        retrieval=out / "retrieval.csv",
        test=tmp / "test.h5",
        degraded={"noisy": tmp / "noisy.h5"},
        restored={"noisy__denoiser": tmp / "denoised.h5", "noisy__median": tmp / "median.h5"},
        enhance={"noisy": ["denoiser", "median"]},
        clean="clean",
        csv=out / "enhancement.csv",
        markdown=out / "enhancement.md",
    )
    table = pd.read_csv(out / "enhancement.csv")
    assert table["keys"].tolist() == ["standard"] * 12 + (["robust"] * 18 if robust else [])
    l2 = table[(table.distance == "l2") & (table.k == 1)]
    top1 = l2[l2["keys"] == "standard"].set_index("enhancer")
    assert top1.loc["denoiser", "gap_closed"] == 0.5 and top1.loc["median", "gap_closed"] == 0.0
    # The denoised set is the clean images (stored as they are): PSNR at its cap, SSIM 1.
    assert top1.loc["denoiser", "psnr"] == 100.0 and top1.loc["denoiser", "ssim"] == pytest.approx(1.0)
    assert top1.loc["median", "psnr"] < 30 and top1.loc["median", "ssim"] < 0.95
    text = (out / "enhancement.md").read_text()
    assert "| noisy | (degraded) |" in text
    plot_gap_closed(enhancement=out / "enhancement.csv", output=tmp / "gap.png", distance="l2", k=1)
    image = mpimg.imread(tmp / "gap.png")[..., :3]

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
    # The robust keys alone search the degraded images: their PSNR is the degraded set's.
    assert mine.loc["none", "psnr"] == pytest.approx(top1.loc["median", "psnr"]) and mine.loc["none", "psnr"] < 30
    assert mine.loc["denoiser", "psnr"] == 100.0
    assert "|  | robust keys | " in text and "|  | robust keys + median |" in text
    # Grey (robust keys alone at 75 %) and orange (C1: median's colour, hatched: robust keys +
    # median at 75 %) bars; the median's own bar (0 %) has no height.
    assert pixels([0.4, 0.4, 0.4]) > 500 and pixels([1.0, 0.5, 0.05]) > 500


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
