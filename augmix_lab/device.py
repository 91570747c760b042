"""Devices, defined once below every package that places tensors (augment, corruptions, evaluation, training, the
estimate): resolution (``resolve_device``, ``switch``), constants made once per device (``device_cached``,
``device_constant``), the hardware a device is (``hardware_name``), and a counter of host <-> device transfers
(``count_transfers``: what the GPU proof's "stays on device" column reports).

A top-level module, not part of ``training``: evaluation and the analyses resolve devices too, and must not import
the trainer for it (docs/architecture.md "layering"). A ``torch.tensor(..., device="cuda")`` or
``torch.as_tensor(numpy_array, device="cuda")`` inside a kernel is a synchronous host->device copy on every call;
``device_cached`` builds such a constant once on the host and keeps one copy per device. Cached tensors are shared:
callers must never write into them."""

from __future__ import annotations

import functools
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from augmix_lab.errors import UserError


class DeviceCached(Protocol):
    """What ``device_cached`` returns: the builder's arguments plus ``device=``, and ``cache_clear``."""

    def __call__(self, *args: Any, device: torch.device | str) -> Any: ...

    def cache_clear(self) -> None: ...


def resolve_device(name: str | torch.device | None) -> torch.device:
    """``auto``/None → CUDA when available else CPU; an unavailable CUDA request is a ``UserError``."""
    if isinstance(name, torch.device):
        return name
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"device {name!r} is not a device; allowed: auto, cpu, cuda, cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} requested but CUDA is not available; use --device cpu or auto")
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"device {name!r} is not supported; allowed: auto, cpu, cuda, cuda:N")
    return device


def switch(setting: str, device: torch.device) -> bool:
    """An ``auto|on|off`` setting: ``auto`` is on for CUDA, off on CPU."""
    return setting == "on" or (setting == "auto" and device.type == "cuda")


@functools.cache
def hardware_name(device: str) -> str:
    """The hardware a timing holds for: the GPU's name, or the CPU model (from /proc/cpuinfo where there is one)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type != "cpu":
        return dev.type
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _device_key(device: torch.device | str) -> str:
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:  # "cuda" and "cuda:0" are one device: one copy
        dev = torch.device("cuda", torch.cuda.current_device())
    return str(dev)


def _place(value: Any, device: torch.device) -> Any:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, tuple):
        return tuple(_place(v, device) for v in value)
    return value


def device_cached(builder: Callable[..., Any]) -> DeviceCached:
    """Cache ``builder(*args)`` (tensors or numpy arrays, or tuples of them, built on the host) per device.

    The wrapped function takes the builder's hashable arguments plus ``device=`` and returns the value on that
    device, built once per arguments and moved once per device (numpy arrays become tensors).
    """
    on_host = functools.lru_cache(maxsize=256)(builder)

    @functools.lru_cache(maxsize=1024)
    def placed(args: tuple[Any, ...], device: str) -> Any:
        return _place(on_host(*args), torch.device(device))

    @functools.wraps(builder)
    def get(*args: Any, device: torch.device | str) -> Any:
        return placed(args, _device_key(device))

    def cache_clear() -> None:
        on_host.cache_clear()
        placed.cache_clear()

    get.cache_clear = cache_clear  # type: ignore[attr-defined]  # a function attribute: DeviceCached declares it
    return get  # type: ignore[return-value]  # get plus its cache_clear attribute is a DeviceCached


@device_cached
def _constant(values: tuple[float, ...], dtype: torch.dtype) -> torch.Tensor:
    return torch.tensor(values, dtype=dtype)


def device_constant(
    values: tuple[float, ...] | list[float], device: torch.device | str, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``torch.tensor(values, dtype, device)``, made once per device (shared: never write into it)."""
    return _constant(tuple(float(v) for v in values), dtype, device=device)


# ----------------------------------------------------------------------------------------- transfer counter


@dataclass
class Transfers:
    """Host <-> device traffic counted by ``count_transfers``: copies onto a device, reads back to the host, and
    host-library calls (e.g. cv2) by name."""

    to_device: int = 0
    to_host: int = 0
    calls: dict[str, int] = field(default_factory=dict)

    def note(self) -> str:
        """``stays on device`` or what left it, for a table cell."""
        parts = [f"{k}x{v}" for k, v in sorted(self.calls.items())]
        if self.to_host:
            parts.insert(0, f"reads to host x{self.to_host}")
        if self.to_device:
            parts.insert(0, f"host->device copies x{self.to_device}")
        return "stays on device (0 host->device copies, 0 reads)" if not parts else "; ".join(parts)


