"""A restricted unpickler for the CIFAR python-version batches: plain containers and numpy arrays only.

The official batches are Python-2 pickles of dicts holding lists, strings and one numpy uint8 array, so the
only globals they need are numpy's array reconstructors; anything else (``os.system``, ``builtins.eval``...)
is refused instead of executed.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, BinaryIO

import numpy as np

# (module, name) pairs a numpy array pickle may reference; numpy 2 moved numpy.core to numpy._core
_ALLOWED_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the numpy array globals above."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} from a data pickle")


def safe_load(handle: BinaryIO, *, source: str = "<pickle>") -> Any:
    """Unpickle trusted-format data; ``latin1`` decodes Python-2 strings and numpy buffers as numpy documents."""
    try:
        return RestrictedUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise ValueError(f"{source} is not a valid data pickle: {exc}") from None


def safe_loads(data: bytes, *, source: str = "<pickle>") -> Any:
    return safe_load(io.BytesIO(data), source=source)


def normalize_keys(obj: dict[Any, Any]) -> dict[str, Any]:
    """Dict keys as str whether the pickle stored them as bytes (py3 writers) or str (py2 + latin1)."""
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def as_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def as_uint8_array(value: Any, *, source: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8:
        raise ValueError(f"{source}: 'data' must be a numpy uint8 array, got {type(value).__name__}")
    return value
