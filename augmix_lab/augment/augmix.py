"""AugMix (Hendrycks et al., ICLR 2020) as a batched sample/apply pair: ``AugmentAndMix``.

Follows google-research/augmix ``cifar.py::aug`` and ``augmentations.py`` (commit 7c84885): per image, k chains of
1..3 ops (uniform with replacement), each op's level ~ U(0.1, severity) and a random sign for geometric ops, chain
weights ~ Dirichlet(α…α), skip weight m ~ Beta(α, α), and ``mixed = (1 - m)·pre(x) + m·Σ w_i·pre(chain_i(x))`` in
normalized float space. Every image in a batch draws its own ops, levels, signs and weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from augmix_lab.augment import compiled, sampling
from augmix_lab.augment import ops as ops_module
from augmix_lab.augment.functional import device_constant
from augmix_lab.augment.ops import OPS, Op, apply_chains
from augmix_lab.errors import UserError

# augmentations.py `augmentations` (the paper's ops) and `augmentations_all` (--all-ops adds 4 -C-overlapping ops)
PAPER_OPS: tuple[str, ...] = (
    "autocontrast",
    "equalize",
    "posterize",
    "rotate",
    "solarize",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
)
EXTRA_OPS: tuple[str, ...] = ("color", "contrast", "brightness", "sharpness")
ALL_OPS: tuple[str, ...] = PAPER_OPS + EXTRA_OPS
MAX_RANDOM_DEPTH = 3  # cifar.py: depth = np.random.randint(1, 4) when --mixture-depth is -1
MAX_JSD_ARITY = 4  # JSDConfig.arity: clean + up to 3 augmented views
CPU_CHUNK_PIXELS = 256 * 32 * 32  # measured fastest on 1 thread: 256 CIFAR images per chunk (temporaries stay in cache)
MIX_CHUNK_PIXELS = 64 * 32 * 32  # the float mixing buffer (k+1 views) in 64-image pieces stays in cache: 2x faster


def int_parameter(level: Tensor, maxval: float) -> Tensor:
    """augmentations.py ``int(level * maxval / 10)`` (level in [0, 10]), in float64 like the reference."""
    return (level * maxval / 10).trunc()


def float_parameter(level: Tensor, maxval: float) -> Tensor:
    """augmentations.py ``float(level) * maxval / 10.``."""
    return level * maxval / 10.0


# op name -> (level, sign, image_size) -> the PIL argument, exactly as augmentations.py computes it
AUGMIX_ARGUMENTS: dict[str, Callable[[Tensor, Tensor, int], Tensor]] = {
    "autocontrast": lambda lv, sg, size: torch.zeros_like(lv),  # no magnitude
    "equalize": lambda lv, sg, size: torch.zeros_like(lv),  # no magnitude
    "posterize": lambda lv, sg, size: 4 - int_parameter(lv, 4),  # ImageOps.posterize(img, 4 - int_parameter(l, 4))
    "rotate": lambda lv, sg, size: sg * int_parameter(lv, 30),  # pil_img.rotate(±int_parameter(l, 30))
    "solarize": lambda lv, sg, size: (
        256 - int_parameter(lv, 256)
    ),  # ImageOps.solarize(img, 256 - int_parameter(l, 256))
    "shear_x": lambda lv, sg, size: sg * float_parameter(lv, 0.3),  # AFFINE (1, ±float_parameter(l, .3), 0, 0, 1, 0)
    "shear_y": lambda lv, sg, size: sg * float_parameter(lv, 0.3),  # AFFINE (1, 0, 0, ±float_parameter(l, .3), 1, 0)
    "translate_x": lambda lv, sg, size: sg * int_parameter(lv, size / 3),  # ±int_parameter(l, IMAGE_SIZE / 3)
    "translate_y": lambda lv, sg, size: sg * int_parameter(lv, size / 3),  # ±int_parameter(l, IMAGE_SIZE / 3)
    "color": lambda lv, sg, size: float_parameter(lv, 1.8) + 0.1,  # ImageEnhance.*.enhance(fp(l, 1.8) + 0.1)
    "contrast": lambda lv, sg, size: float_parameter(lv, 1.8) + 0.1,
    "brightness": lambda lv, sg, size: float_parameter(lv, 1.8) + 0.1,
    "sharpness": lambda lv, sg, size: float_parameter(lv, 1.8) + 0.1,
}


def resolve_op_names(ops: Sequence[str] | None, all_ops: bool) -> tuple[str, ...]:
    """The op list to sample from: an explicit list of names, else the paper's 9 (+4 extras with all_ops)."""
    if ops is None:
        return ALL_OPS if all_ops else PAPER_OPS
    names = tuple(ops)
    if not names:
        raise UserError(f"augmix ops: the op list is empty; allowed: {', '.join(ALL_OPS)}")
    unknown = [n for n in names if n not in AUGMIX_ARGUMENTS]
    if unknown:
        raise UserError(f"augmix ops: unknown op(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(ALL_OPS)}")
    return names


