"""Batched augmentation: shape, range, order (labels), determinism and each transform's effect."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cbir.augment import SETTINGS, augment, check_params, seeded_generator

# the config defaults
ON = {"hflip": True, "rotate_deg": 5.0, "translate_px": 5.0, "brightness": 0.2, "contrast": 0.2, "fill": "border"}
OFF = {"hflip": False, "rotate_deg": 0.0, "translate_px": 0.0, "brightness": 0.0, "contrast": 0.0, "fill": "border"}


def batch(n=16, size=32, seed=0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.uniform(0, 1, (n, 1, size, size)).astype(np.float32))


def test_shape_range_and_change():
    x = batch()
    y = augment(x, ON, seeded_generator(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1
    # every image is changed, the input is not modified in place
    assert ((y - x).abs().flatten(1).amax(1) > 0.05).all()
    assert torch.equal(x, batch())


def test_deterministic_under_a_seed():
    x = batch()
    a = augment(x, ON, seeded_generator(7))
    b = augment(x, ON, seeded_generator(7))
    c = augment(x, ON, seeded_generator(8))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_all_off_is_identity():
    x = batch()
    assert torch.equal(augment(x, OFF, seeded_generator(0)), x)


def test_flip_only_keeps_order_and_mirrors_exactly():
    x = batch(n=32)
    y = augment(x, {**OFF, "hflip": True}, seeded_generator(3))
    same = [(y[i] - x[i]).abs().max() < 1e-5 for i in range(32)]
    mirrored = [(y[i] - x[i].flip(-1)).abs().max() < 1e-5 for i in range(32)]
    # each output is its own input (so labels stay aligned) or that input mirrored
    assert all(s or m for s, m in zip(same, mirrored, strict=True))
    assert 4 < sum(mirrored) < 28


def test_translation_moves_content_by_at_most_the_scaled_shift():
    # a bright square in the middle; at 32 px, 5 px at 96 px becomes 5/3 px
    x = torch.zeros(64, 1, 32, 32)
    x[:, :, 12:20, 12:20] = 1.0
    y = augment(x, {**OFF, "translate_px": 5.0}, seeded_generator(0))
    rows = torch.arange(32, dtype=torch.float32)
    centre_y = (y[:, 0].sum(2) * rows).sum(1) / y[:, 0].sum((1, 2))
    centre_x = (y[:, 0].sum(1) * rows).sum(1) / y[:, 0].sum((1, 2))
    for centre in (centre_y, centre_x):
        shift = centre - 15.5
        assert shift.abs().max() <= 5 / 3 + 1e-3
        assert shift.abs().max() > 0.8  # it does move
    assert torch.allclose(y.sum((1, 2, 3)), x.sum((1, 2, 3)), atol=1e-3)  # nothing leaves the frame


def test_rotation_keeps_the_centre_and_turns_a_bar():
    x = torch.zeros(16, 1, 33, 33)
    x[:, :, 16, 4:29] = 1.0  # a horizontal bar through the centre
    y = augment(x, {**OFF, "rotate_deg": 30.0}, seeded_generator(0))
    assert torch.allclose(y[:, 0, 16, 16], torch.ones(16), atol=0.05)
    # the bar's ends move off row 16 for a noticeable angle
    assert (y[:, 0, 16, 4] < 0.9).sum() >= 8


def test_brightness_and_contrast_jitter_bounds():
    x = 0.25 + 0.5 * batch()  # in [0.25, 0.75]: no clipping for jitter <= 0.2
    scaled = augment(x, {**OFF, "brightness": 0.2}, seeded_generator(0))
    factor = (scaled / x).flatten(1)
    # multiplicative: every image is its original times one factor in [0.8, 1.2]
    assert torch.allclose(factor, factor[:, :1].expand_as(factor), atol=1e-6)
    assert factor.min() >= 0.8 - 1e-6 and factor.max() <= 1.2 + 1e-6 and (factor - 1).abs().max() > 0.1
    assert (factor[:, 0] > 1).any() and (factor[:, 0] < 1).any()
    assert torch.equal(scaled, augment(x, {**OFF, "brightness": 0.2, "fill": "black"}, seeded_generator(0)))
    stretched = augment(x, {**OFF, "contrast": 0.2}, seeded_generator(0))
    torch.testing.assert_close(stretched.mean((1, 2, 3)), x.mean((1, 2, 3)))  # the mean is the pivot
    ratio = stretched.std((1, 2, 3)) / x.std((1, 2, 3))
    assert ((ratio >= 0.8 - 1e-4) & (ratio <= 1.2 + 1e-4)).all() and (ratio - 1).abs().max() > 0.05


def test_check_params_wants_exactly_the_settings():
    assert check_params(ON) == ON and set(SETTINGS) == set(ON)
    with pytest.raises(ValueError, match="classifier.augment"):
        check_params({**ON, "zoom": 1.0})
    with pytest.raises(ValueError, match="expected exactly"):
        check_params({k: v for k, v in ON.items() if k != "rotate_deg"})
    with pytest.raises(ValueError, match="expected exactly"):
        augment(batch(), {}, seeded_generator(0))
    with pytest.raises(ValueError, match="classifier.augment.fill.*'white'"):
        check_params({**ON, "fill": "white"})


def stripes(n: int, size: int, along: str) -> torch.Tensor:
    """Images in [0.2, 1] varying only down the rows (along="rows") or across the columns."""
    ramp = 0.2 + 0.8 * torch.arange(size, dtype=torch.float32) / (size - 1)
    image = ramp.view(size, 1).expand(size, size) if along == "rows" else ramp.view(1, size).expand(size, size)
    return image.expand(n, 1, size, size).clone()


@pytest.mark.parametrize("along", ["rows", "columns"])
def test_fill_black_zeroes_and_border_repeats_the_uncovered_edge(along):
    size, n = 32, 24
    x = stripes(n, size, along)  # no zero pixel anywhere
    big_shift = {**OFF, "translate_px": 30.0}  # 10 px at 32 px
    black = augment(x, {**big_shift, "fill": "black"}, seeded_generator(5))
    border = augment(x, {**big_shift, "fill": "border"}, seeded_generator(5))  # same draws, same shifts
    if along == "columns":  # look at columns as rows
        x, black, border = (t.transpose(-1, -2) for t in (x, black, border))
    zero = black[:, 0] == 0
    empty_rows, empty_cols = zero.all(-1), zero.all(-2)  # [n, size]: rows / columns that got no image at all
    # black: the zeros are exactly the uncovered rows and columns (the shift is up to 10 px either way)
    assert torch.equal(zero, empty_rows[:, :, None] | empty_cols[:, None, :])
    shifted = empty_rows.any(1)  # shifted down or up by at least a pixel
    assert shifted.float().mean() > 0.6 and empty_rows.sum(1).max() >= 5
    assert (border != 0).all()
    for i in torch.nonzero(shifted).flatten().tolist():
        rows = torch.nonzero(empty_rows[i]).flatten()
        top = rows.max() < size // 2  # the uncovered band is at the top or the bottom
        assert torch.equal(rows, torch.arange(len(rows)) if top else torch.arange(size - len(rows), size))
        # border fill: the uncovered rows repeat the image's edge row exactly
        edge = x[i, 0, 0] if top else x[i, 0, -1]
        assert torch.equal(border[i, 0][rows], edge.expand(len(rows), size))
    # away from the uncovered bands and their one-pixel bilinear seam, both fills agree
    inner = ~zero
    inner[:, 1:] &= ~zero[:, :-1]
    inner[:, :-1] &= ~zero[:, 1:]
    inner[:, :, 1:] &= ~zero[:, :, :-1]
    inner[:, :, :-1] &= ~zero[:, :, 1:]
    inner[:, [0, -1], :] = inner[:, :, [0, -1]] = False  # the seam of a shift under a pixel leaves no zero row
    assert inner.float().mean() > 0.3
    assert torch.allclose(black[:, 0][inner], border[:, 0][inner], atol=1e-6)


def test_fill_black_leaves_rotated_corners_black():
    x = torch.full((8, 1, 32, 32), 0.5)
    y = augment(x, {**OFF, "rotate_deg": 30.0, "fill": "black"}, seeded_generator(0))
    corners = y[:, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners == 0).any(1).float().mean() > 0.5  # rotated by more than a few degrees: black corners
    assert torch.allclose(y[:, 0, 12:20, 12:20], torch.full((8, 8, 8), 0.5))
    assert torch.allclose(augment(x, {**OFF, "rotate_deg": 30.0}, seeded_generator(0)), x)  # border: uniform stays


@pytest.mark.parametrize("fill", ["border", "black"])
def test_colour_images_get_one_transform_for_all_channels(fill):
    """A colour batch whose three channels are copies of a grey batch comes out as the grey
    result in every channel: same flip, rotation, shift and jitter for all channels."""
    grey = batch(n=12)
    colour = grey.expand(-1, 3, -1, -1).contiguous()
    settings = {**ON, "fill": fill, "brightness": 0.5, "contrast": 0.5}
    expected = augment(grey, settings, seeded_generator(4))
    result = augment(colour, settings, seeded_generator(4))
    assert result.shape == (12, 3, 32, 32)
    for c in range(3):
        torch.testing.assert_close(result[:, c : c + 1], expected, rtol=0, atol=1e-6)


def test_colour_jitter_keeps_the_balance_between_channels():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.uniform(0.2, 0.6, (16, 3, 32, 32)).astype(np.float32))
    x[:, 0] *= 0.5  # a darker red channel
    scaled = augment(x, {**OFF, "brightness": 0.3}, seeded_generator(0))
    factor = (scaled / x).flatten(1)  # one factor per image, whatever the channel
    assert torch.allclose(factor, factor[:, :1].expand_as(factor), atol=1e-6) and (factor - 1).abs().max() > 0.1
    stretched = augment(x, {**OFF, "contrast": 0.3}, seeded_generator(0))
    # about the mean over all channels: the channel means keep their order and spread by the image's factor
    centred, moved = x - x.mean((1, 2, 3), keepdim=True), stretched - x.mean((1, 2, 3), keepdim=True)
    factor = (centred * moved).sum((1, 2, 3), keepdim=True) / (centred**2).sum((1, 2, 3), keepdim=True)
    torch.testing.assert_close(moved, factor * centred, rtol=0, atol=1e-5)  # one factor for all channels
    assert (factor - 1).abs().max() > 0.1
    flipped = augment(x, {**OFF, "hflip": True}, seeded_generator(3))
    mirrored = [torch.equal(flipped[i], x[i].flip(-1)) for i in range(16)]
    assert all(mirrored[i] or torch.equal(flipped[i], x[i]) for i in range(16)) and any(mirrored)
