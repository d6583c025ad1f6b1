"""Uncertainty of the retrieval tables: cluster bootstrap intervals, paired differences, McNemar, chance levels.

Queries are not independent: every object instance is shown by many queries (views, lightings), and
a network trained R times gives R correlated tables on the same queries. Intervals therefore come
from a two-stage bootstrap that resamples objects (all their queries together) and replicates.

Per-query values are float arrays [Nq] (one replicate) or [R, Nq] (R replicates on the same queries).
One `Resampler` draws its weights once and serves every cell of a table, so cells and their
differences share the same resamples (common random numbers): paired comparisons then see only the
variance of the difference, and a table is reproducible from its seed.

Limits: the percentile interval under-covers a little with few objects (tens are fine), and with a
handful of replicates (R = 3) the replicate stage understates training-to-training variance
(the bootstrap variance of a mean of R values is (R - 1) / R of the usual estimate); the intervals
are sound where the object-to-object spread dominates, as it does in these tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

N_RESAMPLES = 2000
LEVEL = 0.95


class StatsError(ValueError):
    """Inconsistent shapes, non-finite values or non-binary outcomes."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap percentile interval."""

    value: float  # the point estimate (plain mean, not the bootstrap mean)
    low: float  # lower percentile bound ((1 - level) / 2 of the resampled statistic)
    high: float  # upper percentile bound ((1 + level) / 2)

    def excludes_zero(self) -> bool:
        """Whether zero lies outside the interval (the effect is distinguishable from none)."""
        return self.low > 0 or self.high < 0

    def scaled(self, factor: float) -> Interval:
        """All three numbers times `factor` (100 for percent)."""
        return Interval(self.value * factor, self.low * factor, self.high * factor)


class Resampler:
    """Cluster bootstrap weights drawn once and shared by every cell of a table (common random numbers).

    Resample b weights object g by W[b, g] (multinomial counts of G draws with replacement of the
    G objects) and replicate r by U[b, r] (likewise over the R replicates; all ones when R = 1).
    The weights are drawn from numpy's PCG64 seeded with `seed`, objects first, then replicates.
    With `groups` None every query is its own object and the query count is fixed by the first
    array given (the weights are drawn then); W is then [B, Nq] (int32, about 200 MB for 24,300 queries),
    so per-query resampling of a full test set is a check, not the default.
    """

    def __init__(
        self,
        groups: np.ndarray | None,
        *,
        seed: int,
        n_replicates: int = 1,
        n_resamples: int = N_RESAMPLES,
        level: float = LEVEL,
    ) -> None:
        if int(seed) < 0:
            raise StatsError(f"seed must be a non-negative int, got {seed}")
        if n_replicates < 1 or n_resamples < 1:
            raise StatsError(f"need n_replicates >= 1 and n_resamples >= 1, got {n_replicates}, {n_resamples}")
        if not 0 < level < 1:
            raise StatsError(f"level must lie in (0, 1), got {level}")
        self.level = float(level)
        self._n_replicates = int(n_replicates)
        self._n_resamples = int(n_resamples)
        self._rng = np.random.Generator(np.random.PCG64(int(seed)))
        self._group_index: np.ndarray | None = None  # int [Nq]: each query's object, 0..G-1
        self._group_sizes: np.ndarray | None = None  # int [G]: queries per object
        self.object_weights: np.ndarray | None = None  # int [B, G]; exposed for tests
        self.replicate_weights: np.ndarray | None = None  # int [B, R]; exposed for tests
        if groups is not None:
            groups = np.asarray(groups)
            if groups.ndim != 1 or len(groups) == 0:
                raise StatsError(f"groups must be a non-empty 1-D array [Nq], got shape {groups.shape}")
            _, index = np.unique(groups, return_inverse=True)
            self._set_groups(index.reshape(-1))

    def _set_groups(self, index: np.ndarray) -> None:
        """Fix the query-to-object map and draw the weights (objects first, then replicates)."""
        self._group_index = index
        self._group_sizes = np.bincount(index)
        self.object_weights = self._counts(len(self._group_sizes))
        self.replicate_weights = (
            np.ones((self._n_resamples, 1), np.int64) if self._n_replicates == 1 else self._counts(self._n_replicates)
        )

    def _counts(self, n: int) -> np.ndarray:
        """int [B, n]: how often each of n items is drawn in n draws with replacement (multinomial counts)."""
        draws = self._rng.integers(0, n, (self._n_resamples, n)) + n * np.arange(self._n_resamples)[:, None]
        counts = np.bincount(draws.ravel(), minlength=self._n_resamples * n)
        return counts.reshape(self._n_resamples, n).astype(np.int32)

    @property
    def n_queries(self) -> int | None:
        """Queries per replicate (None while `groups` was None and no array has been given)."""
        return None if self._group_index is None else len(self._group_index)

    @property
    def n_groups(self) -> int | None:
        """Objects (clusters); None like `n_queries`."""
        return None if self._group_sizes is None else len(self._group_sizes)

    @property
    def n_replicates(self) -> int:
        return self._n_replicates

    @property
    def n_resamples(self) -> int:
        return self._n_resamples

    def _matrix(self, values: np.ndarray) -> np.ndarray:
        """float64 [R, Nq] after checking shape and finiteness."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 1:
            values = values[None, :]
        if values.ndim != 2:
            raise StatsError(f"values must be [Nq] or [R, Nq], got shape {values.shape}")
        if len(values) != self._n_replicates:
            raise StatsError(f"values have {len(values)} replicates, the resampler {self._n_replicates}")
        if self._group_index is None:
            if values.shape[1] == 0:
                raise StatsError("values have no queries")
            self._set_groups(np.arange(values.shape[1]))
        if values.shape[1] != self.n_queries:
            raise StatsError(f"values have {values.shape[1]} queries, the resampler {self.n_queries}")
        if not np.isfinite(values).all():
            raise StatsError("values contain NaN or infinity")
        return values

    def _resampled(self, values: np.ndarray) -> np.ndarray:
        """`resampled_means` of an already checked [R, Nq] matrix."""
        n_rep, n_groups = values.shape[0], len(self._group_sizes)
        flat = (np.arange(n_rep)[:, None] * n_groups + self._group_index[None, :]).ravel()
        sums = np.bincount(flat, weights=values.ravel(), minlength=n_rep * n_groups).reshape(n_rep, n_groups)
        weights = self.object_weights.astype(np.float64)
        numerator = (self.replicate_weights * (weights @ sums.T)).sum(axis=1)
        return numerator / (n_rep * (weights @ self._group_sizes))

    def resampled_means(self, values: np.ndarray) -> np.ndarray:
        """float64 [B]: the mean of `values` under each resample,

            sum_r U[b, r] * sum_g W[b, g] * S[r, g] / (R * sum_g W[b, g] * c[g]),

        with S[r, g] the sum of replicate r's values over object g's queries and c[g] its query count.
        """
        return self._resampled(self._matrix(values))

    def _interval(self, value: float, resampled: np.ndarray) -> Interval:
        tail = 50 * (1 - self.level)
        if not np.isfinite(resampled).any():
            return Interval(value, math.nan, math.nan)
        low, high = np.nanpercentile(resampled, [tail, 100 - tail])
        return Interval(value, float(low), float(high))

    def mean(self, values: np.ndarray) -> Interval:
        """The mean over replicates of the mean over queries, with its percentile interval."""
        values = self._matrix(values)
        return self._interval(float(values.mean()), self._resampled(values))

    def difference(self, a: np.ndarray, b: np.ndarray) -> Interval:
        """Paired mean(a) - mean(b): both under the same resamples, i.e. the interval of mean(a - b)."""
        diff = self._matrix(a) - self._matrix(b)
        return self._interval(float(diff.mean()), self._resampled(diff))

    def ratio(
        self, num_a: np.ndarray, num_b: np.ndarray, den_a: np.ndarray, den_b: np.ndarray
    ) -> tuple[Interval, np.ndarray]:
        """(mean(num_a) - mean(num_b)) / (mean(den_a) - mean(den_b)) with its interval, and the resampled
        ratios [B]. Resamples with a zero denominator give NaN and are left out of the percentiles."""
        num = self._matrix(num_a) - self._matrix(num_b)
        den = self._matrix(den_a) - self._matrix(den_b)
        num_mean, den_mean = float(num.mean()), float(den.mean())
        value = num_mean / den_mean if den_mean != 0 else math.nan
        num_b_, den_b_ = self._resampled(num), self._resampled(den)
        ratios = np.full_like(num_b_, np.nan)
        np.divide(num_b_, den_b_, out=ratios, where=den_b_ != 0)
        return self._interval(value, ratios), ratios


def _binary(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.bool_ and not np.isin(x, (0, 1)).all():
        raise StatsError(f"{name} must be binary (bool or 0/1)")
    return x.astype(bool)


def _binom_half_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), summed in log space (log-gamma, logsumexp): exact to ~1e-9
    relative for n up to millions, where integer binomials would be slow."""
    lgam = np.array([math.lgamma(i + 1) for i in range(n + 1)])
    i = np.arange(k + 1)
    log_terms = lgam[n] - lgam[i] - lgam[n - i] - n * math.log(2)
    top = log_terms.max()
    return float(math.exp(top + math.log(np.exp(log_terms - top).sum())))


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided exact McNemar p-value of paired binary outcomes a and b ([Nq] or [R, Nq], bool or 0/1).

    Only discordant pairs count: n01 (a false, b true) and n10 (a true, b false); under the null each
    is a fair coin, so p = min(1, 2 * P(Binomial(n01 + n10, 1/2) <= min(n01, n10))), and 1 without
    discordant pairs. With replicates the discordant pairs of all replicates are pooled (which treats
    them as independent: a pragmatic summary, not a test of training-to-training variation).
    """
    a, b = _binary(a, "a"), _binary(b, "b")
    if a.shape != b.shape:
        raise StatsError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    n01, n10 = int((~a & b).sum()), int((a & ~b).sum())
    n = n01 + n10
    if n == 0:
        return 1.0
    return min(1.0, 2 * _binom_half_cdf(min(n01, n10), n))


@dataclass(frozen=True)
class GapClosed:
    """Share of the clean-minus-degraded gap that a remedy recovers, with its interval."""

    value: float  # NaN when not defined
    low: float
    high: float
    gap: Interval  # clean - degraded
    reason: str | None  # why value is NaN, else None


def gap_closed(resampler: Resampler, clean: np.ndarray, degraded: np.ndarray, remedied: np.ndarray) -> GapClosed:
    """(mean(remedied) - mean(degraded)) / (mean(clean) - mean(degraded)), paired over the same resamples.

    Left empty (NaN) where the gap is not positive or its interval includes zero: dividing by a gap
    indistinguishable from zero gives meaningless ratios (clean 90.19 %, degraded 90.25 %,
    remedied 89.54 % would read +1200 %).
    """
    gap = resampler.difference(clean, degraded)
    reason = None
    if gap.value <= 0:
        reason = f"no gap: clean <= degraded (clean - degraded = {gap.value:.4g})"
    elif not gap.excludes_zero():
        reason = f"the gap clean - degraded ({gap.value:.4g} [{gap.low:.4g}, {gap.high:.4g}]) includes zero"
    if reason is not None:
        return GapClosed(math.nan, math.nan, math.nan, gap, reason)
    interval, _ = resampler.ratio(remedied, degraded, clean, degraded)
    return GapClosed(interval.value, interval.low, interval.high, gap, None)


def chance_levels(
    gallery_labels: np.ndarray, query_labels: np.ndarray, ks: Sequence[int]
) -> dict[tuple[str, int], float]:
    """Expected value of each measure under a uniformly random ranking of the whole gallery, averaged over
    the queries: the floor a table's numbers should be read against. Fractions in [0, 1].

    Keys ("top_k_accuracy", k), ("precision", k), ("map", k) for k in ks, and ("map_full", 0),
    ("r_precision", 0), ("map_at_r", 0). For a query whose label has R of the N gallery items:
      top-k accuracy  1 - C(N - R, k) / C(N, k);
      precision@k, R-precision  R / N;
      AP with cut-off m and normaliser Z: (1/Z) sum_{i<=m} (R / (N i)) (1 + (i - 1)(R - 1)/(N - 1)),
        since E[rel_i * relevant among the first i] = (R/N)(1 + (i - 1)(R - 1)/(N - 1));
        mAP@k: m = k, Z = min(k, R) (cbir.measures); full AP: m = N, Z = R;
        MAP@R (Musgrave et al. 2020): m = Z = R.
    A query with R = 0 scores 0 everywhere.
    """
    gallery_labels, query_labels = np.asarray(gallery_labels), np.asarray(query_labels)
    n = len(gallery_labels)
    if n == 0 or len(query_labels) == 0:
        raise StatsError("chance levels need a non-empty gallery and query set")
    ks = [int(k) for k in ks]
    if any(not 1 <= k <= n for k in ks):
        raise StatsError(f"cut-offs {ks} must lie in 1..{n} (the gallery size)")
    classes, counts = np.unique(gallery_labels, return_counts=True)
    per_query = np.zeros(len(query_labels), np.int64)
    known = np.isin(query_labels, classes)
    per_query[known] = counts[np.searchsorted(classes, query_labels[known])]
    r_values, n_queries = np.unique(per_query, return_counts=True)
    share = n_queries / len(query_labels)  # weight of each distinct R
    r = r_values.astype(np.float64)
    positive = r > 0
    safe_r = np.where(positive, r, 1.0)

    harmonic = np.concatenate([[0.0], np.cumsum(1 / np.arange(1, n + 1))])  # H_m, m = 0..N
    pair = (r - 1) / (n - 1) if n > 1 else np.zeros_like(r)  # only multiplies i >= 2 terms, absent when N = 1

    def expected_ap(m: np.ndarray, z: np.ndarray) -> np.ndarray:
        # sum_{i<=m} 1/i = H_m and sum_{i<=m} (i - 1)/i = m - H_m
        m = m.astype(np.int64)
        total = r / n * (harmonic[m] + pair * (m - harmonic[m]))
        return np.where(positive, total / np.where(positive, z, 1.0), 0.0)

    def average(per_r: np.ndarray) -> float:
        return float((np.where(positive, per_r, 0.0) * share).sum())

    out: dict[tuple[str, int], float] = {}
    kmax = max(ks, default=0)
    j = np.arange(kmax)
    # C(N - R, k) / C(N, k) = prod_{j<k} (N - R - j) / (N - j), zero once k > N - R
    miss = np.cumprod(np.maximum(n - r[:, None] - j, 0) / (n - j), axis=1)
    for k in ks:
        out[("top_k_accuracy", k)] = average(1 - miss[:, k - 1])
        out[("precision", k)] = average(r / n)
        out[("map", k)] = average(expected_ap(np.full_like(r, k), np.minimum(k, safe_r)))
    out[("map_full", 0)] = average(expected_ap(np.full_like(r, n), safe_r))
    out[("r_precision", 0)] = average(r / n)
    out[("map_at_r", 0)] = average(expected_ap(safe_r, safe_r))
    return out
