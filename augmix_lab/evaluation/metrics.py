"""Robustness and calibration metrics as pure functions (numpy in, float out); errors in percent, Brier/NLL raw.

Sources: AugMix paper (Hendrycks et al., ICLR 2020) Sec. 4 "Metrics" and Appendix E; Hendrycks & Dietterich (ICLR 2019)
for ImageNet-C/-P; hendrycks/robustness ImageNet-P/test.py and cifar-p-eval.py for flip probability and top-5 distance;
calibration_tools.calib_err for the RMS calibration error; Guo et al. (2017) for ECE.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from augmix_lab.errors import UserError

# AlexNet ImageNet-C top-1 error averaged over severities 1-5, by name (augmix imagenet.py ALEXNET_ERR, 15-corruption order)
ALEXNET_ERR: dict[str, float] = {
    "gaussian_noise": 0.886428, "shot_noise": 0.894468, "impulse_noise": 0.922640,
    "defocus_blur": 0.819880, "glass_blur": 0.826268, "motion_blur": 0.785948, "zoom_blur": 0.798360,
    "snow": 0.866816, "frost": 0.826572, "fog": 0.819324, "brightness": 0.564592,
    "contrast": 0.853204, "elastic_transform": 0.646056, "pixelate": 0.717840, "jpeg_compression": 0.606500,
}  # fmt: skip
# AlexNet clean ImageNet top-1 error: 43.45% as given in the project brief [UNVERIFIED against Hendrycks & Dietterich 2019;
# google/uncertainty-baselines' ImageNet-C report uses 0.4348]. Pass ``baseline_clean`` to use another value.
ALEXNET_CLEAN_ERR = 0.4345


def _np(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def error_rate(predictions, labels) -> float:
    """Top-1 error in percent: 100 * mean(pred != label). ``predictions`` are class indices or (N, K) scores."""
    p, y = _np(predictions), _np(labels)
    if p.ndim == 2:
        p = p.argmax(1)
    if p.shape != y.shape or y.size == 0:
        raise ValueError(f"error_rate: need equal, non-empty shapes, got {p.shape} and {y.shape}")
    return float(100.0 * np.mean(p != y))


def mean_corruption_error(errors: Mapping[tuple[str, int], float]) -> float:
    """CIFAR-10-C/-100-C "mCE": plain mean of E_{c,s} (percent) over corruptions x severities, no normalisation.

    AugMix paper Sec. 4: uCE_c averaged over severities, then over the 15 corruptions; with equal severities per
    corruption this is the mean over all (c, s) cells (augmix cifar.py test_c: 100 - 100 * mean accuracy).
    """
    if not errors:
        raise ValueError("mean_corruption_error: no errors given")
    return float(np.mean(list(errors.values())))


def _check_complete(values: Mapping[str, float], baseline: Mapping[str, object], what: str) -> None:
    missing = [c for c in baseline if c not in values]
    if missing:
        raise UserError(f"{what}: needs all of {', '.join(baseline)}; missing {', '.join(missing)}")


def corruption_errors_imagenet(
    errors: Mapping[str, float], baseline: Mapping[str, float] = ALEXNET_ERR
) -> dict[str, float]:
    """ImageNet CE_c = 100 * (mean_s E_{s,c}) / (mean_s E^AlexNet_{s,c}) per corruption, aligned BY NAME.

    ``errors``: corruption -> mean error over severities in percent; ``baseline``: corruption -> fraction (0-1).
    AugMix paper Sec. 4 (CE_c = sum_s E_{c,s} / sum_s E^AlexNet_{c,s}; the sums over 5 severities equal the means).
    """
    _check_complete(errors, baseline, "ImageNet CE")
    return {c: float(errors[c] / (100.0 * baseline[c]) * 100.0) for c in baseline}


def mce(errors: Mapping[str, float], baseline: Mapping[str, float] = ALEXNET_ERR) -> float:
    """mCE (percent): mean of the AlexNet-normalised CE_c over the corruptions of ``baseline`` (augmix imagenet.py compute_mce)."""
    return float(np.mean(list(corruption_errors_imagenet(errors, baseline).values())))


def relative_mce(
    errors: Mapping[str, float],
    clean_error: float,
    baseline: Mapping[str, float] = ALEXNET_ERR,
    baseline_clean: float = ALEXNET_CLEAN_ERR,
) -> float:
    """Relative mCE (percent), Hendrycks & Dietterich 2019 Sec. 3:

    relCE_c = sum_s (E_{s,c} - E_clean) / sum_s (E^AlexNet_{s,c} - E^AlexNet_clean)
            = (mean_s E_{s,c} - E_clean) / (ALEXNET_ERR[c] - AlexNet clean error), averaged over corruptions.
    ``errors`` and ``clean_error`` in percent; ``baseline``/``baseline_clean`` as fractions.
    """
    _check_complete(errors, baseline, "relative mCE")
    rel = [(errors[c] - clean_error) / (100.0 * (baseline[c] - baseline_clean)) * 100.0 for c in baseline]
    return float(np.mean(rel))


# ---- -P: flip probability and top-5 distance --------------------------------------------------------------------------
def _pairs(n_frames: int, noise: bool, difficulty: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame index pairs compared by ImageNet-P/test.py: noise -> (0, j) for j >= 1; else (i, i + d) chains of stride d."""
    if noise:
        return np.zeros(n_frames - 1, dtype=int), np.arange(1, n_frames)
    step = max(1, int(difficulty))
    first = np.arange(0, n_frames - step)
    return first, first + step


