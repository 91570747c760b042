"""ImageNet training input: parallel decode into canvases, per-image random-resized crop + flip on the device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from augmix_lab.data.imagenet import ImageNetLoader, LazyImageFolder, fit_canvas, random_resized_boxes_per_image
from augmix_lab.errors import UserError


def write_jpegs(folder: Path) -> LazyImageFolder:
    folder.mkdir()
    files, labels = [], []
    for k, (w, h) in enumerate([(50, 37), (37, 50), (64, 20), (30, 30), (80, 60)]):
        pixels = np.full((h, w, 3), (40 * k, 200 - 30 * k, 90), dtype=np.uint8)
        path = folder / f"img{k}.JPEG"
        Image.fromarray(pixels).save(path, quality=95)
        files.append(path)
        labels.append(k % 2)
    return LazyImageFolder(files, torch.tensor(labels))


def test_loader_decodes_in_workers_and_crops_each_image(tmp_path: Path) -> None:
    folder = write_jpegs(tmp_path / "imgs")
    loader = folder.loader(2, num_workers=2, canvas=64, size=16, shuffle_generator=torch.Generator().manual_seed(0))
    assert isinstance(loader, ImageNetLoader) and len(loader) == 3
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(2, 3, 16, 16), (2, 3, 16, 16), (1, 3, 16, 16)]
    labels = torch.cat([b[1] for b in batches])
    assert sorted(labels.tolist()) == sorted(folder.labels.tolist())  # every image once
    images = torch.cat([b[0] for b in batches])
    for img, label in zip(images, labels):  # solid colours: a crop of image k keeps its colour (no canvas bleed)
        k = [i for i in range(5) if folder.labels[i] == label]
        means = img.float().mean(dim=(1, 2))
        assert min((means - torch.tensor([40. * i, 200. - 30 * i, 90.])).abs().max() for i in k) < 8


def test_fit_canvas_and_boxes_stay_inside_each_image() -> None:
    image = torch.randint(0, 256, (3, 30, 90), dtype=torch.uint8)
    canvas, h, w = fit_canvas(image, 60)
    assert canvas.shape == (3, 60, 60) and (h, w) == (20, 60)
    assert torch.equal(canvas[:, 25], canvas[:, 19])  # bottom margin repeats the last row
    heights, widths = torch.tensor([20, 375, 500]), torch.tensor([60, 500, 40])
    boxes = random_resized_boxes_per_image(heights.repeat(50), widths.repeat(50), torch.Generator().manual_seed(1))
    top, left, bh, bw = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (bh >= 1).all() and (bw >= 1).all()
    assert (top + bh <= heights.repeat(50)).all() and (left + bw <= widths.repeat(50)).all()


def test_loader_rejects_gpu_decoding_without_cuda(tmp_path: Path) -> None:
    folder = write_jpegs(tmp_path / "imgs")
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(UserError, match="decode"):
        ImageNetLoader(folder, 2, decode="cuda")


def test_trainer_feeds_imagenet_through_the_loader_and_skips_its_own_crop(tmp_path: Path) -> None:
    from augmix_lab.augment import create_augmentation, normalize
    from augmix_lab.config import TrialConfig
    from augmix_lab.training import Trainer

    for split, n in (("train", 5), ("val", 2)):  # native sizes differ, as in ILSVRC
        for wnid in ("n01", "n02"):
            folder = tmp_path / "imagenet" / split / wnid
            folder.mkdir(parents=True)
            for k in range(n if wnid == "n01" else 1):
                Image.fromarray(np.full((30 + 7 * k, 40 + 5 * k, 3), 60 * k, dtype=np.uint8)).save(folder / f"{k}.JPEG")
    cfg = TrialConfig.model_validate({
        "dataset": {"name": "imagenet"}, "model": "small_cnn", "epochs": 1, "seed": 0, "method": "augmix",
        "jsd": {"arity": 3}, "train": {"batch_size": 3, "threads": 1},
        "eval": {"corruptions": {"enabled": False}, "calibration": False}, "device": "cpu",
    })
    trainer = Trainer(cfg, tmp_path / "work", data_root=tmp_path).build()
    assert isinstance(trainer.loader, ImageNetLoader) and trainer.step.augmentation.crop_flip is False
    metrics = trainer.train_epoch(1)
    assert np.isfinite(metrics["train_loss"]) and 0 <= metrics["test_error"] <= 100
    # crop_flip=False: the standard method passes loader-cropped images through, only normalised
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    aug = create_augmentation("standard", kind="imagenet", image_size=8, crop_flip=False)
    out = aug(images, torch.zeros(2, dtype=torch.int64), torch.Generator().manual_seed(0))
    assert torch.equal(out.views[0], normalize(images, (0.5,) * 3, (0.5,) * 3))
    assert not torch.equal(create_augmentation("standard", kind="imagenet", image_size=8)(
        images, torch.zeros(2, dtype=torch.int64), torch.Generator().manual_seed(0)).views[0], out.views[0])
