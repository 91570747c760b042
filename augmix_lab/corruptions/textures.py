"""External resources of the -C kernels: the frost photographs, and the fog plasma fractal.

Frost: make_cifar_c.py / make_imagenet_c.py blend a random crop of one of the frost photographs frost1..frost5 (frost6
is never drawn: ``np.random.randint(5)``), read with cv2.imread (BGR, alpha dropped) and, for CIFAR, resized by 0.2
(``cv2.resize(fx=0.2, fy=0.2)``). The photographs come from the installed ``imagecorruptions`` package (pinned 1.1.2,
installed with ``--no-deps``: its metadata requires opencv-python, a second cv2 beside our opencv-python-headless),
whose wheel ships the same six files as hendrycks/robustness ``ImageNet-C/create_c/`` (sha256 below). We read them
as data only: the package is located by importlib and opened with importlib.resources without running its code (its
1.1.2 ``__init__`` imports pkg_resources, which today's setuptools no longer has).

Fallback, only when that package is absent: five procedural frost textures (ice needles over a dim noise film, from
fixed seeds, at the photographs' sizes). They are darker than the photographs (mean level ~78 vs ~160), so frost is
about half as strong; ``frost_origin()`` says which is in use, and results made with them are labelled (source
``+synthetic_frost``, marked in the report).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import importlib.util
import sys
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from augmix_lab.errors import UserError

if TYPE_CHECKING:
    from importlib.abc import Traversable

FROST_PACKAGE = "imagecorruptions"  # PyPI wheel shipping the photographs as package data (frost/frost*.png|jpg)
FROST_INSTALL = "pip install --no-deps -c constraints.txt imagecorruptions"  # --no-deps: it requires opencv-python
# sha256 of hendrycks/robustness ImageNet-C/create_c/frost1..6 (identical in imagecorruptions 1.1.2)
FROST_FILES = (
    ("frost1.png", "ff9f907860bd7a835d459e32f9d588062b7f61ee267343cc7222b56753a14755"),
    ("frost2.png", "fe211a89b336999c207a852ce05818d4545d0b57c5beadd824b4cc9d9a9b6137"),
    ("frost3.png", "2d0d50b4a9bb213f38b024ef7768731bb83cc08d2f26b5766bbc167cdfa0e504"),
    ("frost4.jpg", "3f8b91ca1a9fa7167b09e773da53f5ae60d0a1fd88f02a783f6e328a72887f6e"),
    ("frost5.jpg", "5fc6a19df4a429ba68abdcc8f8a4278d4c9f81c9ccafd2c92ab0c8cf8992ebd2"),
    ("frost6.jpg", "1f92b2f48408748085b68dd81d816ef239f42cef3029c25d041fcb6760fb4f25"),
)
FROST_DRAWN = 5  # make_cifar_c.py / make_imagenet_c.py: idx = np.random.randint(5), so frost6 is never used
# (height, width) of frost1..frost5 as cv2.imread gives them (frost6: 323x485, never drawn)
FROST_SIZES = ((600, 900), (315, 560), (315, 560), (350, 527), (495, 660))
SYNTHETIC_FROST = "synthetic_frost"  # source label of results made with the fallback textures
_FROST_SEEDS = (1, 2, 3, 4, 5)  # fixed: the fallback textures are data, not randomness of the corruption


def frost_photo_dir() -> Traversable | None:
    """The ``frost`` folder of the installed imagecorruptions package, or None when it is not installed."""
    spec = importlib.util.find_spec(FROST_PACKAGE)  # finds the package without importing (executing) it
    if spec is None or spec.submodule_search_locations is None:
        return None
    folder = importlib.resources.files(importlib.util.module_from_spec(spec)) / "frost"
    return folder if folder.is_dir() else None


def frost_origin() -> str:
    """ "photographs" when the frost photographs are installed, else "synthetic" (the labelled fallback)."""
    return "photographs" if frost_photo_dir() is not None else "synthetic"


def _read_photo(folder: Traversable, name: str, sha256: str) -> np.ndarray:
    data = (folder / name).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise UserError(
            f"{folder / name}: not the ImageNet-C frost photograph (sha256 differs); reinstall it with "
            f"'{FROST_INSTALL} --force-reinstall'"
        )
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # as cv2.imread: 3 channels, alpha dropped
    if bgr is None:  # checksum matched, so only a cv2 without an image codec gets here
        raise UserError(f"{folder / name}: OpenCV cannot decode this image")
    return np.ascontiguousarray(bgr[..., ::-1])  # reference: frost[..., [2, 1, 0]] (BGR -> RGB)


def _synthesise_frost(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    canvas = np.zeros((h, w), np.float32)
    # dim frozen film: multi-scale value noise
    for cells, amp in ((4, 0.10), (16, 0.08), (64, 0.06)):
        coarse = rng.random((cells, max(2, cells * w // h))).astype(np.float32)
        canvas += amp * cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    needles = np.zeros((h, w), np.float32)
    n_seeds = int(h * w / 900)
    for _ in range(n_seeds):
        y, x = rng.random() * h, rng.random() * w
        angle = rng.random() * np.pi
        length = rng.gamma(2.0, 12.0) * (h / 300 + 0.5)
        level = 0.3 + 0.7 * rng.random()
        for branch_angle, frac in ((0.0, 1.0), (np.pi / 3, 0.4), (-np.pi / 3, 0.4)):
            a = angle + branch_angle
            start = (
                (x, y) if branch_angle == 0 else (x + np.cos(angle) * length * 0.5, y + np.sin(angle) * length * 0.5)
            )
            end = (start[0] + np.cos(a) * length * frac, start[1] + np.sin(a) * length * frac)
            p0 = (int(start[0] * 16), int(start[1] * 16))
            p1 = (int(end[0] * 16), int(end[1] * 16))
            cv2.line(needles, p0, p1, float(level), 1, cv2.LINE_AA, shift=4)
    needles = cv2.GaussianBlur(needles, (0, 0), 0.6) + 0.5 * cv2.GaussianBlur(needles, (0, 0), 3.0)
    img = np.clip(1.8 * (canvas + needles), 0, 1)  # gain: overall level of a mid-bright frost photograph
    tint = np.array([0.86, 0.93, 1.0], np.float32)  # blue-white ice, RGB
    return np.round(img[..., None] * tint * 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def frost_textures(scale: float) -> tuple[np.ndarray, ...]:
    """frost1..frost5 as (H, W, 3) uint8 RGB, resized by ``scale`` like make_cifar_c.py (fx=fy=0.2).

    The photographs from the imagecorruptions package; without it, the synthetic fallback (with a note on stderr).
    """
    folder = frost_photo_dir()
    if folder is not None:
        images = [_read_photo(folder, name, sha) for name, sha in FROST_FILES[:FROST_DRAWN]]
    else:
        print(
            f"augmix-lab: note: the frost photographs are not installed ({FROST_INSTALL}); frost uses synthetic "
            "textures, about half as strong, and its results are labelled synthetic_frost",
            file=sys.stderr,
        )
        images = [_synthesise_frost(h, w, seed) for (h, w), seed in zip(FROST_SIZES, _FROST_SEEDS)]
    if scale != 1.0:  # cv2's default INTER_LINEAR, as the reference; per channel, so BGR/RGB order does not matter
        images = [cv2.resize(t, (0, 0), fx=scale, fy=scale) for t in images]
    return tuple(images)


def plasma_draws(
    batch: int,
    mapsize: int,
    generator: torch.Generator | None,
    device: torch.device | str = "cpu",
    wibbledecay: float | None = None,
) -> tuple[torch.Tensor, ...]:
    """The uniform draws of ``plasma_fractal`` in its order: per level (coarse to fine) 3 tensors (B, n, n) in [-1, 1)
    (float64 multiples of 2^-31).

    With ``wibbledecay`` each level's draws come pre-multiplied by its wibble twice (in place, the reference's
    ``wibble * (wibble * u)``, same values), for ``plasma_from_draws(..., prescaled=True)``.
    """
    if mapsize & (mapsize - 1):
        raise ValueError(f"mapsize must be a power of two, got {mapsize}")
    draws = []
    n = 1
    wibble = 100.0  # make_cifar_c.py plasma_fractal: wibble = 100
    while n <= mapsize // 2:  # one level per stepsize mapsize, mapsize/2, ..., 2
        for _ in range(3):  # square step, then the two diamond steps
            # uniform on [-1, 1) in steps of 2^-31: a 32-bit integer uniform times 2^-31 (exact in float64), two
            # per 64-bit generator call (half the calls of float64 torch.rand, the bulk of fog's sampling time)
            words = torch.randint(-(2**63), 2**63 - 1, (batch, (n * n + 1) // 2), generator=generator, device=device)
            d = words.view(torch.int32)[:, : n * n].reshape(batch, n, n).to(torch.float64).mul_(2**-31)
            draws.append(d if wibbledecay is None else d.mul_(wibble).mul_(wibble))
        n *= 2
        if wibbledecay is not None:
            wibble /= wibbledecay
    return tuple(draws)


def _add_rolled(
    a: torch.Tensor, b: torch.Tensor, shift: int, dim: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``a + torch.roll(b, shift, dim)`` for shift +-1 as two slice additions (no rolled copy); same values."""
    n = a.shape[dim]
    out = torch.empty_like(a) if out is None else out
    if shift == 1:  # roll by +1: element i reads b[i - 1]
        torch.add(a.narrow(dim, 1, n - 1), b.narrow(dim, 0, n - 1), out=out.narrow(dim, 1, n - 1))
        torch.add(a.narrow(dim, 0, 1), b.narrow(dim, n - 1, 1), out=out.narrow(dim, 0, 1))
    else:  # roll by -1: element i reads b[i + 1]
        torch.add(a.narrow(dim, 0, n - 1), b.narrow(dim, 1, n - 1), out=out.narrow(dim, 0, n - 1))
        torch.add(a.narrow(dim, n - 1, 1), b.narrow(dim, 0, 1), out=out.narrow(dim, n - 1, 1))
    return out


