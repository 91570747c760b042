"""Download catalog entries of the released -C / -P benchmarks, registered in ``augmix_lab.data.download.DOWNLOADS``.

URLs, sizes and checksums come from the facts sheet (/work/shared/papers/augmix-facts.md Sec. 2) with their sources;
where no checksum is published anywhere we could read, the entry has none and ``verify`` checks the extracted layout.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from augmix_lab.corruptions import released


def _entries() -> list:
    from augmix_lab.data.download import Downloadable, RemoteFile

    zenodo_c = "https://zenodo.org/record/2235448/files"  # ImageNet-C (hendrycks/robustness README, augmix imagenet.py)
    zenodo_p = "https://zenodo.org/record/3565846/files"  # ImageNet-P (hendrycks/robustness README)
    return [
        Downloadable(
            name="cifar10-c",
            files=(
                RemoteFile(
                    url="https://zenodo.org/record/2535967/files/CIFAR-10-C.tar",  # augmix README; robustbench data.py
                    filename="CIFAR-10-C.tar",
                    md5="56bf5dcef84df0e2308c6dcbcbbd8499",  # pytorch-ood cifar.py (facts Sec. 2)
                    size=2918471680,  # tensorflow/datasets url_checksums/cifar10_corrupted.txt
                ),
            ),
            description="CIFAR-10-C: 19 corruptions x 5 severities of the CIFAR-10 test set (.npy)",
            extract=True,
            extract_dir="CIFAR-10-C",
            verify=partial(_verify, "cifar10-c"),
        ),
        Downloadable(
            name="cifar100-c",
            files=(
                RemoteFile(
                    url="https://zenodo.org/record/3555552/files/CIFAR-100-C.tar",  # augmix README; robustbench data.py
                    filename="CIFAR-100-C.tar",
                    md5="11f0ed0f1191edbf9fa23466ae6021d3",  # pytorch-ood cifar.py (facts Sec. 2)
                    size=2918473216,  # tensorflow/datasets url_checksums/cifar100_corrupted.txt
                ),
            ),
            description="CIFAR-100-C: 19 corruptions x 5 severities of the CIFAR-100 test set (.npy)",
            extract=True,
            extract_dir="CIFAR-100-C",
            verify=partial(_verify, "cifar100-c"),
        ),
        Downloadable(
            name="cifar10-p",
            files=(
                RemoteFile(
                    url="https://zenodo.org/record/2535967/files/CIFAR-10-P.tar",  # how-do-vits-work ops/cifarp.py
                    filename="CIFAR-10-P.tar",
                    md5="125d6775afc5846ea84584d7524dedff",  # pytorch-ood (commented), how-do-vits-work (facts Sec. 2)
                ),
            ),
            description="CIFAR-10-P: perturbation sequences (N, T, 32, 32, 3) of the CIFAR-10 test set (.npy)",
            extract=True,
            extract_dir="CIFAR-10-P",
            verify=partial(_verify, "cifar10-p"),
        ),
        Downloadable(
            name="tiny-imagenet-c",
            files=(
                RemoteFile(
                    url="https://zenodo.org/record/2536630/files/Tiny-ImageNet-C.tar",  # hendrycks/robustness README
                    filename="Tiny-ImageNet-C.tar",  # no published checksum found: the layout is verified instead
                ),
            ),
            description="Tiny-ImageNet-C: 15 corruptions x 5 severities (JPEG folders)",
            extract=True,
            extract_dir="Tiny-ImageNet-C",
            verify=partial(_verify, "tiny-imagenet-c"),
        ),
        Downloadable(
            name="imagenet-c",
            files=tuple(
                RemoteFile(url=f"{zenodo_c}/{part}.tar", filename=f"ImageNet-C/{part}.tar")
                for part in ("noise", "blur", "weather", "digital", "extra")  # Zenodo 2235448 (facts Sec. 2)
            ),
            description="ImageNet-C: 19 corruptions x 5 severities of the ImageNet val set (5 tars, JPEG folders)",
            extract=False,
            extract_dir="ImageNet-C",
            verify=partial(_verify, "imagenet-c"),
            notes={"extract": "tars hold <corruption>/<severity>/<wnid>/; run 'tar -xf X.tar' inside ImageNet-C/"},
        ),
        Downloadable(
            name="imagenet-p",
            files=tuple(
                RemoteFile(url=f"{zenodo_p}/{part}.tar", filename=f"ImageNet-P/{part}.tar")
                for part in ("noise", "blur", "weather", "digital")  # Zenodo 3565846 (download scripts in the wild)
            ),
            description="ImageNet-P: perturbation videos <perturbation>/<wnid>/*.mp4 (4 tars)",
            extract=False,
            extract_dir="ImageNet-P",
            verify=partial(_verify, "imagenet-p"),
            notes={"extract": "run 'tar -xf X.tar' inside ImageNet-P/"},
        ),
        Downloadable(
            name="imagenet-c-bar",
            files=(
                RemoteFile(
                    # facebookresearch/augmentation-corruption README ("preprocessed ImageNet-C-bar dataset")
                    url="https://dl.fbaipublicfiles.com/inc_bar/imagenet_c_bar.tar.gz",
                    filename="ImageNet-C-Bar/imagenet_c_bar.tar.gz",  # no published checksum: the layout is verified
                ),
            ),
            description="ImageNet-C-bar (Mintun et al. 2021): 10 corruptions x 5 severities of the ImageNet val set "
            "(JPEG folders)",
            extract=False,
            extract_dir="ImageNet-C-Bar",
            verify=partial(_verify, "imagenet-c-bar"),
            notes={
                "extract": "run 'tar -xzf imagenet_c_bar.tar.gz' inside ImageNet-C-Bar/ (its own top folder may "
                "stay: the reader looks one level down)"
            },
        ),
    ]


def _verify(name: str, root: Path) -> list[str]:
    return released.verify(root, name)


def register_downloads() -> None:
    """Add the benchmark entries to the data catalog (idempotent; skipped when the data package is absent)."""
    try:
        from augmix_lab.data.download import DOWNLOADS
    except ImportError:  # the data package is optional for the kernels
        return
    for entry in _entries():
        if entry.name not in DOWNLOADS:
            DOWNLOADS.add(entry.name, entry)
