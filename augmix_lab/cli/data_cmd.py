"""`augmix-lab data`: download, verify, list and describe datasets and -C/-P benchmarks; make and check -C/-P.

Each action's parser sets ``data_handler`` (a function ``(args) -> int``); `run` calls it. Exit codes: 0 ok,
1 a download or verification failed, 2 bad input (unknown name, bad option).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType
from typing import Any

from augmix_lab.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_subcommands(parser)


def add_data_root_argument(parser: argparse.ArgumentParser) -> None:
    """The shared ``--data-root`` flag (also used by the corruptions helper's make-c / make-p actions)."""
    parser.add_argument(
        "--data-root",
        metavar="DIR",
        default=None,
        help="data directory (default: $AUGMIX_LAB_DATA, else $XDG_CACHE_HOME/augmix-lab or ~/.cache/augmix-lab)",
    )


def add_data_subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = sub.add_parser("download", help="download (or, for shapes, generate) a dataset or benchmark into the data root")
    p.add_argument("name", help="a name from 'augmix-lab data list'")
    add_data_root_argument(p)
    p.set_defaults(data_handler=_download)

    p = sub.add_parser("verify", help="check that a dataset's files are present and match their checksums")
    p.add_argument("name", help="a name from 'augmix-lab data list'")
    add_data_root_argument(p)
    p.set_defaults(data_handler=_verify)

    p = sub.add_parser("list", help="list datasets and downloadables, and whether each is present")
    add_data_root_argument(p)
    p.set_defaults(data_handler=_list)

    p = sub.add_parser("info", help="load a dataset and print its shapes, classes and version")
    p.add_argument("name", help="a dataset name (see 'augmix-lab data list')")
    p.add_argument(
        "-o", "--option", action="append", default=[], metavar="KEY=VALUE", help="dataset option, e.g. -o n_train=2000"
    )
    add_data_root_argument(p)
    p.set_defaults(data_handler=_info)

    from augmix_lab.cli import benchmark_cmd  # make-c / make-p (parsers set data_handler)

    benchmark_cmd.add_subcommands(sub)
    from augmix_lab.cli import check_c_cmd  # check-c: our generator against released files

    check_c_cmd.add_subcommand(sub)
    return sub


def run(args: argparse.Namespace) -> int:
    return int(args.data_handler(args) or 0)


def _optional_module(name: str) -> ModuleType | None:
    """Import ``name`` if that module exists; a missing module (not yet written) is skipped, other errors surface."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name) and exc.name.startswith("augmix_lab.corruptions"):
            return None
        raise


def _catalogs() -> tuple[Any, Any]:
    """DATASETS and DOWNLOADS, with the corruptions package's downloadables registered when it exists."""
    from augmix_lab.data import DATASETS, DOWNLOADS

    _optional_module("augmix_lab.corruptions")
    return DATASETS, DOWNLOADS


def _unknown(name: str, datasets: Any, downloads: Any) -> UserError:
    names = sorted(set(datasets.names()) | set(downloads.names()))
    return UserError(f"unknown dataset or downloadable {name!r}. Allowed: {', '.join(names)}.")


def _fail(message: str) -> int:
    print(f"augmix-lab: error: {message}", file=sys.stderr)
    return 1


def _download(args: argparse.Namespace) -> int:
    from augmix_lab.data import DownloadError, load_dataset, resolve_data_root
    from augmix_lab.data.download import fetch

    datasets, downloads = _catalogs()
    root = resolve_data_root(args.data_root)
    if args.name in downloads:
        try:
            for line in fetch(args.name, root, progress=_Progress(args.name)):
                print(line)
        except DownloadError as exc:
            return _fail(str(exc))
        return 0
    if args.name not in datasets:
        raise _unknown(args.name, datasets, downloads)
    ds = load_dataset(args.name, root)  # generated datasets are made here; manual ones explain how to get them
    print(f"{args.name} is ready in {root} (version {ds.version})")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from augmix_lab.data import load_dataset, resolve_data_root

    datasets, downloads = _catalogs()
    root = resolve_data_root(args.data_root)
    if args.name in downloads:
        problems = downloads.get(args.name).problems(root)
        if problems:
            for problem in problems[1:]:
                print(f"  also: {problem}", file=sys.stderr)
            return _fail(f"{args.name} failed verification: {problems[0]}")
        print(f"{args.name}: ok ({root})")
        return 0
    if args.name not in datasets:
        raise _unknown(args.name, datasets, downloads)
    try:
        ds = load_dataset(args.name, root)
    except UserError as exc:
        return _fail(str(exc))
    print(f"{args.name}: ok, {len(ds.train_labels)} train / {len(ds.test_labels)} test images ({ds.version})")
    return 0


def _list(args: argparse.Namespace) -> int:
    from augmix_lab.data import resolve_data_root

    datasets, downloads = _catalogs()
    root = resolve_data_root(args.data_root)
    print(f"data root: {root}")
    print("datasets (augmix-lab data info NAME):")
    for name in datasets.names():
        meta = datasets.meta(name)
        download = meta.get("download")
        if download and download in downloads:
            state = "present" if downloads.get(download).present(root) else "missing"
        elif name == "imagenet":
            state = "present" if (root / "imagenet" / "train").is_dir() else "missing (manual download)"
        else:
            state = "generated on demand"
        print(f"  {name:<16} {state:<26} {meta.get('description', '')}")
    print("downloadables (augmix-lab data download NAME):")
    for name in downloads.names():
        spec = downloads.get(name)
        state = "present" if spec.present(root) else "missing"
        print(f"  {name:<16} {state:<26} {spec.description}")
    return 0


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``-o KEY=VALUE`` flags as dataset options (values parsed as YAML scalars)."""
    import yaml

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--option {pair!r} must look like KEY=VALUE, e.g. n_train=2000")
        options[key.strip()] = yaml.safe_load(value)
    return options


def _info(args: argparse.Namespace) -> int:
    from augmix_lab.data import load_dataset, resolve_data_root

    options = parse_options(args.option)
    ds = load_dataset(args.name, resolve_data_root(args.data_root), **options)

    def describe(images: Any) -> str:
        if hasattr(images, "shape"):
            return f"{tuple(images.shape)} {str(images.dtype).replace('torch.', '')}"
        return f"{len(images)} images decoded on demand (uint8 3×H×W)"

    classes = ", ".join(ds.classes[:12]) + (f", ... ({ds.num_classes} in all)" if ds.num_classes > 12 else "")
    print(f"name:        {ds.name}")
    print(f"kind:        {ds.kind}")
    print(f"train:       {describe(ds.train_images)}, labels {tuple(ds.train_labels.shape)}")
    print(f"test:        {describe(ds.test_images)}, labels {tuple(ds.test_labels.shape)}")
    print(f"classes:     {classes}")
    print(f"image_size:  {ds.image_size}")
    print(f"mean / std:  {ds.mean} / {ds.std}")
    print(f"version:     {ds.version}")
    return 0


class _Progress:
    """Prints a download's progress to stderr every 10 %."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.last = -1

    def __call__(self, done: int, total: int | None) -> None:
        if not total:
            return
        tenth = 10 * done // total
        if tenth != self.last:
            self.last = tenth
            print(f"{self.name}: {done / 2**20:.1f} / {total / 2**20:.1f} MiB", file=sys.stderr)
