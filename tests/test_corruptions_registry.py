"""The corruptions registry is the one source of names: plan/run refuse bad eval options, a new corruption is one
decorator, and the benchmark source (released / generated / on the fly) is stated and warned about."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from augmix_lab.cli.main import main
from augmix_lab.corruptions import constants as K
from augmix_lab.corruptions.registry import (
    CORRUPTIONS,
    FAMILY_NAMES,
    PERTURBATIONS,
    PROFILES,
    corruption_names,
    perturbation_names,
)
from augmix_lab.corruptions.sources import fallback_warnings, resolve_c_source

SHAPES = "dataset: {name: shapes, options: {n_train: 16, n_test: 8}}"


@pytest.mark.parametrize("name", corruption_names())
def test_every_corruption_has_named_records_for_both_profiles(name):
    spec = CORRUPTIONS.get(name)
    assert spec.family in FAMILY_NAMES and K.FAMILIES[name] == spec.family
    for profile in PROFILES:
        records = spec.severity[profile]
        assert len(records) == 5 and len({type(r) for r in records}) == 1
        assert all(r._fields for r in records), "severity constants are records with named fields"
        assert K.SEVERITY[profile][name] == records  # the old table name is derived, not a copy


def test_derived_lists_keep_the_paper_order():
    assert K.BENCHMARK_CORRUPTIONS[:3] == ("gaussian_noise", "shot_noise", "impulse_noise")
    assert K.BENCHMARK_CORRUPTIONS[-1] == "jpeg_compression" and len(K.BENCHMARK_CORRUPTIONS) == 15
    assert K.EXTRA_CORRUPTIONS == ("speckle_noise", "gaussian_blur", "spatter", "saturate")
    assert len(K.TEST_PERTURBATIONS) == 10 and K.NOISE_PERTURBATIONS == ("gaussian_noise", "shot_noise", "speckle_noise")
    assert "spatter" in K.VALIDATION_PERTURBATIONS and "spatter" not in perturbation_names(implemented_only=True)
    assert set(PERTURBATIONS.names()) == set(K.P_FRAMES["cifar"]) == set(K.P_PARAMS["imagenet"])


# ---- plan / run refuse invalid evaluation options before anything trains --------------------------------------------
def _study(tmp_path: Path, eval_yaml: str, dataset: str = SHAPES) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: bad-eval
        base:
          {dataset}
          model: small_cnn
          epochs: 1
          eval: {eval_yaml}
        variants:
          - {{name: standard, method: standard}}
        seeds: [0]
        """))
    return path


