"""Few seeds in the report (issue 14): ranges instead of t-intervals below 3 seeds, no p-value below 3 pairs, and the
per-image predictions artifact that a real trial writes and the report's bootstrap table reads from a real store."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from augmix_lab.config import TrialConfig
from augmix_lab.evaluation.predictions import PREDICTIONS_ARTIFACT, correctness
from augmix_lab.report import write_report
from augmix_lab.report.loading import StudyRuns, TrialRecord, load_study_runs
from augmix_lab.report.stats import format_p, format_stat, paired_t_test, summarize
from augmix_lab.tracking import StudyTracker, TrialLogger
from augmix_lab.tracking.reader import StoreReader
from augmix_lab.tracking.store import default_artifact_location, default_tracking_uri
from augmix_lab.training import run_trial


def test_two_seeds_show_a_labelled_range_and_no_t_interval() -> None:
    assert format_stat(summarize([28.7, 28.9])) == "28.80 [28.70–28.90] (n=2, range)"
    assert format_stat(summarize([28.7, 28.9]), mark="†") == "28.80† [28.70–28.90] (n=2, range)"
    assert format_stat(summarize([5.0])) == "5.00 (n=1)"
    assert format_stat(summarize([1.0, 2.0, 4.0])) == f"2.33 ± {summarize([1.0, 2.0, 4.0]).ci95:.2f} (n=3)"


def test_the_paired_test_needs_three_pairs_to_state_a_p_value() -> None:
    two = paired_t_test({0: 30.0, 1: 29.0}, {0: 40.0, 1: 35.0})
    assert two is not None and math.isnan(two.p_value) and not two.significant
    three = paired_t_test({0: 30.0, 1: 29.0, 2: 28.0}, {0: 40.0, 1: 35.0, 2: 37.0})
    assert three is not None and three.p_value < 0.05
    assert format_p(0.01, n_pairs=2) == "n<3" and format_p(0.01, n_pairs=3) == "0.010"


def _record(variant: str, seed: int, error: float) -> TrialRecord:
    params = {"dataset.name": "cifar10", "model": "wrn40_2", "method": variant}
    return TrialRecord(f"{variant}{seed}", f"k{variant}{seed}", "FINISHED", variant, seed, {}, params,
                       {"clean_error": error, "mean_corruption_error": 3 * error}, None, 0)  # fmt: skip


def test_a_two_seed_report_labels_ranges_and_says_why_there_is_no_p(tmp_path: Path) -> None:
    trials = [_record("standard", s, 10.0 + s) for s in (0, 1)] + [_record("augmix", s, 8.0 + 0.5 * s) for s in (0, 1)]
    report = write_report(StudyRuns("sqlite:///x.db", "e", "e", "standard", trials, {}), tmp_path, ["md"])
    summary = report.table("summary")
    assert summary.rows[0][3] == "10.50 [10.00–11.00] (n=2, range)"
    assert any("mean [min–max] (n=k, range)" in n for n in summary.notes)
    p_cells = {row[3]: row[-1] for row in report.table("vs_baseline").rows}
    assert p_cells == {"Clean error": "n<3", "-C error": "n<3"}
    assert "±" not in (tmp_path / "tables" / "summary.md").read_text(encoding="utf-8").split("\n\n")[1]


def _tiny(method: str, seed: int) -> TrialConfig:
    """Seconds on 2 cores: 64 shapes images, 1 epoch, clean + one on-the-fly -C cell."""
    return TrialConfig.model_validate({
        "dataset": {"name": "shapes", "options": {"n_train": 128, "n_test": 64}, "train_subset": 64},
        "model": "small_cnn", "epochs": 1, "seed": seed, "method": method, "train": {"batch_size": 32, "threads": 1},
        "eval": {"corruptions": {"source": "on_the_fly", "names": ["gaussian_noise"], "severities": [3]},
                 "calibration": False},
        "device": "cpu",
    })  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """Two real one-seed trials (standard, augmix) logged like the Tune trainable logs them."""
    root = tmp_path_factory.mktemp("pred-store")
    uri = default_tracking_uri(root)
    tracker = StudyTracker(uri, "preds", artifact_location=default_artifact_location(root))
    parent = tracker.start_study("preds", "hash0", "name: preds\nbaseline: standard\n")
    run_ids: dict[str, str] = {}
    for variant in ("standard", "augmix"):
        cfg = _tiny(variant, seed=0)
        run_id, _ = tracker.trial_run(
            parent, cfg.fingerprint("d"), study="preds", variant=variant, seed=0, axes={"sweep": "base"},
            params=cfg.model_dump(mode="json"), config_yaml=json.dumps(cfg.model_dump(mode="json")), eval_key="e0",
        )  # fmt: skip
        card = run_trial(cfg, root / variant).scorecard
        logger = TrialLogger(uri, run_id)
        logger.log_scorecard(card.summary, card.table, predictions=card.predictions)
        logger.set_status("FINISHED")
        run_ids[variant] = run_id
    tracker.finish_study(parent)
    return uri, run_ids


def test_a_trial_stores_compact_per_image_predictions(store: tuple[str, dict[str, str]]) -> None:
    uri, run_ids = store
    arrays: Any = StoreReader(uri).npz(run_ids["augmix"], PREDICTIONS_ARTIFACT)
    assert arrays is not None and set(arrays) == {"labels", "clean", "c.gaussian_noise.3"}
    assert all(a.dtype == np.uint8 and a.shape == (64,) for a in arrays.values())
    table = StoreReader(uri).table(run_ids["augmix"], "scorecard/table.csv")
    clean_error = float(table.loc[table.benchmark == "clean", "error"].iloc[0])
    assert 100 * (1 - correctness(arrays, "clean").mean()) == pytest.approx(clean_error, abs=1e-6)


def test_the_bootstrap_table_reads_the_artifact_of_a_single_seed_study(store: tuple[str, dict[str, str]],
                                                                       tmp_path: Path) -> None:  # fmt: skip
    uri, run_ids = store
    runs = load_study_runs(uri, "preds")
    assert set(runs.predictions) == set(run_ids.values()) == set(runs.c_predictions)
    assert all(list(cells) == ["c.gaussian_noise.3"] for cells in runs.c_predictions.values())
    table = write_report(runs, tmp_path, ["csv"]).table("bootstrap_clean_error")
    (row,) = table.rows
    assert row[2] == "augmix" and row[6] == "64" and row[7] == "1"
    assert (tmp_path / "tables" / "bootstrap_clean_error.csv").is_file()
    assert (tmp_path / "tables" / "bootstrap_clean_error.tidy.csv").is_file()
    (c_row,) = write_report(runs, tmp_path / "md", ["md"]).table("bootstrap_corruption_error").rows
    assert c_row[2] == "augmix" and c_row[6] == "64" and c_row[5] != "n<3"  # one seed pair still gets a p-value
