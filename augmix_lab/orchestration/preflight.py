"""Pre-flight input check: every trial's dataset and required benchmark files, all problems listed at once.

Runs on the driver before Ray starts, so a study whose data is absent stops with one message listing every missing
dataset or benchmark with the exact command that fetches or makes it (exit 2), instead of failing trial by trial.
Evaluation sources ``auto`` and ``on_the_fly`` need no files (``auto`` falls back to generating on the fly).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from augmix_lab.config import TrialConfig
from augmix_lab.errors import UserError


def _dataset_problem(cfg: TrialConfig, root: Path) -> str | None:
    from augmix_lab.data import DATASETS, DOWNLOADS, load_dataset
    from augmix_lab.data.download import cached_checksums

    name = cfg.dataset.name
    download = DATASETS.meta(name).get("download")
    if download and download in DOWNLOADS:  # a downloadable: present, and every file it reads passes its checksum
        spec = DOWNLOADS.get(download)
        how = f"augmix-lab data download {download} --data-root {root}"
        if not spec.present(root):
            return f"dataset {name}: not found in {root}; get it with: {how}"
        with cached_checksums():  # a full check once per file version (size + mtime), then cached
            problems = spec.problems(root)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return f"dataset {name}: {problems[0]}{more}; get it again with: {how}"
        return None
    try:  # generated (cached on first load, which also spares the workers) or manual (ImageNet folders)
        load_dataset(name, root, **cfg.dataset.options)
    except UserError as exc:
        return f"dataset {name}: {exc}"
    return None


def _benchmark_dir_has(directory: Path, name: str) -> bool:
    """A -C/-P entry in either released layout: ``<name>.npy`` arrays (CIFAR) or a ``<name>/`` folder (ImageNet)."""
    from augmix_lab.corruptions.released import has_folder_corruption

    return (directory / f"{name}.npy").is_file() or has_folder_corruption(directory, name)


def _benchmark_problems(cfg: TrialConfig, root: Path) -> list[str]:
    from augmix_lab.corruptions import released
    from augmix_lab.corruptions.constants import BENCHMARK_CORRUPTIONS, TEST_PERTURBATIONS
    from augmix_lab.corruptions.generate import profile_for_name
    from augmix_lab.corruptions.registry import corruption_names
    from augmix_lab.corruptions.sources import download_command, make_command

    ds = cfg.dataset.name
    problems = []
    checks = []
    c, b, p = cfg.eval.corruptions, cfg.eval.c_bar, cfg.eval.perturbations
    if c.enabled and c.source in ("released", "generated"):
        checks.append(("C", c.source, tuple(c.names or BENCHMARK_CORRUPTIONS)))
    if b.enabled and b.source in ("released", "generated"):
        checks.append(
            ("C-bar", b.source, tuple(b.names or corruption_names(suite="c_bar", profile=profile_for_name(ds))))
        )
    if p.enabled and p.source in ("released", "generated"):
        checks.append(("P", p.source, tuple(p.names or TEST_PERTURBATIONS)))
    for kind, source, names in checks:
        directory = (released.released_dir if source == "released" else released.generated_dir)(root, ds, kind)
        absent = [n for n in names if not _benchmark_dir_has(directory, n)]
        if kind != "P" and source == "released" and ds.startswith("cifar") and not (directory / "labels.npy").is_file():
            absent.insert(0, "labels")
        if kind == "C-bar":
            how = download_command(ds, kind, root) if source == "released" else make_command(ds, kind, root)
        elif source == "released":
            how = f"augmix-lab data download {ds.replace('_', '-')}-{kind.lower()} --data-root {root}"
        else:
            how = f"augmix-lab data make-{kind.lower()} --dataset {ds} --data-root {root}"
        field = {"C": "corruptions", "C-bar": "c_bar", "P": "perturbations"}[kind]
        if absent:
            problems.append(
                f"{directory} (eval.{field}.source {source!r}) lacks {', '.join(absent[:4])}"
                f"{' ...' if len(absent) > 4 else ''}; get it with: {how}"
            )
            continue
        arrays = [directory / f"{n}.npy" for n in ("labels", *names) if (directory / f"{n}.npy").is_file()]
        damaged = [f"{p} ({why})" for p in arrays if (why := npy_problem(p))]
        if damaged:
            problems.append(
                f"{damaged[0]}{f' and {len(damaged) - 1} more' if len(damaged) > 1 else ''} "
                f"(eval.{field}.source {source!r}); get it again with: {how}"
            )
    return problems


def npy_problem(path: Path) -> str | None:
    """A ``.npy`` file's format check without reading its data: numpy parses the header and memory-maps the array,
    which fails when the file holds fewer bytes than the header declares (a truncated download or copy)."""
    import numpy as np

    try:
        with open(path, "rb") as fh:
            if fh.read(6) != b"\x93NUMPY":  # the .npy magic (numpy/lib/format.py: MAGIC_PREFIX)
                return "not a .npy file"
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        return f"not a readable .npy array: {exc}"
    del array
    return None


def missing_inputs(configs: Iterable[TrialConfig], data_root: str | None = None) -> list[str]:
    """One line per missing or damaged dataset or benchmark among ``configs`` (each distinct input checked once)."""
    from augmix_lab.data import resolve_data_root

    problems: list[str] = []
    seen: set[Any] = set()
    for cfg in configs:
        root = resolve_data_root(cfg.dataset.root or data_root)
        ds_key = ("dataset", cfg.dataset.name, json.dumps(cfg.dataset.options, sort_keys=True, default=str), str(root))
        if ds_key not in seen:
            seen.add(ds_key)
            problem = _dataset_problem(cfg, root)
            if problem:
                problems.append(problem)
        ev_key = (
            "eval",
            cfg.dataset.name,
            cfg.eval.corruptions.model_dump_json(),
            cfg.eval.c_bar.model_dump_json(),
            cfg.eval.perturbations.model_dump_json(),
            str(root),
        )
        if ev_key not in seen:
            seen.add(ev_key)
            problems += [p for p in _benchmark_problems(cfg, root) if p not in problems]
    return problems


def check_inputs(configs: Iterable[TrialConfig], data_root: str | None = None, what: str = "study") -> None:
    """Raise one ``UserError`` listing every missing input (nothing has started yet)."""
    problems = missing_inputs(configs, data_root)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise UserError(f"{what}: {len(problems)} missing input(s), nothing started:\n{lines}")
