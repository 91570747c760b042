"""Per-trial GPU figures, read once per epoch and logged with the epoch's metrics (step = epoch).

``gpu_epoch_stats()`` is the one place that reads them: peak memory allocated/reserved since the last call from
``torch.cuda`` (then reset, so each epoch has its own peak), and utilisation / device memory in use from NVML through
``pynvml`` when it is importable. It returns ``{}`` when the process has not used CUDA (CPU trials, CPU-only machines),
so callers need no device check. MLflow's own system-metrics sampler (issue 16) complements it; these figures are
per process, which is what a trial packed on a shared GPU (``gpus_per_trial`` < 1) needs.
"""

from __future__ import annotations

from typing import Any

from augmix_lab.evaluation.registry import (
    GPU_MEM_PEAK_ALLOCATED_MB,
    GPU_MEM_PEAK_RESERVED_MB,
    GPU_MEM_USED_PCT,
    GPU_UTILIZATION_PCT,
    metric_names,
)

GPU_METRICS = metric_names("history", group="gpu")  # registered in evaluation/registry.py
_MB = 1024.0 * 1024.0


def gpu_epoch_stats(torch_module: Any = None, nvml: Any = None) -> dict[str, float]:
    """This process's GPU figures for the epoch that just ended (``GPU_METRICS``); ``{}`` without CUDA in use.

    ``torch_module`` / ``nvml`` default to ``torch`` and ``pynvml`` (tests pass fakes).
    """
    if torch_module is None:
        import torch as torch_module
    cuda = torch_module.cuda
    # is_initialized: only a process that put something on the GPU has figures (a CPU trial on a GPU node has none)
    if not (cuda.is_available() and cuda.is_initialized()):
        return {}
    device = cuda.current_device()
    stats = {
        GPU_MEM_PEAK_ALLOCATED_MB: cuda.max_memory_allocated(device) / _MB,  # tensors this trial held at its peak
        GPU_MEM_PEAK_RESERVED_MB: cuda.max_memory_reserved(device) / _MB,  # what the caching allocator took
    }
    cuda.reset_peak_memory_stats(device)
    stats.update(_nvml_stats(device, nvml))
    return stats


def _nvml_stats(device: int, nvml: Any = None) -> dict[str, float]:
    """Utilisation and memory in use of ``device`` from NVML; ``{}`` when pynvml is missing or NVML fails."""
    if nvml is None:
        try:
            import pynvml as nvml
        except ImportError:
            return {}
    try:
        nvml.nvmlInit()
        handle = nvml.nvmlDeviceGetHandleByIndex(_physical_index(device))
        util = nvml.nvmlDeviceGetUtilizationRates(handle)
        mem = nvml.nvmlDeviceGetMemoryInfo(handle)
        return {GPU_UTILIZATION_PCT: float(util.gpu), GPU_MEM_USED_PCT: 100.0 * float(mem.used) / max(1.0, float(mem.total))}
    except Exception:  # noqa: BLE001 - NVML missing from the driver / no permission: memory figures still count
        return {}


def _physical_index(device: int) -> int:
    """NVML numbers GPUs physically; Ray sets CUDA_VISIBLE_DEVICES, so torch's device 0 may be physical GPU 3."""
    import os

    visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if device < len(visible) and visible[device].isdigit():
        return int(visible[device])
    return device
