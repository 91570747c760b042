"""numba for the compiled CPU kernels (``augment/compiled.py``, ``corruptions/compiled.py``): availability, the on-disk
cache of compiled code, and the thread count.

Compilation is paid once per machine: every kernel is ``cache=True`` and its cache lives under the project's cache
folder (``paths.cache_dir() / "numba"``, beside ``plan``'s step costs and the engine store), unless the user set
``NUMBA_CACHE_DIR``, which numba then honours as usual. The directory is set for OUR kernels only (numba picks a
function's cache locator when it is decorated), so other numba code in the process keeps its own settings. A process
that finds the cache loads the machine code (tens of ms) instead of compiling it (seconds): Ray trial workers pay the
load, not the compile; ``warm_up`` lets the driver compile once before it starts them.

Threads: numba's ``workqueue`` layer, unless the user chose one (``NUMBA_THREADING_LAYER``). Its ``omp`` layer shares
libgomp with torch and leaves torch's OpenMP thread count changed (measured: torch.set_num_threads(1), then one
numba launch, and torch ran on 2 spinning threads, 20x slower); workqueue's threads sleep when idle. It is not safe
for concurrent launches from several threads, so launches go through ``launch``'s lock; torch's thread count is
restored after each launch whatever the layer.

numba is optional at run time: without it (e.g. a GPU box that has only the training core) ``available()`` is False
and the CPU falls back to the torch engines.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from typing import Any

from augmix_lab import paths

CACHE_SUBDIR = "numba"
_LOCK = threading.Lock()  # decoration (config.CACHE_DIR) and parallel launches


@functools.cache
def available() -> bool:
    """Whether numba imports (the compiled CPU engines need it)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def kernel_cache_dir() -> str:
    """Where our compiled kernels are cached: ``$NUMBA_CACHE_DIR`` when the user set it, else the project cache."""
    return os.environ.get("NUMBA_CACHE_DIR") or str(paths.cache_dir() / CACHE_SUBDIR)


def kernel(parallel: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, nogil=True, parallel=...)`` whose on-disk cache is ``kernel_cache_dir()``.

    No fastmath: the kernels reproduce PIL's / torch's float rounding operation by operation (an FMA contraction or a
    reassociated sum would move values across truncation boundaries).
    """

    def decorate(fn: Callable[..., Any]) -> Any:
        import numba
        from numba.core import config

        with _LOCK:  # numba reads config.CACHE_DIR when the function is decorated: set it for ours only
            if not os.environ.get("NUMBA_THREADING_LAYER"):
                config.THREADING_LAYER = "workqueue"  # before the first parallel launch (module docstring)
            previous = config.CACHE_DIR
            config.CACHE_DIR = kernel_cache_dir()
            try:
                return numba.njit(cache=True, nogil=True, parallel=parallel)(fn)
            finally:
                config.CACHE_DIR = previous

    return decorate


def launch(fn: Callable[..., Any], *args: Any) -> Any:
    """Run the compiled ``fn(*args)`` on as many threads as torch uses (trials set that), one launch at a time;
    torch's thread count is left as it was."""
    import numba
    import torch

    torch_threads = torch.get_num_threads()
    with _LOCK:
        threads = max(1, min(torch_threads, numba.config.NUMBA_NUM_THREADS))
        if numba.get_num_threads() != threads:
            numba.set_num_threads(threads)
        try:
            return fn(*args)
        finally:
            if torch.get_num_threads() != torch_threads:
                torch.set_num_threads(torch_threads)
