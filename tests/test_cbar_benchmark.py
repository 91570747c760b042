"""C-bar as a second benchmark beside -C: study validation, one evaluation scoring both, make-c in the released
CIFAR-10-C-Bar layout (equal to the on-the-fly pixels), the ImageNet-C-bar tarball's folders, and the metrics."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from augmix_lab.cli.main import main
from augmix_lab.config import EvalConfig
from augmix_lab.corruptions import released
from augmix_lab.corruptions.generate import corrupted_batches, make_c
from augmix_lab.corruptions.registry import CORRUPTIONS, corruption_names
from augmix_lab.errors import UserError
from augmix_lab.evaluation.runner import evaluate_model
from augmix_lab.study.expand import eval_key


def _tiny(n: int = 6, kind: str = "cifar", size: int = 32, name: str = "tiny"):
    g = torch.Generator().manual_seed(0)
    return SimpleNamespace(name=name, kind=kind, num_classes=3, classes=["n01440764", "n01443537", "n01484850"],
                           version="t1", mean=(0.5,) * 3, std=(0.5,) * 3,
                           test_images=torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g),
                           test_labels=torch.arange(n) % 3)


def _model(size: int = 32) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * size * size, 3))


def test_one_evaluation_scores_c_and_c_bar_and_the_registry_summarises_both(tmp_path):
    ds = _tiny(4)
    cfg = EvalConfig.model_validate({"batch_size": 4, "corruptions": {"source": "on_the_fly", "names": ["fog"],
                                                                      "severities": [1, 2]},
                                     "c_bar": {"enabled": True, "source": "on_the_fly", "severities": [1, 3]}})
    card = evaluate_model(_model(), ds, cfg, device="cpu", data_root=tmp_path)
    bars = card.table[card.table.benchmark == "C-bar"]
    assert list(dict.fromkeys(bars.corruption)) == list(corruption_names(suite="c_bar", profile="cifar"))
    assert set(bars.severity) == {1, 3} and set(bars.source) == {"on_the_fly"}
    assert card.summary["c_bar_error"] == pytest.approx(bars.error.mean())
    assert card.summary["c_bar_corruption_error.lines"] == pytest.approx(bars[bars.corruption == "lines"].error.mean())
    assert card.summary["mean_corruption_error"] == pytest.approx(card.table[card.table.benchmark == "C"].error.mean())
    assert "c_bar.lines.3" in card.predictions and "c.fog.2" in card.predictions


def test_the_default_off_benchmark_keeps_eval_keys():
    off = EvalConfig()
    assert eval_key(off) == eval_key(EvalConfig.model_validate({"c_bar": {"enabled": False, "severities": [1]}}))
    assert eval_key(off) != eval_key(EvalConfig.model_validate({"c_bar": {"enabled": True}}))


def test_make_c_bar_writes_the_released_layout_with_the_on_the_fly_pixels(tmp_path, capsys):
    ds = _tiny()
    out = make_c(ds, tmp_path, seed=2, suite="c_bar", corruptions=["lines", "sparkles"], batch_size=4)
    assert out.name == "TINY-C-Bar" and released.read_generated_marker(out)["kind"] == "C-bar"
    labels = np.load(out / "labels.npy")
    assert labels.dtype == np.int64 and labels.shape == (30,)  # make_cifar10_c_bar.py: int labels, 5 x N
    images, lab = released.CorruptionSet(out).images("lines", 4)
    fly = torch.cat([b for b, _ in corrupted_batches(ds.test_images, ds.test_labels, "lines", 4, seed=2, batch_size=4,
                                                     profile="cifar")])
    assert np.array_equal(images, fly.permute(0, 2, 3, 1).numpy()) and list(lab) == [0, 1, 2, 0, 1, 2]
    with pytest.raises(UserError, match="'fog' is not one of the C-bar corruptions"):
        make_c(ds, tmp_path, suite="c_bar", corruptions=["fog"])
    args = ["--dataset", "shapes", "--data-root", str(tmp_path), "-o", "n_train=8", "-o", "n_test=4"]
    assert main(["data", "make-c", *args, "--benchmark", "c_bar", "--corruptions", "ripple"]) == 0
    assert "shapes-C-bar written" in capsys.readouterr().out
    assert np.load(tmp_path / "generated" / "SHAPES-C-Bar" / "ripple.npy").shape == (20, 32, 32, 3)


def test_released_cifar10_c_bar_layout_is_read_and_verified(tmp_path):
    d = tmp_path / "CIFAR-10-C-Bar"
    d.mkdir()
    names = corruption_names(suite="c_bar", profile="cifar")
    for k, n in enumerate(names):  # full-size files, sparse on disk: only the rows read are written
        arr = np.lib.format.open_memmap(d / f"{n}.npy", mode="w+", dtype=np.uint8, shape=(50000, 32, 32, 3))
        arr[10000:10002] = k
        del arr
    np.save(d / "labels.npy", np.tile(np.arange(10000) % 10, 5).astype(np.int64))
    assert released.verify(tmp_path, "cifar10-c-bar") == []
    images, labels = released.CorruptionSet(d).images("lines", 2)
    assert images.shape == (10000, 32, 32, 3) and labels.dtype == np.int64 and images[0, 0, 0, 0] == names.index("lines")
    with open(d / "ripple.npy", "r+b") as f:
        f.truncate(1000)
    assert any("ripple.npy is truncated" in p for p in released.verify(tmp_path, "cifar10-c-bar"))


def _write_folder_cell(folder: Path, value: int) -> None:
    for wnid in ("n01440764", "n01443537"):
        (folder / wnid).mkdir(parents=True)
        Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(folder / wnid / "ILSVRC2012_val_0.JPEG", quality=95)


def test_imagenet_c_bar_tarball_layout_is_read_with_its_top_folder(tmp_path):
    top = tmp_path / "ImageNet-C-Bar" / "imagenet_c_bar"  # the archive's own folder left in between
    names = corruption_names(suite="c_bar", profile="imagenet")
    for name in names:
        for s in range(1, 6):
            level = CORRUPTIONS.get(name).severity["imagenet"][s - 1].severity
            # severity folders 1..5 (the preprocessed tarball) or the level (make_imagenet_c_bar.py)
            _write_folder_cell(top / name / (str(s) if name != "sparkles" else f"{level:.2f}"), 40 * s)
    assert released.verify(tmp_path, "imagenet-c-bar") == []
    ds = _tiny(4, kind="imagenet", size=16, name="imagenet")
    cfg = EvalConfig.model_validate({"batch_size": 4, "clean": False, "corruptions": {"enabled": False},
                                     "c_bar": {"enabled": True, "source": "auto", "names": ["perlin_noise", "sparkles"],
                                               "severities": [2, 5]}})
    table = evaluate_model(_model(16), ds, cfg, device="cpu", data_root=tmp_path).table
    assert list(table.corruption) == ["perlin_noise"] * 2 + ["sparkles"] * 2 and set(table.source) == {"released"}
    assert list(table.n) == [2.0] * 4
    shutil.rmtree(top / "plasma_noise" / "3")
    assert any("plasma_noise/3 is missing" in p for p in released.verify(tmp_path, "imagenet-c-bar"))


def test_catalog_has_the_imagenet_c_bar_tarball():
    from augmix_lab.data.download import DOWNLOADS

    spec = DOWNLOADS.get("imagenet-c-bar")
    assert spec.files[0].url == "https://dl.fbaipublicfiles.com/inc_bar/imagenet_c_bar.tar.gz"


def _study(tmp_path: Path, eval_yaml: str, dataset: str = "{name: shapes, options: {n_train: 16, n_test: 8}}") -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: cbar-eval
        base:
          dataset: {dataset}
          model: small_cnn
          epochs: 1
          eval: {eval_yaml}
        variants:
          - {{name: standard, method: standard}}
        """))
    return path


