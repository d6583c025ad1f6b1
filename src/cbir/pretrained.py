"""Pretrained weights for the classifier's ResNet trunk: torchvision's ImageNet weights from the
torch hub cache (never downloaded here) or a state_dict file (config `classifier.weights`)."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import torch

from cbir.networks import Classifier, NetworkError


def imagenet_weights(arch: str) -> tuple[Path, str]:
    """(where torch.hub keeps torchvision's ImageNet weights of `arch`, the URL they come from).

    The path is `torch.hub.get_dir()`/checkpoints/<file name of the URL>, i.e.
    $TORCH_HOME/hub/checkpoints/ (TORCH_HOME defaults to ~/.cache/torch), the file torchvision
    itself would download there.
    """
    import torchvision

    url = torchvision.models.get_model_weights(arch).IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / PurePosixPath(urlparse(url).path).name, url


def _read_state_dict(path: Path) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise NetworkError(f"{path}: cannot read as a torch state_dict: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise NetworkError(f"{path}: holds a {type(state).__name__}, not a state_dict")
    return state


def load_pretrained(model: Classifier, weights: str) -> str:
    """Initialise the classifier's ResNet trunk from `weights`; return what was loaded.

    none: keep the random initialisation. imagenet: torchvision's ImageNet weights, read
    from the torch hub cache only (`imagenet_weights`): the training machines may be
    offline, so nothing is downloaded and a missing file is an error saying where to put it.
    Otherwise a path to a state_dict of a torchvision ResNet of the same depth. Either way
    only the trunk is loaded (a file's fc is ignored): the 1x1 stem and the head keep their
    fresh initialisation.
    """
    if weights in (None, "", "none"):
        return "none"
    arch = model.arch_args["arch"]
    if weights == "imagenet":
        path, url = imagenet_weights(arch)
        if not path.is_file():
            raise NetworkError(
                f"config key 'classifier.weights' is 'imagenet' but torchvision's {arch} ImageNet weights are not "
                f"in the torch hub cache: expected the file {path}. Nothing is downloaded here (training machines "
                f"may be offline): on a machine with network download {url} and copy the file to {path} "
                f"(the folder is $TORCH_HOME/hub/checkpoints/, TORCH_HOME defaulting to ~/.cache/torch). "
                f"Alternatively set classifier.weights to the path of a torchvision {arch} state_dict file."
            )
        state, source = _read_state_dict(path), f"imagenet ({path})"
    else:
        path = Path(os.fspath(weights))
        if not path.is_file():
            raise NetworkError(
                f"config key 'classifier.weights': {path} is not a file (expected none, imagenet or a path)"
            )
        state, source = _read_state_dict(path), str(path)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    try:
        result = model.trunk.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # same names, other shapes
        raise NetworkError(f"classifier weights {source}: not a torchvision {arch} state_dict ({exc})") from exc
    missing = [k for k in result.missing_keys if not k.startswith("fc.")]
    if missing or result.unexpected_keys:
        raise NetworkError(
            f"classifier weights {source}: not a torchvision {arch} state_dict "
            f"(missing {missing[:5]}, unexpected {result.unexpected_keys[:5]})"
        )
    return source
