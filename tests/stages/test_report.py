"""Stages of report.smk on tiny hand-made embedding, retrieval and image files."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from test_tables import ENHANCED, GALLERY_LABELS, NOISY, PERFECT, QUERY_LABELS, ranks

from cbir.h5store import COLUMNS, write_embeddings, write_image_set, write_retrieval
from cbir.stages.report import evaluate_retrieval, plot_retrieval
from cbir.tables import TableError


def cols(labels) -> dict:
    labels = np.asarray(labels)
    return {c: labels if c == "label" else np.zeros(len(labels), np.int64) for c in COLUMNS}


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    write_embeddings(tmp_path / "gallery.h5", rng.standard_normal((12, 4)), cols(GALLERY_LABELS))
    paths = {}
    for qset, indices in {"clean": PERFECT, "noisy": NOISY, "noisy__denoiser": ENHANCED}.items():
        write_embeddings(tmp_path / f"{qset}.h5", rng.standard_normal((4, 4)), cols(QUERY_LABELS))
        # cosine: the same ranking with queries 0 and 1 swapped to a wrong first result.
        cosine = indices.copy()
        cosine[:2] = ranks([[1], [0]])
        results = {"l2": (indices, np.zeros(indices.shape)), "cosine": (cosine, np.zeros(indices.shape))}
        write_retrieval(tmp_path / f"r_{qset}.h5", results, {"k": 10})
        paths[qset] = (tmp_path / f"{qset}.h5", tmp_path / f"r_{qset}.h5")
    return tmp_path, paths


def test_writers_and_table1_layout(files):
    tmp, paths = files
    qsets = ["clean", "noisy", "noisy__denoiser"]
    out = tmp / "tables"
    evaluate_retrieval(
        gallery=tmp / "gallery.h5",
        embeddings={q: paths[q][0] for q in qsets},
        results={q: paths[q][1] for q in qsets},
        ks=[1, 5, 10],
        defaults={"noisy": "denoiser"},
        csv=out / "retrieval.csv",
        table1=out / "table1.md",
        per_query=out / "queries.md",
    )
    csv = pd.read_csv(out / "retrieval.csv")
    assert len(csv) == 54 and set(csv.measure) == {"top_k_accuracy", "precision", "map"}
    assert list(csv.columns) == ["query_set", "enhancer", "distance", "measure", "k", "value"]
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
    assert "| noisy__denoiser | denoiser | L2 metric | 4 | 50.00 | 100.00 | 100.00 |" in per_query
    assert "P@10" in per_query and "mAP@10" in per_query


def test_mismatched_files_are_named(files):
    tmp, paths = files
    out = tmp / "tables"
    kwargs = dict(
        ks=[1], defaults={"noisy": "denoiser"}, csv=out / "r.csv", table1=out / "t.md", per_query=out / "q.md"
    )
    with pytest.raises(TableError, match="query sets differ"):
        evaluate_retrieval(gallery=tmp / "gallery.h5", embeddings={"clean": paths["clean"][0]}, results={}, **kwargs)
    with pytest.raises(TableError, match="gallery.h5"):
        evaluate_retrieval(
            gallery=tmp / "gallery.h5",
            embeddings={"clean": paths["clean"][0]},
            results={"clean": paths["clean"][1]},
            **{**kwargs, "ks": [1, 20]},
        )
    assert not out.exists()  # nothing half-written


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


def test_evaluate_enhancement_and_gap_figure(files):
    import matplotlib.image as mpimg

    from cbir.stages.report import evaluate_enhancement, plot_gap_closed

    tmp, paths = files
    qsets = ["clean", "noisy", "noisy__denoiser", "noisy__median"]
    paths["noisy__median"] = paths["noisy"]  # the median changes nothing here: 0 % of the gap
    out = tmp / "tables"
    evaluate_retrieval(
        gallery=tmp / "gallery.h5",
        embeddings={q: paths[q][0] for q in qsets},
        results={q: paths[q][1] for q in qsets},
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
    top1 = table[(table.distance == "l2") & (table.k == 1)].set_index("enhancer")
    assert top1.loc["denoiser", "gap_closed"] == 0.5 and top1.loc["median", "gap_closed"] == 0.0
    # The denoised set is the clean images (stored as they are): PSNR at its cap, SSIM 1.
    assert top1.loc["denoiser", "psnr"] == 100.0 and top1.loc["denoiser", "ssim"] == pytest.approx(1.0)
    assert top1.loc["median", "psnr"] < 30 and top1.loc["median", "ssim"] < 0.95
    assert "| noisy | (degraded) |" in (out / "enhancement.md").read_text()
    plot_gap_closed(enhancement=out / "enhancement.csv", output=tmp / "gap.png", distance="l2", k=1)
    image = mpimg.imread(tmp / "gap.png")[..., :3]
    # Two bars: blue (C0, denoiser at 50 %) drawn, orange (C1, median) at 0 has no height.
    blue = (np.abs(image - np.array([0.12, 0.47, 0.71])).sum(axis=2) < 0.1).sum()
    assert blue > 500


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
