"""Severity tables of the -C corruptions and -P perturbations, per profile ("cifar" = 32 px, "imagenet" = 224 px).

Every row cites the reference script it comes from: hendrycks/robustness ``ImageNet-C/create_c/make_cifar_c.py`` (CIFAR)
and ``make_imagenet_c.py`` (ImageNet), ``ImageNet-P/create_p/make_cifar_p.py`` / ``make_imagenet_p.py`` (-P).
"""

from __future__ import annotations

import numpy as np

PROFILES = ("cifar", "imagenet")

# 15 benchmark corruptions in the order of make_cifar_c.py / augmix cifar.py CORRUPTIONS (noise, blur, weather, digital)
BENCHMARK_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness",
    "contrast", "elastic_transform", "pixelate", "jpeg_compression",
)  # fmt: skip
# 4 held-out "validation" corruptions, listed after the 15 in make_cifar_c.py
EXTRA_CORRUPTIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")

FAMILIES: dict[str, str] = {
    **{n: "noise" for n in ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise")},
    **{n: "blur" for n in ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur")},
    **{n: "weather" for n in ("snow", "frost", "fog", "brightness", "spatter")},
    **{n: "digital" for n in ("contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate")},
}


def _float_arange(stop: float, step: float) -> tuple[float, ...]:
    # the reference's np.arange(1, stop, step) in float: 1.06 with step .01 includes 1.06 itself (7 zooms)
    return tuple(float(v) for v in np.arange(1, stop, step))


SEVERITY: dict[str, dict[str, tuple]] = {
    "cifar": {
        "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),  # make_cifar_c.py gaussian_noise
        "shot_noise": (500, 250, 100, 75, 50),  # make_cifar_c.py shot_noise
        "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),  # make_cifar_c.py impulse_noise
        "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),  # make_cifar_c.py speckle_noise
        "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1),  # make_cifar_c.py gaussian_blur
        "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),  # make_cifar_c.py glass_blur
        "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),  # make_cifar_c.py defocus_blur
        "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),  # make_cifar_c.py motion_blur
        "zoom_blur": tuple(_float_arange(s, 0.01) for s in (1.06, 1.11, 1.16, 1.21, 1.26)),  # make_cifar_c.py zoom_blur
        "snow": (  # make_cifar_c.py snow: (loc, scale, zoom, threshold, blur radius, blur sigma, blend)
            (0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
            (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8)),
        "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),  # make_cifar_c.py frost
        "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),  # make_cifar_c.py fog
        "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),  # make_cifar_c.py brightness
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),  # make_cifar_c.py contrast
        "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),  # make_cifar_c.py saturate
        "jpeg_compression": (80, 65, 58, 50, 40),  # make_cifar_c.py jpeg_compression
        "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),  # make_cifar_c.py pixelate
        # make_cifar_c.py elastic_transform, in units of IMSIZE=32 (alpha, sigma, affine)
        "elastic_transform": ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)),
        "spatter": (  # make_cifar_c.py spatter: (loc, scale, sigma, threshold, intensity, mode 0=water 1=mud)
            (0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0), (0.65, 0.3, 1, 0.69, 0.5, 0),
            (0.65, 0.1, 0.7, 0.69, 0.6, 1), (0.65, 0.1, 0.5, 0.68, 0.6, 1)),
    },
    "imagenet": {
        "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),  # make_imagenet_c.py gaussian_noise
        "shot_noise": (60, 25, 12, 5, 3),  # make_imagenet_c.py shot_noise
        "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),  # make_imagenet_c.py impulse_noise
        "speckle_noise": (0.15, 0.2, 0.35, 0.45, 0.6),  # make_imagenet_c.py speckle_noise
        "gaussian_blur": (1, 2, 3, 4, 6),  # make_imagenet_c.py gaussian_blur
        "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),  # make_imagenet_c.py glass_blur
        "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),  # make_imagenet_c.py defocus_blur
        "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),  # make_imagenet_c.py motion_blur
        "zoom_blur": (  # make_imagenet_c.py zoom_blur
            _float_arange(1.11, 0.01), _float_arange(1.16, 0.01), _float_arange(1.21, 0.02),
            _float_arange(1.26, 0.02), _float_arange(1.31, 0.03)),
        "snow": (  # make_imagenet_c.py snow
            (0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
            (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)),
        "frost": ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)),  # make_imagenet_c.py frost
        "fog": ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)),  # make_imagenet_c.py fog
        "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),  # make_imagenet_c.py brightness
        "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),  # make_imagenet_c.py contrast
        "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),  # make_imagenet_c.py saturate
        "jpeg_compression": (25, 18, 15, 10, 7),  # make_imagenet_c.py jpeg_compression
        "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),  # make_imagenet_c.py pixelate
        # make_imagenet_c.py elastic_transform, in units of 244 ("should have been 224") (alpha, sigma, affine)
        "elastic_transform": ((2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02), (0.12, 0.01, 0.02)),
        "spatter": (  # make_imagenet_c.py spatter
            (0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
            (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1)),
    },
}  # fmt: skip

