"""Bring your own model and data (issue 22): evaluate-only trials, ``timm:<arch>`` models with local weights (the hub
never contacted), and ``imagefolder`` datasets of real PNG files."""

from __future__ import annotations

import os
import socket
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from augmix_lab.cli.main import main
from augmix_lab.config import TrialConfig
from augmix_lab.errors import UserError
from augmix_lab.report.loading import EVALUATED_ONLY, TrialRecord
from augmix_lab.study import expand_study, read_study
from augmix_lab.training import run_trial

SHAPES = {"name": "shapes", "options": {"n_train": 128, "n_test": 64}}
NO_C = {"corruptions": {"enabled": False}, "calibration": True}


def config(**overrides: Any) -> TrialConfig:
    base: dict[str, Any] = {"dataset": SHAPES, "model": "small_cnn", "epochs": 1, "seed": 1, "method": "standard",
                            "train": {"batch_size": 32, "threads": 1}, "eval": NO_C, "device": "cpu"}
    return TrialConfig.model_validate({**base, **overrides})


# ---------------------------------------------------------------------------------------------- evaluate-only


def test_scoring_a_trials_own_final_checkpoint_reproduces_its_clean_error(tmp_path: Path) -> None:
    trained = run_trial(config(), tmp_path / "trained")
    final = tmp_path / "trained" / "checkpoints" / "final.pt"
    scored = run_trial(config(epochs=0, init={"checkpoint": str(final)}), tmp_path / "scored")
    assert scored.history == []  # nothing trained
    for metric in ("clean_error", "clean_rms_calib_error", "clean_nll"):
        assert scored.scorecard.summary[metric] == trained.scorecard.summary[metric], metric


