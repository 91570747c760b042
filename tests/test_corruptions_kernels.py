"""Batched corruption kernels: contract, reproducibility, strength vs severity, and bounded difference to the oracle."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from augmix_lab.corruptions import BENCHMARK_CORRUPTIONS, CORRUPTIONS, EXTRA_CORRUPTIONS, corrupt
from augmix_lab.corruptions import filters
from augmix_lab.corruptions.functional import glass_shuffle, glass_sources
from augmix_lab.corruptions.reference import (
    ORACLES,
    _motion_blur_np,
    frost_port,
    glass_blur_port,
    glass_shuffle_loop,
    reference_corrupt,
)
from augmix_lab.corruptions.registry import corruption_names
from augmix_lab.corruptions.textures import (
    FROST_INSTALL,
    FROST_SIZES,
    _synthesise_frost,
    frost_origin,
    frost_photo_dir,
    frost_textures,
)
from augmix_lab.errors import UserError

# every test below is parametrised over the registry: a newly registered corruption is tested without a new test
ALL = corruption_names()
# deterministic corruptions (no sampler): our batched kernel should reproduce the per-image reference up to rounding
DETERMINISTIC = tuple(n for n in ALL if CORRUPTIONS.get(n).deterministic)
# corruptions whose distance to the clean image is monotone in severity in the reference too (registered flag)
MONOTONE = tuple(n for n in ALL if CORRUPTIONS.get(n).monotone)
RANDOM = tuple(n for n in ALL if not CORRUPTIONS.get(n).deterministic)


def test_hand_lists_of_the_paper_still_hold():
    """The registry flags reproduce the lists this file used to spell out (pins the 19 built-ins' metadata)."""
    assert DETERMINISTIC == ("defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression",
                             "gaussian_blur", "saturate")
    assert set(MONOTONE) == set(ALL) - {"glass_blur", "frost", "elastic_transform", "spatter", "saturate"}
    assert set(ORACLES) == set(ALL), "every built-in corruption has a per-image oracle"


def _natural_images(size: int) -> np.ndarray:
    imgs = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()]
    return np.stack([cv2.resize(i[..., :3], (size, size), interpolation=cv2.INTER_AREA) for i in imgs])


