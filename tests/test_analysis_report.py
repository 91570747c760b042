"""Issue 15's analyses wired into evaluation, tracking and the report: the Fourier band metrics in the registry and a
heat map round trip through a real MLflow SQLite store; effective robustness and affinity tables on synthetic inputs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from augmix_lab.analysis.effective_robustness import logit, sigmoid
from augmix_lab.analysis.affinity import affinity_diversity_table
from augmix_lab.orchestration.analyses import augmentation_accuracies
from augmix_lab.config import EvalConfig, TrialConfig
from augmix_lab.evaluation import evaluate_model
from augmix_lab.evaluation.fourier_eval import ARRAY_NAMES, ARTIFACT_DIR, heat_map_from_arrays
from augmix_lab.evaluation.registry import METRICS, spec_for_key
from augmix_lab.evaluation.scoring import Scorer
from augmix_lab.report.loading import AnalysisInputs, ExtraPoint, StudyRuns, TrialRecord
from augmix_lab.report.tables.affinity_diversity import affinity_diversity_table as affinity_table
from augmix_lab.report.tables.effective_robustness import ER_METRIC, effective_robustness_table
from augmix_lab.report.tables import Results

FOURIER_METRICS = ("fourier_low_freq_error", "fourier_high_freq_error")


@pytest.mark.parametrize("name", FOURIER_METRICS)
def test_fourier_band_metrics_are_registered_summary_columns(name: str) -> None:
    spec = METRICS.get(name)
    assert spec.benchmark == "fourier" and spec.summary is not None and spec_for_key(name) is spec


def _tiny(n: int = 6, size: int = 8) -> tuple[torch.nn.Module, SimpleNamespace]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * size * size, 3))
    g = torch.Generator().manual_seed(1)
    ds = SimpleNamespace(name="shapes", kind="cifar", image_size=size, num_classes=3, mean=(0.5,) * 3, std=(0.5,) * 3,
                         test_images=torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g),
                         test_labels=torch.randint(0, 3, (n,), generator=g))
    return model, ds


def test_fourier_heat_map_is_evaluated_logged_and_read_back(tmp_path) -> None:  # noqa: ANN001
    from augmix_lab.paths import default_artifact_location, default_tracking_uri
    from augmix_lab.report import generate_report
    from augmix_lab.tracking import StudyTracker, TrialLogger
    from augmix_lab.tracking.reader import StoreReader

    model, ds = _tiny()
    eval_cfg = EvalConfig(corruptions={"enabled": False}, fourier={"enabled": True, "stride": 2, "n_images": 4})
    card = evaluate_model(model, ds, eval_cfg, device="cpu")
    assert set(FOURIER_METRICS) <= set(card.summary)
    assert set(card.table.benchmark) == {"clean", "fourier"}
    assert sorted(card.arrays) == sorted(f"{ARTIFACT_DIR}/{n}" for n in ARRAY_NAMES)
    assert card.arrays["fourier/error.npy"].shape == (4, 4)  # stride 2 on 8 px: frequencies -4, -2, 0, 2

    uri = default_tracking_uri(tmp_path)
    tracker = StudyTracker(uri, "fourier_test", artifact_location=default_artifact_location(tmp_path))
    parent = tracker.start_study("fourier_test", "h", "name: fourier_test\nbaseline: standard\n", baseline="standard")
    cfg = TrialConfig.model_validate({"dataset": "shapes", "model": "small_cnn"})
    run_id, _ = tracker.trial_run(parent, "k1", study="fourier_test", variant="standard", seed=0, axes={},
                                  params=cfg.model_dump(mode="json"), config_yaml=json.dumps({}), eval_key="e")
    logger = TrialLogger(uri, run_id)
    logger.log_scorecard(card.summary, card.table, card.arrays)
    logger.set_status("FINISHED")
    # a soup run as the soups driver logs it (role soup, members = trial keys, no params): an extra scatter point
    client = logger.client
    soup = client.create_run(client.get_run(run_id).info.experiment_id, run_name="soup-greedy-g", tags={
        "augmix_lab.role": "soup", "augmix_lab.study": "fourier_test", "augmix_lab.soup_kind": "greedy",
        "augmix_lab.soup_group": "g", "augmix_lab.soup_members": json.dumps(["k1"])}).info.run_id
    TrialLogger(uri, soup).log_scorecard({"clean_error": 20.0, "mean_corruption_error": 30.0}, None)
    client.set_terminated(soup, "FINISHED")
    tracker.finish_study(parent)

    back = StoreReader(uri).arrays(run_id, ARTIFACT_DIR, ARRAY_NAMES)
    hm = heat_map_from_arrays(back)
    assert hm is not None and hm.norm == 4.0 and hm.n_images == 4 and (hm.height, hm.width) == (8, 8)
    np.testing.assert_array_equal(hm.error, card.arrays["fourier/error.npy"])
    np.testing.assert_array_equal(hm.freqs_x, [-4, -2, 0, 2])

    from augmix_lab.report.loading import load_study_runs

    inputs = load_study_runs(uri, "fourier_test").analysis  # read with the runs, never computed by the report
    assert list(inputs.heat_maps) == [run_id]
    assert inputs.extra_points == [ExtraPoint("shapes", "small_cnn", "greedy soup (g)", "soup", 20.0, 30.0)]
    report = generate_report(uri, "fourier_test", tmp_path / "report", ["md"])
    assert [p.name for p in report.plots if p.name.startswith("fourier_heatmap")] == ["fourier_heatmap_shapes_small_cnn"]
    assert (tmp_path / "report" / "plots" / "fourier_heatmap_shapes_small_cnn.png").is_file()
    assert "Fourier low-freq. error" in report.table("summary").header


# ---- effective robustness --------------------------------------------------------------------------------------------
SLOPE, INTERCEPT = 1.2, -0.8  # the synthetic trend on logit axes


def _on_trend(clean_acc: float, above: float = 0.0) -> tuple[float, float]:
    """(clean error %, -C error %) of a run at ``clean_acc`` whose -C accuracy is ``above`` over the trend."""
    c_acc = float(sigmoid(SLOPE * logit(clean_acc) + INTERCEPT)) + above
    return 100.0 * (1 - clean_acc), 100.0 * (1 - c_acc)


def _record(variant: str, seed: int, errors: tuple[float, float], i: int) -> TrialRecord:
    return TrialRecord(run_id=f"r{i}", trial_key=f"k{i}", status="FINISHED", variant=variant, seed=seed, axes={},
                       params={"dataset.name": "cifar10", "model": "wrn40_2", "method": variant},
                       metrics={"clean_error": errors[0], "mean_corruption_error": errors[1]}, error=None,
                       start_time=i)


def _runs(records: list[TrialRecord]) -> StudyRuns:
    return StudyRuns("sqlite:///unused.db", "er", "er", "standard", records, {})


def _results(records: list[TrialRecord], inputs: AnalysisInputs) -> Results:
    """Synthetic runs with the store-only analysis inputs the report would have read beside them."""
    runs = _runs(records)
    runs.analysis = inputs
    return Results(runs)


def test_effective_robustness_is_zero_on_the_trend_and_the_offset_above_it() -> None:
    recs = [_record("standard", s, _on_trend(acc), s) for s, acc in enumerate((0.95, 0.85, 0.7))]
    recs += [_record("augmix", s, _on_trend(acc, 0.05), 10 + s) for s, acc in enumerate((0.9, 0.8))]
    recs += [_record("mixup", 0, _on_trend(0.88), 20)]
    soup = ExtraPoint("cifar10", "wrn40_2", "greedy soup", "soup", *_on_trend(0.92, 0.02))
    table = effective_robustness_table(_results(recs, AnalysisInputs(extra_points=[soup])))
    assert table is not None and table.name == ER_METRIC
    er = {key[2]: s for key, s in table.values.items()}
    assert er["standard"].mean == pytest.approx(0.0, abs=1e-9)
    assert er["mixup"].mean == pytest.approx(0.0, abs=1e-9) and er["mixup"].n == 1
    assert er["augmix"].mean == pytest.approx(5.0, abs=1e-9) and er["augmix"].n == 2
    assert er["greedy soup"].mean == pytest.approx(2.0, abs=1e-9)
    assert [r[3] for r in table.rows] == ["baseline", "trial", "trial", "soup"]
    assert "1.200 · logit(clean acc.) + -0.800" in table.notes[0]


def test_the_trend_spans_every_run_trained_with_the_baseline_method() -> None:
    recs = [_record("standard", s, _on_trend(acc), s) for s, acc in enumerate((0.95, 0.85))]
    short = _record("standard_2ep", 0, _on_trend(0.7), 5)  # another variant, same (baseline) method
    short.params["method"] = "standard"
    recs += [short, _record("augmix", 0, _on_trend(0.9, 0.05), 10)]
    table = effective_robustness_table(_results(recs, AnalysisInputs()))
    assert table is not None and "over 3 run(s) trained with the baseline's method 'standard'" in table.notes[0]
    er = {key[2]: s for key, s in table.values.items()}
    assert er["augmix"].mean == pytest.approx(5.0, abs=1e-9)
    assert [r[3] for r in table.rows if r[2] == "standard_2ep"] == ["baseline"]


def test_effective_robustness_table_says_why_without_three_baseline_runs() -> None:
    recs = [_record("standard", s, _on_trend(acc), s) for s, acc in enumerate((0.95, 0.85))]
    recs += [_record("augmix", 0, _on_trend(0.9, 0.05), 10)]
    table = effective_robustness_table(_results(recs, AnalysisInputs()))
    assert table is not None and not table.values
    assert "no trend" in table.notes[0] and "at least 3" in table.notes[0]
    assert all(r[-1] == "—" for r in table.rows)


# ---- affinity / diversity --------------------------------------------------------------------------------------------
def test_identity_augmentation_has_affinity_one() -> None:
    from augmix_lab.augment import create_augmentation

    model, ds = _tiny(n=10)
    aug = create_augmentation("none", num_classes=3, image_size=8)
    scorer = Scorer(model, ds.mean, ds.std, torch.device("cpu"), batch_size=4)
    clean, augmented = augmentation_accuracies(scorer, ds.test_images, ds.test_labels, aug)
    assert clean == augmented and clean > 0
    rows = [{"dataset": "shapes", "model": "small_cnn", "variant": v, "label": v, "method": m, "seed": 0,
             "run_id": f"r{v}", "heldout": "test[:10]", "n_images": 10, "clean_acc": clean, "augmented_acc": a,
             "train_loss": loss, "baseline_train_loss": 0.5}
            for v, m, a, loss in (("standard", "none", augmented, 0.5), ("noisy", "augmix", clean / 2, 1.5))]
    df = affinity_diversity_table(rows)
    assert list(df.affinity) == [1.0, 0.5] and list(df.diversity) == [1.0, 3.0]

    recs = [TrialRecord(run_id=f"r{v}", trial_key=v, status="FINISHED", variant=v, seed=0, axes={},
                        params={"dataset.name": "shapes", "model": "small_cnn"},
                        metrics={"clean_error": 10.0, "mean_corruption_error": mce}, error=None, start_time=0)
            for v, mce in (("standard", 40.0), ("noisy", 30.0))]
    table = affinity_table(_results(recs, AnalysisInputs(affinity=pd.DataFrame(df))))
    assert table is not None
    assert [r[2] for r in table.rows] == ["noisy", "standard"]
    assert table.rows[1][4:7] == ["1.000 (n=1)", "1.000 (n=1)", "40.00 (n=1)"]


def test_default_off_fourier_keeps_eval_keys_and_enabling_it_re_scores() -> None:
    import hashlib

    from augmix_lab.study import eval_key

    old = EvalConfig().model_dump(mode="json")
    old.pop("fourier")  # the eval key of a store written before eval.fourier existed
    assert eval_key(EvalConfig()) == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()[:12]
    assert eval_key(EvalConfig(fourier={"enabled": True})) != eval_key(EvalConfig())
