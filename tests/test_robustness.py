"""Severity sweeps: cells through the evaluator's resampler, the remedy summary (choice on validation,
mean error, pooled error ratio, mCE, relative mCE and their intervals) and the report, by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cbir.config import severity_specs
from cbir.robustness import (
    COLUMNS,
    CSV_COLUMNS,
    SUMMARY_COLUMNS,
    Cells,
    choose_restorers,
    labelled,
    severity_labels,
    summary,
    sweep_cells,
)
from cbir.robustness_tables import robustness_markdown
from cbir.stats import Resampler
from cbir.tables import TableError

# Top-1 l2 accuracy (%) at severities 1, 2 on the TEST split; error E = 100 - accuracy.
TEST = {
    ("standard", "none", "gaussian"): (80, 60),  # E 20 40  sum 60
    ("standard", "none", "lowres"): (90, 70),  # E 10 30  sum 40   baseline mean error 25
    ("standard", "denoiser", "gaussian"): (85, 75),  # E 15 25  mean 20: test would pick it for gaussian
    ("standard", "denoiser", "lowres"): (88, 72),  # E 12 28  mean 20
    ("standard", "nlmeans", "gaussian"): (82, 70),  # E 18 30  mean 24
    ("standard", "nlmeans", "lowres"): (95, 80),  # E 5 20   mean 12.5: test would pick it for lowres
    ("robust", "none", "gaussian"): (90, 80),  # E 10 20
    ("robust", "none", "lowres"): (85, 75),  # E 15 25
    ("robust", "denoiser", "gaussian"): (95, 85),  # E 5 15; lowres has no restorer for robust keys
}
# The VALIDATION split prefers the other restorer for both sweeps of the standard keys.
VALIDATION = {
    **TEST,
    ("standard", "denoiser", "gaussian"): (70, 60),  # E 30 40  mean 35
    ("standard", "nlmeans", "gaussian"): (80, 70),  # E 20 30  mean 25 <- chosen
    ("standard", "denoiser", "lowres"): (90, 90),  # E 10 10  mean 10 <- chosen
    ("standard", "nlmeans", "lowres"): (80, 80),  # E 20 20  mean 20
}
CLEAN = {"standard": 95.0, "robust": 92.0}  # E_clean 5 and 8
SHIFTS = np.array([-2.0, -1.0, 1.0, 2.0])  # resample b moves every test cell by SHIFTS[b], clean ones by twice that
LEVEL = 0.5  # percentiles 25 and 75 of the four resamples


def cells(accuracy, shift=1.0, level=LEVEL, extra=()) -> Cells:
    """Hand-made Cells at l2 / k=1 (plus rows at k=5 and cosine that must be ignored)."""
    rows, draws = [], []
    for (keys, enhancer, sweep), values in accuracy.items():
        for severity, value in enumerate(values, 1):
            for distance, k, v in [("l2", 1, float(value)), ("l2", 5, 100.0), ("cosine", 1, 0.0)]:
                rows.append((keys, enhancer, sweep, severity, distance, k, v, v - 3, v + 3))
                draws.append(v + shift * SHIFTS)
    for row in extra:
        rows.append(row)
        draws.append(row[6] + shift * SHIFTS)
    return Cells(pd.DataFrame(rows, columns=list(COLUMNS)), np.array(draws), level, 10)


def clean_cells(levels=CLEAN) -> Cells:
    rows = [(keys, "none", "clean", 0, "l2", 1, value, value - 1, value + 1) for keys, value in levels.items()]
    return Cells(pd.DataFrame(rows, columns=list(COLUMNS)), np.array([r[6] + 2 * SHIFTS for r in rows]), LEVEL, 10)


def by_hand(curves, base, clean_r, clean_base):
    """Mean error, pooled error ratio, mCE and relative mCE of one remedy, from E per sweep
    (lists over severities), with plain loops."""
    pooled = [e for d in curves for e in curves[d]]
    pooled_base = [e for d in base for e in base[d]]
    mean_error = sum(pooled) / len(pooled)
    ratio = mean_error / (sum(pooled_base) / len(pooled_base))
    mce = sum(sum(curves[d]) / sum(base[d]) for d in base) / len(base)
    relative = sum(sum(e - clean_r for e in curves[d]) / sum(e - clean_base for e in base[d]) for d in base) / len(base)
    return mean_error, ratio, mce, relative


def remedy_errors(accuracy, picks, keys, delta=0.0):
    """E per sweep of (keys, picks[sweep]) with every accuracy moved by delta."""
    return {d: [100 - (a + delta) for a in accuracy[keys, e, d]] for d, e in picks.items()}


REMEDIES = [  # (keys, remedy, enhancers, picks)
    ("standard", "none", "none", {"gaussian": "none", "lowres": "none"}),
    ("standard", "best restorer", "gaussian: nlmeans, lowres: denoiser", {"gaussian": "nlmeans", "lowres": "denoiser"}),
    ("robust", "none", "none", {"gaussian": "none", "lowres": "none"}),
    ("robust", "best restorer", "gaussian: denoiser, lowres: none", {"gaussian": "denoiser", "lowres": "none"}),
]


def test_summary_by_hand_with_the_choice_made_on_validation():
    frame = summary(cells(TEST), cells(VALIDATION), clean_cells(), distance="l2", k=1)
    assert tuple(frame.columns) == SUMMARY_COLUMNS
    assert frame[["keys", "remedy", "enhancers"]].values.tolist() == [list(r[:3]) for r in REMEDIES]
    # standard best: the validation picks' TEST errors, gaussian nlmeans 18 30, lowres denoiser 12 28 -> 88 / 4
    # (the test split would have picked denoiser and nlmeans: mean 16.25).
    np.testing.assert_allclose(frame["mean_error"], [25.0, 22.0, 17.5, 15.0])
    np.testing.assert_allclose(frame["error_ratio"], [1.0, 0.88, 0.7, 0.6])
    np.testing.assert_allclose(frame["mce"], [1.0, (48 / 60 + 40 / 40) / 2, (30 / 60 + 1) / 2, (20 / 60 + 1) / 2])
    # relative mCE: baseline excess over clean (E_clean 5): gaussian 60 - 10 = 50, lowres 40 - 10 = 30;
    # robust keys' own clean error is 8.
    relative = [1.0, ((48 - 10) / 50 + (40 - 10) / 30) / 2, ((30 - 16) / 50 + (40 - 16) / 30) / 2]
    relative.append(((20 - 16) / 50 + (40 - 16) / 30) / 2)
    np.testing.assert_allclose(frame["relative_mce"], relative)
    np.testing.assert_allclose(frame["clean_error"], [5.0, 5.0, 8.0, 8.0])
    assert (frame["relative_mce_note"] == "").all()
    assert (frame["distance"] == "l2").all() and (frame["k"] == 1).all()


def test_summary_intervals_are_the_summary_of_each_resample():
    frame = summary(cells(TEST), cells(VALIDATION), clean_cells(), distance="l2", k=1)
    base = remedy_errors(TEST, REMEDIES[0][3], "standard")
    for row, (keys, _remedy, _enhancers, picks) in zip(frame.itertuples(), REMEDIES, strict=True):
        point = by_hand(remedy_errors(TEST, picks, keys), base, 100 - CLEAN[keys], 100 - CLEAN["standard"])
        np.testing.assert_allclose([row.mean_error, row.error_ratio, row.mce, row.relative_mce], point)
        per_resample = np.array(
            [
                by_hand(
                    remedy_errors(TEST, picks, keys, delta),
                    remedy_errors(TEST, REMEDIES[0][3], "standard", delta),
                    100 - (CLEAN[keys] + 2 * delta),
                    100 - (CLEAN["standard"] + 2 * delta),
                )
                for delta in SHIFTS
            ]
        )
        low, high = np.percentile(per_resample, [25, 75], axis=0)
        for i, name in enumerate(["mean_error", "error_ratio", "mce", "relative_mce"]):
            assert getattr(row, f"{name}_low") == pytest.approx(low[i])
            assert getattr(row, f"{name}_high") == pytest.approx(high[i])
    # the baseline's ratios are 1 under every resample: never "different from the baseline"
    first = frame.iloc[0]
    assert (first["error_ratio_low"], first["error_ratio_high"], first["mce_low"], first["mce_high"]) == (1, 1, 1, 1)
    assert not first[["error_ratio_differs", "mce_differs", "relative_mce_differs"]].any()
    # robust keys + denoiser: error ratio 0.6, interval well below 1
    assert frame.iloc[3]["error_ratio_high"] < 1 and frame.iloc[3]["error_ratio_differs"]


def test_relative_mce_not_defined_where_the_baseline_does_not_exceed_its_clean_error():
    # clean standard accuracy 90 -> E_clean 10 = the baseline's lowres errors: denominator 0
    flat = {**TEST, ("standard", "none", "lowres"): (90, 90)}
    frame = summary(cells(flat), cells(flat), clean_cells({"standard": 90.0, "robust": 92.0}), distance="l2", k=1)
    assert frame["relative_mce"].isna().all() and frame["relative_mce_low"].isna().all()
    note = frame["relative_mce_note"].iloc[0]
    assert note.startswith("not defined: lowres: the baseline's error does not exceed its clean error")
    assert "gaussian" not in note
    assert frame["mce"].notna().all()  # the other numbers stay
    # lowres E 11 and 10: excess 21 - 2 * 10 = 1 > 0, but resample b moves it by 2 * SHIFTS[b]: from -3 to 5
    rising = {**TEST, ("standard", "none", "lowres"): (89, 90)}
    frame = summary(cells(rising), cells(rising), clean_cells({"standard": 90.0, "robust": 92.0}), distance="l2", k=1)
    note = frame["relative_mce_note"].iloc[0]
    assert "lowres: the baseline's excess error over clean (1 [" in note and note.endswith("includes 0")
    assert frame["relative_mce"].isna().all()


def test_choice_on_validation_and_ties_go_to_the_first_enhancer():
    choices = choose_restorers(cells(TEST), cells(VALIDATION), distance="l2", k=1)
    assert choices["standard"] == {
        "gaussian": ("nlmeans", {"denoiser": 35.0, "nlmeans": 25.0}),
        "lowres": ("denoiser", {"denoiser": 10.0, "nlmeans": 20.0}),
    }
    assert choices["robust"] == {"gaussian": ("denoiser", {"denoiser": 10.0}), "lowres": ("none", {})}
    # chosen on test, the picks would be the others
    assert choose_restorers(cells(TEST), cells(TEST), distance="l2", k=1)["standard"]["gaussian"][0] == "denoiser"
    tie = {
        ("standard", "none", "blur"): (50, 50),
        ("standard", "zeta", "blur"): (90, 70),  # E 10 30: mean 20, first in the table
        ("standard", "alpha", "blur"): (80, 80),  # E 20 20: mean 20 too
    }
    assert choose_restorers(cells(tie), cells(tie), distance="l2", k=1)["standard"]["blur"][0] == "zeta"


def test_summary_errors():
    test, validation, clean = cells(TEST), cells(VALIDATION), clean_cells()

    def without(c: Cells, **where) -> Cells:
        mask = np.ones(len(c.table), bool)
        for column, value in where.items():
            mask &= (c.table[column] == value).to_numpy()
        return Cells(c.table[~mask].reset_index(drop=True), c.resampled[~mask], c.level, c.n_objects)

    with pytest.raises(TableError, match="no baseline rows"):
        summary(without(test, keys="standard", enhancer="none"), validation, clean, distance="l2", k=1)
    with pytest.raises(TableError, match="robust keys without restorer: no rows for lowres"):
        summary(without(test, keys="robust", enhancer="none", sweep="lowres"), validation, clean, distance="l2", k=1)
    gap = without(test, enhancer="nlmeans", sweep="lowres", severity=2)
    with pytest.raises(TableError, match=r"test: standard keys, enhancer nlmeans: lowres severities \[2\] missing"):
        summary(gap, validation, clean, distance="l2", k=1)
    with pytest.raises(TableError, match="validation: no gaussian rows of the standard keys restored by nlmeans"):
        summary(test, without(validation, enhancer="nlmeans", sweep="gaussian"), clean, distance="l2", k=1)
    with pytest.raises(TableError, match="no clean-query row of the robust keys"):
        summary(test, validation, without(clean, keys="robust"), distance="l2", k=1)
    with pytest.raises(TableError, match="distance 'l2' and k=10"):
        summary(test, validation, clean, distance="l2", k=10)
    twice = Cells(pd.concat([test.table, test.table]), np.concatenate([test.resampled] * 2), LEVEL, 10)
    with pytest.raises(TableError, match="two rows"):
        summary(twice, validation, clean, distance="l2", k=1)


def test_cells_through_the_resampler_are_seeded_and_contain_their_point():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(12), 10)  # 12 objects, 10 queries each
    hits = {name: (rng.random(120) < p).astype(float) for name, p in [("a", 0.8), ("b", 0.5), ("c", 0.3)]}

    def runs():
        yield "standard", "none", "gaussian", 1, {("l2", "top_k_accuracy", 1): hits["a"], ("l2", "map", 1): hits["c"]}
        yield "standard", "none", "gaussian", 2, {("l2", "top_k_accuracy", 1): hits["b"]}
        yield "standard", "none", "lowres", 1, {("l2", "top_k_accuracy", 1): hits["c"]}

    def resampler(seed):
        return Resampler(groups, seed=seed, n_resamples=300, level=0.95)

    first, again, other = (sweep_cells(runs(), resampler(s)) for s in (7, 7, 8))
    assert tuple(first.table.columns) == COLUMNS and len(first.table) == 3  # top-k only, not mAP
    assert first.resampled.shape == (3, 300) and first.n_objects == 12 and first.level == 0.95
    pd.testing.assert_frame_equal(first.table, again.table)
    np.testing.assert_array_equal(first.resampled, again.resampled)
    assert not np.array_equal(first.resampled, other.resampled)
    table = first.table
    np.testing.assert_allclose(table["top_k_accuracy"], [100 * hits[n].mean() for n in "abc"])
    assert (table["low"] <= table["top_k_accuracy"]).all() and (table["top_k_accuracy"] <= table["high"]).all()
    # each row's resamples are the resampler's, and its interval the resampler's own
    reference = resampler(7)
    np.testing.assert_allclose(first.resampled[1], 100 * reference.resampled_means(hits["b"]))
    cell = reference.mean(hits["b"]).scaled(100)
    assert (table["low"].iloc[1], table["high"].iloc[1]) == pytest.approx((cell.low, cell.high))
    # the summary's intervals from these resamples contain its points
    clean_rows = sweep_cells(
        [("standard", "none", "clean", 0, {("l2", "top_k_accuracy", 1): np.ones(120)})], resampler(7)
    )
    frame = summary(first, first, clean_rows, distance="l2", k=1)
    for name in ("mean_error", "error_ratio", "mce"):
        assert (frame[f"{name}_low"] <= frame[name]).all() and (frame[name] <= frame[f"{name}_high"]).all()
    assert frame["mean_error_low"].iloc[0] < frame["mean_error_high"].iloc[0]
    with pytest.raises(TableError, match="given twice"):
        sweep_cells([*runs(), next(runs())], resampler(7))
    with pytest.raises(TableError, match=r"standard keys, gaussian severity 1.*\[l2, k=1\].*120"):
        sweep_cells([("standard", "none", "gaussian", 1, {("l2", "top_k_accuracy", 1): np.ones(5)})], resampler(7))
    with pytest.raises(TableError, match="no per-query top-k accuracy"):
        sweep_cells([("standard", "none", "gaussian", 1, {("l2", "map", 1): np.ones(120)})], resampler(7))


def test_table_row_order():
    ones = {("cosine", "top_k_accuracy", 1): np.ones(4), ("l2", "top_k_accuracy", 1): np.ones(4)}
    runs = [
        ("robust", "none", "lowres", 1, ones),
        ("standard", "denoiser", "speckle", 2, ones),
        ("standard", "nlmeans", "speckle", 1, ones),
        ("standard", "none", "speckle", 2, ones),
        ("standard", "none", "speckle", 1, ones),
        ("standard", "none", "lowres", 3, ones),
    ]
    frame = sweep_cells(runs, Resampler(None, seed=0, n_resamples=5)).table
    order = list(frame[["keys", "sweep", "enhancer", "severity", "distance"]].itertuples(index=False, name=None))
    assert order[:8] == [
        ("standard", "lowres", "none", 3, "l2"),  # standard keys first; lowres appeared first in all runs
        ("standard", "lowres", "none", 3, "cosine"),  # l2 before cosine, whatever the dict order
        ("standard", "speckle", "none", 1, "l2"),  # no restorer first, then by severity
        ("standard", "speckle", "none", 1, "cosine"),
        ("standard", "speckle", "none", 2, "l2"),
        ("standard", "speckle", "none", 2, "cosine"),
        ("standard", "speckle", "denoiser", 2, "l2"),  # then enhancers in order of appearance
        ("standard", "speckle", "denoiser", 2, "cosine"),
    ]
    assert order[-2:] == [("robust", "lowres", "none", 1, "l2"), ("robust", "lowres", "none", 1, "cosine")]


def test_markdown_report():
    test, validation, clean = cells(TEST), cells(VALIDATION), clean_cells()
    frame = summary(test, validation, clean, distance="l2", k=1)
    text = robustness_markdown(test, validation, clean, {"l2": frame}, k=1)
    assert text.startswith("# Severity sweeps")
    assert "Brackets: 50 % cluster-bootstrap percentile interval (4 resamples of the 10 objects" in text
    assert "chosen on the validation split" in text and "test split's" in text
    assert "ImageNet-C normalises by AlexNet" in text and "unremedied standard keys" in text
    assert "a restorer is not applied to clean queries" in text and "Relative mCE" in text
    assert "relative error" not in text.lower()  # renamed: pooled error ratio
    l2 = text.split("## L2 metric, top-1\n")[1]
    header = "| Keys | Remedy | Mean error (%) | Pooled error ratio | mCE | Relative mCE | Clean error (%) |"
    assert header in l2
    # baseline: ratios 1 by definition; robust keys + denoiser: 0.600, interval excluding 1 (marked)
    assert "| standard | none | 25.00 [23.8, 26.2] | 1 (baseline) | 1 (baseline) | 1 (baseline) |" in l2
    best = next(line for line in l2.splitlines() if line.startswith("| robust | best restorer |"))
    assert "| 0.600 [" in best and "] \\* |" in best and best.endswith("| gaussian: denoiser, lowres: none |")
    choice = l2.split("chosen on the validation split\n")[1]
    assert "| standard | gaussian | nlmeans | denoiser 35.00, nlmeans 25.00 |" in choice
    assert "| robust | lowres | none | – |" in choice
    gaussian = l2.split("### gaussian\n")[1].split("### lowres\n")[0]
    assert (
        "test split; clean test queries: standard keys 95.00 [94.0, 96.0] %, robust keys 92.00 [91.0, 93.0] %"
        in gaussian
    )
    rows = [line for line in gaussian.splitlines() if line.startswith("| ") and "Keys" not in line]
    assert rows == [
        "| standard | none | 80.00 [77.0, 83.0] | 60.00 [57.0, 63.0] |",
        "| standard | denoiser | 85.00 [82.0, 88.0] | 75.00 [72.0, 78.0] |",
        "| standard | nlmeans | 82.00 [79.0, 85.0] | 70.00 [67.0, 73.0] |",
        "| robust | none | 90.00 [87.0, 93.0] | 80.00 [77.0, 83.0] |",
        "| robust | denoiser | 95.00 [92.0, 98.0] | 85.00 [82.0, 88.0] |",
    ]
    flat = {**TEST, ("standard", "none", "lowres"): (90, 90)}
    clean = clean_cells({"standard": 90.0, "robust": 92.0})
    frame = summary(cells(flat), cells(flat), clean, distance="l2", k=1)
    text = robustness_markdown(cells(flat), cells(flat), clean, {"l2": frame}, k=1)
    assert "Relative mCE not defined: lowres: the baseline's error does not exceed its clean error" in text


def test_severity_labels_name_the_varied_parameter_and_its_values():
    def labels(sweep):
        return severity_labels(dict(enumerate(severity_specs(sweep), 1)))

    lowres = {"degradation": {"name": "lowres"}, "vary": "level", "severities": [1, [1, 1, 2], [1, 2], 2, [2, 3]]}
    assert labels(lowres) == {
        1: ("level", "1"),
        2: ("level", "[1, 1, 2]"),  # a mixture as the config writes it, draws and all
        3: ("level", "[1, 2]"),
        4: ("level", "2"),
        5: ("level", "[2, 3]"),
    }
    # the sweep's fixed parameters (T, zero_centre; sigma when T varies) are not what a severity stands for
    blur = {"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": True}
    assert labels({"degradation": blur, "vary": "sigma", "severities": [0.02, 0.035, [0.05, 0.07]]}) == {
        1: ("sigma", "0.02"),
        2: ("sigma", "0.035"),
        3: ("sigma", "[0.05, 0.07]"),
    }
    assert labels({"degradation": blur, "vary": "T", "severities": [0.5, 2.0]}) == {1: ("T", "0.5"), 2: ("T", "2")}
    # a severity whose degradations are unknown: no labels for the sweep, rather than wrong ones
    assert severity_labels({1: [{"name": "gaussian", "sigma": 0.1}], 2: None}) == {1: ("", ""), 2: ("", "")}


def test_labelled_table_keeps_the_severity_index():
    table = cells(TEST).table
    labels = {("gaussian", 1): ("sigma", "0.04"), ("gaussian", 2): ("sigma", "0.07")}
    out = labelled(table, labels)
    assert tuple(out.columns) == CSV_COLUMNS and CSV_COLUMNS[:4] == COLUMNS[:4]
    pd.testing.assert_frame_equal(out[list(COLUMNS)], table)
    gaussian = out[out["sweep"] == "gaussian"]
    assert dict(zip(gaussian["severity"], gaussian["value"], strict=True)) == {1: "0.04", 2: "0.07"}
    assert set(out.loc[out["sweep"] == "lowres", "value"]) == {""}  # not labelled: empty


def test_markdown_severity_columns_show_their_values():
    test, validation, clean = cells(TEST), cells(VALIDATION), clean_cells()
    frame = summary(test, validation, clean, distance="l2", k=1)
    labels = {("gaussian", 1): ("sigma", "0.04"), ("gaussian", 2): ("sigma", "0.07")}
    text = robustness_markdown(test, validation, clean, {"l2": frame}, k=1, labels=labels)
    gaussian = text.split("### gaussian\n")[1].split("### lowres\n")[0]
    assert "| Keys | Enhancer | Severity 1 (sigma=0.04) | Severity 2 (sigma=0.07) |" in gaussian
    lowres = text.split("### lowres\n")[1]
    assert "| Keys | Enhancer | Severity 1 | Severity 2 |" in lowres  # no labels: the index alone
