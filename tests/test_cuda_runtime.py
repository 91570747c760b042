"""On a real GPU (skipped elsewhere; run by ``benchmarks/gpu_proof.py``'s tests section): a real CUDA OOM is recognised
and its memory is back after ``run_releasing_oom``; NVML's figures come from the trial's own device.

Imports only the training/evaluation core: the GPU machine has no MLflow or Ray (``tracking/gpu.py`` is loaded from
its file, since the ``tracking`` package opens MLflow).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from augmix_lab.orchestration.trainable import is_cuda_oom, run_releasing_oom

ROOT = Path(__file__).resolve().parents[1]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@needs_cuda
def test_a_real_cuda_oom_is_recognised_and_its_memory_released() -> None:
    torch.cuda.empty_cache()
    before = torch.cuda.memory_reserved()

    def trial() -> None:
        held = torch.empty(2**30, dtype=torch.uint8, device="cuda")  # 1 GiB the failing frame holds
        assert held.numel()
        torch.empty(2**50, dtype=torch.uint8, device="cuda")  # 1 PiB: out of memory

    result, oom = run_releasing_oom(trial)
    assert result is None and oom is not None and "out of memory" in oom.lower()
    assert torch.cuda.memory_reserved() <= before, "the failed trial's blocks were not handed back"
    try:
        torch.empty(2**50, dtype=torch.uint8, device="cuda")
    except Exception as exc:  # noqa: BLE001
        assert is_cuda_oom(exc)


@pytest.mark.gpu
@needs_cuda
def test_nvml_figures_are_read_from_this_processs_gpu() -> None:
    pynvml = pytest.importorskip("pynvml")
    spec = importlib.util.spec_from_file_location("gpu_stats", ROOT / "augmix_lab" / "tracking" / "gpu.py")
    gpu = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu)  # type: ignore[union-attr]
    torch.ones(1, device="cuda")
    pynvml.nvmlInit()
    handle = gpu._nvml_handle(torch.cuda.current_device(), pynvml, torch.cuda)
    assert handle is not None
    uuid = pynvml.nvmlDeviceGetUUID(handle)
    uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
    assert str(torch.cuda.get_device_properties(torch.cuda.current_device()).uuid) in uuid  # the same device
    stats = gpu.gpu_epoch_stats()
    assert set(stats) >= {"gpu_mem_peak_allocated_mb", "gpu_mem_used_pct"}
