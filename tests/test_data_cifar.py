"""CIFAR-10/100 from tiny archives written in the official python-version format (pickled dicts, N×3072 uint8)."""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from augmix_lab.data import load_dataset
from augmix_lab.data.safe_pickle import safe_loads
from augmix_lab.errors import UserError


class _Py2StylePickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes bytes with Python-2 ``str`` opcodes (BINSTRING), as cPickle did for the official CIFAR batches."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def _dump(obj: object, py2_style: bool) -> bytes:
    buffer = io.BytesIO()
    if py2_style:
        _Py2StylePickler(buffer, protocol=2).dump(obj)
    else:
        pickle.dump(obj, buffer)
    return buffer.getvalue()


def _known_images(first: int, n: int) -> np.ndarray:
    """N×32×32×3 HWC images whose pixels encode (image index, row, column) per channel."""
    rows, cols = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    images = np.empty((n, 32, 32, 3), dtype=np.uint8)
    for k in range(n):
        images[k, :, :, 0] = first + k
        images[k, :, :, 1] = 100 + rows
        images[k, :, :, 2] = 200 + cols % 50
    return images


def _official_rows(images_hwc: np.ndarray) -> np.ndarray:
    # official layout: each row is the 1024 red values, then green, then blue, each 32×32 row-major
    return images_hwc.transpose(0, 3, 1, 2).reshape(len(images_hwc), 3072).copy()


