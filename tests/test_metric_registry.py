"""The metric registry drives the tests: every registered metric is exercised on a small hand-made tidy table, and a
metric added with one decorator in a temporary module reaches the evaluation summary, the report's tables and plots."""

from __future__ import annotations

import ast
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from augmix_lab.evaluation import metrics as M
from augmix_lab.evaluation.registry import (
    CLEAN_ERROR,
    MEAN_CORRUPTION_ERROR,
    METRICS,
    SummaryContext,
    epoch_line,
    headline_specs,
    headline_text,
    spec_for_key,
    specs,
    summarize_table,
)
from augmix_lab.evaluation.runner import TABLE_COLUMNS, _row

FOLDER_KINDS = ("cifar", "folder")


def _tidy(kind_errors: float = 0.0) -> pd.DataFrame:
    """Clean row, all 15 -C corruptions x severities 1-2, two -P perturbations: numbers easy to average by hand."""
    rows = [_row("clean", "clean", 0, {"error": 10.0, "rms_calib_error": 4.0, "ece": 3.0, "nll": 0.5, "brier": 0.2,
                                        "n": 8}, "test")]  # fmt: skip
    for i, name in enumerate(M.ALEXNET_ERR):
        for s in (1, 2):
            rows.append(_row("C", name, s, {"error": 20.0 + i + 10 * s + kind_errors, "rms_calib_error": 5.0 * s,
                                            "ece": 2.0 * s, "nll": 1.0, "brier": 0.5, "n": 8}, "released"))  # fmt: skip
    rows.append(_row("P", "gaussian_noise", 0, {"flip_prob": 2.0, "t5d": 0.5, "n": 4}, "released"))
    rows.append(_row("P", "rotate", 0, {"flip_prob": 6.0, "t5d": 1.5, "n": 4}, "released"))
    rows.append(_row("fourier", "low_freq", 0, {"error": 12.0, "n": 8}, "test"))
    rows.append(_row("fourier", "high_freq", 0, {"error": 30.0, "n": 8}, "test"))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


ALEXNET_P = {"gaussian_noise": 4.0, "rotate": 3.0}
CTX = {kind: SummaryContext(dataset_kind=kind, alexnet_flip_probs=ALEXNET_P, alexnet_t5d=ALEXNET_P) for kind in FOLDER_KINDS}
# hand-computed summary values of _tidy() (metric key -> value); ImageNet-only ones for the folder kind
HAND = {
    "clean_error": 10.0, "clean_rms_calib_error": 4.0, "clean_ece": 3.0, "clean_nll": 0.5, "clean_brier": 0.2,
    "mean_corruption_error": 20.0 + 7.0 + 15.0,  # mean_i (20 + i) + mean_s 10 s
    "corruption_error.gaussian_noise": 35.0, "corruption_error.jpeg_compression": 35.0 + 14,
    "corruption_error.severity_1": 37.0, "corruption_error.severity_2": 47.0,
    "c_rms_calib_error.severity_2": 10.0, "c_rms_calib_error": 7.5, "c_ece": 3.0,
    "flip_prob.rotate": 6.0, "t5d.gaussian_noise": 0.5, "mfp": 4.0,
    "fr.gaussian_noise": 50.0, "fr.rotate": 200.0, "mfr": 125.0, "mt5d": (12.5 + 50.0) / 2,
    "fourier_low_freq_error": 12.0, "fourier_high_freq_error": 30.0,
}  # fmt: skip


def _imagenet_hand() -> dict[str, float]:
    per = {n: 35.0 + i for i, n in enumerate(M.ALEXNET_ERR)}
    ce = {n: per[n] / M.ALEXNET_ERR[n] for n in per}
    rel = [(per[n] - 10.0) / (M.ALEXNET_ERR[n] - M.ALEXNET_CLEAN_ERR) for n in per]
    return {**{f"ce.{n}": v for n, v in ce.items()}, "mce": float(np.mean(list(ce.values()))),
            "relative_mce": float(np.mean(rel))}  # fmt: skip


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_has_metadata(name: str) -> None:
    spec = METRICS.get(name)
    assert spec.title and isinstance(spec.unit, str) and isinstance(spec.higher_is_better, bool)
    low, high = spec.range
    assert high is None or high > low
    assert spec.aggregate and spec.benchmark in (None, "clean", "C", "P", "fourier")
    assert (spec.per is None) == (spec.prefix is None)
    assert spec.summary is None or spec.per is None, "a summary-table column is one scalar"
    assert (spec.kind == "summary") == (spec.benchmark is not None), "summary metrics read the tidy table, no other"
    assert spec.headline is None or (spec.kind == "summary" and spec.per is None)
    assert spec.line is None or spec.kind == "history"


