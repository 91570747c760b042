"""One registry per benchmark kind: every -C corruption and -P perturbation is one kernel under one decorator.

``@corruption(name, family=..., benchmark=..., order=..., cifar=(5 records), imagenet=(5 records), sample=...)`` on
a kernel ``apply(x, c, params, profile)`` registers it with its family, its per-profile severity constants (one small
NamedTuple record per severity, fields named after the reference script's variables) and whether it is one of the 15
benchmark corruptions; ``@perturbation(...)`` does the same for -P sequences. The name lists the rest of the package
uses (``BENCHMARK_CORRUPTIONS``, ``FAMILIES``, ``SEVERITY``, ...) are derived from these registries, nowhere typed twice.

A corruption belongs to one suite: ``"c"`` (CIFAR-10-C / ImageNet-C, Hendrycks & Dietterich 2019) or ``"c_bar"``
(CIFAR-10-C-bar / ImageNet-C-bar, Mintun, Kirillov & Xie 2021). A C-bar corruption has severity records only for the
profiles whose benchmark contains it (``lines`` is in CIFAR-10-C-bar only, ``perlin_noise`` in ImageNet-C-bar only).
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
# suite -> the ``benchmark`` value of its rows in the tidy scorecard table (and the released-folder kind)
SUITES = {"c": "C", "c_bar": "C-bar"}
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
    suite: str = "c"  # "c" (-C) or "c_bar" (-C-bar); see SUITES

    @property
    def deterministic(self) -> bool:
        return self.sample is no_params

    def constants(self, profile: str, severity: int) -> Any:
        """The record of ``severity`` (1..5) for ``profile``; UserError names what is allowed."""
        check_profile(profile)
        check_severity(severity, f" for {self.name!r}")
        if profile not in self.severity:
            raise UserError(
                f"corruption {self.name!r} has no {profile} severities (it is not part of that profile's "
                f"{SUITES[self.suite]} benchmark); allowed profiles: {', '.join(self.severity)}"
            )
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


def corruption(
    name: str,
    *,
    family: str,
    benchmark: bool,
    order: int,
    cifar: tuple | None,
    imagenet: tuple | None,
    sample: Callable[..., Params] = no_params,
    monotone: bool = True,
    suite: str = "c",
) -> Callable:
    """Decorator on a kernel ``apply(x, c, params, profile)``: registers the corruption ``name`` once.

    ``suite="c_bar"`` registers a C-bar corruption; its ``cifar`` / ``imagenet`` records may be None for a profile
    whose C-bar benchmark does not contain it (-C corruptions need both)."""
    if family not in FAMILY_NAMES:
        raise ValueError(f"corruption {name!r}: family {family!r} not one of {FAMILY_NAMES}")
    if suite not in SUITES:
        raise ValueError(f"corruption {name!r}: suite {suite!r} not one of {tuple(SUITES)}")
    severity = {p: tuple(r) for p, r in (("cifar", cifar), ("imagenet", imagenet)) if r is not None}
    if not severity or (suite == "c" and len(severity) != len(PROFILES)):
        raise ValueError(
            f"corruption {name!r}: needs severity records for {'both profiles' if suite == 'c' else 'a profile'}"
        )
    for profile, records in severity.items():
        if len(records) != len(SEVERITIES):
            raise ValueError(f"corruption {name!r}: {profile} needs {len(SEVERITIES)} severity records")

    def decorator(apply: Callable) -> Callable:
        spec = CorruptionSpec(name, family, benchmark, order, severity, sample, apply, monotone, suite)
        CORRUPTIONS.add(name, spec)
        return apply

    return decorator


def perturbation(
    name: str,
    *,
    split: str,
    order: int,
    frames: Mapping[str, int],
    params: Mapping[str, Any],
    noise: bool = False,
    implemented: bool = True,
) -> Callable:
    """Decorator on a frame generator: registers the -P perturbation ``name`` once."""

    def decorator(fn: Callable) -> Callable:
        PERTURBATIONS.add(
            name, PerturbationSpec(name, split, order, dict(frames), dict(params), fn, noise, implemented)
        )
        return fn

    return decorator


def _load() -> None:
    # the kernels register on import; name lists need them all
    import augmix_lab.corruptions.functional  # noqa: F401  (imports the C-bar kernels too)
    import augmix_lab.corruptions.perturbations  # noqa: F401


# ---- derived name lists ----------------------------------------------------------------------------------------------
def corruption_names(benchmark: bool | None = None, suite: str = "c", profile: str | None = None) -> tuple[str, ...]:
    """Registered corruptions of ``suite`` in their benchmark's order (-C: make_cifar_c.py's); ``benchmark`` True =
    the benchmark's (the 15 of -C), False = the extras, None = all; ``profile``: only those with its severities."""
    _load()
    specs = sorted((CORRUPTIONS.get(n) for n in CORRUPTIONS), key=lambda s: (not s.benchmark, s.order, s.name))
    return tuple(
        s.name
        for s in specs
        if s.suite == suite
        and (benchmark is None or s.benchmark == benchmark)
        and (profile is None or profile in s.severity)
    )


