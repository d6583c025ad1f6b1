"""Classifier training throughput: batches cut from one device tensor and augmented there
(ours, `cbir.augment`) against a per-image PIL/torchvision-transforms DataLoader.

Both feed the same model, optimizer and precision (AMP bfloat16 and channels_last on CUDA,
float32 on the CPU), so the difference is the input pipeline. The baseline applies
RandomHorizontalFlip, RandomAffine (rotation, translation) and ColorJitter (brightness,
contrast) to PIL images, then ToTensor, a per-image min-max and the mapping to [-1, 1],
in `--workers` worker processes. Images are random uint8 (throughput does not depend on
content). Reported: images per second over `--steps` timed steps after `--warmup` steps.

    .venv/bin/python benchmarks/training.py [--configs default paper] [--steps 5] [--device auto]

Configurations: default = resnet18 at 32 px, batch 64 (the CPU demo run); paper = resnet34
at 96 px, batch 64 (the paper's setting); authors = paper with the MLP head of the authors'
notebooks (`classifier.head: mlp`). Augmentation and precision are those of
config/config.yaml (`classifier.augment`, `runtime`), the device as given; the baseline's
RandomAffine fills with black whatever `fill` says (torchvision has no edge-repeating fill),
which does not change its speed.

`--enhancers` (names of `ENHANCERS`) measures instead the restorers' training steps as the
enhancer jobs run them (`cbir.train.tasks.EnhancerTask`: degradation of the batch, forward,
loss, backward, Adam), with the pixel loss alone and with the retrieval-aware feature term
(a resnet18 classifier's embedding of the renormalised output and of the clean image):

    .venv/bin/python benchmarks/training.py --enhancers residual unet srcnn [--size 32]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from cbir.augment import REFERENCE_SIZE, augment, seeded_generator  # noqa: E402
from cbir.config import validate_config  # noqa: E402
from cbir.device import Placement  # noqa: E402
from cbir.device import placement as resolve_placement  # noqa: E402
from cbir.imagemath import unit_range  # noqa: E402
from cbir.networks import Classifier  # noqa: E402
from cbir.train.tasks import EnhancerTask  # noqa: E402

CONFIGS = {
    "default": ("resnet18", 32, 64, "fc"),
    "paper": ("resnet34", 96, 64, "fc"),
    "authors": ("resnet34", 96, 64, "mlp"),
}
REPO = Path(__file__).resolve().parents[1]
# restorer -> (network, width/depth/scales, batch size, degradations)
NOISE = [{"name": "gaussian", "sigma": 0.1}, {"name": "salt_pepper", "amount": 0.1}, {"name": "speckle", "amount": 0.1}]
ENHANCERS = {
    "autoencoder": ("autoencoder", {}, 64, NOISE),
    "srcnn": ("srcnn", {}, 32, [{"name": "lowres", "level": 1}, {"name": "lowres", "level": 2}]),
    "residual": ("residual", {"width": 32, "depth": 8}, 64, NOISE),
    "unet": ("unet", {"width": 16, "scales": 3}, 64, NOISE),
}


def default_config() -> dict:
    """config/config.yaml with the schema's defaults filled in: the augmentation and runtime a run uses."""
    return validate_config(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))


AUGMENT = default_config()["classifier"]["augment"]


def minmax_pm1(x: torch.Tensor) -> torch.Tensor:
    low, high = x.amin(), x.amax()
    return ((x - low) / (high - low).clamp_min(1e-12)) * 2 - 1


