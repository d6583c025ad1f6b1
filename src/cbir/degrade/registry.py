"""The degradations' names and parameter names, and the structural checks of specs and batches.

A spec is ``{"name": ..., <parameter>: <value>, ...}``. The config schema fills every
parameter's default and checks its range before any job, so the library only guards the
structure: a known name, exactly its parameters, numbers or booleans of the right type.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cbir.degrade.random import CounterRandom
from cbir.kinds import KIND_OF as KIND_OF  # the kinds a detector tells apart, re-exported
from cbir.kinds import KINDS as KINDS
from cbir.kinds import kind_of as kind_of

# name -> parameter -> type (int parameters must be integral; floats are stored as floats;
# bool parameters take booleans only, never 0 or 1).
PARAMETERS: dict[str, dict[str, type]] = {
    "gaussian": {"sigma": float},
    "salt_pepper": {"amount": float},
    "speckle": {"amount": float},
    "motion_blur": {"sigma": float, "T": float, "zero_centre": bool},
    "lowres": {"level": int},
}
NAMES = tuple(PARAMETERS)
# Per-pixel draws: independent per channel of a colour image (see `cbir.degrade.batch`).
NOISES = frozenset({"gaussian", "salt_pepper", "speckle"})


class DegradationError(ValueError):
    """A degradation spec names an unknown degradation or parameter, or misses a parameter."""


def check_spec(spec: dict) -> dict:
    """`spec` with its name and parameter names checked, parameters in the registry's order
    and type (so equal specs compare and serialise equal)."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise DegradationError(f"degradation spec {spec!r}: expected a mapping with a 'name'")
    name = spec["name"]
    if name not in PARAMETERS:
        raise DegradationError(f"degradation {name!r}: unknown; expected one of {sorted(PARAMETERS)}")
    params = PARAMETERS[name]
    unknown = sorted(set(spec) - {"name"} - set(params))
    if unknown:
        raise DegradationError(f"degradation {name!r}: unknown parameter(s) {unknown}; expected {sorted(params)}")
    missing = sorted(set(params) - set(spec))
    if missing:
        raise DegradationError(f"degradation {name!r}: missing parameter(s) {missing}")
    full = {"name": name}
    for key, kind in params.items():
        value = spec[key]
        if kind is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise DegradationError(f"degradation {name!r}: parameter {key!r} = {value!r} is not a boolean")
        elif isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise DegradationError(f"degradation {name!r}: parameter {key!r} = {value!r} is not a number")
        if kind is int and value != int(value):
            raise DegradationError(f"degradation {name!r}: parameter {key!r} = {value!r} is not an integer")
        full[key] = kind(value)
    return full


def check_specs(specs: Sequence[dict]) -> list[dict]:
    """`check_spec` of each spec of a list (mappings such as Snakemake's Namedlist items too)."""
    if isinstance(specs, dict) or isinstance(specs, str):
        raise DegradationError(f"degradations {specs!r}: expected a list of specs")
    return [check_spec(dict(s) if hasattr(s, "items") else s) for s in specs]


def params_of(spec: dict) -> dict:
    """The parameters of a checked spec (all but its name)."""
    return {key: value for key, value in spec.items() if key != "name"}


def check_shape(images: np.ndarray, specs: list[dict]) -> None:
    """Images must be [N, H, W] (grey) or [N, H, W, 3] (colour, RGB), and H, W divisible into
    the blocks of every lowres level."""
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[3] == 3)):
        raise DegradationError(f"images must be [N, H, W] (grey) or [N, H, W, 3] (colour), got shape {images.shape}")
    for spec in specs:
        if spec["name"] == "lowres":
            f = 2 ** spec["level"]
            if images.shape[1] % f or images.shape[2] % f:
                raise DegradationError(
                    f"degradation 'lowres': level {spec['level']} needs an image size divisible by {f}, "
                    f"got {images.shape[1]}x{images.shape[2]}"
                )


def channel_stream(stream: str, channel: int) -> str:
    """The random stream of the noise of colour channel `channel`: `stream` itself for channel 0
    (so channel 0 is the grey result of that plane), ``"<stream>/channel<c>"`` for the others."""
    return f"{stream}/channel{channel}" if channel else stream


def check_indices(n: int, indices: np.ndarray | None) -> np.ndarray:
    """int64 [n] image indices (0 .. n-1 when None)."""
    if indices is None:
        return np.arange(n, dtype=np.int64)
    indices = np.asarray(indices)
    if indices.shape != (n,) or (n and indices.min() < 0):
        raise DegradationError(f"indices must be {n} non-negative integers, got shape {indices.shape}")
    return indices.astype(np.int64)


def spec_choices(n_specs: int, *, seed: int, stream: str, indices: np.ndarray) -> np.ndarray:
    """Which of `n_specs` specs each image index gets (int64, uniform, per (seed, stream, index)).

    Query files do not store it: it is recomputed exactly from the seed and query name in
    their attributes.
    """
    return CounterRandom.for_stream(seed, stream, check_indices(len(indices), indices)).choice(n_specs)
