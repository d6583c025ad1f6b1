"""The networks: shapes, parameter counts, heads, the autoencoders' layouts and size rule,
the residual restorers' identity start, build(meta) round trip, pretrained weights (offline)."""

from __future__ import annotations

import copy
import socket
import urllib.request

import pytest
import torch
import torchvision
from torch import nn

from cbir.networks import (
    ENHANCER_KINDS,
    SRCNN,
    Autoencoder,
    Classifier,
    NetworkError,
    ReferenceAutoencoder,
    Residual,
    UNet,
    architecture,
    build,
    create,
    input_channels,
)
from cbir.pretrained import imagenet_weights, load_pretrained


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


MLP = 512 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 5 + 5
HEAD_PARAMETERS = {"fc": 512 * 5 + 5, "mlp": MLP}


def pooled_features(model: Classifier, x: torch.Tensor) -> torch.Tensor:
    """The ResNet's global-average-pooled last block, computed layer by layer."""
    t = model.trunk
    h = t.maxpool(t.relu(t.bn1(t.conv1(model.stem(x)))))
    return torch.flatten(t.avgpool(t.layer4(t.layer3(t.layer2(t.layer1(h))))), 1)


@pytest.mark.parametrize(("arch", "head"), [("resnet18", "fc"), ("resnet34", "fc"), ("resnet18", "mlp")])
def test_classifier_shapes_and_parameter_count(arch, head):
    torch.manual_seed(0)
    model = Classifier(arch, head=head).eval()
    x = torch.randn(3, 1, 32, 32)
    assert model(x).shape == (3, 5)
    assert model.embed(x).shape == (3, 512)
    reference = getattr(torchvision.models, arch)(weights=None)
    fc_1000 = 512 * 1000 + 1000
    assert count(model.trunk) == count(reference) - fc_1000
    # 1x1 conv 1 -> 3 (3 weights + 3 biases) in front, the head at the end
    assert count(model.stem) == 6
    assert count(model.fc) == HEAD_PARAMETERS[head]
    assert count(model) == count(reference) - fc_1000 + 6 + HEAD_PARAMETERS[head]
    # the embedding is the pooled feature, the head's input: the logits are the head applied to it
    torch.testing.assert_close(model.embed(x), pooled_features(model, x))
    torch.testing.assert_close(model(x), model.fc(model.embed(x)))


def test_mlp_head_layout_and_embedding_taken_before_it():
    torch.manual_seed(0)
    model = Classifier("resnet18", head="mlp").eval()
    layers = list(model.fc)
    assert [type(m) for m in layers] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert [(m.in_features, m.out_features) for m in layers[::2]] == [(512, 1024), (1024, 1024), (1024, 5)]
    seen = []
    model.fc.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    x = torch.randn(2, 1, 32, 32)
    model(x)
    embedding = model.embed(x)
    torch.testing.assert_close(seen[0], embedding, rtol=0, atol=0)
    # changing the head leaves the embedding alone
    with torch.no_grad():
        layers[0].weight.add_(1.0)
    torch.testing.assert_close(model.embed(x), embedding, rtol=0, atol=0)


def test_head_is_recorded_and_checked():
    assert architecture(Classifier("resnet18", head="mlp"))["arch_args"] == {
        "arch": "resnet18",
        "num_classes": 5,
        "head": "mlp",
    }
    assert Classifier("resnet18").arch_args["head"] == "fc"
    with pytest.raises(NetworkError, match="classifier.head.*'conv'"):
        Classifier("resnet18", head="conv")


def test_checkpoint_meta_without_head_builds_the_fc_classifier():
    torch.manual_seed(0)
    old = Classifier("resnet18").eval()
    rebuilt = build({"kind": "classifier", "arch_args": {"arch": "resnet18", "num_classes": 5}}).eval()
    assert isinstance(rebuilt.fc, nn.Linear)
    rebuilt.load_state_dict(old.state_dict(), strict=True)  # the fc head's keys are those of old checkpoints
    assert "fc.weight" in old.state_dict()


def test_classifier_known_parameter_count():
    # torchvision's resnet34 has 21,797,672 parameters with its 1000-way FC
    assert count(Classifier("resnet34")) == 21_797_672 - 513_000 + 6 + 2565
    assert count(Classifier("resnet34", head="mlp")) == 21_797_672 - 513_000 + 6 + 1_580_037


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


