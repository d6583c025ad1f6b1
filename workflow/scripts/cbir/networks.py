"""The networks of the paper (section IV.B).

- `Classifier`: a torchvision ResNet (resnet34 as in the paper, or resnet18) with a 1x1
  convolution from 1 to 3 channels in front and the final FC replaced by 512 -> 5.
  `embed(x)` is the 512-d global-average-pooled output of the last convolutional block,
  i.e. the input of the FC: the retrieval key.
- `Autoencoder` (denoiser and deblurrer): 5 encoder blocks (3x3 conv, stride 2, padding 1,
  ReLU, BatchNorm; 16-32-64-128-256 channels) and 5 decoder blocks (3x3 transposed conv,
  stride 2, padding 1, output padding 1, LeakyReLU, BatchNorm; 128-64-32-16-1 channels).
  The last decoder block is the transposed conv to 1 channel followed by tanh only: no
  LeakyReLU and no BatchNorm there, since a BatchNorm would re-centre the one output
  channel and a LeakyReLU before tanh would squash the negative half of [-1, 1].
  The side of the input must be a multiple of 32 (five halvings).
- `SRCNN` (upscaler): five size-keeping convolutions, 5x5 (pad 2) for the first three and
  3x3 (pad 1) for the last two, channels 32-64-128-32-1, ReLU between, tanh at the end. Its
  input is the nearest-neighbour upscaled low-resolution image, of the output's size.

Inputs are float [N, 1, H, W] in [-1, 1] (`cbir.imagemath.normalize`); the enhancers output
[N, 1, H, W] in [-1, 1]. Every network records its constructor arguments (`arch_args`), so
`build({"kind": ..., "arch_args": ...})` rebuilds it from a checkpoint's meta alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

NUM_CLASSES = 5
RESNETS = ("resnet18", "resnet34")


class NetworkError(ValueError):
    """An unknown architecture, a bad input size or unusable weights."""


class Classifier(nn.Module):
    kind = "classifier"

    def __init__(self, arch: str, num_classes: int = NUM_CLASSES):
        super().__init__()
        if arch not in RESNETS:
            raise NetworkError(f"config key 'classifier.arch': expected one of {RESNETS}, got {arch!r}")
        import torchvision  # slow import: only where a classifier is built

        self.arch_args = {"arch": arch, "num_classes": int(num_classes)}
        self.stem = nn.Conv2d(1, 3, kernel_size=1)
        self.trunk = getattr(torchvision.models, arch)(weights=None)
        self.embedding_size = self.trunk.fc.in_features
        self.trunk.fc = nn.Identity()  # the trunk now ends with the pooled, flattened features
        self.fc = nn.Linear(self.embedding_size, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 1, H, W] -> the pooled features before the FC, [N, 512]."""
        return self.trunk(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 1, H, W] -> class logits [N, num_classes]."""
        return self.fc(self.embed(x))


def _encoder_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(c_out),
    )


def _decoder_block(c_in: int, c_out: int, last: bool) -> nn.Sequential:
    up = nn.ConvTranspose2d(c_in, c_out, kernel_size=3, stride=2, padding=1, output_padding=1)
    if last:
        return nn.Sequential(up, nn.Tanh())
    return nn.Sequential(up, nn.LeakyReLU(0.01, inplace=True), nn.BatchNorm2d(c_out))


class Autoencoder(nn.Module):
    kind = "autoencoder"

    def __init__(self, channels: tuple[int, ...] | list[int] = (16, 32, 64, 128, 256)):
        super().__init__()
        channels = [int(c) for c in channels]
        self.arch_args = {"channels": channels}
        self.multiple = 2 ** len(channels)
        widths = [1, *channels]
        self.encoder = nn.Sequential(*[_encoder_block(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)])
        back = widths[::-1]  # 256, 128, 64, 32, 16, 1
        self.decoder = nn.Sequential(
            *[
                _decoder_block(a, b, last=i == len(back) - 2)
                for i, (a, b) in enumerate(zip(back[:-1], back[1:], strict=True))
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise NetworkError(
                f"the autoencoder needs an image side that is a multiple of {self.multiple}, got {h}x{w} "
                "(config key 'dataset.image_size')"
            )
        return self.decoder(self.encoder(x))


class SRCNN(nn.Module):
    kind = "srcnn"

    def __init__(
        self,
        channels: tuple[int, ...] | list[int] = (32, 64, 128, 32, 1),
        kernels: tuple[int, ...] | list[int] = (5, 5, 5, 3, 3),
    ):
        super().__init__()
        channels, kernels = [int(c) for c in channels], [int(k) for k in kernels]
        if len(channels) != len(kernels) or channels[-1] != 1 or any(k % 2 == 0 for k in kernels):
            raise NetworkError(f"SRCNN: bad channels {channels} / kernels {kernels} (odd kernels, 1 output channel)")
        self.arch_args = {"channels": channels, "kernels": kernels}
        layers: list[nn.Module] = []
        c_in = 1
        for i, (c, k) in enumerate(zip(channels, kernels, strict=True)):
            layers.append(nn.Conv2d(c_in, c, kernel_size=k, padding=k // 2))
            layers.append(nn.ReLU(inplace=True) if i < len(channels) - 1 else nn.Tanh())
            c_in = c
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


KINDS = {cls.kind: cls for cls in (Classifier, Autoencoder, SRCNN)}


def create(kind: str, **arch_args) -> nn.Module:
    """A freshly initialised network of `kind` (classifier, autoencoder, srcnn)."""
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


def load_pretrained(model: Classifier, weights: str) -> str:
    """Initialise the classifier's ResNet trunk from `weights`; return what was loaded.

    none: keep the random initialisation. imagenet: torchvision's ImageNet weights (needs
    them in the torch hub cache or a download). Otherwise a path to a state_dict of a
    torchvision ResNet of the same depth (its fc, if any, is ignored).
    """
    if weights in (None, "", "none"):
        return "none"
    arch = model.arch_args["arch"]
    if weights == "imagenet":
        import torchvision

        enum = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
        try:
            state = enum.get_state_dict(progress=False)
        except Exception as exc:  # no network, no cache: urllib/OSError of many kinds
            raise NetworkError(
                f"config key 'classifier.weights' is 'imagenet' but torchvision's {arch} weights could not "
                f"be loaded ({type(exc).__name__}: {exc}); put them in the torch hub cache "
                f"({torch.hub.get_dir()}/checkpoints/) or set classifier.weights to a local state_dict path"
            ) from exc
        source = f"imagenet ({enum.url})"
    else:
        path = Path(os.fspath(weights))
        if not path.is_file():
            raise NetworkError(
                f"config key 'classifier.weights': {path} is not a file (expected none, imagenet or a path)"
            )
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise NetworkError(f"{path}: cannot read as a torch state_dict: {exc}") from exc
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        source = str(path)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    result = model.trunk.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("fc.")]
    if missing or result.unexpected_keys:
        raise NetworkError(
            f"classifier weights {source}: not a torchvision {arch} state_dict "
            f"(missing {missing[:5]}, unexpected {result.unexpected_keys[:5]})"
        )
    return source
