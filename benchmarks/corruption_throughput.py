"""-C generator throughput: our batched corruptions vs the per-image NumPy/SciPy/PIL path of the reference kind.

For each corruption (the 15 benchmark ones, then the 4 extras) at severity 3, on 32×32 images with the CIFAR
constants and on 224×224 images with the ImageNet constants: images/s of ``augmix_lab.corruptions.corrupt`` on a
whole batch and of ``augmix_lab.corruptions.reference.reference_corrupt`` (make_cifar_c.py / make_imagenet_c.py
ported to today's packages, the oracle the tests use) image by image, both in this run, on the same threads, and
their ratio. Throughput is on process CPU time (robust to other load on the machine); the best of the rounds is kept.
Per size it also prints the arithmetic and geometric mean ratio over the 15 benchmark corruptions and every
corruption slower than its per-image path. Ratios from the same run are what count on a shared machine.

    python benchmarks/corruption_throughput.py [--threads 1] [--rounds 2] [--sizes 32,224]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from augmix_lab.corruptions import BENCHMARK_CORRUPTIONS, EXTRA_CORRUPTIONS, corrupt
from augmix_lab.corruptions.reference import reference_corrupt

SEVERITY = 3
# (batch for ours, images for the per-image path) per image size: enough work to time, little enough to wait for
COUNTS = {32: (512, 64), 224: (32, 4)}
PROFILE = {32: "cifar", 224: "imagenet"}


def test_images(size: int, n: int) -> torch.Tensor:
    """uint8 (n, 3, size, size): shapes test images (upscaled for 224), i.e. real structured content."""
    from augmix_lab.data import load_dataset

    x = load_dataset("shapes", n_train=1, n_test=max(n, 16)).test_images[:n]
    if size != x.shape[-1]:
        x = torch.nn.functional.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False)
        x = x.round().clamp(0, 255).to(torch.uint8)
    return x.contiguous()


def cpu_rate(fn, n: int) -> float:  # noqa: ANN001
    start = time.process_time()
    fn()
    return n / max(time.process_time() - start, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per measurement; the best is kept")
    parser.add_argument("--sizes", default="32,224", help="image sizes to measure (32 and/or 224)")
    parser.add_argument("--corruptions", default=None, help="comma-separated subset (default all 19)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.corruptions.split(",") if args.corruptions else list(BENCHMARK_CORRUPTIONS + EXTRA_CORRUPTIONS)
    print(f"severity {SEVERITY}, {args.threads} thread(s), best of {args.rounds} round(s), images/s on CPU time")
    print(f"{'size':>4} {'corruption':<18} {'ours img/s':>10} {'ref img/s':>10} {'ratio':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        batch_n, single_n = COUNTS[size]
        profile = PROFILE[size]
        batch = test_images(size, batch_n)
        singles = [x.permute(1, 2, 0).numpy().copy() for x in batch[:single_n]]
        ratios: dict[str, float] = {}
        for name in names:
            corrupt(batch[:2], name, SEVERITY, torch.Generator().manual_seed(0), profile)  # warm-up
            ours = max(cpu_rate(lambda: corrupt(batch, name, SEVERITY, torch.Generator().manual_seed(r), profile),
                                batch_n) for r in range(args.rounds))
            rng = np.random.default_rng(0)
            theirs = max(cpu_rate(lambda: [reference_corrupt(img, name, SEVERITY, rng, profile) for img in singles],
                                  single_n) for _ in range(args.rounds))
            ratios[name] = ours / theirs
            print(f"{size:>4} {name:<18} {ours:>10.1f} {theirs:>10.1f} {ratios[name]:>7.2f}x", flush=True)
        benchmark = {n: ratios[n] for n in BENCHMARK_CORRUPTIONS if n in ratios}
        if benchmark:
            mean = sum(benchmark.values()) / len(benchmark)
            geo = math.exp(sum(math.log(r) for r in benchmark.values()) / len(benchmark))
            slower = [f"{n} {r:.2f}x" for n, r in ratios.items() if r < 1]
            print(f"{size:>4} {len(benchmark)} benchmark corruptions: arithmetic mean ratio {mean:.1f}x, "
                  f"geometric mean {geo:.1f}x")
            print(f"{size:>4} slower than the per-image path: {', '.join(slower) if slower else 'none'}")


if __name__ == "__main__":
    main()