def test_paper_autoencoder_keys_and_numbers_are_unchanged():
    # pinned before the reference variant was added: same keys, same seeded weights and output
    torch.manual_seed(0)
    model = Autoencoder().eval()
    keys = list(model.state_dict())
    bn = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    expected = [f"encoder.{i}.{p}" for i in range(5) for p in ["0.weight", "0.bias", *(f"2.{b}" for b in bn)]]
    expected += [f"decoder.{i}.{p}" for i in range(4) for p in ["0.weight", "0.bias", *(f"2.{b}" for b in bn)]]
    expected += ["decoder.4.0.weight", "decoder.4.0.bias"]
    assert keys == expected
    assert sum(p.double().abs().sum().item() for p in model.parameters()) == pytest.approx(14027.7671074013, rel=1e-9)
    torch.manual_seed(1)
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    assert model(x).double().sum().item() == pytest.approx(-11.40793551178649, rel=1e-6)
    assert all(m.negative_slope == 0.01 for m in model.modules() if isinstance(m, nn.LeakyReLU))


def _randomise_batchnorm(model: nn.Module) -> None:
    """Non-trivial running statistics and affine parameters, so eval-mode BatchNorm is not near identity."""
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))


def test_reference_autoencoder_layout():
    model = ReferenceAutoencoder()
    assert create("reference_autoencoder").kind == "reference_autoencoder"
    assert model.arch_args == {"channels": [16, 32, 64, 128, 256]}
    # BatchNorm after encoder blocks 1-2 only (conv, ReLU, BN); blocks 3-5 are conv, ReLU
    assert [[type(m) for m in block] for block in model.encoder] == [
        [nn.Conv2d, nn.ReLU, nn.BatchNorm2d],
        [nn.Conv2d, nn.ReLU, nn.BatchNorm2d],
        [nn.Conv2d, nn.ReLU],
        [nn.Conv2d, nn.ReLU],
        [nn.Conv2d, nn.ReLU],
    ]
    # decoder: transposed conv, LeakyReLU of slope 1 (the notebooks' LeakyReLU(True)), BN; last: tanh
    assert [[type(m) for m in block] for block in model.decoder] == [
        *[[nn.ConvTranspose2d, nn.LeakyReLU, nn.BatchNorm2d]] * 4,
        [nn.ConvTranspose2d, nn.Tanh],
    ]
    assert [m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)] == [1.0] * 4
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 6
    # the paper-text autoencoder minus the BatchNorms of encoder blocks 3-5 (64, 128, 256 channels)
    assert count(model) == count(Autoencoder()) - 2 * (64 + 128 + 256)


def test_reference_autoencoder_shape_and_size_rule():
    model = ReferenceAutoencoder().eval()
    for size in (32, 96):
        y = model(torch.randn(2, 1, size, size))
        assert y.shape == (2, 1, size, size) and y.abs().max() <= 1
    with pytest.raises(NetworkError, match="reference_autoencoder needs.*multiple of 32"):
        model(torch.randn(1, 1, 48, 48))


@pytest.mark.parametrize(("cls", "affine"), [(ReferenceAutoencoder, True), (Autoencoder, False)])
def test_reference_decoder_is_affine_before_tanh(cls, affine):
    torch.manual_seed(0)
    model = cls().eval()
    _randomise_batchnorm(model)
    model.decoder[-1][-1] = nn.Identity()  # drop the tanh
    decoder = model.decoder
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(2, 2, 256, 1, 1, generator=g).unbind(0)
    zero = torch.zeros_like(x)
    with torch.no_grad():
        lhs, rhs = decoder(x + y) - decoder(y), decoder(x) - decoder(zero)
        scaled = decoder(3 * x) - decoder(zero)
    close = torch.allclose(lhs, rhs, rtol=1e-4, atol=1e-4 * rhs.abs().max().item())
    assert close == affine  # the paper's LeakyReLU(0.01) decoder is not affine: the test can fail
    if affine:
        torch.testing.assert_close(scaled, 3 * rhs, rtol=1e-4, atol=1e-4 * rhs.abs().max().item())


