"""Stage of the degradation detector's evaluation (rule evaluate_detector): how often each
replicate's detector names the true kind of the mixed test queries, and of test images degraded
at the weakest and the strongest severity of every sweep.

Accuracies are per true kind, the mean over replicates with a 95 % interval resampling the
objects behind the queries and the replicates (`cbir.stats.Resampler`), like every table.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cbir.degrade import KINDS, degrade, kind_of
from cbir.evaluation import object_ids
from cbir.fsutil import atomic_path
from cbir.h5store import read_image_set
from cbir.mixture import true_kinds
from cbir.seeding import stream_key
from cbir.stats import LEVEL, N_RESAMPLES, Resampler
from cbir.tables import fmt, markdown_table

log = logging.getLogger("cbir.stages.detect")

DETECTOR_COLUMNS = ("query_set", "kind", "queries", "value", "low", "high", *(f"as_{k}" for k in KINDS))


def _rows(name: str, kinds: np.ndarray, predicted: np.ndarray, objects: np.ndarray, seed: int, evaluation) -> list:
    """Per true kind: queries, accuracy (mean over replicates, percent) with its interval, and the
    share predicted as each kind. `predicted` [R, N]."""
    rows = []
    for k, kind in enumerate(KINDS):
        mask = kinds == k
        if not mask.any():
            continue
        correct = (predicted[:, mask] == k).astype(float)
        resampler = Resampler(
            objects[mask], seed=stream_key(seed, f"detector/{name}/{kind}"), n_replicates=len(predicted),
            n_resamples=evaluation["resamples"], level=evaluation["level"],
        )  # fmt: skip
        cell = resampler.mean(correct).scaled(100.0)
        shares = [100.0 * float((predicted[:, mask] == j).mean()) for j in range(len(KINDS))]
        rows.append((name, kind, int(mask.sum()), cell.value, cell.low, cell.high, *shares))
    return rows


def detector_frame(
    predictions: Mapping[str, np.ndarray],
    truths: Mapping[str, np.ndarray],
    objects: Mapping[str, np.ndarray],
    *,
    seed: int,
    evaluation: Mapping,
) -> pd.DataFrame:
    """DETECTOR_COLUMNS, one row per (query set, true kind): `predictions` query set -> [R, N]
    predicted kinds, `truths` -> [N] true kinds, `objects` -> [N] object ids."""
    rows = []
    for name, predicted in predictions.items():
        rows += _rows(name, truths[name], np.asarray(predicted), objects[name], seed, evaluation)
    return pd.DataFrame(rows, columns=list(DETECTOR_COLUMNS))


def detector_markdown(frame: pd.DataFrame, replicates: int) -> str:
    """The detector's table: accuracy per true kind and what it was taken for."""
    header = ["query set", "true kind", "queries", "accuracy (%)", *[f"taken as {k} (%)" for k in KINDS]]
    body = [
        [r.query_set, r.kind, str(r.queries), f"{fmt(r.value)} [{fmt(r.low, 1)}, {fmt(r.high, 1)}]"]
        + [fmt(getattr(r, f"as_{k}"), 1) for k in KINDS]
        for r in frame.itertuples()
    ]
    note = (
        f"\nMean of {replicates} replicate(s) of the detector; 95 % intervals resample objects and replicates. "
        "Sweep rows: the test split degraded at that sweep's weakest (s1) or strongest severity.\n"
    )
    return "# Degradation detector (test split)\n\n" + markdown_table(header, body) + note


def evaluate_detector(
    *,
    models: Sequence[str | os.PathLike],
    queries: Mapping[str, str | os.PathLike],
    test: str | os.PathLike,
    extremes: Mapping[str, Sequence[dict]],
    expect: Sequence[Mapping],
    csv: str | os.PathLike,
    markdown: str | os.PathLike,
    figure: str | os.PathLike,
    runtime: dict,
    batch_size: int,
    threads: int,
    seed: int,
    rescale: str,
    evaluation: Mapping | None = None,
) -> pd.DataFrame:
    """Rule evaluate_detector: every replicate's detector (`models`, each what `expect` says) on
    the mixtures `queries` (name -> test query set with true kinds) and on the test split `test`
    degraded by each of `extremes` (name -> specs: a sweep's weakest and strongest severities,
    stream "detector/<name>") -> `csv`, `markdown` and the confusion figure of the first mixture."""
    from cbir.inference import confusion_matrix
    from cbir.plots import save_figure
    from cbir.plots.training import confusion_matrix_figure
    from cbir.stages.common import load_network
    from cbir.train.detector import predict_kinds

    evaluation = evaluation or {"resamples": N_RESAMPLES, "level": LEVEL}  # the schema's defaults
    clean = read_image_set(test)
    sets = {name: read_image_set(path) for name, path in queries.items()}
    for name, specs in extremes.items():
        images = degrade(clean.images, specs, seed=seed, stream=f"detector/{name}", rescale=rescale, threads=threads)
        kind = KINDS.index(kind_of(specs))
        sets[name] = type(clean)(images, {**clean.columns, "kind": np.full(len(clean), kind)}, clean.attrs)
    predictions = {name: [] for name in sets}
    for path, expected in zip(models, expect, strict=True):
        net, _ = load_network(
            path, kind="detector", images=clean, images_path=test, runtime=runtime, threads=threads, expect=expected
        )
        for name, image_set in sets.items():
            predictions[name].append(predict_kinds(net, image_set.images, batch_size=batch_size))
    truths = {name: true_kinds(s) for name, s in sets.items()}
    objects = {name: object_ids(s.labels, s.columns["instance"]) for name, s in sets.items()}
    frame = detector_frame(
        {n: np.stack(p) for n, p in predictions.items()}, truths, objects, seed=seed, evaluation=evaluation
    )
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(markdown) as tmp:
        tmp.write_text(detector_markdown(frame, len(models)))
    first = next(iter(queries))
    counts = sum(confusion_matrix(truths[first], predicted, len(KINDS)) for predicted in predictions[first])
    save_figure(
        confusion_matrix_figure(counts, list(KINDS), title=f"detector on {first} (test, all replicates)"), figure
    )
    log.info("wrote %s, %s and %s", csv, markdown, figure)
    return frame