class PilImages(torch.utils.data.Dataset):
    """uint8 images served one by one as PIL images through torchvision transforms."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        from torchvision import transforms

        size = images.shape[1]
        shift = AUGMENT["translate_px"] * size / REFERENCE_SIZE / size
        self.images, self.labels = images, labels
        self.transform = transforms.Compose(
            [
                transforms.RandomHorizontalFlip(),
                transforms.RandomAffine(degrees=AUGMENT["rotate_deg"], translate=(shift, shift)),
                transforms.ColorJitter(brightness=AUGMENT["brightness"], contrast=AUGMENT["contrast"]),
                transforms.ToTensor(),
                transforms.Lambda(minmax_pm1),
            ]
        )

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def make_model(arch: str, head: str, placement: Placement):
    torch.manual_seed(0)
    model = placement.prepare_model(Classifier(arch, head=head))
    return model, torch.optim.Adam(model.parameters(), lr=1e-3), placement.grad_scaler()


def step(model, optimizer, scaler, placement: Placement, x: torch.Tensor, y: torch.Tensor) -> None:
    with placement.autocast():
        loss = F.cross_entropy(model(placement.prepare_input(x)).float(), y)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def sync(placement: Placement) -> None:
    if placement.cuda:
        torch.cuda.synchronize()


def ours(
    images: np.ndarray,
    labels: np.ndarray,
    arch: str,
    head: str,
    batch: int,
    steps: int,
    warmup: int,
    placement: Placement,
    train: bool = True,
) -> float:
    """Images/s of training steps fed from a device tensor; input pipeline alone without `train`."""
    model, optimizer, scaler = make_model(arch, head, placement)
    model.train()
    data = torch.from_numpy(images).to(placement.device)
    target = torch.from_numpy(labels).to(placement.device)
    generator = seeded_generator(0, placement.device)
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0)).to(placement.device)
    for k in range(warmup + steps):
        if k == warmup:
            sync(placement)
            started = time.perf_counter()
        index = order[(k * batch) % len(images) :][:batch]
        x = augment(unit_range(data[index]), AUGMENT, generator) * 2 - 1
        if train:
            step(model, optimizer, scaler, placement, x, target[index])
    sync(placement)
    return steps * batch / (time.perf_counter() - started)


def baseline(
    images: np.ndarray,
    labels: np.ndarray,
    arch: str,
    head: str,
    batch: int,
    steps: int,
    warmup: int,
    placement: Placement,
    workers: int,
    train: bool = True,
) -> float:
    """Images/s of training steps fed by the PIL DataLoader; input pipeline alone without `train`."""
    model, optimizer, scaler = make_model(arch, head, placement)
    model.train()
    loader = torch.utils.data.DataLoader(
        PilImages(images, labels),
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        pin_memory=placement.cuda,
        drop_last=True,
        persistent_workers=workers > 0,
    )
    batches = iter(loader)
    for k in range(warmup + steps):
        if k == warmup:
            sync(placement)
            started = time.perf_counter()
        try:
            x, y = next(batches)
        except StopIteration:
            batches = iter(loader)
            x, y = next(batches)
        x, y = x.to(placement.device, non_blocking=True), y.to(placement.device, non_blocking=True)
        if train:
            step(model, optimizer, scaler, placement, x, y)
    sync(placement)
    return steps * batch / (time.perf_counter() - started)


def enhancer_rate(name: str, size: int, feature: float, steps: int, warmup: int, placement: Placement) -> float:
    """Images/s of the enhancer `name`'s training steps on random images of `size` px."""
    network, args, batch, degradations = ENHANCERS[name]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (max(batch * 4, 512), size, size), dtype=np.uint8)
    recipe = {
        "network": network, "degradations": degradations, "loss": {"pixel": 1.0, "feature": feature},
        "width": 32, "depth": 8, "scales": 3, **args, "batch_size": batch, "steps_per_epoch": 1, "eval_images": 8,
    }  # fmt: skip
    classifier = placement.prepare_model(Classifier("resnet18")) if feature else None
    task = EnhancerTask(
        name, train_images=images, heldout_images=images[:8], recipe=recipe, seed=0, placement=placement,
        rescale="minmax", classifier=classifier,
    )  # fmt: skip
    model = placement.prepare_model(task.model).train()
    optimizer, scaler = torch.optim.Adam(model.parameters(), lr=1e-3), placement.grad_scaler()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    for k in range(warmup + steps):
        if k == warmup:
            sync(placement)
            started = time.perf_counter()
        x, y = task.batch(order[(k * batch) % len(images) :][:batch], 0, k, None)
        with placement.autocast():
            output = model(placement.prepare_input(x))
        loss, _ = task.loss_parts(output, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    sync(placement)
    return steps * batch / (time.perf_counter() - started)


def enhancers(names: list[str], size: int, steps: int, warmup: int, placement: Placement) -> None:
    print("enhancer training steps (degradation, forward, loss, backward, Adam), images/s")
    print(f"{'restorer':12} {'network':21} {'px':>3} {'batch':>5} {'pixel':>8} {'+feature':>9}")
    for name in names:
        network, args, batch, _ = ENHANCERS[name]
        plain = enhancer_rate(name, size, 0.0, steps, warmup, placement)
        feature = enhancer_rate(name, size, 1.0, steps, warmup, placement)
        label = network + "".join(f" {k[0]}{v}" for k, v in args.items())
        print(f"{name:12} {label:21} {size:3d} {batch:5d} {plain:8.0f} {feature:9.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["default", "paper"])
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 5 on the CPU, 50 on CUDA)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed steps first (default 1 on the CPU, 10 on CUDA)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="override the configurations' batch size")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="baseline DataLoader workers")
    parser.add_argument("--enhancers", nargs="+", choices=sorted(ENHANCERS), help="time these restorers instead")
    parser.add_argument("--size", type=int, default=32, help="image side for --enhancers")
    args = parser.parse_args()
    placement = resolve_placement({**default_config()["runtime"], "device": args.device}, args.threads)
    steps = args.steps or (50 if placement.cuda else 5)
    warmup = args.warmup if args.warmup is not None else (10 if placement.cuda else 1)
    name = torch.cuda.get_device_name() if placement.cuda else f"CPU, {torch.get_num_threads()} threads"
    if args.enhancers:
        print(f"device: {name}; {steps} timed steps after {warmup} warm-up")
        enhancers(args.enhancers, args.size, steps, warmup, placement)
        return
    print(f"device: {name}; {steps} timed steps after {warmup} warm-up; baseline workers {args.workers}")
    print("training step (input pipeline + model), then the input pipeline alone, in images/s")
    header = f"{'config':8} {'model':9} {'px':>3} {'batch':>5} {'ours':>9} {'PIL':>9} {'ratio':>6}"
    print(f"{header} {'ours input':>11} {'PIL input':>10} {'ratio':>6}")
    for config in args.configs:
        arch, size, batch, head = CONFIGS[config]
        batch = args.batch_size or batch
        rng = np.random.default_rng(0)
        n = max(batch * 4, 512)
        images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        labels = rng.integers(0, 5, n).astype(np.int64)
        fast = ours(images, labels, arch, head, batch, steps, warmup, placement)
        slow = baseline(images, labels, arch, head, batch, steps, warmup, placement, args.workers)
        feed = ours(images, labels, arch, head, batch, steps * 4, warmup, placement, train=False)
        load = baseline(images, labels, arch, head, batch, steps * 4, warmup, placement, args.workers, train=False)
        print(
            f"{config:8} {arch:9} {size:3d} {batch:5d} {fast:9.0f} {slow:9.0f} {fast / slow:6.2f} "
            f"{feed:11.0f} {load:10.0f} {feed / load:6.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
