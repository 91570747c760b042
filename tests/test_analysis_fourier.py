"""Fourier heat maps (Yin et al., 2019): basis norm/frequency via torch.fft, grid centring, per-channel signs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from augmix_lab.analysis import fourier_basis, fourier_heat_map, fourier_summary
from augmix_lab.analysis.fourier import fourier_grid_problem
from augmix_lab.errors import UserError


@pytest.mark.parametrize(("h", "w", "u", "v"), [(8, 8, 0, 0), (8, 8, 1, 2), (8, 8, -3, 1), (8, 8, -4, 0),
                                                (8, 8, -4, -4), (7, 5, 3, -2), (6, 9, 2, 4)])
@pytest.mark.parametrize("norm", [1.0, 4.0])
def test_basis_has_the_requested_norm_and_frequency(h, w, u, v, norm):
    b = fourier_basis(h, w, u, v, norm, dtype=torch.float64)
    assert b.shape == (h, w) and not b.is_complex()
    assert float(b.norm()) == pytest.approx(norm)
    mag = torch.fft.fft2(b).abs()
    support = {(int(i), int(j)) for i, j in torch.nonzero(mag > 1e-9 * norm)}
    assert support == {(u % h, v % w), ((-u) % h, (-v) % w)}


def test_basis_refuses_frequencies_off_the_grid():
    with pytest.raises(UserError, match="allowed: u in"):
        fourier_basis(8, 8, 4, 0)


def _high_pass_model(h: int, cut: int):
    """Wrong (class 1) iff the input has energy at a frequency with max(|u|, |v|) >= cut."""
    k = torch.fft.fftfreq(h, 1 / h).abs()
    mask = (torch.maximum(k[:, None], k[None, :]) >= cut).float()

    def model_fn(x):
        energy = (torch.fft.fft2(x - 0.5).abs() * mask).sum((1, 2, 3))
        return torch.stack([torch.zeros_like(energy), energy - 1e-3], 1)

    return model_fn


@pytest.mark.parametrize(("stride", "freqs"), [(1, list(range(-4, 4))), (2, [-4, -2, 0, 2]), (3, [-3, 0, 3])])
def test_heat_map_shape_centre_and_values(stride, freqs):
    images = torch.full((5, 3, 8, 8), 0.5)
    labels = torch.zeros(5, dtype=torch.long)
    hm = fourier_heat_map(_high_pass_model(8, 3), images, labels, norm=0.3, stride=stride, batch_size=16)
    assert hm.freqs_y.tolist() == freqs and hm.freqs_x.tolist() == freqs
    assert hm.error.shape == (len(freqs), len(freqs))
    c = freqs.index(0)
    assert hm.error[c, c] == 0.0  # zero frequency at the centre: a low-pass-robust model is right there
    expected = (np.maximum(np.abs(hm.freqs_y)[:, None], np.abs(hm.freqs_x)[None, :]) >= 3).astype(float)
    assert np.array_equal(hm.error, expected)
    assert hm.clean_error == 0.0 and hm.n_images == 5


def test_sign_is_random_per_image_and_channel_and_images_keep_their_device_batching():
    seen = []

    def model_fn(x):
        seen.append(x.clone())
        return torch.zeros(len(x), 2)

    images = torch.full((16, 3, 4, 4), 0.5)
    fourier_heat_map(model_fn, images, torch.zeros(16, dtype=torch.long), norm=0.4, stride=100, clip=None)
    pert = seen[0] - 0.5  # stride 100 keeps only the zero frequency: a constant ±0.4/4 per image and channel
    per = pert.mean((2, 3))
    assert torch.allclose(per.abs(), torch.full_like(per, 0.1))
    assert torch.allclose(pert.flatten(1).norm(dim=1), torch.full((16,), 0.4 * 3 ** 0.5))
    signs = per.sign()
    assert (signs != signs[:, :1]).any()  # channels of one image differ somewhere
    assert (signs[:, 0] > 0).any() and (signs[:, 0] < 0).any()  # images differ


def test_uint8_images_are_scaled_and_clipped():
    seen = []

    def model_fn(x):
        seen.append(x)
        return torch.zeros(len(x), 2)

    images = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    fourier_heat_map(model_fn, images, torch.zeros(2, dtype=torch.long), norm=2.0, stride=2)
    assert all(float(x.max()) <= 1.0 and float(x.min()) >= 0.0 for x in seen)


def test_summary_splits_low_and_high_by_hand():
    grid = np.arange(16, dtype=float).reshape(4, 4)  # freqs -2..1; radius/Nyquist <= 0.5: (0,0), (0,±1), (±1,0)
    low = [grid[2, 2], grid[2, 1], grid[2, 3], grid[1, 2], grid[3, 2]]
    high = (grid.sum() - sum(low)) / 11
    summary = fourier_summary(grid)
    assert summary == {"low_freq_error": pytest.approx(np.mean(low)), "high_freq_error": pytest.approx(high)}
    with pytest.raises(UserError, match="empty band"):
        fourier_summary(grid, cutoff=5.0)


def test_bad_heat_map_options_are_refused():
    images, labels = torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long)
    with pytest.raises(UserError, match="stride"):
        fourier_heat_map(lambda x: x, images, labels, norm=1.0, stride=0)
    with pytest.raises(UserError, match="norm"):
        fourier_heat_map(lambda x: x, images, labels, norm=0.0)


def test_a_stride_whose_grid_empties_a_band_is_named_with_the_largest_allowed() -> None:
    assert fourier_grid_problem(32, 32, 1) is None and fourier_grid_problem(32, 32, 8) is None
    problem = fourier_grid_problem(32, 32, 17)
    assert problem and "stride 17" in problem and "32×32" in problem
    largest = int(problem.rsplit("<= ", 1)[1])
    assert fourier_grid_problem(32, 32, largest) is None and fourier_grid_problem(32, 32, largest + 1)
