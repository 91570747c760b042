"""Minimal Sample Distance: the definition on hand-made features, one parameter draw shared by every image (for
augmentations and corruptions), the penultimate features, and a study that stores MSD on its run and reports it."""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from augmix_lab.analysis.msd import (PenultimateFeatures, augmentation_features, corruption_centre, mean_distance,
                                     minimal_sample_distance)
from augmix_lab.augment import AUGMENTATIONS, create_augmentation, normalize
from augmix_lab.corruptions.functional import corrupt_shared
from augmix_lab.models import create_model


def test_distances_follow_the_definition():
    feats = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    centre = torch.tensor([3.0, 4.0])
    assert minimal_sample_distance(feats, centre) == 0.0  # one augmentation draw hits the corruption's centre
    assert mean_distance(feats, centre) == pytest.approx(0.0)  # and the centres coincide
    assert minimal_sample_distance(feats[:1], centre) == pytest.approx(5.0)
    assert mean_distance(torch.tensor([[0.0, 0.0], [0.0, 2.0]]), torch.tensor([3.0, 5.0])) == pytest.approx(5.0)


def test_penultimate_features_are_the_classifiers_input():
    torch.manual_seed(0)
    model = create_model("small_cnn", 10).eval()
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        expected = torch.flatten(model.pool(model.features(x)), 1)
    got = PenultimateFeatures(model, batch_size=2)(x)
    torch.testing.assert_close(got, expected)


def _mean_pixel(x: torch.Tensor) -> torch.Tensor:
    return x.float().mean(dim=(1, 2, 3)).unsqueeze(1)


def test_one_augmentation_draw_transforms_every_image():
    images = torch.stack([torch.full((3, 4, 4), v, dtype=torch.uint8) for v in (10, 50, 90)])

    def shift(batch: torch.Tensor, g: torch.Generator) -> torch.Tensor:  # a per-row random offset
        return batch.float() + 100 * torch.rand(batch.shape[0], generator=g)[:, None, None, None]

    feats = augmentation_features(_mean_pixel, images, shift, samples=7, seed=3, chunk=3)
    offsets = torch.cat([100 * torch.rand(n, generator=torch.Generator().manual_seed(3 + start))
                         for start, n in ((0, 3), (3, 3), (6, 1))])
    torch.testing.assert_close(feats[:, 0], 50 + offsets)  # mean over the images of image + the draw's offset


def test_one_corruption_draw_is_shared_by_a_group():
    images = torch.full((6, 3, 8, 8), 128, dtype=torch.uint8)
    y = corrupt_shared(images, "gaussian_noise", 3, torch.Generator().manual_seed(0), "cifar", group=3)
    assert torch.equal(y[0], y[1]) and torch.equal(y[1], y[2]) and not torch.equal(y[2], y[3])
    assert torch.equal(y, corrupt_shared(images, "gaussian_noise", 3, torch.Generator().manual_seed(0), "cifar", 3))
    with pytest.raises(ValueError, match="not a multiple of group=4"):
        corrupt_shared(images, "gaussian_noise", 3, None, "cifar", group=4)
    centre = corruption_centre(_mean_pixel, images[:3], lambda b, g: corrupt_shared(b, "lines", 2, g, "cifar", 3),
                               lambda b: b, samples=4, seed=1, chunk=3)
    assert centre.shape == (1,) and 0 < float(centre) < 255


@pytest.mark.parametrize("method", AUGMENTATIONS.names())
def test_every_method_draws_from_the_generator_alone(method):
    """The protocol behind one draw per row: two different images, the same seed and batch size, the same draws."""
    a = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    b = 255 - a
    aug = create_augmentation(method, jsd_arity=1, crop_flip=False)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    labels = torch.zeros(6, dtype=torch.long)
    aug(a.expand(6, -1, -1, -1).contiguous(), labels, g1)
    aug(b.expand(6, -1, -1, -1).contiguous(), labels, g2)
    assert torch.equal(g1.get_state(), g2.get_state())


