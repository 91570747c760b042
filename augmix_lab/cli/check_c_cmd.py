"""`augmix-lab data check-c DATASET`: our -C generator against the released files, per corruption and severity.

Prints mean |corrupted - clean|, PSNR and (with ``--model``) error on both sides of the same images, with a verdict
per cell (``augmix_lab/corruptions/check.py``); ``--csv`` also writes the table. Exit 0 when the check ran (whatever
the verdicts), 2 on bad input (unknown dataset or corruption, missing or misaligned released files).
"""

from __future__ import annotations

import argparse


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Called by augmix_lab.cli.data_cmd: adds the check-c action (its handler is set as ``data_handler``)."""
    from augmix_lab.cli.data_cmd import add_data_root_argument

    p = subparsers.add_parser(
        "check-c",
        help="compare our generated -C with the released files on the same images (strength, PSNR, error)",
    )
    p.add_argument("dataset", help="dataset name whose released -C files are under the data root, e.g. cifar10")
    p.add_argument(
        "--corruptions",
        default=None,
        metavar="A,B",
        help="comma-separated corruption names (default: every one whose released files are present)",
    )
    p.add_argument("--severities", default="1,2,3,4,5", metavar="1,3,5", help="severities to check (default 1-5)")
    p.add_argument(
        "--limit",
        type=int,
        default=1000,
        help="the first N test images per cell (default 1000; 0 = all: errors need ~10000 images to be "
        "told apart within about a point)",
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="FINAL_PT",
        help="a trial's checkpoints/final.pt: also compare its error on both sides",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of our generator (make-c's streams; default 0)")
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.10,
        help="strength band: 'close' needs the ours/released ratio's 95%% CI within 1 +- this (0.10)",
    )
    p.add_argument(
        "--error-tolerance",
        type=float,
        default=2.0,
        help="error band in points: 'close' needs the error difference's 95%% CI within +- this (2.0)",
    )
    p.add_argument("--device", default="cpu", help="where our generator and the model run: cpu (default), cuda")
    p.add_argument("--batch-size", type=int, default=200, help="images per generator / model batch (200)")
    p.add_argument("--csv", default=None, metavar="PATH", help="also write the table as CSV")
    p.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dataset option, e.g. -o n_test=1000 (shapes)",
    )
    add_data_root_argument(p)
    p.set_defaults(data_handler=_check_c)


def _ints(value: str, flag: str) -> list[int]:
    from augmix_lab.errors import UserError

    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{flag} {value!r}: expected comma-separated integers, e.g. 1,3,5") from None


def _check_c(args: argparse.Namespace) -> int:
    from augmix_lab.cli.data_cmd import parse_options
    from augmix_lab.corruptions.check import CheckSettings, check_c, format_table
    from augmix_lab.corruptions.textures import frost_origin
    from augmix_lab.data import load_dataset, resolve_data_root
    from augmix_lab.errors import UserError
    from augmix_lab.training.trainer import checkpoint_predictor

    for flag, value in (("--limit", args.limit), ("--batch-size", args.batch_size)):
        if value < 0 or (flag == "--batch-size" and value == 0):
            raise UserError(f"{flag} {value}: must be {'positive' if flag == '--batch-size' else '0 (all) or more'}")
    if args.tolerance <= 0 or args.error_tolerance <= 0:
        raise UserError("--tolerance and --error-tolerance must be positive")
    root = resolve_data_root(args.data_root)
    dataset = load_dataset(args.dataset, root, **parse_options(args.option))
    names = [v.strip() for v in args.corruptions.split(",") if v.strip()] if args.corruptions else None
    settings = CheckSettings(
        limit=args.limit or None,
        seed=args.seed,
        tolerance=args.tolerance,
        error_tolerance=args.error_tolerance,
        batch_size=args.batch_size,
        device=args.device,
    )
    predict = checkpoint_predictor(args.model, dataset, args.device, args.batch_size) if args.model else None
    print(
        f"check-c {args.dataset}: our generator (seed {args.seed}) vs the released files under {root}; "
        f"frost textures: {frost_origin()}",
        flush=True,
    )
    table = check_c(
        dataset,
        root,
        corruptions=names,
        severities=_ints(args.severities, "--severities"),
        settings=settings,
        predict=predict,
    )
    for line in format_table(table):
        print(line)
    print(
        f"verdicts: 'close' = the 95% CI of ours/released |Δ| within 1 ± {args.tolerance:g}"
        + (f" and of the error difference within ± {args.error_tolerance:g} points" if predict else "")
        + "; 'weaker'/'stronger' = wholly outside; 'unclear' = raise --limit"
    )
    if args.csv:
        table.to_csv(args.csv, index=False)
        print(f"table written to {args.csv}")
    return 0
