"""Building blocks of the objects: solid primitives collected in a `Model`, rotations, and
the per-instance random draws of the builders."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

ELLIPSOID, BOX, CYLINDER = 0, 1, 2


def normalized(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def rotation(axis, angle_deg: float) -> np.ndarray:
    """Rotation matrix about `axis` by `angle_deg` (right-hand rule)."""
    x, y, z = normalized(axis)
    a = math.radians(angle_deg)
    c, s, k = math.cos(a), math.sin(a), 1 - math.cos(a)
    return np.array(
        [
            [c + x * x * k, x * y * k - z * s, x * z * k + y * s],
            [y * x * k + z * s, c + y * y * k, y * z * k - x * s],
            [z * x * k - y * s, z * y * k + x * s, c + z * z * k],
        ]
    )


def frame(axis) -> np.ndarray:
    """A rotation whose third column is the unit vector along `axis`."""
    a = normalized(axis)
    helper = np.array([1.0, 0, 0]) if abs(a[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = normalized(helper - helper @ a * a)
    return np.stack([e1, np.cross(a, e1), a], axis=1)


def turn(vec, axis, angle_deg: float) -> np.ndarray:
    return rotation(axis, angle_deg) @ np.asarray(vec, float)


class Sampler:
    """Per-instance random draws; `shape_variation` scales each range about its middle."""

    def __init__(self, rng: np.random.Generator, variation: float):
        self.rng, self.variation = rng, variation

    def uniform(self, lo: float, hi: float) -> float:
        return 0.5 * (lo + hi) + 0.5 * (hi - lo) * self.variation * float(self.rng.uniform(-1.0, 1.0))

    def choice(self, options: Sequence):
        return options[int(self.rng.integers(len(options)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.uniform() < p)


class Model:
    """A list of primitives. Primitive i: kind, centre c and linear map M (local to world):
    it is ``c + M B`` for B the unit sphere, the cube [-1, 1]^3 or the cylinder
    x^2 + y^2 <= 1, |z| <= 1. M = R diag(h) for a rotated primitive of half sizes h; a
    shear gives parallelepipeds (swept wings)."""

    def __init__(self):
        self.kind: list[int] = []
        self.center: list[np.ndarray] = []
        self.linear: list[np.ndarray] = []
        self.albedo: list[float] = []

    def add(self, kind: int, center, linear, albedo: float = 0.7) -> None:
        self.kind.append(kind)
        self.center.append(np.asarray(center, float))
        self.linear.append(np.asarray(linear, float))
        self.albedo.append(float(albedo))

    def ellipsoid(self, center, half, rot=None, albedo: float = 0.7) -> None:
        self.add(ELLIPSOID, center, (np.eye(3) if rot is None else rot) @ np.diag(half), albedo)

    def box(self, center, half, rot=None, albedo: float = 0.7) -> None:
        self.add(BOX, center, (np.eye(3) if rot is None else rot) @ np.diag(half), albedo)

    def cylinder(self, center, radius: float, half_length: float, axis, albedo: float = 0.7) -> None:
        self.add(CYLINDER, center, frame(axis) @ np.diag([radius, radius, half_length]), albedo)

    def limb(self, p0, p1, radius: float, albedo: float = 0.7, overhang: float = 0.6) -> None:
        """An elongated ellipsoid from p0 to p1, reaching `overhang * radius` past each end."""
        p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
        length = float(np.linalg.norm(p1 - p0))
        self.ellipsoid((p0 + p1) / 2, (radius, radius, length / 2 + overhang * radius), frame(p1 - p0), albedo)

    def transform(self, rot: np.ndarray) -> None:
        """Rotate the whole model about the origin."""
        self.center = [rot @ c for c in self.center]
        self.linear = [rot @ m for m in self.linear]

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "kind": np.array(self.kind, np.int8),
            "center": np.array(self.center),
            "linear": np.array(self.linear),
            "albedo": np.array(self.albedo),
        }


CORNERS = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)


def extents(kind: np.ndarray, linear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half extents along the world axes [P, 3] and bounding-sphere radii [P] about the centres."""
    ellipsoid = np.sqrt((linear**2).sum(2))
    box = np.abs(linear).sum(2)
    cylinder = np.sqrt((linear[:, :, :2] ** 2).sum(2)) + np.abs(linear[:, :, 2])
    ext = np.select([kind[:, None] == ELLIPSOID, kind[:, None] == BOX], [ellipsoid, box], cylinder)
    sigma = np.linalg.svd(linear, compute_uv=False)[:, 0]
    corner = np.linalg.norm(np.einsum("pij,cj->pci", linear, CORNERS), axis=2).max(1)
    rim = np.linalg.svd(linear[:, :, :2], compute_uv=False)[:, 0] + np.linalg.norm(linear[:, :, 2], axis=1)
    radius = np.select([kind == ELLIPSOID, kind == BOX], [sigma, corner], rim)
    return ext, radius
