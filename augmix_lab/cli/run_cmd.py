"""`augmix-lab run STUDY.yaml`: validate, print the verdict, and run the study's missing trials on Ray Tune."""

from __future__ import annotations

import argparse

from augmix_lab.study.overrides import add_set_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study file (studies/*.yaml)")
    parser.add_argument(
        "--address",
        default=None,
        help="existing Ray cluster HEAD:6379 (default: $RAY_ADDRESS, else a local Ray sized to this machine)",
    )
    parser.add_argument(
        "--out", default=None, help="study directory (default: output_dir in the study, else runs/<name>)"
    )
    parser.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        metavar="N",
        help="at most N trials at once (default: resources.max_concurrent_trials, else as resources allow)",
    )
    parser.add_argument(
        "--data-root", default=None, help="dataset root (default: $AUGMIX_LAB_DATA or ~/.cache/augmix-lab)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="validate and show the trials and the verdict; start nothing"
    )
    add_set_argument(parser)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="pre-flight: every trial for a few steps on tiny subsets and a couple of corruption cells, "
        "into <out>/smoke (the study's own store is untouched); missing data is listed first",
    )


def run(args: argparse.Namespace) -> int:
    from augmix_lab.errors import UserError
    from augmix_lab.orchestration.runner import run_study

    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UserError(f"--max-concurrent: must be a positive number of trials (got {args.max_concurrent})")
    return run_study(
        args.study,
        out=args.out,
        address=args.address,
        max_concurrent=args.max_concurrent,
        dry_run=args.dry_run,
        data_root=args.data_root,
        overrides=tuple(args.set or ()),
        smoke=args.smoke,
    )
