"""Stage of workflow/rules/degrade.smk: the degraded query sets and the figure of the degradations."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from cbir.degrade import check_specs, degrade, spec_choices
from cbir.h5store import read_image_set, write_image_set
from cbir.imagemath import refuse_blanked
from cbir.plots import save_figure
from cbir.plots.degradations import degradations_figure, pick_rows
from cbir.runlog import progress

log = logging.getLogger("cbir.stages.degrade")


def degrade_query_set(
    *,
    test: str | os.PathLike,
    output: str | os.PathLike,
    specs: Sequence[dict],
    query: str,
    seed: int,
    rescale: str,
    chunk_size: int,
    threads: int,
    extra_attrs: dict | None = None,
    stream: str | None = None,
) -> None:
    """Rule degrade_queries: the query set `query`, i.e. the test split at `test` with each
    image degraded by one of `specs` (random stream `stream`, by default the query name; the
    validation split's query sets use "validation/<query>") -> `output`, same columns,
    provenance in the attributes.

    The spec drawn for image i is ``spec_choices(len(specs), seed=seed, stream=query,
    indices=[i])`` (not stored: recomputed exactly from the attributes). `chunk_size` and
    `threads` (see `cbir.degrade.degrade`) change the speed, never the file. `extra_attrs`
    join the attributes (a sweep's severity).
    """
    specs = check_specs(specs)
    stream = stream or query
    source = read_image_set(test)
    n = len(source)
    out = np.empty_like(source.images)
    starts = range(0, n, chunk_size)
    for start in progress(starts, total=len(starts), desc=f"degrade {query}"):
        stop = min(start + chunk_size, n)
        out[start:stop] = degrade(
            source.images[start:stop],
            specs,
            seed=seed,
            stream=stream,
            indices=np.arange(start, stop),
            rescale=rescale,
            threads=threads,
        )
    counts = {}
    if specs:
        choice = spec_choices(len(specs), seed=seed, stream=stream, indices=np.arange(n))
        refuse_blanked(
            source.images,
            out,
            f"query set {query!r}",
            [specs[k] for k in choice],
            output,
        )
        counts = {str(k): int(c) for k, c in enumerate(np.bincount(choice, minlength=len(specs)))}
        log.info("%s: %d images, spec counts %s", query, n, counts)
    attrs = {
        "query": query,
        "specs": specs,
        "seed": int(seed),
        "stream": stream,
        "rescale": rescale,
        "source": str(Path(test)),
        "spec_counts": counts,
        "choice": "spec_choices(len(specs), seed=seed, stream=stream, indices=row)",
        **(extra_attrs or {}),
    }
    if "classes" in source.attrs:  # a folder source's class names travel with its images
        attrs["classes"] = source.attrs["classes"]
    write_image_set(output, out, source.columns, attrs)


def mix_query_set(
    *,
    test: str | os.PathLike,
    output: str | os.PathLike,
    queries: Mapping[str, Sequence[dict]],
    members: Sequence[str],
    query: str,
    seed: int,
    rescale: str,
    threads: int,
    stream: str | None = None,
) -> None:
    """Rule mix_queries: the mixture `query` (config `mixtures`: the configured query sets
    `members`, `queries` being config `queries`) of the test split at `test` -> `output`, each
    image drawn as `cbir.mixture.degrade_mixture` says, its true kind in the column ``kind``."""
    from cbir.degrade import KINDS
    from cbir.mixture import degrade_mixture, mixture_entries

    entries = mixture_entries(queries, members, where=f"mixtures.{query}")
    stream = stream or query
    source = read_image_set(test)
    out, kinds, entry = degrade_mixture(
        source.images, entries, seed=seed, stream=stream, rescale=rescale, threads=threads
    )
    degraded = np.flatnonzero([bool(entries[e]["specs"]) for e in entry])
    drawn = [entries[entry[i]] for i in degraded]
    refuse_blanked(source.images[degraded], out[degraded], f"query set {query!r}", drawn, output)
    counts = {kind: int(c) for kind, c in zip(KINDS, np.bincount(kinds, minlength=len(KINDS)), strict=True)}
    log.info("%s: %d images, kinds %s", query, len(out), counts)
    attrs = {
        "query": query,
        "mixture_of": list(members),
        "entries": entries,
        "seed": int(seed),
        "stream": stream,
        "rescale": rescale,
        "source": str(Path(test)),
        "kind_counts": counts,
        "choice": "degrade_mixture(images, entries, seed=seed, stream=stream)",
    }
    if "classes" in source.attrs:
        attrs["classes"] = source.attrs["classes"]
    write_image_set(output, out, {**source.columns, "kind": kinds}, attrs)


def plot_degradations(
    *, test: str | os.PathLike, output: str | os.PathLike, queries: dict[str, list[dict]], seed: int, rescale: str
) -> None:
    """Rule plot_degradations: Figure 6 from a few test images, one column per degradation
    spec of the configured query sets `queries` (name -> specs)."""
    images = read_image_set(test).images
    rows = pick_rows(len(images))
    save_figure(degradations_figure(images[rows], rows, queries, seed=seed, rescale=rescale), output)
    log.info("wrote %s (%d images)", output, len(rows))
