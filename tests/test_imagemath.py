"""Image maths: normalisation, the uint8 mapping and PSNR, numpy and torch in agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cbir.imagemath import (
    PSNR_CAP_DB,
    affine_match,
    batch_slices,
    blanked,
    from_stored,
    image_channels,
    normalize,
    psnr,
    psnr_from_mse,
    psnr_pm1,
    ssim,
    to_stored,
    to_uint8,
    unit,
    unit_range,
)


def test_normalize_known_values():
    x = torch.tensor([[[10, 20], [30, 50]], [[7, 7], [7, 7]]], dtype=torch.uint8)
    y = normalize(x)
    assert y.shape == (2, 1, 2, 2) and y.dtype == torch.float32
    torch.testing.assert_close(y[0, 0], torch.tensor([[-1.0, -0.5], [0.0, 1.0]]))
    assert torch.equal(y[1], -torch.ones(1, 2, 2))  # a constant image maps to -1
    torch.testing.assert_close(unit_range(x)[0, 0], torch.tensor([[0.0, 0.25], [0.5, 1.0]]))
    torch.testing.assert_close(unit_range(x[:, None]), unit_range(x))  # [N, 1, H, W] too
    for shape in [(2, 2, 4, 4), (2, 4, 4, 2), (4, 4), (1, 2, 1, 4, 4)]:  # [2, 3, 4, 4] is colour now
        with pytest.raises(ValueError, match="expected images"):
            unit_range(torch.zeros(shape))


def test_unit_matches_unit_range():
    images = np.random.default_rng(0).integers(0, 256, (4, 6, 5), dtype=np.uint8)
    np.testing.assert_allclose(unit(images), unit_range(torch.from_numpy(images))[:, 0].numpy(), atol=1e-6)
    assert unit(images[0]).shape == (6, 5) and unit(images[0]).min() == 0 and unit(images[0]).max() == 1
    assert np.array_equal(unit(np.full((2, 3, 3), 9, np.uint8)), np.zeros((2, 3, 3)))


def test_to_uint8_and_psnr_known_values():
    assert to_uint8(torch.tensor([[[-1.0, 0.0, 1.0, 2.0]]])).tolist() == [[[0, 128, 255, 255]]]
    target = torch.zeros(1, 1, 4, 4)
    # an error of 0.2 on [-1, 1] is 0.1 on [0, 1]: MSE 0.01 -> 20 dB
    assert psnr_pm1(target + 0.2, target).item() == pytest.approx(20.0, abs=1e-4)
    assert psnr_pm1(target, target).item() == pytest.approx(PSNR_CAP_DB)
    assert psnr_from_mse(np.array([0.01, 0.0])) == pytest.approx([20.0, PSNR_CAP_DB])


def test_numpy_psnr_agrees_with_torch_psnr_pm1():
    clean = np.tile(np.linspace(10, 200, 8), (1, 8, 1)).astype(np.uint8)
    rng = np.random.default_rng(0)
    noisy = np.clip(clean * 0.8 + rng.normal(0, 5, clean.shape), 0, 255).astype(np.uint8)
    # as stored: the same number as training's held-out PSNR of a network output
    output = torch.from_numpy(noisy).float()[:, None] / 127.5 - 1
    expected = psnr_pm1(output, normalize(torch.from_numpy(clean))).item()
    assert psnr(clean, noisy)[0] == pytest.approx(expected, abs=1e-3)
    renormalized = psnr_pm1(normalize(torch.from_numpy(noisy)), normalize(torch.from_numpy(clean))).item()
    assert psnr(clean, noisy, renormalize=True)[0] == pytest.approx(renormalized, abs=1e-3)
    assert renormalized != pytest.approx(expected, abs=0.1)
    # many images at once, per image
    many_clean = rng.integers(0, 256, (6, 12, 12), dtype=np.uint8)
    many_noisy = np.clip(many_clean + rng.normal(0, 20, many_clean.shape), 0, 255).astype(np.uint8)
    torch_side = psnr_pm1(normalize(torch.from_numpy(many_noisy)), normalize(torch.from_numpy(many_clean))).numpy()
    np.testing.assert_allclose(psnr(many_clean, many_noisy, renormalize=True), torch_side, atol=1e-3)


def test_batch_slices():
    assert batch_slices(5, 2) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert batch_slices(0, 3) == []
    with pytest.raises(ValueError, match="batch_size"):
        batch_slices(3, 0)


def test_affine_match_removes_brightness_and_contrast_only():
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 256, (3, 16, 16)).astype(np.uint8)
    ref = reference.astype(np.float64)
    # the same images at half contrast plus an offset: a global affine change of intensity
    dimmed = np.round(0.5 * ref + 60).astype(np.uint8)
    assert psnr(reference, dimmed).mean() < 20  # as stored, the finish costs PSNR
    assert psnr(reference, dimmed, affine=True).min() > 45  # matched, only the rounding is left
    assert ssim(reference, dimmed, affine=True).min() > 0.999
    # an inverted image is not credited: a >= 0 leaves the reference's mean, a flat image
    inverted = (255 - reference).astype(np.uint8)
    flat = np.broadcast_to(unit(reference).mean(axis=(1, 2), keepdims=True), reference.shape)
    np.testing.assert_allclose(affine_match(reference, inverted), flat)
    # real noise still costs: matching does not hide a loss of detail
    noisy = np.clip(ref + rng.normal(0, 40, ref.shape), 0, 255).astype(np.uint8)
    assert psnr(reference, noisy, affine=True).mean() < 20


# ---------------------------------------------------------------------------------------
# colour: [N, H, W, 3] stored, [N, 3, H, W] in the networks
# ---------------------------------------------------------------------------------------


def colour_images(n=3, size=16, seed=0) -> np.ndarray:
    """uint8 [n, size, size, 3] whose channels span different ranges (R darker than G, B)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3)).astype(np.float64)
    return np.round(images * np.array([0.4, 1.0, 0.8]) + np.array([0, 0, 30])).clip(0, 255).astype(np.uint8)


