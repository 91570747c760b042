"""C-bar generator throughput: our batched kernels vs the per-image path of the reference kind.

For each CIFAR-10-C-bar corruption on 32×32 images (CIFAR levels) and each ImageNet-C-bar corruption on 224×224
images (ImageNet levels), at severity 3: images/s of ``augmix_lab.corruptions.corrupt`` on a whole batch (draws
included) and of ``augmix_lab.corruptions.cbar_reference.oracle`` (imagenet_c_bar/corrupt.py's pixel-by-pixel
transforms, the oracle the tests compare with) image by image on the same draws, both in this run, on the same
threads, and their ratio. Throughput is on process CPU time (robust to other load on the machine); the best of the
rounds is kept. Ratios from the same run are what count on a shared machine.

    python benchmarks/cbar_throughput.py [--threads 1] [--rounds 1] [--sizes 32,224]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from augmix_lab.corruptions import corrupt
from augmix_lab.corruptions.cbar_reference import oracle
from augmix_lab.corruptions.registry import CORRUPTIONS, corruption_names

SEVERITY = 3
COUNTS = {32: (512, 2), 224: (16, 1)}  # (batch for ours, images for the per-image path) per image size
PROFILE = {32: "cifar", 224: "imagenet"}


def test_images(size: int, n: int) -> torch.Tensor:
    """uint8 (n, 3, size, size): shapes test images (upscaled for 224), i.e. real structured content."""
    from augmix_lab.data import load_dataset

    x = load_dataset("shapes", n_train=1, n_test=max(n, 16)).test_images[:n]
    if size != x.shape[-1]:
        x = torch.nn.functional.interpolate(x.float(), size=(size, size), mode="bilinear", align_corners=False)
        x = x.round().clamp(0, 255).to(torch.uint8)
    return x.contiguous()


def cpu_rate(fn, n: int, rounds: int) -> float:  # noqa: ANN001
    best = 0.0
    for _ in range(rounds):
        start = time.process_time()
        fn()
        best = max(best, n / max(time.process_time() - start, 1e-9))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds per measurement; the best is kept")
    parser.add_argument("--sizes", default="32,224", help="image sizes to measure (32 and/or 224)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"severity {SEVERITY}, {args.threads} thread(s), best of {args.rounds} round(s), images/s on CPU time")
    print(f"{'size':>4} {'corruption':<32} {'ours img/s':>10} {'ref img/s':>10} {'ratio':>9}")
    for size in (int(s) for s in args.sizes.split(",")):
        profile = PROFILE[size]
        batch, ref_n = COUNTS[size]
        x = test_images(size, batch)
        ratios = []
        for name in corruption_names(suite="c_bar", profile=profile):
            spec = CORRUPTIONS.get(name)
            corrupt(x[:2], name, SEVERITY, torch.Generator().manual_seed(0), profile)  # warm-up (cached operators)
            ours = cpu_rate(lambda: corrupt(x, name, SEVERITY, torch.Generator().manual_seed(1), profile), batch,
                            args.rounds)
            c = spec.constants(profile, SEVERITY)
            xf = x[:ref_n].float() / 255
            params = spec.sample(xf, c, torch.Generator().manual_seed(1), profile)
            images = x[:ref_n].permute(0, 2, 3, 1).numpy()
            ref = cpu_rate(lambda: [oracle(name, np.ascontiguousarray(im), c.severity, params, i)
                                    for i, im in enumerate(images)], ref_n, args.rounds)
            ratios.append(ours / ref)
            print(f"{size:>4} {name:<32} {ours:>10.0f} {ref:>10.1f} {ours / ref:>8.0f}x", flush=True)
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"{size:>4} {'geometric mean ratio':<32} {'':>10} {'':>10} {geo:>8.0f}x  (min {min(ratios):.0f}x)")


if __name__ == "__main__":
    main()
