"""Exact top-k retrieval by Euclidean distance or cosine similarity (paper section III.B).

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
"""

from __future__ import annotations

import logging
import math

import numpy as np

log = logging.getLogger("cbir.search")

DISTANCES = ("l2", "cosine")

# Groups kept beyond k: the margin that lets the shortcut prove its order without a tie.
_EXTRA_GROUPS = 2


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
        if not np.isfinite(array).all():
            raise SearchError(f"{name} contain NaN or infinite values")
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
    block = np.empty((min(chunk_size, max(n_queries, 1)), n_gallery), np.float32)
    fallbacks = 0
    for start in range(0, n_queries, chunk_size):
        stop = min(start + chunk_size, n_queries)
        q_op, row_term = how.prepare(queries[start:stop])
        product = block[: stop - start]
        np.matmul(q_op, how.operand.T, out=product)
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
