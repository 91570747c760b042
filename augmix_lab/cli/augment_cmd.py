"""`augmix-lab augment`: draw a gallery of every augmentation op at a few severities plus AugMix samples.

Like the paper's Figures 4 and 10: one row per op (original, then the op at each requested severity, each shown at
its strongest level with a positive sign), then a row of independent AugMix samples of the same image.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from augmix_lab.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", default="shapes", help="dataset to take the image from (default: shapes)")
    parser.add_argument("--data-root", default=None, help="data root (default: $AUGMIX_LAB_DATA or the user cache)")
    parser.add_argument("--out", required=True, help="PNG file to write, e.g. gallery.png")
    parser.add_argument("--severities", type=int, nargs="+", default=[1, 3, 5], help="op severities, 1..10")
    parser.add_argument("--augmix-severity", type=int, default=3, help="severity of the AugMix samples (default 3)")
    parser.add_argument("--index", type=int, default=0, help="which test image to show")
    parser.add_argument("--seed", type=int, default=0, help="seed of the AugMix samples")
    parser.add_argument("--samples", type=int, default=6, help="AugMix samples in the last row")
    parser.add_argument("--all-ops", action="store_true", help="also show color, contrast, brightness, sharpness")


def run(args: argparse.Namespace) -> int:
    bad = [s for s in args.severities if not 1 <= s <= 10]
    if bad:
        raise UserError(f"--severities: {bad} out of range; allowed: integers 1..10")
    if not 1 <= args.augmix_severity <= 10:
        raise UserError(f"--augmix-severity {args.augmix_severity}: allowed: integers 1..10")
    if args.samples < 1 or args.index < 0:
        raise UserError("--samples must be >= 1 and --index >= 0")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out {out}: the gallery is written as PNG; use a .png file name")
    if not out.parent.exists():
        raise UserError(f"--out {out}: folder {out.parent} does not exist")

    from augmix_lab.data import load_dataset

    options = {"n_train": 1, "n_test": max(16, args.index + 1)} if args.dataset == "shapes" else {}
    ds = load_dataset(args.dataset, root=args.data_root, **options)
    if args.index >= len(ds.test_images):
        raise UserError(f"--index {args.index}: the {args.dataset} test split has {len(ds.test_images)} images")
    image = ds.test_images[args.index : args.index + 1]
    if image.shape[2] != image.shape[3]:
        raise UserError(f"--dataset {args.dataset}: AugMix ops need square images, got {tuple(image.shape[2:])}")
    figure = render_gallery(
        image,
        args.severities,
        args.augmix_severity,
        args.samples,
        args.seed,
        args.all_ops,
        tuple(ds.mean),
        tuple(ds.std),
    )
    figure.savefig(out, dpi=100)
    print(f"wrote {out} ({args.dataset} test image {args.index}: {ds.classes[int(ds.test_labels[args.index])]})")
    return 0


def render_gallery(image, severities, augmix_severity, samples, seed, all_ops, mean, std):  # noqa: ANN001, ANN201
    """A matplotlib Figure: op rows × (original + severities) and one row of AugMix samples."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from augmix_lab.augment.augmix import ALL_OPS, AUGMIX_ARGUMENTS, PAPER_OPS, AugmentAndMix
    from augmix_lab.augment.ops import OPS, apply_op_chains

    names = ALL_OPS if all_ops else PAPER_OPS
    size = image.shape[3]
    columns = max(len(severities) + 1, samples)
    rows = len(names) + 1
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns + 1.2, 1.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")

    def show(ax, img, title=None):  # noqa: ANN001, ANN202
        ax.imshow(img[0].permute(1, 2, 0).cpu().numpy(), interpolation="nearest")
        if title:
            ax.set_title(title, fontsize=8)

    for r, name in enumerate(names):
        show(axes[r, 0], image, "original" if r == 0 else None)
        axes[r, 0].text(-0.1, 0.5, name, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=9)
        for c, severity in enumerate(severities, start=1):
            level = torch.tensor([float(severity)], dtype=torch.float64)  # the top of U(0.1, severity)
            argument = AUGMIX_ARGUMENTS[name](level, torch.ones_like(level), size)
            out = apply_op_chains(image, torch.zeros((1, 1), dtype=torch.long), argument.view(1, 1), [OPS[name]])
            show(axes[r, c], out, f"severity {severity}" if r == 0 else None)
    augmix = AugmentAndMix(severity=augmix_severity, all_ops=all_ops, mean=mean, std=std)
    mixed = augmix(image.repeat(samples, 1, 1, 1), torch.Generator().manual_seed(seed))
    m = torch.tensor(mean).reshape(1, -1, 1, 1)
    s = torch.tensor(std).reshape(1, -1, 1, 1)
    pixels = (mixed * s + m).clamp(0, 1)
    axes[-1, 0].text(-0.1, 0.5, "AugMix", transform=axes[-1, 0].transAxes, ha="right", va="center", fontsize=9)
    for c in range(samples):
        show(axes[-1, c], pixels[c : c + 1], f"sample {c + 1}")
    fig.suptitle(
        f"AugMix ops at severities {', '.join(map(str, severities))}; AugMix samples at severity {augmix_severity}",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
