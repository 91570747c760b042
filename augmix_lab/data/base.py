"""The dataset interface: `ImageDataset`, the `DATASETS` registry, `load_dataset` and `resolve_data_root`."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from augmix_lab.errors import UserError
from augmix_lab.registry import Registry

DATA_ROOT_ENV = "AUGMIX_LAB_DATA"  # overrides the per-user cache as the default data root

# reference augmix cifar.py: preprocess = Normalize([0.5] * 3, [0.5] * 3)
CIFAR_MEAN = (0.5, 0.5, 0.5)
CIFAR_STD = (0.5, 0.5, 0.5)
# reference augmix imagenet.py: Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

DatasetKind = Literal["cifar", "imagenet"]


@dataclass
class ImageDataset:
    """A train/test split pair of uint8 N×3×H×W RGB images with int64 labels.

    For ``kind="cifar"`` the image fields are CPU tensors. For ``imagenet`` they are lazy, indexable
    collections (``augmix_lab.data.imagenet.LazyImageFolder``) that decode files on demand.
    """

    name: str
    kind: DatasetKind
    train_images: Any
    train_labels: torch.Tensor
    test_images: Any
    test_labels: torch.Tensor
    classes: list[str]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    image_size: int
    version: str
    options: dict[str, Any] = field(default_factory=dict)
    profile: str | None = None  # -C/-P constants ("cifar"/"imagenet"); None: by kind (corruptions.generate.profile_for)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (
            f"ImageDataset(name={self.name!r}, kind={self.kind!r}, train={len(self.train_labels)}, "
            f"test={len(self.test_labels)}, classes={self.num_classes}, image_size={self.image_size}, "
            f"version={self.version!r})"
        )


Loader = Callable[..., ImageDataset]

# name -> loader(root: Path, **options) -> ImageDataset; meta: description, downloadable name (or None)
DATASETS: Registry[Loader] = Registry("dataset")


def resolve_data_root(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """The data root: ``--data-root`` > ``$AUGMIX_LAB_DATA`` > ``$XDG_CACHE_HOME/augmix-lab`` (``~/.cache/augmix-lab``)."""
    if cli_value:
        return Path(cli_value).expanduser().resolve()
    env_value = os.environ.get(DATA_ROOT_ENV)
    if env_value:
        return Path(env_value).expanduser().resolve()
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(cache_home).expanduser() / "augmix-lab").resolve()


def load_dataset(name: str, root: str | os.PathLike[str] | None = None, /, **options: Any) -> ImageDataset:
    """Load dataset ``name`` from ``root`` (see `resolve_data_root`); ``options`` are the loader's keyword options.

    ``root`` is positional so that a dataset may have an option named ``root`` (imagefolder's folder); a ``root=``
    keyword is the data root for every other dataset (older callers)."""
    loader = DATASETS.get(name)
    allowed = _option_names(loader)
    if "root" in options and "root" not in allowed:
        root = options.pop("root")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        allowed_text = ", ".join(allowed) if allowed else "none"
        raise UserError(f"dataset {name!r} has no option(s) {', '.join(unknown)}; allowed options: {allowed_text}")
    return loader(resolve_data_root(root), **options)


def dataset_version(name: str, **options: Any) -> str:
    """A cheap identity of dataset ``name`` with ``options``, computed without loading data (for planning keys).

    Equals ``ImageDataset.version`` for generated datasets; for file-backed ones (whose ``version`` hashes the
    decoded content) it names the expected official source instead.
    """
    loader = DATASETS.get(name)
    unknown = sorted(set(options) - set(_option_names(loader)))
    if unknown:
        raise UserError(
            f"dataset {name!r} has no option(s) {', '.join(unknown)}; allowed options: "
            f"{', '.join(_option_names(loader)) or 'none'}"
        )
    spec_version = DATASETS.meta(name).get("spec_version")
    return spec_version(**options) if callable(spec_version) else str(spec_version or name)


def planned_image_size(name: str, options: dict[str, Any] | None = None) -> int | None:
    """The side of the images dataset ``name`` yields, known without loading it: an ``image_size`` option, else the
    registered ``image_size`` (None when neither says)."""
    options = options or {}
    if "image_size" in options and isinstance(options["image_size"], int):
        return int(options["image_size"])
    return DATASETS.meta(name).get("image_size") if name in DATASETS else None


def dataset_options(name: str) -> list[str]:
    """The option names dataset ``name`` accepts."""
    return _option_names(DATASETS.get(name))


def _option_names(loader: Loader) -> list[str]:
    params = list(inspect.signature(loader).parameters.values())[1:]  # the first parameter is the root
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]


def missing_dataset_error(name: str, looked_in: Sequence[Path], root: Path, hint: str | None = None) -> UserError:
    """The one message for an absent dataset: where we looked and the exact command that fetches it."""
    places = ", ".join(str(p) for p in looked_in)
    how = hint or f"get it with: augmix-lab data download {name} --data-root {root}"
    return UserError(f"{name} not found: looked in {places}; {how}")


def check_int_option(dataset: str, option: str, value: Any, minimum: int) -> int:
    """A dataset option that must be an integer >= minimum, with a one-line error otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"dataset {dataset!r} option {option}={value!r} must be an integer >= {minimum}")
    return int(value)
