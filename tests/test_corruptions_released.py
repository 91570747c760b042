"""Released-layout loaders on small test-made files, integrity checks, catalog and the make-c / make-p generator."""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from augmix_lab.corruptions import released
from augmix_lab.corruptions.constants import BENCHMARK_CORRUPTIONS, EXTRA_CORRUPTIONS, P_FRAMES
from augmix_lab.corruptions.generate import make_c, make_p
from augmix_lab.corruptions.perturbations import perturb_sequence
from augmix_lab.corruptions.registry import PERTURBATIONS, perturbation_names
from augmix_lab.errors import UserError


def _write_cifar_c(root, per_severity=2, names=BENCHMARK_CORRUPTIONS + EXTRA_CORRUPTIONS):
    d = root / "CIFAR-10-C"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in names:
        arr = rng.integers(0, 256, (5 * per_severity, 32, 32, 3), dtype=np.uint8)
        arr[:, 0, 0, 0] = np.repeat(np.arange(1, 6), per_severity)  # severity tag in pixel (0, 0)
        np.save(d / f"{name}.npy", arr)
    np.save(d / "labels.npy", np.tile(np.arange(per_severity, dtype=np.uint8), 5))
    return d


def test_cifar_c_loader_slices_severity_major(tmp_path):
    d = _write_cifar_c(tmp_path)
    images, labels = released.CorruptionSet(d).images("fog", 3)
    assert images.shape == (2, 32, 32, 3) and images.dtype == np.uint8
    assert (images[:, 0, 0, 0] == 3).all() and list(labels) == [0, 1]
    assert isinstance(images.base, np.memmap) or isinstance(images, np.memmap)


def test_verify_reports_a_truncated_file_by_name(tmp_path):
    d = _write_cifar_c(tmp_path, per_severity=2)
    path = d / "snow.npy"
    path.write_bytes(path.read_bytes()[:-100])
    problems = released.verify_npy_benchmark(d, BENCHMARK_CORRUPTIONS, 10, (32, 32, 3))
    assert len(problems) == 1 and "snow.npy is truncated" in problems[0]
    with pytest.raises(UserError, match="snow.npy is truncated or corrupted"):
        released.CorruptionSet(d).images("snow", 1)
    assert "missing" in released.verify(tmp_path / "nowhere", "cifar10-c")[0]
    # the real release has 50000 rows: our 10-row files are reported, not silently used
    assert any("rows, expected 50000" in p for p in released.verify(tmp_path, "cifar10-c"))


def test_pickled_npy_is_refused(tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="pickle"):
        released.check_npy(path)


def test_cifar_p_layout(tmp_path):
    d = tmp_path / "CIFAR-10-P"
    d.mkdir()
    np.save(d / "rotate.npy", np.zeros((3, 31, 32, 32, 3), np.uint8))
    arr = released.open_npy(d / "rotate.npy", shape_tail=(32, 32, 3))
    assert arr.shape == (3, 31, 32, 32, 3)


def test_imagenet_c_folder_layout(tmp_path):
    for wnid, color in (("n01440764", 200), ("n01443537", 50)):
        folder = tmp_path / "ImageNet-C" / "fog" / "2" / wnid
        folder.mkdir(parents=True)
        for k in range(2):
            Image.fromarray(np.full((24, 24, 3), color + k, np.uint8)).save(folder / f"img{k}.JPEG", quality=95)
    paths, labels = released.list_folder_images(released.folder_c_dir(tmp_path, "imagenet", "fog", 2),
                                                {"n01440764": 7, "n01443537": 3})
    assert [p.name for p in paths] == ["img0.JPEG", "img1.JPEG"] * 2 and list(labels) == [7, 7, 3, 3]
    images = released.decode_images(paths)
    assert images.shape == (4, 24, 24, 3) and abs(int(images[0].mean()) - 200) <= 2
    paths[0].write_bytes(paths[0].read_bytes()[:30])
    with pytest.raises(UserError, match="img0.JPEG: unreadable or truncated"):
        released.decode_images(paths[:1])


