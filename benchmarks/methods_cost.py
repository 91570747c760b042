"""Training-step cost of the methods comparison (Standard, AugMix+JSD, PRIME+JSD, PixMix, AugMax-DuBIN, Noise2Net).

Prints images/s of the trainer's own step (``training.build_train_step``: augmentation on the device, training hooks,
forward/backward/SGD) per method and its cost as a multiple of Standard's, all measured in this run. Methods are
timed in interleaved rounds and each keeps its best round, so a shared machine's load hits them alike.
Usage: python benchmarks/methods_cost.py [--steps 5] [--rounds 3] [--batch-size 32] [--threads 1] [--model small_cnn]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from augmix_lab.config import TrialConfig
from augmix_lab.models import create_model
from augmix_lab.training import build_train_step

MEAN = STD = (0.5, 0.5, 0.5)
# (label, method, jsd arity, norm): the recipes of studies/methods_modern.yaml
METHODS: tuple[tuple[str, str, int, str], ...] = (
    ("standard", "standard", 1, "bn"), ("augmix", "augmix", 3, "bn"), ("prime", "prime", 3, "bn"),
    ("pixmix", "pixmix", 1, "bn"), ("augmax", "augmax", 1, "dubin"), ("noise2net", "noise2net", 1, "bn"),
)


def build(model_name: str, method: str, arity: int, norm: str, batch: int, device: torch.device) -> Any:
    torch.manual_seed(0)
    cfg = TrialConfig.model_validate({"model": model_name, "method": method, "jsd": {"arity": arity}, "norm": norm,
                                      "seed": 0, "train": {"lr": 0.01}})
    model = create_model(model_name, 10, norm=norm).to(device, memory_format=torch.channels_last).train()
    step = build_train_step(cfg, model, num_classes=10, mean=MEAN, std=STD, kind="cifar", image_size=32,
                            device=device)
    images = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    labels = torch.randint(0, 10, (batch,), generator=torch.Generator().manual_seed(2))
    step(images.to(device), labels.to(device))  # warm-up (lazy init, the mixing set)
    return step, images.to(device), labels.to(device)


def timed(step: Any, images: torch.Tensor, labels: torch.Tensor, steps: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step(images, labels)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return images.shape[0] * steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)  # studies/methods_shapes.yaml
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="small_cnn")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    steps = {label: build(args.model, m, a, n, args.batch_size, device) for label, m, a, n in METHODS}
    best = {label: 0.0 for label in steps}
    for _ in range(args.rounds):
        for label, (step, images, labels) in steps.items():
            best[label] = max(best[label], timed(step, images, labels, args.steps, device))
    print(f"{args.model} on {device}, batch {args.batch_size}, {args.threads} thread(s), best of {args.rounds} rounds "
          f"x {args.steps} steps")
    print(f"{'method':<10} {'images/s':>10} {'cost x standard':>16}")
    for label in steps:
        print(f"{label:<10} {best[label]:>10.0f} {best['standard'] / best[label]:>16.2f}")


if __name__ == "__main__":
    main()