# elastic_transform's unit length at the profile's native size: make_cifar_c.py IMSIZE=32, make_imagenet_c.py 244 at 224 px
ELASTIC_UNIT = {"cifar": (32, 32), "imagenet": (244, 224)}
# fog's plasma fractal side: make_cifar_c.py plasma_fractal(mapsize=32), make_imagenet_c.py mapsize=256 (cropped to 224)
FOG_MAPSIZE = {"cifar": 32, "imagenet": 256}
# the scale frost textures are read at: make_cifar_c.py cv2.resize(fx=0.2, fy=0.2); make_imagenet_c.py full size
FROST_TEXTURE_SCALE = {"cifar": 0.2, "imagenet": 1.0}
WATER_COLOR_BGR = (175 / 255, 238 / 255, 238 / 255)  # make_cifar_c.py spatter: "water is pale turqouise" (BGR order)
MUD_COLOR_RGB = (63 / 255, 42 / 255, 20 / 255)  # make_cifar_c.py spatter: "mud brown"

# ---- -P perturbations -------------------------------------------------------------------------------------------------
# 10 test perturbations ("Test Data" in make_cifar_p.py / make_imagenet_p.py) and 4 validation ones ("Validation Data")
TEST_PERTURBATIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "motion_blur", "zoom_blur", "snow",
    "brightness", "translate", "rotate", "tilt", "scale",
)  # fmt: skip
VALIDATION_PERTURBATIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "shear")
# noise sequences come at 3 difficulties, released as <name>.npy, <name>_2.npy, <name>_3.npy (CIFAR-10-P file list)
NOISE_PERTURBATIONS = ("gaussian_noise", "shot_noise", "speckle_noise")

# frames per video (make_cifar_p.py / make_imagenet_p.py loops; facts sheet section 3)
P_FRAMES: dict[str, dict[str, int]] = {
    "cifar": {
        "gaussian_noise": 31, "shot_noise": 31, "speckle_noise": 31,  # make_cifar_p.py: clean + range(1, 31)
        "motion_blur": 21,  # make_cifar_p.py: range(0, 21)
        "zoom_blur": 31, "snow": 31, "brightness": 31, "rotate": 31, "tilt": 31, "scale": 31,  # range(0, 31)
        "translate": 16,  # make_cifar_p.py: range(0, 16)
        "gaussian_blur": 31, "spatter": 31, "shear": 31,  # make_cifar_p.py validation blocks: range(0, 31)
    },
    "imagenet": {
        **{n: 31 for n in ("gaussian_noise", "shot_noise", "speckle_noise", "motion_blur", "zoom_blur", "snow",
                           "brightness", "rotate", "tilt", "scale", "gaussian_blur", "spatter", "shear")},
        "translate": 41,  # make_imagenet_p.py: range(0, 41)
    },
}  # fmt: skip

P_PARAMS: dict[str, dict[str, object]] = {
    "cifar": {
        "gaussian_noise": (0.02, 0.04, 0.06),  # make_cifar_p.py: sigma per difficulty (_2, _3 files)
        "shot_noise": (700, 400, 200),  # make_cifar_p.py: poisson lambda per difficulty
        "speckle_noise": (0.05, 0.07, 0.10),  # make_cifar_p.py: speckle sigma per difficulty
        "motion_blur": (6, 1.8, 9, 20),  # make_cifar_p.py: radius 6, sigma 1.8, angle (i - 20) * 9
        "zoom_blur": 0.004,  # make_cifar_p.py: running mean of scale 1 + 0.004 i
        "snow": (0.05, 0.3, 2, 0.5, 10, 2, 4, -150, 0.85),  # make_cifar_p.py: loc, scale, zoom, thr, r, sigma, angle 4i-150, blend
        "brightness": 1.5,  # make_cifar_p.py: V shift (i - 15) * 1.5 / 100
        "translate": 7,  # make_cifar_p.py: dx = i - 7 px
        "rotate": 1.0,  # make_cifar_p.py: angle i - 15 degrees
        "tilt": 0.75,  # make_cifar_p.py: 0.75 (i - 15) degrees about both axes
        "scale": (2, 70),  # make_cifar_p.py: scale (2 i + 70) / 100
        "gaussian_blur": (0.3, 0.015),  # make_cifar_p.py: sigma 0.3 + 0.015 i, truncate 7
        "spatter": (0.6, 0.265, 1.75, 0.7, 0.6),  # make_cifar_p.py: loc, scale, sigma, threshold, intensity
        "shear": 1.0,  # make_cifar_p.py: shear i - 15 degrees
    },
    "imagenet": {
        "gaussian_noise": (0.03, 0.05, 0.08),  # make_imagenet_p.py
        "shot_noise": (300, 120, 60),  # make_imagenet_p.py
        "speckle_noise": (0.05, 0.10, 0.15),  # make_imagenet_p.py
        "motion_blur": (10, 3, 4, 30),  # make_imagenet_p.py: radius 10, sigma 3, angle (i - 30) * 4
        "zoom_blur": 0.004,  # make_imagenet_p.py
        "snow": (0.05, 0.3, 2, 0.5, 14, 4, 4, -150, 0.85),  # make_imagenet_p.py: r=14 sigma=4 (rest as CIFAR)
        "brightness": 2.0,  # make_imagenet_p.py: (i - 15) * 2 / 100
        "translate": 20,  # make_imagenet_p.py: dx = i - 20 px
        "rotate": 1.0,  # make_imagenet_p.py
        "tilt": 1.0,  # make_imagenet_p.py: (i - 15) degrees
        "scale": (2.5, 40),  # make_imagenet_p.py: (2.5 i + 40) / 100
        "gaussian_blur": (0.25, 0.035),  # make_imagenet_p.py: sigma 0.25 + 0.035 i
        "spatter": (0.6, 0.265, 1.75, 0.7, 0.6),  # [UNVERIFIED for ImageNet-P] CIFAR values reused
        "shear": 1.0,  # make_imagenet_p.py
    },
}  # fmt: skip
