"""Metric functions against small hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from augmix_lab.errors import UserError
from augmix_lab.evaluation import metrics as M


def test_error_rate_from_labels_and_scores():
    assert M.error_rate([0, 1, 2, 2], [0, 1, 1, 0]) == 50.0
    assert M.error_rate(np.array([[2.0, 1.0], [0.0, 3.0]]), [0, 0]) == 50.0
    assert M.error_rate([1, 1], [1, 1]) == 0.0 and M.error_rate([0, 0], [1, 1]) == 100.0


def test_mean_corruption_error_is_plain_mean_over_cells():
    errors = {("fog", 1): 10.0, ("fog", 2): 20.0, ("snow", 1): 30.0, ("snow", 2): 60.0}
    assert M.mean_corruption_error(errors) == 30.0


def test_mce_normalises_by_alexnet_by_name_not_position():
    errors = {name: 100 * value for name, value in M.ALEXNET_ERR.items()}  # AlexNet itself -> 100 everywhere
    assert M.mce(errors) == pytest.approx(100.0)
    shuffled = dict(reversed(list({**errors, "fog": 40.9662}.items())))  # order must not matter
    ce = M.corruption_errors_imagenet(shuffled)
    assert ce["fog"] == pytest.approx(50.0, rel=1e-4)  # 40.9662 / 81.9324
    assert M.mce(shuffled) == pytest.approx((14 * 100 + 50) / 15, rel=1e-5)


def test_mce_names_missing_corruptions():
    with pytest.raises(UserError, match="missing.*jpeg_compression"):
        M.mce({n: 50.0 for n in list(M.ALEXNET_ERR)[:-1]})


def test_relative_mce_formula():
    errors = {n: 100 * v for n, v in M.ALEXNET_ERR.items()}
    assert M.relative_mce(errors, 100 * M.ALEXNET_CLEAN_ERR) == pytest.approx(100.0)
    # clean error equal to the corrupted error -> zero degradation
    assert M.relative_mce({n: 30.0 for n in M.ALEXNET_ERR}, 30.0) == pytest.approx(0.0)
    c = "brightness"
    one = {n: 100 * v for n, v in M.ALEXNET_ERR.items()}
    one[c] = 100 * M.ALEXNET_CLEAN_ERR + 0.5 * 100 * (M.ALEXNET_ERR[c] - M.ALEXNET_CLEAN_ERR)
    assert M.relative_mce(one, 100 * M.ALEXNET_CLEAN_ERR) == pytest.approx((14 * 100 + 50) / 15)


def test_flip_probability_noise_vs_consecutive():
    preds = np.array([[0, 1, 1, 1], [2, 2, 2, 2]])
    # noise: frames 1..3 vs frame 0 -> video 1 flips 3/3, video 2 0/3 -> 50%
    assert M.flip_probability(preds, noise=True) == pytest.approx(50.0)
    # consecutive: video 1 flips once in 3 pairs -> 1/6 over both videos
    assert M.flip_probability(preds, noise=False) == pytest.approx(100 / 6)
    alt = np.array([[0, 1, 0, 1]])
    assert M.flip_probability(alt, noise=True) == pytest.approx(200 / 3)  # frames 1 and 3 differ from 0
    assert M.flip_probability(alt, noise=False) == pytest.approx(100.0)
    assert M.flip_probability(alt, noise=False, difficulty=2) == pytest.approx(0.0)


def test_top5_distance_hand_cases():
    same = np.tile(np.arange(8.0)[None, None], (1, 3, 1))
    assert M.top5_distance(same, noise=False) == 0.0
    swapped = same.copy()
    swapped[0, 1, [7, 6]] = swapped[0, 1, [6, 7]]  # top-1 and top-2 swap in frame 1
    # frame0 -> frame1: sigma = (2, 1, 3, 4, 5): |0-1| + |1-0| = 2; frame1 -> frame2 also 2; mean 2
    assert M.top5_distance(swapped, noise=False) == pytest.approx(2.0)
    # noise: compare to frame 0 only: 2 (frame 1) and 0 (frame 2)
    assert M.top5_distance(swapped, noise=True) == pytest.approx(1.0)
    out = same.copy()
    out[0, 1, 7] = -1.0  # the top class falls to the last rank: cum[7] = 5 capped
    # sigma = (8, 1, 2, 3, 4): |0 - 5| + |1-0| + |2-1| + |3-2| + |4-3| = 9
    assert M.top5_distance(out[:, :2], noise=True) == pytest.approx(9.0)


def test_mfr_and_mt5d_require_supplied_baselines():
    fps = {"rotate": 2.0, "scale": 4.0}
    assert M.mfr(fps, {"rotate": 4.0, "scale": 4.0}) == pytest.approx(75.0)
    assert M.mt5d({"rotate": 1.0}, {"rotate": 2.0}) == pytest.approx(50.0)
    with pytest.raises(UserError, match="AlexNet"):
        M.mfr(fps, {})


def test_rms_calibration_error_bins_of_100_and_small_sets():
    conf = np.full(50, 0.8)
    correct = np.r_[np.ones(30), np.zeros(20)]  # one bin (< 100): |0.6 - 0.8| = 0.2
    assert M.rms_calibration_error(conf, correct) == pytest.approx(20.0)
    # 250 predictions -> 2 bins: [0,100) and [100, 250) (last absorbs the remainder)
    conf = np.r_[np.full(100, 0.5), np.full(150, 0.9)]
    correct = np.r_[np.ones(50), np.zeros(50), np.ones(150)]
    expected = math.sqrt(100 / 250 * 0.0**2 + 150 / 250 * 0.1**2)
    assert M.rms_calibration_error(conf, correct) == pytest.approx(100 * expected)
    # the reference quirk skips the last bin
    assert M.rms_calibration_error(conf, correct, reference_quirk=True) == pytest.approx(0.0)
    assert M.rms_calibration_error(np.ones(10), np.ones(10)) == 0.0  # all correct, fully confident
    assert M.rms_calibration_error(np.ones(10), np.zeros(10)) == pytest.approx(100.0)  # all wrong


def test_rms_calibration_ties_use_a_stable_order():
    conf = np.full(200, 0.7)
    correct = np.r_[np.ones(100), np.zeros(100)]  # tied confidences straddle the bin boundary
    # stable sort keeps input order: bins are acc 1.0 and 0.0 -> sqrt(.5*.09 + .5*.49)
    assert M.rms_calibration_error(conf, correct) == pytest.approx(100 * math.sqrt(0.5 * 0.09 + 0.5 * 0.49))


def test_ece_equal_width_bins():
    conf = np.array([0.05, 0.95, 0.95, 1.0])
    correct = np.array([0, 1, 0, 1])
    # bins: (0, 1/15]: conf .05 acc 0 -> .05 * 1/4 ; (14/15, 1]: conf mean .9667 acc 2/3 -> .3 * 3/4
    expected = 0.25 * 0.05 + 0.75 * abs(2 / 3 - (0.95 + 0.95 + 1.0) / 3)
    assert M.expected_calibration_error(conf, correct) == pytest.approx(100 * expected)


def test_brier_and_nll():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert M.brier_score(probs, [0, 1]) == pytest.approx((0 + 0.5) / 2)
    logits = np.log(np.array([[0.25, 0.75], [0.5, 0.5]]))
    assert M.negative_log_likelihood(logits, [1, 0]) == pytest.approx(-(math.log(0.75) + math.log(0.5)) / 2)
    scores = M.classification_scores(np.array([[5.0, 0.0], [0.0, 5.0]]), np.array([0, 1]))
    assert scores["error"] == 0.0 and scores["n"] == 2 and scores["brier"] < 1e-3
