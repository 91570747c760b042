"""`augmix-lab soup STUDY.yaml`: build the study's model soups from its finished trials (no training)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", help="study file (studies/*.yaml) whose finished trials are the soup members")
    parser.add_argument(
        "--out", default=None, help="study directory (default: output_dir in the study, else runs/<name>)"
    )
    parser.add_argument(
        "--data-root", default=None, help="dataset root (default: $AUGMIX_LAB_DATA or ~/.cache/augmix-lab)"
    )


def run(args: argparse.Namespace) -> int:
    from augmix_lab.orchestration.soups import build_study_soups

    return build_study_soups(args.study, out=args.out, data_root=args.data_root)
