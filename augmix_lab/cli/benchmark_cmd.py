"""`augmix-lab data make-c` / `make-p`: generate -C / -P benchmarks for any dataset in the released layout.

Names are checked against the corruptions registry by ``make_c`` / ``make_p`` (a bad name exits 2).
"""

from __future__ import annotations

import argparse


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Called by augmix_lab.cli.data_cmd: adds the make-c and make-p actions (handlers set ``data_handler``)."""
    from augmix_lab.cli.data_cmd import add_data_root_argument

    for kind in ("c", "p"):
        what = "corruption" if kind == "c" else "perturbation"
        p = subparsers.add_parser(
            f"make-{kind}",
            help=f"generate <NAME>-{kind.upper()} ({what}s of the test set) under <data-root>/generated",
        )
        p.add_argument("--dataset", required=True, help="dataset name, e.g. shapes, cifar10")
        p.add_argument("--seed", type=int, default=0, help="seed of the corruption randomness (default 0)")
        p.add_argument(f"--{what}s", default=None, metavar="A,B", help=f"comma-separated {what} names (default: all)")
        p.add_argument(
            "--profile",
            choices=("cifar", "imagenet"),
            default=None,
            help="severity constants: CIFAR (32 px) or ImageNet (224 px); default from the dataset kind",
        )
        p.add_argument(
            "--out", default=None, metavar="DIR", help="output parent folder (default <data-root>/generated)"
        )
        p.add_argument(
            "-o",
            "--option",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="dataset option, e.g. -o n_test=1000 (shapes)",
        )
        if kind == "p":
            p.add_argument("--max-videos", type=int, default=None, help="only the first N test images")
        else:
            p.add_argument(
                "--benchmark",
                choices=("c", "c_bar"),
                default="c",
                help="c: <NAME>-C (Hendrycks & Dietterich); c_bar: <NAME>-C-Bar, the profile's 10 "
                "C-bar corruptions (Mintun et al. 2021)",
            )
        add_data_root_argument(p)
        p.set_defaults(data_handler=_make_c if kind == "c" else _make_p)


def _names(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def _load(args: argparse.Namespace):
    from augmix_lab.cli.data_cmd import parse_options
    from augmix_lab.data import load_dataset

    return load_dataset(args.dataset, args.data_root, **parse_options(args.option))


def _make_c(args: argparse.Namespace) -> int:
    from augmix_lab.corruptions.generate import make_c

    target = make_c(
        _load(args),
        args.out,
        args.seed,
        corruptions=_names(args.corruptions),
        profile=args.profile,
        data_root=args.data_root,
        progress=lambda name: print(f"  wrote {name}.npy", flush=True),
        suite=args.benchmark,
    )
    print(f"{args.dataset}-{'C-bar' if args.benchmark == 'c_bar' else 'C'} written to {target}")
    return 0


def _make_p(args: argparse.Namespace) -> int:
    from augmix_lab.corruptions.generate import make_p

    target = make_p(
        _load(args),
        args.out,
        args.seed,
        perturbations=_names(args.perturbations),
        profile=args.profile,
        max_videos=args.max_videos,
        data_root=args.data_root,
        progress=lambda name: print(f"  wrote {name}.npy", flush=True),
    )
    print(f"{args.dataset}-P written to {target}")
    return 0