def test_measure_equals_the_definition_for_the_identity_augmentation():
    from augmix_lab.orchestration.msd import fixed_images, measure

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    ds = SimpleNamespace(name="tiny", kind="cifar", num_classes=3, mean=(0.5,) * 3, std=(0.5,) * 3,
                         train_images=torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8, generator=g),
                         train_labels=torch.arange(12) % 3)
    model = create_model("small_cnn", 3).eval()
    spec = SimpleNamespace(images=5, samples=6, corruption_samples=3, seed=2, batch_size=8)
    identity = create_augmentation("standard", jsd_arity=1, crop_flip=False)
    cells = [("C", "fog", 2), ("C-bar", "ripple", 4)]
    out = measure(model, ds, cells, {"id": identity}, spec)
    extract = PenultimateFeatures(model)
    images = fixed_images(ds, 5, 2, torch.device("cpu"))
    clean = extract(normalize(images, ds.mean, ds.std)).mean(dim=0)
    for bench, name, s in cells:
        msd, mmd = out[("id", bench, name, s)]
        from augmix_lab.corruptions.generate import stable_seed

        centre = corruption_centre(extract, images, lambda b, g, n=name, s=s: corrupt_shared(b, n, s, g, "cifar", 5),
                                   lambda b: normalize(b, ds.mean, ds.std), 3, stable_seed(2, "msd", name, s), chunk=1)
        expected = float(torch.linalg.vector_norm(clean.double() - centre.double()))
        assert msd == pytest.approx(expected, rel=1e-5) and mmd == pytest.approx(expected, rel=1e-5)


STUDY = """\
name: cbar-mini
resources: {cpus_per_trial: 1, max_concurrent_trials: 2, retries: 0}
base:
  dataset: {name: shapes, options: {n_train: 128, n_test: 32}}
  model: small_cnn
  epochs: 1
  train: {batch_size: 32, threads: 1}
  eval:
    batch_size: 64
    corruptions: {source: on_the_fly, names: [fog], severities: [2]}
    c_bar: {enabled: true, source: on_the_fly, names: [lines, ripple], severities: [3]}
variants:
  - {name: standard, method: standard}
  - {name: cutout, method: cutout}
seeds: [0]
baseline: standard
analyses:
  msd: {enabled: true, samples: 4, images: 4, corruption_samples: 2}
"""


@pytest.mark.slow
@pytest.mark.integration
def test_a_study_stores_msd_on_its_run_and_the_report_only_reads_it(ray_session, tmp_path: Path, capsys):
    from augmix_lab.cli.main import main
    from augmix_lab.tracking.reader import StoreReader
    from augmix_lab.tracking.tags import MSD_ARTIFACT

    study = tmp_path / "cbar-mini.yaml"
    study.write_text(textwrap.dedent(STUDY))
    out = tmp_path / "out"
    assert main(["run", str(study), "--out", str(out), "--data-root", str(tmp_path / "data")]) == 0
    assert "minimal sample distance: 6 row(s)" in "".join(capsys.readouterr())  # the console writes to stderr
    reader = StoreReader(f"sqlite:///{out / 'mlflow.db'}")
    parent = reader.runs(reader.experiment_id("cbar-mini"), "study")[0]
    table = reader.table(parent.run_id, MSD_ARTIFACT)
    assert sorted(set(zip(table.benchmark, table.corruption))) == [("C", "fog"), ("C-bar", "lines"),
                                                                    ("C-bar", "ripple")]
    assert set(table.variant) == {"standard", "cutout"} and (table.msd > 0).all() and (table.mmd > 0).all()
    # Standard's augmentation (no crop/flip here) is the identity: every draw has the same f(a), so MSD == MMD; cutout's
    # draws differ, so they differ (no ordering holds in general: the mean of the draws may lie closer than any draw)
    std, cut = table[table.variant == "standard"], table[table.variant == "cutout"]
    assert np.allclose(std.msd, std.mmd, rtol=1e-6) and not np.allclose(cut.msd, cut.mmd, rtol=1e-6)
    assert main(["run", str(study), "--out", str(out), "--data-root", str(tmp_path / "data")]) == 0
    assert "minimal sample distance" not in "".join(capsys.readouterr()), "up to date: not recomputed"
    assert main(["report", "--study", str(out), "--format", "md,csv"]) == 0
    report = (out / "report" / "report.md").read_text()
    assert "-C vs -C-bar error and the gap" in report and "Minimal sample distance, augmentation" in report
    assert (out / "report" / "plots" / "msd_vs_error_shapes_small_cnn.png").is_file()
    tidy = pd.read_csv(out / "report" / "tables" / "c_vs_c_bar.tidy.csv")
    assert {"mean_corruption_error", "c_bar_error", "c_bar_gap"} <= set(tidy.metric)


def test_spearman_of_the_scatter_is_undefined_for_constant_inputs():
    from augmix_lab.report.msd import spearman

    assert spearman(pd.DataFrame({"msd": [1.0, 2.0, 3.0], "error": [5.0, 9.0, 20.0]})) == pytest.approx(1.0)
    assert pd.isna(spearman(pd.DataFrame({"msd": [1.0, 2.0, 3.0], "error": [5.0, 5.0, 5.0]})))
    assert pd.isna(spearman(pd.DataFrame({"msd": [1.0, 2.0], "error": [5.0, 6.0]})))
