"""Batched kernels vs PIL (the oracle) on real images: exact for pointwise ops, pinned bounds for resampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from augmix_lab.augment import functional as F


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """uint8 (40, 3, 32, 32): shapes test images, random pixels, low-contrast, flat and one-flat-channel images."""
    from augmix_lab.data import load_dataset

    shapes = load_dataset("shapes", n_train=1, n_test=16).test_images[:16]
    rng = np.random.default_rng(0)
    noise = torch.from_numpy(rng.integers(0, 256, (12, 3, 32, 32), dtype=np.uint8))
    low = (noise[:6] // 8 + 100).to(torch.uint8)  # narrow histograms: autocontrast/equalize edge cases
    flat = torch.full((3, 3, 32, 32), 77, dtype=torch.uint8)
    one_flat = noise[6:9].clone()
    one_flat[:, 1] = 200
    return torch.cat([shapes, noise, low, flat, one_flat]).contiguous()


def pil_apply(images: torch.Tensor, fn, args=None) -> torch.Tensor:  # noqa: ANN001
    """Apply a PIL function image by image (with its per-image argument) and stack the results as N×C×H×W."""
    out = []
    for i, x in enumerate(images):
        pil = Image.fromarray(x.permute(1, 2, 0).numpy())
        res = fn(pil) if args is None else fn(pil, args[i])
        out.append(torch.from_numpy(np.asarray(res).copy()).permute(2, 0, 1))
    return torch.stack(out)


def test_autocontrast_and_equalize_match_pil_exactly(images: torch.Tensor) -> None:
    assert torch.equal(F.autocontrast(images), pil_apply(images, ImageOps.autocontrast))
    assert torch.equal(F.equalize(images), pil_apply(images, ImageOps.equalize))


def test_posterize_solarize_invert_match_pil_exactly(images: torch.Tensor) -> None:
    n = images.shape[0]
    bits = torch.arange(n) % 8 + 1  # 1..8 bits
    assert torch.equal(F.posterize(images, bits), pil_apply(images, lambda im, b: ImageOps.posterize(im, int(b)), bits))
    thresholds = torch.tensor([0, 1, 128, 255, 256, 127.5, 200.25] * 6, dtype=torch.float64)[:n]
    ref = pil_apply(images, lambda im, t: ImageOps.solarize(im, float(t)), thresholds)
    assert torch.equal(F.solarize(images, thresholds), ref)
    assert torch.equal(F.invert(images), pil_apply(images, ImageOps.invert))


@pytest.mark.parametrize(
    "kernel, enhancer",
    [(F.color, ImageEnhance.Color), (F.contrast, ImageEnhance.Contrast),
     (F.brightness, ImageEnhance.Brightness), (F.sharpness, ImageEnhance.Sharpness)],
)
def test_enhance_ops_match_pil_exactly(images: torch.Tensor, kernel, enhancer) -> None:  # noqa: ANN001
    n = images.shape[0]
    # AugMix factors float_parameter(level, 1.8) + 0.1 span [0.118, 1.9); RandAugment/TrivialAugment down to 0.01
    factors = torch.linspace(0.01, 1.99, n, dtype=torch.float64)
    ref = pil_apply(images, lambda im, f: enhancer(im).enhance(float(f)), factors)
    assert torch.equal(kernel(images, factors), ref)


def test_luminance_is_pils_L_conversion_for_many_colours() -> None:
    levels = torch.arange(0, 256, 5)
    r, g, b = torch.meshgrid(levels, levels, levels, indexing="ij")
    rgb = torch.stack([r, g, b]).reshape(3, 1, -1).to(torch.uint8)  # one row of 140,608 colours
    pil = np.asarray(Image.fromarray(rgb.permute(1, 2, 0).numpy()).convert("L")).astype(np.int64)
    ours = F.luminance(rgb.unsqueeze(0))[0, 0].numpy()
    assert np.array_equal(ours, pil)
    rgb64 = rgb.long()
    weighted = rgb64[0] * 299 + rgb64[1] * 587 + rgb64[2] * 114  # the ITU-R 601-2 formula PIL documents, ×1000
    documented = (weighted + 500) // 1000
    half = (weighted % 1000 == 500).numpy()  # exact ties: PIL's 16-bit fixed-point weights break these either way
    assert half.any() and np.array_equal(ours[~half], documented.numpy()[~half])
    tie_offset = ours[half] - documented.numpy()[half]
    assert set(np.unique(tie_offset).tolist()) == {-1, 0}


def _agreement(ours: torch.Tensor, ref: torch.Tensor) -> tuple[int, float, float]:
    diff = (ours.int() - ref.int()).abs()
    return int(diff.max()), float(diff.float().mean()), float((diff == 0).float().mean())


def test_rotate_matches_pil_bilinear_within_one_level(images: torch.Tensor) -> None:
    n = images.shape[0]
    degrees = torch.arange(n, dtype=torch.float64) * 3 % 61 - 30  # AugMix range: ±int_parameter(level, 30)
    ours = F.affine(images, F.rotation_matrices(degrees, 32, 32))
    ref = pil_apply(images, lambda im, d: im.rotate(float(d), resample=Image.BILINEAR), degrees)
    worst, mean, exact = _agreement(ours, ref)
    assert worst <= 1 and mean <= 0.01 and exact >= 0.99  # float32 vs PIL's double at truncation boundaries


@pytest.mark.parametrize("axis", ["x", "y"])
@pytest.mark.parametrize("limit", [0.3, 3.0])  # AugMix: ±float_parameter(level, 0.3); wider: lines leave the image
def test_shear_matches_pil_bilinear_within_one_level(images: torch.Tensor, axis: str, limit: float) -> None:
    n = images.shape[0]
    shear = torch.linspace(-limit, limit, n, dtype=torch.float64)
    matrices = F.shear_x_matrices(shear) if axis == "x" else F.shear_y_matrices(shear)
    ref = pil_apply(images, lambda im, m: im.transform((32, 32), Image.AFFINE, tuple(m.tolist()),
                                                      resample=Image.BILINEAR), matrices)
    kernel = F.shear_x if axis == "x" else F.shear_y
    worst, mean, exact = _agreement(kernel(images, shear), ref)  # the 1-D kernel the op engines run
    assert worst <= 1 and mean <= 0.01 and exact >= 0.99  # float32 lerp vs PIL's double at truncation boundaries
    if limit < 1:  # the generic affine; at wide shears a point exactly on the border can fall either side of PIL's
        worst, mean, exact = _agreement(F.affine(images, matrices), ref)
        assert worst <= 1 and mean <= 0.01 and exact >= 0.99


def test_integer_translation_is_exact(images: torch.Tensor) -> None:
    n = images.shape[0]
    dx = torch.arange(n, dtype=torch.float64) % 21 - 10  # AugMix at severity 10: ±int(level * 32/3 / 10)
    dy = -dx.flip(0)
    matrices = F.translate_matrices(dx, dy)
    ref = pil_apply(images, lambda im, m: im.transform((32, 32), Image.AFFINE, tuple(m.tolist()),
                                                      resample=Image.BILINEAR), matrices)
    assert torch.equal(F.affine(images, matrices), ref)
    assert torch.equal(F.shift(images, dx, dy), ref)
    assert torch.equal(F.shift_y(F.shift_x(images, dx), dy), ref)  # the translate_x / translate_y op kernels


def test_nearest_affine_matches_pil(images: torch.Tensor) -> None:
    n = images.shape[0]
    shear = torch.linspace(-0.3, 0.3, n, dtype=torch.float64)
    matrices = F.shear_x_matrices(shear)
    ref = pil_apply(images, lambda im, m: im.transform((32, 32), Image.AFFINE, tuple(m.tolist()),
                                                      resample=Image.NEAREST), matrices)
    assert torch.equal(F.affine(images, matrices, "nearest"), ref)
    degrees = torch.linspace(-135, 135, n, dtype=torch.float64)
    ours = F.affine(images, F.rotation_matrices(degrees, 32, 32), "nearest")
    ref = pil_apply(images, lambda im, d: im.rotate(float(d), resample=Image.NEAREST), degrees)
    mismatched = (ours != ref).any(dim=1).sum(dim=(1, 2))  # pixels per image
    diagonal = degrees.remainder(45) == 0
    # Generic angles: at most one pixel centre per image lands on a cell border, where float32 and PIL's
    # accumulated doubles round apart. Multiples of 45°: whole diagonals sit exactly on ties (≤ 3 % of pixels).
    assert int(mismatched[~diagonal].max()) <= 1
    assert diagonal.any() and int(mismatched[diagonal].max()) <= 0.03 * 32 * 32


def test_kernels_use_each_images_own_parameter(images: torch.Tensor) -> None:
    pair = images[:1].repeat(2, 1, 1, 1)
    assert not torch.equal(*F.posterize(pair, torch.tensor([1, 4])))
    assert not torch.equal(*F.solarize(pair, torch.tensor([50.0, 200.0])))
    assert not torch.equal(*F.color(pair, torch.tensor([0.2, 1.5])))
    assert not torch.equal(*F.affine(pair, F.rotation_matrices(torch.tensor([-20.0, 20.0]), 32, 32)))


def test_kernels_keep_shape_dtype_and_do_not_modify_input(images: torch.Tensor) -> None:
    before = images.clone()
    n = images.shape[0]
    ones = torch.ones(n, dtype=torch.float64)
    outs = [F.autocontrast(images), F.equalize(images), F.posterize(images, ones.long() * 3),
            F.solarize(images, ones * 100), F.color(images, ones * 0.5), F.contrast(images, ones * 0.5),
            F.brightness(images, ones * 0.5), F.sharpness(images, ones * 1.5),
            F.affine(images, F.shear_x_matrices(ones * 0.1)), F.shear_x(images, ones * 0.1),
            F.shear_y(images, ones * 0.1)]
    for out in outs:
        assert out.shape == images.shape and out.dtype == torch.uint8
    assert torch.equal(images, before)


def test_shift_flip_is_torchvision_flip_then_padded_crop(images: torch.Tensor) -> None:
    n = images.shape[0]
    dx = torch.arange(n) % 9 - 4
    dy = (torch.arange(n) * 7) % 9 - 4
    flip = torch.arange(n) % 2 == 0
    ours = F.shift_flip(images, dx, dy, flip)
    for i in range(n):
        x = images[i].flip(-1) if flip[i] else images[i]
        padded = torch.nn.functional.pad(x, (4, 4, 4, 4))  # RandomCrop(32, padding=4): zero padding
        top, left = int(dy[i]) + 4, int(dx[i]) + 4
        assert torch.equal(ours[i], padded[:, top : top + 32, left : left + 32])


def test_normalize_is_totensor_then_normalize(images: torch.Tensor) -> None:
    mean, std = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
    expected = (images.float() / 255 - torch.tensor(mean).reshape(1, 3, 1, 1)) / torch.tensor(std).reshape(1, 3, 1, 1)
    assert torch.allclose(F.normalize(images, mean, std), expected, atol=1e-6)
    unit = images.float() / 255  # float32 images are taken as already in [0, 1] (Fourier-perturbed ones)
    assert torch.allclose(F.normalize(unit, mean, std), expected, atol=1e-6)
    assert torch.equal(unit, images.float() / 255)  # never in place
    with pytest.raises(TypeError):
        F.normalize(images.double(), mean, std)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_kernels_agree_on_cuda(images: torch.Tensor) -> None:
    cuda = images.cuda()
    n = images.shape[0]
    f = torch.linspace(0.1, 1.9, n, dtype=torch.float64)
    for fn in (F.autocontrast, F.equalize):
        assert torch.equal(fn(cuda).cpu(), fn(images))
    for fn in (F.color, F.contrast, F.brightness, F.sharpness):
        assert torch.equal(fn(cuda, f.cuda()).cpu(), fn(images, f))
    m = F.rotation_matrices(torch.linspace(-30, 30, n, dtype=torch.float64), 32, 32)
    assert (F.affine(cuda, m.cuda()).cpu().int() - F.affine(images, m).int()).abs().max() <= 1