@pytest.mark.parametrize("eval_yaml,message", [
    ("{c_bar: {enabled: true, names: [perlin_noise]}}", "eval.c_bar.names.*not one of the C-bar corruptions of the "
                                                        "cifar profile"),
    ("{c_bar: {enabled: true, names: [fgo]}}", "eval.c_bar.names.*unknown corruption 'fgo'"),
    ("{c_bar: {enabled: true, source: released}}", "eval.c_bar.source.*'released' does not exist"),
    ("{c_bar: {enabled: true, severities: [6]}}", "eval.c_bar.severities.*allowed: 1..5"),
    ("{c_bar: {enabled: true, source: generated}}", "eval.c_bar.source 'generated'.*SHAPES-C-Bar is missing.*"
                                                    "make-c --dataset shapes --benchmark c_bar"),
])
def test_plan_refuses_bad_c_bar_options_before_training(tmp_path, capsys, eval_yaml, message):
    import re

    code = main(["plan", str(_study(tmp_path, eval_yaml)), "--data-root", str(tmp_path), "--no-estimate"])
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err.replace("\n", " ")), err


@pytest.mark.parametrize("setup", [("cifar10", "wrn40_2"), ("imagenet", "resnet50")])
def test_paper_numbers_are_transcribed_consistently(setup):
    """Mintun et al.'s -C-bar error is the mean of its 10 per-corruption errors up to rounding (catches a mis-typed
    cell, which moves the mean by 0.1 per point)."""
    from augmix_lab.report.paper_numbers import PAPER_NUMBERS

    profile = "imagenet" if setup[0] == "imagenet" else "cifar"
    rows = {k[3]: v for k, v in PAPER_NUMBERS.items() if k[:3] == ("cbar", *setup)}
    assert {"standard", "augmix", "patch_gaussian"} <= set(rows)
    for method, numbers in rows.items():
        per = [numbers[f"c_bar_corruption_error.{n}"] for n in corruption_names(suite="c_bar", profile=profile)]
        assert abs(sum(per) / len(per) - numbers["c_bar_error"]) <= 0.1, method  # both sides rounded to 0.1


