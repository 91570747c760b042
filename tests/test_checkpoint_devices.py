"""Resuming a checkpoint on another device kind (GPU last.pt on a CPU node, or the reverse) and with fewer GPUs than
wrote it: reseeded generators (documented, warned, reproducible), never a crash in ``Generator.set_state``."""

from __future__ import annotations

import pytest
import torch

from augmix_lab.training.checkpoint import capture_rng_state, restore_rng_state

CUDA_PHILOX_STATE = torch.tensor([7, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0], dtype=torch.uint8)  # seed, offset


def _generators() -> dict[str, torch.Generator]:
    return {name: torch.Generator().manual_seed(i) for i, name in enumerate(("shuffle", "augment", "attack"), 1)}


def _as_if_written_on_cuda(state: dict, name: str, *, with_kinds: bool = True) -> dict:
    state = dict(state, generators=dict(state["generators"]), generator_devices=dict(state["generator_devices"]))
    state["generators"][name] = CUDA_PHILOX_STATE.clone()
    state["generator_devices"][name] = "cuda"
    if not with_kinds:  # checkpoints written before the device kind was stored
        del state["generator_devices"]
    return state


@pytest.mark.parametrize("with_kinds", [True, False])
def test_a_cuda_generator_state_resumes_on_cpu_reseeded_and_reproducible(with_kinds: bool) -> None:
    written = _generators()
    for g in written.values():
        torch.rand(5, generator=g)
    state = _as_if_written_on_cuda(capture_rng_state(written), "augment", with_kinds=with_kinds)
    draws = []
    for _ in range(2):
        resumed = _generators()
        with pytest.warns(RuntimeWarning, match="augment reseeded"):
            assert restore_rng_state(state, resumed) == ["augment"]
        draws.append({name: torch.rand(3, generator=g) for name, g in resumed.items()})
    assert all(torch.equal(draws[0][n], draws[1][n]) for n in draws[0])  # the same checkpoint resumes the same way
    for name in ("shuffle", "attack"):  # same-device generators continue their stream exactly
        assert torch.equal(draws[0][name], torch.rand(3, generator=written[name]))


def test_a_cpu_checkpoint_restores_exactly_without_warning() -> None:
    written = _generators()
    state = capture_rng_state(written)
    assert state["generator_devices"] == {"shuffle": "cpu", "augment": "cpu", "attack": "cpu"}
    resumed = _generators()
    for g in resumed.values():
        torch.rand(2, generator=g)
    assert restore_rng_state(state, resumed) == []
    assert all(torch.equal(torch.rand(3, generator=resumed[n]), torch.rand(3, generator=written[n])) for n in written)


def test_cuda_states_are_restored_only_for_the_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    state = capture_rng_state(_generators())
    state["cuda"] = [CUDA_PHILOX_STATE.clone(), CUDA_PHILOX_STATE.clone()]  # written on a 2-GPU node
    restored: list[int] = []

    def set_all(states: list) -> None:  # torch raises when there are more states than devices
        raise RuntimeError(f"{len(states)} states for 1 device")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", set_all)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device="cuda": restored.append(device))
    restore_rng_state(state, _generators())
    assert restored == [0]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_real_cuda_and_cpu_checkpoints_resume_on_the_other_kind() -> None:
    cuda = {"augment": torch.Generator(device="cuda").manual_seed(3)}
    cpu = {"augment": torch.Generator().manual_seed(3)}
    torch.cuda.init()
    from_cuda, from_cpu = capture_rng_state(cuda), capture_rng_state(cpu)
    assert from_cuda["generator_devices"] == {"augment": "cuda"} and from_cuda["cuda"]
    with pytest.warns(RuntimeWarning, match="reseeded"):
        assert restore_rng_state(from_cuda, {"augment": torch.Generator()}) == ["augment"]
    with pytest.warns(RuntimeWarning, match="reseeded"):
        assert restore_rng_state(from_cpu, {"augment": torch.Generator(device="cuda")}) == ["augment"]
    same = {"augment": torch.Generator(device="cuda")}
    assert restore_rng_state(from_cuda, same) == []
    assert torch.equal(torch.rand(3, generator=same["augment"], device="cuda"),
                       torch.rand(3, generator=cuda["augment"], device="cuda"))
    from_cuda["cuda"] = from_cuda["cuda"] * (torch.cuda.device_count() + 1)  # written on a bigger node
    restore_rng_state(from_cuda, {"augment": torch.Generator(device="cuda")})
