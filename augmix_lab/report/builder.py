"""Builds a study's whole report (tables in md/csv/tex, plots, ``index.html``) from its MLflow runs: every registered
table (``report/tables/``) and plot (``report/plots/``), from what ``loading.load_study_runs`` read."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from augmix_lab.errors import UserError
from augmix_lab.report.loading import StudyRuns, load_study_runs
from augmix_lab.report.plots import Plot, build_plots
from augmix_lab.report.render import to_markdown, write_index, write_table
from augmix_lab.report.tables import Results, Table, build_tables, tidy_statistics
from augmix_lab.report.tidy import write_tidy

FORMATS = ("md", "csv", "tex", "html")


@dataclass
class Report:
    out_dir: Path
    tables: list[Table]
    plots: list[Plot]
    files: list[Path] = field(default_factory=list)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(f"no table {name!r}; have {[t.name for t in self.tables]}")


def parse_formats(text: str | Sequence[str]) -> list[str]:
    items = text.split(",") if isinstance(text, str) else list(text)
    formats = [f.strip().lower() for f in items if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UserError(f"--format: unknown format {', '.join(bad) or '(empty)'}; allowed: {','.join(FORMATS)}")
    return sorted(set(formats), key=FORMATS.index)


def _clear_previous(out_dir: Path) -> None:
    """Removes files an earlier report wrote, so a table that no longer applies does not linger."""
    for sub, suffixes in (("tables", {".md", ".csv", ".tex"}), ("plots", {".png", ".svg"})):
        d = out_dir / sub
        if d.is_dir():
            for p in d.iterdir():
                if p.is_file() and p.suffix in suffixes:
                    p.unlink()


def write_report(runs: StudyRuns, out_dir: Path, formats: Sequence[str] = FORMATS) -> Report:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _clear_previous(out_dir)
    res = Results(runs)
    tables = build_tables(res)
    plots = build_plots(res, out_dir)  # every registered plot (report/plots/)
    report = Report(out_dir, tables, plots)
    table_files = [(t, write_table(t, out_dir, formats)) for t in tables]
    for _, files in table_files:
        report.files += [out_dir / p for p in files.values()]
    if "csv" in formats:  # the numbers behind every table, for pandas (issue 16)
        report.files += [write_tidy(t, out_dir) for t in tables]
    if "csv" in formats:
        path = out_dir / "tables" / "statistics.csv"
        rows = tidy_statistics(res)
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(list(rows[0]) if rows else ["dataset", "model", "variant", "axes", "metric"])
            for r in rows:
                writer.writerow([_csv_value(v) for v in r.values()])
        report.files.append(path)
    title = f"augmix-lab report: {runs.study}"
    meta = [
        f"MLflow experiment '{runs.experiment}' at {runs.tracking_uri}",
        f"{len(runs.finished)} finished trial run(s), {len(runs.unfinished)} without results; "
        f"baseline: {runs.baseline or 'none declared'}",
    ]
    if "md" in formats:
        path = out_dir / "report.md"
        parts = [f"# {title}", "", *(f"{m}  " for m in meta), ""]
        parts += [to_markdown(t) for t in tables]
        parts += ["## Plots", ""] + [f"![{p.caption}]({p.files['png']})" for p in plots]
        path.write_text("\n".join(parts) + "\n", encoding="utf-8")
        report.files.append(path)
    if "html" in formats:
        report.files.append(
            write_index(
                out_dir,
                title=title,
                meta=meta,
                tables=table_files,
                plots=[(p.caption, p.files["png"], p.files) for p in plots],
            )  # fmt: skip
        )
    for p in plots:
        report.files += [out_dir / f for f in p.files.values()]
    return report


def _csv_value(v: object) -> object:
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.6g}"
    return v


def generate_report(tracking_uri: str, experiment: str, out_dir: Path, formats: Sequence[str] = FORMATS) -> Report:
    """Reads the experiment's runs from MLflow and writes the report under ``out_dir``."""
    return write_report(load_study_runs(tracking_uri, experiment), out_dir, formats)