def test_c_vs_c_bar_table_puts_the_gap_beside_the_papers():
    from augmix_lab.report.loading import StudyRuns, TrialRecord
    from augmix_lab.report.tables import Results, build_tables

    trials = []
    for variant, arity, base in (("standard", "1", (27.0, 27.5)), ("augmix", "3", (11.0, 16.5))):
        for seed, shift in enumerate((0.0, 1.0, 2.0)):
            metrics = {"mean_corruption_error": base[0] + shift, "c_bar_error": base[1] + 2 * shift, "clean_error": 5}
            params = {"dataset.name": "cifar10", "model": "wrn40_2", "method": variant, "jsd.arity": arity}
            trials.append(TrialRecord(f"{variant}{seed}", f"k{variant}{seed}", "FINISHED", variant, seed, {}, params,
                                      metrics, None, 0, sources={"C": "released", "C-bar": "released"}))
    tables = {t.name: t for t in build_tables(Results(StudyRuns("sqlite:///x.db", "e", "e", "standard", trials, {})))}
    table = tables["c_vs_c_bar"]
    row = next(r for r in table.rows if r[2] == "augmix")
    assert row[5].startswith("6.50 ±") and row[6:9] == ["11.1", "16.0", "4.9"]  # ours: 5.5 + shift per seed
    assert table.values[("cifar10", "wrn40_2", "augmix", "c_bar_gap")].values == (5.5, 6.5, 7.5)
    paper = {(r[3], r[4]): r for r in tables["vs_paper"].rows if r[0] == "cbar"}
    assert paper[("augmix", "-C-bar error")][6] == "16.0"  # vs_paper lists the exact-setup comparison
