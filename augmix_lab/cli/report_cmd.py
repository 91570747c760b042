"""`augmix-lab report`: regenerate the paper's tables and plots from a study's MLflow runs.

Read-only: it never loads a checkpoint, runs a model or writes to the store (study-level analyses are computed by
`run` / `soup` / `analyze`), so a report builds on a machine that has the store but no checkpoints and no torch.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from augmix_lab.errors import UserError
from augmix_lab.paths import default_tracking_uri, study_dir
from augmix_lab.tracking.store import store_errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", metavar="NAME_OR_DIR", help="study name (runs/<name>) or its output directory")
    parser.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (default: the study's SQLite store)")
    parser.add_argument("--experiment", metavar="NAME", help="MLflow experiment (default: the study name)")
    parser.add_argument("--out", metavar="DIR", help="output directory (default: <study dir>/report)")
    parser.add_argument(
        "--format", default="md,csv,tex,html", metavar="LIST", help="comma-separated: md,csv,tex,html (default: all)"
    )


def run(args: argparse.Namespace) -> int:
    from augmix_lab.report import parse_formats
    from augmix_lab.report.loading import check_store_exists

    formats = parse_formats(args.format)
    if not args.study and not args.tracking_uri:
        raise UserError("report: give --study NAME_OR_DIR, or --tracking-uri URI (with --experiment NAME)")
    out_root = study_dir(args.study) if args.study else None
    if out_root is not None and not args.tracking_uri and not out_root.is_dir():
        raise UserError(f"--study: no study directory at {out_root} (run 'augmix-lab run STUDY.yaml' first)")
    tracking_uri = args.tracking_uri or default_tracking_uri(out_root)  # type: ignore[arg-type]
    check_store_exists(tracking_uri)
    with store_errors(tracking_uri):
        return _report(args, tracking_uri, out_root, formats)


def _report(args: argparse.Namespace, tracking_uri: str, out_root: Path | None, formats: Any) -> int:
    from augmix_lab.report import generate_report, resolve_experiment

    requested = args.experiment or (out_root.name if out_root is not None and not args.tracking_uri else None)
    try:
        experiment = resolve_experiment(tracking_uri, requested)
    except UserError:
        if args.experiment or requested is None:
            raise
        experiment = resolve_experiment(tracking_uri, None)  # a study dir whose name differs from its study
    if args.out:
        out_dir = Path(args.out)
    elif out_root is not None:
        out_dir = out_root / "report"
    else:
        out_dir = study_dir(experiment) / "report"
    load_recorded_plugins(tracking_uri, experiment)  # plugin metrics and report tables, before the tables are built
    report = generate_report(tracking_uri, experiment, out_dir, formats)
    print(f"report: {len(report.tables)} tables, {len(report.plots)} plots -> {out_dir.resolve()}")
    if "html" in formats:
        print(f"open {(out_dir / 'index.html').resolve().as_uri()}")
    return 0


def load_recorded_plugins(tracking_uri: str, experiment: str) -> None:
    """Import the plugins of the study file the experiment's latest parent run recorded, and the installed
    entry-point plugins, so their metrics and report tables are registered (a moved study file: entry points only)."""
    import yaml

    from augmix_lab.plugins import load_plugins
    from augmix_lab.tracking import TRACKING_TAGS
    from augmix_lab.tracking.reader import StoreReader

    reader = StoreReader(tracking_uri)
    exp_id = reader.experiment_id(experiment)
    parents = sorted(reader.runs(exp_id, "study"), key=lambda r: (r.start_time, r.run_id)) if exp_id else []
    study_file = Path(parents[-1].tags.get(TRACKING_TAGS.study_file) or "") if parents else None
    entries: list = []
    if study_file is not None and study_file.is_file():
        try:
            data = yaml.safe_load(study_file.read_text()) or {}
        except yaml.YAMLError:
            data = {}  # an edited, broken study file: the report still reads the store (entry points only)
        entries = list(data.get("plugins") or []) if isinstance(data, dict) else []
    load_plugins(
        entries,
        study_file.parent if study_file is not None else Path("."),
        lambda i: f"{study_file}: field 'plugins.{i}'",
    )