def _natural_crops(size: int, n: int) -> np.ndarray:
    """``n`` photographs' crops (size x size), from skimage's sample photographs at a few scales and positions."""
    photos = [skimage.data.astronaut(), skimage.data.chelsea(), skimage.data.coffee(), skimage.data.rocket()]
    rng = np.random.default_rng(1)
    out = []
    while len(out) < n:
        im = photos[len(out) % len(photos)][..., :3]
        side = int(rng.integers(size, min(im.shape[:2]) + 1))
        top, left = (int(rng.integers(0, d - side + 1)) for d in im.shape[:2])
        out.append(cv2.resize(im[top : top + side, left : left + side], (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(out)


@pytest.fixture(scope="module")
def cifar_batch() -> tuple[np.ndarray, torch.Tensor]:
    nhwc = _natural_images(32)
    return nhwc, torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _distance(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).abs().mean())


def test_registry_lists_15_plus_4():
    assert len(BENCHMARK_CORRUPTIONS) == 15 and len(EXTRA_CORRUPTIONS) == 4
    assert sorted(CORRUPTIONS.names()) == sorted(ALL)


@pytest.mark.parametrize("name", ALL)
def test_contract_every_severity(name, cifar_batch):
    _, x = cifar_batch
    before = x.clone()
    for severity in range(1, 6):
        y = corrupt(x, name, severity, _gen(1), "cifar")
        assert y.shape == x.shape and y.dtype == torch.uint8
        assert torch.equal(x, before), "input was modified in place"
        assert _distance(y, x) > 0.1, f"{name} s{severity} left the images unchanged"
        assert torch.equal(y, corrupt(x, name, severity, _gen(1), "cifar")), "not reproducible under a seed"
    # a batch of one gives the same result as the first row when no randomness is involved
    if name in DETERMINISTIC:
        assert torch.equal(corrupt(x[:1], name, 3, _gen(0)), corrupt(x, name, 3, _gen(0))[:1])


@pytest.mark.parametrize("name", ALL)
def test_imagenet_profile_runs_on_larger_images(name):
    x = torch.from_numpy(_natural_images(64)[:2]).permute(0, 3, 1, 2).contiguous()
    y = corrupt(x, name, 5, _gen(2), "imagenet")
    assert y.shape == x.shape and y.dtype == torch.uint8 and _distance(y, x) > 0.1


@pytest.mark.parametrize("name", MONOTONE)
def test_strength_grows_with_severity(name, cifar_batch):
    _, x = cifar_batch
    d = [np.mean([_distance(corrupt(x, name, s, _gen(seed)), x) for seed in range(2)]) for s in range(1, 6)]
    assert all(b >= a - 0.3 for a, b in zip(d, d[1:])), f"{name} distances by severity {d}"
    assert d[-1] > d[0] + 0.5


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_kernels_match_the_reference_oracle(name, cifar_batch):
    if name not in ORACLES:
        pytest.skip(f"{name} has no per-image oracle")
    nhwc, x = cifar_batch
    for severity in (1, 3, 5):
        ours = corrupt(x, name, severity, _gen(0)).permute(0, 2, 3, 1).numpy().astype(float)
        ref = np.stack([reference_corrupt(im, name, severity, np.random.default_rng(0)) for im in nhwc]).astype(float)
        diff = np.abs(ours - ref)
        assert diff.mean() < 0.5, f"{name} s{severity}: mean |ours - reference| = {diff.mean():.3f}"
        assert np.quantile(diff, 0.99) <= 2, f"{name} s{severity}: 99th percentile difference {np.quantile(diff, .99)}"


@pytest.mark.parametrize("name", RANDOM)
def test_random_kernels_have_the_reference_strength(name, cifar_batch):
    """Different random streams, same distribution: total distance to clean within 30% of the oracle's."""
    if name not in ORACLES:
        pytest.skip(f"{name} has no per-image oracle")
    nhwc, x = cifar_batch
    ours = sum(_distance(corrupt(x, name, s, _gen(s)), x) for s in range(1, 6))
    ref = sum(float(np.abs(reference_corrupt(im, name, s, np.random.default_rng(10 * s + i)).astype(float)
                           - im.astype(float)).mean()) / len(nhwc) for s in range(1, 6) for i, im in enumerate(nhwc))
    assert 0.7 < ours / ref < 1.3, f"{name}: ours {ours:.2f} vs reference {ref:.2f}"


def test_motion_blur_kernel_equals_the_per_image_line_kernel(cifar_batch):
    nhwc, x = cifar_batch
    angles = torch.tensor([-45.0, 0.0, 17.5, 44.0], dtype=torch.float64)
    ours = filters.motion_blur(x.double(), 9, 2.5, angles).permute(0, 2, 3, 1).numpy()
    ref = np.stack([_motion_blur_np(im.astype(np.float64), 9, 2.5, float(a)) for im, a in zip(nhwc, angles)])
    np.testing.assert_allclose(ours, ref, atol=1e-9)
    k = filters.motion_blur_kernel(6, 1)
    assert len(k) == 13 and k[0] == k.max() and k.sum() == pytest.approx(1.0)  # one-sided, 2r+1 taps


def _glass_settings() -> list[tuple[str, int, int]]:
    """(profile, delta, iterations) of every glass_blur severity record, from the registry (both profiles)."""
    spec = CORRUPTIONS.get("glass_blur")
    return sorted({(p, c.delta, c.iterations) for p in ("cifar", "imagenet") for c in spec.severity[p]})


@pytest.mark.parametrize("profile,delta,iterations", _glass_settings())
@pytest.mark.parametrize("sync_free", [False, True])
def test_glass_shuffle_equals_the_reference_loop(profile, delta, iterations, sync_free):
    """Batched chained copies == the reference's loop ported per image, on the same seeded draws (exactly)."""
    g = _gen(10 * delta + iterations)
    b, h, w = 3, 19, 23  # small and not square, so rows/columns mix-ups show
    x = torch.randint(0, 256, (b, 3, h, w), generator=g, dtype=torch.uint8)
    offsets = torch.randint(-delta, delta, (b, iterations, 2, h, w), generator=g)
    flat = x.float().reshape(b, 3, h * w)
    for it in range(iterations):
        src = glass_sources(offsets[:, it], delta, sync_free=sync_free)
        flat = flat.gather(2, src[:, None, :].expand(b, 3, h * w))
    ours = flat.reshape(b, 3, h, w).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(ours, glass_shuffle(x.float(), delta, offsets).to(torch.uint8).permute(0, 2, 3, 1).numpy())
    ref = np.stack([glass_shuffle_loop(im.permute(1, 2, 0).numpy().copy(), delta, off.numpy())
                    for im, off in zip(x, offsets)])
    assert np.array_equal(ours, ref)
    # the reference duplicates pixels (copies, not swaps): the multiset of pixels changes
    assert any(sorted(map(tuple, r.reshape(-1, 3))) != sorted(map(tuple, i.reshape(-1, 3)))
               for r, i in zip(ref, x.permute(0, 2, 3, 1).numpy()))


def test_glass_copies_chain_in_descending_raster_order():
    """delta 2, every draw (dx, dy) = (1, 0): each visited pixel copies its right neighbour's NEW value, so a row's
    visited window takes the value right of it (x[h, size - 1]), not the one-step shift a swap or a batch would give."""
    h = w = 8
    x = torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w)
    offsets = torch.zeros(1, 1, 2, h, w, dtype=torch.int64)
    offsets[:, :, 0] = 1
    y = glass_shuffle(x, 2, offsets)[0, 0]
    for r in range(3, 7):  # visited rows and columns: 3 .. 6 (range(8 - 2, 2, -1))
        assert y[r, 3:7].tolist() == [x[0, 0, r, 7].item()] * 4
    assert torch.equal(y[:3], x[0, 0, :3]) and torch.equal(y[:, :3], x[0, 0, :, :3])


@pytest.mark.parametrize("profile,size", [("cifar", 32), ("imagenet", 48)])
def test_glass_blur_equals_the_reference_on_the_same_draws(profile, size):
    """The whole kernel (blur, chained copies, blur) against the per-image port fed our draws: rounding only."""
    nhwc = _natural_images(size)
    x = torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()
    spec = CORRUPTIONS.get("glass_blur")
    for severity in range(1, 6):
        c = spec.constants(profile, severity)
        xf = x.float() / 255
        params = spec.sample(xf, c, _gen(severity), profile)
        ours = np.uint8(np.clip(spec.apply(xf, c, params, profile).permute(0, 2, 3, 1).numpy(), 0, 1) * 255 + 1e-3)
        ref = np.stack([np.uint8(np.clip(glass_blur_port(im, c, off.numpy()), 0, 1) * 255)
                        for im, off in zip(nhwc, params["offsets"])])
        diff = np.abs(ours.astype(float) - ref)
        assert diff.mean() < 0.1 and diff.max() <= 2, (severity, diff.mean(), diff.max())


needs_photographs = pytest.mark.skipif(frost_photo_dir() is None,
                                       reason=f"frost photographs not installed ({FROST_INSTALL})")


@needs_photographs
def test_frost_photographs_are_the_references():
    assert frost_origin() == "photographs"
    full, small = frost_textures(1.0), frost_textures(0.2)
    assert [t.shape[:2] for t in full] == list(FROST_SIZES)  # frost5 is 495x660
    assert [t.shape[:2] for t in small] == [(120, 180), (63, 112), (63, 112), (70, 105), (99, 132)]  # 0.2x (cv2)
    assert 120 < np.mean([t.mean() for t in full]) < 200  # bright photographs (the synthetic fallback: ~78)


@pytest.mark.parametrize("profile,size", [("cifar", 32), ("imagenet", 224)])
def test_frost_equals_the_reference_formula_on_the_same_draws(profile, size):
    nhwc = _natural_images(size)
    x = torch.from_numpy(nhwc).permute(0, 3, 1, 2).contiguous()
    spec = CORRUPTIONS.get("frost")
    for severity in (1, 3, 5):
        c = spec.constants(profile, severity)
        xf = x.float() / 255
        params = spec.sample(xf, c, _gen(severity), profile)
        ours = spec.apply(xf, c, params, profile).permute(0, 2, 3, 1).numpy()
        ref = np.stack([frost_port(im, c, profile, int(i), u.numpy())
                        for im, i, u in zip(nhwc, params["index"], params["unit_offset"])])
        np.testing.assert_allclose(ours, ref, atol=1e-6)


@pytest.mark.slow
def test_frost_crops_by_device_gather_equal_the_strided_copies():
    from augmix_lab.corruptions.functional import frost_crops
    from augmix_lab.corruptions.textures import frost_stack

    stack, room = frost_stack(0.2, 32, 32, "cpu")
    g = _gen(4)
    idx = torch.randint(0, 5, (9,), generator=g)
    corner = (torch.rand(9, 2, generator=g, dtype=torch.float64) * room[idx]).long()
    copies = frost_crops(stack, idx, corner, 32, 32, gather=False)
    assert torch.equal(frost_crops(stack, idx, corner, 32, 32, gather=True), copies)
    top, left = corner[3].tolist()
    assert torch.equal(copies[3], stack[idx[3], :, top : top + 32, left : left + 32])


@needs_photographs
def test_frost_at_224_px_perturbs_within_10_percent_of_the_reference_with_the_photographs():
    """Independent draws on both sides: our batched frost vs the reference formula reading the photographs itself
    (cv2.imread). Each image draws one of five photographs of different brightness, so single severities of 48
    images vary by ~6 %; the pooled strength must be within 10 % (the synthetic textures gave 0.43-0.54x)."""
    crops = _natural_crops(224, 48)
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).contiguous()
    rng = np.random.default_rng(0)
    ours, ref = [], []
    for severity in (1, 3, 5):
        ours.append(_distance(corrupt(x, "frost", severity, _gen(severity), "imagenet"), x))
        ref.append(np.mean([np.abs(reference_corrupt(im, "frost", severity, rng, "imagenet").astype(float) - im).mean()
                            for im in crops]))
        assert abs(ours[-1] / ref[-1] - 1) < 0.15, (severity, ours[-1], ref[-1])
    assert abs(sum(ours) / sum(ref) - 1) < 0.10, (ours, ref)