def augmix_arguments(names: Sequence[str], op_ids: Tensor, levels: Tensor, signs: Tensor, size: int) -> Tensor:
    """float64 PIL argument for every (image, step): the reference's level -> parameter mapping per op."""
    out = torch.zeros_like(levels)
    for index, name in enumerate(names):
        out = torch.where(op_ids == index, AUGMIX_ARGUMENTS[name](levels, signs, size), out)
    return out


@dataclass
class AugMixParams:
    """Sampled randomness for n images (``make_params``), replayable by ``apply`` and by the PIL reference.

    ops: int64 (n, k, D) op indices into ``op_names``, -1 past the chain's depth; levels: float64 (n, k, D) in
    [0.1, severity); signs: float64 (n, k, D) ±1; weights: float32 (n, k) Dirichlet; mix: float32 (n,) Beta (= m).
    """

    ops: Tensor
    levels: Tensor
    signs: Tensor
    weights: Tensor
    mix: Tensor

    @property
    def depths(self) -> Tensor:
        return (self.ops >= 0).sum(dim=2)

    def to(self, device: torch.device | str) -> AugMixParams:
        return AugMixParams(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def select(self, index: Tensor | slice | int) -> AugMixParams:
        """The params of a subset of images (keeps the batch dimension for an int)."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return AugMixParams(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


class AugmentAndMix:
    """Batched AugMix: ``make_params(n, generator)`` then ``apply(images_uint8, params)`` -> normalized float.

    Args:
        width: number of chains k >= 1 (reference --mixture-width 3).
        depth: ops per chain, or -1 for a random depth in 1..3 per chain (reference --mixture-depth -1).
        severity: 1..10, levels ~ U(0.1, severity) (reference --aug-severity 3).
        alpha: Dirichlet / Beta concentration > 0 (reference: 1).
        all_ops: add color, contrast, brightness, sharpness (reference --all-ops; off in the paper).
        ops: explicit op names instead (overrides all_ops).
        mean, std: normalization of the output views (CIFAR reference: 0.5s).
        engine: op engine, "auto" | "sorted" | "masked" | "compiled" (None: ``augment.ops.ENGINE``); "masked" reads
            nothing back to the host, "compiled" (numba) runs on CPU only, "auto" picks per device
            (``ops.resolve_engine``: compiled on CPU, else the measurement stored for the hardware). The torch
            engines agree to within one uint8 level of a chain (``augment/ops.py``); compiled resamples in PIL's
            double arithmetic (table in ``augment/compiled.py``: its chains equal sorted's except where sorted's
            float32 rotate / shears land one level off PIL).
    """

    def __init__(
        self,
        width: int = 3,
        depth: int = -1,
        severity: int = 3,
        alpha: float = 1.0,
        all_ops: bool = False,
        ops: Sequence[str] | None = None,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        engine: str | None = None,
    ) -> None:
        if engine is not None and engine not in ops_module.ENGINES:
            raise UserError(f"augmix engine must be one of {', '.join(ops_module.ENGINES)}, got {engine!r}")
        self.engine = engine
        if not isinstance(width, int) or width < 1:
            raise UserError(f"augmix width must be an integer >= 1, got {width!r}")
        if not isinstance(depth, int) or depth == 0 or depth < -1:
            raise UserError(f"augmix depth must be -1 (random in 1..3) or an integer >= 1, got {depth!r}")
        if not isinstance(severity, int) or not 1 <= severity <= 10:
            raise UserError(f"augmix severity must be an integer in 1..10, got {severity!r}")
        if not alpha > 0:
            raise UserError(f"augmix alpha must be > 0, got {alpha!r}")
        self.width = width
        self.depth = depth
        self.severity = severity
        self.alpha = float(alpha)
        self.op_names = resolve_op_names(ops, all_ops)
        self.ops: list[Op] = [OPS[name] for name in self.op_names]
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self._image_size = 32  # set from the images on every apply (augmentations.py IMAGE_SIZE)

    def __repr__(self) -> str:
        return (
            f"AugmentAndMix(width={self.width}, depth={self.depth}, severity={self.severity}, alpha={self.alpha}, "
            f"ops={list(self.op_names)})"
        )

    # ------------------------------------------------------------------------------------------ sampling
    def make_params(self, n: int, generator: torch.Generator) -> AugMixParams:
        """Draw everything random for n images on the generator's device, in a fixed order."""
        k = self.width
        steps = self.depth if self.depth > 0 else MAX_RANDOM_DEPTH
        if self.depth > 0:
            depths = torch.full((n, k), self.depth, dtype=torch.long, device=generator.device)
        else:
            depths = sampling.randint((n, k), 1, MAX_RANDOM_DEPTH + 1, generator)
        ops = sampling.randint((n, k, steps), 0, len(self.ops), generator)
        step_index = torch.arange(steps, device=generator.device)
        ops = torch.where(step_index < depths.unsqueeze(2), ops, -1)
        levels = sampling.uniform((n, k, steps), 0.1, float(self.severity), generator)  # sample_level: U(0.1, n)
        signs = sampling.random_signs((n, k, steps), generator)
        weights = sampling.dirichlet(n, k, self.alpha, generator)  # np.random.dirichlet([alpha] * k)
        mix = sampling.beta(n, self.alpha, generator)  # np.random.beta(alpha, alpha)
        return AugMixParams(ops=ops, levels=levels, signs=signs, weights=weights, mix=mix)

    # -------------------------------------------------------------------------------------------- apply
    def _chunk_size(self, images: Tensor) -> int:
        """Images per chunk: on CPU, small enough that temporaries stay in cache and out of mmap'd allocations."""
        if images.device.type != "cpu":
            return max(1, images.shape[0])
        return max(1, CPU_CHUNK_PIXELS // (images.shape[2] * images.shape[3]))

    def _step_table(self, params: AugMixParams, device: torch.device) -> tuple[Tensor, Tensor]:
        """Per chain row (image-major, N·k) and step: op id (-1 = none) and PIL argument."""
        n, k, steps = params.ops.shape
        ops = params.ops.to(device)
        arguments = augmix_arguments(
            self.op_names, ops, params.levels.to(device), params.signs.to(device), self._image_size
        )
        return ops.reshape(n * k, steps), arguments.reshape(n * k, steps)

    def _chains(self, images: Tensor, op_ids: Tensor, arguments: Tensor) -> Tensor:
        """uint8 (N, k, C, H, W): chain i of image n at [n, i], all its ops applied (``ops.apply_chains``: sorted
        engine, rows grouped by op per step; masked engine, rows in order and nothing read to the host)."""
        n, c, h, w = images.shape
        source = torch.arange(n * self.width, device=images.device) // self.width
        rows = apply_chains(images, op_ids, arguments, self.ops, source_rows=source, engine=self.engine)
        return rows.view(n, self.width, c, h, w)

    def _check_params(self, images: Tensor, params: AugMixParams) -> None:
        _check_images(images)
        if tuple(params.ops.shape[:2]) != (images.shape[0], self.width):
            raise ValueError(
                f"params are for {tuple(params.ops.shape[:2])} (images, chains), got {(images.shape[0], self.width)}"
            )

    def augment_chains(self, images: Tensor, params: AugMixParams) -> Tensor:
        """uint8 (k, N, C, H, W): every chain of every image (chain i of image n at [i, n])."""
        self._check_params(images, params)
        self._image_size = images.shape[3]
        op_ids, arguments = self._step_table(params, images.device)
        return self._chains(images, op_ids, arguments).transpose(0, 1).contiguous()

    def apply(self, images: Tensor, params: AugMixParams) -> Tensor:
        """float32 (N, C, H, W): ``(1 - m)·norm(x) + m·Σ_i w_i·norm(chain_i(x))``.

        Normalization is affine and the coefficients sum to 1, so the mix is one batched matmul on [0, 255] values,
        normalized once (equal to the reference's order up to float32 rounding, ~1e-6). On CPU the batch is
        processed in cache-sized chunks; results do not depend on the chunking.
        """
        self._check_params(images, params)
        n, c, h, w = images.shape
        k = self.width
        out = torch.empty((n, c, h, w), dtype=torch.float32, device=images.device)
        # cached off the CPU (a fresh host->device copy would sync the step)
        scale = device_constant(tuple(1 / (255.0 * s) for s in self.std), images.device).reshape(1, c, 1)
        shift = device_constant(tuple(-mu / s for mu, s in zip(self.mean, self.std)), images.device).reshape(1, c, 1)
        self._image_size = w
        op_ids, arguments = self._step_table(params, images.device)
        m = params.mix.to(images.device).reshape(-1, 1)
        coefs = torch.cat([1 - m, m * params.weights.to(images.device)], dim=1).unsqueeze(1)  # (N, 1, k+1)
        if ops_module.resolve_engine(self.engine, images.device, w, self.op_names) == "compiled":
            # chains, mix and normalization fused in one compiled loop per image
            return compiled.augment_and_mix(
                images,
                self.op_names,
                op_ids,
                arguments,
                coefs.squeeze(1),
                [1 / (255.0 * s) for s in self.std],
                [-mu / s for mu, s in zip(self.mean, self.std)],
            )
        chunk = self._chunk_size(images)
        # mixing runs in smaller pieces than the ops: its float (k+1)-view buffer then stays in cache
        piece = min(chunk, max(1, MIX_CHUNK_PIXELS // (h * w))) if images.device.type == "cpu" else chunk
        # float copies of the chains and the mix, allocated once and reused by every piece (no per-chunk allocations)
        chains_f = torch.empty((min(n, piece), k + 1, c * h * w), dtype=torch.float32, device=images.device)
        mixed = torch.empty((min(n, piece), 1, c * h * w), dtype=torch.float32, device=images.device)
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            rows = slice(start * k, stop * k)
            buf = self._chains(images[start:stop], op_ids[rows], arguments[rows]).reshape(stop - start, k, -1)
            for first in range(start, stop, piece):
                last = min(stop, first + piece)
                count = last - first
                chains_f[:count, 0].copy_(images[first:last].reshape(count, -1))  # uint8 -> float once
                chains_f[:count, 1:].copy_(buf[first - start : last - start])
                torch.bmm(coefs[first:last], chains_f[:count], out=mixed[:count])  # (count, 1, C*H*W)
                target = out[first:last].view(count, c, h * w)
                torch.addcmul(shift, mixed[:count].reshape(count, c, h * w), scale, out=target)
        return out

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        return self.apply(images, self.make_params(images.shape[0], generator))

    def views(
        self, images: Tensor, arity: int, generator: torch.Generator, clean: Tensor | None = None
    ) -> list[Tensor]:
        """JSD views: [normalized clean, AugMix view 1, ..., view arity-1] (independent draws, one batched call)."""
        from augmix_lab.augment.functional import normalize

        if not isinstance(arity, int) or not 1 <= arity <= MAX_JSD_ARITY:
            raise UserError(f"jsd arity must be an integer in 1..{MAX_JSD_ARITY}, got {arity!r}")
        n = images.shape[0]
        first = normalize(images, self.mean, self.std) if clean is None else clean
        if arity == 1:
            return [first]
        stacked = images.repeat(arity - 1, 1, 1, 1)
        mixed = self.apply(stacked, self.make_params(stacked.shape[0], generator))
        return [first, *mixed.split(n)]


def _check_images(images: Tensor) -> None:
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise TypeError(f"expected uint8 N×C×H×W images, got {images.dtype} with shape {tuple(images.shape)}")