@pytest.mark.parametrize("eval_yaml, field, value", [
    ("{perturbations: {enabled: true, names: [spatter]}}", "eval.perturbations.names", "spatter"),
    ("{perturbations: {enabled: true, names: [rotat]}}", "eval.perturbations.names", "rotat"),
    ("{corruptions: {names: [fogg]}}", "eval.corruptions.names", "fogg"),
    ("{corruptions: {severities: [1, 6]}}", "eval.corruptions.severities", "6"),
    ("{corruptions: {source: released}}", "eval.corruptions.source", "released"),
    ("{fourier: {enabled: true, stride: 17}}", "eval.fourier.stride", "stride 17"),  # an empty band, found before training
])
@pytest.mark.parametrize("command", ["plan", "run"])
def test_plan_and_run_refuse_bad_eval_options_with_exit_2(tmp_path, capsys, eval_yaml, field, value, command):
    study = _study(tmp_path, eval_yaml)
    args = [command, str(study), "--out", str(tmp_path / "out")] + (["--no-estimate"] if command == "plan" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(study) in err and field in err and value in err and "allowed" in err.lower(), err
    assert not (tmp_path / "out").exists(), "nothing may start"


# ---- the benchmark source ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["plan", "--no-estimate"], ["run", "--dry-run"]])
def test_auto_fallback_for_a_released_dataset_warns_with_the_download_command(tmp_path, capsys, command):
    study = _study(tmp_path, "{corruptions: {source: auto, names: [fog]}}", dataset="dataset: {name: cifar10}")
    root = tmp_path / "data"
    args = [command[0], str(study), "--out", str(tmp_path / "out"), command[1], "--data-root", str(root)]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"augmix-lab data download cifar10-c --data-root {root.resolve()}" in err
    assert "falls back to 'on_the_fly'" in err
    # a dataset without released files (shapes) falls back silently: there is nothing to download
    from augmix_lab.config import TrialConfig

    assert fallback_warnings([TrialConfig.model_validate({"dataset": {"name": "shapes"}})], root) == []


@pytest.mark.parametrize("source, fix", [("generated", "augmix-lab data make-c --dataset shapes"),
                                         ("released", "augmix-lab data download cifar10-c")])
def test_run_refuses_an_explicit_source_whose_files_are_missing(tmp_path, capsys, source, fix):
    dataset = SHAPES if source == "generated" else "dataset: {name: cifar10}"
    study = _study(tmp_path, f"{{corruptions: {{source: {source}, names: [fog]}}}}", dataset=dataset)
    assert main(["run", str(study), "--out", str(tmp_path / "out"), "--data-root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert f"eval.corruptions.source '{source}'" in err and fix in err, err
    assert not (tmp_path / "out").exists()


def test_released_files_win_under_auto(tmp_path):
    d = tmp_path / "CIFAR-10-C"
    d.mkdir()
    np.save(d / "fog.npy", np.zeros((10, 32, 32, 3), np.uint8))
    np.save(d / "labels.npy", np.zeros(10, np.uint8))
    assert resolve_c_source("cifar10", "auto", ["fog"], tmp_path, folder=False) == "released"
    assert resolve_c_source("cifar10", "auto", ["fog", "snow"], tmp_path, folder=False) == "on_the_fly"


# ---- a new corruption is one decorator in one module ----------------------------------------------------------------
NEW_MODULE = '''
from typing import NamedTuple

from augmix_lab.corruptions import corruption


class Invert(NamedTuple):
    strength: float


@corruption("test_invert", family="digital", benchmark=False, order=99,
            cifar=tuple(Invert(s / 5) for s in range(1, 6)), imagenet=tuple(Invert(s / 5) for s in range(1, 6)))
def test_invert(x, c, params, profile):
    return x * (1 - c.strength) + (1 - x) * c.strength
'''


@pytest.fixture
def invert_module(tmp_path):
    path = tmp_path / "my_corruption.py"
    path.write_text(NEW_MODULE)
    spec = importlib.util.spec_from_file_location("my_corruption", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["my_corruption"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("my_corruption", None)
    CORRUPTIONS._items.pop("test_invert", None)  # keep the global registry as the other tests expect it
    CORRUPTIONS._meta.pop("test_invert", None)


def test_a_corruption_added_by_one_decorator_works_in_make_c_and_on_the_fly_eval(invert_module, tmp_path, capsys):
    from augmix_lab.config import EvalConfig
    from augmix_lab.data import load_dataset
    from augmix_lab.evaluation.runner import evaluate_model

    assert "test_invert" in corruption_names(benchmark=False) and K.FAMILIES["test_invert"] == "digital"
    args = ["--dataset", "shapes", "--data-root", str(tmp_path), "-o", "n_train=8", "-o", "n_test=6"]
    assert main(["data", "make-c", *args, "--corruptions", "test_invert"]) == 0
    arr = np.load(tmp_path / "generated" / "SHAPES-C" / "test_invert.npy")
    assert arr.shape == (30, 32, 32, 3)
    ds = load_dataset("shapes", tmp_path, n_train=8, n_test=6)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, ds.num_classes))
    cfg = EvalConfig.model_validate({"batch_size": 6, "corruptions": {"source": "on_the_fly", "names": ["test_invert"],
                                                                      "severities": [1, 5]}})
    card = evaluate_model(model, ds, cfg, device="cpu", data_root=tmp_path)
    rows = card.table[card.table.benchmark == "C"]
    assert list(rows.corruption) == ["test_invert", "test_invert"] and set(rows.source) == {"on_the_fly"}
    # the generated file is read (and labelled) as such under source auto
    cfg = EvalConfig.model_validate({"batch_size": 6, "corruptions": {"source": "auto", "names": ["test_invert"],
                                                                      "severities": [2]}})
    rows = evaluate_model(model, ds, cfg, device="cpu", data_root=tmp_path).table
    assert list(rows[rows.benchmark == "C"].source) == ["generated"]


def test_perturbation_rows_state_their_source(tmp_path):
    from augmix_lab.config import EvalConfig
    from augmix_lab.data import load_dataset
    from augmix_lab.evaluation.runner import evaluate_model

    ds = load_dataset("shapes", tmp_path, n_train=8, n_test=4)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, ds.num_classes))
    cfg = EvalConfig.model_validate({"batch_size": 64, "clean": False, "corruptions": {"enabled": False},
                                     "perturbations": {"enabled": True, "names": ["translate", "gaussian_noise"]}})
    table = evaluate_model(model, ds, cfg, device="cpu", data_root=tmp_path).table
    assert list(table.corruption) == ["translate", "gaussian_noise"] and set(table.source) == {"on_the_fly"}


def test_frost_from_the_synthetic_fallback_is_labelled_in_rows_and_the_report(tmp_path, monkeypatch):
    """Without the frost photographs, frost cells say so (source ``...+synthetic_frost``) and the report's note too."""
    import augmix_lab.corruptions.textures as T
    from augmix_lab.config import EvalConfig
    from augmix_lab.corruptions.generate import make_c
    from augmix_lab.data import load_dataset
    from augmix_lab.evaluation.runner import evaluate_model
    from augmix_lab.report.loading import benchmark_sources
    from augmix_lab.report.tables import source_note

    ds = load_dataset("shapes", tmp_path, n_train=8, n_test=4)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, ds.num_classes))
    cfg = EvalConfig.model_validate({"batch_size": 4, "clean": False, "corruptions": {
        "source": "on_the_fly", "names": ["fog", "frost"], "severities": [1]}})
    real = T.frost_origin()
    table = evaluate_model(model, ds, cfg, device="cpu", data_root=tmp_path).table
    assert list(table.source) == ["on_the_fly", "on_the_fly" if real == "photographs" else "on_the_fly+synthetic_frost"]
    monkeypatch.setattr(T, "frost_photo_dir", lambda: None)
    T.frost_textures.cache_clear()
    T.frost_stack.cache_clear()
    try:
        table = evaluate_model(model, ds, cfg, device="cpu", data_root=tmp_path).table
        assert list(table.source) == ["on_the_fly", "on_the_fly+synthetic_frost"]
        assert benchmark_sources(table) == {"C": "on_the_fly+synthetic_frost"}
        note = source_note("shapes", "C", "on_the_fly+synthetic_frost")
        assert "generated on the fly and with synthetic frost textures" in note
        from augmix_lab.corruptions.sources import fallback_warnings

        trial = SimpleNamespace(dataset=SimpleNamespace(name="shapes"), eval=cfg)
        lines = fallback_warnings([trial, trial], tmp_path)
        assert len(lines) == 1 and "pip install --no-deps -c constraints.txt imagecorruptions" in lines[0]
        # generated files remember which textures made them
        make_c(ds, None, corruptions=["frost"], data_root=tmp_path)
    finally:
        monkeypatch.undo()
        T.frost_textures.cache_clear()
        T.frost_stack.cache_clear()
    generated = cfg.model_copy(update={"corruptions": cfg.corruptions.model_copy(update={
        "source": "generated", "names": ["frost"]})})
    assert list(evaluate_model(model, ds, generated, device="cpu", data_root=tmp_path).table.source) == \
        ["generated+synthetic_frost"]
    if real == "photographs":
        make_c(ds, None, corruptions=["frost"], data_root=tmp_path)
        assert list(evaluate_model(model, ds, generated, device="cpu", data_root=tmp_path).table.source) == \
            ["generated"]
