"""Study files: every shipped study validates, expansion counts are exact, and bad input names file, line, field, value.

Bad-input cases go through ``augmix_lab.cli.main.main(["run", ...])`` in-process: exit 2, one line, nothing started.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from augmix_lab.cli.main import main
from augmix_lab.study import differing_params, expand_study, read_study
from augmix_lab.study.manifest import read_manifest, verdict, write_manifest
from augmix_lab.training.step import weight_decay

ROOT = Path(__file__).resolve().parent.parent
STUDIES = sorted((ROOT / "studies").glob("*.yaml"))
EXPECTED_COUNTS = {"smoke": 2, "quickstart": 9, "ablation": 12, "methods": 56, "sensitivity": 16, "imagenet": 5, "analysis": 9,
                   "self_training": 12, "pretraining": 39,
                   "cbar": 9, "methods_modern": 60, "methods_shapes": 6}

BASE = """\
name: t
base:
  dataset: {name: shapes, options: {n_train: 64, n_test: 32}}
  model: small_cnn
  epochs: 1
"""


def write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("path", STUDIES, ids=[p.stem for p in STUDIES])
def test_every_shipped_study_validates_with_its_documented_trial_count(path: Path) -> None:
    study = read_study(path)
    trials = expand_study(study)
    assert study.name == path.stem
    assert path.read_text().lstrip().startswith("#"), "each study starts with a comment saying what it reproduces"
    assert len(trials) == EXPECTED_COUNTS[path.stem]
    assert len({t.key for t in trials}) == len(trials)
    if study.spec.baseline:
        assert study.spec.baseline in {t.variant for t in trials}


def test_shipped_paper_studies_use_the_paper_settings() -> None:
    ablation = {t.variant: t.config for t in expand_study(read_study(ROOT / "studies" / "ablation.yaml"))}
    assert set(ablation) == {"standard", "autoaugment_star", "random_autoaugment_star", "random_autoaugment_star_jsd",
                             "augment_and_mix", "augmix"}
    assert ablation["augmix"].jsd.arity == 3 and ablation["augment_and_mix"].jsd.arity == 1
    assert all(c.model == "wrn40_2" and c.epochs == 100 and c.train.lr == 0.1 for c in ablation.values())
    methods = expand_study(read_study(ROOT / "studies" / "methods.yaml"))
    epochs = {(t.config.model, t.config.dataset.name): t.config.epochs for t in methods}
    assert epochs[("densenet_bc_100_12", "cifar100")] == 200 and epochs[("wrn40_2", "cifar10")] == 100
    assert all(weight_decay(t.config) == 1e-4 for t in methods if t.config.model == "densenet_bc_100_12")
    assert all(t.config.eval.perturbations.enabled == (t.config.dataset.name == "cifar10") for t in methods)


def test_grid_is_the_full_cartesian_product_times_seeds(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + """\
variants:
  - {name: standard, method: standard}
  - {name: augmix, method: augmix, jsd: {arity: 3}}
grid:
  augmix.width: [1, 2, 3]
  train.lr: [0.1, 0.05]
seeds: [3, 7]
""")
    trials = expand_study(read_study(path))
    assert len(trials) == 2 * 3 * 2 * 2
    assert {t.seed for t in trials} == {3, 7}
    assert {(t.axes["augmix.width"], t.axes["train.lr"]) for t in trials} == {(w, lr) for w in (1, 2, 3) for lr in (0.1, 0.05)}
    assert differing_params(trials) == ["augmix.width", "jsd.arity", "method", "train.lr"]


def test_sweep_moves_one_factor_at_a_time_and_counts_the_base_point_once(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + """\
  method: augmix
  augmix: {width: 3, alpha: 1.0}
sweep:
  augmix.width: [1, 3, 5]   # 3 is the base point: not a new trial
  augmix.alpha: [0.5]
  epochs: [2]
seeds: 2
""")
    trials = expand_study(read_study(path))
    assert len(trials) == (1 + 2 + 1 + 1) * 2
    knobs = [t.config.method_options()["augmix"] for t in trials]
    points = {(k["width"], k["alpha"], t.config.epochs) for k, t in zip(knobs, trials)}
    assert points == {(3, 1.0, 1), (1, 1.0, 1), (5, 1.0, 1), (3, 0.5, 1), (3, 1.0, 2)}
    assert sorted({t.axes["sweep"] for t in trials}) == ["augmix.alpha", "augmix.width", "base", "epochs"]


def test_exclude_removes_matching_trials_and_include_adds_rows(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + """\
variants:
  - {name: a, method: standard}
  - {name: b, method: cutout}
grid:
  model: [small_cnn, resnet18_cifar]
  epochs: [1, 2]
exclude:
  - {variant: b, model: resnet18_cifar}
  - {epochs: 2, model: {}}
include:
  - {variant: a, model: allconv, epochs: 3}