def flip_probability(predictions, noise: bool, difficulty: int = 1) -> float:
    """Flip probability in percent over videos (N, T) of predicted classes (or (N, T, K) scores).

    Noise sequences compare every frame j >= 1 with the clean frame 0; other perturbations compare consecutive
    frames (stride ``difficulty``; 1 is what AugMix and everyone use). FP = mean over videos of the per-video mean
    of 1[f(x_a) != f(x_b)] (hendrycks/robustness ImageNet-P/test.py flip_prob, identical in cifar-p-eval.py).
    """
    p = _np(predictions)
    if p.ndim == 3:
        p = p.argmax(-1)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"flip_probability: need (videos, frames >= 2) predictions, got shape {p.shape}")
    a, b = _pairs(p.shape[1], noise, difficulty)
    return float(100.0 * np.mean(p[:, a] != p[:, b]))


def top5_distance(logits, noise: bool, difficulty: int = 1) -> float:
    """Mean top-5 distance (T5D) over videos (N, T, K) of class scores (ImageNet-P/test.py ranking_dist, mode 'top5').

    For compared frames (a, b): sigma = ranks_b[argsort(ranks_a)] (frame b's 1-based ranks of frame a's classes in
    frame a's order); d = sum_{k=0..4} |cum[k] - cum[sigma_k - 1]| with cum = cumsum([0, 1, 1, 1, 1, 1, 0, ...]),
    i.e. cum[r] = min(r, 5). Ranks use 'ordinal' tie-breaking (scipy rankdata(-logits, 'ordinal')).
    """
    s = _np(logits).astype(np.float64)
    if s.ndim != 3 or s.shape[1] < 2:
        raise ValueError(f"top5_distance: need (videos, frames >= 2, classes) scores, got shape {s.shape}")
    n_classes = s.shape[2]
    order = np.argsort(-s, axis=-1, kind="stable")  # classes by rank, ties by index as rankdata 'ordinal'
    ranks = np.argsort(order, axis=-1) + 1  # 1-based rank of each class
    cum = np.minimum(np.arange(n_classes), 5)
    a, b = _pairs(s.shape[1], noise, difficulty)
    top = order[:, a, :5]  # frame a's top-5 classes in its rank order (= argsort(ranks_a)[:5])
    sigma = np.take_along_axis(ranks[:, b, :], top, axis=-1)
    k = np.arange(top.shape[-1])
    d = np.abs(cum[k] - cum[sigma - 1]).sum(-1)
    return float(np.mean(d))


def mean_over(values: Mapping[str, float], names: tuple[str, ...] | None = None) -> float:
    """Plain mean of ``values`` (over ``names`` when given): mFP from per-perturbation FPs, mean T5D, ..."""
    keys = list(names) if names is not None else list(values)
    _check_complete(values, dict.fromkeys(keys), "mean")
    return float(np.mean([values[k] for k in keys]))


def flip_rates(flip_probs: Mapping[str, float], baseline: Mapping[str, float]) -> dict[str, float]:
    """FR_p = 100 * FP_p(f) / FP_p(AlexNet) per perturbation (Hendrycks & Dietterich 2019), aligned by name.

    The AlexNet flip probabilities are NOT in any reference code (facts sheet Sec. 4; the authors point to a
    spreadsheet), so ``baseline`` (perturbation -> AlexNet FP, same units as ``flip_probs``) must be supplied.
    """
    if not baseline:
        raise UserError("mFR needs AlexNet flip probabilities per perturbation (none are bundled; supply them)")
    _check_complete(flip_probs, baseline, "mFR")
    return {p: float(100.0 * flip_probs[p] / baseline[p]) for p in baseline}


