"""Kernels stay on their device: after a warm-up call, no host->device copy (constants are cached per device by
``device.device_cached``) and no read back to the host, except the host codecs named below.

Runs on a CPU-only machine through PyTorch's ``meta`` device (shapes without data: a read back fails right after
``count_transfers`` counts it). tests/test_cuda_paths.py repeats the corruption check on a real GPU.
"""

from __future__ import annotations

import pytest
import torch

import augmix_lab.corruptions.filters as filters_module
import augmix_lab.corruptions.functional as cf
from augmix_lab.augment import AugmentAndMix, policies
from augmix_lab.corruptions import corrupt
from augmix_lab.corruptions.functional import severity_constants
from augmix_lab.corruptions.registry import corruption_names
from augmix_lab.device import count_transfers, device_cached, device_constant

# kernels that need a host library by design: one copy of the batch to the host (and one back)
HOST_CODECS = {
    "jpeg_compression": "libjpeg (the reference's codec, byte-identical to PIL)",
    "spatter": "cv2 Canny + distance transform (water severities only)",
}


def _needs_host(name: str, severity: int, profile: str) -> bool:
    if name == "spatter":
        return severity_constants(name, severity, profile).mode == 0  # make_cifar_c.py: mode 0 = water
    return name in HOST_CODECS


def test_device_cached_builds_once_and_copies_once_per_device() -> None:
    built: list[int] = []

    @device_cached
    def table(n: int) -> torch.Tensor:
        built.append(n)
        return torch.arange(n)

    with count_transfers() as first:
        a = table(4, device="meta")
    with count_transfers() as again:
        b, c = table(4, device="meta"), table(4, device="cpu")
    assert (first.to_device, again.to_device, built) == (1, 0, [4])
    assert a is b and a.device.type == "meta" and torch.equal(c, torch.arange(4))
    with count_transfers() as fresh:  # what the kernels did before: a new copy on every call
        torch.tensor([0.5, 0.5], device="meta")
        torch.as_tensor(torch.arange(3).numpy(), device="meta")
        device_constant((1.0, 2.0), "meta")
        device_constant((1.0, 2.0), "meta")
    assert fresh.to_device == 3


@pytest.mark.parametrize(("profile", "size"), [("cifar", 32), ("imagenet", 224)])
def test_every_corruption_stays_on_its_device_after_warm_up(profile: str, size: int) -> None:
    images = torch.zeros(2, 3, size, size, dtype=torch.uint8, device="meta")
    # the registry: a new corruption is checked without a new test (severity 3; spatter's mud branch at 4)
    for name, severity in [(n, 3) for n in corruption_names()] + [("spatter", 4)]:
        host = _needs_host(name, severity, profile)
        for _ in ("warm-up", "counted"):
            with count_transfers((cf, filters_module)) as seen:
                try:
                    out = corrupt(images, name, severity, None, profile)
                except (NotImplementedError, RuntimeError) as exc:  # meta: no data to read back
                    assert host, f"{name} s{severity} {profile}: reads from the device ({exc})"
                    out = None
        where = f"{name} s{severity} {profile}"
        if host:
            assert (seen.to_device, seen.to_host, out) == (0, 1, None), f"{where}: {seen}"
        else:
            assert (seen.to_device, seen.to_host, seen.calls) == (0, 0, {}), f"{where}: {seen.note()}"
            assert out is not None and out.shape == images.shape and out.dtype == torch.uint8


@pytest.mark.parametrize("size", [32, 224])
def test_masked_augmix_reads_nothing_back_and_copies_nothing_after_warm_up(size: int) -> None:
    aug = AugmentAndMix(engine="masked", all_ops=True)
    params = aug.make_params(3, torch.Generator().manual_seed(0)).to("meta")
    images = torch.zeros(3, 3, size, size, dtype=torch.uint8, device="meta")
    aug.apply(images, params)  # warm-up: per-device constants are made here
    with count_transfers() as seen:
        views = aug.apply(images, params)
    assert (seen.to_device, seen.to_host) == (0, 0) and views.shape == images.shape


def test_jpeg_on_threads_is_byte_identical_to_one_thread() -> None:
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(cf.jpeg_cpu(images, 40, workers=3), cf.jpeg_cpu(images, 40, workers=1))


@pytest.mark.parametrize("policy", ["randaugment", "trivialaugment", "autoaugment_star", "random_autoaugment_star"])
def test_policies_run_through_the_engine_choice(policy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    fn = getattr(policies, policy)
    sorted_out = fn(images, torch.Generator().manual_seed(5), engine="sorted")
    reads: list[int] = []
    original = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self, *a: reads.append(1) or original(self, *a))
    masked_out = fn(images, torch.Generator().manual_seed(5), engine="masked")
    assert torch.equal(masked_out, sorted_out)  # same draws, same kernels: bit-identical across engines
    assert reads == []  # masked: no group sizes read to the host


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(("profile", "size"), [("cifar", 32), ("imagenet", 224)])
def test_every_corruption_stays_on_the_gpu_after_warm_up(profile: str, size: int) -> None:
    images = torch.randint(0, 256, (4, 3, size, size), dtype=torch.uint8, device="cuda")
    for name, severity in [(n, 3) for n in corruption_names()] + [("spatter", 4)]:
        g = torch.Generator(device="cuda").manual_seed(0)
        corrupt(images, name, severity, g, profile)  # warm-up: per-device constants
        with count_transfers((cf, filters_module)) as seen:
            out = corrupt(images, name, severity, g, profile)
        assert out.device.type == "cuda" and out.shape == images.shape
        if _needs_host(name, severity, profile):  # one copy of the batch each way
            assert (seen.to_device, seen.to_host) == (1, 1), f"{name} s{severity}: {seen}"
        else:
            assert (seen.to_device, seen.to_host) == (0, 0), f"{name} s{severity} {profile}: {seen.note()}"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_engines_on_the_gpu_agree_and_masked_moves_nothing() -> None:
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, device="cuda")
    gen = torch.Generator(device="cuda").manual_seed(0)
    params = AugmentAndMix().make_params(16, gen)
    chains = {}
    for engine in ("sorted", "masked"):
        aug = AugmentAndMix(engine=engine)
        aug.apply(images, params)
        with count_transfers() as seen:
            chains[engine] = aug.augment_chains(images, params)
        assert seen.to_device == 0 and (seen.to_host == 0) == (engine == "masked"), f"{engine}: {seen}"
    assert (chains["sorted"].int() - chains["masked"].int()).abs().max() <= 1
    for policy in ("randaugment", "trivialaugment", "autoaugment_star", "random_autoaugment_star"):
        fn = getattr(policies, policy)
        fn(images, torch.Generator(device="cuda").manual_seed(1), engine="masked")
        with count_transfers() as seen:
            fn(images, torch.Generator(device="cuda").manual_seed(1), engine="masked")
        assert (seen.to_device, seen.to_host) == (0, 0), f"{policy}: {seen}"
