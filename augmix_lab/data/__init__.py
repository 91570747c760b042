"""Datasets as in-memory uint8 tensors (CIFAR archives, ImageNet folders, generated shapes), downloads, batching.

Importing this package registers the built-in datasets (`DATASETS`) and downloadables (`DOWNLOADS`).
"""

from augmix_lab.data import cifar as _cifar  # noqa: F401  (registers cifar10, cifar100)
from augmix_lab.data import imagefolder as _imagefolder  # noqa: F401  (registers imagefolder)
from augmix_lab.data import imagenet as _imagenet  # noqa: F401  (registers imagenet)
from augmix_lab.data import shapes as _shapes  # noqa: F401  (registers shapes)
from augmix_lab.data.base import (
    CIFAR_MEAN,
    CIFAR_STD,
    DATA_ROOT_ENV,
    DATASETS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageDataset,
    dataset_options,
    dataset_version,
    load_dataset,
    resolve_data_root,
)
from augmix_lab.data.batching import image_batches, iterate_batches
from augmix_lab.data.download import DOWNLOADS, Downloadable, DownloadError, RemoteFile, download_file, verify_file

__all__ = [
    "CIFAR_MEAN",
    "CIFAR_STD",
    "DATASETS",
    "DATA_ROOT_ENV",
    "DOWNLOADS",
    "DownloadError",
    "Downloadable",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageDataset",
    "RemoteFile",
    "dataset_options",
    "dataset_version",
    "download_file",
    "image_batches",
    "iterate_batches",
    "load_dataset",
    "resolve_data_root",
    "verify_file",
]