def _off_host(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.device.type != "cpu"


@contextmanager
def count_transfers(spy_modules: tuple[Any, ...] = ()) -> Iterator[Transfers]:
    """Count, inside the block, copies of host tensors onto another device (``.to``/``.cuda``/``copy_``, and
    ``torch.tensor``/``torch.as_tensor`` straight onto a device), reads of device tensors back to the host
    (``.cpu()``, ``.item()``, ``.tolist()``, ``int()``, ...) and calls of the ``cv2`` attribute of ``spy_modules``.

    Works on any non-CPU device, including ``meta`` (where a read back fails right after it is counted), so the
    accounting runs on a CPU-only machine too. On CPU tensors nothing is a transfer.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    counts = Transfers()
    quiet = [0]  # > 0 while a counted Python-level read runs (its inner copy is the same transfer)
    aten = torch.ops.aten
    copies = {aten._to_copy.default, aten.copy_.default, aten._copy_from.default, aten._copy_from_and_resize.default}

    class _Mode(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
            kwargs = kwargs or {}
            if quiet[0]:
                pass
            elif func in copies:
                src = args[1] if func is aten.copy_.default else args[0]
                if func is aten._to_copy.default:
                    dst_device = kwargs.get("device") or src.device
                elif func is aten.copy_.default:
                    dst_device = args[0].device
                else:
                    dst_device = args[1].device
                dst = torch.device(dst_device)
                if isinstance(src, torch.Tensor) and src.device.type == "cpu" and dst.type != "cpu":
                    counts.to_device += 1
                elif _off_host(src) and dst.type == "cpu":
                    counts.to_host += 1
            elif func is aten._local_scalar_dense.default and _off_host(args[0]):
                counts.to_host += 1  # .item(), int(t), float(t), bool(t), .tolist() element reads
            return func(*args, **kwargs)

    originals = {name: getattr(torch, name) for name in ("tensor", "as_tensor")}

    def counted(name: str) -> Callable[..., Any]:
        original = originals[name]

        def wrapper(data: Any, *args: Any, **kwargs: Any) -> Any:
            device = kwargs.get("device")
            if device is not None and torch.device(device).type != "cpu" and not isinstance(data, torch.Tensor):
                # built from host data straight on the device, which the dispatcher does not see: the same copy as
                # an explicit .to(device), which it counts
                return original(data, *args, **{k: v for k, v in kwargs.items() if k != "device"}).to(device)
            return original(data, *args, **kwargs)

        return wrapper

    reads = {name: getattr(torch.Tensor, name) for name in ("tolist", "numpy")}

    def counted_read(name: str) -> Callable[..., Any]:
        original = reads[name]

        def wrapper(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            if self.device.type == "cpu":
                return original(self, *args, **kwargs)
            counts.to_host += 1  # C++ copies these to the host itself (on meta it fails before any dispatch)
            quiet[0] += 1
            try:
                return original(self, *args, **kwargs)
            finally:
                quiet[0] -= 1

        return wrapper

    class _Spy:
        def __init__(self, module: Any) -> None:
            self._module = module

        def __getattr__(self, attr: str) -> Any:
            value = getattr(self._module, attr)
            if callable(value):
                counts.calls[f"cv2.{attr}"] = counts.calls.get(f"cv2.{attr}", 0) + 1
            return value

    mode = _Mode()
    spied = [(m, m.cv2) for m in spy_modules if hasattr(m, "cv2")]
    try:
        for name in originals:
            setattr(torch, name, counted(name))
        for name in reads:
            setattr(torch.Tensor, name, counted_read(name))
        for module, cv2_module in spied:
            module.cv2 = _Spy(cv2_module)
        with mode:
            yield counts
    finally:
        for name, original in originals.items():
            setattr(torch, name, original)
        for name, original in reads.items():
            setattr(torch.Tensor, name, original)
        for module, cv2_module in spied:
            module.cv2 = cv2_module
