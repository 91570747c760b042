"""The evaluation step for ``eval.fourier``: a Fourier heat map (Yin et al., NeurIPS 2019) of the model on the first
``n_images`` test images, batched on the model's device. It returns tidy rows (benchmark ``fourier``: the low / high
frequency band means, percent, read by the metric registry) and the arrays logged under ``fourier/``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from augmix_lab.analysis.fourier import FourierHeatMap, fourier_heat_map, fourier_summary

BENCHMARK = "fourier"  # tidy-row benchmark of the band means
ARTIFACT_DIR = "fourier"  # run artifact folder of the heat map
ARRAY_NAMES = ("error.npy", "freqs_y.npy", "freqs_x.npy", "meta.npy")  # meta: norm, n_images, clean error, H, W
BANDS = {"low_freq": "low_freq_error", "high_freq": "high_freq_error"}  # tidy corruption name -> fourier_summary key


def heat_map_arrays(hm: FourierHeatMap) -> dict[str, np.ndarray]:
    """``fourier/<name>.npy`` -> array (no pickles: plain float/int arrays)."""
    meta = np.array([hm.norm, hm.n_images, hm.clean_error, hm.height, hm.width], dtype=np.float64)
    return {
        f"{ARTIFACT_DIR}/error.npy": hm.error.astype(np.float64),
        f"{ARTIFACT_DIR}/freqs_y.npy": hm.freqs_y.astype(np.int64),
        f"{ARTIFACT_DIR}/freqs_x.npy": hm.freqs_x.astype(np.int64),
        f"{ARTIFACT_DIR}/meta.npy": meta,
    }


def heat_map_from_arrays(arrays: dict[str, np.ndarray]) -> FourierHeatMap | None:
    """Inverse of ``heat_map_arrays`` (keys without the folder); None when the error grid is missing."""
    if "error.npy" not in arrays:
        return None
    norm, n, clean, h, w = (
        arrays["meta.npy"].tolist() if "meta.npy" in arrays else [math.nan, 0, math.nan, *arrays["error.npy"].shape]
    )
    return FourierHeatMap(
        arrays["error.npy"],
        arrays.get("freqs_y.npy", np.arange(int(h)) - int(h) // 2),
        arrays.get("freqs_x.npy", np.arange(int(w)) - int(w) // 2),
        int(h),
        int(w),
        float(norm),
        int(n),
        float(clean),
    )


def evaluate_fourier(
    scorer: Any,
    dataset: Any,
    fcfg: Any,
    *,
    seed: int,
) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """(tidy-row scores per band, artifact arrays) of the heat map configured by ``fcfg`` (FourierEvalConfig), the
    perturbed [0, 1] images scored by the evaluation's ``Scorer`` (its normalisation, precision and device)."""
    import torch  # here: the report reads stored heat maps through this module without torch

    images = torch.cat(list(scorer.batches(dataset.test_images, stop=fcfg.n_images)))  # lazy: eval view
    labels = torch.as_tensor(np.asarray(dataset.test_labels[: fcfg.n_images]))
    hm = fourier_heat_map(
        scorer.logits,
        images.to(scorer.device),
        labels.to(scorer.device),
        fcfg.norm,
        fcfg.stride,
        batch_size=scorer.batch_size,
        seed=seed,
    )
    summary = fourier_summary(hm)
    rows = [{"corruption": band, "error": 100.0 * summary[key], "n": hm.n_images} for band, key in BANDS.items()]
    return rows, heat_map_arrays(hm)
