"""Training-step throughput: Standard vs AugMix + JSD(3) for small_cnn and wrn40_2, CPU (and CUDA when present).

Prints images/s of the trainer's own training step (``augmix_lab.training.build_train_step``: augmentation on the
training device + forward/backward/SGD step; bf16 autocast on CUDA), the share of the step spent in augmentation
(timed separately), and the throughput ratio to Standard, all measured in this run. Steps use
channels_last like the trainer does (its default on CPU and CUDA); Standard is also timed in the contiguous
layout, to show what channels_last buys.
``--augmix-engines sorted,compiled`` times the AugMix+JSD step once per CPU op engine (``augment.ops.ENGINE``), in the
same run; ``--amp on`` is the quickstart's bf16 autocast.
Usage: python benchmarks/train_step.py [--steps 5] [--batch-size 128] [--threads 2] [--models small_cnn,wrn40_2]
       [--augmix-engines sorted,compiled] [--amp auto]
"""

from __future__ import annotations

import argparse
import time

import torch

from augmix_lab.config import TrialConfig
from augmix_lab.models import create_model
from augmix_lab.training import build_train_step

MEAN = STD = (0.5, 0.5, 0.5)  # reference cifar.py Normalize


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(model_name: str, method: str, arity: int, device: torch.device, batch: int, steps: int,
            channels_last: bool = True, compile: str = "off", amp: str = "auto") -> dict[str, float]:
    """images/s of the trainer's own step (``training.build_train_step``) and the augmentation's share of it."""
    torch.manual_seed(0)
    cfg = TrialConfig.model_validate({
        "model": model_name, "method": method, "jsd": {"arity": arity}, "seed": 0,
        "train": {"lr": 0.01, "channels_last": "on" if channels_last else "off", "compile": compile, "amp": amp},
    })
    model = create_model(model_name, 10).to(device, memory_format=torch.channels_last if channels_last else
                                            torch.contiguous_format)
    model.train()
    step = build_train_step(cfg, model, num_classes=10, mean=MEAN, std=STD, kind="cifar", image_size=32,
                            device=device)
    images = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    images, labels = images.to(device), torch.randint(0, 10, (batch,)).to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    aug_time = step_time = 0.0
    for i in range(steps + 1):  # first step is warm-up (and compilation)
        _sync(device)
        t0 = time.perf_counter()
        step.augmentation(images, labels, gen)  # the augmentation alone, for its share of the step
        _sync(device)
        t1 = time.perf_counter()
        step(images, labels)
        _sync(device)
        t2 = time.perf_counter()
        if i:
            aug_time += t1 - t0
            step_time += t2 - t1
    return {"images_per_s": batch * steps / step_time, "aug_share": aug_time / step_time}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)  # reference cifar.py batch size
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="small_cnn,wrn40_2")
    parser.add_argument("--augmix-engines", default="", help="e.g. sorted,compiled: one AugMix row per CPU engine")
    parser.add_argument("--amp", default="auto", help="train.amp of the timed steps (the quickstart: on)")
    args = parser.parse_args()
    from augmix_lab.augment import ops as ops_module

    torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"batch {args.batch_size}, {args.steps} timed steps after 1 warm-up, CPU threads {args.threads}")
    print(f"{'device':<6} {'model':<10} {'method':<22} {'images/s':>10} {'aug share':>10} {'vs standard':>12}")
    for device in devices:
        steps = args.steps * (10 if device.type == "cuda" else 1)
        for model_name in args.models.split(","):
            base = measure(model_name, "standard", 1, device, args.batch_size, steps, amp=args.amp)
            plain = measure(model_name, "standard", 1, device, args.batch_size, steps, channels_last=False,
                            amp=args.amp)
            rows = [("standard", base), ("std contiguous", plain)]
            engines = args.augmix_engines.split(",") if args.augmix_engines and device.type == "cpu" else [""]
            for engine in engines:
                ops_module.ENGINE = engine or "auto"
                rows.append((f"augmix+jsd(3){' ' + engine if engine else ''}",
                             measure(model_name, "augmix", 3, device, args.batch_size, steps, amp=args.amp)))
            ops_module.ENGINE = "auto"
            for label, r in rows:
                ratio = r["images_per_s"] / base["images_per_s"]
                print(f"{device.type:<6} {model_name:<10} {label:<22} {r['images_per_s']:>10.1f} "
                      f"{100 * r['aug_share']:>9.1f}% {ratio:>11.2f}x")


if __name__ == "__main__":
    main()
