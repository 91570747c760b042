"""The generated shapes dataset: determinism, layout, balance, caching, and classes that stay distinct."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from augmix_lab.data import load_dataset
from augmix_lab.data.shapes import CLASSES, generate_split, render_shapes
from augmix_lab.errors import UserError

SMALL = {"n_train": 100, "n_test": 30}


def test_same_seed_is_byte_identical_and_another_seed_differs(tmp_path: Path) -> None:
    a = load_dataset("shapes", root=tmp_path / "a", seed=3, **SMALL)
    b = load_dataset("shapes", root=tmp_path / "b", seed=3, **SMALL)  # generated again, not read from a's cache
    c = load_dataset("shapes", root=tmp_path / "c", seed=4, **SMALL)
    assert a.train_images.numpy().tobytes() == b.train_images.numpy().tobytes()
    assert torch.equal(a.test_images, b.test_images) and torch.equal(a.train_labels, b.train_labels)
    assert not torch.equal(a.train_images, c.train_images) and not torch.equal(a.test_images, c.test_images)
    assert a.version == b.version != c.version


def test_layout_dtypes_balance_and_metadata(tmp_path: Path) -> None:
    ds = load_dataset("shapes", root=tmp_path, **SMALL)
    assert ds.train_images.shape == (100, 3, 32, 32) and ds.test_images.shape == (30, 3, 32, 32)
    assert ds.train_images.dtype == torch.uint8 and ds.train_labels.dtype == torch.int64
    assert torch.bincount(ds.train_labels, minlength=10).tolist() == [10] * 10
    assert torch.bincount(ds.test_labels, minlength=10).tolist() == [3] * 10
    assert ds.train_labels[:20].unique().numel() > 3  # shuffled, not sorted by class
    assert (ds.kind, ds.image_size, ds.num_classes, ds.classes) == ("cifar", 32, 10, CLASSES)
    assert ds.mean == (0.5, 0.5, 0.5) and ds.std == (0.5, 0.5, 0.5)
    assert ds.train_images.float().std() > 40  # real colour content, not a blank canvas


def test_test_split_does_not_depend_on_train_size(tmp_path: Path) -> None:
    small = load_dataset("shapes", root=tmp_path, n_train=50, n_test=40)
    large = load_dataset("shapes", root=tmp_path, n_train=150, n_test=40)
    assert torch.equal(small.test_images, large.test_images)
    assert small.version != large.version


def test_cache_file_round_trips(tmp_path: Path) -> None:
    first = load_dataset("shapes", root=tmp_path, **SMALL)
    cache = tmp_path / "shapes" / f"{first.version}.npz"
    assert cache.is_file()
    cache_mtime = cache.stat().st_mtime_ns
    second = load_dataset("shapes", root=tmp_path, **SMALL)
    assert cache.stat().st_mtime_ns == cache_mtime and torch.equal(first.train_images, second.train_images)


def test_rendering_does_not_depend_on_chunking() -> None:
    images, labels = generate_split(30, seed=9, split="train")
    again, _ = generate_split(30, seed=9, split="train")
    assert torch.equal(images, again)
    import augmix_lab.data.shapes as shapes_module

    original = shapes_module._RENDER_CHUNK
    try:
        shapes_module._RENDER_CHUNK = 7
        chunked, _ = generate_split(30, seed=9, split="train")
    finally:
        shapes_module._RENDER_CHUNK = original
    assert torch.equal(images, chunked)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_train": 0}, "option n_train=0 must be an integer >= 1"),
        ({"seed": "x"}, "option seed='x' must be an integer >= 0"),
        ({"n_trian": 5}, "has no option(s) n_trian; allowed options: n_train, n_test, seed"),
    ],
)
def test_bad_options_are_user_errors(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(UserError) as exc:
        load_dataset("shapes", root=tmp_path, **options)
    assert message in str(exc.value)


def _silhouettes(angles: list[float], radius: float = 10.0) -> torch.Tensor:
    """Coverage masks (len(angles), 10, 32, 32) of every class drawn white on black at the centre, one render call."""
    n_classes = len(CLASSES)
    n = n_classes * len(angles)
    white, black = torch.ones(n, 3), torch.zeros(n, 3)
    params = {
        "label": torch.arange(n_classes).repeat(len(angles)),
        "cx": torch.full((n,), 16.0), "cy": torch.full((n,), 16.0), "radius": torch.full((n,), radius),
        "angle": torch.tensor(angles, dtype=torch.float32).repeat_interleave(n_classes),
        "color_a": white, "color_b": white, "stripe_period": torch.full((n,), 5.0),
        "stripe_angle": torch.zeros(n), "stripe_phase": torch.zeros(n),
        "bg_a": black, "bg_b": black, "bg_angle": torch.zeros(n),
    }
    return (render_shapes(params)[:, 0].float() / 255).view(len(angles), n_classes, 32, 32)


def test_disk_area_matches_geometry_with_antialiased_edges() -> None:
    disk = _silhouettes([0.0], radius=10.0)[0, CLASSES.index("disk")]
    assert disk.sum().item() == pytest.approx(math.pi * 10.0**2, rel=0.01)
    assert ((disk > 0.05) & (disk < 0.95)).any()  # soft (anti-aliased) edge pixels exist


def test_every_class_silhouette_differs_under_any_rotation() -> None:
    rotated = _silhouettes([a * math.pi / 12 for a in range(24)])  # (24 angles, 10 classes, 32, 32)
    reference = rotated[0]
    for i, name in enumerate(CLASSES):
        for j, other in enumerate(CLASSES):
            if i == j:
                continue
            # the closest any rotation of `other` gets to `name`: mean absolute pixel difference
            best = (rotated[:, j] - reference[i]).abs().mean(dim=(1, 2)).min().item()
            assert best > 0.02, f"{name} and a rotated {other} look the same ({best:.3f})"


def test_dataset_version_is_cheap_and_matches_the_generated_data(tmp_path: Path) -> None:
    from augmix_lab.data import dataset_version

    assert dataset_version("shapes", **SMALL) == load_dataset("shapes", root=tmp_path, **SMALL).version
    assert dataset_version("shapes") == "shapes-v1-train20000-test5000-seed0"
    assert not (tmp_path / "shapes" / "shapes-v1-train20000-test5000-seed0.npz").exists()  # nothing generated
    assert dataset_version("cifar10") == "cifar10-archive-md5:c58f30108f718f92721af3b95e74349a"
    with pytest.raises(UserError, match="has no option"):
        dataset_version("shapes", size=3)