def write_cifar(root: Path, variant: str, *, per_batch: int = 3, as_tar: bool, py2_style: bool) -> dict[str, object]:
    """Write a tiny CIFAR-10 (5 train batches + test) or CIFAR-100 (train + test) in the official format."""
    if variant == "cifar10":
        folder, labels_key, meta_name = "cifar-10-batches-py", b"labels", "batches.meta"
        splits = [(f"data_batch_{i}", True) for i in range(1, 6)] + [("test_batch", False)]
        classes = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
        meta = {b"label_names": classes, b"num_cases_per_batch": per_batch, b"num_vis": 3072}
        archive = "cifar-10-python.tar.gz"
    else:
        folder, labels_key, meta_name = "cifar-100-python", b"fine_labels", "meta"
        splits = [("train", True), ("test", False)]
        classes = [f"class_{i:03d}".encode() for i in range(100)]
        meta = {b"fine_label_names": classes, b"coarse_label_names": [f"super_{i}".encode() for i in range(20)]}
        archive = "cifar-100-python.tar.gz"
    members: dict[str, bytes] = {}
    expected = {"train_x": [], "train_y": [], "test_x": [], "test_y": []}
    counter = 0
    for member, is_train in splits:
        images = _known_images(counter, per_batch)
        labels = [(counter + k) * 7 % len(classes) for k in range(per_batch)]
        counter += per_batch
        entry = {
            b"batch_label": f"{member} of tiny test set".encode(),
            labels_key: labels,
            b"data": _official_rows(images),
            b"filenames": [f"img_{counter}_{k}.png".encode() for k in range(per_batch)],
        }
        if variant == "cifar100":
            entry[b"coarse_labels"] = [y // 5 for y in labels]
        members[member] = _dump(entry, py2_style)
        prefix = "train" if is_train else "test"
        expected[f"{prefix}_x"].append(images)
        expected[f"{prefix}_y"].extend(labels)
    members[meta_name] = _dump(meta, py2_style)
    if as_tar:
        with tarfile.open(root / archive, "w:gz") as tf:
            for name, blob in members.items():
                info = tarfile.TarInfo(f"{folder}/{name}")
                info.size = len(blob)
                tf.addfile(info, io.BytesIO(blob))
    else:
        (root / folder).mkdir(parents=True)
        for name, blob in members.items():
            (root / folder / name).write_bytes(blob)
    return {
        "train_x": np.concatenate(expected["train_x"]),
        "train_y": expected["train_y"],
        "test_x": np.concatenate(expected["test_x"]),
        "test_y": expected["test_y"],
        "classes": [c.decode() for c in classes],
    }


@pytest.mark.parametrize("as_tar", [True, False], ids=["tar.gz", "extracted"])
def test_cifar10_official_format_loads_with_exact_layout(tmp_path: Path, as_tar: bool) -> None:
    truth = write_cifar(tmp_path, "cifar10", as_tar=as_tar, py2_style=True)
    ds = load_dataset("cifar10", root=tmp_path)
    assert (ds.name, ds.kind, ds.image_size, ds.num_classes) == ("cifar10", "cifar", 32, 10)
    assert ds.train_images.shape == (15, 3, 32, 32) and ds.test_images.shape == (3, 3, 32, 32)
    assert ds.train_images.dtype == torch.uint8 and ds.train_labels.dtype == torch.int64
    assert ds.train_labels.tolist() == truth["train_y"] and ds.test_labels.tolist() == truth["test_y"]
    assert ds.classes == truth["classes"]
    # channel 0 = red plane: image index; channel 1 = green: 100 + row; channel 2 = blue: 200 + column % 50
    assert ds.train_images[7, 0].unique().tolist() == [7]
    assert ds.train_images[4, 1, 9].unique().tolist() == [109] and ds.train_images[4, 1, :, 9].tolist() == list(range(100, 132))
    assert ds.test_images[2, 2, 5, 31].item() == 200 + 31 % 50 and ds.test_images[2, 0, 0, 0].item() == 17
    expected = torch.from_numpy(truth["train_x"]).permute(0, 3, 1, 2)
    assert torch.equal(ds.train_images, expected)
    assert ds.mean == (0.5, 0.5, 0.5) and ds.std == (0.5, 0.5, 0.5)
    assert ds.version.startswith("cifar10-sha256:")


def test_cifar100_uses_fine_labels_and_py3_pickles(tmp_path: Path) -> None:
    truth = write_cifar(tmp_path, "cifar100", per_batch=5, as_tar=True, py2_style=False)
    ds = load_dataset("cifar100", root=tmp_path)
    assert ds.num_classes == 100 and ds.classes[:2] == ["class_000", "class_001"]
    assert ds.train_labels.tolist() == truth["train_y"] and ds.test_labels.tolist() == truth["test_y"]
    assert max(truth["train_y"]) >= 20  # fine, not the 20 coarse superclasses
    assert torch.equal(ds.test_images, torch.from_numpy(truth["test_x"]).permute(0, 3, 1, 2))


def test_decoded_cache_is_reused_and_invalidated_when_the_source_changes(tmp_path: Path) -> None:
    write_cifar(tmp_path, "cifar10", as_tar=False, py2_style=True)
    first = load_dataset("cifar10", root=tmp_path)
    caches = list(tmp_path.glob("cifar-10-batches-py.augmix-lab-v*.npz"))
    assert len(caches) == 1
    with np.load(caches[0], allow_pickle=False) as npz:
        assert npz["train_images"].shape == (15, 3, 32, 32)
    again = load_dataset("cifar10", root=tmp_path)
    assert torch.equal(first.train_images, again.train_images) and first.version == again.version
    # rewrite the source with different content: the cache must not be served
    for path in (tmp_path / "cifar-10-batches-py").iterdir():
        path.unlink()
    (tmp_path / "cifar-10-batches-py").rmdir()
    write_cifar(tmp_path, "cifar10", per_batch=2, as_tar=False, py2_style=True)
    changed = load_dataset("cifar10", root=tmp_path)
    assert changed.train_images.shape[0] == 10 and changed.version != first.version


def test_missing_cifar_names_where_it_looked_and_the_command(tmp_path: Path) -> None:
    with pytest.raises(UserError) as exc:
        load_dataset("cifar10", root=tmp_path)
    message = str(exc.value)
    assert message.startswith("cifar10 not found: looked in ")
    assert str(tmp_path / "cifar-10-batches-py") in message and str(tmp_path / "cifar-10-python.tar.gz") in message
    assert f"augmix-lab data download cifar10 --data-root {tmp_path.resolve()}" in message


def test_restricted_unpickler_refuses_code_globals() -> None:
    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (print, ("this must never run",))

    with pytest.raises(ValueError, match="refusing to load global builtins.print"):
        safe_loads(pickle.dumps({b"data": Evil()}), source="evil")


def test_malicious_batch_in_archive_is_a_user_error(tmp_path: Path) -> None:
    write_cifar(tmp_path, "cifar10", as_tar=False, py2_style=True)
    evil = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": type(tmp_path)})
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(evil)
    with pytest.raises(UserError, match=r"data_batch_3 is not an official cifar10 batch: .*refusing to load global"):
        load_dataset("cifar10", root=tmp_path)


def test_dataset_without_options_rejects_options(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"dataset 'cifar10' has no option\(s\) n_train; allowed options: none"):
        load_dataset("cifar10", root=tmp_path, n_train=5)
