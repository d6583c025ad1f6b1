"""Retrieval tables from hand-made rankings, every number computed by hand.

The rankings go through the one evaluator (`cbir.evaluation`): `per_query_values` gives each
query's value of every measure, `retrieval_frame` their means with intervals, and the markdown
functions of `cbir.tables` print them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cbir.evaluation import COLUMNS, SearchResult, enhancement_frame, per_query_values, retrieval_frame
from cbir.stats import Resampler
from cbir.tables import (
    TableError,
    enhancement_markdown,
    queries_markdown,
    split_qset,
    table1_markdown,
    tuning_markdown,
)

ENHANCE = {"noisy": ["denoiser"]}
# Gallery of 12: labels 0 0 0 0 1 1 1 1 2 2 2 2 (indices 0-3, 4-7, 8-11).
GALLERY_LABELS = np.repeat([0, 1, 2], 4)
QUERY_LABELS = np.array([0, 1, 2, 0])
GROUPS = np.arange(4)  # every query its own object
RESAMPLES = 2000
SEED = 11


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
STANDARD_SETS = {"clean": PERFECT, "noisy": NOISY, "noisy__denoiser": ENHANCED}


def cosine_of(indices: np.ndarray) -> np.ndarray:
    """The cosine ranking: the same with queries 0 and 1 swapped to a wrong first result."""
    cosine = indices.copy()
    cosine[:2] = ranks([[1], [0]])
    return cosine


def whole_ranking(indices: np.ndarray, labels=QUERY_LABELS, gallery_labels=GALLERY_LABELS) -> dict:
    """map_full, r_precision and map_at_r [Nq] of rankings that continue the stored rows with
    the rest of the gallery in index order, written out plainly (independent of cbir.search)."""
    out = {"map_full": [], "r_precision": [], "map_at_r": []}
    for row, label in zip(indices.tolist(), np.asarray(labels).tolist(), strict=True):
        full = row + [i for i in range(len(gallery_labels)) if i not in row]
        relevant = [gallery_labels[i] == label for i in full]
        n_relevant, found, ap, ap_r = sum(relevant), 0, 0.0, 0.0
        for position, hit in enumerate(relevant, start=1):
            if hit:
                found += 1
                ap += found / position
                ap_r += found / position if position <= n_relevant else 0.0
        out["map_full"].append(ap / n_relevant)
        out["r_precision"].append(sum(relevant[:n_relevant]) / n_relevant)
        out["map_at_r"].append(ap_r / n_relevant)
    return {name: np.array(values) for name, values in out.items()}


def search(indices: np.ndarray, ks) -> dict:
    """per_query_values of a ranking (L2) and its cosine variant."""
    stored = {d: (i, np.zeros(i.shape)) for d, i in {"l2": indices, "cosine": cosine_of(indices)}.items()}
    ranking = {d: whole_ranking(i) for d, (i, _) in stored.items()}
    return per_query_values(GALLERY_LABELS, QUERY_LABELS, stored, ranking, ks)


def searches(ks, robust: bool = False, robust_first: bool = False) -> dict:
    """(keys, query set) -> SearchResult of the standard (and robust) rankings."""
    sets = {("standard", q): i for q, i in STANDARD_SETS.items()}
    if robust:
        mine = {("robust", q): i for q, i in ROBUST.items()}
        sets = {**mine, **sets} if robust_first else {**sets, **mine}
    return {name: SearchResult(QUERY_LABELS, GROUPS, search(i, ks), 12) for name, i in sets.items()}


def resampler() -> Resampler:
    return Resampler(GROUPS, seed=SEED, n_resamples=RESAMPLES)


def frame_of(ks=(1, 5, 10), robust: bool = False, robust_first: bool = False) -> pd.DataFrame:
    results = searches(ks, robust, robust_first)
    galleries = {"standard": GALLERY_LABELS, "robust": GALLERY_LABELS}
    return retrieval_frame(results, galleries, resampler(), ks)


def row_of(frame, qset, enhanced, distance, measure, k, keys="standard"):
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
    return sel.iloc[0]


def value(*args, **kwargs) -> float:
    return float(row_of(*args, **kwargs).value)


def test_split_qset():
    assert split_qset("noisy__median") == ("noisy", "median")
    assert split_qset("salt_pepper__denoiser") == ("salt_pepper", "denoiser")
    assert split_qset("noisy") == ("noisy", "none")


def test_per_query_values_by_hand():
    values = search(NOISY, [1, 5, 10])
    # Noisy, L2, labels of the first results: q0 (0): 1 2 0 -> hit at 3; q1 (1): 0 0 0 0 2 1
    # -> hit at 6; q2 (2): 1 1 1 1 0 0 0 0 2 -> hit at 9; q3 (0): 2 2 2 2 1 1 1 1 0 0 -> hit at 9.
    assert values["l2", "top_k_accuracy", 1].tolist() == [0, 0, 0, 0]
    assert values["l2", "top_k_accuracy", 5].tolist() == [1, 0, 0, 0]
    assert values["l2", "top_k_accuracy", 10].tolist() == [1, 1, 1, 1]
    # Precision@10: q0's row 4 8 0 1 2 3 5 6 7 9 holds 4 label-0 images; q1's 0 1 2 3 8 4 5 6 7 9
    # 4 label-1 ones; q2's 4 5 6 7 0 1 2 3 8 9 two label-2 ones; q3's 8 9 10 11 4 5 6 7 0 1 two.
    np.testing.assert_allclose(values["l2", "precision", 10], [0.4, 0.4, 0.2, 0.2])
    # AP@10 = (sum of the precisions at the hits) / min(10, 4): q0 hits at 3, 4, 5, 6; q1 at
    # 6, 7, 8, 9; q2 and q3 at 9, 10.
    ap = [(1 / 3 + 1 / 2 + 3 / 5 + 2 / 3) / 4, (1 / 6 + 2 / 7 + 3 / 8 + 4 / 9) / 4, (1 / 9 + 2 / 10) / 4]
    np.testing.assert_allclose(values["l2", "map", 10], [ap[0], ap[1], ap[2], ap[2]])
    # The whole ranking continues with 10, 11: q2 and q3 then also hit at 11 and 12.
    ap_full = (1 / 9 + 2 / 10 + 3 / 11 + 4 / 12) / 4
    np.testing.assert_allclose(values["l2", "map_full", 0], [ap[0], ap[1], ap_full, ap_full])
    # R = 4: q0 has 2 hits among its first 4 (ranks 3, 4), the others none.
    np.testing.assert_allclose(values["l2", "r_precision", 0], [0.5, 0, 0, 0])
    np.testing.assert_allclose(values["l2", "map_at_r", 0], [(1 / 3 + 2 / 4) / 4, 0, 0, 0])
    # Cosine: queries 0 and 1 start with a wrong label, q2 and q3 as for L2.
    assert values["cosine", "top_k_accuracy", 1].tolist() == [0, 0, 0, 0]
    assert sorted({key[:2] for key in values}) == sorted(
        {(d, m) for d in ("l2", "cosine") for m in ("top_k_accuracy", "precision", "map")}
        | {(d, m) for d in ("l2", "cosine") for m in ("map_full", "r_precision", "map_at_r")}
    )
    assert {key[2] for key in values if key[1] == "map_full"} == {0}


def test_retrieval_frame_numbers_by_hand():
    frame = frame_of()
    assert list(frame.columns) == list(COLUMNS)
    assert list(COLUMNS) == [
        "keys",
        "query_set",
        "enhancer",
        "distance",
        "measure",
        "k",
        "value",
        "low",
        "high",
        "chance",
    ]
    assert len(frame) == 3 * 2 * (3 * 3 + 3)  # query sets x distances x (ks x measures + whole-ranking measures)
    assert set(frame["keys"]) == {"standard"}
    assert frame.attrs == {
        "n_gallery": 12,
        "n_queries": {"clean": 4, "noisy": 4, "noisy__denoiser": 4},
        "n_objects": 4,
        "resamples": RESAMPLES,
        "level": 0.95,
    }
    # Clean, L2: every first result correct -> 100 %, and every resample too; precision@10: each
    # query has 4 same-class images in a gallery of 12 and the row starts with one of them, then
    # fills in index order. Query 0 (label 0): 0,1,2,...,9 -> 4 relevant; query 1 (label 1): 4,
    # then 0-3, 5-9 -> 4; query 2 (label 2): 8, then 0-7, 9 -> 2; query 3 as query 0 -> 4.
    top = row_of(frame, "clean", False, "l2", "top_k_accuracy", 1)
    assert (top.value, top.low, top.high) == (100.0, 100.0, 100.0)
    assert value(frame, "clean", False, "l2", "precision", 10) == pytest.approx(100 * (4 + 4 + 2 + 4) / 40)
    # Clean, cosine: queries 0 and 1 start with a wrong label -> top-1 = 2/4; a resample of the
    # 4 objects draws only those two (or only q2, q3) with probability 1/16 > 2.5 %: [0, 100].
    cos = row_of(frame, "clean", False, "cosine", "top_k_accuracy", 1)
    assert (cos.value, cos.low, cos.high) == (50.0, 0.0, 100.0)
    # Noisy, L2 (see test_per_query_values_by_hand).
    assert value(frame, "noisy", False, "l2", "top_k_accuracy", 1) == 0.0
    # Top-5 [1, 0, 0, 0]: 25 %; P(no hit drawn) = (3/4)^4 = 32 % -> low 0; P(3 or 4 hits) =
    # 13/256 = 5 % but P(4) = 0.4 % -> high 75.
    five = row_of(frame, "noisy", False, "l2", "top_k_accuracy", 5)
    assert (five.value, five.low, five.high) == (25.0, 0.0, 75.0)
    assert value(frame, "noisy", False, "l2", "top_k_accuracy", 10) == 100.0
    ap_q0 = (1 / 3 + 1 / 2 + 3 / 5 + 2 / 3) / 4
    ap_q1 = (1 / 6 + 2 / 7 + 3 / 8 + 4 / 9) / 4
    ap_q2 = ap_q3 = (1 / 9 + 2 / 10) / 4
    assert value(frame, "noisy", False, "l2", "map", 10) == pytest.approx(100 * (ap_q0 + ap_q1 + ap_q2 + ap_q3) / 4)
    ap_full = (1 / 9 + 2 / 10 + 3 / 11 + 4 / 12) / 4
    assert value(frame, "noisy", False, "l2", "map_full", 0) == pytest.approx(100 * (ap_q0 + ap_q1 + 2 * ap_full) / 4)
    assert value(frame, "noisy", False, "l2", "r_precision", 0) == pytest.approx(100 * 0.5 / 4)
    # Enhanced, L2: q0 hit, q1 starts 0 then 1, q2 hit, q3 starts 1 then 0.
    assert value(frame, "noisy", True, "l2", "top_k_accuracy", 1) == 50.0
    assert value(frame, "noisy", True, "l2", "top_k_accuracy", 5) == 100.0
    assert value(frame, "noisy", True, "l2", "precision", 1) == 50.0
    # Every interval holds its value; chance: 4 of 12 gallery images share each query's label.
    assert ((frame.low <= frame.value + 1e-9) & (frame.value <= frame.high + 1e-9)).all()
    assert row_of(frame, "noisy", True, "l2", "top_k_accuracy", 1).chance == pytest.approx(100 / 3)
    assert row_of(frame, "clean", False, "cosine", "precision", 10).chance == pytest.approx(100 / 3)


def test_retrieval_frame_names_its_key_sets():
    frame = frame_of([1, 5], robust=True)
    assert frame["keys"].tolist() == ["standard"] * 3 * 2 * 9 + ["robust"] * 3 * 2 * 9
    assert frame.attrs["n_queries"] == {"clean": 4, "noisy": 4, "noisy__denoiser": 4}  # the standard keys'
    # Robust top-1: clean q2 starts with label 1 -> 75; noisy q3 with label 1 -> 75; denoised all right.
    assert value(frame, "clean", False, "l2", "top_k_accuracy", 1, "robust") == 75.0
    assert value(frame, "noisy", False, "l2", "top_k_accuracy", 1, "robust") == 75.0
    assert value(frame, "noisy", True, "l2", "top_k_accuracy", 1, "robust") == 100.0
    assert value(frame, "noisy", False, "cosine", "top_k_accuracy", 1, "robust") == 25.0


def cell(v: float, low: float, high: float) -> str:
    return f"{v:.2f} [{low:.1f}, {high:.1f}]"


HUNDRED = cell(100, 100, 100)
ZERO = cell(0, 0, 0)
HALF = cell(50, 0, 100)  # two of four hits: see test_retrieval_frame_numbers_by_hand
QUARTER = cell(25, 0, 75)  # one of four
# Chance, 4 of N = 12 gallery images relevant to every query: top 1 R / N = 1/3; top 5
# 1 - C(8, 5) / C(12, 5) = 1 - 56/792; P@5 and R-precision R / N; AP with cut-off m and
# normaliser Z: (1/Z) sum_{i<=m} (R / (N i)) (1 + (i - 1)(R - 1)/(N - 1)), i.e. (1 / (3 Z))
# (H_m + 3/11 (m - H_m)): mAP@5 (m 5, Z 4), mAP (m 12, Z 4), MAP@R (m 4, Z 4).
H = {m: sum(1 / i for i in range(1, m + 1)) for m in (4, 5, 12)}
CHANCE = {
    "top1": 100 / 3,
    "top5": 100 * (1 - 56 / 792),
    "p": 100 / 3,
    "map5": 100 * (H[5] + 3 / 11 * (5 - H[5])) / 12,
    "map_full": 100 * (H[12] + 3 / 11 * (12 - H[12])) / 12,
    "map_at_r": 100 * (H[4] + 3 / 11 * (4 - H[4])) / 12,
}


def test_table1_shows_intervals_and_chance():
    text = table1_markdown(frame_of([1, 5]), {"noisy": "denoiser"}, [1, 5])
    ours, paper = text.split("## The paper")
    assert "| Query | Metric | Top 1 | Top 5 |" in ours
    assert f"|  | L2 metric | {HUNDRED} | {HUNDRED} |" in ours  # clean
    assert f"|  | cosine sim | {HALF} | {HUNDRED} |" in ours
    # Noisy/denoised, L2: top-1 0 / 50, top-5 25 / 100.
    assert f"|  | L2 metric | {ZERO} / {HALF} | {QUARTER} / {HUNDRED} |" in ours
    # Cosine: noisy top-1 0, top-5 (q2 and q3 as for L2, q0 and q1 with a hit at 2) 75; denoised
    # top-1: q2 only.
    assert f"|  | cosine sim | {ZERO} / {QUARTER} | " in ours
    assert "Motion blurry" not in text and "Low resolution" not in text  # not evaluated
    assert "|  | L2 metric | 89.42 | 91.82 |" in paper and "|  | L2 metric | 39.95 / 55.38 | 42.41 / 60.90 |" in paper
    assert "(noisy: denoiser)" in text and "95 % interval [low, high]" in text
    assert "Gallery: 12 images. Queries per set: clean 4, noisy 4, noisy__denoiser 4.\n" in text
    chance = f"top 1 {CHANCE['top1']:.1f}, top 5 {CHANCE['top5']:.1f}"
    assert chance == "top 1 33.3, top 5 92.9"
    assert (
        f"Chance (a random ranking of the gallery, from the class frequencies): {chance}. Intervals: 95 % "
        f"bootstrap over the objects behind the queries (4 objects, {RESAMPLES} resamples).\n" in text
    )


def test_table1_of_a_frame_without_keys_reads_as_standard():
    frame = frame_of([1, 5])
    expected = table1_markdown(frame, {"noisy": "denoiser"}, [1, 5])
    assert table1_markdown(frame.drop(columns="keys"), {"noisy": "denoiser"}, [1, 5]) == expected


def test_table1_columns_of_another_key_set():
    text = table1_markdown(frame_of([1, 5], robust=True, robust_first=True), {"noisy": "denoiser"}, [1, 5])
    ours, paper = text.split("## The paper")
    header = "| Query | Metric | Top 1 | Top 5 | robust keys: Top 1 | robust keys: Top 5 |"
    assert header in ours and header in paper
    assert "| **Ideal query** |  |  |  |  |  |" in ours
    # Standard cells as before; robust: its accuracy on the unrestored set (top-5 all hit), 75 =
    # three of four hits: a resample without the miss has probability (3/4)^4 = 32 %.
    three = cell(75, 25, 100)
    assert f"|  | L2 metric | {HUNDRED} | {HUNDRED} | {three} | {HUNDRED} |" in ours  # clean
    assert f"|  | cosine sim | {HALF} | {HUNDRED} | {cell(25, 0, 75)} | {HUNDRED} |" in ours
    assert f"|  | L2 metric | {ZERO} / {HALF} | {QUARTER} / {HUNDRED} | {three} | {HUNDRED} |" in ours  # not 100
    assert "|  | L2 metric | 89.42 | 91.82 | – | – |" in paper
    assert "A column `K keys: Top k` (robust) is the accuracy of the unrestored queries" in text
    # The chance line is the standard keys' whatever the frame's order.
    assert "top 1 33.3, top 5 92.9" in text


def test_queries_table_has_a_row_per_key_set_and_a_chance_row():
    text = queries_markdown(frame_of([1, 5], robust=True, robust_first=True), ["clean", "noisy", "noisy__denoiser"])
    header = "| Keys | Query set | Enhancer | Metric | Queries | Top 1 | Top 5 | P@5 | mAP@5 | mAP | R-prec. | MAP@R |"
    assert header in text
    rows = [line for line in text.splitlines() if line.startswith(("| standard |", "| robust |"))]
    assert len(rows) == 2 * 3 * 2  # key sets x query sets x distances
    assert all(r.startswith("| standard |") for r in rows[:6])  # standard first whatever the frame's order
    # Clean, L2: P@5 per query 4/5, 1/5, 1/5, 4/5 -> 50 [20, 80]; AP@5 1, 1/4, 1/4, 1 -> 62.5
    # [25, 100]. Whole ranking: q1 (label 1) 4 0 1 2 3 5 6 7 8 ... hits at 1, 6, 7, 8; q2 at 1, 10,
    # 11, 12: R-precision and MAP@R 1, 1/4, 1/4, 1 -> 62.5; mAP (2 + AP_q1 + AP_q2) / 4.
    ap_q1 = (1 + 2 / 6 + 3 / 7 + 4 / 8) / 4
    ap_q2 = (1 + 2 / 10 + 3 / 11 + 4 / 12) / 4
    map_full = 100 * (2 + ap_q1 + ap_q2) / 4
    start = (
        f"| standard | clean | – | L2 metric | 4 | {HUNDRED} | {HUNDRED} | {cell(50, 20, 80)} | {cell(62.5, 25, 100)} |"
    )
    assert rows[0].startswith(start)
    assert rows[0].endswith(f" | {cell(62.5, 25, 100)} | {cell(62.5, 25, 100)} |")
    assert rows[0][len(start) :].startswith(f" {map_full:.2f} [")
    assert rows[8].startswith(f"| robust | noisy | – | L2 metric | 4 | {cell(75, 25, 100)} | {HUNDRED} |")
    assert rows[10].startswith(f"| robust | noisy__denoiser | denoiser | L2 metric | 4 | {HUNDRED} | {HUNDRED} |")
    expected = " | ".join(f"{CHANCE[name]:.2f}" for name in ("top1", "top5", "p", "map5", "map_full", "p", "map_at_r"))
    assert expected == "33.33 | 92.93 | 33.33 | 25.20 | 46.08 | 33.33 | 21.72"
    assert text.splitlines()[-1] == f"| chance | (random ranking) |  |  |  | {expected} |"
    assert "with its 95 % interval [low, high]" in text


def test_errors_are_named():
    stored = {"l2": (PERFECT, np.zeros(PERFECT.shape))}
    ranking = {"l2": whole_ranking(PERFECT)}
    with pytest.raises(TableError, match=r"clean \[l2\]: 10 results stored per query .*k=20; raise retrieval.topk"):
        per_query_values(GALLERY_LABELS, QUERY_LABELS, stored, ranking, [1, 20], where="clean")
    with pytest.raises(TableError, match="4 result rows for 3 queries"):
        per_query_values(GALLERY_LABELS, QUERY_LABELS[:3], stored, ranking, [1])
    with pytest.raises(TableError, match=r"gallery indices outside 0\.\.4"):
        per_query_values(GALLERY_LABELS[:5], QUERY_LABELS, stored, ranking, [1])
    negative = {"l2": (PERFECT - 1, np.zeros(PERFECT.shape))}
    with pytest.raises(TableError, match="gallery indices outside"):
        per_query_values(GALLERY_LABELS, QUERY_LABELS, negative, ranking, [1])
    with pytest.raises(TableError, match="no per-query map_full"):
        per_query_values(GALLERY_LABELS, QUERY_LABELS, stored, {}, [1])
    short = {"l2": {**ranking["l2"], "r_precision": np.zeros(3)}}
    with pytest.raises(TableError, match="no per-query r_precision for the 4 queries"):
        per_query_values(GALLERY_LABELS, QUERY_LABELS, stored, short, [1])


def blind_searches() -> dict:
    """The standard keys' searches of the enhancement table: clean 100 / noisy 0 / denoised 50
    (L2 top-1), a median that changes nothing, and the restorers applied to the clean queries."""
    sets = {**STANDARD_SETS, "noisy__median": NOISY, "clean__denoiser": ENHANCED, "clean__median": PERFECT}
    return {("standard", q): SearchResult(QUERY_LABELS, GROUPS, search(i, [1]), 12) for q, i in sets.items()}


def test_enhancement_markdown_marks_changes_gaps_and_notes():
    quality = {"noisy": (12.0, 0.2), "noisy__denoiser": (21.5, 0.61), "noisy__median": (15.0, 0.4)}
    enhance = {"noisy": ["denoiser", "median"]}
    table = enhancement_frame(blind_searches(), resampler(), enhance=enhance, clean="clean", quality=quality)
    text = enhancement_markdown(table, {"noisy": (12.0, 0.2)}, n_objects=4)
    lines = [line for line in text.splitlines() if line.startswith(("| noisy |", "|  |"))]
    # L2 top-1: clean 100 and noisy 0 on every resample: the gap 100 [100, 100]. Denoised
    # [1, 0, 1, 0]: +50 [0, 100] (two misses alone: 1/16 of the resamples) is n.s.; McNemar: 2
    # discordant pairs, both one way -> p = 2 / 2^2 = 0.5; the gap closed 50 % [0, 100]. Blind: the
    # denoiser on the clean queries [1, 0, 1, 0] against [1, 1, 1, 1]: -50 [-100, 0]. Cosine:
    # clean [0, 0, 1, 1] and noisy 0: a gap of 50 [0, 100] that includes zero -> no gap closed;
    # denoised [0, 0, 1, 0]: +25 [0, 75], p = 2 / 2 = 1.
    assert lines == [
        "| noisy | (degraded) | 12.00 | 0.200 | 0.00 (clean 100.00, gap +100.00 [+100.0, +100.0]) |  |  |  |  |  "
        "| 0.00 (clean 50.00, gap +50.00 [+0.0, +100.0]) |  |  |  |  |  |",
        "|  | denoiser | 21.50 | 0.610 | 50.00 | +50.00 [+0.0, +100.0] n.s. | 0.500 | 50 % [0, 100] | – "
        "| -50.00 [-100.0, +0.0] | 25.00 | +25.00 [+0.0, +75.0] n.s. | 1.000 | – | – | -25.00 [-75.0, +0.0] |",
        "|  | median | 15.00 | 0.400 | 0.00 | +0.00 [+0.0, +0.0] n.s. | 1.000 | 0 % [0, 0] | – | +0.00 [+0.0, +0.0] "
        "| 0.00 | +0.00 [+0.0, +0.0] n.s. | 1.000 | – | – | +0.00 [+0.0, +0.0] |",
    ]
    assert "No gap closed where:\n" in text
    assert (
        "- noisy (cosine sim): the gap's interval includes zero (clean - degraded = +50.00 points [+0.0, +100.0])"
        in text
    )
    assert "paired bootstrap over the 4 objects behind the queries" in text
    assert "Judge change" not in text and "replicates" not in text  # neither judges nor replicates here


def test_enhancement_markdown_notes_replicates_and_judges():
    table = pd.DataFrame(
        {
            "keys": ["standard"],
            "query_set": ["noisy"],
            "enhancer": ["net"],
            "distance": ["l2"],
            "k": [1],
            "clean": [90.0],
            "degraded": [40.0],
            "enhanced": [65.0],
            "change": [25.0],
            "change_low": [20.0],
            "change_high": [30.0],
            "p_value": [0.0001],
            "significant": [True],
            "gap": [50.0],
            "gap_low": [45.0],
            "gap_high": [55.0],
            "gap_closed": [0.5],
            "gap_closed_low": [0.4],
            "gap_closed_high": [0.6],
            "gap_note": [""],
            "judge_keys": ["next replicate"],
            "judge_change": [20.0],
            "judge_low": [15.0],
            "judge_high": [25.0],
            "judge_p_value": [0.002],
            "blind": [88.0],
            "blind_change": [-2.0],
            "blind_low": [-3.0],
            "blind_high": [-1.0],
            "blind_p_value": [0.01],
            "psnr": [25.0],
            "ssim": [0.8],
        }
    )
    text = enhancement_markdown(table, {"noisy": (12.0, 0.2)}, replicates=3)
    assert (
        "|  | net | 25.00 | 0.800 | 65.00 | +25.00 [+20.0, +30.0] | <0.001 | 50 % [40, 60] | +20.00 [+15.0, +25.0] "
        "| -2.00 [-3.0, -1.0] |" in text
    )
    assert "n.s." not in text.split("|---|")[-1]  # a significant change is not marked
    assert "measured with the next replicate's standard keys" in text
    assert "the mean over 3 replicates" in text
    assert "No gap closed" not in text


def test_tuning_markdown_of_a_hand_made_choice():
    assert tuning_markdown({}) == ""
    choice = {
        "median": {
            "chosen": {"size": 5},
            "grid": [{"params": {"size": 3}, "top1": 61.234}, {"params": {"size": 5}, "top1": 64.5}],
            "criterion": "highest top-1",
        },
        "wiener": {
            "chosen": {"noise": 0.01, "size": 3},
            "grid": [{"params": {"noise": 0.01, "size": 3}, "top1": 70.0}],
            "criterion": "the only candidate",
        },
    }
    assert tuning_markdown(choice) == (
        "\nClassical parameters chosen on the validation split (top-1 retrieval of its queries):\n\n"
        "- median: size = 5 (of size 3: 61.23; size 5: 64.50; highest top-1)\n"
        "- wiener: noise = 0.01, size = 3 (of noise 0.01, size 3: 70.00; the only candidate)\n"
    )


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
