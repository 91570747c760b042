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
        import torch

        torch_module = torch
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
    stats.update(_nvml_stats(device, nvml, cuda))
    return stats


def _nvml_stats(device: int, nvml: Any = None, cuda: Any = None) -> dict[str, float]:
    """Utilisation and memory in use of ``device`` from NVML; ``{}`` when pynvml is missing, NVML fails or the
    device cannot be identified (never another GPU's figures). A MIG instance reports its own memory; NVML gives no
    utilisation for it, so that figure is left out."""
    if nvml is None:
        try:
            import pynvml
        except ImportError:
            return {}
        nvml = pynvml
    try:
        nvml.nvmlInit()
        handle = _nvml_handle(device, nvml, cuda)
    except Exception:  # noqa: BLE001 - NVML missing from the driver / no permission: memory figures still count
        return {}
    if handle is None:
        return {}
    stats: dict[str, float] = {}
    try:
        stats[GPU_UTILIZATION_PCT] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except Exception:  # noqa: BLE001 - NVML_ERROR_NOT_SUPPORTED on MIG instances
        pass
    try:
        mem = nvml.nvmlDeviceGetMemoryInfo(handle)
        stats[GPU_MEM_USED_PCT] = 100.0 * float(mem.used) / max(1.0, float(mem.total))
    except Exception:  # noqa: BLE001
        pass
    return stats


def _nvml_handle(device: int, nvml: Any, cuda: Any = None) -> Any:
    """NVML's handle of torch's ``device``, looked up by what identifies it whatever ``CUDA_VISIBLE_DEVICES`` holds
    (Ray, Slurm and Kubernetes write integer indices, ``GPU-<uuid>`` or ``MIG-<uuid>`` entries): the device's UUID,
    then its PCI bus id (both from ``torch.cuda.get_device_properties``), then the visible-devices entry itself.
    None when nothing matches: NVML numbers GPUs physically, so guessing an index would report another GPU."""
    props: Any = None
    if cuda is not None and hasattr(cuda, "get_device_properties"):
        try:
            props = cuda.get_device_properties(device)
        except Exception:  # noqa: BLE001
            props = None
    uuid = str(getattr(props, "uuid", "") or "")
    if uuid:
        bare = uuid.split("-", 1)[1] if uuid.startswith(("GPU-", "MIG-")) else uuid
        for candidate in dict.fromkeys((uuid, f"GPU-{bare}", f"MIG-{bare}")):
            handle = _try(nvml.nvmlDeviceGetHandleByUUID, candidate)
            if handle is not None:
                return handle
    if getattr(props, "pci_bus_id", None) is not None:
        domain, bus, dev = int(getattr(props, "pci_domain_id", 0)), int(props.pci_bus_id), int(props.pci_device_id)
        for pci in (f"{domain:08X}:{bus:02X}:{dev:02X}.0", f"{domain:04X}:{bus:02X}:{dev:02X}.0"):
            getter = getattr(nvml, "nvmlDeviceGetHandleByPciBusId_v2", None) or nvml.nvmlDeviceGetHandleByPciBusId
            handle = _try(getter, pci)
            if handle is not None:
                return handle
    import os

    visible = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if not visible:
        return _try(nvml.nvmlDeviceGetHandleByIndex, device)  # nothing remapped: torch's index is NVML's
    if device >= len(visible):
        return None
    entry = visible[device]
    if entry.isdigit():
        return _try(nvml.nvmlDeviceGetHandleByIndex, int(entry))
    if entry.startswith(("GPU-", "MIG-")):
        handle = _try(nvml.nvmlDeviceGetHandleByUUID, entry)
        if handle is None and entry.startswith("GPU-"):  # CUDA accepts a unique UUID prefix; NVML wants it whole
            matches = [
                h
                for h in (_try(nvml.nvmlDeviceGetHandleByIndex, i) for i in range(nvml.nvmlDeviceGetCount()))
                if h is not None and str(_try(nvml.nvmlDeviceGetUUID, h)).startswith(entry)
            ]
            handle = matches[0] if len(matches) == 1 else None
        return handle
    return None


def _try(getter: Any, key: Any) -> Any:
    try:
        return getter(key)
    except Exception:  # noqa: BLE001 - NVML raises NVMLError_NotFound / InvalidArgument for a miss
        return None