def _add_rolled_(a: torch.Tensor, b: torch.Tensor, shift: int, dim: int) -> torch.Tensor:
    """In place ``a += torch.roll(b, shift, dim)`` for shift +-1 (``b`` must not alias ``a``)."""
    n = a.shape[dim]
    if shift == 1:
        a.narrow(dim, 1, n - 1).add_(b.narrow(dim, 0, n - 1))
        a.narrow(dim, 0, 1).add_(b.narrow(dim, n - 1, 1))
    else:
        a.narrow(dim, 0, n - 1).add_(b.narrow(dim, 1, n - 1))
        a.narrow(dim, n - 1, 1).add_(b.narrow(dim, 0, 1))
    return a


def plasma_from_draws(
    draws: tuple[torch.Tensor, ...], mapsize: int, wibbledecay: float, prescaled: bool = False
) -> torch.Tensor:
    """make_cifar_c.py plasma_fractal (diamond-square heightmap in [0, 1]) from ``plasma_draws``: (B, S, S) float32.

    Deterministic given the draws, and per image, so it can run on any slice of the batch (cache-sized chunks).
    ``prescaled``: the draws were made with ``plasma_draws(..., wibbledecay=wibbledecay)``. The sums are formed in
    the reference's order (((dr + roll) + ul) + roll), without rolled copies, and each mean is written straight into
    the map: the same values with about half the passes over memory.
    """
    batch = draws[0].shape[0]
    m = torch.zeros(batch, mapsize, mapsize, dtype=torch.float64, device=draws[0].device)
    stepsize = mapsize
    wibble = 100.0  # make_cifar_c.py plasma_fractal: wibble = 100
    level = iter(draws)

    def wibbledmean(a: torch.Tensor, out: torch.Tensor) -> None:
        d = next(level)
        noise = d if prescaled else wibble * (wibble * d)
        torch.add(a.div_(4), noise, out=out)  # a is a temporary: a / 4 + wibble * (wibble * u), into the map

    while stepsize >= 2:
        half = stepsize // 2
        corners = m[:, 0:mapsize:stepsize, 0:mapsize:stepsize]
        slices = mapsize // stepsize >= 32  # small levels: fewer, rolled ops (Python overhead); same values
        sq = _add_rolled(corners, corners, -1, 1) if slices else corners + torch.roll(corners, -1, dims=1)
        sq = _add_rolled(sq, sq, -1, 2) if slices else sq + torch.roll(sq, -1, dims=2)
        wibbledmean(sq, m[:, half:mapsize:stepsize, half:mapsize:stepsize])
        dr = m[:, half:mapsize:stepsize, half:mapsize:stepsize]
        ul = m[:, 0:mapsize:stepsize, 0:mapsize:stepsize]
        if slices:
            lt = _add_rolled_(_add_rolled(dr, dr, 1, 1).add_(ul), ul, -1, 2)
        else:
            lt = dr + torch.roll(dr, 1, dims=1) + ul + torch.roll(ul, -1, dims=2)
        wibbledmean(lt, m[:, 0:mapsize:stepsize, half:mapsize:stepsize])
        if slices:
            tt = _add_rolled_(_add_rolled(dr, dr, 1, 2).add_(ul), ul, -1, 1)
        else:
            tt = dr + torch.roll(dr, 1, dims=2) + ul + torch.roll(ul, -1, dims=1)
        wibbledmean(tt, m[:, half:mapsize:stepsize, 0:mapsize:stepsize])
        stepsize //= 2
        wibble /= wibbledecay
    m.sub_(m.amin(dim=(1, 2), keepdim=True))
    return m.div_(m.amax(dim=(1, 2), keepdim=True)).float()


