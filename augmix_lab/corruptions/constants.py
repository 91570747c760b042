"""Profile-wide constants of the -C / -P kernels ("cifar" = 32 px, "imagenet" = 224 px).

Per-corruption severity records and per-perturbation parameters live on their kernels' decorators
(``augmix_lab.corruptions.registry``); the old table names below are derived from those registries.
Sources: hendrycks/robustness ``ImageNet-C/create_c/make_cifar_c.py`` / ``make_imagenet_c.py`` and
``ImageNet-P/create_p/make_cifar_p.py`` / ``make_imagenet_p.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PROFILES = ("cifar", "imagenet")


def float_arange(stop: float, step: float) -> tuple[float, ...]:
    # the reference's np.arange(1, stop, step) in float: 1.06 with step .01 includes 1.06 itself (7 zooms)
    return tuple(float(v) for v in np.arange(1, stop, step))


# elastic_transform's unit length at the profile's native size: make_cifar_c.py IMSIZE=32, make_imagenet_c.py 244 at 224 px
ELASTIC_UNIT = {"cifar": (32, 32), "imagenet": (244, 224)}
# fog's plasma fractal side: make_cifar_c.py plasma_fractal(mapsize=32), make_imagenet_c.py mapsize=256 (cropped to 224)
FOG_MAPSIZE = {"cifar": 32, "imagenet": 256}
# the scale frost textures are read at: make_cifar_c.py cv2.resize(fx=0.2, fy=0.2); make_imagenet_c.py full size
FROST_TEXTURE_SCALE = {"cifar": 0.2, "imagenet": 1.0}
WATER_COLOR_BGR = (175 / 255, 238 / 255, 238 / 255)  # make_cifar_c.py spatter: "water is pale turqouise" (BGR order)
MUD_COLOR_RGB = (63 / 255, 42 / 255, 20 / 255)  # make_cifar_c.py spatter: "mud brown"


# ---- names derived from the registries (augmix_lab.corruptions.registry); kept for callers of the old tables -------
def __getattr__(name: str):
    from augmix_lab.corruptions import registry as R

    derived: dict[str, Callable[[], object]] = {
        "BENCHMARK_CORRUPTIONS": lambda: R.corruption_names(benchmark=True),
        "EXTRA_CORRUPTIONS": lambda: R.corruption_names(benchmark=False),
        "FAMILIES": R.families,
        "SEVERITY": lambda: {p: R.severity_table(p) for p in PROFILES},
        "TEST_PERTURBATIONS": lambda: R.perturbation_names("test"),
        "VALIDATION_PERTURBATIONS": lambda: R.perturbation_names("validation"),
        "NOISE_PERTURBATIONS": lambda: tuple(n for n in R.perturbation_names() if R.PERTURBATIONS.get(n).noise),
        "P_FRAMES": lambda: {
            p: {n: R.PERTURBATIONS.get(n).frames[p] for n in R.perturbation_names()} for p in PROFILES
        },
        "P_PARAMS": lambda: {
            p: {n: R.PERTURBATIONS.get(n).params[p] for n in R.perturbation_names()} for p in PROFILES
        },
    }
    if name in derived:
        return derived[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
