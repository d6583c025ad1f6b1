"""Cameras and ray casting: one ray per pixel against the primitives of one object.

A pinhole camera at `camera_distance` from the origin, looking at it, casts one ray per
pixel. Each primitive is tested only inside the square of pixels its bounding sphere can
cover, with the ray written in the primitive's unit frame, where the ray-surface equation's
coefficients are low-order polynomials of the pixel coordinates.
"""

from __future__ import annotations

import math

import numpy as np

from cbir.synth.params import RenderParams
from cbir.synth.primitives import BOX, CYLINDER, ELLIPSOID


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
