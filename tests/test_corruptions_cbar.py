"""CIFAR-10-C-bar / ImageNet-C-bar kernels, driven by the registry (suite "c_bar"): contract, reproducibility, strength
against severity, and equality with the per-image port of corrupt.py on the same draws."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from augmix_lab.corruptions import corrupt
from augmix_lab.corruptions.cbar_reference import ORACLES, oracle
from augmix_lab.corruptions.registry import CORRUPTIONS, check_corruption_names, corruption_names
from augmix_lab.errors import UserError

# (name, profile) for every registered C-bar corruption and each profile whose benchmark holds it
CASES = [(n, p) for p in ("cifar", "imagenet") for n in corruption_names(suite="c_bar", profile=p)]
# Mintun et al. 2021 (imagenet_c_bar/cifar10_c_bar.csv, imagenet_c_bar.csv; the paper's and the README's lists)
CIFAR10_C_BAR = {"blue_noise_sample", "brownish_noise", "checkerboard_cutout", "circular_motion_blur",
                 "inverse_sparkles", "lines", "pinch_and_twirl", "ripple", "sparkles", "transverse_chromatic_abberation"}
IMAGENET_C_BAR = {"blue_noise_sample", "brownish_noise", "caustic_refraction", "checkerboard_cutout",
                  "cocentric_sine_waves", "inverse_sparkles", "perlin_noise", "plasma_noise",
                  "single_frequency_greyscale", "sparkles"}  # fmt: skip


def _natural(size: int, n: int = 3) -> np.ndarray:
    imgs = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee()][:n]
    return np.stack([cv2.resize(i[..., :3], (size, size), interpolation=cv2.INTER_AREA) for i in imgs])


def _nchw(nhwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().mean())


def test_the_registry_holds_both_benchmarks_and_keeps_them_apart_from_c():
    assert set(corruption_names(suite="c_bar", profile="cifar")) == CIFAR10_C_BAR
    assert set(corruption_names(suite="c_bar", profile="imagenet")) == IMAGENET_C_BAR
    assert len(set(corruption_names(suite="c_bar"))) == 15, "15 distinct kernels"
    assert not set(corruption_names()) & CIFAR10_C_BAR, "the -C lists (make-c, mCE) do not include C-bar"
    assert check_corruption_names(None, suite="c_bar", profile="cifar") == corruption_names(suite="c_bar",
                                                                                              profile="cifar")
    with pytest.raises(UserError, match="not one of the C-bar corruptions of the imagenet profile.*perlin_noise"):
        check_corruption_names(["lines"], suite="c_bar", profile="imagenet")
    with pytest.raises(UserError, match="'fog' is not one of the C-bar corruptions"):
        check_corruption_names(["fog"], suite="c_bar")


@pytest.mark.parametrize("name,profile", CASES)
def test_levels_are_the_csv_floats_in_increasing_order(name, profile):
    levels = [r.severity for r in CORRUPTIONS.get(name).severity[profile]]
    assert len(levels) == 5 and all(0 < a < b <= 10 for a, b in zip(levels, levels[1:]))


@pytest.mark.parametrize("name,profile", CASES)
def test_contract_and_reproducibility(name, profile):
    x = _nchw(_natural(32))
    before = x.clone()
    for severity in (1, 5):
        y = corrupt(x, name, severity, _gen(3), profile)
        assert y.shape == x.shape and y.dtype == torch.uint8 and torch.equal(x, before)
        assert _distance(y, x) > 0.1, f"{name} s{severity} left the images unchanged"
        assert torch.equal(y, corrupt(x, name, severity, _gen(3), profile)), "not reproducible under a seed"
    if not CORRUPTIONS.get(name).deterministic:
        assert not torch.equal(corrupt(x, name, 5, _gen(3), profile), corrupt(x, name, 5, _gen(4), profile))
        same = x[:1].repeat(4, 1, 1, 1)
        y = corrupt(same, name, 5, _gen(5), profile)
        assert not all(torch.equal(y[0], y[i]) for i in range(1, 4)), "each image draws its own parameters"


@pytest.mark.parametrize("name,profile", [c for c in CASES if CORRUPTIONS.get(c[0]).monotone])
def test_strength_grows_with_severity(name, profile):
    x = _nchw(_natural(32))
    d = [np.mean([_distance(corrupt(x, name, s, _gen(seed), profile), x) for seed in range(3)]) for s in range(1, 6)]
    assert all(b >= a - 1.0 for a, b in zip(d, d[1:])), f"{name} distances by severity {d}"
    assert d[-1] > d[0] + 0.5, f"{name} distances by severity {d}"


def test_a_profile_without_the_corruption_is_refused():
    x = _nchw(_natural(32, 1))
    with pytest.raises(UserError, match="'lines' has no imagenet severities"):
        corrupt(x, "lines", 1, _gen(0), "imagenet")


@pytest.mark.parametrize("name,profile", CASES)
def test_batched_kernel_equals_the_per_image_port_on_the_same_draws(name, profile):
    """Fixed parameters (drawn once by our sampler) through our batched kernel and through the pixel-by-pixel port
    of corrupt.py: equal, up to scipy's rounding of exact .5 ties in transverse_chromatic_abberation's uint8 zoom."""
    assert name in ORACLES
    nhwc = _natural(32, 2)
    spec = CORRUPTIONS.get(name)
    x = torch.from_numpy(nhwc).permute(0, 3, 1, 2).float() / 255
    for severity in (2, 5):
        c = spec.constants(profile, severity)
        params = spec.sample(x, c, _gen(severity), profile)
        ours = spec.apply(x, c, params, profile).permute(0, 2, 3, 1).numpy().astype(int)
        ref = np.stack([oracle(name, im, c.severity, params, i) for i, im in enumerate(nhwc)]).astype(int)
        diff = np.abs(ours - ref)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01, f"{name} s{severity}: {(diff > 0).mean():.4f} differ"
        if name != "transverse_chromatic_abberation":
            assert (diff > 0).mean() < 1e-3, f"{name} s{severity}: {(diff > 0).mean():.4f} differ"


@pytest.mark.parametrize("name", ["blue_noise_sample", "brownish_noise", "lines", "checkerboard_cutout"])
def test_odd_sizes_follow_the_reference_too(name):
    nhwc = _natural(33, 1)
    spec = CORRUPTIONS.get(name)
    x = torch.from_numpy(nhwc).permute(0, 3, 1, 2).float() / 255
    c = spec.constants("cifar", 4)
    params = spec.sample(x, c, _gen(1), "cifar")
    ours = spec.apply(x, c, params, "cifar").permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(ours[0], oracle(name, nhwc[0], c.severity, params, 0))


def test_lines_step_bound_off_the_cpu_draws_the_same_pixels(monkeypatch):
    # off the CPU, lines walks a fixed 2 S + 3 steps instead of reading the longest segment back: same pixels
    from augmix_lab.corruptions import cbar

    x = torch.randint(0, 256, (48, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(4))
    exact = corrupt(x, "lines", 5, torch.Generator().manual_seed(9), "cifar")
    original = cbar.line_aa_pixels
    monkeypatch.setattr(cbar, "line_aa_pixels", lambda r0, c0, r1, c1, bound: original(r0, c0, r1, c1, 2 * 32 + 3))
    assert torch.equal(corrupt(x, "lines", 5, torch.Generator().manual_seed(9), "cifar"), exact)
