"""Inference on arrays: embeddings, class predictions, enhancement and the confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cbir.imagemath import normalize, to_uint8
from cbir.inference import classify, confusion_matrix, embed, enhance
from cbir.networks import SRCNN, Classifier


@pytest.fixture(scope="module")
def nets():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (23, 32, 32), dtype=np.uint8)
    torch.manual_seed(0)
    return images, Classifier("resnet18").eval(), SRCNN().eval()


def test_embed_shape_determinism_and_batches(nets):
    images, classifier, _ = nets
    a = embed(classifier, images, batch_size=8)
    b = embed(classifier, images, batch_size=8)
    c = embed(classifier, images, batch_size=23)
    assert a.shape == (23, 512) and a.dtype == np.float32
    assert np.array_equal(a, b)
    np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)  # batch size does not matter
    with torch.no_grad():
        direct = classifier.embed(normalize(torch.from_numpy(images[:5]))).numpy()
    np.testing.assert_allclose(a[:5], direct, rtol=1e-4, atol=1e-5)
    assert np.array_equal(embed(classifier, images[:0], batch_size=8), np.zeros((0, 512), np.float32))


def test_classify_is_the_argmax_of_the_logits(nets):
    images, classifier, _ = nets
    predictions = classify(classifier, images, batch_size=10)
    assert predictions.dtype == np.int64 and predictions.shape == (23,)
    with torch.no_grad():
        logits = classifier(normalize(torch.from_numpy(images)))
    # batches of 10 and one of 23 may round differently: only clear winners must agree
    top2 = torch.topk(logits, 2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1] > 1e-4).numpy()
    assert clear.mean() > 0.8
    assert np.array_equal(predictions[clear], logits.argmax(1).numpy()[clear])
    assert classify(classifier, images[:0], batch_size=10).shape == (0,)


def test_enhance_maps_the_output_back_to_uint8(nets):
    images, _, upscaler = nets
    out = enhance(upscaler, images, batch_size=10)
    assert out.shape == images.shape and out.dtype == np.uint8
    with torch.no_grad():
        direct = to_uint8(upscaler(normalize(torch.from_numpy(images))))
    assert np.array_equal(out, direct)
    assert enhance(upscaler, images[:0], batch_size=10).shape == (0, 32, 32)


def test_puts_the_model_in_eval_mode_and_checks_images(nets):
    images, classifier, _ = nets
    classifier.train()
    embed(classifier, images[:2], batch_size=2)
    assert not classifier.training
    with pytest.raises(ValueError, match="uint8"):
        embed(classifier, images.astype(np.float32), batch_size=2)
    with pytest.raises(ValueError, match=r"\[N, H, W\]"):
        classify(classifier, images[0], batch_size=2)


def test_confusion_matrix_known_answer():
    m = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert m.dtype == np.int64


@pytest.fixture(scope="module")
def colour_nets():
    images = np.random.default_rng(1).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    torch.manual_seed(0)
    return images, Classifier("resnet18", image_channels=3).eval(), SRCNN(image_channels=3).eval()


def test_colour_images_through_colour_networks(colour_nets):
    images, classifier, upscaler = colour_nets
    network_input = normalize(torch.from_numpy(images).permute(0, 3, 1, 2))  # [N, 3, H, W]
    features = embed(classifier, images, batch_size=4)
    assert features.shape == (7, 512) and features.dtype == np.float32
    with torch.no_grad():
        direct = classifier.embed(network_input).numpy()
        logits = classifier(network_input)
    np.testing.assert_allclose(features, direct, rtol=1e-4, atol=1e-5)
    assert classify(classifier, images, batch_size=7).tolist() == logits.argmax(1).tolist()
    out = enhance(upscaler, images, batch_size=3)
    assert out.shape == images.shape and out.dtype == np.uint8  # the input's layout, channels last
    with torch.no_grad():
        expected = upscaler(network_input).permute(0, 2, 3, 1)
    assert np.array_equal(out, ((expected + 1) * 127.5).round().clamp(0, 255).byte().numpy())
    assert enhance(upscaler, images[:0], batch_size=3).shape == (0, 32, 32, 3)


def test_channel_mismatch_is_a_clear_error(nets, colour_nets):
    grey_images, grey_classifier, grey_upscaler = nets
    colour_images, colour_classifier, colour_upscaler = colour_nets
    with pytest.raises(ValueError, match=r"classifier takes grey images \[N, H, W\].*got colour images \[N, H, W, 3\]"):
        embed(grey_classifier, colour_images, batch_size=4)
    with pytest.raises(ValueError, match=r"srcnn takes grey images.*got colour images"):
        enhance(grey_upscaler, colour_images, batch_size=4)
    with pytest.raises(ValueError, match=r"classifier takes colour images \[N, H, W, 3\].*got grey images"):
        classify(colour_classifier, grey_images, batch_size=4)
    with pytest.raises(ValueError, match=r"srcnn takes colour images.*got grey images"):
        enhance(colour_upscaler, grey_images, batch_size=4)
    with pytest.raises(ValueError, match=r"uint8 \[N, H, W\] or \[N, H, W, 3\]"):
        embed(colour_classifier, np.zeros((2, 32, 32, 2), np.uint8), batch_size=4)
