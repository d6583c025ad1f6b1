"""Image maths: normalisation, the uint8 mapping and PSNR, numpy and torch in agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cbir.imagemath import (
    PSNR_CAP_DB,
    affine_match,
    batch_slices,
    normalize,
    psnr,
    psnr_from_mse,
    psnr_pm1,
    ssim,
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
    with pytest.raises(ValueError, match="expected images"):
        unit_range(torch.zeros(2, 3, 4, 4))


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
