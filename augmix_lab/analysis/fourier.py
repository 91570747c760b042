"""Fourier heat maps (Yin et al., NeurIPS 2019, "A Fourier perspective on model robustness", arXiv 1906.08988).

Frequencies are signed integers (cycles per image): ``u`` vertical in [-H//2, (H-1)//2], ``v`` horizontal in
[-W//2, (W-1)//2]. A heat map's row r / column c hold ``freqs_y[r]`` / ``freqs_x[c]``, ascending, so the zero
frequency sits at the centre (row H//2, column W//2 at stride 1) as in the paper's figures and the reference
google-research/frequency_analysis freq_heatmap.py (fftshift layout). Error rates are fractions in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from augmix_lab.errors import UserError

if TYPE_CHECKING:  # torch is imported where a heat map is computed: reading a stored one (the report) needs none
    import torch


def _check_freq(h: int, w: int, u: int, v: int) -> None:
    if h < 1 or w < 1:
        raise UserError(f"fourier: image size {h}x{w}; allowed: positive")
    if not (-(h // 2) <= u <= (h - 1) // 2 and -(w // 2) <= v <= (w - 1) // 2):
        raise UserError(
            f"fourier: frequency (u={u}, v={v}) for a {h}x{w} image; allowed: u in "
            f"[{-(h // 2)}, {(h - 1) // 2}], v in [{-(w // 2)}, {(w - 1) // 2}]"
        )


def fourier_basis(
    h: int, w: int, u: int, v: int, norm: float = 1.0, *, device: Any = None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Real H×W Fourier basis image U_{u,v} scaled to L2 norm ``norm``; its spectrum is supported on (u, v) and its
    conjugate (-u, -v) only (Yin et al.; reference _get_fourier_basis puts (1+i)/2 and (1-i)/2 there)."""
    import torch

    _check_freq(h, w, u, v)
    if norm < 0:
        raise UserError(f"fourier: norm={norm}; allowed: >= 0")
    spec = torch.zeros(h, w, dtype=torch.complex128)
    p, q = (u % h, v % w), ((-u) % h, (-v) % w)
    if p == q:
        spec[p] = 1.0  # self-conjugate (zero or Nyquist) frequency: a real spectrum entry
    else:
        spec[p], spec[q] = 0.5 + 0.5j, 0.5 - 0.5j  # Hermitian pair -> a real image (as the reference)
    basis = torch.fft.ifft2(spec).real
    basis = basis / basis.norm() * norm
    return basis.to(device=device, dtype=dtype or torch.float32)


