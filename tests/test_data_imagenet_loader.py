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
    assert canvas.shape == (3, 60, 60) and canvas.dtype == torch.uint8 and (h, w) == (20, 60)
    assert not canvas[:, 20:].any()  # a uint8 zero margin: no float canvas, no replicate pass
    heights, widths = torch.tensor([20, 375, 500]), torch.tensor([60, 500, 40])
    boxes = random_resized_boxes_per_image(heights.repeat(50), widths.repeat(50), torch.Generator().manual_seed(1))
    top, left, bh, bw = boxes.unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (bh >= 1).all() and (bw >= 1).all()
    assert (top + bh <= heights.repeat(50)).all() and (left + bw <= widths.repeat(50)).all()


def test_crops_from_canvases_equal_crops_of_the_bare_images_and_never_read_the_margin() -> None:
    from augmix_lab.augment.functional import resized_crop_flip

    g = torch.Generator().manual_seed(4)
    sizes = [(17, 23), (40, 9), (32, 32)]
    images = [torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g) for h, w in sizes]
    heights, widths = torch.tensor([h for h, _ in sizes]), torch.tensor([w for _, w in sizes])
    boxes = random_resized_boxes_per_image(heights, widths, g)
    flip = torch.tensor([True, False, True])
    zero = torch.stack([fit_canvas(im, 48)[0] for im in images])
    bright = zero.clone()
    for k, (h, w) in enumerate(sizes):
        bright[k, :, h:], bright[k, :, :, w:] = 255, 255
    crops = resized_crop_flip(zero, boxes, flip, 12, heights, widths)
    assert torch.equal(crops, resized_crop_flip(bright, boxes, flip, 12, heights, widths))
    for k, image in enumerate(images):  # border semantics of each bare image (the old replicate-padded canvas)
        assert torch.equal(crops[k], resized_crop_flip(image[None], boxes[k : k + 1], flip[k : k + 1], 12)[0])


def _jpeg(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (30, 20), **options) -> Path:
    Image.fromarray(np.full((size[1], size[0], 3), rgb, dtype=np.uint8)).save(path, format="JPEG", **options)
    return path


def ilsvrc_oddities(folder: Path) -> tuple[list[Path], list[tuple[int, int, int]]]:
    """A plain JPEG plus what ILSVRC-2012 train holds besides: a PNG named .JPEG, a CMYK JPEG, greyscale and
    progressive JPEGs, each a solid colour (its expected RGB beside it)."""
    folder.mkdir()
    plain = _jpeg(folder / "plain.JPEG", (200, 40, 40), quality=95)
    png = folder / "n02105855_2933.JPEG"
    Image.fromarray(np.full((24, 36, 3), (10, 150, 240), dtype=np.uint8)).save(png, format="PNG")
    cmyk = folder / "cmyk.JPEG"
    Image.new("CMYK", (28, 21), (0, 255, 255, 0)).save(cmyk, format="JPEG", quality=95)  # red in CMYK
    grey = folder / "grey.JPEG"
    Image.new("L", (25, 25), 90).save(grey, format="JPEG", quality=95)
    progressive = _jpeg(folder / "progressive.JPEG", (40, 200, 60), quality=95, progressive=True)
    expected = [(200, 40, 40), (10, 150, 240), tuple(Image.open(cmyk).convert("RGB").getpixel((5, 5))), (90, 90, 90),
                (40, 200, 60)]
    return [plain, png, cmyk, grey, progressive], expected


def test_only_plain_ycbcr_jpegs_go_to_nvjpeg(tmp_path: Path) -> None:
    from augmix_lab.data.imagenet import _CanvasFiles, nvjpeg_decodable

    files, expected = ilsvrc_oddities(tmp_path / "odd")
    assert [nvjpeg_decodable(f.read_bytes()) for f in files] == [True, False, False, False, False]
    assert not nvjpeg_decodable(b"") and not nvjpeg_decodable(b"\xff\xd8\xff")  # truncated files too
    worker = _CanvasFiles(files, torch.arange(5), canvas=64, raw=True)
    payload, h, w, label = worker[0]
    assert payload.ndim == 1 and (h, w, label) == (0, 0, 0) and bytes(payload.numpy()) == files[0].read_bytes()
    for k in range(1, 5):  # decoded by PIL in the worker, at native size, colours right
        image, h, w, label = worker[k]
        assert image.shape == (3, h, w) and label == k
        assert (image.float().mean(dim=(1, 2)) - torch.tensor(expected[k], dtype=torch.float)).abs().max() < 4


