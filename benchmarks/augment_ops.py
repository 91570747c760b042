"""Per-op cost of AugMix's ops, µs per 32×32 image: the torch ``sorted`` engine vs the compiled engine, same run.

Each op runs alone (one step, every image its own AugMix argument at severity 3) over a batch of shapes images through
``ops.apply_op_chains`` (sorted) and ``compiled.apply_op_chains``; the best of the rounds (process CPU time) is kept.

    python benchmarks/augment_ops.py [--threads 1] [--rounds 5] [--batch 512]
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from augmix_lab.augment import ALL_OPS, compiled
    from augmix_lab.augment.augmix import augmix_arguments
    from augmix_lab.augment.ops import OPS, apply_op_chains
    from augmix_lab.data import load_dataset

    n = args.batch
    images = load_dataset("shapes", n_train=1, n_test=n).test_images[:n].contiguous()
    g = torch.Generator().manual_seed(0)
    print(f"per-op cost, us per image (CPU time), batch {n}, threads {args.threads}, best of {args.rounds}")
    print(f"{'op':<14} {'sorted':>8} {'compiled':>9} {'ratio':>7}")
    for name in ALL_OPS:
        ids = torch.zeros((n, 1), dtype=torch.long)
        levels = torch.rand(n, generator=g, dtype=torch.float64) * 2.9 + 0.1  # severity 3: U(0.1, 3)
        signs = torch.where(torch.rand(n, generator=g) > 0.5, -1.0, 1.0).double()
        args_ = augmix_arguments((name,), ids[:, 0], levels, signs, 32).view(-1, 1)
        runs = {"sorted": lambda: apply_op_chains(images, ids, args_, [OPS[name]]),
                "compiled": lambda: compiled.apply_op_chains(images, ids, args_, [name])}
        best = {}
        for label, fn in runs.items():
            fn()
            best[label] = min(_cpu(fn) for _ in range(args.rounds)) / n * 1e6
        print(f"{name:<14} {best['sorted']:8.2f} {best['compiled']:9.2f} {best['sorted'] / best['compiled']:6.1f}x")


def _cpu(fn) -> float:  # noqa: ANN001
    start = time.process_time()
    fn()
    return time.process_time() - start


if __name__ == "__main__":
    main()
