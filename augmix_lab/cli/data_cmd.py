"""`augmix-lab data`: placeholder until its issue lands."""

from __future__ import annotations

import argparse

from augmix_lab.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def data(args: argparse.Namespace) -> int:
    raise UserError("'data' is not implemented yet")
