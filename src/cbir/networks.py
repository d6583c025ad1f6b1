"""The networks of the paper (section IV.B).

- `Classifier`: a torchvision ResNet (resnet34 as in the paper, or resnet18) with a 1x1
  convolution from 1 to 3 channels in front and its 1000-way FC replaced by a head on
  C classes (`num_classes`: smallNORB's 5 by default; the training stage passes its data's):
  `fc` (512 -> C, the paper's text) or `mlp` (512-1024-ReLU-1024-ReLU-C, the authors' notebooks). `embed(x)` is the 512-d global-average-pooled output of the last
  convolutional block, i.e. the input of the head, whatever the head: the retrieval key.
- `Autoencoder` (denoiser and deblurrer): 5 encoder blocks (3x3 conv, stride 2, padding 1,
  ReLU, BatchNorm; 16-32-64-128-256 channels) and 5 decoder blocks (3x3 transposed conv,
  stride 2, padding 1, output padding 1, LeakyReLU, BatchNorm; 128-64-32-16-1 channels).
  The last decoder block is the transposed conv to 1 channel followed by tanh only: no
  LeakyReLU and no BatchNorm there, since a BatchNorm would re-centre the one output
  channel and a LeakyReLU before tanh would squash the negative half of [-1, 1].
  The side of the input must be a multiple of 32 (five halvings).
- `ReferenceAutoencoder` (`reference_autoencoder`): the authors' notebooks' variant of it,
  see its docstring.
- `SRCNN` (upscaler): five size-keeping convolutions, 5x5 (pad 2) for the first three and
  3x3 (pad 1) for the last two, channels 32-64-128-32-1, ReLU between, tanh at the end. Its
  input is the nearest-neighbour upscaled low-resolution image, of the output's size.
- `Residual` (`residual`, DnCNN of Zhang et al. 2017): `depth` size-keeping 3x3 convolutions
  of `width` channels (conv-ReLU, depth-2 x conv-BN-ReLU, conv to 1 channel) predicting a
  correction added to the input. Any image size.
- `UNet` (`unet`): `scales` resolution levels of two 3x3 conv-BN-ReLU with width * 2^level
  channels, max-pool down, transposed conv up, skips by concatenation, a 1x1 conv to the
  correction added to the input. The side must be a multiple of 2^(scales-1).
- `Detector` (`detector`, beyond the paper): predicts the kind of degradation of a query
  (`cbir.degrade.KINDS`: none, noise, blur, lowres): two 3x3 conv-BN-ReLU of `width` channels at
  full resolution (the kinds differ most in the finest scale: lowres leaves constant 2x2 / 4x4
  blocks, noise adds per-pixel energy, blur removes it), two stride-2 conv-BN-ReLU stages of 2 and
  4 x `width`, the global average and the global maximum of the last map concatenated, and a
  linear layer to one logit per kind. Any image size.

The last convolution of `residual` and `unet` starts at zero (weights and bias), so both
start as the exact identity, in train and eval mode: training begins from "leave the image
as it is", which the paper's networks have to learn first (the autoencoder squeezes a 32 px
image to 1x1x256 with no skip path). Only that layer gets a gradient in the very first step;
from the second step on every layer does (the zero init of ReZero / Fixup). Their output is
not squashed: it may leave [-1, 1] slightly, `cbir.imagemath.to_uint8` clips at inference.

Inputs are float [N, C, H, W] in [-1, 1] (`cbir.imagemath.normalize`); the enhancers output
[N, C, H, W] in [-1, 1]. Every network records its constructor arguments (`arch_args`), so
`build({"kind": ..., "arch_args": ...})` rebuilds it from a checkpoint's meta alone.

Colour: every network takes `image_channels` (C: 1 grey, the default, or 3 colour): the
classifier's stem, the detector's first layer and the restorers' first and last layers have C
channels instead of 1 (SRCNN: its last `channels` entry). It is recorded in `arch_args` only when
it is not 1, so grey networks keep the arch_args, weights and checkpoints they had before colour
existed.
"""

from __future__ import annotations

import torch
from torch import nn

from cbir.degrade.registry import KINDS as DEGRADATION_KINDS

NUM_CLASSES = 5  # smallNORB's categories: the default head
RESNETS = ("resnet18", "resnet34")
HEADS = ("fc", "mlp")  # config `classifier.head`
MLP_WIDTH = 1024
IMAGE_CHANNELS = (1, 3)  # grey, colour (RGB)


class NetworkError(ValueError):
    """An unknown architecture, a bad input size or unusable weights."""


def _image_channels(kind: str, image_channels: int) -> int:
    if isinstance(image_channels, bool) or int(image_channels) not in IMAGE_CHANNELS:
        raise NetworkError(f"{kind}: image_channels must be 1 (grey) or 3 (colour), got {image_channels!r}")
    return int(image_channels)


