"""Stage of the named target `heldout` (beyond the paper; ImageNet-C's protocol for retrieval):
does robustness transfer to a family of degradations that training never saw?

For every family (noise, blur, low resolution) the robust keys and the universal restorer are
trained once more with that family left out (rules train_heldout_keys, train_heldout_universal);
here each is scored on every severity of that family's sweeps, beside the same remedy trained on
every family and the standard keys alone (replicate 0 throughout). L2 top-1, in percent, with
95 % intervals resampling the objects behind the queries; `transfer` is the paired difference
held out - trained on all, `change` the paired difference to the standard keys.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cbir.evaluation import object_ids
from cbir.fsutil import atomic_path
from cbir.h5store import read_image_set
from cbir.seeding import stream_key
from cbir.stats import Resampler
from cbir.tables import fmt, markdown_table

log = logging.getLogger("cbir.stages.heldout")

HELDOUT_COLUMNS = (
    "family", "sweep", "severity", "remedy", "trained_on", "value", "low", "high",
    "change", "change_low", "change_high", "transfer", "transfer_low", "transfer_high",
)  # fmt: skip


def _top1(
    keys_model, images: np.ndarray, gallery_features: np.ndarray, gallery_labels, labels, batch_size
) -> np.ndarray:
    from cbir.inference import embed
    from cbir.search import topk

    features = embed(keys_model, images, batch_size=batch_size)
    index, _ = topk(features, gallery_features, k=1, distance="l2", chunk_size=1024)
    return (gallery_labels[index[:, 0]] == labels).astype(float)


def heldout_frame(
    hits: Mapping[tuple, np.ndarray], objects: np.ndarray, *, seed: int, evaluation: Mapping
) -> pd.DataFrame:
    """HELDOUT_COLUMNS from `hits` (family, sweep, severity, remedy, trained_on) -> [Nq] top-1 hits,
    remedy `none` (the standard keys, trained_on "-"), `robust keys` or `universal`."""
    resampler = Resampler(
        objects, seed=stream_key(seed, "heldout"), n_resamples=evaluation["resamples"], level=evaluation["level"]
    )
    nan = (np.nan,) * 3
    rows = []
    for (family, sweep, severity, remedy, trained_on), values in hits.items():
        cell = resampler.mean(values).scaled(100.0)
        base = hits[family, sweep, severity, "none", "-"]
        change = resampler.difference(values, base).scaled(100.0) if remedy != "none" else None
        transfer = nan
        if trained_on == "held out":
            diff = resampler.difference(values, hits[family, sweep, severity, remedy, "all"]).scaled(100.0)
            transfer = (diff.value, diff.low, diff.high)
        rows.append(
            (family, sweep, severity, remedy, trained_on, cell.value, cell.low, cell.high,
             *((change.value, change.low, change.high) if change else nan), *transfer)
        )  # fmt: skip
    return pd.DataFrame(rows, columns=list(HELDOUT_COLUMNS))


def heldout_markdown(frame: pd.DataFrame) -> str:
    """One row per family, sweep and severity: the standard keys, and each remedy trained on
    every family and with the family held out (its transfer: held out - all)."""
    header = ["family", "sweep", "severity", "standard keys", "robust keys: all", "held out (transfer)"]
    header += ["universal: all", "held out (transfer)"]
    body = []
    for (family, sweep, severity), group in frame.groupby(["family", "sweep", "severity"], sort=False):
        cells = group.set_index(["remedy", "trained_on"])

        def cell(remedy, trained, transfer=False, cells=cells):
            r = cells.loc[(remedy, trained)]
            text = f"{fmt(r.value)} [{fmt(r.low, 1)}, {fmt(r.high, 1)}]"
            return text + (f" ({r.transfer:+.1f} [{r.transfer_low:+.1f}, {r.transfer_high:+.1f}])" if transfer else "")

        body.append(
            [family, sweep, str(severity), cell("none", "-"), cell("robust keys", "all"),
             cell("robust keys", "held out", True), cell("universal", "all"), cell("universal", "held out", True)]
        )  # fmt: skip
    return (
        "# Held-out families: L2 top-1 (%), test split, replicate 0\n\n"
        + markdown_table(header, body)
        + "\n\nall: trained on every family; held out: trained without the row's family, which it is scored on. "
        "transfer: held out - all, paired, with its 95 % interval (objects resampled). The universal restorer's "
        "queries are searched with the standard keys.\n"
    )


def evaluate_heldout(
    *,
    kinds: Sequence[str],
    sweeps: Mapping[str, Sequence[str]],
    severities: Sequence[int],
    keys_without: Sequence[str | os.PathLike],
    universal_without: Sequence[str | os.PathLike],
    keys_all: str | os.PathLike,
    universal_all: str | os.PathLike,
    standard: str | os.PathLike,
    gallery: str | os.PathLike,
    queries: Sequence[str | os.PathLike],
    csv: str | os.PathLike,
    markdown: str | os.PathLike,
    figure: str | os.PathLike,
    runtime: dict,
    batch_size: int,
    threads: int,
    seed: int,
    evaluation: Mapping,
) -> pd.DataFrame:
    """Rule evaluate_heldout: every family of `kinds` (with its `sweeps`, each at `severities`;
    `queries` in that order) scored with the standard keys, the robust keys and the universal
    restorer trained on all families (`keys_all`, `universal_all`) and without it (`keys_without`,
    `universal_without`, in `kinds` order) -> `csv`, `markdown`, `figure`."""
    from cbir.inference import embed, enhance
    from cbir.networks import ENHANCER_KINDS
    from cbir.plots import save_figure
    from cbir.plots.heldout import heldout_figure
    from cbir.stages.common import load_network

    gallery_set = read_image_set(gallery)
    first = read_image_set(queries[0])

    def load(path, kind):
        return load_network(path, kind=kind, images=first, images_path=queries[0], runtime=runtime, threads=threads)[0]

    def keyed(model):  # the gallery's features with these keys, once
        return model, embed(model, gallery_set.images, batch_size=batch_size)

    standard_keys = keyed(load(standard, "classifier"))
    robust_all = keyed(load(keys_all, "classifier"))
    universal = load(universal_all, tuple(ENHANCER_KINDS))
    files = iter(queries)
    hits, objects = {}, None
    for kind, robust_path, universal_path in zip(kinds, keys_without, universal_without, strict=True):
        robust_without = keyed(load(robust_path, "classifier"))
        universal_held = load(universal_path, tuple(ENHANCER_KINDS))
        for sweep in sweeps[kind]:
            for severity in severities:
                path = next(files)
                query_set = read_image_set(path)
                labels = query_set.labels
                objects = object_ids(labels, query_set.columns["instance"])

                def top1(keys, images, labels=labels):
                    return _top1(keys[0], images, keys[1], gallery_set.labels, labels, batch_size)

                key = (kind, sweep, int(severity))
                hits[(*key, "none", "-")] = top1(standard_keys, query_set.images)
                hits[(*key, "robust keys", "all")] = top1(robust_all, query_set.images)
                hits[(*key, "robust keys", "held out")] = top1(robust_without, query_set.images)
                for trained_on, net in (("all", universal), ("held out", universal_held)):
                    restored = enhance(net, query_set.images, batch_size=batch_size)
                    hits[(*key, "universal", trained_on)] = top1(standard_keys, restored)
                log.info(
                    "%s / %s severity %d: %s",
                    kind,
                    sweep,
                    severity,
                    {k[3:]: f"{100 * v.mean():.1f}" for k, v in hits.items() if k[:3] == key},
                )
    frame = heldout_frame(hits, objects, seed=seed, evaluation=evaluation)
    with atomic_path(csv) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")
    with atomic_path(markdown) as tmp:
        tmp.write_text(heldout_markdown(frame))
    save_figure(heldout_figure(frame), figure)
    log.info("wrote %s, %s and %s", csv, markdown, figure)
    return frame
