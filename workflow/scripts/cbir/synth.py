"""The embedded smallNORB surrogate: toy-like objects rendered procedurally.

Scenes
    Fifty objects: five categories (`cbir.norb.CATEGORIES`: 0 four-legged animal, 1 human
    figure, 2 airplane, 3 truck, 4 car) times ten instances. An instance is a union of solid
    primitives (ellipsoids, boxes, capped cylinders) laid out by its category's builder; the
    proportions, part sizes, pose and grey levels come from a random generator seeded with
    (renderer seed, category, instance), so an instance looks the same in every view and
    every run. Every object is centred on the origin (its bounding box's centre) and scaled
    so that the longest side of its bounding box (or 0.9 times its horizontal diagonal, if
    longer) is 2 * `EXTENT` times a per-instance size factor (1 +- `size_variation`).

Factor grid (as smallNORB)
    elevation index 0..8 = 30..70 degrees by 5; azimuth index 0..17 = 0..340 degrees by 20
    (the info file stores 2 * index, as smallNORB does); lighting 0..5 (`LIGHTINGS`: light
    directions, intensities and ambient level); camera 0 (left) and 1 (right) of a verged
    stereo pair whose optical centres are `stereo_baseline` apart. Azimuth turns the object
    (a turntable): lights stay fixed relative to the cameras.

Rendering
    A pinhole camera at `camera_distance` from the origin, looking at it, casts one ray per
    pixel. Each primitive is tested only inside the square of pixels its bounding sphere can
    cover, with the ray written in the primitive's unit frame, where the ray-surface
    equation's coefficients are low-order polynomials of the pixel coordinates. Geometry is
    cast once per (instance, elevation, azimuth, camera); the lightings only re-shade the
    stored normals (Lambert + Blinn-Phong), over a plain background. A 3-tap blur stands in
    for the lens and softens edges; optional Gaussian sensor noise is seeded per view.

Row order of a split written by `render_grid`/`synthesize`: category, instance (ascending),
elevation, azimuth, lighting, the last varying fastest; ``images[:, 0]`` is camera 0.

Difficulty: with the defaults, nearest neighbour on raw pixels (training split as gallery,
test images as queries) scores about 73% top-1 at 96 px and 76% at 32 px
(benchmarks/pixel_nn.py), close to the 80% reported for the real smallNORB. Trucks and cars
are the most confused pair, as in the real data. Speed: benchmarks/synth.py.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from cbir.norb import CATEGORIES, TEST_INSTANCES, TRAIN_INSTANCES, NorbSplit, write_split
from cbir.runlog import progress

log = logging.getLogger("cbir.synth")

ELEVATIONS_DEG = tuple(30 + 5 * i for i in range(9))
AZIMUTHS_DEG = tuple(20 * i for i in range(18))
INSTANCES = {"train": TRAIN_INSTANCES, "test": TEST_INSTANCES}

# Lighting conditions: (ambient, background gain, lights). A light is (azimuth offset from
# the camera direction in degrees, positive to the camera's right; elevation in degrees;
# intensity). They mimic smallNORB's six: different directions and overall brightness.
LIGHTINGS = (
    (0.30, 1.00, ((-45.0, 40.0, 0.85),)),
    (0.30, 1.00, ((45.0, 40.0, 0.85),)),
    (0.32, 0.94, ((0.0, 80.0, 0.80),)),
    (0.22, 0.86, ((-85.0, 15.0, 0.95),)),
    (0.45, 1.08, ((0.0, 25.0, 0.55),)),
    (0.25, 0.95, ((-60.0, 45.0, 0.50), (60.0, 45.0, 0.50))),
)

ELLIPSOID, BOX, CYLINDER = 0, 1, 2
SHININESS = 24.0
EXTENT = 0.86  # half of the largest bounding-box side of an object of size 1


class SynthConfigError(ValueError):
    """A renderer parameter (config `dataset.synthetic`) is invalid."""


@dataclass(frozen=True)
class RenderParams:
    """Renderer parameters; the config section `dataset.synthetic` without `seed`.

    Lengths are in the object's units: its bounding box's longest side is at most about 1.7.
    """

    camera_distance: float = 6.0  # from the object's centre to each camera
    field_of_view_deg: float = 22.0  # full horizontal (= vertical) angle of view
    stereo_baseline: float = 0.5  # distance between the two cameras' centres
    shape_variation: float = 0.85  # scales every per-instance random range of the builders (0: category means)
    size_variation: float = 0.12  # instance scale factor drawn in 1 +- size_variation
    background: float = 0.55  # background grey level, fraction of white (times the lighting's gain)
    specular: float = 0.18  # strength of the specular highlights
    blur: float = 0.18  # neighbour weight b of the separable blur kernel [b, 1 - 2b, b]
    noise: float = 1.5  # standard deviation of Gaussian sensor noise, grey levels

    def __post_init__(self) -> None:
        checks = {
            "camera_distance": self.camera_distance > 2.0,
            "field_of_view_deg": 1.0 <= self.field_of_view_deg <= 90.0,
            "stereo_baseline": 0.0 <= self.stereo_baseline <= 2.0,
            "shape_variation": 0.0 <= self.shape_variation <= 2.0,
            "size_variation": 0.0 <= self.size_variation < 0.5,
            "background": 0.0 <= self.background <= 1.0,
            "specular": 0.0 <= self.specular <= 1.0,
            "blur": 0.0 <= self.blur <= 1.0 / 3.0,
            "noise": 0.0 <= self.noise <= 50.0,
        }
        for name, ok in checks.items():
            if not ok:
                raise SynthConfigError(f"dataset.synthetic.{name} = {getattr(self, name)!r} is out of range")

    @classmethod
    def from_dict(cls, values: dict) -> RenderParams:
        """Build from a config dict; unknown keys are an error naming the key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SynthConfigError(
                f"unknown renderer parameter(s) {', '.join('dataset.synthetic.' + k for k in unknown)}; "
                f"known: seed, {', '.join(sorted(known))}"
            )
        return cls(**{k: float(v) for k, v in values.items()})