def test_frost_falls_back_to_labelled_synthetic_textures_without_the_package(monkeypatch, capsys):
    import augmix_lab.corruptions.textures as T

    monkeypatch.setattr(T, "frost_photo_dir", lambda: None)
    T.frost_textures.cache_clear()
    try:
        assert T.frost_origin() == "synthetic"
        textures = T.frost_textures(0.2)
        assert "frost photographs are not installed" in capsys.readouterr().err
        assert [t.shape[:2] for t in textures][:2] == [(120, 180), (63, 112)]  # the photographs' sizes, 0.2x
        a = _synthesise_frost(315, 560, 1)
        assert np.array_equal(a, _synthesise_frost(315, 560, 1)) and a.std() > 20  # fixed seeds, textured
    finally:
        T.frost_textures.cache_clear()
        T.frost_stack.cache_clear()


def test_bad_input_is_a_user_error(cifar_batch):
    _, x = cifar_batch
    with pytest.raises(UserError, match="severity 6"):
        corrupt(x, "fog", 6)
    with pytest.raises(UserError, match="unknown corruption 'fgo'.*Did you mean 'fog'"):
        corrupt(x, "fgo", 1)
    with pytest.raises(UserError, match="uint8 tensor"):
        corrupt(x.float(), "fog", 1)
    with pytest.raises(UserError, match="profile 'tiny'"):
        corrupt(x, "fog", 1, profile="tiny")