def perturbation_names(split: str | None = None, implemented_only: bool = False) -> tuple[str, ...]:
    """Registered perturbations in make_cifar_p.py order (test first), optionally one split / only generable ones."""
    _load()
    specs = sorted((PERTURBATIONS.get(n) for n in PERTURBATIONS), key=lambda s: (s.split != "test", s.order, s.name))
    return tuple(
        s.name for s in specs if (split is None or s.split == split) and (s.implemented or not implemented_only)
    )


def families(suite: str = "c") -> dict[str, str]:
    return {n: CORRUPTIONS.get(n).family for n in corruption_names(suite=suite)}


def severity_table(profile: str, suite: str = "c") -> dict[str, tuple]:
    return {n: CORRUPTIONS.get(n).severity[profile] for n in corruption_names(suite=suite, profile=profile)}


# ---- checks every entry point shares ---------------------------------------------------------------------------------
def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise UserError(f"profile {profile!r}: allowed are {', '.join(PROFILES)}")


def check_severity(severity: Any, context: str = "") -> None:
    if not isinstance(severity, int) or severity not in SEVERITIES:
        raise UserError(f"severity {severity!r}{context}: allowed are the integers 1..5")


def check_corruption_names(
    names: Any, where: str = "corruptions", suite: str = "c", profile: str | None = None
) -> tuple[str, ...]:
    """``names`` (None = the suite's benchmark corruptions: the 15 of -C, the profile's 10 of C-bar) checked against
    the registry; UserError lists what is allowed."""
    if names is None:
        return corruption_names(benchmark=True, suite=suite, profile=profile)
    allowed = corruption_names(suite=suite, profile=profile)
    for n in names:
        if n not in allowed:
            if n in CORRUPTIONS:
                raise UserError(
                    f"{where}: corruption {n!r} is not one of the {SUITES[suite]} corruptions"
                    f"{' of the ' + profile + ' profile' if profile else ''}; allowed: {', '.join(allowed)}"
                )
            hint = CORRUPTIONS.unknown_message(n).split(" Allowed:")[0]
            raise UserError(f"{where}: {hint} Allowed: {', '.join(allowed)}.")
    return tuple(names)


def check_perturbation_names(names: Any, where: str = "perturbations") -> tuple[str, ...]:
    """``names`` (None = the 10 test perturbations) checked against the generable registered perturbations."""
    if names is None:
        return perturbation_names("test", implemented_only=True)
    allowed = perturbation_names(implemented_only=True)
    for n in names:
        if n not in allowed:
            if n in PERTURBATIONS:
                raise UserError(
                    f"{where}: unsupported perturbation {n!r} (registered for the released files, but it "
                    f"has no kernel to generate or evaluate it); allowed: {', '.join(allowed)}"
                )
            hint = PERTURBATIONS.unknown_message(n).split(" Allowed:")[0]
            raise UserError(f"{where}: {hint} Allowed: {', '.join(allowed)}.")
    return tuple(names)


__all__ = [
    "CORRUPTIONS", "CorruptionSpec", "DIFFICULTIES", "FAMILY_NAMES", "PERTURBATIONS", "PROFILES", "PerturbationSpec",
    "SEVERITIES", "SUITES", "check_corruption_names", "check_perturbation_names", "check_profile", "check_severity",
    "corruption", "corruption_names", "families", "no_params", "perturbation", "perturbation_names", "severity_table",
]  # fmt: skip
