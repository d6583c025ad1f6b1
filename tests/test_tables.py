"""Retrieval tables from hand-made rankings, every number computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cbir.tables import (
    COLUMNS,
    ENHANCEMENT_COLUMNS,
    TableError,
    enhancement_markdown,
    enhancement_table,
    evaluate,
    queries_markdown,
    split_qset,
    table1_markdown,
)

ENHANCE = {"noisy": ["denoiser"]}
# Gallery of 12: labels 0 0 0 0 1 1 1 1 2 2 2 2 (indices 0-3, 4-7, 8-11).
GALLERY_LABELS = np.repeat([0, 1, 2], 4)
QUERY_LABELS = np.array([0, 1, 2, 0])


def ranks(first_labels: list[list[int]]) -> np.ndarray:
    """Indices [Nq, 10] whose gallery labels start with `first_labels` (distinct images)."""
    out = []
    for wanted in first_labels:
        pool = {c: [i for i in range(12) if GALLERY_LABELS[i] == c] for c in range(3)}
        row = [pool[c].pop(0) for c in wanted]
        row += [i for i in range(12) if i not in row][: 10 - len(row)]
        out.append(row)
    return np.array(out, np.int32)


# Labels of the first results per query set; the rest of each row fills up in index order.
PERFECT = ranks([[0], [1], [2], [0]])  # clean: top-1 all correct
NOISY = ranks([[1, 2, 0], [0, 0, 0, 0, 2, 1], [1, 1, 1, 1, 0, 0, 0, 0, 2], [2, 2, 2, 2, 1, 1, 1, 1, 0, 0]])
ENHANCED = ranks([[0], [0, 1], [2], [1, 0]])
# A second key set ("robust"), its own rankings. Top-1 L2: clean 75 (q2 starts wrong), noisy 75
# (q3 starts wrong), denoised 100; cosine (queries 0 and 1 wrong as below): 25, 25, 50.
ROBUST = {
    "clean": ranks([[0], [1], [1, 2], [0]]),
    "noisy": ranks([[0], [1], [2], [1, 0]]),
    "noisy__denoiser": PERFECT,
}


def query_sets(rankings: dict | None = None) -> dict:
    """query set -> (labels, distance -> (indices, scores)) as the stage reads them."""
    out = {}
    for qset, indices in (rankings or {"clean": PERFECT, "noisy": NOISY, "noisy__denoiser": ENHANCED}).items():
        # cosine: the same ranking with queries 0 and 1 swapped to a wrong first result.
        cosine = indices.copy()
        cosine[:2] = ranks([[1], [0]])
        out[qset] = (
            QUERY_LABELS,
            {"l2": (indices, np.zeros(indices.shape)), "cosine": (cosine, np.zeros(indices.shape))},
        )
    return out


def both_keys(ks=(1, 5, 10), robust_first=False) -> pd.DataFrame:
    """The standard and the robust key sets' frames concatenated, as the stage does."""
    standard = evaluate(GALLERY_LABELS, query_sets(), ks)
    robust = evaluate(GALLERY_LABELS, query_sets(ROBUST), ks, keys="robust")
    frame = pd.concat([robust, standard] if robust_first else [standard, robust], ignore_index=True)
    frame.attrs = dict(standard.attrs)
    return frame


def value(frame, qset, enhanced, distance, measure, k, keys="standard"):
    enhancer = "denoiser" if enhanced else "none"
    sel = frame[
        (frame["keys"] == keys)
        & (frame.query_set == qset)
        & (frame.enhancer == enhancer)
        & (frame.distance == distance)
        & (frame.measure == measure)
        & (frame.k == k)
    ]
    assert len(sel) == 1
    return float(sel.value.iloc[0])


def test_split_qset():
    assert split_qset("noisy__median") == ("noisy", "median")
    assert split_qset("salt_pepper__denoiser") == ("salt_pepper", "denoiser")
    assert split_qset("noisy") == ("noisy", "none")


