"""The five category builders and `build_instance`: an object as arrays of primitives.

Fifty objects: five categories (the order of `cbir.norb.CATEGORIES`: 0 four-legged animal,
1 human figure, 2 airplane, 3 truck, 4 car) times ten instances. An instance is a union of
solid primitives laid out by its category's builder; the proportions, part sizes, pose and
grey levels come from a random generator seeded with (renderer seed, category, instance),
so an instance looks the same in every view and every run. Every object is centred on the
origin (its bounding box's centre) and scaled so that the longest side of its bounding box
(or 0.9 times its horizontal diagonal, if longer) is 2 * `EXTENT` times a per-instance size
factor (1 +- `size_variation`).
"""

from __future__ import annotations

import math

import numpy as np

from cbir.synth.params import RenderParams
from cbir.synth.primitives import BOX, Model, Sampler, extents, rotation, turn

EXTENT = 0.86  # half of the largest bounding-box side of an object of size 1


def _animal(s: Sampler, m: Model, tone: float) -> None:
    """Four-legged animal: body, four legs, neck, head (snout, ears), tail. x forward, z up."""
    length, height, width = s.uniform(0.75, 1.35), s.uniform(0.28, 0.5), s.uniform(0.24, 0.42)
    leg, leg_r = s.uniform(0.22, 0.75), s.uniform(0.045, 0.085)
    body_z = leg + 0.3 * height
    m.ellipsoid((0, 0, body_z), (length / 2, width / 2, height / 2), rotation((0, 1, 0), s.uniform(-10, 10)), tone)
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
    direction = turn(turn((1, 0, 0), (0, 1, 0), -neck_up), (0, 0, 1), yaw)
    neck_top = neck_base + neck_len * direction
    m.limb(neck_base, neck_top, neck_r, tone)
    head_rot = rotation((0, 0, 1), yaw) @ rotation((0, 1, 0), s.uniform(-10, 40))
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
    tail_dir = turn((-1, 0, 0), (0, 1, 0), s.uniform(-50, 70))
    m.limb(tail_base, tail_base + s.uniform(0.08, 0.45) * tail_dir, s.uniform(0.02, 0.05), tone * 0.9)


def _human(s: Sampler, m: Model, tone: float) -> None:
    """Human figure: pelvis, torso, head, two-segment arms and legs in a random pose."""
    leg_len, torso_h = s.uniform(0.72, 0.95), s.uniform(0.48, 0.64)
    shoulder, depth, head_r = s.uniform(0.17, 0.27), s.uniform(0.08, 0.13), s.uniform(0.095, 0.135)
    hip_w, arm_r, leg_r = s.uniform(0.1, 0.16), s.uniform(0.035, 0.055), s.uniform(0.05, 0.075)
    lean = rotation((0, 1, 0), s.uniform(-12, 18)) @ rotation((0, 0, 1), s.uniform(-20, 20))
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
        d1 = turn(
            turn(down, lean @ np.array([1.0, 0, 0]), side * s.uniform(8, 85)),
            lean @ np.array([0, 1.0, 0]),
            -s.uniform(-40, 110),
        )
        elbow = sh + upper * d1
        d2 = turn(d1, lean @ np.array([0, 1.0, 0]), -s.uniform(0, 100))
        hand = elbow + fore * d2
        m.limb(sh, elbow, arm_r, tone * 0.95)
        m.limb(elbow, hand, arm_r * 0.9, tone * 0.95)
        m.ellipsoid(hand + 0.04 * d2, (arm_r * 1.3,) * 3, None, tone * 0.85)
    stride = s.uniform(0, 35)
    knee_bend = s.uniform(0, 55)
    for side in (1, -1):
        hip = pelvis + np.array([0, side * hip_w * 0.7, -0.04])
        d1 = turn(turn((0, 0, -1.0), (1, 0, 0), side * s.uniform(0, 18)), (0, 1, 0), -side * stride)
        knee = hip + leg_len * 0.5 * d1
        d2 = turn(d1, (0, 1, 0), knee_bend * (0.5 + 0.5 * side))
        ankle = knee + leg_len * 0.5 * d2
        m.limb(hip, knee, leg_r, tone * 0.85)
        m.limb(knee, ankle, leg_r * 0.85, tone * 0.85)
        m.ellipsoid(ankle + np.array([0.05, 0, -0.02]), (0.09, leg_r * 0.9, 0.04), None, tone * 0.7)


