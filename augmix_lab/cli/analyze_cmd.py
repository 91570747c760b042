"""`augmix-lab analyze STUDY.yaml`: compute a study's study-level analyses from its finished trials' stored
checkpoints (no training) and log them on the study's run, where `augmix-lab report` reads them."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study file (studies/*.yaml) whose finished trials are analysed")
    parser.add_argument(
        "--out", default=None, help="study directory (default: output_dir in the study, else runs/<name>)"
    )
    parser.add_argument(
        "--data-root", default=None, help="dataset root (default: $AUGMIX_LAB_DATA or ~/.cache/augmix-lab)"
    )


def run(args: argparse.Namespace) -> int:
    from augmix_lab.orchestration.analyses import analyze_study

    return analyze_study(args.study, out=args.out, data_root=args.data_root)