def test_srcnn_layout_count_and_shape():
    model = SRCNN().eval()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size[0] for c in convs] == [5, 5, 5, 3, 3]
    assert [c.out_channels for c in convs] == [32, 64, 128, 32, 1]
    expected = 25 * 32 + 32 + 25 * 32 * 64 + 64 + 25 * 64 * 128 + 128 + 9 * 128 * 32 + 32 + 9 * 32 + 1
    assert count(model) == expected == 294_209
    y = model(torch.randn(2, 1, 24, 40))  # size kept, any size
    assert y.shape == (2, 1, 24, 40) and y.abs().max() <= 1


# ---------------------------------------------------------------------------------------
# residual and unet: identity at initialisation, any size, counts, no frozen layers
# ---------------------------------------------------------------------------------------

RESTORERS = [
    ("residual", {"width": 8, "depth": 4}),
    ("residual", {"width": 32, "depth": 8}),
    ("unet", {"width": 8, "scales": 2}),
    ("unet", {"width": 16, "scales": 4}),
]


def _randomise_weights(model: nn.Module) -> None:
    """Every parameter (the zero last conv included) and BatchNorm statistic random."""
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    _randomise_batchnorm(model)


def test_enhancer_kinds():
    assert ENHANCER_KINDS == ("autoencoder", "reference_autoencoder", "srcnn", "residual", "unet")
    assert Residual.config_keys == ("width", "depth") and UNet.config_keys == ("width", "scales")


@pytest.mark.parametrize(("kind", "args"), RESTORERS)
@pytest.mark.parametrize("train", [False, True])
def test_restorers_start_as_the_identity(kind, args, train):
    torch.manual_seed(0)
    model = create(kind, **args).train(train)
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        assert (model(x) - x).abs().max().item() < 1e-6
    _randomise_weights(model)  # the test can fail: with weights it is no longer the identity
    with torch.no_grad():
        assert (model(x) - x).abs().max().item() > 1e-2


@pytest.mark.parametrize(("kind", "args", "sizes"), [(*RESTORERS[1], (32, 96, 40)), (*RESTORERS[3], (32, 96))])
def test_restorer_shapes(kind, args, sizes):
    model = create(kind, **args).eval()
    for size in sizes:
        assert model(torch.randn(2, 1, size, size)).shape == (2, 1, size, size)
    assert model(torch.randn(1, 1, 24, 40)).shape == (1, 1, 24, 40)  # non-square


def test_unet_size_rule():
    with pytest.raises(NetworkError, match=r"unet with 3 scales needs .* multiple of 4, got 34x34.*scales"):
        UNet(width=4, scales=3)(torch.randn(1, 1, 34, 34))
    assert UNet(width=4, scales=3).multiple == 4 and UNet(width=4, scales=2).multiple == 2
    assert UNet(width=4, scales=2)(torch.randn(1, 1, 34, 34)).shape == (1, 1, 34, 34)


def test_residual_layout_and_count():
    model = Residual(width=32, depth=8)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8 and all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert [c.out_channels for c in convs] == [32] * 7 + [1]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 6
    assert type(model.body[1]) is nn.ReLU and type(model.body[-1]) is nn.Conv2d
    w, d = 32, 8
    # first conv with bias, (d - 2) convs without bias + BatchNorm, last conv to 1 channel with bias
    assert count(model) == (9 * w + w) + (d - 2) * (9 * w * w + 2 * w) + (9 * w + 1) == 56_289
    with pytest.raises(NetworkError, match="depth >= 2"):
        Residual(width=8, depth=1)


def test_unet_layout_and_count():
    model = UNet(width=16, scales=3)
    c = [16, 32, 64]

    def double(a, b):  # two conv-BN-ReLU without conv bias
        return 9 * a * b + 2 * b + 9 * b * b + 2 * b

    down = double(1, c[0]) + double(c[0], c[1]) + double(c[1], c[2])
    up = sum(9 * c[i + 1] * c[i] + c[i] for i in range(2))  # 3x3 convs after the bilinear upsampling
    merge = double(2 * c[0], c[0]) + double(2 * c[1], c[1])
    assert count(model) == down + up + merge + (c[0] + 1)
    assert [b[0].out_channels for b in model.down] == c
    assert model.out.kernel_size == (1, 1) and model.out.weight.abs().sum() == 0 and model.out.bias.item() == 0