def test_evaluate_numbers_by_hand():
    frame = evaluate(GALLERY_LABELS, query_sets(), [1, 5, 10])
    assert (
        list(frame.columns) == list(COLUMNS) == ["keys", "query_set", "enhancer", "distance", "measure", "k", "value"]
    )
    assert len(frame) == 3 * 2 * 3 * 3  # query sets x distances x ks x measures
    assert set(frame["keys"]) == {"standard"}
    assert frame.attrs["n_queries"] == {"clean": 4, "noisy": 4, "noisy__denoiser": 4}
    # Clean, L2: every first result correct -> 100 %; precision@10: each query has 4
    # same-class images in a gallery of 12 and the row starts with one of them, then fills
    # in index order. Query 0 (label 0): 0,1,2,...,9 -> 4 relevant; query 1 (label 1): 4,
    # then 0-3, 5-9 -> 4; query 2 (label 2): 8, then 0-7, 9 -> 2; query 3 as query 0 -> 4.
    assert value(frame, "clean", False, "l2", "top_k_accuracy", 1) == 100.0
    assert value(frame, "clean", False, "l2", "precision", 10) == pytest.approx(100 * (4 + 4 + 2 + 4) / 40)
    # Clean, cosine: queries 0 and 1 start with a wrong label -> top-1 = 2/4.
    assert value(frame, "clean", False, "cosine", "top_k_accuracy", 1) == 50.0
    # Noisy, L2, labels of the first results: q0 (0): 1 2 0 -> hit at 3; q1 (1): 0 0 0 0 2 1
    # -> hit at 6; q2 (2): 1 1 1 1 0 0 0 0 2 -> hit at 9; q3 (0): 2 2 2 2 1 1 1 1 0 0 -> hit at 9.
    assert value(frame, "noisy", False, "l2", "top_k_accuracy", 1) == 0.0
    assert value(frame, "noisy", False, "l2", "top_k_accuracy", 5) == 25.0
    assert value(frame, "noisy", False, "l2", "top_k_accuracy", 10) == 100.0
    # q0's precisions at its hits: ranks 3 (1/3), then the fill 1, 2, 3, 4..: q0's row is
    # 4, 8, 0, 1, 2, 3, 5, 6, 7, 9 -> label-0 images at ranks 3, 4, 5, 6: precisions
    # 1/3, 2/4, 3/5, 4/6; AP@10 = (1/3 + 1/2 + 3/5 + 2/3) / min(10, 4).
    ap_q0 = (1 / 3 + 1 / 2 + 3 / 5 + 2 / 3) / 4
    # q3 (label 0): 8 9 10 11 4 5 6 7 0 1 -> hits at 9, 10: (1/9 + 2/10) / 4.
    ap_q3 = (1 / 9 + 2 / 10) / 4
    # q1 (label 1): 0 1 2 3 8 4 5 6 7 9 -> hits at 6..9: (1/6 + 2/7 + 3/8 + 4/9) / 4.
    ap_q1 = (1 / 6 + 2 / 7 + 3 / 8 + 4 / 9) / 4
    # q2 (label 2): 4 5 6 7 0 1 2 3 8 9 -> hits at 9, 10: (1/9 + 2/10) / 4.
    ap_q2 = (1 / 9 + 2 / 10) / 4
    assert value(frame, "noisy", False, "l2", "map", 10) == pytest.approx(100 * (ap_q0 + ap_q1 + ap_q2 + ap_q3) / 4)
    # Enhanced, L2: q0 hit, q1 starts 0 then 1, q2 hit, q3 starts 1 then 0.
    assert value(frame, "noisy", True, "l2", "top_k_accuracy", 1) == 50.0
    assert value(frame, "noisy", True, "l2", "top_k_accuracy", 5) == 100.0
    assert value(frame, "noisy", True, "l2", "precision", 1) == 50.0


