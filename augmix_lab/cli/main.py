"""Entry point of ``augmix-lab``: builds the subcommand parsers and maps errors to exit codes.

Exit codes: 0 ok, 2 bad input (unknown subcommand, missing file, invalid study), 1 failure.
Subcommand modules are imported lazily so ``--help`` and bad-input errors stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from augmix_lab import __version__
from augmix_lab.errors import TrialFailed, UserError, one_line

# name -> (module, one-line help); each module defines add_arguments(parser) and run(args) -> int
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("augmix_lab.cli.run_cmd", "run a study on Ray Tune, logging every trial to MLflow (resumes)"),
    "plan": ("augmix_lab.cli.plan_cmd", "show a study's resolved trials, what is done, and the estimated cost"),
    "train": ("augmix_lab.cli.train_cmd", "train and evaluate one trial locally, without Ray or MLflow"),
    "soup": ("augmix_lab.cli.soup_cmd", "build a study's model soups (uniform, greedy) from its finished trials"),
    "analyze": (
        "augmix_lab.cli.analyze_cmd",
        "compute a study's study-level analyses (affinity/diversity, minimal sample distance) from its "
        "stored checkpoints",
    ),
    "status": ("augmix_lab.cli.status_cmd", "trials done / running / failed / to run, from the store (no Ray)"),
    "report": ("augmix_lab.cli.report_cmd", "regenerate the paper's tables and plots from MLflow (reads only)"),
    "ui": ("augmix_lab.cli.ui_cmd", "start the MLflow UI for a study's store on 127.0.0.1"),
    "data": ("augmix_lab.cli.data_cmd", "download, verify and generate datasets and -C/-P benchmarks"),
    "augment": ("augmix_lab.cli.augment_cmd", "draw a gallery of augmentation ops and AugMix samples"),
}


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line and exits 2, without dumping the usage block."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message} (see '{self.prog} --help')")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="augmix-lab",
        description="Declarative experiment orchestration and ablations for AugMix robustness research.",
        epilog="Quick start: augmix-lab run studies/quickstart.yaml && augmix-lab report --study quickstart",
    )
    parser.add_argument("--version", action="version", version=f"augmix-lab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        module.add_arguments(p)
        p.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or bool(os.environ.get("AUGMIX_LAB_DEBUG"))
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        return int(importlib.import_module(args._module).run(args) or 0)
    except UserError as exc:
        if debug:
            raise
        print(f"augmix-lab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # `run` records what was interrupted and says how to resume
        print(f"augmix-lab: {exc or 'interrupted'}", file=sys.stderr)
        return 130
    except TrialFailed as exc:  # e.g. DiskFull: its message says what happened and what to do
        if debug:
            raise
        print(f"augmix-lab: failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence: one clear line, exit 1
        if debug:
            raise
        print(f"augmix-lab: failed: {one_line(exc)} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
