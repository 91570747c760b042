"""`augmix-lab report` against a real MLflow store filled through the tracking layer (see tests/test_report_store.py)."""

from __future__ import annotations

import hashlib
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import stats as sps

from augmix_lab.cli.main import main
from augmix_lab.report import generate_report
from augmix_lab.report.stats import MISSING

from test_report_store import FAILURE, FilledStudy, fill_study


# 3+ seeds: "mean ± ci (n=k)"; 2 seeds: "mean [min–max] (n=2, range)" (issue 14); 1 seed: "mean (n=1)"
NUMBER = re.compile(
    r"^(-?\d+\.\d+)(†?)(?: ± (\d+\.\d+)| \[(-?\d+\.\d+)–(-?\d+\.\d+)\])? \(n=(\d+)(?:, range)?\)$"
)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> FilledStudy:
    return fill_study(tmp_path_factory.mktemp("report-store"))


@pytest.fixture(scope="module")
def report(study: FilledStudy, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return generate_report(study.tracking_uri, study.experiment, tmp_path_factory.mktemp("report-a") / "report")


def _cell(text: str) -> tuple[float, bool, float | None, int]:
    match = NUMBER.match(text)
    assert match, f"cell {text!r} is not 'mean ± ci (n=k)' nor 'mean [min–max] (n=k, range)'"
    mean, dagger, ci, low, high, n = match.groups()
    assert (ci is None) == (int(n) < 3) and (low is None) == (int(n) != 2), text  # intervals only from 3 seeds
    return float(mean), bool(dagger), (float(ci) if ci else None), int(n)


def _range(text: str) -> tuple[float, float]:
    low, high = NUMBER.match(text).groups()[3:5]  # type: ignore[union-attr]
    return float(low), float(high)


def _logged(study: FilledStudy, dataset: str, label: str, metric: str) -> list[float]:
    return [m[metric] for (d, lab, _), m in sorted(study.logged.items()) if d == dataset and lab == label]


def test_every_summary_cell_is_the_mean_over_seeds_with_t_interval(study: FilledStudy, report) -> None:  # noqa: ANN001
    table = report.table("summary")
    header = table.header
    metric_of = {"Clean error": "clean_error", "-C error": "mean_corruption_error", "mFP": "mfp",
                 "Clean RMS calib.": "clean_rms_calib_error", "-C RMS calib.": "c_rms_calib_error"}  # fmt: skip
    checked = 0
    for row in table.rows:
        dataset, _, label = row[:3]
        for title, text in zip(header[3:], row[3:]):
            values = _logged(study, dataset, label, metric_of[title])
            if not values:
                assert text == MISSING
                continue
            mean, _, ci, n = _cell(text)
            assert n == len(values)
            assert mean == pytest.approx(float(np.mean(values)), abs=0.005)
            if n > 2:
                half = sps.t.ppf(0.975, n - 1) * np.std(values, ddof=1) / math.sqrt(n)
                assert ci == pytest.approx(half, abs=0.005)
            elif n == 2:
                assert _range(text) == pytest.approx((min(values), max(values)), abs=0.005)
            checked += 1
    assert checked == 7 * 5  # 7 conditions with results × 5 metrics


def test_ablation_table_has_variant_rows_dataset_columns_and_missing_cells(study: FilledStudy, report) -> None:  # noqa: ANN001
    table = report.table("table4_ablation")
    assert table.header == ["Model", "Variant", "cifar10", "cifar100"]
    rows = {r[1]: r[2:] for r in table.rows}
    assert list(rows) == ["standard", "augmix", "cutout", "mixup"]  # baseline first; sweeps live elsewhere
    for label, cells in rows.items():
        for dataset, text in zip(["cifar10", "cifar100"], cells):
            values = _logged(study, dataset, label, "mean_corruption_error")
            if values:
                assert _cell(text)[0] == pytest.approx(np.mean(values), abs=0.005)
            else:
                assert text == MISSING  # never 0
    assert rows["cutout"] == [MISSING, MISSING] and rows["mixup"][1] == MISSING


def test_failed_and_running_trials_are_listed_with_their_errors_and_left_out(study: FilledStudy, report) -> None:  # noqa: ANN001
    rows = report.table("failed_trials").rows
    listed = sorted((r[1], r[3], int(r[4]), r[5], r[6]) for r in rows)
    expected = sorted((d, v, s, st, e or MISSING) for d, v, s, st, e in study.failed)
    assert listed == expected
    assert any(FAILURE in r[6] for r in rows)
    mixup = next(r for r in report.table("summary").rows if r[2] == "mixup")
    assert _cell(mixup[4])[3] == 2  # the failed third seed is not averaged in


def test_paired_t_test_against_baseline_is_marked_and_matches_scipy(study: FilledStudy, report) -> None:  # noqa: ANN001
    rows = {(r[0], r[2], r[3]): r for r in report.table("vs_baseline").rows}
    for label, significant in (("augmix", True), ("mixup", False)):  # mixup: 2 seeds, never significant
        a = _logged(study, "cifar10", label, "mean_corruption_error")
        b = _logged(study, "cifar10", "standard", "mean_corruption_error")[: len(a)]  # seeds 0..n-1 pair up
        p = sps.ttest_rel(a, b).pvalue
        row = rows[("cifar10", label, "-C error")]
        assert _cell(row[4])[0] == pytest.approx(np.mean(np.subtract(a, b)), abs=0.005)
        assert bool(p < 0.05) == significant
        if len(a) >= 3:
            assert row[6] == ("<0.001" if p < 0.001 else f"{p:.3f}")
        else:  # too few seed pairs for the paired test to state significance (issue 14)
            assert row[6] == "n<3"
        summary = next(r for r in report.table("summary").rows if r[:3] == ["cifar10", "wrn40_2", label])
        assert _cell(summary[4])[1] is significant  # the dagger in the table cell
    assert not any(r[2] == "standard" for r in report.table("vs_baseline").rows)
    assert any("paired t-test" in n for n in report.table("summary").notes)


def test_paper_numbers_are_shown_beside_ours_with_the_difference(report) -> None:  # noqa: ANN001
    rows = {(r[0], r[1], r[3]): r for r in report.table("vs_paper").rows}
    t1 = rows[("table1", "cifar10", "augmix")]
    assert t1[6] == "11.2"  # paper Table 1, CIFAR-10-C, WideResNet, AugMix
    assert float(t1[7]) == pytest.approx(_cell(t1[5])[0] - 11.2, abs=0.011)
    assert rows[("table4", "cifar100", "standard")][6] == "53.3"  # paper Table 4
    assert ("table1", "cifar10", "cutout") not in rows  # no results: nothing to compare


def test_bootstrap_over_stored_per_image_predictions(report) -> None:  # noqa: ANN001
    rows = report.table("bootstrap_clean_error").rows
    assert [r[2] for r in rows] == ["augmix"]
    diff = float(rows[0][3].rstrip("†"))
    low, high = (float(x) for x in rows[0][4].strip("[]").split(", "))
    assert low <= diff <= high and rows[0][6] == "400" and rows[0][7] == "3"


def test_sensitivity_plot_per_swept_knob_and_all_plots_are_valid_png(report) -> None:  # noqa: ANN001
    names = {p.name for p in report.plots}
    assert "sensitivity_augmix.width" in names
    assert {"corruption_error_cifar10_wrn40_2", "severity_cifar10_wrn40_2", "flip_probability_cifar10_wrn40_2",
            "training_curves_cifar10_wrn40_2"} <= names  # fmt: skip
    for plot in report.plots:
        png = report.out_dir / plot.files["png"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(png) as im:
            im.load()
            assert im.width > 300 and im.height > 200
        assert (report.out_dir / plot.files["svg"]).read_text().lstrip().startswith("<?xml")


def test_every_table_is_written_as_md_csv_tex_and_the_page_links_resolve(report) -> None:  # noqa: ANN001
    for table in report.tables:
        for ext in ("md", "csv", "tex"):
            assert (report.out_dir / "tables" / f"{table.name}.{ext}").is_file()
    page = (report.out_dir / "index.html").read_text()
    assert "http://" not in page and "https://" not in page  # opens offline: nothing external
    for link in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert (report.out_dir / link).is_file(), link
    tex = (report.out_dir / "tables" / "summary.tex").read_text()
    assert r"$\pm$" in tex and r"wrn40\_2" in tex and "†" not in tex


def test_same_runs_give_byte_identical_output(study: FilledStudy, report, tmp_path: Path) -> None:  # noqa: ANN001
    again = generate_report(study.tracking_uri, study.experiment, tmp_path / "report")

    def digests(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip

    first, second = digests(report.out_dir), digests(again.out_dir)
    assert first.keys() == second.keys() and len(first) > 40
    assert [k for k in first if first[k] != second[k]] == []


def test_cli_report_for_a_study_directory(study: FilledStudy, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cli-report"
    assert main(["report", "--study", str(study.out_dir), "--out", str(out), "--format", "md,csv"]) == 0
    assert (out / "tables" / "summary.md").is_file() and (out / "tables" / "summary.csv").is_file()
    assert not (out / "index.html").exists() and not list(out.rglob("*.tex"))
    assert "report:" in capsys.readouterr().out


def test_cli_report_bad_input_exits_2_without_creating_a_store(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["report", "--study", str(tmp_path), "--format", "md,pdf"]) == 2
    assert "pdf" in capsys.readouterr().err
    assert main(["report", "--study", str(tmp_path)]) == 2
    assert "no MLflow store" in capsys.readouterr().err
    assert not (tmp_path / "mlflow.db").exists()
    assert main(["report"]) == 2


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (CI installs it with apt-get)")
def test_index_html_renders_in_headless_chromium_with_every_image_loaded(report, tmp_path: Path) -> None:  # noqa: ANN001
    url = (report.out_dir / "index.html").resolve().as_uri()
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           "--allow-file-access-from-files", "--virtual-time-budget=5000", "--dump-dom", url]  # fmt: skip
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, f"no <body> in Chromium's DOM dump: {dom[:300]!r}"
    assert 'data-images-status="ok"' in body.group(1), body.group(1)
    total = int(re.search(r'data-images-total="(\d+)"', body.group(1)).group(1))  # type: ignore[union-attr]
    assert total == len(report.plots) > 0
