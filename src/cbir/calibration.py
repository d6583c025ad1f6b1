"""Degradation strengths calibrated to the paper's drops (config `calibration`, target `calibrate`).

The paper's Table 1 reports, at 96 px, how many points of L2 top-1 accuracy each degraded query set
loses against the clean queries. At another image size or on another dataset the same parameters
cost a different amount, so the effect the paper is about may vanish (the demo's blur at the
paper's sigma costs 2 points, the paper's 17). Calibration degrades the validation queries of a
query set at every value of a grid of strengths (its `vary` parameters, set to the same value in
every degradation they name), searches them with each replicate's standard keys, and reads off the
strength at which the mean drop over replicates crosses the paper's, interpolating linearly between
the two grid values around the first crossing. Nothing here touches a file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

# Status of a read-off strength
INTERPOLATED = "interpolated"
BELOW_GRID = "below grid"  # the weakest strength already drops more than the target
ABOVE_GRID = "above grid"  # the strongest strength drops less than the target


class CalibrationError(ValueError):
    """A calibration that cannot be read (names the config key or the query set)."""


def grid_specs(specs: Sequence[Mapping], vary: Mapping[str, str], value: float, *, where: str = "") -> list[dict]:
    """A query set's degradation list with parameter `vary[name]` of every degradation `name` set to
    `value` (the others unchanged, so a mixture keeps its fixed members)."""
    out, touched = [], set()
    for spec in specs:
        spec = dict(spec)
        if spec["name"] in vary:
            spec[vary[spec["name"]]] = value
            touched.add(spec["name"])
        out.append(spec)
    missing = sorted(set(vary) - touched)
    if missing:
        raise CalibrationError(
            f"config key '{where}.vary': the query set has no degradation named {', '.join(missing)}"
        )
    return out


def grids(queries: Mapping[str, Sequence[Mapping]], calibration: Mapping[str, Mapping]) -> dict[str, list[list[dict]]]:
    """Query set -> the degradation list at each grid value, for every calibrated set that varies."""
    return {
        name: [grid_specs(queries[name], spec["vary"], v, where=f"calibration.{name}") for v in spec["values"]]
        for name, spec in calibration.items()
        if spec.get("vary")
    }


def crossing(values: Sequence[float], drops: Sequence[float], target: float) -> tuple[float, str]:
    """The strength at which `drops` (one per grid value, ascending values) first reaches `target`,
    by linear interpolation between the grid values on either side; the weakest or strongest value
    with status BELOW_GRID / ABOVE_GRID when the target lies outside the measured drops."""
    values, drops = np.asarray(values, np.float64), np.asarray(drops, np.float64)
    if len(values) != len(drops) or len(values) < 2:
        raise CalibrationError(f"need at least two grid values with one drop each, got {len(values)} and {len(drops)}")
    if not np.all(np.diff(values) > 0):
        raise CalibrationError(f"grid values must increase strictly, got {values.tolist()}")
    if not np.isfinite(drops).all():
        raise CalibrationError(f"drops must be finite, got {drops.tolist()}")
    if drops[0] >= target:
        return float(values[0]), BELOW_GRID
    above = np.flatnonzero(drops >= target)
    if not len(above):
        return float(values[-1]), ABOVE_GRID
    i = int(above[0])
    share = (target - drops[i - 1]) / (drops[i] - drops[i - 1])
    return float(values[i - 1] + share * (values[i] - values[i - 1])), INTERPOLATED


def rounded(value: float, digits: int = 2) -> float:
    """`value` to `digits` significant digits: the precision a grid of this density supports."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))
