"""Exact top-k retrieval by Euclidean distance or cosine similarity (paper section III.B), and
measures over each query's ranking of the whole gallery.

Pure computation on feature arrays; `cbir.stages.retrieve` reads and writes the files.
A "distance" (config `retrieval.distances`) names how queries and gallery are compared;
cosine ranks by similarity, largest first.

Scores
    l2      d(q, g) = ||q - g||, computed through the expansion
            sqrt(max(||q||^2 + (||g||^2 - 2 q.g), 0)) with float32 matrix products;
            smallest first.
    cosine  q.g / (||q|| ||g||) on L2-normalised rows (a zero vector stays zero, so its
            similarity to everything is 0); largest first.

Order
    Each query's results are exactly what a stable sort of its whole score row would give:
    by score (ascending distance, descending similarity), ties by the lower gallery index.

Numerics
    The expansion rounds: two gallery rows at the same true distance can get scores that
    differ in the last bits (and a true distance of 0 can come out as a small positive
    number), and then the smaller computed score comes first, whatever the indices. Ties
    are honoured exactly for the scores as computed, which is what the order above means.
    The BLAS product may sum in an order that depends on the chunk's shape, so scores can
    differ in the last bits between chunk sizes (and the order between near-ties with
    them); with integer-valued features the arithmetic is exact and results are
    bit-identical for every chunk size. For a fixed chunk size runs are deterministic.

Memory and speed
    Queries go through in chunks of `chunk_size` rows. Besides the inputs, memory holds a
    scaled copy of the gallery (the product's operand) and one float32 [chunk_size, Ng]
    block (about 190 MiB for 1024 x 48,600). The block comes from one matrix product; the
    selection then reads it about once more: column j is dealt into group j % lanes, each
    group's smallest key is taken, and the k + 2 groups with the smallest minima are kept.
    Every column outside them has a key at least the largest of those minima, and at
    least k + 2 kept columns are at or below it, so only the kept groups' members (and
    the few tail columns left over by the deal) are scored and sorted. A row where this
    cannot prove the order, because a tie in computed scores straddles the cut, is
    redone with a stable sort of the whole row.

    `ranking_measures` ranks the whole gallery, so it sorts every row: per chunk the same
    product as `topk` (hence the same order), then blocks of about 2**23 elements (172
    rows of 48,600) each get one sort, a gather of relevance (gallery label == query label)
    and sums over the relevant positions; only the three values per query are kept, never a
    ranking. The sort is of 64-bit keys (rank bits, index), which equals the stable argsort
    and about 1.7 times as fast. Memory: the float32 [chunk_size, Ng] block plus about 25
    bytes per element of a sort block (some 200 MiB). Time: the sort dominates, Ng log Ng
    per query: about 5 ms per query against 48,600 on one core, several times `topk`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

import numpy as np

from cbir.measures import RANKING_MEASURES

log = logging.getLogger("cbir.search")

DISTANCES = ("l2", "cosine")

# Groups kept beyond k: the margin that lets the shortcut prove its order without a tie.
_EXTRA_GROUPS = 2

# Elements (rows x gallery) sorted at once by `ranking_measures`: about 25 bytes each.
_SORT_ELEMENTS = 2**23


class SearchError(ValueError):
    """Invalid search arguments (shapes, k, distance)."""


def _check_inputs(queries: np.ndarray, gallery: np.ndarray, k: int, distance: str, chunk_size: int):
    if distance not in DISTANCES:
        raise SearchError(f"unknown distance {distance!r}; expected one of {list(DISTANCES)}")
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    gallery = np.ascontiguousarray(gallery, dtype=np.float32)
    if queries.ndim != 2 or gallery.ndim != 2:
        raise SearchError(f"queries and gallery must be 2-D, got {queries.shape} and {gallery.shape}")
    if queries.shape[1] != gallery.shape[1]:
        raise SearchError(f"feature sizes differ: queries {queries.shape[1]}, gallery {gallery.shape[1]}")
    n_gallery = len(gallery)
    if not 1 <= k <= n_gallery:
        raise SearchError(f"k={k} must be between 1 and the gallery size {n_gallery}")
    if chunk_size < 1:
        raise SearchError(f"chunk_size must be >= 1, got {chunk_size}")
    for name, array in (("queries", queries), ("gallery", gallery)):
        bad = ~np.isfinite(array).all(axis=1)
        if bad.any():
            raise SearchError(
                f"{name} contain NaN or infinite values in {int(bad.sum())} of {len(array)} rows "
                f"(first: row {int(np.flatnonzero(bad)[0])})"
            )
    return queries, gallery


def _normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows left as zeros."""
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float32))
    return x / np.where(norms > 0, norms, np.float32(1))[:, None]