def _wing(m: Model, root, span: float, chord: float, thick: float, sweep: float, dihedral: float, side: int, tone):
    """One wing or tail plane from `root` outwards: a thin sheared box, a parallelogram in
    plan swept back by `sweep` degrees."""
    span_dir = turn((0, side, 0), (1, 0, 0), side * dihedral)
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


def _airplane(s: Sampler, m: Model, tone: float) -> None:
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
        (-half_len * 0.55, 0, tail_up), (tail_len, radius * 0.95, radius * 0.95), rotation((0, 1, 0), tail_pitch), tone
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
        rot = rotation((1, 0, 0), cant)
        back = -math.tan(math.radians(fin_sweep)) * fin_h / 2
        linear = rot @ np.array([[fin_chord / 2, 0, back], [0, thick * 0.4, 0], [0, 0, fin_h / 2]])
        base = np.array([tail_x - 0.02, math.copysign(radius * 0.6, cant) if cant else 0.0, tail_up + radius * 0.5])
        m.add(BOX, base + rot @ np.array([back, 0, fin_h / 2]), linear, tone)
    engines = {"airliner": s.choice((2, 2, 4)), "fighter": 0, "propeller": s.choice((0, 2))}[style]
    eng_r, eng_len = s.uniform(0.035, 0.06), s.uniform(0.07, 0.12)
    positions = {0: (), 2: (0.38,), 4: (0.3, 0.62)}[engines]
    for frac in positions:
        for side in (1, -1):
            span_dir = turn((0, side, 0), (1, 0, 0), side * dihedral)
            back = -math.tan(math.radians(sweep)) * span * frac
            at = np.array([wing_x + back, 0, wing_z]) + span_dir * span * frac
            m.cylinder(at + np.array([0.04, 0, -eng_r - thick]), eng_r, eng_len, (1, 0, 0), tone * 0.8)
    if style == "propeller":
        blade = s.uniform(0.1, 0.16)
        m.box((half_len * 0.55 + nose, 0, 0), (0.012, blade, 0.018), rotation((1, 0, 0), s.uniform(0, 90)), tone * 0.6)
    m.transform(rotation((1, 0, 0), s.uniform(-8, 8)) @ rotation((0, 1, 0), -s.uniform(-3, 12)))


def _wheels(m: Model, xs, width: float, radius: float, half_w: float) -> None:
    for x in xs:
        for side in (1, -1):
            m.cylinder((x, side * (width - half_w * 0.3), radius), radius, half_w, (0, 1, 0), 0.3)


def _truck(s: Sampler, m: Model, tone: float) -> None:
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


def _car(s: Sampler, m: Model, tone: float) -> None:
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


def build_instance(category: int, instance: int, *, seed: int, params: RenderParams) -> dict[str, np.ndarray]:
    """The primitives of one object, centred and scaled, as arrays (see `Model`).

    Also holds ``A`` [P, 3, 3] (world -> unit frame, the inverse of ``linear``) and
    ``radius`` [P] (bounding sphere of each primitive about its centre).
    """
    if not 0 <= category < len(BUILDERS):
        raise ValueError(f"category {category} outside 0..{len(BUILDERS) - 1}")
    if not 0 <= instance <= 9:
        raise ValueError(f"instance {instance} outside 0..9")
    rng = np.random.default_rng([seed, 0, category, instance])
    sampler = Sampler(rng, params.shape_variation)
    model = Model()
    tone = float(rng.uniform(0.5, 0.9))
    size = 1.0 + params.size_variation * float(rng.uniform(-1, 1))
    BUILDERS[category](sampler, model, tone)
    prims = model.arrays()
    ext, _ = extents(prims["kind"], prims["linear"])
    lo, hi = (prims["center"] - ext).min(0), (prims["center"] + ext).max(0)
    half = 0.5 * (hi - lo)
    # The turntable shows every horizontal diagonal: wide, long objects must fit too.
    scale = EXTENT * size / max(half.max(), 0.9 * math.hypot(half[0], half[1]))
    prims["center"] = (prims["center"] - (lo + hi) / 2) * scale
    prims["linear"] = prims["linear"] * scale
    prims["A"] = np.linalg.inv(prims["linear"])
    prims["radius"] = extents(prims["kind"], prims["linear"])[1]
    return prims
