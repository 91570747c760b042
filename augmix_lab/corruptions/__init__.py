"""-C / -P robustness benchmarks: batched corruption generators, released-benchmark loaders and downloads.

Importing the package registers the benchmark downloads in the data catalog; the torch kernels load on first use.
"""

from __future__ import annotations

from typing import Any

from augmix_lab.corruptions.catalog import register_downloads
from augmix_lab.corruptions.registry import corruption, perturbation

# derived from the registries on first use (constants.__getattr__), so importing the package stays light
_DERIVED = ("BENCHMARK_CORRUPTIONS", "EXTRA_CORRUPTIONS", "NOISE_PERTURBATIONS", "TEST_PERTURBATIONS",
            "VALIDATION_PERTURBATIONS")  # fmt: skip

_LAZY = {
    "corrupt": "augmix_lab.corruptions.functional",
    "CORRUPTIONS": "augmix_lab.corruptions.functional",  # the registry, filled by importing the kernels
    "PERTURBATIONS": "augmix_lab.corruptions.perturbations",
    "resolve_c_source": "augmix_lab.corruptions.sources",
    "fallback_warnings": "augmix_lab.corruptions.sources",
    "warn_source_fallbacks": "augmix_lab.corruptions.sources",
    "perturb_sequence": "augmix_lab.corruptions.perturbations",
    "make_c": "augmix_lab.corruptions.generate",
    "make_p": "augmix_lab.corruptions.generate",
    "verify": "augmix_lab.corruptions.released",
}


def __getattr__(name: str) -> Any:
    if name in _DERIVED:
        from augmix_lab.corruptions import constants

        return getattr(constants, name)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'augmix_lab.corruptions' has no attribute {name!r}")


register_downloads()

__all__ = [
    "BENCHMARK_CORRUPTIONS", "CORRUPTIONS", "EXTRA_CORRUPTIONS", "NOISE_PERTURBATIONS", "PERTURBATIONS",
    "TEST_PERTURBATIONS", "VALIDATION_PERTURBATIONS", "corrupt", "corruption", "fallback_warnings", "perturbation",
    "resolve_c_source", "warn_source_fallbacks", "make_c", "make_p", "perturb_sequence", "verify",
]  # fmt: skip
