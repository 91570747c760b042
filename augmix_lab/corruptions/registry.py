"""One registry per benchmark kind: every -C corruption and -P perturbation is one kernel under one decorator.

``@corruption(name, family=..., benchmark=..., order=..., cifar=(5 records), imagenet=(5 records), sample=...)`` on
a kernel ``apply(x, c, params, profile)`` registers it with its family, its per-profile severity constants (one small
NamedTuple record per severity, fields named after the reference script's variables) and whether it is one of the 15
benchmark corruptions; ``@perturbation(...)`` does the same for -P sequences. The name lists the rest of the package
uses (``BENCHMARK_CORRUPTIONS``, ``FAMILIES``, ``SEVERITY``, ...) are derived from these registries, nowhere typed twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from augmix_lab.corruptions.constants import PROFILES
from augmix_lab.errors import UserError
from augmix_lab.registry import Registry

FAMILY_NAMES = ("noise", "blur", "weather", "digital")  # Hendrycks & Dietterich 2019, Fig. 1
SEVERITIES = (1, 2, 3, 4, 5)  # -C benchmarks have severities 1..5 (Hendrycks & Dietterich 2019)
DIFFICULTIES = (1, 2, 3)  # -P noise sequences: <name>.npy, <name>_2.npy, <name>_3.npy (CIFAR-10-P file list)

Params = dict[str, Any]


def no_params(x: Any, c: Any, g: Any, profile: str) -> Params:
    """Sampler of deterministic corruptions: no random draws."""
    return {}


@dataclass(frozen=True)
class CorruptionSpec:
    """One registered corruption: family, benchmark membership, severity records per profile, sampler and kernel."""

    name: str
    family: str
    benchmark: bool  # one of the 15 benchmark corruptions (else one of the held-out extras)
    order: int  # position in make_cifar_c.py's list: orders BENCHMARK_CORRUPTIONS / EXTRA_CORRUPTIONS
    severity: Mapping[str, tuple]  # profile -> 5 records (severity 1..5)
    sample: Callable[..., Params]
    apply: Callable[..., Any]
    monotone: bool = True  # distance to the clean image grows with severity (in the reference too)

    @property
    def deterministic(self) -> bool:
        return self.sample is no_params

    def constants(self, profile: str, severity: int) -> Any:
        """The record of ``severity`` (1..5) for ``profile``; UserError names what is allowed."""
        check_profile(profile)
        check_severity(severity, f" for {self.name!r}")
        return self.severity[profile][severity - 1]


@dataclass(frozen=True)
class PerturbationSpec:
    """One registered -P perturbation: frames and parameters per profile and the frame generator."""

    name: str
    split: str  # "test" (the 10 of mFR) or "validation" (make_cifar_p.py "Validation Data")
    order: int  # position in make_cifar_p.py: orders TEST_PERTURBATIONS / VALIDATION_PERTURBATIONS
    frames: Mapping[str, int]  # profile -> frames per video
    params: Mapping[str, Any]  # profile -> parameter record
    frames_fn: Callable[..., list]  # (images, x, p, n_frames, generator, profile, difficulty) -> list of frames
    noise: bool = False  # noise sequences: 3 difficulties and flip probability against the clean frame
    implemented: bool = True  # False: the released files exist but we cannot generate it (spatter)


CORRUPTIONS: Registry[CorruptionSpec] = Registry("corruption")
PERTURBATIONS: Registry[PerturbationSpec] = Registry("perturbation")


def corruption(name: str, *, family: str, benchmark: bool, order: int, cifar: tuple, imagenet: tuple,
               sample: Callable[..., Params] = no_params, monotone: bool = True) -> Callable:
    """Decorator on a kernel ``apply(x, c, params, profile)``: registers the corruption ``name`` once."""
    if family not in FAMILY_NAMES:
        raise ValueError(f"corruption {name!r}: family {family!r} not one of {FAMILY_NAMES}")
    for profile, records in (("cifar", cifar), ("imagenet", imagenet)):
        if len(records) != len(SEVERITIES):
            raise ValueError(f"corruption {name!r}: {profile} needs {len(SEVERITIES)} severity records")

    def decorator(apply: Callable) -> Callable:
        spec = CorruptionSpec(name, family, benchmark, order, {"cifar": tuple(cifar), "imagenet": tuple(imagenet)},
                              sample, apply, monotone)
        CORRUPTIONS.add(name, spec)
        return apply

    return decorator


def perturbation(name: str, *, split: str, order: int, frames: Mapping[str, int], params: Mapping[str, Any],
                 noise: bool = False, implemented: bool = True) -> Callable:
    """Decorator on a frame generator: registers the -P perturbation ``name`` once."""

    def decorator(fn: Callable) -> Callable:
        PERTURBATIONS.add(name, PerturbationSpec(name, split, order, dict(frames), dict(params), fn, noise, implemented))
        return fn

    return decorator


def _load() -> None:
    # the kernels register on import; name lists need them all
    import augmix_lab.corruptions.functional  # noqa: F401
    import augmix_lab.corruptions.perturbations  # noqa: F401


# ---- derived name lists ----------------------------------------------------------------------------------------------
def corruption_names(benchmark: bool | None = None) -> tuple[str, ...]:
    """Registered corruptions in make_cifar_c.py order; ``benchmark`` True = the 15, False = the extras, None = all."""
    _load()
    specs = sorted((CORRUPTIONS.get(n) for n in CORRUPTIONS), key=lambda s: (not s.benchmark, s.order, s.name))
    return tuple(s.name for s in specs if benchmark is None or s.benchmark == benchmark)


def perturbation_names(split: str | None = None, implemented_only: bool = False) -> tuple[str, ...]:
    """Registered perturbations in make_cifar_p.py order (test first), optionally one split / only generable ones."""
    _load()
    specs = sorted((PERTURBATIONS.get(n) for n in PERTURBATIONS),
                   key=lambda s: (s.split != "test", s.order, s.name))
    return tuple(s.name for s in specs if (split is None or s.split == split) and (s.implemented or not implemented_only))


def families() -> dict[str, str]:
    return {n: CORRUPTIONS.get(n).family for n in corruption_names()}


def severity_table(profile: str) -> dict[str, tuple]:
    return {n: CORRUPTIONS.get(n).severity[profile] for n in corruption_names()}


# ---- checks every entry point shares ---------------------------------------------------------------------------------
def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise UserError(f"profile {profile!r}: allowed are {', '.join(PROFILES)}")


def check_severity(severity: Any, context: str = "") -> None:
    if not isinstance(severity, int) or severity not in SEVERITIES:
        raise UserError(f"severity {severity!r}{context}: allowed are the integers 1..5")


def check_corruption_names(names: Any, where: str = "corruptions") -> tuple[str, ...]:
    """``names`` (None = the 15 benchmark corruptions) checked against the registry; UserError lists what is allowed."""
    if names is None:
        return corruption_names(benchmark=True)
    allowed = corruption_names()
    for n in names:
        if n not in allowed:
            raise UserError(f"{where}: {CORRUPTIONS.unknown_message(n)}")
    return tuple(names)


def check_perturbation_names(names: Any, where: str = "perturbations") -> tuple[str, ...]:
    """``names`` (None = the 10 test perturbations) checked against the generable registered perturbations."""
    if names is None:
        return perturbation_names("test", implemented_only=True)
    allowed = perturbation_names(implemented_only=True)
    for n in names:
        if n not in allowed:
            if n in PERTURBATIONS:
                raise UserError(f"{where}: unsupported perturbation {n!r} (registered for the released files, but it "
                                f"has no kernel to generate or evaluate it); allowed: {', '.join(allowed)}")
            hint = PERTURBATIONS.unknown_message(n).split(" Allowed:")[0]
            raise UserError(f"{where}: {hint} Allowed: {', '.join(allowed)}.")
    return tuple(names)


__all__ = [
    "CORRUPTIONS", "CorruptionSpec", "DIFFICULTIES", "FAMILY_NAMES", "PERTURBATIONS", "PROFILES", "PerturbationSpec",
    "SEVERITIES", "check_corruption_names", "check_perturbation_names", "check_profile", "check_severity",
    "corruption", "corruption_names", "families", "no_params", "perturbation", "perturbation_names", "severity_table",
]  # fmt: skip
