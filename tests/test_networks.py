"""The networks: shapes, parameter counts, the autoencoder's size rule, build(meta) round trip."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from cbir.networks import (
    SRCNN,
    Autoencoder,
    Classifier,
    NetworkError,
    architecture,
    build,
    create,
    load_pretrained,
)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("arch", ["resnet18", "resnet34"])
def test_classifier_shapes_and_parameter_count(arch):
    torch.manual_seed(0)
    model = Classifier(arch).eval()
    x = torch.randn(3, 1, 32, 32)
    assert model(x).shape == (3, 5)
    assert model.embed(x).shape == (3, 512)
    reference = getattr(torchvision.models, arch)(weights=None)
    fc_1000 = 512 * 1000 + 1000
    assert count(model.trunk) == count(reference) - fc_1000
    # 1x1 conv 1 -> 3 (3 weights + 3 biases) in front, FC 512 -> 5 at the end
    assert count(model.stem) == 6
    assert count(model.fc) == 512 * 5 + 5
    assert count(model) == count(reference) - fc_1000 + 6 + 2565
    # the logits are the FC applied to the embedding
    torch.testing.assert_close(model(x), model.fc(model.embed(x)))


def test_classifier_known_parameter_count():
    # torchvision's resnet34 has 21,797,672 parameters with its 1000-way FC
    assert count(Classifier("resnet34")) == 21_797_672 - 513_000 + 6 + 2565


def test_autoencoder_layout_and_count():
    model = Autoencoder()
    convs = [m for m in model.encoder.modules() if isinstance(m, nn.Conv2d)]
    deconvs = [m for m in model.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64, 128, 256]
    assert [d.out_channels for d in deconvs] == [128, 64, 32, 16, 1]
    assert all(c.stride == (2, 2) and c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert all(d.stride == (2, 2) and d.output_padding == (1, 1) and d.padding == (1, 1) for d in deconvs)
    # every block but the last ends with BatchNorm; the last is conv-transpose then tanh
    assert isinstance(model.decoder[-1][-1], nn.Tanh) and len(model.decoder[-1]) == 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 9
    widths = [1, 16, 32, 64, 128, 256]
    enc = sum(9 * a * b + b + 2 * b for a, b in zip(widths[:-1], widths[1:], strict=True))
    back = widths[::-1]
    dec = sum(9 * a * b + b for a, b in zip(back[:-1], back[1:], strict=True)) + 2 * sum(back[1:-1])
    assert count(model) == enc + dec


def test_autoencoder_shape_range_and_size_rule():
    model = Autoencoder().eval()
    for size in (32, 64, 96):
        y = model(torch.randn(2, 1, size, size))
        assert y.shape == (2, 1, size, size)
        assert y.abs().max() <= 1
    with pytest.raises(NetworkError, match="multiple of 32"):
        model(torch.randn(1, 1, 48, 48))


def test_srcnn_layout_count_and_shape():
    model = SRCNN().eval()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [5, 5, 5, 3, 3]
    assert [c.out_channels for c in convs] == [32, 64, 128, 32, 1]
    expected = 25 * 32 + 32 + 25 * 32 * 64 + 64 + 25 * 64 * 128 + 128 + 9 * 128 * 32 + 32 + 9 * 32 + 1
    assert count(model) == expected == 294_209
    y = model(torch.randn(2, 1, 24, 40))  # size kept, any size
    assert y.shape == (2, 1, 24, 40) and y.abs().max() <= 1


@pytest.mark.parametrize(("kind", "args"), [("classifier", {"arch": "resnet18"}), ("autoencoder", {}), ("srcnn", {})])
def test_build_from_meta_round_trip(kind, args):
    torch.manual_seed(1)
    model = create(kind, **args).eval()
    meta = architecture(model)
    assert meta["kind"] == kind
    rebuilt = build(meta).eval()
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)


def test_build_rejects_unknown_kind_and_arch():
    with pytest.raises(NetworkError, match="unknown network kind"):
        build({"kind": "vgg", "arch_args": {}})
    with pytest.raises(NetworkError, match="classifier.arch"):
        Classifier("resnet50")
    with pytest.raises(NetworkError, match="arch_args"):
        build({"kind": "srcnn"})


def test_load_pretrained_from_a_state_dict_file(tmp_path):
    torch.manual_seed(2)
    reference = torchvision.models.resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "r18.pt")
    model = Classifier("resnet18")
    assert load_pretrained(model, "none") == "none"
    assert load_pretrained(model, str(tmp_path / "r18.pt")) == str(tmp_path / "r18.pt")
    torch.testing.assert_close(model.trunk.conv1.weight, reference.conv1.weight, rtol=0, atol=0)
    with pytest.raises(NetworkError, match="not a torchvision resnet34"):
        load_pretrained(Classifier("resnet34"), str(tmp_path / "r18.pt"))
    with pytest.raises(NetworkError, match="is not a file"):
        load_pretrained(model, str(tmp_path / "missing.pt"))


def test_imagenet_weights_unavailable_is_a_clear_error(monkeypatch):
    def offline(self, *args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", offline)
    with pytest.raises(NetworkError, match="classifier.weights.*imagenet.*could not"):
        load_pretrained(Classifier("resnet18"), "imagenet")
