"""Colour batches [N, H, W, 3]: one spec and blur direction per image, noise per channel, and
(minmax) one scale and offset for all channels of an image."""

import numpy as np
import pytest

from cbir.degrade import (
    CounterRandom,
    DegradationError,
    blur_with,
    channel_stream,
    check_specs,
    degrade,
    degrade_float,
    finish,
    spec_choices,
)
from cbir.degrade.batch import stretch_jointly
from cbir.degrade.motion import blur_params
from cbir.degrade.registry import check_shape
from cbir.imagemath import BlankedImagesError, blanked, refuse_blanked
from cbir.plots import plt
from cbir.plots.degradations import degradations_figure

NOISES = ("gaussian", "salt_pepper", "speckle")
DETERMINISTIC_DIRECTION = ("motion_blur", "motion_blur_zc", "lowres")
RESCALES = ("minmax", "clip")


def colour_images(smooth_images, n=10, size=32):
    """uint8 [n, size, size, 3] whose three channels are different images (a channel mix-up shows)."""
    return np.stack([smooth_images(n, size, seed=s) for s in (0, 1, 2)], axis=-1)


def minmax_reference(images, specs, stream="q", seed=3):
    """The colour minmax by definition: the blur's float channels (the public float blur, each
    image's direction) through one `finish` per image; every other spec clipped per channel,
    then `stretch_jointly`."""
    specs = check_specs(specs)
    expected = stretch_jointly(run(images, specs, stream=stream, rescale="clip"))
    idx = np.arange(len(images))
    choice = spec_choices(len(specs), seed=seed, stream=stream, indices=idx)
    rand = CounterRandom.for_stream(seed, stream, idx)
    for k, spec in enumerate(specs):
        if spec["name"] == "motion_blur":
            rows = np.flatnonzero(choice == k)
            if not len(rows):
                continue
            a, b = blur_params(rand.subset(rows), spec["sigma"])
            zc, T = spec["zero_centre"], spec["T"] / 255
            g = [blur_with(images[rows, ..., c].astype(np.float32), a, b, T=T, zero_centre=zc) for c in range(3)]
            expected[rows] = finish(np.stack(g, axis=-1), "minmax")
    return expected


def run(images, specs, stream="q", **kw):
    return degrade(images, specs, seed=3, stream=stream, **{"rescale": "minmax", "threads": 1, **kw})


@pytest.mark.parametrize("rescale", RESCALES)
@pytest.mark.parametrize("name", [*NOISES, *DETERMINISTIC_DIRECTION, "mixed"])
def test_channel_0_is_the_grey_result_of_plane_0(name, rescale, smooth_images, specs):
    images = colour_images(smooth_images)
    chosen = list(specs.values()) if name == "mixed" else [specs[name]]
    out = run(images, chosen, rescale=rescale)
    assert out.shape == images.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    clipped = run(images, chosen, rescale="clip")
    np.testing.assert_array_equal(clipped[..., 0], run(images[..., 0], chosen, rescale="clip"))
    np.testing.assert_array_equal(out, clipped if rescale == "clip" else minmax_reference(images, chosen))


@pytest.mark.parametrize("rescale", RESCALES)
@pytest.mark.parametrize("name", DETERMINISTIC_DIRECTION)
def test_blur_and_lowres_degrade_every_channel_as_its_grey_plane(name, rescale, smooth_images, specs):
    images = colour_images(smooth_images)
    out = run(images, [specs[name]], rescale="clip")
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], run(images[..., c], [specs[name]], rescale="clip"))
    if name != "lowres":  # another direction gives another blur: the equality above pins the direction
        assert not np.array_equal(out[..., 1], run(images[..., 1], [specs[name]], stream="other", rescale="clip"))
    expected = minmax_reference(images, [specs[name]]) if rescale == "minmax" else out
    np.testing.assert_array_equal(run(images, [specs[name]], rescale=rescale), expected)


@pytest.mark.parametrize("name", ["motion_blur", "motion_blur_zc"])
def test_blur_of_a_grey_colour_image_keeps_it_grey(name, specs):
    # Equal channels blurred along one direction stay equal; per-channel directions would not.
    grey = np.random.default_rng(0).integers(0, 256, (6, 24, 24), dtype=np.uint8)
    out = run(np.repeat(grey[..., None], 3, axis=-1), [specs[name]], rescale="clip")
    np.testing.assert_array_equal(out[..., 1], out[..., 0])
    np.testing.assert_array_equal(out[..., 2], out[..., 0])
    assert not np.array_equal(out[..., 0], grey)