def mfr(flip_probs: Mapping[str, float], baseline: Mapping[str, float]) -> float:
    """mFR (percent): mean of ``flip_rates`` over the baseline's perturbations."""
    return float(np.mean(list(flip_rates(flip_probs, baseline).values())))


def mt5d(t5ds: Mapping[str, float], baseline: Mapping[str, float]) -> float:
    """mT5D (percent): mean over perturbations of 100 * T5D_p(f) / T5D_p(AlexNet); AlexNet values must be supplied."""
    if not baseline:
        raise UserError("mT5D needs AlexNet top-5 distances per perturbation (none are bundled; supply them)")
    _check_complete(t5ds, baseline, "mT5D")
    return float(np.mean([100.0 * t5ds[p] / baseline[p] for p in baseline]))


# ---- calibration -----------------------------------------------------------------------------------------------------
def softmax(logits) -> np.ndarray:
    z = _np(logits).astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def rms_calibration_error(confidence, correct, bin_size: int = 100, reference_quirk: bool = False) -> float:
    """RMS calibration error in percent with adaptive bins of ``bin_size`` predictions (AugMix paper Appendix E, eq. 3):

    sqrt( sum_b |B_b|/n * (acc(B_b) - conf(B_b))^2 ), bins = consecutive runs of the confidence-sorted predictions
    (stable sort), the last bin absorbing the remainder; fewer than ``bin_size`` predictions form one bin.
    ``reference_quirk=True`` mimics calibration_tools.calib_err, whose loop skips the last (most confident) bin.
    """
    conf, corr = _np(confidence).astype(np.float64), _np(correct).astype(np.float64)
    n = conf.size
    if n == 0 or conf.shape != corr.shape:
        raise ValueError(f"rms_calibration_error: need equal, non-empty shapes, got {conf.shape} and {corr.shape}")
    idx = np.argsort(conf, kind="stable")
    conf, corr = conf[idx], corr[idx]
    n_bins = max(1, n // bin_size)
    edges = [i * bin_size for i in range(n_bins)] + [n]
    used = n_bins - 1 if reference_quirk else n_bins
    total = 0.0
    for i in range(used):
        lo, hi = edges[i], edges[i + 1]
        total += (hi - lo) / n * (corr[lo:hi].mean() - conf[lo:hi].mean()) ** 2
    return float(100.0 * np.sqrt(total))


def expected_calibration_error(confidence, correct, n_bins: int = 15) -> float:
    """ECE in percent with ``n_bins`` equal-width bins (lo, hi] on [0, 1] (Guo et al. 2017): sum_b |B_b|/n |acc - conf|."""
    conf, corr = _np(confidence).astype(np.float64), _np(correct).astype(np.float64)
    if conf.size == 0:
        raise ValueError("expected_calibration_error: no predictions")
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)  # (lo, hi]; confidence 0 joins the first bin
    total = 0.0
    for b in np.unique(bins):
        m = bins == b
        total += m.mean() * abs(corr[m].mean() - conf[m].mean())
    return float(100.0 * total)


def brier_score(probs, labels) -> float:
    """Multi-class Brier score, mean_n sum_k (p_nk - 1[y_n = k])^2 (raw, 0..2); AugMix paper Appendix E cites it."""
    p, y = _np(probs).astype(np.float64), _np(labels).astype(int)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def negative_log_likelihood(logits, labels) -> float:
    """Mean negative log-likelihood -log softmax(logits)_y (raw, nats)."""
    z = _np(logits).astype(np.float64)
    y = _np(labels).astype(int)
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-np.mean(logp[np.arange(len(y)), y]))


def classification_scores(
    logits, labels, *, calibration: bool = True, rms_reference_quirk: bool = False
) -> dict[str, float]:
    """error, rms_calib_error, ece (percent), nll, brier for one set of logits: one row of the evaluation table."""
    z, y = _np(logits), _np(labels)
    out = {"error": error_rate(z, y), "n": int(len(y))}
    if calibration:
        p = softmax(z)
        conf = p.max(1)
        correct = p.argmax(1) == y
        out.update(
            rms_calib_error=rms_calibration_error(conf, correct, reference_quirk=rms_reference_quirk),
            ece=expected_calibration_error(conf, correct),
            nll=negative_log_likelihood(z, y),
            brier=brier_score(p, y),
        )
    return out