def test_image_channels_and_layouts():
    grey, colour = np.zeros((2, 5, 4), np.uint8), np.zeros((2, 5, 4, 3), np.uint8)
    assert image_channels(grey) == 1 and image_channels(colour) == 3
    for shape in [(5, 4), (2, 5, 4, 2), (2, 5, 4, 3, 1)]:
        with pytest.raises(ValueError, match=r"\[N, H, W\] or colour images \[N, H, W, 3\]"):
            image_channels(np.zeros(shape, np.uint8))
    stored = torch.from_numpy(colour_images())
    network = from_stored(stored)
    assert network.shape == (3, 3, 16, 16) and torch.equal(network[:, 1], stored[..., 1])
    assert torch.equal(to_stored(network), stored) and to_stored(network).is_contiguous()
    assert from_stored(torch.zeros(2, 5, 4)).shape == (2, 1, 5, 4) and to_stored(torch.zeros(2, 1, 5, 4)).shape == (
        2,
        5,
        4,
    )
    with pytest.raises(ValueError, match="C 1 or 3"):
        to_stored(torch.zeros(2, 2, 5, 4))


def test_colour_unit_range_is_one_min_max_over_all_channels():
    images = colour_images()
    x = torch.from_numpy(images)
    y = unit_range(x)
    assert y.shape == (3, 3, 16, 16) and y.dtype == torch.float32
    # the stored layout, the network layout and from_stored give the same
    torch.testing.assert_close(unit_range(x.permute(0, 3, 1, 2)), y, rtol=0, atol=0)
    torch.testing.assert_close(unit_range(from_stored(x)), y, rtol=0, atol=0)
    # one min and max per image over all channels: the balance between channels is kept
    low = images.reshape(3, -1).min(1)[:, None, None, None]
    span = images.reshape(3, -1).max(1)[:, None, None, None] - low
    np.testing.assert_allclose(y.permute(0, 2, 3, 1).numpy(), (images - low) / span, atol=1e-6)
    assert (y.amax((2, 3))[:, 0] < 0.5).all()  # the dark red channel stays dark, not stretched to 1
    np.testing.assert_allclose(unit(images), y.permute(0, 2, 3, 1).numpy(), atol=1e-6)
    assert np.array_equal(unit(np.full((2, 4, 4, 3), 9, np.uint8)), np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="colour images"):
        unit(np.zeros((2, 4, 4, 2)))


def test_colour_to_uint8_round_trip():
    images = colour_images()
    images[:, 0, 0] = [0, 0, 0]  # full range: normalize is then the exact inverse of to_uint8
    images[:, 0, 1] = [255, 255, 255]
    back = to_uint8(normalize(torch.from_numpy(images)))
    assert back.shape == images.shape and back.dtype == np.uint8 and back.flags.c_contiguous
    assert np.array_equal(back, images)
    grey = images[..., 1]
    assert np.array_equal(to_uint8(normalize(torch.from_numpy(grey))), grey)
    with pytest.raises(ValueError, match="C 1 or 3"):
        to_uint8(torch.zeros(2, 2, 4, 4))