def test_evaluate_names_its_key_set():
    frame = evaluate(GALLERY_LABELS, query_sets(ROBUST), [1, 5], keys="robust")
    assert list(frame.columns) == list(COLUMNS) and set(frame["keys"]) == {"robust"}
    assert len(frame) == 3 * 2 * 2 * 3
    # Robust top-1: clean q2 starts with label 1 -> 75; noisy q3 with label 1 -> 75; denoised all right.
    assert value(frame, "clean", False, "l2", "top_k_accuracy", 1, "robust") == 75.0
    assert value(frame, "noisy", False, "l2", "top_k_accuracy", 1, "robust") == 75.0
    assert value(frame, "noisy", True, "l2", "top_k_accuracy", 1, "robust") == 100.0
    assert value(frame, "noisy", False, "cosine", "top_k_accuracy", 1, "robust") == 25.0


# table1_markdown of the standard keys alone, written by the code before key sets existed.
TABLE1_STANDARD = (
    "# Table 1: retrieval performance\n\nTop-k matching accuracy (the paper's eq. 8) in percent: the share of "
    "queries with at least one gallery image of their own class among the first k results. Cells are "
    "`degraded/enhanced` (–: not configured), enhanced by each set's default enhancer (noisy: denoiser).\n\n"
    "## This run\n\n| Query | Metric | Top 1 | Top 5 |\n|---|---|---|---|\n| **Ideal query** |  |  |  |\n"
    "|  | L2 metric | 100.00 | 100.00 |\n|  | cosine sim | 50.00 | 100.00 |\n"
    "| **Noisy query/enhanced** |  |  |  |\n|  | L2 metric | 0.00/50.00 | 25.00/100.00 |\n"
    "|  | cosine sim | 0.00/25.00 | 50.00/100.00 |\n\n## The paper (Table 1)\n\n"
    "| Query | Metric | Top 1 | Top 5 |\n|---|---|---|---|\n| **Ideal query** |  |  |  |\n"
    "|  | L2 metric | 89.42 | 91.82 |\n|  | cosine sim | 89.47 | 91.82 |\n| **Noisy query/enhanced** |  |  |  |\n"
    "|  | L2 metric | 39.95/55.38 | 42.41/60.90 |\n|  | cosine sim | 40.24/55.37 | 42.10/60.62 |\n\n"
    "Gallery: 12 images. Queries per set: clean 4, noisy 4, noisy__denoiser 4.\n"
)


def test_table1_of_the_standard_keys_alone_is_unchanged():
    frame = evaluate(GALLERY_LABELS, query_sets(), [1, 5])
    assert table1_markdown(frame, {"noisy": "denoiser"}, [1, 5]) == TABLE1_STANDARD
    # A frame read back from an older retrieval.csv (no keys column) reads as standard.
    assert table1_markdown(frame.drop(columns="keys"), {"noisy": "denoiser"}, [1, 5]) == TABLE1_STANDARD


def test_table1_columns_of_another_key_set():
    text = table1_markdown(both_keys([1, 5], robust_first=True), {"noisy": "denoiser"}, [1, 5])
    ours, paper = text.split("## The paper")
    header = "| Query | Metric | Top 1 | Top 5 | robust keys: Top 1 | robust keys: Top 5 |"
    assert header in ours and header in paper
    assert "| **Ideal query** |  |  |  |  |  |" in ours
    # Standard cells as before; robust: its accuracy on the unrestored set (top-5 all hit).
    assert "|  | L2 metric | 100.00 | 100.00 | 75.00 | 100.00 |" in ours  # clean
    assert "|  | cosine sim | 50.00 | 100.00 | 25.00 | 100.00 |" in ours
    assert "|  | L2 metric | 0.00/50.00 | 25.00/100.00 | 75.00 | 100.00 |" in ours  # noisy, not the denoised 100
    assert "|  | cosine sim | 0.00/25.00 | 50.00/100.00 | 25.00 | 100.00 |" in ours
    assert "|  | L2 metric | 89.42 | 91.82 | – | – |" in paper
    assert "|  | L2 metric | 39.95/55.38 | 42.41/60.90 | – | – |" in paper
    assert "A column `K keys: Top k` (robust) is the accuracy of the unrestored queries" in text
    # Everything but the new columns and that sentence is the standard table.
    stripped = text.replace(" robust keys: Top 1 | robust keys: Top 5 |", "").replace(
        "|---|---|---|---|---|---|", "|---|---|---|---|"
    )
    assert stripped.count("\n") == TABLE1_STANDARD.count("\n")


