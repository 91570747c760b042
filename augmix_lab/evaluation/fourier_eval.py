"""The evaluation step for ``eval.fourier``: a Fourier heat map (Yin et al., NeurIPS 2019) of the model on the first
``n_images`` test images, batched on the model's device. It returns tidy rows (benchmark ``fourier``: the low / high
frequency band means, percent, read by the metric registry) and the arrays logged under ``fourier/``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from augmix_lab.analysis.fourier import FourierHeatMap, fourier_heat_map, fourier_summary
from augmix_lab.data.batching import image_batches
from augmix_lab.device import device_constant

BENCHMARK = "fourier"  # tidy-row benchmark of the band means
ARTIFACT_DIR = "fourier"  # run artifact folder of the heat map
ARRAY_NAMES = ("error.npy", "freqs_y.npy", "freqs_x.npy", "meta.npy")  # meta: norm, n_images, clean error, H, W
BANDS = {"low_freq": "low_freq_error", "high_freq": "high_freq_error"}  # tidy corruption name -> fourier_summary key


def model_fn_for(model: torch.nn.Module, mean, std, device: torch.device,
                 autocast_dtype: torch.dtype | None = None):
    """[0, 1] float images -> logits, normalised as evaluation normalises uint8 images (augment.normalize), in the
    trial's AMP dtype (None: float32)."""
    m = device_constant(tuple(mean), device).view(1, -1, 1, 1)
    s = device_constant(tuple(std), device).view(1, -1, 1, 1)

    def fn(x: torch.Tensor) -> torch.Tensor:
        x = ((x - m) / s).contiguous(memory_format=torch.channels_last)
        enabled = autocast_dtype is not None
        with torch.inference_mode(), torch.autocast(device.type, dtype=autocast_dtype, enabled=enabled):
            return model(x).float()

    return fn


def heat_map_arrays(hm: FourierHeatMap) -> dict[str, np.ndarray]:
    """``fourier/<name>.npy`` -> array (no pickles: plain float/int arrays)."""
    meta = np.array([hm.norm, hm.n_images, hm.clean_error, hm.height, hm.width], dtype=np.float64)
    return {f"{ARTIFACT_DIR}/error.npy": hm.error.astype(np.float64),
            f"{ARTIFACT_DIR}/freqs_y.npy": hm.freqs_y.astype(np.int64),
            f"{ARTIFACT_DIR}/freqs_x.npy": hm.freqs_x.astype(np.int64),
            f"{ARTIFACT_DIR}/meta.npy": meta}


def heat_map_from_arrays(arrays: dict[str, np.ndarray]) -> FourierHeatMap | None:
    """Inverse of ``heat_map_arrays`` (keys without the folder); None when the error grid is missing."""
    if "error.npy" not in arrays:
        return None
    norm, n, clean, h, w = (arrays["meta.npy"].tolist() if "meta.npy" in arrays else
                            [math.nan, 0, math.nan, *arrays["error.npy"].shape])
    return FourierHeatMap(arrays["error.npy"], arrays.get("freqs_y.npy", np.arange(int(h)) - int(h) // 2),
                          arrays.get("freqs_x.npy", np.arange(int(w)) - int(w) // 2), int(h), int(w), float(norm),
                          int(n), float(clean))


def evaluate_fourier(model: torch.nn.Module, dataset: Any, fcfg: Any, device: torch.device, *, batch_size: int,
                     seed: int, autocast_dtype: torch.dtype | None = None) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """(tidy-row scores per band, artifact arrays) of the heat map configured by ``fcfg`` (FourierEvalConfig)."""
    images = torch.cat(list(image_batches(dataset.test_images, batch_size, stop=fcfg.n_images)))  # lazy: eval view
    labels = torch.as_tensor(np.asarray(dataset.test_labels[: fcfg.n_images]))
    fn = model_fn_for(model, dataset.mean, dataset.std, device, autocast_dtype)
    hm = fourier_heat_map(fn, images.to(device), labels.to(device), fcfg.norm, fcfg.stride, batch_size=batch_size,
                          seed=seed)
    summary = fourier_summary(hm)
    rows = [{"corruption": band, "error": 100.0 * summary[key], "n": hm.n_images} for band, key in BANDS.items()]
    return rows, heat_map_arrays(hm)