@pytest.mark.parametrize("rescale", RESCALES)
@pytest.mark.parametrize("name", NOISES)
def test_noise_channels_draw_from_their_own_streams(name, rescale, smooth_images, specs):
    images = colour_images(smooth_images)
    out = run(images, [specs[name]], stream="noisy", rescale="clip")
    assert channel_stream("noisy", 0) == "noisy" and channel_stream("noisy", 2) == "noisy/channel2"
    for c in (1, 2):
        expected = run(images[..., c], [specs[name]], stream=f"noisy/channel{c}", rescale="clip")
        np.testing.assert_array_equal(out[..., c], expected)
        # Not the image's own stream: the noise is not shared across channels.
        assert not np.array_equal(out[..., c], run(images[..., c], [specs[name]], stream="noisy", rescale="clip"))
    stretched = run(images, [specs[name]], stream="noisy", rescale=rescale)
    np.testing.assert_array_equal(stretched, stretch_jointly(out) if rescale == "minmax" else out)


def test_gaussian_fields_of_the_channels_are_independent():
    sigma = 0.1
    colour = np.array([100, 128, 160], np.uint8)
    images = np.broadcast_to(colour, (8, 64, 64, 3)).copy()
    out = run(images, [{"name": "gaussian", "sigma": sigma}], rescale="clip")
    residual = (out.astype(np.float64) - colour).reshape(-1, 3)
    # Each channel: the noise of the definition (rounded to grey levels), mean 0, sd 255 sigma.
    np.testing.assert_allclose(residual.std(axis=0), 255 * sigma, rtol=0.03)
    np.testing.assert_allclose(residual.mean(axis=0), 0, atol=0.5)
    # Independent fields: unequal and uncorrelated (a shared field gives correlation 1).
    corr = np.corrcoef(residual.T)
    assert np.abs(corr[np.triu_indices(3, 1)]).max() < 0.03
    assert not np.array_equal(residual[:, 0], residual[:, 1])


def test_salt_pepper_masks_of_the_channels_are_independent(smooth_images):
    amount = 0.2
    images = colour_images(smooth_images, 8, 64)
    images = np.clip(images, 1, 254)  # 0 and 255 only where a pixel was hit
    out = run(images, [{"name": "salt_pepper", "amount": amount}], rescale="clip")
    hit = (out == 0) | (out == 255)
    np.testing.assert_allclose(hit.mean(axis=(0, 1, 2)), amount, atol=0.01)
    # Shared masks would hit all three channels together with probability amount, not amount**3.
    assert abs(hit.all(axis=-1).mean() - amount**3) < 0.004


def test_every_channel_of_an_image_gets_its_spec(smooth_images, specs):
    images = colour_images(smooth_images, 40, 16)
    mixed = [specs["gaussian"], {"name": "lowres", "level": 2}]
    out = run(images, mixed, stream="mix", rescale="clip")
    choice = spec_choices(2, seed=3, stream="mix", indices=np.arange(40))
    assert 0 < choice.sum() < 40
    for k, spec in enumerate(mixed):
        rows = np.flatnonzero(choice == k)
        for c in range(3):
            stream = channel_stream("mix", c) if spec["name"] == "gaussian" else "mix"
            expected = run(images[rows, ..., c], [spec], stream=stream, indices=rows, rescale="clip")
            np.testing.assert_array_equal(out[rows, ..., c], expected)


@pytest.mark.parametrize("size", [16, 96])
def test_results_do_not_depend_on_the_batch_nor_threads(size, smooth_images, specs):
    images = colour_images(smooth_images, 50, size)  # 96: several blocks per spec and channel
    mixed = [*specs.values(), {"name": "lowres", "level": 2}]
    full = run(images, mixed, stream="t")
    np.testing.assert_array_equal(run(images, mixed, stream="t", threads=3), full)
    shuffled = np.random.default_rng(0).permutation(50)[:17]
    np.testing.assert_array_equal(run(images[shuffled], mixed, stream="t", indices=shuffled), full[shuffled])
    non_contiguous = np.asfortranarray(images)
    np.testing.assert_array_equal(run(non_contiguous, mixed, stream="t", threads=2), full)


@pytest.mark.parametrize("name", ["motion_blur", "lowres", "gaussian"])
def test_minmax_keeps_the_balance_of_a_red_image(name, specs):
    # A red image with little green and blue: a stretch per channel would lift green and blue
    # to 0..255 like red (a pink or cyan tile); one stretch for all channels keeps them low.
    rng = np.random.default_rng(0)
    images = np.stack(
        [rng.integers(120, 220, (4, 32, 32)), rng.integers(30, 50, (4, 32, 32)), rng.integers(10, 30, (4, 32, 32))],
        axis=-1,
    ).astype(np.uint8)
    out = run(images, [specs[name]], rescale="minmax")
    assert (out.reshape(4, -1).min(axis=1) == 0).all() and (out.reshape(4, -1).max(axis=1) == 255).all()
    means = out.reshape(-1, 3).mean(axis=0)
    assert means[0] > 2 * means[1] and means[1] > means[2]
    assert out[..., 1].max() < 200  # green is not stretched to the full range


