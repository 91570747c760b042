"""`augmix-lab data check-c`: our generator against small released-format files built with the reference formulas."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pandas as pd
import pytest
import skimage.data
import torch
from PIL import Image

from augmix_lab.cli.main import main
from augmix_lab.corruptions import check
from augmix_lab.corruptions.reference import reference_corrupt
from augmix_lab.data import load_dataset

SHAPES = ["-o", "n_train=8", "-o", "n_test=64"]


def _released_like(images: np.ndarray, name: str, severity: int, profile: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([reference_corrupt(im, name, severity, rng, profile) for im in images])


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    """shapes (64 test images) and a SHAPES-C folder in the CIFAR-10-C layout: glass_blur made by the reference
    loop, gaussian_noise always at severity 5 (so ours is weaker below it), contrast left clean (ours stronger)."""
    root = tmp_path_factory.mktemp("data")
    ds = load_dataset("shapes", root, n_train=8, n_test=64)
    clean = ds.test_images.permute(0, 2, 3, 1).numpy()
    out = root / "SHAPES-C"
    out.mkdir()
    made = {
        "glass_blur": [_released_like(clean, "glass_blur", s, "cifar", s) for s in range(1, 6)],
        "gaussian_noise": [_released_like(clean, "gaussian_noise", 5, "cifar", s) for s in range(1, 6)],
        "contrast": [clean] * 5,
    }
    for name, per_severity in made.items():
        np.save(out / f"{name}.npy", np.concatenate(per_severity))
    np.save(out / "labels.npy", np.tile(ds.test_labels.numpy().astype(np.uint8), 5))
    return root


def _final_checkpoint(path, num_classes: int) -> None:
    from augmix_lab.models import create_model
    from augmix_lab.training.checkpoint import CHECKPOINT_FORMAT, save_atomic

    torch.manual_seed(0)
    model = create_model("small_cnn", num_classes)
    save_atomic({"format": CHECKPOINT_FORMAT, "model": model.state_dict(), "config": {"model": "small_cnn"},
                 "data_version": "test", "num_classes": num_classes, "fingerprint": "test"}, path)


def test_check_c_cli_on_the_cifar_layout(shapes_root, tmp_path, capsys):
    csv = tmp_path / "check.csv"
    args = ["data", "check-c", "shapes", "--data-root", str(shapes_root), *SHAPES, "--severities", "1,4",
            "--csv", str(csv)]
    assert main(args) == 0
    out = capsys.readouterr().out
    print(out)  # the printed table (shown with -s)
    assert "frost textures: photographs" in out or "frost textures: synthetic" in out
    assert "verdicts:" in out and "err ours" not in out
    table = pd.read_csv(csv).set_index(["corruption", "severity"])
    assert sorted(set(table.index.get_level_values(0))) == ["contrast", "gaussian_noise", "glass_blur"]  # present ones
    assert (table["n"] == 64).all()
    # same reference loop, different draws: the strength agrees
    glass = table.loc["glass_blur"]
    assert ((glass["ratio"] - 1).abs() < 0.05).all() and (glass["verdict"] != "weaker").all(), glass
    assert table.loc[("gaussian_noise", 1), "verdict"] == "weaker"  # released is severity 5 throughout
    assert table.loc[("gaussian_noise", 1), "psnr_diff"] > 5
    assert (table.loc["contrast", "verdict"] == "stronger").all()  # released is the clean image
    assert table["error_ours"].isna().all()


def test_check_c_with_a_model_compares_errors(shapes_root, tmp_path, capsys):
    ckpt = tmp_path / "final.pt"
    _final_checkpoint(ckpt, load_dataset("shapes", shapes_root, n_train=8, n_test=64).num_classes)
    args = ["data", "check-c", "shapes", "--data-root", str(shapes_root), *SHAPES, "--corruptions", "glass_blur",
            "--severities", "2", "--model", str(ckpt), "--csv", str(tmp_path / "c.csv")]
    assert main(args) == 0
    assert "err ours" in capsys.readouterr().out
    row = pd.read_csv(tmp_path / "c.csv").iloc[0]
    assert 0 <= row.error_ours <= 100 and 0 <= row.error_released <= 100
    assert row.error_diff_lo <= row.error_diff <= row.error_diff_hi
    assert row.error_diff == pytest.approx(row.error_ours - row.error_released)
    assert row.error_verdict in ("close", "unclear", "weaker", "stronger") and row.strength_verdict != ""
    _final_checkpoint(ckpt, 3)
    assert main(args) == 2 and "a 3-class model" in capsys.readouterr().err


def test_check_c_refuses_missing_or_misaligned_files(shapes_root, tmp_path, capsys):
    assert main(["data", "check-c", "shapes", "--data-root", str(tmp_path), *SHAPES]) == 2
    assert "SHAPES-C is missing" in capsys.readouterr().err
    # another n_test: the released rows are not this test set
    assert main(["data", "check-c", "shapes", "--data-root", str(shapes_root), "-o", "n_train=8", "-o",
                 "n_test=32"]) == 2
    assert "64 images per severity, but shapes's test set has 32" in capsys.readouterr().err
    assert main(["data", "check-c", "shapes", "--data-root", str(shapes_root), *SHAPES, "--corruptions", "fog"]) == 2
    assert "no released files for fog" in capsys.readouterr().err
    assert main(["data", "check-c", "shapes", "--data-root", str(shapes_root), *SHAPES, "--severities", "0,6"]) == 2
    assert "--severities: [0, 6] not allowed" in capsys.readouterr().err


def test_check_c_flags_labels_that_are_not_the_test_set(tmp_path, capsys):
    ds = load_dataset("shapes", tmp_path, n_train=8, n_test=64)
    out = tmp_path / "SHAPES-C"
    out.mkdir()
    np.save(out / "contrast.npy", np.zeros((5 * 64, 32, 32, 3), np.uint8))
    np.save(out / "labels.npy", np.tile(((ds.test_labels + 1) % ds.num_classes).numpy().astype(np.uint8), 5))
    assert main(["data", "check-c", "shapes", "--data-root", str(tmp_path), *SHAPES]) == 2
    assert "labels differ from shapes's test labels" in capsys.readouterr().err


def _photo_crops(n: int, size: tuple[int, int]) -> list[np.ndarray]:
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()]
    return [cv2.resize(photos[i % 3][..., :3], size[::-1], interpolation=cv2.INTER_AREA) for i in range(n)]


def test_check_c_on_the_imagenet_folder_layout(tmp_path):
    """ImageNet-C layout: <corruption>/<severity>/<wnid>/<val file name>, made from Resize(256) + CenterCrop(224)
    and saved as JPEG quality 85; our side takes the same clean view and JPEG round trip."""
    import torchvision.transforms.functional as TF

    wnids = ["n01440764", "n01443537"]
    for split in ("train", "val"):
        for w, wnid in enumerate(wnids):
            folder = tmp_path / "imagenet" / split / wnid
            folder.mkdir(parents=True)
            for k, im in enumerate(_photo_crops(3, (300, 260 + 20 * w))):
                Image.fromarray(im).save(folder / f"ILSVRC2012_val_{w}{k}.JPEG", quality=95)
    ds = load_dataset("imagenet", tmp_path)
    for path in ds.test_images.files:
        with Image.open(path) as im:
            view = np.asarray(TF.center_crop(TF.resize(im.convert("RGB"), 256), 224))
        for s in (1, 3):
            out = tmp_path / "ImageNet-C" / "contrast" / str(s) / path.parent.name / path.name
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(reference_corrupt(view, "contrast", s, np.random.default_rng(0), "imagenet")).save(
                out, quality=85, optimize=True)
    for s in (2, 4, 5):  # the folder must look complete
        (tmp_path / "ImageNet-C" / "contrast" / str(s)).mkdir(parents=True)
    table = check.check_c(ds, tmp_path, corruptions=["contrast"], severities=(1, 3))
    assert list(table["n"]) == [6, 6]
    assert ((table["ratio"] - 1).abs() < 0.03).all() and (table["verdict"] == "close").all(), table
    with pytest.raises(Exception, match="contrast/2/n01440764/ILSVRC2012_val_00.JPEG is missing"):
        check.check_c(ds, tmp_path, corruptions=["contrast"], severities=(2,))


def test_verdicts_read_the_intervals_as_equivalence_tests():
    rng = np.random.default_rng(0)
    theirs = rng.uniform(10, 20, 2000)
    r, lo, hi = check.ratio_interval(0.86 * theirs + rng.normal(0, 0.1, 2000), theirs)
    assert abs(r - 0.86) < 0.01 and lo < r < hi and check.equivalence(lo, hi, 0.9, 1.1) == "weaker"
    r, lo, hi = check.ratio_interval(theirs[:5] * rng.uniform(0.7, 1.3, 5), theirs[:5])
    assert check.equivalence(lo, hi, 0.9, 1.1) == "unclear"  # five images cannot tell
    assert check.cell_verdict("close", "stronger") == "stronger" and check.cell_verdict("weaker", "stronger") == "mixed"
    d, lo, hi = check.paired_difference(np.array([1, 0, 1, 1] * 50), np.array([1, 0, 0, 1] * 50))
    assert d == pytest.approx(25.0) and lo > 2 and check.equivalence(lo, hi, -2, 2) == "stronger"
    assert check.psnr(np.full(3, 255.0**2 / 100)) == pytest.approx(20.0)


def test_jpeg_round_trip_is_pils_quality_85():
    im = _photo_crops(1, (64, 64))[0]
    buf = io.BytesIO()
    Image.fromarray(im).save(buf, format="JPEG", quality=85, optimize=True)
    assert np.array_equal(check._jpeg_round_trip(im), np.asarray(Image.open(io.BytesIO(buf.getvalue()))))