# a literal equal to a metric name that is not the metric: (file under augmix_lab/, literal) -> what it is
NOT_METRIC_NAMES = {
    ("evaluation/runner.py", "flip_prob"): "a column of the tidy table scorecard/table.csv",
    ("evaluation/runner.py", "t5d"): "a column of the tidy table scorecard/table.csv",
    ("results.py", "flip_prob"): "a column of the tidy table scorecard/table.csv",
    ("results.py", "t5d"): "a column of the tidy table scorecard/table.csv",
    ("analysis/fourier.py", "clean_error"): "a field of the fourier/meta.npy artifact",
    ("analysis/affinity.py", "train_loss"): "a column of the analyses/affinity_diversity.csv artifact",
    ("orchestration/analyses.py", "train_loss"): "a column of the analyses/affinity_diversity.csv artifact",
}


def test_metric_names_are_spelled_only_in_the_registry() -> None:
    """Code names a metric through the registry's constants or queries, never by a hand-written string."""
    package = Path(__file__).resolve().parent.parent / "augmix_lab"
    names = set(METRICS.names()) | {s.prefix for s in specs() if s.prefix}
    found = set()
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).as_posix()
        if rel == "evaluation/registry.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
                found.add((rel, node.value, node.lineno))
    assert {(f, v) for f, v, _ in found} <= set(NOT_METRIC_NAMES), sorted(found)


def test_headline_metrics_make_the_one_line_summaries() -> None:
    heads = [s.name for s in headline_specs()]
    assert heads[:2] == [CLEAN_ERROR, MEAN_CORRUPTION_ERROR] and len(set(heads)) == len(heads)
    assert headline_text({CLEAN_ERROR: 12.5, MEAN_CORRUPTION_ERROR: 20.0, "other": 1.0}) == "clean 12.50%  mCE 20.00%"
    assert headline_text({}) == ""
    epoch = {"train_loss": 0.5, "train_error": 10.0, "test_error": 12.0, "lr": 0.1, "images_per_s": 12345.6,
             "epoch_time_s": 3.21}
    assert epoch_line(epoch) == "train_loss 0.5000  train_error 10.00%  test_error 12.00%  lr 1.00e-01  12,346 img/s  3.2 s"


@pytest.mark.parametrize("kind", FOLDER_KINDS)
@pytest.mark.parametrize("name", [n for n in METRICS.names() if METRICS.get(n).benchmark is not None])
def test_every_metric_computes_a_value_in_its_range(name: str, kind: str) -> None:
    spec = METRICS.get(name)
    table = _tidy()
    ctx = SummaryContext(dataset_kind=kind, clean_error=10.0, alexnet_flip_probs=ALEXNET_P, alexnet_t5d=ALEXNET_P)
    value = spec.fn(table[table.benchmark == spec.benchmark], ctx)
    imagenet_only = name in ("ce", "mce", "relative_mce")
    if imagenet_only and kind == "cifar":
        assert value is None, "AlexNet normalisation applies to ImageNet-style datasets only"
        return
    values = value.values() if isinstance(value, dict) else [value]
    assert values and all(v is not None and math.isfinite(v) for v in values)
    low, high = spec.range
    assert all(low <= v <= (math.inf if high is None else high) for v in values)
    summary = summarize_table(table, CTX[kind])
    keys = [f"{spec.prefix}{k}" for k in value] if isinstance(value, dict) else [name]
    assert all(spec_for_key(k) is spec and k in summary for k in keys), "summary keys resolve back to the metric"


@pytest.mark.parametrize("kind", FOLDER_KINDS)
def test_summary_matches_hand_computed_values(kind: str) -> None:
    summary = summarize_table(_tidy(), CTX[kind])
    expected = {**HAND, **(_imagenet_hand() if kind == "folder" else {})}
    for key, value in expected.items():
        assert summary[key] == pytest.approx(value), key
    if kind == "cifar":
        assert not {"mce", "relative_mce"} & set(summary) and not any(k.startswith("ce.") for k in summary)


def test_metrics_skip_what_was_not_evaluated() -> None:
    table = _tidy()
    table = table[table.benchmark == "clean"].assign(rms_calib_error=math.nan, ece=math.nan, nll=math.nan,
                                                      brier=math.nan)  # fmt: skip
    assert summarize_table(table) == {"clean_error": 10.0}
    assert summarize_table(_tidy().iloc[0:0]) == {}


# ---- one decorator in a temporary module reaches the report ---------------------------------------------------------
PLUGIN = '''
from augmix_lab.evaluation.registry import register_metric


@register_metric("worst_corruption_accuracy", title="Worst -C acc.", higher_is_better=True, benchmark="C",
                 aggregate="100 - max over corruptions of the mean error over severities", summary=99, sensitivity=-1)
def worst_corruption_accuracy(rows, ctx):
    return None if rows.empty else 100.0 - float(rows.groupby("corruption").error.mean().max())
'''


