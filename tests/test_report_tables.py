"""Driven by the report-table registry: every registered table is built on fixture results and renders everywhere."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from augmix_lab.report.loading import StudyRuns, TrialRecord
from augmix_lab.report.paper_numbers import IMAGENET_CORRUPTIONS, IMAGENET_P_PERTURBATIONS
from augmix_lab.report.render import WRITERS, table_html
from augmix_lab.report.tables import TABLES, Results, Table, build_tables, register_table, table_specs

SEEDS = (0, 1, 2)


def _metrics(dataset: str, offset: float, seed_index: int) -> dict[str, float]:
    seed = seed_index * (1.0 if offset == 0 else 1.7)  # seed effects differ by variant, so paired differences vary
    m = {"clean_error": 6.0 + offset / 10 + 0.1 * seed, "mean_corruption_error": 30.0 + offset + 0.3 * seed,
         "clean_rms_calib_error": 5.0 + 0.2 * seed, "c_rms_calib_error": 20.0 + offset / 2 + 0.1 * seed,
         "mfp": 4.0 + offset / 10 + 0.05 * seed, "c_bar_error": 32.0 + offset / 2 + 0.4 * seed,
         "c_bar_corruption_error.lines": 35.0 + offset / 2 + 0.4 * seed, "corruption_error.fog": 40.0 + offset,
         "train_device_s": (300.0 if offset == 0 else 900.0) + 5 * seed, "train_images_per_s": 1000.0 - 10 * seed}  # fmt: skip
    if dataset == "imagenet":
        m.update({f"ce.{c}": 70.0 + offset + i + seed for i, c in enumerate(IMAGENET_CORRUPTIONS)})
        m.update({f"fr.{p}": 50.0 + offset + i + seed for i, p in enumerate(IMAGENET_P_PERTURBATIONS)})
        m.update(mce=70.0 + offset + seed, mfr=50.0 + offset + seed)
    return m


def _record(dataset: str, model: str, variant: str, seed: int, offset: float, status: str = "FINISHED") -> TrialRecord:
    arity = "3" if variant == "augmix" else "1"
    params = {"dataset.name": dataset, "model": model, "method": variant, "jsd.arity": arity}
    metrics = _metrics(dataset, offset, seed) if status == "FINISHED" else {}
    error = None if status == "FINISHED" else "RuntimeError: boom"
    run_id = f"{dataset}-{variant}-{seed}-{status}"
    return TrialRecord(run_id, f"key-{run_id}", status, variant, seed, {}, params, metrics, error, seed,
                       sources={"C": "released", "C-bar": "released", "P": "released"})  # fmt: skip


def _self_training_records() -> list[TrialRecord]:
    """shapes with 10 % labels: the supervised teacher, its self-trained student (round 1) and FixMatch."""
    out = []
    for seed in SEEDS:
        for variant, offset in (("standard", 0.0), ("self_trained", -5.0), ("fixmatch", -2.0)):
            t = _record("shapes", "small_cnn", variant, seed, offset)
            t.metrics["labelled_fraction"] = 0.1
            if variant == "fixmatch":
                t.metrics["fixmatch_mask_rate"] = 0.5  # its hook's per-epoch metric: the online arm
            if variant == "self_trained":
                t.params.update({"method": "augmix", "teacher.parent": f"key-shapes-standard-{seed}-FINISHED"})
                t.metrics.update(pseudo_labels_kept=6000.0 + seed, pseudo_label_accuracy=90.0 + seed)
            out.append(t)
    return out


def fixture_runs() -> StudyRuns:
    """CIFAR and ImageNet conditions, a baseline, per-image predictions, soups and a failed trial: every table applies."""
    trials = [
        _record(dataset, model, variant, seed, offset)
        for dataset, model in (("cifar10", "wrn40_2"), ("imagenet", "resnet50"))
        for variant, offset in (("standard", 0.0), ("augmix", -8.0))
        for seed in SEEDS
    ]
    trials.append(_record("cifar10", "wrn40_2", "augmix", 9, 0.0, status="FAILED"))
    trials += _self_training_records()
    rng = np.random.default_rng(0)
    predictions = {
        t.run_id: rng.random(200) > (0.3 if t.variant == "standard" else 0.2)
        for t in trials
        if t.status == "FINISHED" and t.condition.dataset == "cifar10"
    }
    c_predictions = {r: {f"c.fog.{s}": rng.random(200) > 0.5 for s in (1, 5)} for r in predictions}
    members = [t.trial_key for t in trials if t.status == "FINISHED" and t.condition.dataset == "cifar10"][:3]
    soups = [{"kind": kind, "group": "g", "init": "init-key", "soup_key": f"soup-{kind}", "members": chosen,
              "candidates": members, "member_heldout_accuracy": {k: 0.8 + 0.01 * i for i, k in enumerate(members)},
              "history": [], "metrics": {"heldout_accuracy": 0.83, "clean_error": 5.5, "mean_corruption_error": 25.0,
                                         "clean_rms_calib_error": 4.0, "c_rms_calib_error": 15.0}, "run_id": f"r-{kind}"}
             for kind, chosen in (("uniform", members), ("greedy", members[-1:]))]
    return StudyRuns("sqlite:///unused.db", "tables", "tables", "standard", trials, {}, predictions, c_predictions,
                     soups)


def fixture_results() -> Results:
    """The fixture runs plus the store-only analysis inputs (affinity/diversity and MSD tables) every table needs."""
    import pandas as pd

    from augmix_lab.report.loading import AnalysisInputs

    res = Results(fixture_runs())
    rows = [{"dataset": t.condition.dataset, "model": t.condition.model, "label": t.condition.label,
             "method": t.variant, "heldout": "test[:200]", "affinity": 1.0 if t.variant == "standard" else 0.8,
             "diversity": 1.0 if t.variant == "standard" else 2.0, "run_id": t.run_id} for t in res.runs.finished]
    msd = [{"dataset": t.condition.dataset, "model": t.condition.model, "seed": 0, "baseline_run_id": "b",
            "variant": t.variant, "label": t.condition.label, "method": t.variant, "run_ids": t.run_id,
            "benchmark": bench, "corruption": name, "severity": 3, "msd": 1.0 + (t.variant == "augmix"),
            "mmd": 3.0, "samples": 10, "images": 100, "corruption_samples": 10, "config": "c"}
           for t in res.runs.finished for bench, name in (("C", "fog"), ("C-bar", "lines"))]
    res.analysis = AnalysisInputs(affinity=pd.DataFrame(rows), msd=pd.DataFrame(msd))
    return res


@pytest.fixture(scope="module")
def built() -> dict[str, Table]:
    return {t.name: t for t in build_tables(fixture_results())}


def test_tables_come_in_registry_order(built: dict[str, Table]) -> None:
    order = [s.name for s in table_specs()]
    assert list(built) == [n for n in order if n in built]
    assert order[0] == "summary" and order[-1] == "failed_trials"


@pytest.mark.parametrize("name", TABLES.names())
def test_every_registered_table_is_built_and_renders(name: str, built: dict[str, Table]) -> None:
    assert name in built, f"report table {name!r} was not built on the fixture results that cover every table"
    table = built[name]
    assert table.title and table.rows and table.header
    assert all(len(row) == len(table.header) for row in table.rows)
    for fmt, writer in WRITERS.items():
        text = writer(table)
        assert text.strip(), fmt
    assert list(csv.reader(io.StringIO(WRITERS["csv"](table))))[0] == table.header
    assert "<table" in table_html(table)


def test_a_table_is_one_decorator_and_a_mismatched_name_is_refused() -> None:
    @register_table("zz_test_extra", order=999)
    def extra(res: Results, built: tuple[Table, ...]) -> Table | None:
        return Table("zz_test_extra", f"{len(built)} tables before me", ["n"], [[str(len(res.conditions))]])

    @register_table("zz_test_misnamed", order=998)
    def misnamed(res: Results, built: tuple[Table, ...]) -> Table | None:
        return None if len(built) < 0 else Table("other", "t", ["a"], [["1"]])

    try:
        with pytest.raises(ValueError, match="returned a table named 'other'"):
            build_tables(Results(fixture_runs()))
        TABLES._items.pop("zz_test_misnamed")
        names = [t.name for t in build_tables(Results(fixture_runs()))]
        assert names[-2:] == ["zz_test_extra", "failed_trials"]
        with pytest.raises(ValueError, match="already registered"):
            register_table("zz_test_extra", order=1)(extra)
    finally:
        for n in ("zz_test_extra", "zz_test_misnamed"):
            TABLES._items.pop(n, None)
            TABLES._meta.pop(n, None)


@pytest.mark.parametrize("name", TABLES.names())
def test_every_registered_table_has_a_numeric_tidy_csv(name: str, built: dict[str, Table], tmp_path: Path) -> None:
    import pandas as pd

    from augmix_lab.report.tidy import write_tidy

    frame = pd.read_csv(write_tidy(built[name], tmp_path))
    assert len(frame) > 0 and frame.columns.is_unique
    if built[name].values or built[name].tidy:  # tables of numbers: the numbers are numbers, not display strings
        number = "mean" if "mean" in frame else "diff"
        assert pd.api.types.is_numeric_dtype(frame[number]) and frame[number].notna().all()
    if name == "summary":
        row = frame[(frame.variant == "augmix") & (frame.metric == "clean_error") & (frame.dataset == "cifar10")]
        assert int(row.n.iloc[0]) == len(SEEDS) and row.ci_low.iloc[0] < row["mean"].iloc[0] < row.ci_high.iloc[0]
        assert 0 <= float(row.p_vs_baseline.iloc[0]) <= 1 and row.source.iloc[0] == "released"


def test_the_self_training_table_links_students_to_teachers_and_plots_error_against_labelled_fraction(
        built: dict[str, Table], tmp_path: Path) -> None:
    from augmix_lab.report.plots.self_training import self_training_plots

    rows = {r[3]: r for r in built["self_training"].rows}
    assert {r[0] for r in built["self_training"].rows} == {"shapes"}  # only groups with labelled splits or students
    student = rows["self_trained"]
    assert student[2:7] == ["self-trained", "self_trained", "1", "standard", "10.0 %"] and student[7] == "6001"
    assert rows["fixmatch"][2] == "self-trained (online)" and rows["standard"][2] == "supervised"
    assert student[-1] != "—" and rows["standard"][-1] == "—"  # the paired test against the baseline, for others
    plots = self_training_plots(fixture_results(), tmp_path)
    assert [p.name for p in plots] == ["self_training_shapes_small_cnn"]
    assert (tmp_path / plots[0].files["png"]).is_file()