@pytest.mark.parametrize("name", ALL)
def test_cache_sized_chunks_give_the_whole_batch_result(name, cifar_batch, monkeypatch):
    """On CPU ``corrupt`` applies kernels to slices of the batch (batch-first params): bit-identical to one call."""
    import augmix_lab.corruptions.functional as functional

    _, x = cifar_batch
    whole = corrupt(x, name, 4, _gen(5))
    monkeypatch.setattr(functional, "_CHUNK_ELEMENTS", 3 * 32 * 32 * 3)  # chunks of 3 images: 3 + 1
    assert torch.equal(corrupt(x, name, 4, _gen(5)), whole)


@pytest.mark.parametrize("size, profile", [(32, "cifar"), (64, "imagenet")])
def test_compiled_cpu_kernels_equal_the_torch_kernels(size, profile):
    """corruptions/compiled.py: pixelate bit-identical to the torch (= PIL) path, fog's plasma + blend identical from the
    same draws, impulse noise flipping each value with the severity's probability, half of them to salt, shot noise
    unbiased (Poisson counts / photons have the value as their mean)."""
    from augmix_lab import jit
    from augmix_lab.corruptions import compiled
    from augmix_lab.corruptions.functional import _float_images, _fog_mapsize, _to_uint8, fog, pixelate_pixels
    from augmix_lab.corruptions.functional import severity_constants
    from augmix_lab.corruptions.textures import plasma_draws

    x = torch.from_numpy(_natural_images(size)).permute(0, 3, 1, 2).contiguous()
    n = x.shape[0]
    for severity in range(1, 6):
        c = severity_constants("pixelate", severity, profile)
        assert compiled.supports(x, "pixelate", c)
        small = int(size * c.factor)
        assert torch.equal(compiled.corrupt(x, "pixelate", c, None, profile), pixelate_pixels(x, small, small))
    c = severity_constants("fog", 4, profile)
    mapsize = _fog_mapsize(profile, size, size)
    draws = plasma_draws(n, mapsize, _gen(3))
    flat = torch.cat([d.reshape(n, -1) for d in draws], 1).numpy()
    out = np.empty((n, 3 * size * size), np.uint8)
    jit.launch(compiled._kernels().fog, x.numpy().reshape(n, -1), flat, mapsize, float(c.wibbledecay),
               float(c.strength), out, 3, size, size)
    prescaled = plasma_draws(n, mapsize, _gen(3), wibbledecay=c.wibbledecay)
    ref = _to_uint8(fog(_float_images(x).clone(), c, {"draws": prescaled}, profile))
    assert torch.equal(torch.from_numpy(out).view(x.shape), ref)
    c = severity_constants("impulse_noise", 5, profile)
    y = corrupt(x, "impulse_noise", 5, _gen(4), profile)
    extreme = (y == 0) | (y == 255)
    assert abs(float(extreme.float().mean() - ((x == 0) | (x == 255)).float().mean()) - c.amount) < 0.01
    assert abs(float((y[y != x] == 255).float().mean()) - 0.5) < 0.05
    assert compiled.supports(x, "shot_noise", severity_constants("shot_noise", 1, profile))
    y = corrupt(x, "shot_noise", 1, _gen(5), profile).float()
    assert abs(float(y.mean() - x.float().mean())) < 2 and float((y - x.float()).abs().mean()) > 1