def test_an_evaluate_only_key_is_the_weights_and_the_data_not_a_training_recipe(tmp_path: Path) -> None:
    weights = tmp_path / "w.pt"
    torch.save({"conv.weight": torch.zeros(1)}, weights)
    a = config(epochs=0, init={"checkpoint": str(weights)})
    b = config(epochs=0, init={"checkpoint": str(weights)}, method="augmix", seed=5, train={"lr": 0.5})
    assert a.evaluate_only and a.fingerprint("v") == b.fingerprint("v")
    assert set(a.training_dict()) == {"dataset", "model", "epochs", "init"}
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: eo
        base: {{dataset: {{name: shapes, options: {{n_train: 64, n_test: 32}}}}, epochs: 1}}
        variants:
          - {{name: trained, method: standard}}
          - {{name: scored, epochs: 0, init: {{checkpoint: w.pt}}}}
        seeds: 3
    """))
    trials = expand_study(read_study(path))
    assert [t.variant for t in trials].count("scored") == 1  # seeds collapse: nothing random is left
    path.write_text(path.read_text().replace("init: {checkpoint: w.pt}", "method: standard"))
    with pytest.raises(UserError, match="field 'epochs': 0 scores given weights without training"):
        expand_study(read_study(path))


def test_the_report_marks_evaluated_only_conditions() -> None:
    def record(epochs: str) -> TrialRecord:
        return TrialRecord("r", "k", "FINISHED", "v", 0, {}, {"epochs": epochs, "dataset.name": "shapes",
                                                             "model": "small_cnn"}, {}, None, 0)

    assert record("0").condition.label == f"v {EVALUATED_ONLY}"
    assert record("3").condition.label == "v"


# ---------------------------------------------------------------------------------------------- timm

@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a network connection fails the test (the hub must never be contacted)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.slow  # importing timm takes seconds
def test_a_timm_model_trains_and_local_weights_are_scored_without_the_hub(tmp_path: Path, no_network: None) -> None:
    timm = pytest.importorskip("timm")
    trained = run_trial(config(model="timm:test_resnet"), tmp_path / "trained")
    assert trained.history and trained.scorecard.summary["clean_error"] <= 100
    weights = tmp_path / "weights.pth"  # a plain timm state dict with the dataset's 10 classes
    source = timm.create_model("test_resnet", num_classes=10)
    torch.save(source.state_dict(), weights)
    cfg = config(model="timm:test_resnet", epochs=0, pretrained=str(weights), resize=160)
    scored = run_trial(cfg, tmp_path / "scored")
    loaded = torch.load(scored.checkpoint, weights_only=True)["model"]
    assert all(torch.equal(loaded[k], v) for k, v in source.state_dict().items())  # the file's weights, head too
    assert cfg.training_dict()["pretrained"]["sha256"] and "pretrained_sha256" not in cfg.training_dict()
    # a folder in timm's local-dir layout (config.json + weights): the same weights, the folder's input convention
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "config.json").write_text('{"architecture": "test_resnet", "num_classes": 10, "pretrained_cfg": '
                                        '{"input_size": [3, 32, 32], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, '
                                        '0.25], "interpolation": "bicubic", "crop_pct": 1.0}}')
    torch.save(source.state_dict(), folder / "pytorch_model.bin")
    from augmix_lab.data.trial import load_trial_data
    from augmix_lab.training.trainer import trial_model

    cfg = config(model="timm:test_resnet", epochs=0, pretrained=str(folder))
    assert load_trial_data(cfg, None).dataset.std == (0.25, 0.25, 0.25)
    model = trial_model(cfg, 10)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in source.state_dict().items())


@pytest.mark.slow  # importing timm takes seconds
def test_timm_names_and_input_sizes_are_checked_at_plan_time(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    timm = pytest.importorskip("timm")
    torch.save(timm.create_model("test_resnet", num_classes=10).state_dict(), tmp_path / "w.pth")
    path = tmp_path / "s.yaml"
    text = textwrap.dedent("""\
        name: tm
        base: {dataset: {name: shapes, options: {n_train: 64, n_test: 32}}, model: "timm:test_resnet"}
        variants:
          - {name: scored, epochs: 0, pretrained: w.pth}
    """)
    for study, message in [
        (text, "s.yaml:4: field 'pretrained': the weights expect 160x160 inputs (their pretrained config's input_size)"
               ", but dataset 'shapes' has 32x32 images; set resize: 160"),
        (text.replace("test_resnet", "test_resnt"), "field 'model': unknown timm architecture 'test_resnt'. Did you "
                                                    "mean timm:test_resnet"),
        (text.replace("w.pth", "gone.pth"), f"no such file or folder '{tmp_path / 'gone.pth'}'"),
        (text.replace('"timm:test_resnet"', "small_cnn"), "field 'pretrained': loads local weights of timm models"),
        (text.replace("pretrained: w.pth", "pretrained: w.pth, resize: 160").replace("epochs: 0", "epochs: 1")
         .replace('"timm:test_resnet"', '"timm:test_vit"').replace("pretrained: w.pth, ", ""),
         "timm:test_vit only takes 160x160 inputs, dataset 'shapes' has 32x32 images; set resize: 160"),
    ]:
        path.write_text(study.replace("resize: 160", "") if "test_vit" in study else study)
        assert main(["plan", str(path), "--no-estimate", "--out", str(tmp_path / "out")]) == 2
        assert message in capsys.readouterr().err
    path.write_text(text.replace("pretrained: w.pth", "pretrained: w.pth, resize: 160"))
    assert main(["plan", str(path), "--no-estimate", "--out", str(tmp_path / "out")]) == 0


# ---------------------------------------------------------------------------------------------- image folders


def write_folder(root: Path, n_train: int = 12, n_test: int = 6, size: tuple[int, int] = (40, 48)) -> Path:
    """Two classes of generated PNGs (red-ish / blue-ish) in train/ and test/."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for cls, color in (("blue", (30, 40, 200)), ("red", (200, 40, 30))):
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = np.clip(np.array(color) + rng.integers(-40, 40, (*size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    return root


def test_an_image_folder_trains_and_is_scored_on_generated_c(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "imgs")
    cfg = config(dataset={"name": "imagefolder", "options": {"root": str(root), "image_size": 32}},
                 eval={"corruptions": {"source": "auto", "names": ["gaussian_noise", "fog"], "severities": [2]}})
    result = run_trial(cfg, tmp_path / "work")
    table = result.scorecard.table
    c_rows = table[table.benchmark == "C"]
    assert sorted(c_rows.corruption) == ["fog", "gaussian_noise"] and set(c_rows.source) == {"on_the_fly"}
    assert set(c_rows.n) == {12} and "mean_corruption_error" in result.scorecard.summary


def test_the_image_folder_version_follows_files_sizes_and_mtimes(tmp_path: Path) -> None:
    from augmix_lab.data import dataset_version, load_dataset

    root = write_folder(tmp_path / "imgs", n_train=2, n_test=1)
    options = {"root": str(root), "image_size": 32}
    first = dataset_version("imagefolder", **options)
    ds = load_dataset("imagefolder", tmp_path / "data", **options)
    assert ds.version == first and ds.classes == ["blue", "red"] and ds.train_images.shape == (4, 3, 32, 32)
    assert (ds.kind, ds.profile) == ("cifar", "cifar")
    lazy = load_dataset("imagefolder", tmp_path / "data", **options, max_memory_gb=0)
    assert lazy.kind == "imagenet" and torch.equal(lazy.test_images.batch(slice(0, 2)), ds.test_images[:2])
    touched = root / "train" / "red" / "000.png"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    assert dataset_version("imagefolder", **options) != first


def test_an_unreadable_image_is_an_exit_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_folder(tmp_path / "imgs", n_train=2, n_test=1)
    (root / "train" / "red" / "bad.png").write_bytes(b"not a png at all")
    study = tmp_path / "s.yaml"
    study.write_text("name: f\nbase: {dataset: {name: imagefolder, options: {root: imgs, image_size: 32}}}\n")
    assert main(["plan", str(study), "--no-estimate", "--out", str(tmp_path / "out")]) == 2
    assert f"cannot read image {root / 'train' / 'red' / 'bad.png'}" in capsys.readouterr().err
