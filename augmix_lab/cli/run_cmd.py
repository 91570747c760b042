"""`augmix-lab run`: placeholder until its issue lands."""

from __future__ import annotations

import argparse

from augmix_lab.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    raise UserError("'run' is not implemented yet")
