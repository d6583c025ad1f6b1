"""Severity sweeps: accuracy table, remedy summary and report from hand-made rankings and tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cbir.robustness import COLUMNS, SUMMARY_COLUMNS, robustness_markdown, robustness_table, summary
from cbir.tables import TableError

# Gallery of 6 per key set; the same indices mean different labels for the two key sets.
GALLERY = {"standard": np.array([0, 0, 1, 1, 2, 2]), "robust": np.array([1, 1, 0, 0, 2, 2])}
QUERY_LABELS = np.array([0, 1, 2, 0])
# standard labels: q0 [1 0 2] hit at 2; q1 [1 1 0] hit at 1; q2 [0 0 1] never; q3 [0 2 2] hit at 1
#   -> top-1 2/4 = 50 %, top-2 3/4 = 75 %.
# robust labels:   q0 [0 1 2] hit at 1; q1 [0 0 1] miss in 2; q2 [1 1 0] never; q3 [1 2 2] never
#   -> top-1 1/4 = 25 %, top-2 1/4 = 25 %.
INDICES = np.array([[2, 0, 4], [2, 3, 0], [0, 1, 2], [1, 4, 5]])
PERFECT = np.array([[0, 1, 2], [2, 3, 0], [4, 5, 0], [1, 0, 2]])  # standard labels: every first result right


def results(**by_distance):
    return {d: (np.asarray(i), np.zeros(np.shape(i))) for d, i in by_distance.items()}


def run(keys="standard", enhancer="none", degradation="gaussian", severity=1, labels=QUERY_LABELS, **by_distance):
    return (keys, enhancer, degradation, severity, labels, results(**(by_distance or {"l2": INDICES})))


def acc(frame, **where):
    sel = frame
    for column, value in where.items():
        sel = sel[sel[column] == value]
    assert len(sel) == 1, where
    return float(sel["top_k_accuracy"].iloc[0])


def test_table_values_by_hand():
    runs = [run(l2=INDICES, cosine=PERFECT), run(keys="robust")]
    frame = robustness_table(GALLERY, runs, ks=[2, 1])
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == (2 + 1) * 2  # run x distance x k
    assert acc(frame, keys="standard", distance="l2", k=1) == 50.0
    assert acc(frame, keys="standard", distance="l2", k=2) == 75.0
    assert acc(frame, keys="standard", distance="cosine", k=1) == 100.0
    assert acc(frame, keys="robust", distance="l2", k=1) == 25.0  # the robust gallery's own labels
    assert acc(frame, keys="robust", distance="l2", k=2) == 25.0


def test_table_row_order():
    runs = [
        run(keys="robust", degradation="lowres"),
        run(enhancer="denoiser", degradation="speckle", severity=2, cosine=INDICES, l2=INDICES),
        run(enhancer="nlmeans", degradation="speckle", severity=1),
        run(degradation="speckle", severity=2),
        run(degradation="speckle", severity=1),
        run(degradation="lowres", severity=3),
    ]
    frame = robustness_table(GALLERY, runs, ks=[1])
    order = list(frame[["keys", "degradation", "enhancer", "severity", "distance"]].itertuples(index=False, name=None))
    assert order == [
        ("standard", "lowres", "none", 3, "l2"),  # standard keys first; lowres appeared first in all runs
        ("standard", "speckle", "none", 1, "l2"),  # no restorer first, then by severity
        ("standard", "speckle", "none", 2, "l2"),
        ("standard", "speckle", "denoiser", 2, "l2"),  # then enhancers in order of appearance
        ("standard", "speckle", "denoiser", 2, "cosine"),  # l2 before cosine, whatever the dict order
        ("standard", "speckle", "nlmeans", 1, "l2"),
        ("robust", "lowres", "none", 1, "l2"),
    ]
    assert frame["severity"].tolist() == [3, 1, 2, 2, 2, 1, 1]


def test_table_errors():
    with pytest.raises(TableError, match=r"standard keys, gaussian severity 3.*3 results stored.*k=5"):
        robustness_table(GALLERY, [run(severity=3)], ks=[1, 5])
    with pytest.raises(TableError, match="for 4 queries"):
        robustness_table(GALLERY, [run(l2=INDICES[:3])], ks=[1])
    with pytest.raises(TableError, match="no gallery labels for key set 'other'"):
        robustness_table(GALLERY, [run(keys="other")], ks=[1])
    with pytest.raises(TableError, match=r"outside 0\.\.5"):
        robustness_table(GALLERY, [run(l2=INDICES + 3)], ks=[1])
    with pytest.raises(TableError, match="must be integers"):
        robustness_table(GALLERY, [run(l2=INDICES.astype(float))], ks=[1])
    with pytest.raises(TableError, match="given twice"):
        robustness_table(GALLERY, [run(), run()], ks=[1])
    with pytest.raises(TableError, match="non-empty"):
        robustness_table(GALLERY, [run(labels=np.array([], int), l2=np.zeros((0, 3), int))], ks=[1])
    with pytest.raises(TableError, match="scores of shape"):
        bad = ("standard", "none", "gaussian", 1, QUERY_LABELS, {"l2": (INDICES, np.zeros((4, 2)))})
        robustness_table(GALLERY, [bad], ks=[1])
    with pytest.raises(TableError, match="positive"):
        robustness_table(GALLERY, [run()], ks=[0])


# Top-1 l2 accuracy (%) at severities 1, 2; error E = 100 - accuracy.
ACCURACY = {
    ("standard", "none", "gaussian"): (80, 60),  # E 20 40     sum 60
    ("standard", "none", "lowres"): (90, 70),  # E 10 30     sum 40     baseline mean error 25
    ("standard", "denoiser", "gaussian"): (85, 75),  # E 15 25  mean 20   <- best for gaussian
    ("standard", "denoiser", "lowres"): (88, 72),  # E 12 28  mean 20
    ("standard", "nlmeans", "gaussian"): (82, 70),  # E 18 30  mean 24
    ("standard", "nlmeans", "lowres"): (95, 80),  # E 5 20    mean 12.5 <- best for lowres
    ("robust", "none", "gaussian"): (90, 80),  # E 10 20
    ("robust", "none", "lowres"): (85, 75),  # E 15 25
    ("robust", "denoiser", "gaussian"): (95, 85),  # E 5 15; lowres has no restorer for robust keys
}


def results_table(accuracy=ACCURACY) -> pd.DataFrame:
    rows = []
    for (keys, enhancer, degradation), values in accuracy.items():
        for severity, value in enumerate(values, 1):
            rows.append((keys, enhancer, degradation, severity, "l2", 1, float(value)))
            rows.append((keys, enhancer, degradation, severity, "l2", 5, 100.0))  # other k: must be ignored
            rows.append((keys, enhancer, degradation, severity, "cosine", 1, 0.0))  # other distance too
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_summary_by_hand():
    frame = summary(results_table(), distance="l2", k=1)
    assert tuple(frame.columns) == SUMMARY_COLUMNS
    assert frame[["keys", "remedy", "enhancers"]].values.tolist() == [
        ["standard", "none", "none"],
        ["standard", "best restorer", "gaussian: denoiser, lowres: nlmeans"],
        ["robust", "none", "none"],
        ["robust", "best restorer", "gaussian: denoiser, lowres: none"],
    ]
    # standard best: E gaussian 15 25 (denoiser), lowres 5 20 (nlmeans) -> mean 65 / 4.
    # robust none:  10 20 / 15 25 -> mean 17.5; mCE mean(30/60, 40/40).
    # robust best:  5 15 / 15 25 -> mean 15; mCE mean(20/60, 40/40).
    np.testing.assert_allclose(frame["mean_error"], [25.0, 16.25, 17.5, 15.0])
    np.testing.assert_allclose(frame["relative_error"], [1.0, 0.65, 0.7, 0.6])
    np.testing.assert_allclose(frame["mce"], [1.0, (40 / 60 + 25 / 40) / 2, 0.75, (20 / 60 + 1.0) / 2])


def test_summary_ties_go_to_the_first_enhancer_in_table_order():
    accuracy = {
        ("standard", "none", "blur"): (50, 50),
        ("standard", "zeta", "blur"): (90, 70),  # E 10 30: mean 20, first in the table
        ("standard", "alpha", "blur"): (80, 80),  # E 20 20: mean 20 too
    }
    frame = summary(results_table(accuracy), distance="l2", k=1)
    assert frame["enhancers"].tolist() == ["none", "blur: zeta"]
    np.testing.assert_allclose(frame["mce"], [1.0, 0.4])


def test_summary_without_restorers_and_with_zero_baseline_error():
    frame = summary(results_table({("standard", "none", "blur"): (100, 100)}), distance="l2", k=1)
    assert frame["remedy"].tolist() == ["none"]
    assert frame["mean_error"].tolist() == [0.0]
    assert np.isnan(frame["relative_error"].iloc[0]) and np.isnan(frame["mce"].iloc[0])


def test_summary_errors():
    table = results_table()
    with pytest.raises(TableError, match="no baseline rows"):
        summary(table[table["keys"] == "robust"], distance="l2", k=1)
    no_lowres = table[
        ~((table["keys"] == "robust") & (table["enhancer"] == "none") & (table["degradation"] == "lowres"))
    ]
    with pytest.raises(TableError, match="robust keys without restorer: no rows for lowres"):
        summary(no_lowres, distance="l2", k=1)
    gap = table[~((table["enhancer"] == "nlmeans") & (table["degradation"] == "lowres") & (table["severity"] == 2))]
    with pytest.raises(TableError, match=r"enhancer nlmeans: lowres severities \[2\] missing"):
        summary(gap, distance="l2", k=1)
    with pytest.raises(TableError, match="distance 'l2' and k=10"):
        summary(table, distance="l2", k=10)
    with pytest.raises(TableError, match="two rows"):
        summary(pd.concat([table, table]), distance="l2", k=1)


def test_markdown_report():
    table = results_table()
    text = robustness_markdown(table, summary(table, distance="l2", k=1), clean={"standard": 89.42}, distance="l2", k=1)
    assert text.startswith("# Severity sweeps")
    assert "optimistic" in text and "mCE" in text and "L2 metric" in text
    assert "| Keys | Remedy | Mean error (%) | Relative error | mCE | Enhancers |" in text
    assert "| standard | best restorer | 16.25 | 0.650 | 0.646 | gaussian: denoiser, lowres: nlmeans |" in text
    assert "| robust | none | 17.50 | 0.700 | 0.750 | none |" in text
    gaussian = text.split("## gaussian\n")[1].split("## lowres\n")[0]
    assert "clean queries: standard keys 89.42 %, robust keys – %" in gaussian
    assert "| Keys | Enhancer | Severity 1 | Severity 2 |" in gaussian
    rows = [line for line in gaussian.splitlines() if line.startswith("| ") and "Keys" not in line]
    assert rows == [
        "| standard | none | 80.00 | 60.00 |",
        "| standard | denoiser | 85.00 | 75.00 |",
        "| standard | nlmeans | 82.00 | 70.00 |",
        "| robust | none | 90.00 | 80.00 |",
        "| robust | denoiser | 95.00 | 85.00 |",
    ]
    lowres = text.split("## lowres\n")[1]
    assert "| robust | denoiser |" not in lowres and "| standard | nlmeans | 95.00 | 80.00 |" in lowres
