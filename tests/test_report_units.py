"""Report building blocks without a store: seed statistics, bootstrap, paper numbers, escaping."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from augmix_lab.errors import UserError
from augmix_lab.report import PAPER_NUMBERS, paper_method, parse_formats
from augmix_lab.report.render import tex_escape, to_markdown
from augmix_lab.report.stats import format_stat, paired_bootstrap, paired_t_test, summarize
from augmix_lab.report.tables import Table

PAPER_TEXT = Path("/work/shared/papers/augmix-paper.txt")


def test_seed_stats_use_the_student_t_interval() -> None:
    s = summarize([10.0, 12.0, 14.0])
    assert (s.n, s.mean, s.std) == (3, 12.0, 2.0)
    assert s.ci95 == pytest.approx(4.302653 * 2.0 / math.sqrt(3), rel=1e-6)  # t(0.975, df=2) = 4.3027
    assert format_stat(s) == "12.00 ± 4.97 (n=3)"
    assert format_stat(summarize([7.0])) == "7.00 (n=1)"
    assert format_stat(None) == "—" and format_stat(summarize([])) == "—"
    assert summarize([1.0, float("nan")]).n == 1  # a diverged seed's NaN never becomes a number


def test_paired_t_test_pairs_by_seed_only() -> None:
    method = {0: 10.0, 1: 11.0, 2: 12.5, 7: 99.0}
    baseline = {0: 12.0, 1: 12.9, 2: 15.0, 5: 0.0}
    comp = paired_t_test(method, baseline)
    assert comp is not None and comp.diff.n == 3
    assert comp.p_value == pytest.approx(sps.ttest_rel([10, 11, 12.5], [12, 12.9, 15]).pvalue)
    assert comp.diff.mean == pytest.approx(np.mean([-2.0, -1.9, -2.5]))
    assert paired_t_test({3: 1.0}, {4: 1.0}) is None
    assert math.isnan(paired_t_test({0: 1.0}, {0: 2.0}).p_value)  # type: ignore[union-attr]


def test_paired_bootstrap_recovers_a_known_error_difference() -> None:
    rng = np.random.default_rng(0)
    base = [rng.random(2000) > 0.30 for _ in range(2)]  # ~30 % error
    better = [b | (rng.random(2000) < 0.3) for b in base]  # fixes ~30 % of the mistakes: ~ -9 points
    r = paired_bootstrap(better, base, n_resamples=500)
    expected = 100 * np.mean([(~m).mean() - (~b).mean() for m, b in zip(better, base)])
    assert r.diff == pytest.approx(expected)
    assert r.low < r.diff < r.high < 0 and r.p_value < 0.01
    same = paired_bootstrap(base, base, n_resamples=200)
    assert same.diff == 0 and same.p_value == 1.0
    with pytest.raises(ValueError):
        paired_bootstrap([np.ones(3, bool)], [np.ones(4, bool)])


def test_paper_method_distinguishes_the_jsd_rows() -> None:
    assert paper_method({"method": "augmix", "jsd.arity": "3"}) == "augmix"
    assert paper_method({"method": "augmix", "jsd.arity": "1"}) == "augmix_no_jsd"
    assert paper_method({"method": "random_autoaugment_star", "jsd.arity": "3"}) == "random_autoaugment_star+jsd"
    assert paper_method({"method": "standard"}) == "standard"


def test_paper_numbers_cover_the_tables_and_their_mean_rows_agree() -> None:
    assert PAPER_NUMBERS[("table4", "cifar10", "wrn40_2", "augmix")]["mean_corruption_error"] == 11.2
    assert PAPER_NUMBERS[("table2", "imagenet", "resnet50", "augmix")]["mce"] == 68.4
    assert PAPER_NUMBERS[("table3", "imagenet", "resnet50", "standard")]["mfr"] == 57.2
    # the paper's Mean rows are means of the four architectures (to the printed precision)
    for (table, dataset, model, method), metrics in PAPER_NUMBERS.items():
        if model != "mean":
            continue
        for metric, mean in metrics.items():
            rows = [PAPER_NUMBERS[(table, dataset, m, method)][metric]
                    for m in ("allconv", "densenet_bc_100_12", "wrn40_2", "resnext29_32x4d")]  # fmt: skip
            assert np.mean(rows) == pytest.approx(mean, abs=0.051), (table, dataset, method, metric)
    # ImageNet mCE is the mean of the 15 printed (rounded) CEs
    for method in ("standard", "patch_uniform", "autoaugment_star", "random_autoaugment_star", "augmix"):
        m = PAPER_NUMBERS[("table2", "imagenet", "resnet50", method)]
        assert np.mean([v for k, v in m.items() if k.startswith("ce.")]) == pytest.approx(m["mce"], abs=0.5)


@pytest.mark.skipif(not PAPER_TEXT.is_file(), reason="the paper text is only in the development workspace")
def test_paper_numbers_appear_in_the_paper_text_rows() -> None:
    text = PAPER_TEXT.read_text()
    lines = text.splitlines()

    def row_numbers(label: str, after: str) -> list[float]:
        start = next(i for i, ln in enumerate(lines) if after in ln)
        line = next(ln for ln in lines[start:] if ln.split("\t")[0].strip() == label or f"\t{label}\t" in ln)
        return [float(x) for x in re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", line.split(label, 1)[1])]

    assert row_numbers("WideResNet", "Standard\tCutout") == [26.9, 26.8, 22.3, 27.1, 23.9, 11.2]
    assert [PAPER_NUMBERS[("table1", "cifar10", "wrn40_2", m)]["mean_corruption_error"]
            for m in ("standard", "cutout", "mixup", "cutmix", "autoaugment_star", "augmix")] == [
        26.9, 26.8, 22.3, 27.1, 23.9, 11.2]  # fmt: skip
    t2 = row_numbers("AUGMIX", "Network\tNoise")
    ours = PAPER_NUMBERS[("table2", "imagenet", "resnet50", "augmix")]
    assert t2 == [ours["clean_error"], *(ours[k] for k in ours if k.startswith("ce.")), ours["mce"]]
    t4 = row_numbers("Random AutoAugment* + JSD Loss", "Method\tCIFAR-10-C")
    assert t4 == [14.7, 40.8] == [PAPER_NUMBERS[("table4", d, "wrn40_2", "random_autoaugment_star+jsd")]
                                  ["mean_corruption_error"] for d in ("cifar10", "cifar100")]  # fmt: skip


def test_escaping_for_latex_and_markdown() -> None:
    assert tex_escape("wrn40_2 50% a&b ± †") == r"wrn40\_2 50\% a\&b $\pm$ $^\dagger$"
    md = to_markdown(Table("t", "T", ["a|b", "c"], [["x|y", "—"]]))
    assert "a\\|b" in md and "x\\|y" in md


def test_format_list_is_validated() -> None:
    assert parse_formats("html, md") == ["md", "html"]
    with pytest.raises(UserError, match="allowed: md,csv,tex,html"):
        parse_formats("md,docx")


def _record(run_id: str, variant: str, seed: int, method: str, metrics: dict[str, float], status: str = "FINISHED",  # noqa: ANN202
            source: str = "released"):
    from augmix_lab.report.loading import TrialRecord

    params = {"dataset.name": "imagenet", "model": "resnet50", "method": method, "jsd.arity": "3" if method == "augmix" else "1"}
    return TrialRecord(run_id, f"key-{run_id}", status, variant, seed, {}, params, metrics, None, 0,
                       sources={"C": source, "P": source})


def test_imagenet_runs_get_tables_2_and_3_with_paper_numbers_beside_ours(tmp_path: Path) -> None:
    from augmix_lab.report import write_report
    from augmix_lab.report.loading import StudyRuns
    from augmix_lab.report.paper_numbers import IMAGENET_CORRUPTIONS

    def metrics(offset: float) -> dict[str, float]:
        m = {f"ce.{c}": 70.0 + offset + i for i, c in enumerate(IMAGENET_CORRUPTIONS)}
        m.update(clean_error=24.0 + offset / 10, mce=float(np.mean(list(m.values()))), mfr=50.0 + offset, **{"fr.rotate": 40.0 + offset})
        return m

    trials = [_record(f"s{s}", "standard", s, "standard", metrics(s * 0.5)) for s in range(2)]
    trials += [_record(f"a{s}", "augmix", s, "augmix", metrics(-8 + s * 0.3)) for s in range(2)]
    report = write_report(StudyRuns("sqlite:///x.db", "inet", "inet", "standard", trials, {}), tmp_path, ["md"])
    t2 = report.table("table2_imagenet_c")
    assert t2.header[3] == "Clean error" and t2.header[-1] == "mCE" and t2.header[4] == "CE gaussian_noise"
    t3 = report.table("table3_imagenet_p")
    assert t3.header[-2:] == ["FR rotate", "mFR"]
    paper = {(r[0], r[3], r[4]): r for r in report.table("vs_paper").rows}
    assert paper[("table2", "augmix", "mCE")][6] == "68.4" and paper[("table3", "standard", "mFR")][6] == "57.2"
    assert "table1_corruption_error" not in [t.name for t in report.tables]  # CIFAR-only table
    assert (tmp_path / "tables" / "table2_imagenet_c.md").is_file()


def test_error_bars_stay_inside_the_metrics_range() -> None:
    from augmix_lab.report.plots.style import error_extent as _err

    below, above = _err([30.0, 5.0, float("nan")], [10.0, 98.0, 50.0], "corruption_error.fog")
    assert below.tolist() == [10.0, 5.0, 0.0] and above.tolist() == [30.0, 2.0, 0.0]  # never < 0 % or > 100 %
    below, above = _err([30.0], [95.0], "mce")  # AlexNet-normalized: may pass 100 %
    assert below.tolist() == [30.0] and above.tolist() == [30.0]
