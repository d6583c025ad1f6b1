"""cbir.blind_table: the remedies for unannounced degradations, on hand-made hits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cbir.blind_table import BLIND_COLUMNS, blind_frame, blind_markdown, remedy_sets
from cbir.layout import restored_name
from cbir.stats import Resampler

ROUTES = {"noise": "denoiser", "blur": "deblurrer"}
REMEDIES = {"oracle": "oracle", "blind": "blind", "universal": "universal"}


def test_remedy_sets():
    common = {
        "clean": "clean",
        "mixtures": ["mixed"],
        "routes": ROUTES,
        "remedies": REMEDIES,
        "restored": restored_name,
    }
    assert remedy_sets("mixed", kind=None, **common) == {
        "none": "mixed",
        "oracle": "mixed__oracle",
        "blind": "mixed__blind",
        "universal": "mixed__universal",
    }
    # a paper set's oracle is its kind's restorer; clean's is the clean set itself
    assert remedy_sets("noisy", kind="noise", **common)["oracle"] == "noisy__denoiser"
    assert remedy_sets("clean", kind="none", **common)["oracle"] == "clean"
    assert "oracle" not in remedy_sets("lowres", kind="lowres", **common)  # no route for low resolution


def _hits(n=40, seed=0):
    """[1, n] binary hits per image set: clean all right, mixed 10 of 40, each remedy a known count."""
    right = {"clean": 40, "mixed": 10, "mixed__oracle": 30, "mixed__blind": 25, "mixed__universal": 16}
    right.update({"clean__blind": 38, "clean__universal": 40})
    table = {}
    for name, count in right.items():
        values = np.zeros((1, n))
        values[0, :count] = 1.0  # nested: every remedy's right queries include mixed's
        table[name] = values
    return table


def test_blind_frame_values_gaps_and_share_of_the_oracle():
    table = _hits()
    plan = {
        "mixed": {"none": "mixed", "oracle": "mixed__oracle", "blind": "mixed__blind", "universal": "mixed__universal"},
        "clean": {"none": "clean", "oracle": "clean", "blind": "clean__blind", "universal": "clean__universal"},
    }
    resampler = Resampler(np.arange(40) // 4, seed=1, n_resamples=200)
    frame = blind_frame(
        lambda keys, name, d, k: table[name],
        resampler,
        key_sets=["standard"],
        plan=plan,
        clean="clean",
        combos=[("l2", 1)],
    )
    assert list(frame.columns) == list(BLIND_COLUMNS)
    row = frame.set_index(["query_set", "remedy"])
    assert row.loc[("mixed", "none"), "value"] == pytest.approx(25.0)
    assert row.loc[("mixed", "oracle"), "value"] == pytest.approx(75.0)
    # gap closed: (25 - 10) / (40 - 10) of the blind, 20 / 30 of the oracle, 6 / 30 of the universal
    assert row.loc[("mixed", "blind"), "gap_closed"] == pytest.approx(0.5)
    assert row.loc[("mixed", "oracle"), "gap_closed"] == pytest.approx(2 / 3)
    assert row.loc[("mixed", "universal"), "gap_closed"] == pytest.approx(0.2)
    # share of the oracle's gain: 15 / 20 and 6 / 20, with an interval around it
    blind = row.loc[("mixed", "blind")]
    assert blind["of_oracle"] == pytest.approx(0.75)
    assert blind["of_oracle_low"] <= 0.75 <= blind["of_oracle_high"]
    assert row.loc[("mixed", "universal"), "of_oracle"] == pytest.approx(0.3)
    assert math.isnan(row.loc[("mixed", "oracle"), "of_oracle"])
    # clean queries: no gap; the blind router's cost is 2 of 40 queries, paired
    assert math.isnan(row.loc[("clean", "blind"), "gap_closed"])
    assert row.loc[("clean", "blind"), "change"] == pytest.approx(-5.0)
    assert row.loc[("clean", "universal"), "change"] == pytest.approx(0.0)
    assert row.loc[("clean", "oracle"), "image_set"] == "clean"
    text = blind_markdown(frame, distance="l2", k=1, n_objects=10, replicates=1)
    assert "| standard | blind | 62.50 [" in text and "; gap 50 % [" in text and "75 % [" in text


def test_heldout_frame_transfer_is_the_paired_difference_to_training_on_all():
    from cbir.stages.heldout import heldout_frame, heldout_markdown

    n = 40
    counts = {("none", "-"): 10, ("robust keys", "all"): 30, ("robust keys", "held out"): 20}
    counts.update({("universal", "all"): 16, ("universal", "held out"): 16})
    hits = {}
    for (remedy, trained), count in counts.items():
        values = np.zeros(n)
        values[:count] = 1.0
        hits["noise", "gaussian", 1, remedy, trained] = values
    frame = heldout_frame(hits, np.arange(n) // 4, seed=0, evaluation={"resamples": 200, "level": 0.95})
    row = frame.set_index(["remedy", "trained_on"])
    assert row.loc[("robust keys", "held out"), "value"] == pytest.approx(50.0)
    assert row.loc[("robust keys", "held out"), "transfer"] == pytest.approx(-25.0)  # 20 - 30 of 40 queries
    assert row.loc[("robust keys", "held out"), "change"] == pytest.approx(25.0)  # against the standard keys
    assert row.loc[("universal", "held out"), "transfer"] == pytest.approx(0.0)
    assert math.isnan(row.loc[("robust keys", "all"), "transfer"]) and math.isnan(row.loc[("none", "-"), "change"])
    low, high = row.loc[("robust keys", "held out"), ["transfer_low", "transfer_high"]]
    assert low <= -25.0 <= high <= 0  # no resample finds the held-out keys better
    assert "| noise | gaussian | 1 | 25.00 [" in heldout_markdown(frame)