def test_unet_upsampling_leaves_no_checkerboard():
    """A spatially constant feature map stays constant through every `up` block away from the
    border; a 2x2 stride-2 transposed conv would give it a 2-px period (the grid artefacts)."""
    torch.manual_seed(0)
    model = UNet(width=4, scales=3).eval()
    for block in model.up:
        c_in = block[1].in_channels
        out = block(torch.full((1, c_in, 8, 8), 0.7))[..., 2:-2, 2:-2]
        assert torch.allclose(out, out[..., :1, :1].expand_as(out), atol=1e-6)


@pytest.mark.parametrize(("kind", "args"), [RESTORERS[0], RESTORERS[2]])
def test_zero_init_does_not_freeze_the_network(kind, args):
    """Step 1 (Adam, denoising) moves only the zero last conv: the gradient reaching the
    others is exactly 0 through it. From step 2 on, the first conv learns too."""
    torch.manual_seed(0)
    model = create(kind, **args).train()
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    last = [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(1)
    clean = torch.rand(8, 1, 16, 16, generator=g) * 2 - 1
    noisy = clean + 0.2 * torch.randn(clean.shape, generator=g)
    before = first.weight.detach().clone()

    def step():
        optimizer.zero_grad()
        nn.functional.mse_loss(model(noisy), clean).backward()
        optimizer.step()

    step()
    assert last.weight.abs().sum() > 0 and torch.equal(first.weight, before)
    step()
    assert first.weight.grad.abs().sum() > 0
    assert (first.weight - before).abs().max() > 1e-5


def test_constructor_arguments():
    # the paper's networks take none of width/depth/scales; the new ones need theirs
    assert create("srcnn").arch_args == {"channels": [32, 64, 128, 32, 1], "kernels": [5, 5, 5, 3, 3]}
    with pytest.raises(TypeError):
        create("srcnn", width=8)
    with pytest.raises(TypeError):
        create("residual")  # width and depth are required: the config holds their defaults


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        ("classifier", {"arch": "resnet18"}),
        ("classifier", {"arch": "resnet18", "head": "mlp"}),
        ("autoencoder", {}),
        ("reference_autoencoder", {}),
        ("srcnn", {}),
        ("residual", {"width": 8, "depth": 5}),
        ("unet", {"width": 4, "scales": 3}),
    ],
)
def test_build_from_meta_round_trip(kind, args):
    torch.manual_seed(1)
    model = create(kind, **args).eval()
    meta = architecture(model)
    assert meta["kind"] == kind
    assert meta["arch_args"] == {**model.arch_args, **args}
    rebuilt = build(meta).eval()
    _randomise_weights(model)  # not the identity start, so the loaded weights matter
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


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """TORCH_HOME at an empty folder and every way of reaching the network replaced by a recorder
    that fails; yields the list of attempted requests."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError(f"network request attempted: {args}")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torchvision.models.WeightsEnum, "get_state_dict", refuse)
    return attempts


def test_imagenet_weights_missing_fail_before_any_download(offline, tmp_path):
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "resnet34-b627a593.pth"
    assert imagenet_weights("resnet34") == (expected, torchvision.models.ResNet34_Weights.IMAGENET1K_V1.url)
    with pytest.raises(NetworkError) as info:
        load_pretrained(Classifier("resnet34"), "imagenet")
    message = str(info.value)
    assert "classifier.weights" in message and str(expected) in message
    assert "https://download.pytorch.org/models/resnet34-b627a593.pth" in message
    assert "TORCH_HOME" in message and "state_dict file" in message
    assert offline == []


def test_imagenet_weights_load_from_the_hub_cache(offline, tmp_path):
    torch.manual_seed(3)
    reference = torchvision.models.resnet18(weights=None)  # a stand-in of the right shape
    path, _ = imagenet_weights("resnet18")
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    torch.manual_seed(4)
    model = Classifier("resnet18", head="mlp")
    stem, head = copy.deepcopy(model.stem.state_dict()), copy.deepcopy(model.fc.state_dict())
    assert load_pretrained(model, "imagenet") == f"imagenet ({path})"
    for name, value in reference.state_dict().items():
        if not name.startswith("fc."):
            torch.testing.assert_close(model.trunk.state_dict()[name], value, rtol=0, atol=0)
    # the 1x1 input conv and the head keep their fresh initialisation
    for module, before in ((model.stem, stem), (model.fc, head)):
        for name, value in module.state_dict().items():
            assert torch.equal(value, before[name])
    assert offline == []


# ---------------------------------------------------------------------------------------
# colour: image_channels
# ---------------------------------------------------------------------------------------

GREY_ARCH_ARGS = [  # arch_args as grey checkpoints hold them, written before colour existed
    ("classifier", {"arch": "resnet18"}, {"arch": "resnet18", "num_classes": 5, "head": "fc"}),
    ("autoencoder", {}, {"channels": [16, 32, 64, 128, 256]}),
    ("reference_autoencoder", {}, {"channels": [16, 32, 64, 128, 256]}),
    ("srcnn", {}, {"channels": [32, 64, 128, 32, 1], "kernels": [5, 5, 5, 3, 3]}),
    ("residual", {"width": 8, "depth": 4}, {"width": 8, "depth": 4}),
    ("unet", {"width": 4, "scales": 3}, {"width": 4, "scales": 3}),
]


@pytest.mark.parametrize(("kind", "args", "expected"), GREY_ARCH_ARGS)
def test_grey_networks_keep_their_arch_args_and_weights(kind, args, expected):
    torch.manual_seed(0)
    default = create(kind, **args)
    torch.manual_seed(0)
    explicit = create(kind, **args, image_channels=1)
    assert default.arch_args == explicit.arch_args == expected  # no image_channels key for grey
    a, b = default.state_dict(), explicit.state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)  # same shapes, same seeded draws
    # an old grey checkpoint's meta rebuilds a network its weights load into
    build({"kind": kind, "arch_args": expected}).load_state_dict(a, strict=True)


@pytest.mark.parametrize(("kind", "args", "_"), GREY_ARCH_ARGS)
def test_colour_networks_take_and_return_three_channels(kind, args, _):
    torch.manual_seed(0)
    model = create(kind, **args, image_channels=3).eval()
    assert model.arch_args["image_channels"] == 3 and input_channels(model) == 3
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        if kind == "classifier":
            assert model.stem.in_channels == 3 and model.stem.out_channels == 3
            assert model(x).shape == (2, 5) and model.embed(x).shape == (2, 512)
        else:
            y = model(x)
            assert y.shape == (2, 3, 32, 32)
            convs = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
            assert convs[0].in_channels == 3 and convs[-1].out_channels == 3
        with pytest.raises(RuntimeError):  # a grey batch does not fit the colour input layer
            model(torch.rand(2, 1, 32, 32))
    # the checkpoint meta rebuilds the colour network, weights and all
    _randomise_weights(model)
    rebuilt = build(architecture(model)).eval()
    rebuilt.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize(("kind", "args"), RESTORERS[:1] + RESTORERS[2:3])
def test_colour_residual_restorers_start_as_the_identity(kind, args):
    torch.manual_seed(0)
    model = create(kind, **args, image_channels=3)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        assert (model(x) - x).abs().max().item() < 1e-6


def test_colour_channel_count_is_checked():
    assert SRCNN(image_channels=3).arch_args["channels"] == [32, 64, 128, 32, 3]
    assert SRCNN([8, 3], [3, 3], image_channels=3).arch_args == {
        "channels": [8, 3],
        "kernels": [3, 3],
        "image_channels": 3,
    }
    with pytest.raises(NetworkError, match="last layer to the image's 3 channels"):
        SRCNN([32, 64, 128, 32, 1], image_channels=3)  # the paper's grey list on colour images
    with pytest.raises(NetworkError, match="last layer to the image's 1 channel"):
        SRCNN([8, 3], [3, 3])
    for kind, args in [("classifier", {"arch": "resnet18"}), ("autoencoder", {}), ("unet", {"width": 4, "scales": 2})]:
        with pytest.raises(NetworkError, match="image_channels must be 1 .grey. or 3 .colour., got 2"):
            create(kind, **args, image_channels=2)
    assert input_channels(Classifier("resnet18")) == 1 and input_channels(nn.Linear(2, 2)) == 1