def test_queries_table_has_a_row_per_key_set():
    text = queries_markdown(both_keys([1, 5], robust_first=True), ["clean", "noisy", "noisy__denoiser"])
    assert "| Keys | Query set | Enhancer | Metric | Queries | Top 1 | Top 5 | P@5 | mAP@5 |" in text
    rows = [line for line in text.splitlines() if line.startswith("| standard |") or line.startswith("| robust |")]
    assert len(rows) == 2 * 3 * 2  # key sets x query sets x distances
    assert all(r.startswith("| standard |") for r in rows[:6])  # standard first whatever the frame's order
    assert rows[0] == "| standard | clean | – | L2 metric | 4 | 100.00 | 100.00 | 50.00 | 62.50 |"
    assert rows[8].startswith("| robust | noisy | – | L2 metric | 4 | 75.00 | 100.00 |")
    assert rows[10].startswith("| robust | noisy__denoiser | denoiser | L2 metric | 4 | 100.00 | 100.00 |")


def test_errors():
    sets = query_sets()
    with pytest.raises(TableError, match="raise retrieval.topk"):
        evaluate(GALLERY_LABELS, {"clean": sets["clean"]}, [1, 20])
    with pytest.raises(TableError, match="result rows"):
        evaluate(GALLERY_LABELS, {"clean": (np.zeros(3, int), sets["clean"][1])}, [1])
    with pytest.raises(TableError, match="gallery indices outside"):
        evaluate(GALLERY_LABELS[:5], {"clean": sets["clean"]}, [1])


def test_enhancement_table_gap_closed_by_hand():
    frame = evaluate(GALLERY_LABELS, query_sets(), [1, 5, 10])
    quality = {"noisy__denoiser": (21.5, 0.61)}
    table = enhancement_table(frame, quality, ENHANCE, "clean")
    assert list(table.columns) == list(ENHANCEMENT_COLUMNS)
    assert len(table) == 1 * 2 * 3  # (set, enhancer) pairs x distances x ks
    row = table[(table.distance == "l2") & (table.k == 1)].iloc[0]
    # L2 top-1: clean 100, noisy 0, denoised 50 -> half the gap closed.
    assert (row.clean, row.degraded, row.enhanced, row.gap_closed) == (100.0, 0.0, 50.0, 0.5)
    assert (row.psnr, row.ssim) == (21.5, 0.61)
    # Top-10 L2: noisy already 100 = clean: no gap, so the share is undefined (NaN), not 0 or inf.
    row10 = table[(table.distance == "l2") & (table.k == 10)].iloc[0]
    assert row10.degraded == row10.clean == 100.0 and np.isnan(row10.gap_closed)
    # Top-5 L2: clean 100, noisy 25, denoised 100 -> the whole gap.
    assert table[(table.distance == "l2") & (table.k == 5)].iloc[0].gap_closed == 1.0
    text = enhancement_markdown(table, {"noisy": (12.0, 0.2)})
    assert "| noisy | (degraded) | 12.00 | 0.200 | 100.00 | 0.00 |" in text
    assert "|  | denoiser | 21.50 | 0.610 |  |  | 50.00 | 50 % |" in text
    assert set(table["keys"]) == {"standard"}


