"""Stage of rule evaluate_blind: the blind table (`cbir.blind_table`) from the stored searches,
and its figure."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import pandas as pd

from cbir.blind_table import blind_frame, blind_markdown
from cbir.evaluation import search_hits
from cbir.fsutil import atomic_path
from cbir.stages.report import PathLike, _searched

log = logging.getLogger("cbir.stages.blind")


def evaluate_blind(
    *,
    galleries: Sequence[PathLike],
    plan: Sequence[Sequence],
    embeddings: Sequence[PathLike],
    results: Sequence[PathLike],
    key_sets: Sequence[str],
    replicates: int,
    ks: list[int],
    evaluation: Mapping,
    seed: int,
    table_plan: Mapping[str, Mapping[str, str]],
    clean: str,
    csv: PathLike,
    markdown: PathLike,
) -> pd.DataFrame:
    """Rule evaluate_blind: the searches as for `cbir.stages.report.evaluate_retrieval`;
    `table_plan` query set -> remedy -> image set (`cbir.layout.RunLayout.blind_table_plan`) ->
    `csv` and `markdown` (L2, else the first distance; the smallest k)."""
    searches, _, _, resampler = _searched(
        galleries, plan, embeddings, results, key_sets, replicates, ks, seed, evaluation
    )
    combos, hits = search_hits(searches)
    frame = blind_frame(hits, resampler, key_sets=key_sets, plan=table_plan, clean=clean, combos=combos)
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.8g")
    distance = "l2" if "l2" in set(frame.distance) else frame.distance.iloc[0]
    k = min(ks)
    text = blind_markdown(frame, distance=distance, k=k, n_objects=resampler.n_groups, replicates=replicates)
    with atomic_path(markdown) as tmp:
        tmp.write_text(text)
    log.info("wrote %s and %s (%d rows)", csv, markdown, len(frame))
    return frame


def plot_blind(*, blind: PathLike, output: PathLike, k: int) -> None:
    """Rule plot_blind: the figure of tables/blind.csv (L2, else the first distance; top-`k`)."""
    from cbir.plots import save_figure
    from cbir.plots.blind import blind_figure

    frame = pd.read_csv(blind)
    distance = "l2" if "l2" in set(frame.distance) else frame.distance.iloc[0]
    save_figure(blind_figure(frame, distance=distance, k=k), output)
    log.info("wrote %s", output)