def test_imagenet_p_video_layout(tmp_path):
    folder = tmp_path / "ImageNet-P" / "rotate" / "n01440764"
    folder.mkdir(parents=True)
    path = folder / "v0.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 1, (32, 32))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write mp4")
    for t in range(5):
        frame = np.zeros((32, 32, 3), np.uint8)
        frame[..., 2] = 40 * t  # red channel in BGR order
        writer.write(frame)
    writer.release()
    paths, _ = released.list_videos(tmp_path, "rotate")
    video = released.load_video(paths[0])
    assert video.shape == (5, 32, 32, 3)
    assert abs(int(video[4, ..., 0].mean()) - 160) < 12 and video[4, ..., 2].mean() < 12  # decoded as RGB
    (folder / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(UserError, match="bad.mp4: unreadable or truncated video"):
        released.load_video(folder / "bad.mp4")


def test_catalog_registers_the_benchmarks():
    import augmix_lab.corruptions  # noqa: F401  (registers)
    from augmix_lab.data.download import DOWNLOADS

    for name in ("cifar10-c", "cifar100-c", "cifar10-p", "tiny-imagenet-c", "imagenet-c", "imagenet-p"):
        assert name in DOWNLOADS
    spec = DOWNLOADS.get("cifar10-c")
    assert spec.files[0].md5 == "56bf5dcef84df0e2308c6dcbcbbd8499" and spec.files[0].size == 2918471680
    assert len(DOWNLOADS.get("imagenet-c").files) == 5


def _tiny_dataset(n=6):
    g = torch.Generator().manual_seed(0)
    return SimpleNamespace(name="tiny", kind="cifar", num_classes=3, classes=["a", "b", "c"], version="t1",
                           mean=(0.5,) * 3, std=(0.5,) * 3,
                           test_images=torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                           test_labels=torch.arange(n) % 3)


def test_make_c_writes_the_released_layout_reproducibly(tmp_path):
    ds = _tiny_dataset()
    out = make_c(ds, tmp_path / "a", seed=3, corruptions=["gaussian_noise", "contrast"], batch_size=4)
    assert out.name == "TINY-C" and released.read_generated_marker(out)["seed"] == 3
    assert released.verify_npy_benchmark(out, ("gaussian_noise", "contrast"), 30, (32, 32, 3)) == []
    images, labels = released.CorruptionSet(out).images("gaussian_noise", 2)
    assert images.shape == (6, 32, 32, 3) and list(labels) == [0, 1, 2, 0, 1, 2]
    again = make_c(ds, tmp_path / "b", seed=3, corruptions=["gaussian_noise"], batch_size=4)
    assert np.array_equal(np.load(out / "gaussian_noise.npy"), np.load(again / "gaussian_noise.npy"))
    other = make_c(ds, tmp_path / "c", seed=4, corruptions=["gaussian_noise"], batch_size=4)
    assert not np.array_equal(np.load(out / "gaussian_noise.npy"), np.load(other / "gaussian_noise.npy"))
    with pytest.raises(UserError, match="unknown corruption 'fogg'"):
        make_c(ds, tmp_path, corruptions=["fogg"])


@pytest.mark.parametrize("name", perturbation_names(implemented_only=True))  # every generable registered one
def test_perturbation_sequences_have_the_published_frame_counts(name):
    x = _tiny_dataset(2).test_images
    spec = PERTURBATIONS.get(name)
    seq = perturb_sequence(x, name, torch.Generator().manual_seed(0), "cifar")
    assert seq.shape == (2, P_FRAMES["cifar"][name], 3, 32, 32) and seq.dtype == torch.uint8
    assert P_FRAMES["cifar"][name] == spec.frames["cifar"]
    assert not torch.equal(seq[:, 0], seq[:, -1])
    assert torch.equal(seq, perturb_sequence(x, name, torch.Generator().manual_seed(0), "cifar")), "not reproducible"
    if spec.noise or name == "zoom_blur":
        assert torch.equal(seq[:, 0], x)  # frame 0 is the clean image
    for difficulty in (2, 3) if spec.noise else ():
        assert perturb_sequence(x, name, torch.Generator().manual_seed(0), "cifar", difficulty).shape == seq.shape


def test_make_p_layout(tmp_path):
    out = make_p(_tiny_dataset(3), tmp_path, seed=0, perturbations=["translate", "gaussian_noise"],
                 difficulties=(1, 2))
    assert np.load(out / "translate.npy").shape == (3, 16, 32, 32, 3)
    assert np.load(out / "gaussian_noise_2.npy").shape == (3, 31, 32, 32, 3)
    with pytest.raises(UserError, match="unsupported perturbation 'spatter'|unknown perturbation 'spatter'"):
        make_p(_tiny_dataset(1), tmp_path, perturbations=["spatter"])


def test_cli_make_c(tmp_path, capsys):
    from augmix_lab.cli.main import main

    args = ["--dataset", "shapes", "--data-root", str(tmp_path), "-o", "n_train=8", "-o", "n_test=10"]
    assert main(["data", "make-c", *args, "--corruptions", "fog,contrast"]) == 0
    assert released.verify_npy_benchmark(tmp_path / "generated" / "SHAPES-C", ("fog", "contrast"), 50, (32, 32, 3)) == []
    assert main(["data", "make-p", *args, "--perturbations", "translate"]) == 0
    assert np.load(tmp_path / "generated" / "SHAPES-P" / "translate.npy").shape == (10, 16, 32, 32, 3)
    assert main(["data", "make-c", *args, "--corruptions", "fgo"]) == 2
    assert "unknown corruption 'fgo'" in capsys.readouterr().err
    assert (tmp_path / "generated" / "SHAPES-C" / "fog.npy").is_file()