def _record_channels(arch_args: dict, image_channels: int) -> dict:
    # absent means 1: grey arch_args stay those of checkpoints written before colour
    return arch_args if image_channels == 1 else {**arch_args, "image_channels": image_channels}


def input_channels(model: nn.Module) -> int:
    """The number of image channels `model` takes (and a restorer returns): 1 or 3."""
    return int(getattr(model, "arch_args", {}).get("image_channels", 1))


def _head(head: str, width: int, num_classes: int) -> nn.Module:
    if head == "fc":
        return nn.Linear(width, num_classes)
    if head == "mlp":
        return nn.Sequential(
            nn.Linear(width, MLP_WIDTH),
            nn.ReLU(inplace=True),
            nn.Linear(MLP_WIDTH, MLP_WIDTH),
            nn.ReLU(inplace=True),
            nn.Linear(MLP_WIDTH, num_classes),
        )
    raise NetworkError(f"config key 'classifier.head': expected one of {HEADS}, got {head!r}")


class Classifier(nn.Module):
    """The ResNet classifier; the head is the attribute `fc` whatever its kind, so the
    state_dict keys of an `fc` head are those of checkpoints from before heads existed."""

    kind = "classifier"

    # head="fc" is the paper's network, and what a checkpoint whose arch_args lack "head" holds
    def __init__(self, arch: str, num_classes: int = NUM_CLASSES, head: str = "fc", image_channels: int = 1):
        super().__init__()
        if arch not in RESNETS:
            raise NetworkError(f"config key 'classifier.arch': expected one of {RESNETS}, got {arch!r}")
        image_channels = _image_channels(self.kind, image_channels)
        import torchvision  # slow import: only where a classifier is built

        self.arch_args = _record_channels({"arch": arch, "num_classes": int(num_classes), "head": head}, image_channels)
        # kept for colour too: a learnt colour mix in front of the ImageNet trunk, as for grey
        self.stem = nn.Conv2d(image_channels, 3, kernel_size=1)
        self.trunk = getattr(torchvision.models, arch)(weights=None)
        self.embedding_size = self.trunk.fc.in_features
        self.trunk.fc = nn.Identity()  # the trunk now ends with the pooled, flattened features
        self.fc = _head(head, self.embedding_size, int(num_classes))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] -> the pooled features before the head, [N, 512]."""
        return self.trunk(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] -> class logits [N, num_classes]."""
        return self.fc(self.embed(x))


def _encoder_block(c_in: int, c_out: int, norm: bool) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.BatchNorm2d(c_out)) if norm else nn.Sequential(*layers)


def _decoder_block(c_in: int, c_out: int, last: bool, slope: float) -> nn.Sequential:
    up = nn.ConvTranspose2d(c_in, c_out, kernel_size=3, stride=2, padding=1, output_padding=1)
    if last:
        return nn.Sequential(up, nn.Tanh())
    return nn.Sequential(up, nn.LeakyReLU(slope, inplace=True), nn.BatchNorm2d(c_out))


