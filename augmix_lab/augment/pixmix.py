"""PixMix (Hendrycks, Zou, Mazeika, Tang, Li, Song, Steinhardt; CVPR 2022), per image on the device.

Follows andyzoujm/pixmix (commit 1324eb7): ``cifar.py`` / ``imagenet.py`` ``pixmix()`` and ``augment_input()``,
``pixmix_utils.py`` (``get_ab``, ``add``, ``multiply``, the AugMix ops). Per image: start from the image or, with
probability 1/2, one random AugMix op of it; then ``U{0..k}`` times mix in (add or multiply, each with probability 1/2)
either another one-op augmentation of the image or the image's mixing picture (probability 1/2 each), clipping to
[0, 1] after every mix. The one-op augmentations are AugMix's (``AugmentAndMix`` chains of depth 1: op uniform over
the list, level ~ U(0.1, severity), random sign), so PixMix runs on AugMix's op engines.

Mixing set: each image draws one picture (``PixMixDataset.__getitem__``) resized like the official
``Resize(36) + RandomCrop(32)`` (ImageNet ``Resize(256) + RandomCrop(224)``): pictures are stored at the resize
size and each image takes a random crop. Default: seeded procedural IFS fractals (``augment/fractals.py``);
``mixing_set: DIR`` reads the released set (or any folder of images). Folder pictures are stored centre-cropped to a
square after the resize, so a random crop never reaches the far ends of a non-square picture's long side.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, field_validator
from torch import Tensor

from augmix_lab.augment import functional as F
from augmix_lab.augment import sampling
from augmix_lab.augment.augmix import AugmentAndMix
from augmix_lab.augment.base import AUGMENTATIONS, Method, MethodParams
from augmix_lab.augment.fractals import GENERATOR_VERSION, fractal_images
from augmix_lab.errors import UserError

# cifar.py: --beta 3, --aug-severity 3; imagenet.py: --beta 4, --aug-severity 1
KIND_DEFAULTS: dict[str, dict[str, float | int]] = {
    "cifar": {"beta": 3.0, "severity": 3},
    "imagenet": {"beta": 4.0, "severity": 1},
}
# cifar.py mixing_set_transform Resize(36) + RandomCrop(32); imagenet.py Resize(256) + RandomCrop(224)
RESIZE_RATIO: dict[str, float] = {"cifar": 36 / 32, "imagenet": 256 / 224}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
_MIXING_CACHE: dict[tuple[Any, ...], Tensor] = {}  # loaded/generated mixing sets, per process


class PixMixParams(MethodParams):
    """PixMix's options (``method_params.pixmix``); null fields take the official script of the dataset kind."""

    k: int = Field(4, ge=0, description="an integer >= 0: at most k mixing rounds")  # cifar.py --k 4
    beta: float | None = Field(None, gt=0, description="null (CIFAR 3, ImageNet 4) or > 0: mixing severity")
    severity: int | None = Field(None, ge=1, le=10, description="null (CIFAR 3, ImageNet 1) or an integer in 1..10")
    # README "Training recipes used in our paper": cifar.py/imagenet.py --all-ops (the flag's default is off)
    all_ops: bool = Field(True, description="true or false (add color, contrast, brightness, sharpness)")
    mixing_set: str | None = Field(
        None,
        description="null (procedural IFS fractals) or the absolute path of a folder "
        "of images (e.g. the released PixMix mixing set)",
    )
    fractals: int = Field(1000, ge=1, description="an integer >= 1: procedural fractals in the default mixing set")
    fractal_seed: int = Field(0, ge=0, description="an integer >= 0: seed of the procedural fractals")

    @field_validator("mixing_set")
    @classmethod
    def _folder(cls, v: str | None) -> str | None:
        if v is None:
            return v
        path = Path(v).expanduser()
        if not path.is_absolute():
            raise ValueError(f"mixing_set {v!r} is relative: give an absolute path (trials run in other directories)")
        if not path.is_dir():
            raise ValueError(f"mixing_set {v!r} is not a folder")
        if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.rglob("*")):
            raise ValueError(f"mixing_set {v!r} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        return v


def get_ab(shape: tuple[int, ...], beta: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """pixmix_utils.py ``get_ab``: with probability 1/2 a ~ Beta(β, 1), b ~ Beta(1, β); else a = 1 + Beta(1, β),
    b = -Beta(1, β), two independent draws (float32). Beta(β, 1) = U^(1/β) and Beta(1, β) = 1 - U^(1/β) exactly."""
    u = sampling.uniform((4, *shape), 0.0, 1.0, generator)
    first = u[0] < 0.5
    a = torch.where(first, u[1] ** (1 / beta), 2 - u[1] ** (1 / beta))  # Beta(beta, 1) | 1 + Beta(1, beta)
    b = torch.where(first, 1 - u[2] ** (1 / beta), u[3] ** (1 / beta) - 1)  # Beta(1, beta) | -Beta(1, beta), anew
    return a.float(), b.float()


def mix_add(img1: Tensor, img2: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """pixmix_utils.py ``add``: a·(2x1 - 1) + b·(2x2 - 1), mapped back by (out + 1) / 2."""
    img1, img2 = img1 * 2 - 1, img2 * 2 - 1
    return (a * img1 + b * img2 + 1) / 2


def mix_multiply(img1: Tensor, img2: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """pixmix_utils.py ``multiply``: (2x1)^a · max(2x2, 1e-37)^b / 2."""
    img1, img2 = img1 * 2, img2 * 2
    return (img1**a) * (img2.clip(1e-37) ** b) / 2


def mixing_size(kind: str, image_size: int) -> int:
    return int(round(image_size * RESIZE_RATIO[kind]))


def load_mixing_folder(folder: str, size: int) -> Tensor:
    """Every image under ``folder`` (sorted paths) as the official ``ImageFolder`` + ``Resize(size)`` reads it (PIL,
    RGB, shorter side to ``size``, bilinear), centre-cropped to size × size: uint8 (count, 3, size, size)."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms import functional as TVF

    files = sorted(p for p in Path(folder).expanduser().rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise UserError(f"method_params.pixmix.mixing_set: {folder!r} holds no image files")
    out = torch.empty((len(files), 3, size, size), dtype=torch.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as image:
                picture = TVF.center_crop(TVF.resize(image.convert("RGB"), size), size)
        except (OSError, UnidentifiedImageError) as exc:
            raise UserError(f"method_params.pixmix.mixing_set: cannot read {path}: {exc}") from None
        out[i] = torch.from_numpy(np.asarray(picture, dtype=np.uint8).copy()).permute(2, 0, 1)
    return out


def mixing_pictures(params: dict[str, Any], size: int) -> Tensor:
    """The mixing set at ``size`` px, cached per process (folder listing or fractal arguments as the key)."""
    folder = params["mixing_set"]
    if folder is None:
        key: tuple[Any, ...] = ("fractals", GENERATOR_VERSION, params["fractals"], size, params["fractal_seed"])
    else:
        files = sorted(p for p in Path(folder).expanduser().rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        stamp = hashlib.sha256("\n".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files).encode())
        key = ("folder", folder, size, stamp.hexdigest())
    if key not in _MIXING_CACHE:
        _MIXING_CACHE[key] = (
            fractal_images(params["fractals"], size, params["fractal_seed"])
            if folder is None
            else load_mixing_folder(folder, size)
        )
    return _MIXING_CACHE[key]


@AUGMENTATIONS.register("pixmix")
class PixMixMethod(Method):
    """PixMix with its ``PixMixParams``: a view producer (the paper trains without JSD; JSD views work too)."""

    Params = PixMixParams
    produces_views = True

    def setup(self) -> None:
        p = self.params
        kind = KIND_DEFAULTS[self.ctx.kind]
        self.k = p["k"]
        self.beta = float(p["beta"] if p["beta"] is not None else kind["beta"])
        severity = int(p["severity"] if p["severity"] is not None else kind["severity"])
        # augment_input: one op (a depth-1 chain) per augmented copy; copy 0 starts the mix, copy i+1 feeds round i
        self.ops = AugmentAndMix(
            width=self.k + 1, depth=1, severity=severity, all_ops=p["all_ops"], mean=self.ctx.mean, std=self.ctx.std
        )
        self.size = mixing_size(self.ctx.kind, self.ctx.image_size)
        self.pictures = mixing_pictures(p, self.size)
        self._on_device: dict[str, Tensor] = {}

    def pictures_on(self, device: torch.device) -> Tensor:
        if str(device) not in self._on_device:
            self._on_device[str(device)] = self.pictures.to(device)
        return self._on_device[str(device)]

    def mixing_crops(self, n: int, height: int, width: int, generator: torch.Generator, device: torch.device) -> Tensor:
        """uint8 (n, 3, height, width): a random picture per image, randomly cropped (``RandomCrop``)."""
        pictures = self.pictures_on(device)
        pick = sampling.randint((n,), 0, pictures.shape[0], generator).to(device)
        top = sampling.randint((n,), 0, self.size - height + 1, generator).to(device)
        left = sampling.randint((n,), 0, self.size - width + 1, generator).to(device)
        rows = (top[:, None] + torch.arange(height, device=device)[None]).view(n, 1, height, 1)
        cols = (left[:, None] + torch.arange(width, device=device)[None]).view(n, 1, 1, width)
        chosen = pictures.index_select(0, pick)
        flat = (rows * self.size + cols).expand(n, 3, height, width).reshape(n, 3, -1)
        return chosen.reshape(n, 3, -1).gather(2, flat).view(n, 3, height, width)

    def view(self, images: Tensor, generator: torch.Generator) -> Tensor:
        n, c, h, w = images.shape
        if h > self.size or w > self.size:
            raise ValueError(f"images of {h}x{w} are larger than the mixing pictures ({self.size} px)")
        device, k = images.device, self.k
        params = self.ops.make_params(n, generator)
        d = {name: t.to(device) for name, t in sample_draws(n, k, self.beta, generator).items()}
        picture = self.mixing_crops(n, h, w, generator, device).float().div_(255)
        active = torch.arange(k, device=device)[None] < d["rounds"][:, None]
        used = torch.cat([d["start_augmented"][:, None], active & d["use_copy"]], 1)  # copies actually mixed in
        params.ops = torch.where(used.to(params.ops.device)[:, :, None], params.ops, -1)  # -1: no op, no work
        copies = self.ops.augment_chains(images, params).float().div_(255)  # (k + 1, n, C, H, W) in [0, 1]
        mixed = pixmix_mix(images.float().div_(255), copies, picture, **d)
        return F.normalize_float(mixed, self.ctx.mean, self.ctx.std)


def sample_draws(n: int, k: int, beta: float, generator: torch.Generator) -> dict[str, Tensor]:
    """cifar.py ``pixmix()``'s draws for n images: start augmented (``np.random.random() < 0.5``), rounds ~
    U{0..k} (``np.random.randint(k + 1)``); per round: the partner is an augmented copy (probability 1/2, else the
    mixing picture), multiply or add (``np.random.choice(mixings)``), and ``get_ab(beta)``."""
    uniform = sampling.uniform((2, n, max(k, 1)), 0.0, 1.0, generator)
    start = sampling.uniform((n,), 0.0, 1.0, generator) < 0.5
    rounds = sampling.randint((n,), 0, k + 1, generator)
    a, b = get_ab((n, max(k, 1)), beta, generator)
    return {
        "start_augmented": start,
        "rounds": rounds,
        "use_copy": uniform[0, :, :k] < 0.5,
        "multiply": uniform[1, :, :k] < 0.5,
        "a": a[:, :k],
        "b": b[:, :k],
    }


def pixmix_mix(
    orig: Tensor,
    copies: Tensor,
    picture: Tensor,
    start_augmented: Tensor,
    rounds: Tensor,
    use_copy: Tensor,
    multiply: Tensor,
    a: Tensor,
    b: Tensor,
) -> Tensor:
    """cifar.py ``pixmix()`` for a batch with its draws given: float [0, 1] images ``orig`` (n, C, H, W), their
    one-op augmented ``copies`` (k + 1, n, C, H, W) and mixing ``picture`` (n, C, H, W); per image whether it starts
    augmented, its number of rounds; per image and round whether the partner is a copy, whether to multiply (else
    add) and the (a, b) weights. Returns the mixed [0, 1] images (before normalization)."""
    n, k = orig.shape[0], use_copy.shape[1]
    mixed = torch.where(start_augmented.view(n, 1, 1, 1), copies[0], orig)
    active = torch.arange(k, device=orig.device)[None] < rounds[:, None]
    for i in range(k):
        partner = torch.where(use_copy[:, i].view(n, 1, 1, 1), copies[i + 1], picture)
        ai, bi = a[:, i].view(n, 1, 1, 1), b[:, i].view(n, 1, 1, 1)
        out = torch.where(
            multiply[:, i].view(n, 1, 1, 1), mix_multiply(mixed, partner, ai, bi), mix_add(mixed, partner, ai, bi)
        ).clip(0, 1)  # torch.clip(mixed, 0, 1) after every round
        mixed = torch.where(active[:, i].view(n, 1, 1, 1), out, mixed)
    return mixed
