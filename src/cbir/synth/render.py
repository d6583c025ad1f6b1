"""Shading, blur and noise; whole views and factor grids of objects as uint8 arrays.

Geometry is cast once per (instance, elevation, azimuth, camera); the lightings only
re-shade the stored normals (Lambert + Blinn-Phong; lights stay fixed relative to the
cameras while the turntable turns the object), over a plain background. A 3-tap blur stands
in for the lens and softens edges; optional Gaussian sensor noise is seeded per view.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from cbir.runlog import progress
from cbir.synth.params import AZIMUTHS_DEG, ELEVATIONS_DEG, LIGHTINGS, RenderParams
from cbir.synth.raycast import camera_frames, cast
from cbir.synth.shapes import build_instance

SHININESS = 24.0


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


def render_views(
    category: int,
    instance: int,
    *,
    elevations: Sequence[int],
    azimuths: Sequence[int],
    lightings: Sequence[int],
    image_size: int,
    seed: int,
    params: RenderParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one object over a factor grid (indices into `ELEVATIONS_DEG`, `AZIMUTHS_DEG`, `LIGHTINGS`).

    Returns uint8 images [E, A, L, 2, H, W] and the object masks [E, A, 2, H, W] (pixels
    whose ray hits the object; the same under every lighting). A view's pixels do not depend
    on which other views are rendered.
    """
    elevations, azimuths, lightings = list(elevations), list(azimuths), list(lightings)
    for name, values, n in (
        ("elevation", elevations, len(ELEVATIONS_DEG)),
        ("azimuth", azimuths, len(AZIMUTHS_DEG)),
        ("lighting", lightings, len(LIGHTINGS)),
    ):
        if not values or min(values) < 0 or max(values) >= n:
            raise ValueError(f"{name} indices {values} must be a non-empty list within 0..{n - 1}")
    prims = build_instance(category, instance, seed=seed, params=params)
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


def _render_task(task: tuple[int, int, dict]) -> np.ndarray:
    category, instance, options = task
    return render_views(category, instance, **options)[0]


def render_grid(
    instances: Sequence[int],
    *,
    categories: Sequence[int],
    elevations: Sequence[int],
    azimuths: Sequence[int],
    lightings: Sequence[int],
    image_size: int,
    seed: int,
    params: RenderParams,
    threads: int = 1,
    desc: str = "render",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of a smallNORB-format split over a factor grid (indices).

    Returns images uint8 [N, 2, H, W] (camera 0 first), labels [N] (the category) and info
    [N, 4] (instance, elevation index, 2 * azimuth index, lighting), all int64. Row order:
    category, instance (ascending), elevation, azimuth, lighting, the last varying fastest.
    `threads` > 1 renders objects in that many worker processes; the result is the same.
    """
    instances, categories = sorted(instances), list(categories)
    elevations, azimuths, lightings = list(elevations), list(azimuths), list(lightings)
    options = {
        "elevations": elevations,
        "azimuths": azimuths,
        "lightings": lightings,
        "image_size": image_size,
        "seed": seed,
        "params": params,
    }
    tasks = [(c, i, options) for c in categories for i in instances]
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
    return images, labels.astype(np.int64), info.astype(np.int64)