def plasma_fractal(
    batch: int, mapsize: int, wibbledecay: float, generator: torch.Generator | None, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """make_cifar_c.py plasma_fractal (diamond-square heightmap in [0, 1]) for ``batch`` maps at once: (B, S, S)."""
    return plasma_from_draws(plasma_draws(batch, mapsize, generator, device), mapsize, wibbledecay)


def fit_texture(tex: np.ndarray, h: int, w: int) -> np.ndarray:
    """Textures must be larger than the image for a random crop; enlarge (aspect kept) when the image is bigger."""
    th, tw = tex.shape[:2]
    if th > h and tw > w:
        return tex
    f = max((h + 1) / th, (w + 1) / tw)
    return cv2.resize(tex, (int(np.ceil(tw * f)), int(np.ceil(th * f))))


@functools.lru_cache(maxsize=8)
def frost_stack(scale: float, h: int, w: int, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """frost1..5 fitted to (h, w), zero-padded into one uint8 (5, 3, Hmax, Wmax) tensor on ``device``, and the room
    (5, 2) float64 (texture size minus image size) each leaves for a crop's corner.

    Cached per image size and device: a batch's crops are then one gather on the device, no host round trip.
    """
    fitted = [fit_texture(t, h, w) for t in frost_textures(scale)]
    hmax, wmax = max(t.shape[0] for t in fitted), max(t.shape[1] for t in fitted)
    stack = torch.zeros(len(fitted), 3, hmax, wmax, dtype=torch.uint8)
    for i, t in enumerate(fitted):
        stack[i, :, : t.shape[0], : t.shape[1]] = torch.from_numpy(t).permute(2, 0, 1)
    room = torch.tensor([(t.shape[0] - h, t.shape[1] - w) for t in fitted], dtype=torch.float64)
    return stack.to(device), room.to(device)
