"""PRIME (Modas, Rade, Ortiz-Jiménez, Moosavi-Dezfooli, Frossard; ECCV 2022): mixtures of max-entropy primitives.

Follows amodas/PRIME-augmentations (commit 44c4216): ``utils/prime.py`` (``GeneralizedPRIMEModule.aug``),
``utils/diffeomorphism.py`` (``Diffeo``), ``utils/color_jitter.py`` (``RandomSmoothColor``), ``utils/rand_filter.py``
(``RandomFilter``), the primitives as ``train.py`` builds them (``stochastic=True``) and the defaults of
``config/cifar10_cfg.py`` / ``config/imagenet_cfg.py``. Per image: ``width`` chains, each of depth uniform in
1..max_depth; each step applies one primitive chosen uniformly (smooth diffeomorphism, random smooth colour change in
a sine basis, random filter); chain weights ~ Dirichlet(1…1), skip weight m ~ Beta(1, 1); the view is
``(1 - m)·norm(x) + m·Σ_i w_i·norm(chain_i(x))`` computed on [0, 1] float images (``ToTensor`` values).

Batching differs by design: the official code draws each primitive's strength (cut, temperature, σ) and the
diffeomorphism's displacement field once per call, i.e. once per chain step for the whole batch; here every
(image, chain, step) draws its own from the same distributions.

Engines: ``sorted`` (CPU) runs each primitive on the rows that chose it (one host read per primitive and step);
``masked`` (other devices) runs every primitive on every row with its own draws and keeps the chosen result, as the
official ``PRIMEAugModule`` does, reading nothing back to the host. The two draw in a different order, so one seed
gives other images on the two engines (same distributions).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as TF
from pydantic import Field, field_validator, model_validator
from torch import Tensor

from augmix_lab.augment import functional as F
from augmix_lab.augment import ops as ops_module
from augmix_lab.augment import sampling
from augmix_lab.augment.base import AUGMENTATIONS, Method, MethodParams

Primitive = Literal["diffeo", "color", "filter"]
PRIMITIVES: tuple[Primitive, ...] = (
    "diffeo",
    "color",
    "filter",
)  # train.py: enable_aug.diffeo / color_jit / rand_filter
# the colour primitive's (rows, C, H·W, frequencies) sine table in pieces: 32 MB on CPU (cache), 256 MB elsewhere
ROW_CHUNK_ELEMENTS = {"cpu": 1 << 23, "other": 1 << 26}
DIFFEO_GROUP = 32  # rows per coefficient draw on the sorted engine (sorted by cut: each group sized by its largest)
RECURRENCE_FROM = 24  # colour: frequencies per row from which the CPU sums the sine series by recurrence

# Per dataset kind, the values that differ between config/cifar10_cfg.py and config/imagenet_cfg.py
KIND_DEFAULTS: dict[str, dict[str, float | int]] = {
    "cifar": {"diffeo_cut_max": 100, "color_cut": 100, "color_temperature": 0.01, "color_bandwidth": 0},
    "imagenet": {"diffeo_cut_max": 500, "color_cut": 500, "color_temperature": 0.05, "color_bandwidth": 20},
}


class PRIMEParams(MethodParams):
    """PRIME's options (``method_params.prime``); null fields take the official config of the dataset kind."""

    width: int = Field(3, ge=1, description="an integer >= 1 (chains mixed)")  # cifar10_cfg augmix.mixture_width
    # cifar10_cfg augmix.mixture_depth -1: depth uniform in 1..max_depth (prime.py depth_combos)
    depth: int = Field(-1, description="-1 (random chain depth in 1..max_depth) or an integer >= 1")
    max_depth: int = Field(3, ge=1, description="an integer >= 1")  # train.py GeneralizedPRIMEModule(max_depth=3)
    primitives: list[Primitive] = Field(
        list(PRIMITIVES), min_length=1, description="a non-empty list of diffeo, color, filter (each at most once)"
    )
    diffeo_s_t: float = Field(1.0, gt=0, description="> 0")  # cfg diffeo.sT: Beta(sT - sT/(rT+1), sT/(rT+1)) for T
    diffeo_r_t: float = Field(1.0, gt=0, description="> 0")  # cfg diffeo.rT
    diffeo_s_cut: float = Field(1.0, gt=0, description="> 0")  # cfg diffeo.scut: the same Beta for the cut
    diffeo_r_cut: float = Field(1.0, gt=0, description="> 0")  # cfg diffeo.rcut
    diffeo_cut_min: int = Field(2, ge=2, description="an integer >= 2")  # cfg diffeo.cutmin
    diffeo_cut_max: int | None = Field(
        None, ge=3, description="null (CIFAR 100, ImageNet 500) or an integer > diffeo_cut_min"
    )  # cfg diffeo.cutmax
    diffeo_alpha: float = Field(1.0, gt=0, description="> 0 (scales the largest temperature)")  # cfg diffeo.alpha
    color_cut: int | None = Field(
        None, ge=1, description="null (CIFAR 100, ImageNet 500) or an integer >= 1: the highest sine frequency"
    )  # cfg color_jit.cut
    color_temperature: float | None = Field(None, gt=0, description="null (CIFAR 0.01, ImageNet 0.05) or > 0")  # .T
    color_bandwidth: int | None = Field(
        None, ge=0, description="null (CIFAR 0 = every frequency, ImageNet 20) or an integer >= 0"
    )  # cfg color_jit.max_freqs
    filter_kernel_size: int = Field(3, ge=3, description="an odd integer >= 3")  # cfg rand_filter.kernel_size
    filter_sigma: float = Field(4.0, ge=0, description=">= 0")  # cfg rand_filter.sigma

    @field_validator("depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        if v == 0 or v < -1:
            raise ValueError("depth must be -1 (random in 1..max_depth) or a positive chain length")
        return v

    @field_validator("filter_kernel_size")
    @classmethod
    def _odd(cls, v: int) -> int:
        if v % 2 == 0:
            raise ValueError("filter_kernel_size must be odd (rand_filter.py puts the identity tap at ceil(k/2))")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> PRIMEParams:
        if len(set(self.primitives)) != len(self.primitives):
            raise ValueError(f"primitives lists a primitive twice: {self.primitives}")
        if self.diffeo_cut_max is not None and self.diffeo_cut_max <= self.diffeo_cut_min:
            raise ValueError(f"diffeo_cut_max {self.diffeo_cut_max} must exceed diffeo_cut_min {self.diffeo_cut_min}")
        return self


# ------------------------------------------------------------------------------------------------ diffeomorphism


@dataclass(frozen=True)
class DiffeoSpec:
    s_t: float = 1.0
    r_t: float = 1.0
    s_cut: float = 1.0
    r_cut: float = 1.0
    cut_min: int = 2
    cut_max: int = 100
    alpha: float = 1.0


def temperature_range(size: int, cut: Tensor) -> tuple[Tensor, Tensor]:
    """diffeomorphism.py ``temperature_range(n, cut)`` per row, float64: T1 = 1/(π n² log c), T2 = 4/(π³ c² log c)
    with c = cut + 1e-6 (the official adds 1e-6 before both)."""
    c = cut.double() + 1e-6
    log = torch.log(c)
    return 1 / (math.pi * size**2 * log), 4 / (math.pi**3 * c**2 * log)


def sample_diffeo(n: int, size: int, spec: DiffeoSpec, generator: torch.Generator) -> dict[str, Tensor]:
    """Per row: cut and temperature (the fields' coefficients are drawn by ``diffeo_fields``).

    ``Diffeo._sample_params`` (stochastic): cutmax ~ U{cut_min+1..cut_max}; ``forward``: cut = int(B_cut·(cutmax + 1
    - cut_min) + cut_min), T = B_T·(T2 - T1) + T1 with T2 = max(T1, alpha·T2); B ~ Beta(s - s/(r+1), s/(r+1)).
    """
    top = sampling.randint((n,), spec.cut_min + 1, spec.cut_max + 1, generator)
    b_cut = sampling.beta_ab(
        (n,), spec.s_cut - spec.s_cut / (spec.r_cut + 1), spec.s_cut / (spec.r_cut + 1), generator
    ).float()
    cut = (b_cut * (top + 1 - spec.cut_min) + spec.cut_min).long()  # float32 product truncated, as .int()
    t1, t2 = temperature_range(size, cut)
    t2 = torch.maximum(t1, spec.alpha * t2)
    b_t = sampling.beta_ab((n,), spec.s_t - spec.s_t / (spec.r_t + 1), spec.s_t / (spec.r_t + 1), generator).float()
    return {"cut": cut, "temperature": b_t * (t2 - t1).float() + t1.float()}


def diffeo_fields(
    size: int, cut: Tensor, temperature: Tensor, generator: torch.Generator, modes: int | None = None
) -> tuple[Tensor, Tensor]:
    """dx, dy (rows, n, n) with fresh N(0, 1) coefficients per row (``scalar_field``'s c = randn(cut, cut)).

    ``modes``: one coefficient square of that side for every row (no host read); None: rows sorted by cut in groups
    of ``DIFFEO_GROUP``, each drawing squares of its largest cut (the coefficients past a row's cut are masked out,
    so the law is the same; far fewer draws and products on CPU).
    """
    n = cut.shape[0]
    if modes is not None:
        c = torch.randn((2, n, modes, modes), generator=generator, device=generator.device)
        return diffeo_displacements(size, cut, temperature, c[0], c[1])
    dx = torch.empty((n, size, size), device=cut.device)
    dy = torch.empty_like(dx)
    order = torch.argsort(cut)
    for start in range(0, n, DIFFEO_GROUP):
        rows = order[start : start + DIFFEO_GROUP]
        m = int(cut[rows].max())
        c = torch.randn((2, rows.shape[0], m, m), generator=generator, device=generator.device)
        dx[rows], dy[rows] = diffeo_displacements(size, cut[rows], temperature[rows], c[0], c[1])
    return dx, dy


@functools.lru_cache(maxsize=16)
def _sine_basis(size: int, modes: int, device: str) -> tuple[Tensor, Tensor]:
    """diffeomorphism.py ``scalar_field_modes``: s[x, k] = sin(π x k) on x = linspace(0, 1, n), k = 1..m, and
    r[i, j] = sqrt(i² + j²) (float32, the default dtype)."""
    x = torch.linspace(0, 1, size, device=device)
    k = torch.arange(1, modes + 1, dtype=torch.float32, device=device)
    i, j = torch.meshgrid(k, k, indexing="ij")
    return torch.sin(math.pi * x[:, None] * k[None, :]), (i.pow(2) + j.pow(2)).sqrt()


def diffeo_displacements(
    size: int, cut: Tensor, temperature: Tensor, coeff_u: Tensor, coeff_v: Tensor
) -> tuple[Tensor, Tensor]:
    """``deform``'s dx, dy per row: u[y, x] = Σ_ij c_ij e_ij s[x, i] s[y, j] with e_ij = [r_ij < cut + 0.5] / r_ij
    (``scalar_field``), dx = √T·u·n (float32, (rows, n, n))."""
    basis, radius = _sine_basis(size, coeff_u.shape[-1], str(coeff_u.device))
    energy = (radius[None] < (cut.view(-1, 1, 1) + 0.5)).float() / radius[None]

    def field(coeff: Tensor) -> Tensor:
        return basis @ (coeff * energy).transpose(1, 2) @ basis.T

    scale = temperature.view(-1, 1, 1) ** 0.5
    return scale * field(coeff_u) * size, scale * field(coeff_v) * size


def remap(images: Tensor, dx: Tensor, dy: Tensor) -> Tensor:
    """diffeomorphism.py ``remap(a, dx, dy, 'linear')`` with one field per row: sample at (x - dx, y - dy), clamped
    to the image, bilinear from the floor/ceil neighbours."""
    rows, c, h, w = images.shape
    y, x = torch.meshgrid(
        torch.arange(h, dtype=dx.dtype, device=dx.device),
        torch.arange(w, dtype=dx.dtype, device=dx.device),
        indexing="ij",
    )
    xn = (x - dx).clamp(0, w - 1)
    yn = (y - dy).clamp(0, h - 1)
    xf, yf, xc, yc = xn.floor().long(), yn.floor().long(), xn.ceil().long(), yn.ceil().long()
    xv, yv = (xn - xf).unsqueeze(1), (yn - yf).unsqueeze(1)
    flat = images.reshape(rows, c, h * w)

    def at(yi: Tensor, xi: Tensor) -> Tensor:
        index = (yi * w + xi).reshape(rows, 1, h * w).expand(rows, c, h * w)
        return flat.gather(2, index).view(rows, c, h, w)

    return (
        (1 - yv) * (1 - xv) * at(yf, xf)
        + (1 - yv) * xv * at(yf, xc)
        + yv * (1 - xv) * at(yc, xf)
        + yv * xv * at(yc, xc)
    )


def diffeo(images: Tensor, params: dict[str, Tensor], generator: torch.Generator, modes: int | None = None) -> Tensor:
    """Apply diffeomorphisms of the sampled cut and temperature to float (rows, C, n, n) images (square, as
    ``deform`` asserts), each with its own random field (``diffeo_fields``)."""
    dx, dy = diffeo_fields(images.shape[-1], params["cut"], params["temperature"], generator, modes)
    return remap(images, dx, dy)


# ------------------------------------------------------------------------------------------------------- colour


@dataclass(frozen=True)
class ColorSpec:
    cut: int = 100
    temperature: float = 0.01
    bandwidth: int = 0  # 0: every frequency 1..cut (color_jit.max_freqs None)


def sample_color(
    n: int, channels: int, spec: ColorSpec, generator: torch.Generator, frequencies: int | None = None
) -> dict[str, Tensor]:
    """Per row: its cut, the frequencies used and their coefficients (zero past the cut).

    ``RandomSmoothColor._sample_params`` (stochastic): cut ~ U{1..cut_max}, T ~ U(0, T_max); ``random_smooth_color``:
    coefficients ~ N(0, T) for k = 1..cut, or, with a bandwidth, for k in [min_k, min(min_k + bandwidth, cut + 1))
    with min_k ~ U{1..cut}. ``frequencies`` sizes the table when every frequency is used (None: the largest cut).
    """
    device = generator.device
    cut = sampling.randint((n,), 1, spec.cut + 1, generator)
    temperature = sampling.uniform((n,), 0.0, spec.temperature, generator).float()
    out: dict[str, Tensor] = {"cut": cut}
    if spec.bandwidth:
        low = (sampling.uniform((n,), 0.0, 1.0, generator) * cut).floor().long() + 1  # U{1..cut} per row
        k = low[:, None] + torch.arange(spec.bandwidth, device=device)[None]
        out["band_start"] = low
    else:
        width = int(frequencies if frequencies is not None else (int(cut.max()) if n else 1))
        k = torch.arange(1, width + 1, device=device).expand(n, width)
    coeff = torch.randn((n, channels, k.shape[1]), generator=generator, device=device)
    out["coeff"] = coeff * (k <= cut[:, None])[:, None, :] * temperature.sqrt().view(n, 1, 1)
    out["frequencies"] = k.float()
    return out


def sine_series(values: Tensor, coeff: Tensor, cut: Tensor) -> Tensor:
    """Σ_{k=1..K} coeff[r, c, k-1]·sin(k π v) for every value v of row r, channel c, by Reinsch's stable form of
    the Clenshaw recurrence (no sine table: ~2 fused passes per frequency instead of a sine each; accurate near
    v = 0 and 1 where plain Clenshaw is not). Rows run sorted by cut, each only over its own frequencies."""
    k_max = coeff.shape[-1]
    order = torch.argsort(cut, descending=True)
    v, c = values.index_select(0, order), coeff.index_select(0, order)
    active = cut.index_select(0, order)[None, :] >= torch.arange(1, k_max + 1, device=cut.device)[:, None]
    counts = active.sum(1).tolist()  # rows with a frequency k, for every k (one host read; CPU path)
    theta = v * math.pi
    positive = torch.cos(theta) >= 0
    sign = torch.where(positive, 1.0, -1.0)
    half = theta * 0.5
    lam = torch.where(positive, -4 * torch.sin(half) ** 2, 4 * torch.cos(half) ** 2)  # 2cosθ ∓ 2
    b, d = torch.zeros_like(v), torch.zeros_like(v)
    for k in range(k_max, 0, -1):
        a = counts[k - 1]
        if a:  # rows past their cut have zero coefficients and zero state: skipping them is exact
            new_d = torch.addcmul(torch.addcmul(c[:a, :, k - 1 : k], sign[:a], d[:a]), lam[:a], b[:a])
            b[:a] = torch.addcmul(new_d, sign[:a], b[:a])
            d[:a] = new_d
    out = torch.empty_like(values)
    out[order] = b * torch.sin(theta)
    return out


def smooth_color(images: Tensor, params: dict[str, Tensor], recurrence: bool = False) -> Tensor:
    """color_jitter.py ``random_smooth_color`` per row: v + Σ_k c_k sin(k π v) per channel, clamped to [0, 1].

    A sine table (the official computation), or with ``recurrence`` (the sorted engine on CPU) for the full series
    (every frequency up to the cut) ``sine_series``: the same sums to float32 rounding, several times faster.
    """
    rows, c, h, w = images.shape
    colors = images.reshape(rows, c, h * w)
    freqs, coeff = params["frequencies"], params["coeff"]
    if recurrence and "band_start" not in params and freqs.shape[1] >= RECURRENCE_FROM:
        return (sine_series(colors, coeff, params["cut"]) + colors).clamp_(0, 1).view(rows, c, h, w)
    budget = ROW_CHUNK_ELEMENTS["cpu" if images.device.type == "cpu" else "other"]
    step = max(1, budget // max(1, c * h * w * freqs.shape[1]))
    out = torch.empty_like(colors)
    for s in range(0, rows, step):
        e = min(rows, s + step)
        table = torch.sin(colors[s:e, :, :, None] * freqs[s:e, None, None, :] * math.pi)
        out[s:e] = (table @ coeff[s:e, :, :, None]).squeeze(-1) + colors[s:e]
    return out.clamp_(0, 1).view(rows, c, h, w)


# ------------------------------------------------------------------------------------------------------- filter


@dataclass(frozen=True)
class FilterSpec:
    kernel_size: int = 3
    sigma: float = 4.0


def sample_filter(n: int, spec: FilterSpec, generator: torch.Generator) -> dict[str, Tensor]:
    """rand_filter.py: σ ~ U(0, σ_max) (stochastic; the kernel-size candidates are just ``kernel_size``),
    kernel = σ·N(0, 1) + δ with the identity tap at [ceil(k/2), ceil(k/2)] (the official index, one past the centre)."""
    k = spec.kernel_size
    sigma = sampling.uniform((n,), 0.0, spec.sigma, generator).float()
    centre = int(math.ceil(k / 2))
    delta = torch.zeros((k, k), device=generator.device)
    delta[centre, centre] = 1.0
    noise = torch.randn((n, k, k), generator=generator, device=generator.device)
    return {"kernels": sigma.view(n, 1, 1) * noise + delta}


def random_filter(images: Tensor, params: dict[str, Tensor]) -> Tensor:
    """rand_filter.py ``RandomFilter.forward``: each row's kernel on each of its channels (zero 'same' padding),
    NaN -> 1, clamped to [0, 1]."""
    rows = images.shape[0]
    kernels = params["kernels"]
    weight = kernels.view(rows, 1, kernels.shape[-2], kernels.shape[-1])
    out = TF.conv2d(images.transpose(0, 1), weight.to(images.dtype), padding="same", groups=rows).transpose(0, 1)
    out = torch.where(torch.isnan(out), torch.ones_like(out), out)
    return out.clamp(0, 1)


# ------------------------------------------------------------------------------------------------------- PRIME


class PRIMEAugment:
    """Batched PRIME: ``augment(images_uint8, generator)`` -> normalized float32 views (one per image)."""

    def __init__(
        self,
        width: int = 3,
        depth: int = -1,
        max_depth: int = 3,
        primitives: tuple[str, ...] = PRIMITIVES,
        diffeo_spec: DiffeoSpec = DiffeoSpec(),
        color_spec: ColorSpec = ColorSpec(),
        filter_spec: FilterSpec = FilterSpec(),
        mean: tuple[float, ...] = (0.5, 0.5, 0.5),
        std: tuple[float, ...] = (0.5, 0.5, 0.5),
    ) -> None:
        self.width, self.depth, self.max_depth = width, depth, max_depth
        self.primitives = tuple(primitives)
        self.diffeo_spec, self.color_spec, self.filter_spec = diffeo_spec, color_spec, filter_spec
        self.mean, self.std = tuple(mean), tuple(std)

    def engine(self, device: torch.device) -> str:
        """``ops.ENGINE`` when set to an engine, else sorted on CPU and masked elsewhere (module docstring)."""
        choice = ops_module.ENGINE
        if choice in ("sorted", "masked"):
            return choice
        return "sorted" if device.type == "cpu" else "masked"

    def primitive(self, name: str, images: Tensor, generator: torch.Generator, static: bool) -> Tensor:
        """One primitive on every row of ``images`` with fresh per-row draws; ``static``: tensor sizes from the
        configuration (no host read), else from the draws."""
        n, c, h, w = images.shape
        if name == "diffeo":
            modes = self.diffeo_spec.cut_max if static else None
            return diffeo(images, sample_diffeo(n, w, self.diffeo_spec, generator), generator, modes)
        if name == "color":
            width = self.color_spec.cut if static else None
            params = sample_color(n, c, self.color_spec, generator, width)
            return smooth_color(images, params, recurrence=not static and images.device.type == "cpu")
        return random_filter(images, sample_filter(n, self.filter_spec, generator))

    def chain_ops(self, rows: int, generator: torch.Generator) -> Tensor:
        """int64 (rows, steps): the primitive index of each step, -1 past the row's depth (prime.py depth_mask)."""
        steps = self.depth if self.depth > 0 else self.max_depth
        if self.depth > 0:
            depth = torch.full((rows,), self.depth, dtype=torch.long, device=generator.device)
        else:
            depth = sampling.randint((rows,), 1, self.max_depth + 1, generator)  # tril(ones) row ~ U{0..max-1}
        ops = sampling.randint((rows, steps), 0, len(self.primitives), generator)  # trans_idx per step
        return torch.where(torch.arange(steps, device=generator.device)[None] < depth[:, None], ops, -1)

    def run_chains(self, images01: Tensor, ops: Tensor, generator: torch.Generator) -> Tensor:
        """Every row through its chain of primitives (float [0, 1] in and out)."""
        ops = ops.to(images01.device)
        masked = self.engine(images01.device) == "masked"
        x = images01 if masked else images01.clone()
        rows = x.shape[0]
        for step in range(ops.shape[1]):
            column = ops[:, step]
            if masked:
                out = x
                for index, name in enumerate(self.primitives):
                    result = self.primitive(name, x, generator, static=True)
                    out = torch.where((column == index).view(rows, 1, 1, 1), result, out)
                x = out
                continue
            for index, name in enumerate(self.primitives):
                chosen = (column == index).nonzero().squeeze(1)  # the sorted engine's host read
                if chosen.numel():
                    x.index_copy_(0, chosen, self.primitive(name, x.index_select(0, chosen), generator, static=False))
        return x

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise TypeError(f"expected uint8 N×C×H×W images, got {images.dtype} {tuple(images.shape)}")
        if images.shape[-1] != images.shape[-2] and "diffeo" in self.primitives:
            raise ValueError(f"PRIME's diffeomorphism needs square images, got {tuple(images.shape[-2:])}")
        n, c, h, w = images.shape
        k = self.width
        weights = sampling.dirichlet(n, k, 1.0, generator).to(images.device)  # prime.py Dirichlet([1.] * width)
        m = sampling.beta(n, 1.0, generator).to(images.device).view(n, 1, 1, 1)  # prime.py Beta(1, 1)
        x01 = images.float().div_(255)
        rows = x01.repeat(k, 1, 1, 1)  # prime.py repeat 'b c h w -> m b c h w': chain-major rows
        chains = self.run_chains(rows, self.chain_ops(n * k, generator), generator)
        chains = F.normalize_float(chains, self.mean, self.std).view(k, n, c, h, w)
        mix = torch.einsum("bm,mbchw->bchw", weights, chains)
        return (1.0 - m) * F.normalize_float(x01, self.mean, self.std) + m * mix


@AUGMENTATIONS.register("prime")
class PRIMEMethod(Method):
    """PRIME (``PRIMEAugment``) with its ``PRIMEParams``: a view producer, JSD-capable (the CIFAR configs train with
    JSD, λ = 12: lightning/systems/augmentation.py)."""

    Params = PRIMEParams
    produces_views = True

    def setup(self) -> None:
        p = self.params
        kind = KIND_DEFAULTS[self.ctx.kind]

        def pick(name: str) -> float | int:
            return p[name] if p[name] is not None else kind[name]

        self.prime = PRIMEAugment(
            width=p["width"],
            depth=p["depth"],
            max_depth=p["max_depth"],
            primitives=tuple(p["primitives"]),
            diffeo_spec=DiffeoSpec(
                p["diffeo_s_t"],
                p["diffeo_r_t"],
                p["diffeo_s_cut"],
                p["diffeo_r_cut"],
                p["diffeo_cut_min"],
                int(pick("diffeo_cut_max")),
                p["diffeo_alpha"],
            ),
            color_spec=ColorSpec(
                int(pick("color_cut")), float(pick("color_temperature")), int(pick("color_bandwidth"))
            ),
            filter_spec=FilterSpec(p["filter_kernel_size"], p["filter_sigma"]),
            mean=self.ctx.mean,
            std=self.ctx.std,
        )
        if self.prime.diffeo_spec.cut_max <= self.prime.diffeo_spec.cut_min:
            from augmix_lab.errors import UserError

            raise UserError(
                f"method_params.prime.diffeo_cut_min: {p['diffeo_cut_min']} must be below diffeo_cut_max "
                f"{self.prime.diffeo_spec.cut_max}"
            )

    def view(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return self.prime(images, generator)