def _lanes(n_gallery: int, k: int) -> int:
    """Number of column groups: about sqrt(Ng * (k + extra)) balances the group-minimum
    selection against the members gathered; 0 disables the shortcut for small galleries."""
    groups = k + _EXTRA_GROUPS
    size = 2 ** round(math.log2(max(1.0, math.sqrt(n_gallery / groups))))
    lanes = n_gallery // size
    return lanes if size >= 4 and lanes > 2 * groups else 0


class _Distance:
    """A distance as (gallery operand, per-column offset, key -> ascending rank value).

    The key of (query i, gallery j) is product[i, j] + offset[j], the product being
    queries @ operand.T; the rank value is a monotone non-decreasing function of the key,
    so selecting on keys is safe; the returned score is the rank value (l2) or its
    negation (cosine)."""

    def __init__(self, distance: str, gallery: np.ndarray):
        self.distance = distance
        if distance == "l2":
            # -2 g: scaling by a power of two is exact, so the product is exactly -2 q.g.
            self.operand = np.float32(-2) * gallery
            self.offset = np.einsum("ij,ij->i", gallery, gallery, dtype=np.float32)
        else:
            # Negated so that the smallest key is the most similar: one selection code.
            self.operand = -_normalise(gallery)
            self.offset = None

    def prepare(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Query operand and the per-row term the rank value needs."""
        if self.distance == "l2":
            return queries, np.einsum("ij,ij->i", queries, queries, dtype=np.float32)
        return _normalise(queries), None

    def keys(self, product: np.ndarray, columns: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Keys from product values at gallery `columns` (in place on `product`)."""
        if self.offset is not None:
            product += self.offset[columns]
        return product

    def rank(self, keys: np.ndarray, row_term: np.ndarray | None) -> np.ndarray:
        """Ascending rank values from keys (in place: pass a fresh array)."""
        if self.distance == "l2":
            keys += row_term.reshape(-1, *([1] * (keys.ndim - 1)))
            np.maximum(keys, 0, out=keys)
            return np.sqrt(keys, out=keys)
        return keys

    def score(self, rank: np.ndarray) -> np.ndarray:
        return rank if self.distance == "l2" else -rank


def _select_full(ranks: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Stable sort of whole rows: the reference order (rank, index)."""
    order = np.argsort(ranks, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(ranks, order, axis=1)


def _group_min(product: np.ndarray, how: _Distance, lanes: int) -> np.ndarray:
    """float32 [rows, lanes]: the smallest key of each group (column j in group j % lanes,
    for j < lanes * (Ng // lanes)). One read of the block: the offset is added slab by slab
    into a small buffer that stays in cache, never written back to the block."""
    n_rows, n_gallery = product.shape
    size = n_gallery // lanes
    slabs = product[:, : size * lanes].reshape(n_rows, size, lanes)
    acc = slabs[:, 0, :].copy()
    how.keys(acc, slice(0, lanes))
    buffer = np.empty_like(acc)
    for t in range(1, size):
        slab = slabs[:, t, :]
        if how.offset is not None:
            np.add(slab, how.offset[t * lanes : (t + 1) * lanes], out=buffer)
            slab = buffer
        np.minimum(acc, slab, out=acc)
    return acc


def _select_chunk(product: np.ndarray, row_term, k: int, lanes: int, how: _Distance):
    """Top k of each row of a product block through the group-minimum shortcut.

    Returns (indices int64, rank values, number of rows redone with the full sort)."""
    n_rows, n_gallery = product.shape
    size = n_gallery // lanes
    main = size * lanes
    group_min = _group_min(product, how, lanes)
    n_groups = k + _EXTRA_GROUPS
    chosen = np.argpartition(group_min, n_groups - 1, axis=1)[:, :n_groups]
    # The cut: every key outside the chosen groups is >= this.
    cut = np.take_along_axis(group_min, chosen, axis=1).max(axis=1)
    chosen.sort(axis=1)
    # Candidates: the chosen groups' columns t * lanes + lane, laid out t-major so they are
    # in ascending order (position order is index order: the tie rule below relies on
    # it), then the tail columns beyond `main`, which are always candidates.
    candidates = (np.arange(size)[None, :, None] * lanes + chosen[:, None, :]).reshape(n_rows, -1)
    if main < n_gallery:
        tail = np.broadcast_to(np.arange(main, n_gallery), (n_rows, n_gallery - main))
        candidates = np.concatenate([candidates, tail], axis=1)
    rows = np.arange(n_rows)[:, None]
    ranks = how.rank(how.keys(product.ravel()[candidates + rows * n_gallery], candidates), row_term)
    # The k smallest candidates, then the (k+1)-th: if it ranks strictly after the k-th,
    # the k are exactly the first k of a stable sort of the candidates; if not, a tie
    # straddles position k and those rows sort all their candidates stably.
    part = np.argpartition(ranks, k, axis=1)
    first, after = part[:, :k], ranks[rows[:, 0], part[:, k]]
    values = ranks[rows, first]
    order = np.lexsort((first, values), axis=1)  # by rank, then position (= index)
    first, values = first[rows, order], values[rows, order]
    tied = np.flatnonzero(~(after > values[:, -1]))
    if len(tied):
        first[tied] = np.argsort(ranks[tied], axis=1, kind="stable")[:, :k]
        values[tied] = np.take_along_axis(ranks[tied], first[tied], axis=1)
    indices = candidates[rows, first]
    # Everything outside the chosen groups ranks at or after rank(cut): if that is strictly
    # after the k-th, the candidates' order is the whole row's; if not, sort the row.
    cut_rank = how.rank(cut.astype(np.float32), row_term)
    unproven = np.flatnonzero(~(cut_rank > values[:, -1]))
    if len(unproven):
        term = None if row_term is None else row_term[unproven]
        full_idx, full_val = _select_full(how.rank(how.keys(product[unproven]), term), k)
        indices[unproven] = full_idx
        values[unproven] = full_val
    return indices, values, len(unproven)


def _products(queries: np.ndarray, how: _Distance, chunk_size: int) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first query row, product block float32 [rows, Ng], row term) for every chunk of
    `chunk_size` queries. The one product both `topk` and `ranking_measures` rank from: the
    same call on the same shapes, so that their scores, and hence their orders, agree bit
    for bit. The block is reused: consume it before the next one."""
    n_queries = len(queries)
    block = np.empty((min(chunk_size, max(n_queries, 1)), len(how.operand)), np.float32)
    for start in range(0, n_queries, chunk_size):
        q_op, row_term = how.prepare(queries[start : start + chunk_size])
        product = block[: len(q_op)]
        np.matmul(q_op, how.operand.T, out=product)
        yield start, product, row_term


def topk(
    queries: np.ndarray, gallery: np.ndarray, *, k: int, distance: str, chunk_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest gallery rows for every query row.

    Returns (indices int32 [Nq, k], scores float32 [Nq, k]): l2 distances ascending or
    cosine similarities descending, ties by the lower gallery index (see the module
    docstring for the exact definition and its numerics). Memory is bounded by one float32
    [chunk_size, Ng] block.
    """
    queries, gallery = _check_inputs(queries, gallery, k, distance, chunk_size)
    how = _Distance(distance, gallery)
    n_queries, n_gallery = len(queries), len(gallery)
    lanes = _lanes(n_gallery, k)
    indices = np.empty((n_queries, k), np.int32)
    scores = np.empty((n_queries, k), np.float32)
    fallbacks = 0
    for start, product, row_term in _products(queries, how, chunk_size):
        stop = start + len(product)
        if lanes == 0:
            idx, val = _select_full(how.rank(how.keys(product), row_term), k)
        else:
            idx, val, n_unproven = _select_chunk(product, row_term, k, lanes, how)
            fallbacks += n_unproven
        indices[start:stop] = idx
        scores[start:stop] = how.score(val)
    if fallbacks:
        log.info("%s: %d of %d queries needed the full sort (ties at the cut)", distance, fallbacks, n_queries)
    return indices, scores


def _stable_order(ranks: np.ndarray) -> np.ndarray:
    """int64 [rows, Ng]: `np.argsort(ranks, axis=1, kind="stable")` for ranks without NaN,
    computed as a plain sort of 64-bit keys (rank bits, gallery index). The keys are distinct,
    so any sort gives the stable order, and sorting values is about 1.7 times as fast as a
    stable argsort. Overwrites `ranks`."""
    ranks += np.float32(0)  # -0.0 -> +0.0: the two compare equal, so the index must decide
    # IEEE floats as unsigned integers in the same order: negatives with every bit flipped,
    # the others with the sign bit set.
    bits = ranks.view(np.uint32)
    flip = bits >> 31
    flip *= np.uint32(0x7FFFFFFF)
    flip |= np.uint32(0x80000000)
    bits ^= flip
    del flip
    keys = bits.astype(np.uint64)
    keys <<= np.uint64(32)
    keys |= np.arange(ranks.shape[1], dtype=np.uint64)
    keys.sort(axis=1)
    keys &= np.uint64(0xFFFFFFFF)
    return keys.view(np.int64)


def _rankings(
    queries: np.ndarray, gallery: np.ndarray, *, distance: str, chunk_size: int
) -> Iterator[tuple[int, np.ndarray]]:
    """(first query row, gallery indices int64 [rows, Ng] best first) for successive blocks
    of queries: each row the whole ranking whose first k entries are `topk`'s with the same
    chunk size. Rows come in blocks of at most _SORT_ELEMENTS / Ng within each chunk."""
    queries, gallery = _check_inputs(queries, gallery, 1, distance, chunk_size)
    how = _Distance(distance, gallery)
    rows = max(1, _SORT_ELEMENTS // len(gallery))
    for start, product, row_term in _products(queries, how, chunk_size):
        ranks = how.rank(how.keys(product), row_term)
        for first in range(0, len(ranks), rows):
            yield start + first, _stable_order(ranks[first : first + rows])


def measures_from_relevance(relevant: np.ndarray) -> dict[str, np.ndarray]:
    """float64 [rows] per name in RANKING_MEASURES from whole rankings' relevance (bool [rows,
    Ng], best first). R, a row's number of relevant items, is the gallery count of the query's
    label because the ranking holds the whole gallery; R = 0 gives 0 for every measure.

    Only the relevant positions are visited: the j-th relevant item at position p (1-based)
    contributes P@p = j / p, the only terms of the AP sums with rel_p = 1."""
    n_rows = len(relevant)
    rows, positions = np.nonzero(relevant)  # row-major: positions ascend within each row
    n_relevant = np.bincount(rows, minlength=n_rows)
    row_start = np.cumsum(n_relevant) - n_relevant
    precision = (np.arange(1, len(rows) + 1) - row_start[rows]) / (positions + 1)
    within = positions < n_relevant[rows]  # among the first R
    sums = {
        "map_full": np.bincount(rows, weights=precision, minlength=n_rows),
        "r_precision": np.bincount(rows, weights=within, minlength=n_rows),
        "map_at_r": np.bincount(rows, weights=np.where(within, precision, 0.0), minlength=n_rows),
    }
    norm = n_relevant.astype(np.float64)
    return {name: np.divide(sums[name], norm, out=np.zeros(n_rows), where=norm > 0) for name in RANKING_MEASURES}


def ranking_measures(
    queries: np.ndarray,
    gallery: np.ndarray,
    *,
    query_labels: np.ndarray,
    gallery_labels: np.ndarray,
    distance: str,
    chunk_size: int,
) -> dict[str, np.ndarray]:
    """Measures over each query's ranking of the WHOLE gallery, which the stored top k
    cannot give: float64 [Nq] per name in RANKING_MEASURES, with R the number of gallery items
    of the query's label, rel_i whether result i has it and P@i the precision of the first i:

        map_full     (1/R) sum_{i=1}^{Ng} P@i rel_i  (average precision of the whole ranking)
        r_precision  (relevant among the first R) / R
        map_at_r     (1/R) sum_{i=1}^{R} P@i rel_i   (MAP@R, Musgrave et al. 2020)

    R = 0 gives 0. The ranking is `topk`'s order extended to the whole gallery (the same
    scores, ties by the lower index): with the same `chunk_size` its first k entries are
    exactly `topk`'s. Only the per-query values are kept (see "Memory and speed")."""
    queries, gallery = _check_inputs(queries, gallery, 1, distance, chunk_size)
    query_labels = np.asarray(query_labels)
    gallery_labels = np.asarray(gallery_labels)
    if query_labels.shape != (len(queries),) or gallery_labels.shape != (len(gallery),):
        raise SearchError(
            f"labels must be [Nq] = [{len(queries)}] and [Ng] = [{len(gallery)}], "
            f"got {query_labels.shape} and {gallery_labels.shape}"
        )
    out = {name: np.zeros(len(queries)) for name in RANKING_MEASURES}
    for start, order in _rankings(queries, gallery, distance=distance, chunk_size=chunk_size):
        stop = start + len(order)
        relevant = gallery_labels[order] == query_labels[start:stop, None]
        del order
        for name, values in measures_from_relevance(relevant).items():
            out[name][start:stop] = values
    return out
