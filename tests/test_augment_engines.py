"""The AugMix op engines (augment/ops.py): the sync-free masked engine equals the sorted one bit for bit; the compiled
CPU engine (augment/compiled.py) equals PIL on every op and the sorted engine per its table (exact, or one level)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from augmix_lab import jit
from augmix_lab.augment import ALL_OPS, AugmentAndMix, compiled, policies
from augmix_lab.augment import ops as ops_module
from augmix_lab.augment.augmix import augmix_arguments
from augmix_lab.augment.ops import OPS, apply_op_chains, apply_ops_masked, resolve_engine
from augmix_lab.augment.reference import pil_op
from augmix_lab.errors import UserError


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.randint(0, 256, (24, 3, 32, 32), dtype=torch.uint8, generator=g)


@pytest.mark.parametrize(("width", "depth", "all_ops"), [(1, 1, False), (3, -1, False), (2, 3, True), (4, -1, True)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masked_and_sorted_engines_give_identical_views_and_chains(images: torch.Tensor, width: int, depth: int,
                                                                   all_ops: bool, seed: int) -> None:
    results = []
    for engine in ("sorted", "masked"):
        aug = AugmentAndMix(width=width, depth=depth, all_ops=all_ops, engine=engine)
        params = aug.make_params(images.shape[0], torch.Generator().manual_seed(seed))
        results.append((aug.apply(images, params), aug.augment_chains(images, params)))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


@pytest.mark.parametrize("arity", [2, 3])
def test_jsd_views_are_identical_across_engines(images: torch.Tensor, arity: int) -> None:
    engines = ("sorted", "masked")
    views = [AugmentAndMix(engine=e).views(images, arity, torch.Generator().manual_seed(7)) for e in engines]
    assert all(torch.equal(a, b) for a, b in zip(*views))


def test_every_single_op_and_no_op_agree_row_by_row(images: torch.Tensor) -> None:
    ops = [OPS[name] for name in ALL_OPS]
    g = torch.Generator().manual_seed(11)
    op_ids = torch.randint(-1, len(ops), (images.shape[0],), generator=g)
    arguments = torch.rand(images.shape[0], generator=g, dtype=torch.float64) * 4 + 1  # valid for every op
    chained = apply_op_chains(images, op_ids.view(-1, 1), arguments.view(-1, 1), ops)
    assert torch.equal(apply_ops_masked(images, op_ids, arguments, ops), chained)
    assert torch.equal(apply_ops_masked(images, op_ids, arguments, ops)[op_ids == -1], images[op_ids == -1])


def test_engine_resolution_by_device_and_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    # CPU: the compiled engine wherever it runs the ops. Nothing measured (the test's private cache): elsewhere auto
    # is the work-bounded sorted engine
    assert resolve_engine("auto", cpu, 32, ALL_OPS) == "compiled"
    assert resolve_engine("auto", cuda, 224, ALL_OPS) == "sorted"
    assert resolve_engine("compiled", cuda, 224, ALL_OPS) == "sorted"  # numba kernels are CPU code: auto's torch choice
    assert resolve_engine("masked", cpu) == "masked" and resolve_engine("sorted", cuda) == "sorted"
    assert resolve_engine("auto", cpu, 32, ("rotate", "not_compiled")) == "sorted"  # an op without a compiled kernel
    assert resolve_engine("auto", cpu, 32, ALL_OPS, "nearest") == "sorted"  # only bilinear resampling is compiled
    monkeypatch.setattr(ops_module, "ENGINE", "masked")
    assert resolve_engine(None, cpu) == "masked"
    with pytest.raises(UserError, match="engine"):
        AugmentAndMix(engine="fast")
    monkeypatch.setattr(jit, "available", lambda: False)  # numba missing (a GPU box with the training core only)
    assert resolve_engine("auto", cpu, 32, ALL_OPS) == "sorted"
    assert resolve_engine("compiled", cpu, 32, ALL_OPS) == "sorted"


@pytest.fixture
def engine_store(tmp_path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN001, ANN201
    """A private, empty measurement store for one test (the session's cache folder stays unmeasured)."""
    monkeypatch.setenv("AUGMIX_LAB_CACHE", str(tmp_path))
    ops_module.measured_engines.cache_clear()
    yield tmp_path
    ops_module.measured_engines.cache_clear()


def test_auto_follows_the_winner_stored_for_this_hardware_and_nearest_size(engine_store, monkeypatch) -> None:  # noqa: ANN001
    cpu = torch.device("cpu")
    has_numba = jit.available()
    monkeypatch.setattr(jit, "available", lambda: False)  # without numba, CPU's auto follows the store like any device
    assert ops_module.measured_engines(ops_module.engine_hardware(cpu)) == {}
    assert ops_module.store_engine_winner(cpu, 32, {"sorted": 2.0, "masked": 1.0}) == "masked"
    assert resolve_engine("auto", cpu, 32) == "masked" and resolve_engine("auto", cpu, 224) == "masked"
    assert ops_module.store_engine_winner(cpu, 224, {"sorted": 1.0, "masked": 9.0}) == "sorted"
    assert [resolve_engine("auto", cpu, s) for s in (16, 32, 64, 128, 224, 512)] == ["masked"] * 3 + ["sorted"] * 3
    assert resolve_engine("sorted", cpu, 32) == "sorted"  # an explicit choice is never overridden
    # another machine's measurement does not apply here, and a corrupted store counts as unmeasured
    other = json.loads(ops_module.engine_store_path().read_text())
    assert list(other) == [ops_module.engine_hardware(cpu)]
    ops_module.engine_store_path().write_text("{not json")
    ops_module.measured_engines.cache_clear()
    assert resolve_engine("auto", cpu, 32) == ops_module.UNMEASURED_ENGINE == "sorted"
    ops_module.store_engine_winner(cpu, 32, {"sorted": 2.0, "masked": 1.0})
    assert resolve_engine("compiled", cpu, 32, ALL_OPS) == "masked"  # compiled unavailable: auto's torch choice
    monkeypatch.setattr(jit, "available", lambda: has_numba)
    # with numba, CPU's auto is the compiled engine whatever the torch engines' store says (bilinear AugMix ops)
    assert resolve_engine("auto", cpu, 32, ALL_OPS) == ("compiled" if has_numba else "masked")
    assert resolve_engine("auto", cpu, 32, ALL_OPS, "nearest") == "masked"  # not compiled: the stored winner


# AugMix and every policy: (call, whether it runs the compiled engine on CPU: bilinear AugMix ops; the torchvision
# policies resample with nearest, which only the torch engines have)
CALLERS = {
    "augmix": (lambda x, g: AugmentAndMix(width=2, depth=2)(x, g), True),
    "random_autoaugment_star": (policies.random_autoaugment_star, True),
    "randaugment": (policies.randaugment, False),
    "trivialaugment": (policies.trivialaugment, False),
    "autoaugment_star": (policies.autoaugment_star, False),
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("numba", [True, False], ids=["numba", "no-numba"])
def test_every_caller_runs_the_engine_auto_resolves(caller: str, numba: bool, engine_store,  # noqa: ANN001
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """One resolution for AugMix and the policies: with a stored "masked" winner for this CPU, auto runs the compiled
    engine where it can and otherwise the stored winner, never the sorted engine."""
    if numba and not jit.available():
        pytest.skip("numba is not installed")
    monkeypatch.setattr(jit, "available", lambda: numba)
    ops_module.store_engine_winner(torch.device("cpu"), 32, {"sorted": 2.0, "masked": 1.0})
    ran: list[str] = []

    def spy(name: str, target, attr: str) -> None:  # noqa: ANN001
        real = getattr(target, attr)
        monkeypatch.setattr(target, attr, lambda *a, **k: ran.append(name) or real(*a, **k))

    spy("sorted", ops_module, "apply_op_chains")
    spy("masked", ops_module, "apply_ops_masked")
    spy("compiled", compiled, "apply_op_chains")
    spy("compiled", compiled, "augment_and_mix")
    call, compiles = CALLERS[caller]
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    call(images, torch.Generator().manual_seed(0))
    assert ran and set(ran) == {"compiled" if numba and compiles else "masked"}
