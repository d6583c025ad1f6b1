"""Grid search of a classical restorer's `auto` parameters (config `enhancers.<name>`).

A parameter set to the string ``auto`` is chosen from the candidates in the enhancer's `grid`
by validation retrieval accuracy (`cbir.stages.tune`), never by anything measured on the test
split. This module is the pure part: which parameters are tuned, the grid's points, the choice,
and the parameters `cbir.classical.restore` gets once the choice is made.
"""

from __future__ import annotations

import itertools
import math

AUTO = "auto"
_NOT_PARAMS = ("method", "grid")


def _label(enhancer: dict, name: str | None) -> str:
    return repr(name) if name else f"with method {enhancer.get('method')!r}"


def auto_params(enhancer: dict) -> list[str]:
    """The enhancer's parameters set to ``auto``, in the enhancer's order."""
    return [k for k, v in enhancer.items() if k not in _NOT_PARAMS and isinstance(v, str) and v == AUTO]


def _grid(enhancer: dict, name: str | None = None) -> dict[str, list]:
    """The grid, checked against the auto parameters: a mismatch would tune the wrong thing."""
    grid = enhancer.get("grid") or {}
    autos = auto_params(enhancer)
    if set(grid) != set(autos):
        raise ValueError(
            f"enhancer {_label(enhancer, name)}: auto parameters {autos} but grid names {list(grid)}; they must agree"
        )
    for param, values in grid.items():
        if not values:
            raise ValueError(f"enhancer {_label(enhancer, name)}: grid.{param} is empty")
    return grid


def grid_points(enhancer: dict, name: str | None = None) -> list[dict]:
    """Every full parameter dict (with `method`, without `grid`) of the grid's Cartesian
    product, in the grid's order (the last parameter varies fastest). One point, the enhancer
    itself, when nothing is auto."""
    grid = _grid(enhancer, name)
    fixed = {k: v for k, v in enhancer.items() if k != "grid"}
    return [{**fixed, **dict(zip(grid, values, strict=True))} for values in itertools.product(*grid.values())]


def _same(a, b) -> bool:
    # True == 1 in Python; a boolean grid value never stands for a number or the reverse.
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def resolve(enhancer: dict, chosen: dict | None, name: str | None = None) -> dict:
    """The parameters `cbir.classical.restore` gets (`method` included, `grid` dropped): each
    auto replaced by its chosen value. A chosen value for a parameter that is not auto, or
    outside the grid, means the tuning result is stale: an error rather than a silent mix."""
    chosen = dict(chosen or {})
    autos = auto_params(enhancer)
    missing = [p for p in autos if p not in chosen]
    if missing:
        raise ValueError(
            f"enhancer {_label(enhancer, name)}: parameter(s) {', '.join(missing)} are auto but have no tuned value"
        )
    extra = sorted(set(chosen) - set(autos))
    if extra:
        raise ValueError(
            f"enhancer {_label(enhancer, name)}: tuned values for {', '.join(extra)}, which are not auto "
            "(a stale tuning result?)"
        )
    grid = _grid(enhancer, name)
    for param, value in chosen.items():
        if not any(_same(value, v) for v in grid[param]):
            raise ValueError(
                f"enhancer {_label(enhancer, name)}: tuned {param} = {value!r} is not in grid.{param} "
                f"{grid[param]} (a stale tuning result?)"
            )
    return {**{k: v for k, v in enhancer.items() if k != "grid"}, **chosen}


def choose(scores: list[float]) -> int:
    """Index of the best (highest) score. A tie goes to the first, the earlier grid point: equal
    scores then give a reproducible choice that the grid's order controls."""
    scores = [float(s) for s in scores]
    if not scores:
        raise ValueError("no scores to choose from")
    bad = [s for s in scores if not math.isfinite(s)]
    if bad:
        raise ValueError(f"scores must be finite, got {bad}")
    best = 0
    for i, score in enumerate(scores):
        if score > scores[best]:
            best = i
    return best
