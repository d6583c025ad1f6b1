"""Query sets whose degradation nobody announces (config `mixtures`, beyond the paper).

A mixture draws each image from the configured query sets it names: a clean set is one entry
(kind "none"), a degraded set one entry per degradation name it uses (its specs of that name:
`lowres` at levels 1 and 2 is one entry, Gaussian, salt-and-pepper and speckle noise are three).
Every image gets one entry, uniformly (stream <stream>), and within it one of the entry's specs,
uniformly (stream <stream>/entry<e>, `cbir.degrade.degrade`'s own draw). The true kind of every
image (`cbir.degrade.KINDS`) is stored with it (image-set column ``kind``), so routing by the
truth and scoring a detector need nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cbir.degrade import KIND_OF, KINDS, check_specs, degrade, kind_of, spec_choices


class MixtureError(ValueError):
    """A mixture names an unknown query set."""


def mixture_entries(queries: Mapping[str, Sequence], members: Sequence[str], where: str = "mixture") -> list[dict]:
    """The entries [{"kind", "specs"}] of a mixture of the query sets `members` (config
    `queries`: name -> specs), in the members' order and, within one, by first use."""
    entries: list[dict] = []
    for member in members:
        if member not in queries:
            raise MixtureError(f"{where}: {member!r} is not a configured query set (queries: {sorted(queries)})")
        specs = check_specs(queries[member])
        if not specs:
            entries.append({"kind": "none", "specs": []})
        for name in dict.fromkeys(spec["name"] for spec in specs):
            entries.append({"kind": KIND_OF[name], "specs": [s for s in specs if s["name"] == name]})
    return entries


def degrade_mixture(
    images: np.ndarray, entries: Sequence[Mapping], *, seed: int, stream: str, rescale: str, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(degraded uint8 images, each image's kind as an index into KINDS, its entry index).
    Image i depends on (seed, stream, i) only."""
    n = len(images)
    entry = spec_choices(len(entries), seed=seed, stream=stream, indices=np.arange(n))
    out = np.array(images, copy=True)
    for e, item in enumerate(entries):
        rows = np.flatnonzero(entry == e)
        if item["specs"] and rows.size:
            out[rows] = degrade(
                images[rows], item["specs"], seed=seed, stream=f"{stream}/entry{e}", indices=rows,
                rescale=rescale, threads=threads,
            )  # fmt: skip
    kinds = np.array([KINDS.index(item["kind"]) for item in entries], np.int64)[entry]
    return out, kinds, entry


def true_kinds(query_set) -> np.ndarray:
    """Each query's true kind (index into KINDS) of an image set (`cbir.h5store.ImageSet`): a
    mixture's stored column ``kind``, else the
    one kind of the set's degradations (attribute ``specs``; none for a clean set)."""
    if "kind" in query_set.columns:
        return np.asarray(query_set.columns["kind"], np.int64)
    kind = kind_of(query_set.attrs.get("specs", []))
    return np.full(len(query_set), KINDS.index(kind), np.int64)