def test_enhancement_table_measures_other_keys_against_the_standard_gap():
    quality = {"noisy__denoiser": (21.5, 0.61), "noisy": (12.0, 0.2)}
    table = enhancement_table(both_keys(robust_first=True), quality, ENHANCE, "clean")
    assert list(table.columns) == list(ENHANCEMENT_COLUMNS) and ENHANCEMENT_COLUMNS[0] == "keys"
    assert len(table) == (1 + 2) * 2 * 3  # (standard denoiser, robust none, robust denoiser) x distances x ks
    order = list(dict.fromkeys(zip(table["keys"], table["enhancer"], strict=True)))
    assert order == [("standard", "denoiser"), ("robust", "none"), ("robust", "denoiser")]
    # The standard rows are exactly the table of the standard keys alone.
    alone = enhancement_table(evaluate(GALLERY_LABELS, query_sets(), [1, 5, 10]), quality, ENHANCE, "clean")
    pd.testing.assert_frame_equal(table[table["keys"] == "standard"].reset_index(drop=True), alone)

    def row(enhancer, distance, k):
        sel = table[(table["keys"] == "robust") & (table.enhancer == enhancer) & (table.distance == distance)]
        return sel[sel.k == k].iloc[0]

    # Robust keys, unrestored, L2 top-1: standard clean 100 and noisy 0, robust noisy 75 ->
    # (75 - 0) / (100 - 0). Its own clean (75) and noisy (75) would give 0 / 0.
    r = row("none", "l2", 1)
    assert (r.clean, r.degraded, r.enhanced, r.gap_closed) == (100.0, 0.0, 75.0, 0.75)
    assert (r.psnr, r.ssim) == (12.0, 0.2)  # the degraded images are searched
    # Cosine top-1: standard clean 50, noisy 0; robust noisy 25 -> 25 / 50.
    r = row("none", "cosine", 1)
    assert (r.clean, r.degraded, r.enhanced, r.gap_closed) == (50.0, 0.0, 25.0, 0.5)
    # Robust keys on the denoised set, L2 top-1: 100 -> the whole gap; top-5: standard noisy 25.
    r = row("denoiser", "l2", 1)
    assert (r.enhanced, r.gap_closed, r.psnr, r.ssim) == (100.0, 1.0, 21.5, 0.61)
    r = row("denoiser", "l2", 5)
    assert (r.clean, r.degraded, r.enhanced, r.gap_closed) == (100.0, 25.0, 100.0, 1.0)
    text = enhancement_markdown(table, {"noisy": (12.0, 0.2)})
    lines = [line for line in text.splitlines() if line.startswith("| noisy |") or line.startswith("|  |")]
    assert lines == [
        "| noisy | (degraded) | 12.00 | 0.200 | 100.00 | 0.00 | – | – | 50.00 | 0.00 | – | – |",
        "|  | denoiser | 21.50 | 0.610 |  |  | 50.00 | 50 % |  |  | 25.00 | 50 % |",
        "|  | robust keys | 12.00 | 0.200 |  |  | 75.00 | 75 % |  |  | 25.00 | 50 % |",
        "|  | robust keys + denoiser | 21.50 | 0.610 |  |  | 100.00 | 100 % |  |  | 50.00 | 100 % |",
    ]
    assert "clean and degraded are the standard keys'" in text and "`K keys + enhancer`" in text
    with pytest.raises(TableError, match="PSNR / SSIM for the image set noisy$"):
        enhancement_table(both_keys(), {"noisy__denoiser": (21.5, 0.61)}, ENHANCE, "clean")


def test_enhancement_table_names_a_missing_set():
    frame = evaluate(GALLERY_LABELS, query_sets(), [1])
    with pytest.raises(TableError, match="median"):
        enhancement_table(frame, {"noisy__median": (1.0, 1.0)}, {"noisy": ["median"]}, "clean")


def test_runtime_summary_by_hand():
    from cbir.runtime_tables import runtime_markdown, runtime_summary

    jobs = pd.DataFrame(
        [
            {"rule": "embed_images", "s": 2.0, "max_rss": 900.0, "cpu_time": 3.0},
            {"rule": "embed_images", "s": 4.0, "max_rss": 1100.0, "cpu_time": 5.0},
            {"rule": "train_classifier", "s": 60.0, "max_rss": 1500.0, "cpu_time": 110.0},
        ]
    )
    summary = runtime_summary(jobs).set_index("rule")
    assert list(summary.index) == ["train_classifier", "embed_images", "total"]  # longest first
    assert summary.loc["embed_images"].tolist() == [2, 6.0, 4.0, 8.0, 1100.0]
    assert summary.loc["total"].tolist() == [3, 66.0, 60.0, 118.0, 1500.0]
    text = runtime_markdown(summary.reset_index(), elapsed_s=50)
    assert "| embed_images | 2 | 6.0 | 4.0 | 8.0 | 1100 |" in text and "The whole run took 50 s." in text