# --------------------------------------------------------------------------------------
# Primitives and object builders
# --------------------------------------------------------------------------------------


def _unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def _rotation(axis, angle_deg: float) -> np.ndarray:
    """Rotation matrix about `axis` by `angle_deg` (right-hand rule)."""
    x, y, z = _unit(axis)
    a = math.radians(angle_deg)
    c, s, k = math.cos(a), math.sin(a), 1 - math.cos(a)
    return np.array(
        [
            [c + x * x * k, x * y * k - z * s, x * z * k + y * s],
            [y * x * k + z * s, c + y * y * k, y * z * k - x * s],
            [z * x * k - y * s, z * y * k + x * s, c + z * z * k],
        ]
    )


def _frame(axis) -> np.ndarray:
    """A rotation whose third column is the unit vector along `axis`."""
    a = _unit(axis)
    helper = np.array([1.0, 0, 0]) if abs(a[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = _unit(helper - helper @ a * a)
    return np.stack([e1, np.cross(a, e1), a], axis=1)


def _turn(vec, axis, angle_deg: float) -> np.ndarray:
    return _rotation(axis, angle_deg) @ np.asarray(vec, float)


class _Sampler:
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
        self.add(CYLINDER, center, _frame(axis) @ np.diag([radius, radius, half_length]), albedo)

    def limb(self, p0, p1, radius: float, albedo: float = 0.7, overhang: float = 0.6) -> None:
        """An elongated ellipsoid from p0 to p1, reaching `overhang * radius` past each end."""
        p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
        length = float(np.linalg.norm(p1 - p0))
        self.ellipsoid((p0 + p1) / 2, (radius, radius, length / 2 + overhang * radius), _frame(p1 - p0), albedo)

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


def _extents(kind: np.ndarray, linear: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _animal(s: _Sampler, m: Model, tone: float) -> None:
    """Four-legged animal: body, four legs, neck, head (snout, ears), tail. x forward, z up."""
    length, height, width = s.uniform(0.75, 1.35), s.uniform(0.28, 0.5), s.uniform(0.24, 0.42)
    leg, leg_r = s.uniform(0.22, 0.75), s.uniform(0.045, 0.085)
    body_z = leg + 0.3 * height
    m.ellipsoid((0, 0, body_z), (length / 2, width / 2, height / 2), _rotation((0, 1, 0), s.uniform(-10, 10)), tone)
    stride = s.uniform(0, 28)
    for sx in (1, -1):
        for sy in (1, -1):
            hip = np.array([sx * (0.36 * length), sy * (0.5 * width - leg_r), body_z - 0.15 * height])
            swing = stride * sx * sy
            foot = hip + hip[2] * np.array([math.sin(math.radians(swing)), 0.12 * sy, -math.cos(math.radians(swing))])
            m.limb(hip, foot, leg_r, tone * 0.95, overhang=0.3)
    neck_base = np.array([0.38 * length, 0, body_z + 0.15 * height])
    neck_up, neck_len, neck_r = s.uniform(10, 75), s.uniform(0.12, 0.65), s.uniform(0.06, 0.11)
    yaw = s.uniform(-35, 35)
    direction = _turn(_turn((1, 0, 0), (0, 1, 0), -neck_up), (0, 0, 1), yaw)
    neck_top = neck_base + neck_len * direction
    m.limb(neck_base, neck_top, neck_r, tone)
    head_rot = _rotation((0, 0, 1), yaw) @ _rotation((0, 1, 0), s.uniform(-10, 40))
    head_half = np.array([s.uniform(0.09, 0.19), s.uniform(0.06, 0.11), s.uniform(0.06, 0.11)])
    head = neck_top + head_rot @ np.array([0.5 * head_half[0], 0, 0.2 * head_half[2]])
    m.ellipsoid(head, head_half, head_rot, tone)
    if s.chance(0.6):  # a snout that lengthens the head
        snout = head + head_rot @ np.array([head_half[0] * 1.1, 0, -0.25 * head_half[2]])
        m.ellipsoid(snout, head_half * np.array([0.8, 0.6, 0.55]), head_rot, tone * 0.9)
    if s.chance(0.5):  # ears
        ear = s.uniform(0.04, 0.09)
        for side in (1, -1):
            pos = head + head_rot @ np.array([-0.3 * head_half[0], side * 0.7 * head_half[1], 0.9 * head_half[2]])
            m.ellipsoid(pos, (ear * 0.5, ear * 0.35, ear), head_rot, tone * 0.85)
    tail_base = np.array([-0.47 * length, 0, body_z + 0.15 * height])
    tail_dir = _turn((-1, 0, 0), (0, 1, 0), s.uniform(-50, 70))
    m.limb(tail_base, tail_base + s.uniform(0.08, 0.45) * tail_dir, s.uniform(0.02, 0.05), tone * 0.9)


def _human(s: _Sampler, m: Model, tone: float) -> None:
    """Human figure: pelvis, torso, head, two-segment arms and legs in a random pose."""
    leg_len, torso_h = s.uniform(0.72, 0.95), s.uniform(0.48, 0.64)
    shoulder, depth, head_r = s.uniform(0.17, 0.27), s.uniform(0.08, 0.13), s.uniform(0.095, 0.135)
    hip_w, arm_r, leg_r = s.uniform(0.1, 0.16), s.uniform(0.035, 0.055), s.uniform(0.05, 0.075)
    lean = _rotation((0, 1, 0), s.uniform(-12, 18)) @ _rotation((0, 0, 1), s.uniform(-20, 20))
    pelvis = np.array([0, 0, leg_len])
    m.ellipsoid(pelvis, (depth, hip_w + leg_r * 0.5, 0.1), lean, tone * 0.9)
    torso_c = pelvis + lean @ np.array([0, 0, torso_h / 2])
    torso_half = (depth, shoulder * 0.88, torso_h / 2 * 1.05)
    if s.chance(0.35):  # armoured / boxy figure
        m.box(torso_c, (depth, shoulder * 0.8, torso_h / 2 * 0.9), lean, tone)
    else:
        m.ellipsoid(torso_c, torso_half, lean, tone)
    neck_top = pelvis + lean @ np.array([0, 0, torso_h + 0.05])
    m.ellipsoid(
        neck_top + lean @ np.array([0, 0, head_r * 0.9]), (head_r * 0.95, head_r * 0.9, head_r * 1.1), lean, tone
    )
    if s.chance(0.3):  # hat or helmet
        m.ellipsoid(
            neck_top + lean @ np.array([0, 0, head_r * 1.6]),
            (head_r * 1.35, head_r * 1.35, head_r * 0.45),
            lean,
            tone * 0.7,
        )
    upper, fore = s.uniform(0.26, 0.34), s.uniform(0.24, 0.32)
    for side in (1, -1):
        sh = pelvis + lean @ np.array([0, side * shoulder, torso_h - 0.05])
        down = lean @ np.array([0.0, 0.0, -1.0])
        d1 = _turn(
            _turn(down, lean @ np.array([1.0, 0, 0]), side * s.uniform(8, 85)),
            lean @ np.array([0, 1.0, 0]),
            -s.uniform(-40, 110),
        )
        elbow = sh + upper * d1
        d2 = _turn(d1, lean @ np.array([0, 1.0, 0]), -s.uniform(0, 100))
        hand = elbow + fore * d2
        m.limb(sh, elbow, arm_r, tone * 0.95)
        m.limb(elbow, hand, arm_r * 0.9, tone * 0.95)
        m.ellipsoid(hand + 0.04 * d2, (arm_r * 1.3,) * 3, None, tone * 0.85)
    stride = s.uniform(0, 35)
    knee_bend = s.uniform(0, 55)
    for side in (1, -1):
        hip = pelvis + np.array([0, side * hip_w * 0.7, -0.04])
        d1 = _turn(_turn((0, 0, -1.0), (1, 0, 0), side * s.uniform(0, 18)), (0, 1, 0), -side * stride)
        knee = hip + leg_len * 0.5 * d1
        d2 = _turn(d1, (0, 1, 0), knee_bend * (0.5 + 0.5 * side))
        ankle = knee + leg_len * 0.5 * d2
        m.limb(hip, knee, leg_r, tone * 0.85)
        m.limb(knee, ankle, leg_r * 0.85, tone * 0.85)
        m.ellipsoid(ankle + np.array([0.05, 0, -0.02]), (0.09, leg_r * 0.9, 0.04), None, tone * 0.7)


def _wing(m: Model, root, span: float, chord: float, thick: float, sweep: float, dihedral: float, side: int, tone):
    """One wing or tail plane from `root` outwards: a thin sheared box, a parallelogram in
    plan swept back by `sweep` degrees."""
    span_dir = _turn((0, side, 0), (1, 0, 0), side * dihedral)
    chord_dir = np.array([1.0, 0, 0])
    normal = np.cross(chord_dir, span_dir)
    back = -math.tan(math.radians(sweep)) * span / 2 * chord_dir
    linear = np.stack([chord_dir * chord / 2, span_dir * span / 2 + back, normal * thick / 2], axis=1)
    m.add(BOX, np.asarray(root, float) + span_dir * span / 2 + back, linear, tone)


def _wings(m: Model, root, span, chord, thick, sweep, dihedral, tone, elliptic: bool) -> None:
    """A pair of wings, or one elliptic wing through the fuselage."""
    if elliptic:
        m.ellipsoid(root, (chord / 2 * 1.2, span, thick), None, tone)
        return
    for side in (1, -1):
        _wing(m, np.asarray(root, float) + (0, side * span * 0.01, 0), span, chord, thick, sweep, dihedral, side, tone)


def _airplane(s: _Sampler, m: Model, tone: float) -> None:
    """Airplane of one of three styles (airliner, fighter, propeller plane): fuselage
    (cylinder with nose and tail cones), wings, tail planes, fin(s), engines or propeller;
    resting with a small pitch and roll."""
    style = s.choice(("airliner", "airliner", "fighter", "propeller"))
    half_len, radius = s.uniform(0.55, 0.75), s.uniform(0.05, 0.1)
    tail_up = s.uniform(0.0, 0.06)
    nose = s.uniform(0.15, 0.4) * half_len * (1.6 if style == "fighter" else 1.0)
    m.cylinder((0, 0, 0), radius, half_len * 0.55, (1, 0, 0), tone)
    m.ellipsoid((half_len * 0.55, 0, 0), (nose, radius, radius), None, tone)
    tail_len = s.uniform(0.3, 0.45) * half_len
    tail_pitch = -math.degrees(math.atan2(tail_up, tail_len))
    m.ellipsoid(
        (-half_len * 0.55, 0, tail_up), (tail_len, radius * 0.95, radius * 0.95), _rotation((0, 1, 0), tail_pitch), tone
    )
    span, chord = s.uniform(0.45, 0.85), s.uniform(0.12, 0.3)
    sweep, dihedral = s.uniform(-2, 40), s.uniform(-4, 10)
    if style == "fighter":  # short, deep, strongly swept wings
        span, chord, sweep = span * 0.6, chord * 1.6, 35 + sweep * 0.6
    elif style == "propeller":
        sweep = sweep * 0.15
    wing_x, wing_z = s.uniform(-0.15, 0.12), s.choice((-0.6, 0.0, 0.6)) * radius
    thick = s.uniform(0.018, 0.035)
    elliptic = s.chance(0.6) and style == "propeller"
    _wings(m, (wing_x, 0, wing_z), span, chord, thick, sweep, dihedral, tone, elliptic)
    tail_x = -half_len * 0.55 - tail_len * 0.55
    tail_span, tail_chord = s.uniform(0.13, 0.3), s.uniform(0.08, 0.15)
    _wings(m, (tail_x, 0, tail_up), tail_span, tail_chord, thick * 0.8, sweep * 0.8 + 5, dihedral, tone, elliptic)
    fin_h, fin_chord = s.uniform(0.12, 0.28), s.uniform(0.1, 0.2)
    fin_sweep = s.uniform(10, 40)
    twin = style == "fighter" and s.chance(0.6)
    for cant in (-20, 20) if twin else (0,):
        rot = _rotation((1, 0, 0), cant)
        back = -math.tan(math.radians(fin_sweep)) * fin_h / 2
        linear = rot @ np.array([[fin_chord / 2, 0, back], [0, thick * 0.4, 0], [0, 0, fin_h / 2]])
        base = np.array([tail_x - 0.02, math.copysign(radius * 0.6, cant) if cant else 0.0, tail_up + radius * 0.5])
        m.add(BOX, base + rot @ np.array([back, 0, fin_h / 2]), linear, tone)
    engines = {"airliner": s.choice((2, 2, 4)), "fighter": 0, "propeller": s.choice((0, 2))}[style]
    eng_r, eng_len = s.uniform(0.035, 0.06), s.uniform(0.07, 0.12)
    positions = {0: (), 2: (0.38,), 4: (0.3, 0.62)}[engines]
    for frac in positions:
        for side in (1, -1):
            span_dir = _turn((0, side, 0), (1, 0, 0), side * dihedral)
            back = -math.tan(math.radians(sweep)) * span * frac
            at = np.array([wing_x + back, 0, wing_z]) + span_dir * span * frac
            m.cylinder(at + np.array([0.04, 0, -eng_r - thick]), eng_r, eng_len, (1, 0, 0), tone * 0.8)
    if style == "propeller":
        blade = s.uniform(0.1, 0.16)
        m.box((half_len * 0.55 + nose, 0, 0), (0.012, blade, 0.018), _rotation((1, 0, 0), s.uniform(0, 90)), tone * 0.6)
    m.transform(_rotation((1, 0, 0), s.uniform(-8, 8)) @ _rotation((0, 1, 0), -s.uniform(-3, 12)))


def _wheels(m: Model, xs, width: float, radius: float, half_w: float) -> None:
    for x in xs:
        for side in (1, -1):
            m.cylinder((x, side * (width - half_w * 0.3), radius), radius, half_w, (0, 1, 0), 0.3)


def _truck(s: _Sampler, m: Model, tone: float) -> None:
    """Truck: cab (with or without a hood), a cargo body of one of several kinds, chassis, 4-6 wheels."""
    wheel, width = s.uniform(0.1, 0.14), s.uniform(0.19, 0.25)
    half_len = s.uniform(0.62, 0.85)
    clear = wheel * s.uniform(0.9, 1.25)
    cab_len, cab_h = s.uniform(0.24, 0.36), s.uniform(0.28, 0.42)
    hood = s.uniform(0.14, 0.26) if s.chance(0.5) else 0.0
    m.box((0, 0, clear), (half_len * 0.98, width * 0.85, 0.04), None, tone * 0.6)
    front = half_len
    if hood:
        m.box((front - hood / 2, 0, clear + cab_h * 0.3), (hood / 2, width * 0.9, cab_h * 0.3), None, tone)
    cab_x = front - hood - cab_len / 2
    m.box((cab_x, 0, clear + cab_h / 2), (cab_len / 2, width, cab_h / 2), None, tone)
    cargo_front = front - hood - cab_len - s.uniform(0.015, 0.05)
    cargo_len = cargo_front + half_len
    cargo_x = (cargo_front - half_len) / 2
    kind = s.choice(("box", "box", "bed", "tank", "dump", "flatbed"))
    if kind == "box":
        h = cab_h * s.uniform(1.0, 1.45)
        m.box((cargo_x, 0, clear + h / 2), (cargo_len / 2, width * 1.03, h / 2), None, tone * s.uniform(0.85, 1.15))
    elif kind in ("bed", "dump"):
        h = cab_h * (s.uniform(0.35, 0.55) if kind == "bed" else s.uniform(0.6, 0.85))
        wall = 0.02
        m.box((cargo_x, 0, clear + 0.05), (cargo_len / 2, width, 0.03), None, tone)
        for side in (1, -1):
            m.box((cargo_x, side * (width - wall), clear + h / 2), (cargo_len / 2, wall, h / 2), None, tone)
        m.box((-half_len + wall, 0, clear + h / 2), (wall, width, h / 2), None, tone)
        m.box((cargo_front - wall, 0, clear + h / 2), (wall, width, h / 2), None, tone)
    elif kind == "tank":
        r = width * s.uniform(0.85, 1.05)
        m.cylinder((cargo_x, 0, clear + r + 0.02), r, cargo_len / 2, (1, 0, 0), tone * 1.1)
    else:  # flatbed carrying a crate
        m.box((cargo_x, 0, clear + 0.05), (cargo_len / 2, width, 0.03), None, tone)
        crate = s.uniform(0.1, 0.2)
        m.box(
            (cargo_x + s.uniform(-0.15, 0.15), 0, clear + 0.08 + crate),
            (cargo_len * 0.3, width * 0.8, crate),
            None,
            tone * 0.8,
        )
    axles = [front - hood * 0.5 - 0.12, -half_len + 0.22]
    if s.chance(0.5):
        axles.append(-half_len + 0.22 + 2.3 * wheel)
    _wheels(m, axles, width, wheel, s.uniform(0.035, 0.055))


def _car(s: _Sampler, m: Model, tone: float) -> None:
    """Car: rounded body (box plus ellipsoid), a cabin whose style sets the silhouette, 4 wheels."""
    wheel, width = s.uniform(0.085, 0.12), s.uniform(0.19, 0.25)
    half_len = s.uniform(0.5, 0.68)
    clear = wheel * s.uniform(0.35, 0.65)
    body_h = s.uniform(0.14, 0.24)
    body_z = clear + body_h / 2
    # Side profile of a stadium: a box between two cylinders (rounded bumpers).
    end = body_h / 2
    m.box((0, 0, body_z), (half_len - end, width, body_h / 2), None, tone)
    for side in (1, -1):
        m.cylinder((side * (half_len - end), 0, body_z), end, width * 0.98, (0, 1, 0), tone)
    style = s.choice(("sedan", "sedan", "hatchback", "suv", "van", "sports"))
    cab_x = s.uniform(-0.12, 0.05) * half_len
    top = clear + body_h
    glass = tone * 0.7
    if style in ("sedan", "sports", "hatchback"):
        h = s.uniform(0.13, 0.2) * (0.7 if style == "sports" else 1.0)
        cab_len = s.uniform(0.5, 0.7) * half_len
        if style == "hatchback":
            cab_x = -half_len + cab_len * 1.05
        m.ellipsoid((cab_x, 0, top - 0.02), (cab_len, width * 0.88, h), None, glass)
    elif style == "suv":
        h = s.uniform(0.15, 0.22)
        back = -half_len * 0.9
        front = cab_x + s.uniform(0.2, 0.35)
        m.box(((front + back) / 2, 0, top + h / 2 - 0.02), ((front - back) / 2, width * 0.9, h / 2), None, glass)
    else:  # van: one tall box over most of the length
        h = s.uniform(0.18, 0.28)
        back, front = -half_len * 0.95, half_len * s.uniform(0.35, 0.6)
        m.box(((front + back) / 2, 0, top + h / 2 - 0.02), ((front - back) / 2, width * 0.95, h / 2), None, tone)
        m.ellipsoid((front, 0, top + h * 0.35), (0.12, width * 0.92, h * 0.55), None, glass)
    axle = half_len * s.uniform(0.58, 0.72)
    _wheels(m, (axle, -axle), width, wheel, s.uniform(0.03, 0.045))


BUILDERS = (_animal, _human, _airplane, _truck, _car)


def build_instance(
    category: int, instance: int, seed: int = 0, params: RenderParams | None = None
) -> dict[str, np.ndarray]:
    """The primitives of one object, centred and scaled, as arrays (see `Model`).

    Also holds ``A`` [P, 3, 3] (world -> unit frame, the inverse of ``linear``) and
    ``radius`` [P] (bounding sphere of each primitive about its centre).
    """
    params = params or RenderParams()
    if not 0 <= category < len(CATEGORIES):
        raise ValueError(f"category {category} outside 0..{len(CATEGORIES) - 1}")
    if not 0 <= instance <= 9:
        raise ValueError(f"instance {instance} outside 0..9")
    rng = np.random.default_rng([seed, 0, category, instance])
    sampler = _Sampler(rng, params.shape_variation)
    model = Model()
    tone = float(rng.uniform(0.5, 0.9))
    size = 1.0 + params.size_variation * float(rng.uniform(-1, 1))
    BUILDERS[category](sampler, model, tone)
    prims = model.arrays()
    ext, _ = _extents(prims["kind"], prims["linear"])
    lo, hi = (prims["center"] - ext).min(0), (prims["center"] + ext).max(0)
    half = 0.5 * (hi - lo)
    # The turntable shows every horizontal diagonal: wide, long objects must fit too.
    scale = EXTENT * size / max(half.max(), 0.9 * math.hypot(half[0], half[1]))
    prims["center"] = (prims["center"] - (lo + hi) / 2) * scale
    prims["linear"] = prims["linear"] * scale
    prims["A"] = np.linalg.inv(prims["linear"])
    prims["radius"] = _extents(prims["kind"], prims["linear"])[1]
    return prims


# --------------------------------------------------------------------------------------
# Cameras and ray casting
# --------------------------------------------------------------------------------------


def camera_frames(elevations_deg, azimuths_deg, params: RenderParams) -> dict[str, np.ndarray]:
    """Cameras for every (elevation, azimuth, camera) with camera fastest: origin, forward,
    right, up [V, 3] (world, z up) and the turntable azimuth [V] in radians."""
    e = np.radians(np.repeat(np.asarray(elevations_deg, float), len(azimuths_deg) * 2))
    a = np.radians(np.tile(np.repeat(np.asarray(azimuths_deg, float), 2), len(elevations_deg)))
    cam = np.tile([-0.5, 0.5], len(e) // 2)
    toward = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], 1)
    right0 = np.stack([-np.sin(a), np.cos(a), np.zeros_like(a)], 1)
    origin = params.camera_distance * toward + cam[:, None] * params.stereo_baseline * right0
    forward = -origin / np.linalg.norm(origin, axis=1, keepdims=True)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right, axis=1, keepdims=True)
    up = np.cross(right, forward)
    return {"origin": origin, "forward": forward, "right": right, "up": up, "azimuth": a, "elevation": e}


def _dot_poly(X, Y, u, v, comps):
    """Dot product of two vectors affine in the pixel coordinates, X = X0 + u Xu + v Xv
    (each [V, 3]), restricted to `comps`; returns a float32 [V, s, s] grid.

    u varies along columns, v along rows ([V, s] each).
    """
    X0, Xu, Xv = (x[:, comps] for x in X)
    Y0, Yu, Yv = (y[:, comps] for y in Y)

    def d(p, q):
        return (p * q).sum(1)[:, None]

    c00, cu, cv = d(X0, Y0), d(X0, Yu) + d(Xu, Y0), d(X0, Yv) + d(Xv, Y0)
    cuu, cuv, cvv = d(Xu, Yu), d(Xu, Yv) + d(Xv, Yu), d(Xv, Yv)
    along_u = (c00 + u * (cu + cuu * u)).astype(np.float32)[:, None, :]
    slope = (cv + cuv * u).astype(np.float32)[:, None, :]
    along_v = (v * cvv).astype(np.float32)[:, :, None]
    vv = v.astype(np.float32)[:, :, None]
    return along_u + (slope + along_v) * vv


def _affine(X, k, u, v):
    """Component k of X = X0 + u Xu + v Xv on the [V, s, s] pixel grid (float32)."""
    X0, Xu, Xv = X
    return (X0[:, k, None] + Xu[:, k, None] * u).astype(np.float32)[:, None, :] + (Xv[:, k, None] * v).astype(
        np.float32
    )[:, :, None]


def _hit_ellipsoid(S, D, u, v):
    a = _dot_poly(D, D, u, v, slice(None))
    b = _dot_poly(S, D, u, v, slice(None))
    c = _dot_poly(S, S, u, v, slice(None)) - 1.0
    disc = b * b - a * c
    tau = (-b - np.sqrt(np.maximum(disc, 0))) / a
    return np.where(disc >= 0, tau, np.inf)


def _hit_box(S, D, u, v):
    near = far = None
    for k in range(3):
        o, d = _affine(S, k, u, v), _affine(D, k, u, v)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / d
        mid, half = -o * inv, np.abs(inv)
        lo, hi = mid - half, mid + half
        near = lo if near is None else np.maximum(near, lo)
        far = hi if far is None else np.minimum(far, hi)
    return np.where(near <= far, near, np.inf)


def _hit_cylinder(S, D, u, v):
    xy = slice(0, 2)
    a = _dot_poly(D, D, u, v, xy)
    b = _dot_poly(S, D, u, v, xy)
    c = _dot_poly(S, S, u, v, xy) - 1.0
    disc = b * b - a * c
    with np.errstate(divide="ignore", invalid="ignore"):
        side = (-b - np.sqrt(np.maximum(disc, 0))) / a
    oz, dz = _affine(S, 2, u, v), _affine(D, 2, u, v)
    side_ok = (disc >= 0) & (np.abs(oz + side * dz) <= 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cap = -(np.sign(dz) + oz) / dz
    cx = _affine(S, 0, u, v) + cap * _affine(D, 0, u, v)
    cy = _affine(S, 1, u, v) + cap * _affine(D, 1, u, v)
    cap_ok = cx * cx + cy * cy <= 1.0
    return np.where(side_ok, side, np.where(cap_ok, cap, np.inf))


HIT = {ELLIPSOID: _hit_ellipsoid, BOX: _hit_box, CYLINDER: _hit_cylinder}


def pixel_coords(size: int, params: RenderParams) -> np.ndarray:
    """Image-plane coordinate of each pixel centre at unit depth, left to right (= top to bottom, negated)."""
    tan_half = math.tan(math.radians(params.field_of_view_deg) / 2)
    return ((np.arange(size) + 0.5) * 2.0 / size - 1.0) * tan_half


def cast(prims: dict, cams: dict, size: int, params: RenderParams) -> dict[str, np.ndarray]:
    """Cast one ray per pixel of every view against the primitives.

    Returns ``depth`` [V, H, W] float32 (distance along the optical axis, inf on background),
    ``prim`` [V, H, W] int16 (visible primitive, -1 on background) and, for the hit pixels in
    flat order ``index`` [M], the unit world normal ``normal`` [M, 3] and ``albedo`` [M].
    """
    n_views, n_prims = len(cams["origin"]), len(prims["kind"])
    grid = pixel_coords(size, params)
    tan_half = math.tan(math.radians(params.field_of_view_deg) / 2)
    A, center = prims["A"], prims["center"]
    rel = cams["origin"][:, None, :] - center[None]  # camera relative to primitive, [V, P, 3]
    start = np.einsum("pij,vpj->vpi", A, rel)  # camera centre in each unit frame
    Df, Dr, Du = (np.einsum("pij,vj->vpi", A, cams[k]) for k in ("forward", "right", "up"))
    t0 = -np.einsum("vpj,vj->vp", rel, cams["forward"])  # depth of each primitive's centre
    # Rays start at the depth of the primitive's centre: small coefficients, no cancellation.
    Q = start + t0[..., None] * Df
    Qr, Qu = t0[..., None] * Dr, t0[..., None] * Du
    x = -np.einsum("vpj,vj->vp", rel, cams["right"]) / t0
    y = -np.einsum("vpj,vj->vp", rel, cams["up"]) / t0
    half_px = size / 2 / tan_half
    col, row = x * half_px + size / 2 - 0.5, -y * half_px + size / 2 - 0.5
    rho = prims["radius"][None]
    rad_px = rho / np.sqrt(np.maximum(t0**2 - rho**2, 1e-6)) * half_px * 1.05 + 1.0
    depth = np.full(n_views * size * size, np.inf, np.float32)
    prim = np.full(n_views * size * size, -1, np.int16)
    view_base = (np.arange(n_views) * size * size)[:, None, None]
    steps = np.arange(size)
    for p in range(n_prims):
        s = int(min(size, 2 * math.ceil(rad_px[:, p].max()) + 1))
        ox = np.clip(np.round(col[:, p] - (s - 1) / 2), 0, size - s).astype(np.int64)
        oy = np.clip(np.round(row[:, p] - (s - 1) / 2), 0, size - s).astype(np.int64)
        cols, rows = ox[:, None] + steps[:s], oy[:, None] + steps[:s]
        u, v = grid[cols], -grid[rows]
        tau = HIT[int(prims["kind"][p])]((Q[:, p], Qr[:, p], Qu[:, p]), (Df[:, p], Dr[:, p], Du[:, p]), u, v)
        t = tau + t0[:, p, None, None].astype(np.float32)
        flat = view_base + rows[:, :, None] * size + cols[:, None, :]
        current = depth[flat]
        closer = t < current
        depth[flat] = np.where(closer, t, current)
        prim[flat[closer]] = p
    index = np.flatnonzero(prim >= 0)
    p = prim[index].astype(np.int64)
    view, pix = np.divmod(index, size * size)
    r_i, c_i = np.divmod(pix, size)
    t = depth[index].astype(np.float64)
    direction = cams["forward"][view] + grid[c_i, None] * cams["right"][view] - grid[r_i, None] * cams["up"][view]
    local = np.einsum("mij,mj->mi", A[p], cams["origin"][view] + t[:, None] * direction - center[p])
    kind = prims["kind"][p]
    normal_local = local.copy()
    axis = np.argmax(np.abs(local), 1)  # boxes: the face whose coordinate is largest
    face = np.zeros_like(local)
    face[np.arange(len(p)), axis] = np.sign(local[np.arange(len(p)), axis])
    normal_local[kind == BOX] = face[kind == BOX]
    cyl = kind == CYLINDER
    on_cap = np.abs(local[:, 2]) > np.hypot(local[:, 0], local[:, 1])
    normal_local[cyl & on_cap] = np.stack([0 * local[:, 2], 0 * local[:, 2], np.sign(local[:, 2])], 1)[cyl & on_cap]
    normal_local[cyl & ~on_cap, 2] = 0.0
    normal = np.einsum("mji,mj->mi", A[p], normal_local)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    return {
        "depth": depth.reshape(n_views, size, size),
        "prim": prim.reshape(n_views, size, size),
        "index": index,
        "normal": normal,
        "albedo": prims["albedo"][p],
    }


# --------------------------------------------------------------------------------------
# Shading
# --------------------------------------------------------------------------------------


def background_level(lighting: int, params: RenderParams) -> float:
    """Background grey level (0..255, before blur and noise) under `lighting`."""
    return 255.0 * min(1.0, params.background * LIGHTINGS[lighting][1])


def shade(geom: dict, cams: dict, lightings: Sequence[int], size: int, params: RenderParams) -> np.ndarray:
    """Float images [L, V, H, W] (0..255 scale) of the cast views under each lighting."""
    index, normal = geom["index"], geom["normal"]
    view = index // (size * size)
    # Normals in the rig frame (turntable azimuth removed): lights are fixed there.
    a = cams["azimuth"][view]
    ca, sa = np.cos(a), np.sin(a)
    n = np.stack([ca * normal[:, 0] + sa * normal[:, 1], -sa * normal[:, 0] + ca * normal[:, 1], normal[:, 2]], 1)
    n = n.astype(np.float32)
    e = cams["elevation"][view]
    to_eye = np.stack([np.cos(e), 0 * e, np.sin(e)], 1)
    albedo = geom["albedo"].astype(np.float32)
    n_views = len(cams["origin"])
    out = np.empty((len(lightings), n_views * size * size), np.float32)
    for i, lighting in enumerate(lightings):
        ambient, _, lights = LIGHTINGS[lighting]
        diffuse = np.full(len(index), ambient, np.float32)
        spec = np.zeros(len(index), np.float32)
        for az, el, power in lights:
            az, el = math.radians(az), math.radians(el)
            light = np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
            diffuse += power * np.maximum(n @ light.astype(np.float32), 0)
            halfway = to_eye + light
            halfway /= np.linalg.norm(halfway, axis=1, keepdims=True)
            spec += power * np.maximum((n * halfway.astype(np.float32)).sum(1), 0) ** SHININESS
        out[i] = background_level(lighting, params)
        out[i, index] = 255.0 * np.minimum(albedo * diffuse + params.specular * spec, 1.0)
    return out.reshape(len(lightings), n_views, size, size)


def _blur(images: np.ndarray, weight: float) -> np.ndarray:
    """Separable 3-tap blur [w, 1 - 2w, w] over the last two axes, edges replicated (in place)."""
    if weight == 0:
        return images
    for axis in (-1, -2):
        x = np.moveaxis(images, axis, -1)
        left = np.concatenate([x[..., :1], x[..., :-1]], -1)
        right = np.concatenate([x[..., 1:], x[..., -1:]], -1)
        x *= 1 - 2 * weight
        x += weight * (left + right)
    return images


# --------------------------------------------------------------------------------------
# Views, grids and files
# --------------------------------------------------------------------------------------


def render_views(
    category: int,
    instance: int,
    elevations: Sequence[int] = range(9),
    azimuths: Sequence[int] = range(18),
    lightings: Sequence[int] = range(6),
    image_size: int = 96,
    seed: int = 0,
    params: RenderParams | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one object over a factor grid (indices, see module docstring).

    Returns uint8 images [E, A, L, 2, H, W] and the object masks [E, A, 2, H, W] (pixels
    whose ray hits the object; the same under every lighting). A view's pixels do not depend
    on which other views are rendered.
    """
    params = params or RenderParams()
    elevations, azimuths, lightings = list(elevations), list(azimuths), list(lightings)
    for name, values, n in (("elevation", elevations, 9), ("azimuth", azimuths, 18), ("lighting", lightings, 6)):
        if not values or min(values) < 0 or max(values) >= n:
            raise ValueError(f"{name} indices {values} must be a non-empty list within 0..{n - 1}")
    prims = build_instance(category, instance, seed, params)
    cams = camera_frames([ELEVATIONS_DEG[i] for i in elevations], [AZIMUTHS_DEG[i] for i in azimuths], params)
    geom = cast(prims, cams, image_size, params)
    images = _blur(shade(geom, cams, lightings, image_size, params), params.blur)
    if params.noise > 0:
        views = [(e, a, c) for e in elevations for a in azimuths for c in (0, 1)]
        for v, (e, a, c) in enumerate(views):
            rng = np.random.default_rng([seed, 1, category, instance, e, a, c])
            noise = rng.standard_normal((len(LIGHTINGS), image_size, image_size), np.float32)
            images[:, v] += params.noise * noise[lightings]
    images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
    shape = (len(lightings), len(elevations), len(azimuths), 2, image_size, image_size)
    images = images.reshape(shape).transpose(1, 2, 0, 3, 4, 5)
    masks = (geom["prim"] >= 0).reshape(shape[1:])
    return np.ascontiguousarray(images), masks


def _render_task(args) -> np.ndarray:
    category, instance, elevations, azimuths, lightings, image_size, seed, params = args
    return render_views(category, instance, elevations, azimuths, lightings, image_size, seed, params)[0]


def render_grid(
    instances: Sequence[int] = TRAIN_INSTANCES,
    categories: Sequence[int] = range(len(CATEGORIES)),
    elevations: Sequence[int] = range(9),
    azimuths: Sequence[int] = range(18),
    lightings: Sequence[int] = range(6),
    image_size: int = 96,
    seed: int = 0,
    threads: int = 1,
    desc: str = "render",
    **renderer_params,
) -> NorbSplit:
    """A split over a factor grid (indices), rows in the documented order.

    `threads` > 1 renders objects in that many worker processes; the result is the same.
    """
    params = RenderParams.from_dict(renderer_params)
    instances, categories = sorted(instances), list(categories)
    elevations, azimuths, lightings = list(elevations), list(azimuths), list(lightings)
    tasks = [(c, i, elevations, azimuths, lightings, image_size, seed, params) for c in categories for i in instances]
    per_object = len(elevations) * len(azimuths) * len(lightings)
    images = np.empty((len(tasks) * per_object, 2, image_size, image_size), np.uint8)

    def store(k: int, views: np.ndarray) -> None:
        images[k * per_object : (k + 1) * per_object] = views.reshape(per_object, 2, image_size, image_size)

    bar = progress(total=len(tasks), desc=desc, unit="object")
    if threads > 1 and len(tasks) > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(threads, len(tasks)), mp_context=ctx) as pool:
            for k, views in enumerate(pool.map(_render_task, tasks)):
                store(k, views)
                bar.update()
    else:
        for k, task in enumerate(tasks):
            store(k, _render_task(task))
            bar.update()
    bar.close()
    grid = np.array([(e, 2 * a, li) for e in elevations for a in azimuths for li in lightings], np.int64)
    labels = np.repeat(np.repeat(categories, len(instances)), per_object)
    info = np.concatenate([np.column_stack([np.full(per_object, i), grid]) for _ in categories for i in instances])
    return NorbSplit(images=images, labels=labels.astype(np.int64), info=info.astype(np.int64))


def synthesize(
    out_dir: str | os.PathLike,
    seed: int = 0,
    threads: int = 1,
    image_size: int = 96,
    *,
    elevations: Sequence[int] = range(9),
    azimuths: Sequence[int] = range(18),
    lightings: Sequence[int] = range(6),
    **renderer_params,
) -> list[Path]:
    """Render both splits and write the six official smallNORB files (plain, not gzipped)
    into `out_dir`; returns their paths, training first.

    The defaults are the full smallNORB grid at 96 px (24300 pairs per split); smaller
    grids (factor indices) and sizes are for tests. `renderer_params`: see `RenderParams`.
    """
    params = RenderParams.from_dict(renderer_params)
    log.info("rendering the smallNORB surrogate: seed %d, %d px, %s", seed, image_size, asdict(params))
    paths = []
    for split in ("train", "test"):
        data = render_grid(
            INSTANCES[split],
            elevations=elevations,
            azimuths=azimuths,
            lightings=lightings,
            image_size=image_size,
            seed=seed,
            threads=threads,
            desc=f"render {split}",
            **asdict(params),
        )
        paths += write_split(out_dir, split, data)
        log.info("%s: %d image pairs written to %s", split, len(data.labels), out_dir)
    return paths
