"""Data root resolution, the dataset registry, index batching, and lazy ImageNet folders of real JPEGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from augmix_lab.data import DATASETS, iterate_batches, load_dataset, resolve_data_root
from augmix_lab.data.imagenet import LazyImageFolder, resize_short_side
from augmix_lab.errors import UserError


def test_data_root_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUGMIX_LAB_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_root(str(tmp_path / "cli")) == tmp_path / "cli"
    assert resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("AUGMIX_LAB_DATA")
    assert resolve_data_root(None) == tmp_path / "xdg" / "augmix-lab"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_root() == tmp_path / "home" / ".cache" / "augmix-lab"


def test_unknown_dataset_lists_allowed_names() -> None:
    with pytest.raises(UserError) as exc:
        load_dataset("cifar11")
    message = str(exc.value)
    assert "unknown dataset 'cifar11'" in message and "Did you mean 'cifar10'" in message
    assert "Allowed: cifar10, cifar100, imagefolder, imagenet, shapes." in message
    assert {"cifar10", "cifar100", "imagenet", "shapes"} <= set(DATASETS.names())


@pytest.mark.parametrize(("n", "batch_size", "drop_last"), [(103, 10, False), (103, 10, True), (100, 10, True), (5, 8, False)])
def test_shuffled_batches_cover_every_index_once(n: int, batch_size: int, drop_last: bool) -> None:
    images = torch.arange(n).view(n, 1, 1, 1).expand(n, 3, 2, 2).to(torch.uint8 if n < 256 else torch.int64)
    labels = torch.arange(n)
    g = torch.Generator().manual_seed(0)
    batches = list(iterate_batches(images, labels, batch_size, shuffle=True, generator=g, drop_last=drop_last))
    seen = torch.cat([y for _, y in batches])
    for x, y in batches:
        assert torch.equal(x[:, 0, 0, 0].long(), y)  # images and labels stay paired
    expected_batches = n // batch_size if drop_last else -(-n // batch_size)
    assert len(batches) == expected_batches
    if drop_last:
        assert all(len(y) == batch_size for _, y in batches) and seen.unique().numel() == len(seen)
    else:
        assert sorted(seen.tolist()) == list(range(n))
    assert seen.tolist() != sorted(seen.tolist())  # actually shuffled


def test_epochs_differ_and_same_seed_repeats() -> None:
    labels = torch.arange(50)

    def order(seed: int, epochs: int) -> list[list[int]]:
        g = torch.Generator().manual_seed(seed)
        return [torch.cat([y for _, y in iterate_batches(labels, labels, 7, shuffle=True, generator=g)]).tolist()
                for _ in range(epochs)]

    first, second = order(1, 2)
    assert first != second and sorted(first) == sorted(second) == list(range(50))
    assert order(1, 2) == [first, second]


def test_unshuffled_batches_are_views_in_order() -> None:
    images = torch.zeros(10, 3, 4, 4, dtype=torch.uint8)
    labels = torch.arange(10)
    batches = list(iterate_batches(images, labels, 4, shuffle=False))
    assert [y.tolist() for _, y in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert batches[1][0].data_ptr() == images[4].data_ptr()  # a slice, no copy


def test_shuffle_requires_an_explicit_generator() -> None:
    with pytest.raises(ValueError, match="needs an explicit torch.Generator"):
        next(iterate_batches(torch.zeros(3), torch.zeros(3), 2, shuffle=True))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.gpu
def test_batches_on_cuda_with_a_cuda_generator() -> None:
    images = torch.arange(20, device="cuda").view(20, 1, 1, 1).expand(20, 3, 2, 2)
    labels = torch.arange(20, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    seen = torch.cat([y for _, y in iterate_batches(images, labels, 6, shuffle=True, generator=g)])
    assert seen.device.type == "cuda" and sorted(seen.tolist()) == list(range(20))


WNIDS = ["n01440764", "n01443537"]
COLOURS = {"n01440764": (200, 30, 30), "n01443537": (20, 40, 220)}


def write_imagenet(root: Path) -> None:
    """A tiny ImageFolder tree of real JPEGs: solid colour per class, varied sizes."""
    for split, count in (("train", 3), ("val", 2)):
        for wnid in WNIDS:
            folder = root / "imagenet" / split / wnid
            folder.mkdir(parents=True)
            for k in range(count):
                w, h = 40 + 10 * k, 30 + 5 * k
                pixels = np.empty((h, w, 3), dtype=np.uint8)
                pixels[:] = COLOURS[wnid]
                Image.fromarray(pixels).save(folder / f"{wnid}_{k}.JPEG", quality=95)
            (folder / "notes.txt").write_text("not an image")


def test_imagenet_folder_is_listed_and_decoded_lazily(tmp_path: Path) -> None:
    write_imagenet(tmp_path)
    ds = load_dataset("imagenet", root=tmp_path)
    assert (ds.kind, ds.classes, ds.num_classes, ds.image_size) == ("imagenet", WNIDS, 2, 224)
    assert ds.mean == (0.485, 0.456, 0.406) and ds.std == (0.229, 0.224, 0.225)
    assert isinstance(ds.train_images, LazyImageFolder) and len(ds.train_images) == 6 and len(ds.test_images) == 4
    assert ds.train_labels.tolist() == [0, 0, 0, 1, 1, 1] and ds.test_labels.dtype == torch.int64
    third = ds.train_images[2]
    assert third.dtype == torch.uint8 and third.shape == (3, 40, 60)  # native size of n01440764_2
    assert (third.float().mean(dim=(1, 2)) - torch.tensor(COLOURS["n01440764"], dtype=torch.float)).abs().max() < 6
    listed = ds.test_images[torch.tensor([3, 0])]
    assert [img.shape for img in listed] == [(3, 35, 50), (3, 30, 40)]
    batch = ds.test_images.batch(torch.tensor([0, 3]))
    assert batch.shape == (2, 3, 224, 224) and batch.dtype == torch.uint8
    assert batch[1, 2].float().mean() > 180  # the blue class stays blue after resize + crop
    assert ds.version.startswith("imagenet-files-sha256:") and ds.version.endswith("-train6-val4")
    for images, labels in iterate_batches(ds.train_images, ds.train_labels, 4, shuffle=True,
                                          generator=torch.Generator().manual_seed(0)):
        assert isinstance(images, list) and len(images) == len(labels)


def test_imagenet_missing_or_malformed(tmp_path: Path) -> None:
    with pytest.raises(UserError) as exc:
        load_dataset("imagenet", root=tmp_path)
    assert str(tmp_path / "imagenet" / "train") in str(exc.value) and "manual download" in str(exc.value)
    write_imagenet(tmp_path)
    (tmp_path / "imagenet" / "val" / "n99999999").mkdir()
    with pytest.raises(UserError, match="val has classes missing from train: n99999999"):
        load_dataset("imagenet", root=tmp_path)


def test_tensor_resize_stays_close_to_pil_bilinear_resize() -> None:
    """Our batched resize replaces the reference's PIL Resize(256); the difference must stay small."""
    yy, xx = np.meshgrid(np.linspace(0, 1, 300), np.linspace(0, 1, 400), indexing="ij")
    pixels = np.stack([255 * xx, 255 * yy, 127 + 120 * np.sin(12 * xx + 7 * yy)], axis=-1).round().astype(np.uint8)
    ours = resize_short_side(torch.from_numpy(pixels).permute(2, 0, 1).contiguous(), 256)
    assert ours.shape == (3, 256, 341)
    reference = np.asarray(Image.fromarray(pixels).resize((341, 256), Image.BILINEAR)).astype(np.float64)
    diff = np.abs(ours.permute(1, 2, 0).numpy().astype(np.float64) - reference)
    assert diff.mean() < 0.25 and diff.max() <= 2  # measured: 0.07 mean, 1 max