class Autoencoder(nn.Module):
    """The paper's text (module docstring). Block i of the encoder is
    `encoder[i] = (Conv2d, ReLU, BatchNorm2d)`; decoder blocks are `(ConvTranspose2d,
    LeakyReLU(0.01), BatchNorm2d)`, the last `(ConvTranspose2d, Tanh)`."""

    kind = "autoencoder"
    encoder_norm_blocks: int | None = None  # encoder blocks with a BatchNorm, from the first; None: all
    decoder_slope = 0.01  # negative slope of the decoder's LeakyReLU

    def __init__(self, channels: tuple[int, ...] | list[int] = (16, 32, 64, 128, 256), image_channels: int = 1):
        super().__init__()
        channels = [int(c) for c in channels]
        image_channels = _image_channels(self.kind, image_channels)
        self.arch_args = _record_channels({"channels": channels}, image_channels)
        self.multiple = 2 ** len(channels)
        widths = [image_channels, *channels]
        normed = len(channels) if self.encoder_norm_blocks is None else self.encoder_norm_blocks
        self.encoder = nn.Sequential(
            *[
                _encoder_block(a, b, norm=i < normed)
                for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True))
            ]
        )
        back = widths[::-1]  # 256, 128, 64, 32, 16, image_channels
        self.decoder = nn.Sequential(
            *[
                _decoder_block(a, b, last=i == len(back) - 2, slope=self.decoder_slope)
                for i, (a, b) in enumerate(zip(back[:-1], back[1:], strict=True))
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise NetworkError(
                f"the {self.kind} needs an image side that is a multiple of {self.multiple}, got {h}x{w} "
                "(config key 'dataset.image_size')"
            )
        return self.decoder(self.encoder(x))


class ReferenceAutoencoder(Autoencoder):
    """The autoencoder of the authors' notebooks, which produced their Table 1.

    Same channels, kernels, strides and paddings as `Autoencoder`, and the same block order
    (activation, then BatchNorm), with two differences:

    - only encoder blocks 1-2 have a BatchNorm: `encoder[0..1] = (Conv2d, ReLU, BatchNorm2d)`,
      `encoder[2..4] = (Conv2d, ReLU)`;
    - the decoder's activation is `nn.LeakyReLU(negative_slope=1.0)`, the identity: the
      notebooks write `nn.LeakyReLU(True)`, whose first argument is the negative slope
      (True == 1), not `inplace`. Decoder blocks 1-4 are `(ConvTranspose2d, LeakyReLU(1.0),
      BatchNorm2d)` and the last `(ConvTranspose2d, Tanh)`, so in eval mode the decoder is
      an affine map followed by tanh.

    Where the notebooks put the decoder's BatchNorm is not known here; it follows the
    project's decoder (after the activation, which with slope 1 is the same as right after
    the transposed convolution). State_dict keys: `encoder.{0,1}.{0,2}.*`,
    `encoder.{2,3,4}.0.*`, `decoder.{0..3}.{0,2}.*`, `decoder.4.0.*`.
    """

    kind = "reference_autoencoder"
    encoder_norm_blocks = 2
    decoder_slope = 1.0


class SRCNN(nn.Module):
    """`channels` are the output widths of the convolutions, the last one the image's channels;
    left None it is (32, 64, 128, 32, image_channels), the paper's for grey."""

    kind = "srcnn"

    def __init__(
        self,
        channels: tuple[int, ...] | list[int] | None = None,
        kernels: tuple[int, ...] | list[int] = (5, 5, 5, 3, 3),
        image_channels: int = 1,
    ):
        super().__init__()
        image_channels = _image_channels(self.kind, image_channels)
        channels = (32, 64, 128, 32, image_channels) if channels is None else channels
        channels, kernels = [int(c) for c in channels], [int(k) for k in kernels]
        if len(channels) != len(kernels) or channels[-1] != image_channels or any(k % 2 == 0 for k in kernels):
            raise NetworkError(
                f"SRCNN: bad channels {channels} / kernels {kernels} (odd kernels, one per layer, and the last "
                f"layer to the image's {image_channels} channel{'s' * (image_channels > 1)})"
            )
        self.arch_args = _record_channels({"channels": channels, "kernels": kernels}, image_channels)
        layers: list[nn.Module] = []
        c_in = image_channels
        for i, (c, k) in enumerate(zip(channels, kernels, strict=True)):
            layers.append(nn.Conv2d(c_in, c, kernel_size=k, padding=k // 2))
            layers.append(nn.ReLU(inplace=True) if i < len(channels) - 1 else nn.Tanh())
            c_in = c
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _zero_conv(c_in: int, kernel: int, c_out: int) -> nn.Conv2d:
    """The last convolution of a residual restorer, to the image's channels: zero, so the network
    starts as the identity."""
    conv = nn.Conv2d(c_in, c_out, kernel_size=kernel, padding=kernel // 2)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


def _conv_bn_relu(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    # no conv bias: the BatchNorm's shift replaces it
    conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
    return [conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


class Residual(nn.Module):
    """DnCNN: `body` = conv-ReLU, (depth-2) x conv-BN-ReLU, zero conv to the image's channels; out = x + body(x)."""

    kind = "residual"
    config_keys = ("width", "depth")  # recipe keys (config `enhancers.<name>`) that are constructor arguments

    def __init__(self, *, width: int, depth: int, image_channels: int = 1):
        super().__init__()
        width, depth = int(width), int(depth)
        if width < 1 or depth < 2:
            raise NetworkError(f"residual: needs width >= 1 and depth >= 2, got width {width}, depth {depth}")
        image_channels = _image_channels(self.kind, image_channels)
        self.arch_args = _record_channels({"width": width, "depth": depth}, image_channels)
        layers: list[nn.Module] = [nn.Conv2d(image_channels, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += _conv_bn_relu(width, width)
        self.body = nn.Sequential(*layers, _zero_conv(width, 3, image_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UNet(nn.Module):
    """U-Net with a residual output. `down[i]` (level i, width * 2^i channels) and `merge[i]` are
    two conv-BN-ReLU each; `up[i]` a bilinear 2x upsampling then a 3x3 conv from level i+1 to
    level i (a 2x2 stride-2 transposed conv leaves a 2-px checkerboard in the restored image:
    each output pixel's weights depend on its position in the 2x2 cell); `out` the zero 1x1
    conv. out = x + out(decoder features at full resolution)."""

    kind = "unet"
    config_keys = ("width", "scales")

    def __init__(self, *, width: int, scales: int, image_channels: int = 1):
        super().__init__()
        width, scales = int(width), int(scales)
        if width < 1 or scales < 1:
            raise NetworkError(f"unet: needs width >= 1 and scales >= 1, got width {width}, scales {scales}")
        image_channels = _image_channels(self.kind, image_channels)
        self.arch_args = _record_channels({"width": width, "scales": scales}, image_channels)
        self.multiple = 2 ** (scales - 1)
        c = [width * 2**i for i in range(scales)]
        self.down = nn.ModuleList(
            nn.Sequential(*_conv_bn_relu(c[i - 1] if i else image_channels, c[i]), *_conv_bn_relu(c[i], c[i]))
            for i in range(scales)
        )
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(c[i + 1], c[i], 3, padding=1),
            )
            for i in range(scales - 1)
        )
        self.merge = nn.ModuleList(
            nn.Sequential(*_conv_bn_relu(2 * c[i], c[i]), *_conv_bn_relu(c[i], c[i])) for i in range(scales - 1)
        )
        self.out = _zero_conv(width, 1, image_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise NetworkError(
                f"the unet with {len(self.down)} scales needs an image side that is a multiple of {self.multiple}, "
                f"got {h}x{w} (config keys 'dataset.image_size', 'enhancers.<name>.scales')"
            )
        skips, feature = [], x
        for i, block in enumerate(self.down):
            feature = block(self.pool(feature) if i else feature)
            skips.append(feature)
        for i in reversed(range(len(self.up))):
            feature = self.merge[i](torch.cat([skips[i], self.up[i](feature)], 1))
        return x + self.out(feature)


class Detector(nn.Module):
    """The degradation detector: `features` = conv-BN-ReLU (C -> width) and conv-BN-ReLU (width ->
    width) at full resolution, then stride-2 conv-BN-ReLU to 2 x width and to 4 x width; `head` a
    linear layer from [global average, global maximum] of the last map (8 x width) to one logit per
    kind of `cbir.degrade.KINDS`, in its order. The maximum keeps a local trace (a few noisy or
    blocky pixels) that the average would dilute."""

    kind = "detector"
    config_keys = ("width",)  # recipe keys (config `detector`) that are constructor arguments

    def __init__(self, *, width: int = 16, image_channels: int = 1):
        super().__init__()
        width = int(width)
        if width < 1:
            raise NetworkError(f"detector: needs width >= 1, got {width}")
        image_channels = _image_channels(self.kind, image_channels)
        self.arch_args = _record_channels({"width": width}, image_channels)
        self.features = nn.Sequential(
            *_conv_bn_relu(image_channels, width),
            *_conv_bn_relu(width, width),
            *_conv_bn_relu(width, 2 * width, stride=2),
            *_conv_bn_relu(2 * width, 4 * width, stride=2),
        )
        self.head = nn.Linear(8 * width, len(DEGRADATION_KINDS))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] -> kind logits [N, len(KINDS)]."""
        feature = self.features(x)
        pooled = torch.cat([feature.mean(dim=(2, 3)), feature.amax(dim=(2, 3))], 1)
        return self.head(pooled)


KINDS = {cls.kind: cls for cls in (Classifier, Autoencoder, ReferenceAutoencoder, SRCNN, Residual, UNet, Detector)}
# networks that map an image to an image (config `enhancers.<name>.network`); the classifier and the
# detector map it to logits
ENHANCER_KINDS = tuple(kind for kind in KINDS if kind not in ("classifier", "detector"))


def create(kind: str, **arch_args) -> nn.Module:
    """A freshly initialised network of `kind` (classifier, detector or one of `ENHANCER_KINDS`)."""
    if kind not in KINDS:
        raise NetworkError(f"unknown network kind {kind!r}; expected one of {sorted(KINDS)}")
    return KINDS[kind](**arch_args)


def architecture(model: nn.Module) -> dict:
    """The part of a checkpoint's meta that `build` needs: kind and constructor arguments."""
    meta = {"kind": model.kind, "arch_args": dict(model.arch_args)}
    if isinstance(model, Classifier):
        meta["embedding_size"] = model.embedding_size
    return meta


def build(meta: dict) -> nn.Module:
    """Rebuild a network (randomly initialised) from a checkpoint's meta alone."""
    try:
        kind, args = meta["kind"], meta["arch_args"]
    except (KeyError, TypeError) as exc:
        raise NetworkError(f"checkpoint meta lacks 'kind' or 'arch_args': {exc}") from exc
    return create(kind, **args)