def _offsets(n: int, stride: int) -> list[int]:
    """Signed frequencies on a grid symmetric about 0 with spacing ``stride`` (so each conjugate is on the grid too)."""
    return sorted({-k for k in range(0, n // 2 + 1, stride)} | set(range(0, (n - 1) // 2 + 1, stride)))


def _canonical(u: int, v: int, h: int, w: int) -> tuple[int, int]:
    """(u, v) and (-u, -v) share one basis image (reference code fills both): evaluate one representative."""
    cu = -u if -u <= (h - 1) // 2 else u  # -(-H/2) = H/2 aliases to -H/2 itself
    cv = -v if -v <= (w - 1) // 2 else v
    return min((u, v), (cu, cv))


@dataclass(frozen=True)
class FourierHeatMap:
    """Error rate per Fourier basis direction; ``error[r, c]`` is at frequency (freqs_y[r], freqs_x[c])."""

    error: np.ndarray
    freqs_y: np.ndarray
    freqs_x: np.ndarray
    height: int
    width: int
    norm: float
    n_images: int
    clean_error: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for an artifact."""
        return {
            "error": self.error.tolist(),
            "freqs_y": self.freqs_y.tolist(),
            "freqs_x": self.freqs_x.tolist(),
            "height": self.height,
            "width": self.width,
            "norm": self.norm,
            "n_images": self.n_images,
            "clean_error": self.clean_error,
        }


def _as_float01(images: torch.Tensor) -> torch.Tensor:
    import torch

    if images.ndim != 4:
        raise UserError(f"fourier: images of shape {tuple(images.shape)}; allowed: N×C×H×W")
    return images.float() / 255.0 if images.dtype == torch.uint8 else images.float()


def fourier_heat_map(
    model_fn: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    norm: float,
    stride: int = 1,
    *,
    batch_size: int = 1024,
    seed: int = 0,
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> FourierHeatMap:
    """Error of ``model_fn`` when each image gets ``±norm · U_{u,v}`` added, for every (u, v) on the stride grid.

    ``images``: N×C×H×W in [0, 1] (float) or uint8 (scaled by 1/255); ``model_fn`` takes float [0, 1] images (it
    normalises) and returns logits. The sign is drawn per image and per channel (reference ``rand_flip``), so each
    channel's perturbation has L2 norm ``norm``; results are clipped to ``clip`` (None: no clipping). Runs on the
    images' device, up to ``batch_size`` perturbed images per forward; by conjugate symmetry only about half the
    frequencies are evaluated. Yin et al. use norm 4 on CIFAR-10 [verify against the paper].
    """
    import torch

    with torch.no_grad():
        return _fourier_heat_map(model_fn, images, labels, norm, stride, batch_size=batch_size, seed=seed, clip=clip)


def _fourier_heat_map(
    model_fn: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    norm: float,
    stride: int = 1,
    *,
    batch_size: int = 1024,
    seed: int = 0,
    clip: tuple[float, float] | None = (0.0, 1.0),
) -> FourierHeatMap:
    import torch

    if stride < 1:
        raise UserError(f"eval.fourier.stride={stride}; allowed: integer >= 1")
    if norm <= 0:
        raise UserError(f"eval.fourier.norm={norm}; allowed: > 0")
    x = _as_float01(images)
    y = labels.to(x.device)
    n, c, h, w = x.shape
    if n == 0 or len(y) != n:
        raise UserError(f"fourier: {n} images and {len(y)} labels; allowed: equally many, at least one")
    ky, kx = _offsets(h, stride), _offsets(w, stride)
    cells: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for r, u in enumerate(ky):
        for col, v in enumerate(kx):
            cells.setdefault(_canonical(u, v, h, w), []).append((r, col))
    freqs = list(cells)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    wrong = torch.zeros(len(freqs), dtype=torch.float64)
    img_bs = min(n, batch_size)
    f_bs = max(1, batch_size // img_bs)  # several frequencies share one forward when the image set is small
    for f0 in range(0, len(freqs), f_bs):
        chunk = freqs[f0 : f0 + f_bs]
        basis = torch.stack([fourier_basis(h, w, u, v, norm, device=x.device) for u, v in chunk])  # F×H×W
        for i in range(0, n, img_bs):
            xb, yb = x[i : i + img_bs], y[i : i + img_bs]
            signs = torch.randint(0, 2, (len(chunk), len(xb), c, 1, 1), generator=gen, device=x.device) * 2.0 - 1.0
            pert = xb.unsqueeze(0) + signs * basis[:, None, None]  # F×B×C×H×W
            if clip is not None:
                pert = pert.clamp(*clip)
            pred = model_fn(pert.reshape(-1, c, h, w)).argmax(1).view(len(chunk), len(xb))
            wrong[f0 : f0 + len(chunk)] += (pred != yb.unsqueeze(0)).sum(1).double().cpu()
    clean_wrong = sum(
        int((model_fn(x[i : i + img_bs]).argmax(1) != y[i : i + img_bs]).sum()) for i in range(0, n, img_bs)
    )
    grid = np.zeros((len(ky), len(kx)))
    for k, f in enumerate(freqs):
        for r, col in cells[f]:
            grid[r, col] = float(wrong[k]) / n
    return FourierHeatMap(grid, np.array(ky), np.array(kx), h, w, float(norm), n, clean_wrong / n)


def _radius(fy: np.ndarray, fx: np.ndarray, h: int, w: int) -> np.ndarray:
    """Each grid frequency's radius relative to Nyquist: sqrt((u / (H/2))^2 + (v / (W/2))^2)."""
    return np.sqrt((fy[:, None] / (h / 2)) ** 2 + (fx[None, :] / (w / 2)) ** 2)


def _bands(fy: np.ndarray, fx: np.ndarray, h: int, w: int, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    rho = _radius(fy, fx, h, w)
    return rho <= cutoff, rho > cutoff


def fourier_grid_problem(height: int, width: int, stride: int, cutoff: float = 0.5) -> str | None:
    """Why the stride grid of an H×W image cannot give both band means of ``fourier_summary`` (None if it can).

    Checked when a study is planned, so a coarse stride fails before training rather than at evaluation."""

    def empty(s: int) -> bool:
        low, high = _bands(np.array(_offsets(height, s)), np.array(_offsets(width, s)), height, width, cutoff)
        return not low.any() or not high.any()

    if stride < 1 or not empty(stride):
        return None
    largest = max((s for s in range(1, stride) if not empty(s)), default=None)
    allowed = f"a stride <= {largest}" if largest else "no stride on this image size"
    return (
        f"stride {stride} on {height}×{width} images leaves the high-frequency band (radius > {cutoff} of "
        f"Nyquist) with no grid frequency; allowed: {allowed}"
    )


def fourier_summary(heat_map: FourierHeatMap | np.ndarray, cutoff: float = 0.5) -> dict[str, float]:
    """Mean error at low / high frequency. A frequency is low when its radius relative to Nyquist,
    sqrt((u / (H/2))^2 + (v / (W/2))^2), is <= ``cutoff`` (default 0.5: the inner half of the band), else high.
    A bare array is read as a stride-1 centred grid of an image of the same size."""
    if isinstance(heat_map, FourierHeatMap):
        err, fy, fx, h, w = heat_map.error, heat_map.freqs_y, heat_map.freqs_x, heat_map.height, heat_map.width
    else:
        err = np.asarray(heat_map, dtype=np.float64)
        if err.ndim != 2:
            raise UserError(f"fourier_summary: grid of shape {err.shape}; allowed: 2-D")
        h, w = err.shape
        fy, fx = np.arange(h) - h // 2, np.arange(w) - w // 2
    low, high = _bands(fy, fx, h, w, cutoff)
    if not low.any() or not high.any():
        rho = _radius(fy, fx, h, w)
        raise UserError(
            f"fourier_summary: cutoff={cutoff} leaves an empty band on this grid; allowed: a cutoff "
            f"between {rho.min():.3g} and {rho.max():.3g} (exclusive above)"
        )
    return {"low_freq_error": float(err[low].mean()), "high_freq_error": float(err[high].mean())}