def test_colour_psnr_is_the_mse_over_all_channels():
    clean = colour_images()
    rng = np.random.default_rng(1)
    noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    ref = unit(clean)
    expected = 10 * np.log10(1 / ((ref - noisy / 255.0) ** 2).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(psnr(clean, noisy), expected, rtol=1e-12)
    # torch and numpy agree on colour too
    torch_side = psnr_pm1(normalize(torch.from_numpy(noisy)), normalize(torch.from_numpy(clean))).numpy()
    np.testing.assert_allclose(psnr(clean, noisy, renormalize=True), torch_side, atol=1e-3)
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(clean, noisy[..., 0])


def grey_as_colour(images: np.ndarray) -> np.ndarray:
    return np.repeat(images[..., None], 3, axis=-1)


@pytest.mark.parametrize("affine", [False, True])
def test_colour_of_three_equal_channels_scores_as_grey(affine):
    rng = np.random.default_rng(2)
    clean = rng.integers(0, 256, (3, 24, 24), dtype=np.uint8)
    noisy = np.clip(0.7 * clean + 30 + rng.normal(0, 15, clean.shape), 0, 255).astype(np.uint8)
    c_clean, c_noisy = grey_as_colour(clean), grey_as_colour(noisy)
    np.testing.assert_allclose(ssim(c_clean, c_noisy, affine=affine), ssim(clean, noisy, affine=affine), rtol=1e-10)
    np.testing.assert_allclose(psnr(c_clean, c_noisy, affine=affine), psnr(clean, noisy, affine=affine), rtol=1e-10)
    np.testing.assert_allclose(affine_match(c_clean, c_noisy), grey_as_colour(affine_match(clean, noisy)), atol=1e-12)


def test_colour_ssim_is_the_mean_over_channels():
    from skimage.metrics import structural_similarity

    clean = colour_images(size=24)
    noisy = np.clip(clean + np.random.default_rng(3).normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
    ref = unit(clean)  # joint min-max, then per channel SSIM
    expected = [
        np.mean([structural_similarity(ref[i, ..., c], noisy[i, ..., c] / 255.0, data_range=1.0) for c in range(3)])
        for i in range(3)
    ]
    np.testing.assert_allclose(ssim(clean, noisy), expected, rtol=1e-12)
    assert 0 < min(expected) < 0.99  # a real difference, not the trivial 1


def test_colour_affine_match_is_one_fit_for_all_channels():
    reference = colour_images(size=24)
    ref = reference.astype(np.float64)
    dimmed = np.round(0.5 * ref + 60).astype(np.uint8)  # the same change in every channel: undone
    assert psnr(reference, dimmed, affine=True).min() > 45
    # a change of one channel only is no global intensity map: one (a, b) cannot undo it
    tinted = reference.copy()
    tinted[..., 0] = np.round(0.5 * ref[..., 0] + 100).astype(np.uint8)
    assert psnr(reference, tinted, affine=True).max() < 30


def test_blanked_colour_images_are_one_colour():
    source = colour_images(n=4)
    result = source.copy()
    result[0] = 77  # one level everywhere: blanked
    result[1] = [10, 200, 30]  # one colour, three levels: blanked too
    result[3, ..., 1:] = 5  # two flat channels, one with detail: not blanked
    assert blanked(source, result).tolist() == [True, True, False, False]


def test_a_flattened_image_without_detail_is_not_blanked():
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (4, 8, 8), dtype=np.uint8)
    source[1] = 10 + rng.integers(0, 7, (8, 8))  # spans at most 7 levels: no detail to lose
    source[2] = 10 + np.arange(64).reshape(8, 8) % 9  # spans 8 levels: detail
    result = source.copy()
    result[:3] = 10
    assert blanked(source, result).tolist() == [True, False, True, False]
    colour = np.stack([source[1], source[1], source[2]], axis=-1)[None]  # detail in one channel
    assert blanked(colour, np.full_like(colour, 10)).tolist() == [True]
    assert not blanked(colour[..., :2].repeat(2, axis=-1)[..., :3], np.full_like(colour, 10)).any()
