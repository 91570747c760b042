"""Training-step throughput: Standard vs AugMix + JSD(3) for small_cnn and wrn40_2, CPU (and CUDA when present).

Prints images/s of a full training step (augmentation on the training device + forward/backward/SGD step), the
share of the step spent in augmentation, and the throughput ratio to Standard, all measured in this run. Steps use
channels_last like the trainer does (its default on CPU and CUDA); Standard is also timed in the contiguous
layout, to show what channels_last buys.
Usage: python benchmarks/train_step.py [--steps 5] [--batch-size 128] [--threads 2] [--models small_cnn,wrn40_2]
"""

from __future__ import annotations

import argparse
import time

import torch

from augmix_lab.augment import create_augmentation
from augmix_lab.config import AugMixConfig
from augmix_lab.models import create_model
from augmix_lab.training.losses import augmix_loss, split_views

MEAN = STD = (0.5, 0.5, 0.5)  # reference cifar.py Normalize


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model_name: str, method: str, arity: int, device: torch.device, batch: int, steps: int,
            channels_last: bool = True) -> dict[str, float]:
    torch.manual_seed(0)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = create_model(model_name, 10).to(device, memory_format=memory_format)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    aug = create_augmentation(method=method, params={}, augmix=AugMixConfig(), jsd_arity=arity, num_classes=10,
                              mean=MEAN, std=STD, kind="cifar", image_size=32)
    gen = torch.Generator(device=device).manual_seed(0)
    images = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    images, labels = images.to(device), torch.randint(0, 10, (batch,)).to(device)
    autocast = device.type == "cuda"
    aug_time = step_time = 0.0
    for i in range(steps + 1):  # first step is warm-up
        _sync(device)
        t0 = time.perf_counter()
        out = aug(images, labels, gen)
        _sync(device)
        t1 = time.perf_counter()
        x = torch.cat(out.views) if len(out.views) > 1 else out.views[0]
        x = x.contiguous(memory_format=memory_format)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(x)
        loss = augmix_loss(split_views(logits.float(), len(out.views)), out.targets, 12.0 if arity > 1 else 0.0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(device)
        t2 = time.perf_counter()
        if i:
            aug_time += t1 - t0
            step_time += t2 - t0
    return {"images_per_s": batch * steps / step_time, "aug_share": aug_time / step_time}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)  # reference cifar.py batch size
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="small_cnn,wrn40_2")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"batch {args.batch_size}, {args.steps} timed steps after 1 warm-up, CPU threads {args.threads}")
    print(f"{'device':<6} {'model':<10} {'method':<14} {'images/s':>10} {'aug share':>10} {'vs standard':>12}")
    for device in devices:
        steps = args.steps * (10 if device.type == "cuda" else 1)
        for model_name in args.models.split(","):
            base = measure(model_name, "standard", 1, device, args.batch_size, steps)
            plain = measure(model_name, "standard", 1, device, args.batch_size, steps, channels_last=False)
            jsd = measure(model_name, "augmix", 3, device, args.batch_size, steps)
            for label, r in (("standard", base), ("std contiguous", plain), ("augmix+jsd(3)", jsd)):
                ratio = r["images_per_s"] / base["images_per_s"]
                print(f"{device.type:<6} {model_name:<10} {label:<14} {r['images_per_s']:>10.1f} "
                      f"{100 * r['aug_share']:>9.1f}% {ratio:>11.2f}x")


if __name__ == "__main__":
    main()