def test_gpu_decode_path_batches_png_cmyk_and_plain_jpegs_together(tmp_path: Path) -> None:
    """The loader's decode="cuda" path, run on CPU (torchvision's decode_jpeg decodes on either device): before,
    ILSVRC's PNG named .JPEG and its CMYK JPEGs made the batched decode raise, every epoch."""
    files, expected = ilsvrc_oddities(tmp_path / "odd")
    folder = LazyImageFolder(files, torch.arange(5))
    loader = ImageNetLoader(folder, 5, num_workers=0, canvas=64, size=8)
    loader.decode = "cuda"  # what `auto` picks on a GPU for files named .JPEG (refused on a CPU device)
    (images, labels), = list(loader)
    assert images.shape == (5, 3, 8, 8) and labels.tolist() == [0, 1, 2, 3, 4]
    means = images.float().mean(dim=(2, 3))
    assert (means - torch.tensor(expected, dtype=torch.float)).abs().max() < 8


def test_loader_keeps_its_workers_between_passes(tmp_path: Path) -> None:
    folder = write_jpegs(tmp_path / "imgs")
    loader = folder.loader(2, num_workers=1, canvas=64, size=8, shuffle_generator=torch.Generator().manual_seed(0))
    first = torch.cat([y for _, y in loader])
    workers = loader._data_loader()._iterator._workers  # the persistent pool made by the first pass
    second = torch.cat([y for _, y in loader])
    assert loader._data_loader()._iterator._workers is workers and all(w.is_alive() for w in workers)
    assert sorted(first.tolist()) == sorted(second.tolist()) and first.tolist() != second.tolist()  # new order


def test_evaluation_of_a_lazy_folder_of_mixed_sizes_uses_the_eval_view(tmp_path: Path) -> None:
    from augmix_lab.config import EvalConfig
    from augmix_lab.data import load_dataset
    from augmix_lab.evaluation import evaluate_model
    from augmix_lab.evaluation.scoring import Scorer
    from augmix_lab.models import create_model

    for split, n in (("train", 1), ("val", 3)):  # native sizes differ, as in ILSVRC
        for c, wnid in enumerate(("n01", "n02")):
            folder = tmp_path / "imagenet" / split / wnid
            folder.mkdir(parents=True)
            for k in range(n):
                _jpeg(folder / f"{k}.JPEG", (60 * k, 100 * c, 90), size=(240 + 31 * k, 250 + 17 * c))
    ds = load_dataset("imagenet", root=tmp_path)
    model = create_model("small_cnn", 2).eval()
    cfg = EvalConfig.model_validate({"batch_size": 4, "calibration": False,
                                     "corruptions": {"source": "on_the_fly", "names": ["gaussian_noise"],
                                                     "severities": [2]}})
    card = evaluate_model(model, ds, cfg, device="cpu", data_root=tmp_path)
    assert set(card.table["benchmark"]) == {"clean", "C"} and (card.table["n"] == 6).all()
    logits = Scorer(model, ds.mean, ds.std, torch.device("cpu"), batch_size=4)(ds.test_images)
    reference = Scorer(model, ds.mean, ds.std, torch.device("cpu"), batch_size=6)(ds.test_images.batch(slice(None)))
    assert np.allclose(logits, reference, atol=1e-5)  # resize 256 + centre crop 224, batched in parallel


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


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_decoding_takes_ilsvrc_oddities_and_matches_pil(tmp_path: Path) -> None:
    """nvjpeg decodes the plain JPEGs as one batch; PNG-named-.JPEG, CMYK, grey, progressive come from PIL."""
    files, expected = ilsvrc_oddities(tmp_path / "odd")
    folder = LazyImageFolder(files * 2, torch.arange(10) % 5)
    loader = ImageNetLoader(folder, 5, device="cuda", decode="auto", num_workers=2, canvas=64, size=8)
    assert loader.decode == "cuda"
    batches = list(loader)
    assert [b[0].device.type for b in batches] == ["cuda", "cuda"] and batches[0][0].shape == (5, 3, 8, 8)
    for images, labels in batches:
        means = images.float().mean(dim=(2, 3)).cpu()
        assert (means - torch.tensor([expected[k] for k in labels.tolist()], dtype=torch.float)).abs().max() < 8