""")
    # `model: {}` never equals a model name: that exclude row matches nothing
    trials = expand_study(read_study(path))
    rows = {(t.variant, t.config.model, t.config.epochs) for t in trials}
    assert len(trials) == 8 - 2 + 1
    assert ("b", "resnet18_cifar", 1) not in rows and ("a", "allconv", 3) in rows


def test_trial_key_ignores_evaluation_settings_and_eval_key_tracks_them(tmp_path: Path) -> None:
    a = expand_study(read_study(write(tmp_path, BASE + "eval_note: 1\n".replace("eval_note: 1\n", ""), "a.yaml")))[0]
    b_text = BASE.replace("  epochs: 1\n", "  epochs: 1\n  eval: {corruptions: {severities: [5]}, batch_size: 7}\n")
    b = expand_study(read_study(write(tmp_path, b_text, "b.yaml")))[0]
    c = expand_study(read_study(write(tmp_path, BASE.replace("epochs: 1", "epochs: 2"), "c.yaml")))[0]
    assert a.key == b.key and a.eval_key != b.eval_key
    assert c.key != a.key


def test_manifest_verdict_reports_new_reused_and_orphaned(tmp_path: Path) -> None:
    old_path = write(tmp_path, BASE + "seeds: [0, 1]\n", "old.yaml")
    old = read_study(old_path)
    old_trials = expand_study(old)
    write_manifest(tmp_path / "out", old, old_trials, {old_trials[0].key: "complete"})
    manifest = read_manifest(tmp_path / "out")
    assert manifest["study_hash"] == old.hash and manifest["trials"][0]["state"] == "complete"
    assert {"torch", "ray", "mlflow"} <= set(manifest["packages"])
    new_trials = expand_study(read_study(write(tmp_path, BASE + "seeds: [1, 2]\n", "new.yaml")))
    v = verdict(manifest, new_trials)
    assert v.reused == [old_trials[1].key] and v.orphaned == [old_trials[0].key] and len(v.new) == 1
    assert "1 new, 1 reused, 1 orphaned" in v.summary("different-hash")


# ------------------------------------------------------------------------------------------------------- bad input


BAD_CASES = {
    "unknown_top_level_key": (BASE + "sedes: 3\n", 6, ["sedes", "allowed keys", "seeds"]),
    "unknown_nested_key": (BASE + "  augmix: {widht: 3}\n", 6, ["augmix.widht", "width"]),
    "wrong_type": (BASE.replace("epochs: 1", "epochs: ten"), 5, ["epochs", "'ten'", "integer"]),
    "negative_epochs": (BASE + "variants:\n  - {name: a, epochs: -1}\n", 7, ["epochs", "-1", "greater than or equal to 0"]),
    "unknown_model": (BASE.replace("model: small_cnn", "model: wrn_40_2"), 4, ["model", "wrn_40_2", "wrn40_2"]),
    "unknown_dataset": (BASE.replace("name: shapes, options: {n_train: 64, n_test: 32}", "name: cifar11"), 3,
                        ["dataset.name", "cifar11", "cifar10"]),
    "unknown_dataset_option": (BASE.replace("n_train: 64", "n_trian: 64"), 3, ["n_trian", "n_train"]),
    "unknown_method_in_grid": (BASE + "grid:\n  method: [standard, augmx]\n", 7, ["method", "augmx", "augmix"]),
    "unknown_corruption": (BASE + "  eval: {corruptions: {names: [gaussian_noise, fogg]}}\n", 6,
                           ["eval.corruptions.names", "fogg", "fog"]),
    "severity_out_of_range": (BASE + "  eval: {corruptions: {severities: [1, 6]}}\n", 6, ["severities", "6", "1..5"]),
    "empty_grid": (BASE + "grid: {}\n", 6, ["grid", "empty"]),
    "empty_grid_values": (BASE + "grid:\n  augmix.width: []\n", 7, ["grid.augmix.width", "empty"]),
    "bad_grid_path": (BASE + "grid:\n  augmix.widht: [1, 2]\n", 7, ["augmix.widht", "width"]),
    "bad_grid_value": (BASE + "grid:\n  augmix.width: [2, 0]\n", 7, ["augmix.width", "0"]),
    "duplicate_variant": (BASE + "variants:\n  - {name: a}\n  - {name: a, epochs: 2}\n", 8, ["duplicate", "'a'"]),
    "jsd_without_views": (BASE + "variants:\n  - {name: s, method: standard, jsd: {arity: 3}}\n", 7,
                          ["jsd.arity", "standard", "view"]),
    "unknown_baseline": (BASE + "baseline: nope\n", 6, ["baseline", "nope"]),
    "bad_seeds": (BASE + "seeds: 0\n", 6, ["seeds", "positive"]),
    "yaml_syntax": (BASE + "variants: [\n  {name: a\n", 8, ["YAML syntax error"]),
    "not_a_mapping": ("- just\n- a list\n", None, ["must be a mapping"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_study_exits_2_naming_file_line_field_and_value(case: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    text, line, fragments = BAD_CASES[case]
    path = write(tmp_path, text)
    out_dir = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"{path}:{line}:" in err if line else str(path) in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} missing from: {err}"
    assert not out_dir.exists(), "nothing may start on bad input"


def test_unreachable_tracking_server_exits_2_before_any_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, BASE.replace("name: t\n", "name: t\ntracking: {uri: 'http://127.0.0.1:9'}\n"))
    out_dir = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out_dir)]) == 2
    err = capsys.readouterr().err
    assert "unreachable" in err and "127.0.0.1:9" in err
    assert not (out_dir / "trials").exists() and not (out_dir / "ray").exists()


def test_dry_run_shows_the_trials_and_starts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, BASE + "grid:\n  train.lr: [0.1, 0.01]\nseeds: 2\n")
    out_dir = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out_dir), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "new study: 4 trials" in err and "train.lr" in err and "dry run: 4 trials" in err
    assert not out_dir.exists()