@pytest.fixture()
def plugin_metric(tmp_path: Path):  # noqa: ANN201
    path = tmp_path / "my_metrics.py"
    path.write_text(PLUGIN)
    spec = importlib.util.spec_from_file_location("my_metrics", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    yield "worst_corruption_accuracy"
    METRICS._items.pop("worst_corruption_accuracy", None)  # noqa: SLF001 - the registry has no public removal
    METRICS._meta.pop("worst_corruption_accuracy", None)  # noqa: SLF001
    sys.modules.pop("my_metrics", None)


def _runs(summaries: list[tuple[str, int, int | None, dict[str, float]]], sources: str = "released"):  # noqa: ANN202
    """Finished cifar10 / wrn40_2 trials: (variant, seed, augmix.width sweep value or None, summary)."""
    from augmix_lab.report.loading import StudyRuns, TrialRecord

    trials = []
    for variant, seed, width, metrics in summaries:
        axes = {"dataset.name": "cifar10", "sweep": "base"}
        if width is not None:
            axes.update({"sweep": "augmix.width", "augmix.width": width})
        params = {"dataset.name": "cifar10", "model": "wrn40_2", "method": variant, "augmix.width": "3",
                  "jsd.arity": "3" if variant == "augmix" else "1"}  # fmt: skip
        run_id = f"{variant}-{width}-{seed}"
        trials.append(TrialRecord(run_id, run_id, "FINISHED", variant, seed, axes, params, dict(metrics), None, 0,
                                  sources={"C": sources, "P": sources}))  # fmt: skip
    return StudyRuns("sqlite:///x.db", "e", "e", "standard", trials, {})


def _study_summaries() -> list[tuple[str, int, int | None, dict[str, float]]]:
    """Baseline, AugMix (10 points better on -C) and an augmix.width sweep over {1, 5}, three seeds each."""
    out = []
    for seed in range(3):
        out.append(("standard", seed, None, summarize_table(_tidy(seed))))
        out.append(("augmix", seed, None, summarize_table(_tidy(seed - 10.0))))
        out += [("augmix", seed, w, summarize_table(_tidy(seed - 9.0 + w))) for w in (1, 5)]
    return out


def _report(out: Path, summaries: list, sources: str = "released"):  # noqa: ANN202
    from augmix_lab.report import write_report

    return write_report(_runs(summaries, sources), out, ["md"])


def test_a_metric_added_with_one_decorator_reaches_summary_table_and_plots(plugin_metric: str, tmp_path: Path) -> None:
    summaries = _study_summaries()
    assert all(plugin_metric in m for *_, m in summaries), "evaluation's summary computes it from the tidy rows"
    report = _report(tmp_path, summaries)
    summary = report.table("summary")
    assert summary.header[-1] == "Worst -C acc."
    column = summary.header.index("Worst -C acc.")
    assert all(row[column].split(" ")[0][0].isdigit() for row in summary.rows)
    assert any(key[-1] == plugin_metric for key in summary.values)
    baseline = report.table("vs_baseline")
    assert any(row[3] == "Worst -C acc." for row in baseline.rows)
    assert "Δ > 0 is better for Worst -C acc." in baseline.notes[0]  # its own direction, not "fewer errors"
    sensitivity = (tmp_path / "plots" / "sensitivity_augmix.width.svg").read_text()
    assert "Worst -C acc. (%)" in sensitivity  # the plot's axis comes from the registry


def test_non_released_sources_are_marked_and_kept_out_of_paper_comparisons(tmp_path: Path) -> None:
    summaries = _study_summaries()
    released = _report(tmp_path / "released", summaries)
    paper = {(r[0], r[3], r[4]) for r in released.table("vs_paper").rows}
    assert ("table4", "augmix", "-C error") in paper
    assert all("‡" not in cell for row in released.table("summary").rows for cell in row)

    fly = _report(tmp_path / "fly", summaries, sources="on_the_fly")
    note = "‡ cifar10-C generated on the fly, not the released benchmark."
    summary = fly.table("summary")
    c_error = summary.header.index("-C error")
    assert all(row[c_error].split(" ")[0].endswith("‡") for row in summary.rows)
    assert all("‡" not in row[summary.header.index("Clean error")] for row in summary.rows)  # clean is not -C/-P
    assert note in summary.notes and note in fly.table("table4_ablation").notes
    assert "‡ cifar10-P generated on the fly, not the released benchmark." in summary.notes
    comparison = fly.table("vs_paper")
    assert comparison is None or all(r[4] not in ("-C error", "mFP") for r in comparison.rows)
    for plot in ("corruption_error_cifar10_wrn40_2", "severity_cifar10_wrn40_2", "sensitivity_augmix.width"):
        assert "generated on the fly, not the released benchmark" in (tmp_path / "fly" / "plots" / f"{plot}.svg").read_text()