def test_the_authors_blur_keeps_both_signs_of_its_zero_mean_channels(specs):
    # zero_centre removes each channel's mean: clipping before the stretch would keep only the
    # positive half (a dark image); the joint min-max of the float channels centres it
    rng = np.random.default_rng(1)
    images = np.stack(
        [rng.integers(120, 220, (4, 32, 32)), rng.integers(30, 50, (4, 32, 32)), rng.integers(10, 30, (4, 32, 32))],
        axis=-1,
    ).astype(np.uint8)
    out = run(images, [specs["motion_blur_zc"]], rescale="minmax")
    clipped = stretch_jointly(run(images, [specs["motion_blur_zc"]], rescale="clip"))
    assert 80 < out.mean() < 175 and clipped.mean() < 60


def test_stretch_jointly_by_hand():
    images = np.array([[[[10, 20, 30], [40, 50, 60]]], [[[7, 7, 7], [7, 7, 7]]]], np.uint8)  # [2, 1, 2, 3]
    out = stretch_jointly(images)
    expected = np.floor((images[0].astype(float) - 10) * 255 / 50 + 0.5)
    np.testing.assert_array_equal(out[0], expected)
    np.testing.assert_array_equal(out[1], images[1])  # constant: kept


def test_clean_colour_is_a_copy(smooth_images):
    images = colour_images(smooth_images)
    clean = run(images, [])
    np.testing.assert_array_equal(clean, images)
    assert clean is not images


@pytest.mark.parametrize("shape", [(2, 8, 8, 4), (2, 8, 8, 1), (2, 8, 8, 3, 1), (8, 8)])
def test_shapes_other_than_grey_or_rgb_are_refused(shape):
    with pytest.raises(DegradationError, match=r"\[N, H, W\] \(grey\) or \[N, H, W, 3\] \(colour\), got shape"):
        run(np.zeros(shape, np.uint8), [{"name": "gaussian", "sigma": 0.1}])


def test_lowres_divisibility_uses_height_and_width():
    check_shape(np.zeros((1, 8, 16, 3)), [{"name": "lowres", "level": 3}])
    with pytest.raises(DegradationError, match="divisible by 4, got 8x18"):
        check_shape(np.zeros((1, 8, 18, 3)), [{"name": "lowres", "level": 2}])


def test_the_float_definition_is_grey_only(smooth_images, specs):
    with pytest.raises(DegradationError, match="grey definition"):
        degrade_float(colour_images(smooth_images) / 255, [specs["gaussian"]], seed=0, stream="s")


def test_the_figure_shows_colour_as_rgb_and_grey_through_the_grey_map(smooth_images, specs):
    images = colour_images(smooth_images, 2, 16)
    fig = degradations_figure(images, np.arange(2), {"noisy": [specs["gaussian"]]}, seed=0, rescale="clip")
    shown = fig.get_axes()[1].get_images()[0]
    expected = degrade(
        images, [specs["gaussian"]], seed=0, stream="figure", indices=np.arange(2), rescale="clip", threads=1
    )
    np.testing.assert_array_equal(shown.get_array(), expected[0])
    plt.close(fig)
    fig = degradations_figure(images[..., 0], np.arange(2), {"clean": []}, seed=0, rescale="clip")
    shown = fig.get_axes()[0].get_images()[0]
    assert shown.get_cmap().name == "gray" and shown.get_clim() == (0, 255)
    plt.close(fig)


def test_colour_images_wiped_to_one_colour_are_refused():
    # lowres at the image's size leaves each channel one level: one colour, three levels
    images = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    out = run(images, [{"name": "lowres", "level": 3}], rescale="clip")
    assert blanked(images, out).all()
    with pytest.raises(BlankedImagesError):
        refuse_blanked(images, out, "q", [{}] * 3, "out.h5")
    kept = run(images, [{"name": "gaussian", "sigma": 0.1}], rescale="clip")
    assert not blanked(images, kept).any()


@pytest.mark.parametrize("shape", [(0, 8, 8), (0, 8, 8, 3)])
def test_an_empty_batch_gives_an_empty_batch(shape, specs):
    out = run(np.zeros(shape, np.uint8), [specs["gaussian"], specs["lowres"]], threads=2)
    assert out.shape == shape and out.dtype == np.uint8
