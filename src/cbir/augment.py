"""Batched, seeded training augmentation on the tensor's device.

Works on float images [B, C, H, W] in [0, 1], C = 1 (grey) or 3 (colour) (per-image min-max
normalised, before the mapping to [-1, 1]); the photometric jitter has to come after the
min-max step, which would otherwise undo it. Per image, independently, every transform the same
for all its channels (one grid, one mean over all channels, one factor), so a colour image keeps
its colour balance and a colour image whose channels are equal is the grey result in each:

- horizontal flip with probability 1/2 (``hflip``);
- rotation by an angle drawn from U(-rotate_deg, rotate_deg) degrees about the centre;
- translation by (dx, dy), each drawn from U(-t, t) pixels, t = translate_px * H / 96
  (``translate_px`` is given at smallNORB's native 96 px and scales with the image size);
- contrast: x -> m + c (x - m), m the image mean (all channels), c ~ U(1 - contrast, 1 + contrast);
- brightness: x -> b x, b ~ U(1 - brightness, 1 + brightness) (multiplicative, as
  torchvision's ColorJitter; before the clip the two jitters commute: contrast is
  linear about the mean, which scales with b);
- finally clipped to [0, 1].

Flip, rotation and translation form one affine map applied by a single
affine_grid/grid_sample (bilinear). Pixels whose source lies outside the image get
``fill``: ``border`` repeats the edge pixels (the smallNORB background continues instead
of black corners), ``black`` is 0, as torchvision's RandomAffine. Every image uses six
uniform numbers drawn in one call from the given torch.Generator, whatever options are
enabled, so the result is a function of the generator's seed and the batch alone.
Labels are untouched: the order of the batch is kept.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

REFERENCE_SIZE = 96  # translate_px is stated at this image size
SETTINGS = ("hflip", "rotate_deg", "translate_px", "brightness", "contrast", "fill")  # config `classifier.augment`
PADDING = {"border": "border", "black": "zeros"}  # fill -> grid_sample's padding_mode


def check_params(params: dict) -> dict:
    """The augmentation settings as a plain dict; a missing or unknown setting is an error."""
    params = dict(params)
    if set(params) != set(SETTINGS):
        raise ValueError(
            f"augmentation settings: expected exactly {sorted(SETTINGS)}, got {sorted(params)} "
            "(config key 'classifier.augment')"
        )
    if params["fill"] not in PADDING:
        raise ValueError(
            f"config key 'classifier.augment.fill': expected one of {sorted(PADDING)}, got {params['fill']!r}"
        )
    return params


def augment(x: torch.Tensor, params: dict, generator: torch.Generator) -> torch.Tensor:
    """Augmented copy of x (float [B, C, H, W] in [0, 1]), drawn from `generator`."""
    params = check_params(params)
    b, _, h, w = x.shape
    u = torch.rand(b, 6, generator=generator, device=generator.device).to(x.device)
    signed = u * 2.0 - 1.0  # U(-1, 1)

    flip = torch.where(u[:, 0] < 0.5, -1.0, 1.0) if params["hflip"] else torch.ones(b, device=x.device)
    angle = signed[:, 1] * math.radians(float(params["rotate_deg"]))
    shift = float(params["translate_px"]) * h / REFERENCE_SIZE
    # grid coordinates span [-1, 1] over the image: one pixel is 2 / side
    tx, ty = signed[:, 2] * shift * 2.0 / w, signed[:, 3] * shift * 2.0 / h
    if params["hflip"] or params["rotate_deg"] > 0 or shift > 0:
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1).to(
            x.dtype
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode=PADDING[params["fill"]], align_corners=False)
    else:
        x = x.clone()

    if params["contrast"] > 0:
        factor = 1.0 + float(params["contrast"]) * signed[:, 4].view(b, 1, 1, 1)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = mean + (x - mean) * factor
    if params["brightness"] > 0:
        x = x * (1.0 + float(params["brightness"]) * signed[:, 5].view(b, 1, 1, 1))
    return x.clamp_(0.0, 1.0)


def seeded_generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator on `device` seeded with `seed`."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator
