"""Which files a -C / -P evaluation reads: released benchmark, our generated copy, or corruption on the fly.

``source: auto`` takes the first complete one in that order. Only released files are the paper's benchmark (the
generated / on-the-fly kernels differ in documented ways, e.g. motion blur without ImageMagick), so each evaluated
cell carries the source it really used (frost from the synthetic fallback textures adds ``+synthetic_frost``), and a
fallback from ``auto`` for a dataset that has released files is warned about at ``plan`` and ``run`` with the
command that downloads them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from augmix_lab.corruptions import released
from augmix_lab.corruptions.generate import profile_for_name
from augmix_lab.corruptions.registry import check_corruption_names, check_perturbation_names
from augmix_lab.errors import UserError

SOURCES = ("released", "generated", "on_the_fly")


def download_name(dataset: str, kind: str) -> str | None:
    """The ``augmix-lab data download`` entry of ``dataset``'s released -C/-P files, or None when none is released."""
    from augmix_lab.data.download import DOWNLOADS

    name = f"{dataset.replace('_', '-')}-{kind.lower()}"
    return name if name in DOWNLOADS else None


def download_command(dataset: str, kind: str, root: Path | str) -> str:
    if kind == "C-bar" and download_name(dataset, kind) is None:  # no download: the reference script makes it
        return (
            f"python make_cifar10_c_bar.py --out_dir {root} (facebookresearch/augmentation-corruption imagenet_c_bar/)"
        )
    return f"augmix-lab data download {download_name(dataset, kind) or dataset + '-' + kind.lower()} --data-root {root}"


def make_command(dataset: str, kind: str, root: Path | str) -> str:
    suite = " --benchmark c_bar" if kind == "C-bar" else ""
    return f"augmix-lab data make-c --dataset {dataset}{suite} --data-root {root}"


def has_released(dataset: str, kind: str) -> bool:
    """Whether ``dataset`` has released -C (or C-bar) files: a download entry, or a released C-bar layout."""
    return download_name(dataset, kind) is not None or (kind == "C-bar" and (dataset, kind) in released.RELEASED_DIRS)


def _has_c(directory: Path, names: Sequence[str], folder: bool | None) -> bool:
    npy = released.CorruptionSet(directory)
    return all(
        (released.has_folder_corruption(directory, n) if folder is not False else False)
        or (npy.has(n) if folder is not True else False)
        for n in names
    )


def resolve_c_source(
    dataset: str, source: str, names: Sequence[str], root: Path | str, folder: bool | None = None, kind: str = "C"
) -> str:
    """The -C source to read for ``names``: "released", "generated" or "on_the_fly" (``source`` may be "auto").

    ``folder``: True for JPEG-folder releases (ImageNet kind), False for .npy (CIFAR kind), None for either.
    ``kind``: "C" or "C-bar" (eval.c_bar). A requested released / generated source that is missing raises
    UserError with the command that makes it.
    """
    root = Path(root)
    rel = released.released_dir(root, dataset, kind)
    gen = released.generated_dir(root, dataset, kind)
    has_released = _has_c(rel, names, folder)
    has_generated = all(released.CorruptionSet(gen).has(n) for n in names)
    field = "corruptions" if kind == "C" else "c_bar"
    if source == "released" and not has_released:
        raise UserError(
            f"eval.{field}.source 'released': {rel} is missing or incomplete (looked for "
            f"{', '.join(names[:3])}...); get it with '{download_command(dataset, kind, root)}', or use "
            f"source 'generated' / 'on_the_fly'"
        )
    if source == "generated" and not has_generated:
        raise UserError(
            f"eval.{field}.source 'generated': {gen} is missing or incomplete; make it with "
            f"'{make_command(dataset, kind, root)}'"
        )
    if source == "auto":
        return "released" if has_released else "generated" if has_generated else "on_the_fly"
    return source


def c_cell_source(dataset: str, name: str, source: str, root: Path | str) -> str:
    """The ``source`` label of one evaluated -C cell: ``source``, plus ``+synthetic_frost`` when frost came from the
    synthetic fallback textures (on the fly without the photographs installed, or generated files whose marker says
    so; markers older than the photographs, without the key, were made with the synthetic textures)."""
    from augmix_lab.corruptions.textures import SYNTHETIC_FROST, frost_origin

    if name != "frost" or source == "released":
        return source
    if source == "generated":
        marker = released.read_generated_marker(released.generated_dir(root, dataset, "C"))
        synthetic = marker.get("frost_textures", "synthetic") == "synthetic"
    else:
        synthetic = frost_origin() == "synthetic"
    return f"{source}+{SYNTHETIC_FROST}" if synthetic else source


def resolve_p_source(dataset: str, source: str, name: str, root: Path | str) -> str:
    """The -P source of perturbation ``name`` (auto: released .npy or mp4 folder, then generated, then on the fly)."""
    root = Path(root)
    rel = released.released_dir(root, dataset, "P")
    gen = released.generated_dir(root, dataset, "P")
    has_released = (rel / f"{name}.npy").is_file() or (rel / name).is_dir()
    if source == "released" and not has_released:
        raise UserError(
            f"eval.perturbations.source 'released': {rel / (name + '.npy')} (or {rel / name}/) is missing; "
            f"download it with '{download_command(dataset, 'P', root)}'"
        )
    if source == "generated" and not (gen / f"{name}.npy").is_file():
        raise UserError(
            f"eval.perturbations.source 'generated': {gen / (name + '.npy')} is missing; make it with "
            f"'augmix-lab data make-p --dataset {dataset} --data-root {root}'"
        )
    if source == "auto":
        return "released" if has_released else "generated" if (gen / f"{name}.npy").is_file() else "on_the_fly"
    return source


def fallback_warnings(configs: Iterable, data_root: str | Path | None = None) -> list[str]:
    """One line per (dataset, benchmark) whose ``source: auto`` would not read the released files although they exist.

    ``configs``: TrialConfig-like objects (``.dataset.name``, ``.eval``). An explicit ``released`` / ``generated``
    source whose files are missing under the data root raises UserError now, not after training; so do unknown names.
    """
    from augmix_lab.corruptions.textures import FROST_INSTALL, SYNTHETIC_FROST
    from augmix_lab.data import resolve_data_root

    root = resolve_data_root(data_root)
    seen: set[tuple] = set()
    lines: list[str] = []
    for cfg in configs:
        dataset, ev = cfg.dataset.name, cfg.eval
        checks = []
        if ev.corruptions.enabled:
            names = check_corruption_names(ev.corruptions.names, "eval.corruptions.names")
            used = resolve_c_source(dataset, ev.corruptions.source, names, root)
            if ev.corruptions.source == "auto" and download_name(dataset, "C"):
                checks.append(("C", used))
            if (
                "frost" in names
                and c_cell_source(dataset, "frost", used, root).endswith(SYNTHETIC_FROST)
                and (dataset, "frost") not in seen
            ):
                seen.add((dataset, "frost"))
                lines.append(
                    f"warning: frost for dataset {dataset!r} uses the synthetic fallback textures (about half "
                    f"as strong; results labelled {SYNTHETIC_FROST}): install the frost photographs with "
                    f"'{FROST_INSTALL}'" + (", then regenerate with make-c" if used == "generated" else "")
                )
        cbar = getattr(ev, "c_bar", None)
        if cbar is not None and cbar.enabled:
            names = check_corruption_names(
                cbar.names, "eval.c_bar.names", suite="c_bar", profile=profile_for_name(dataset)
            )
            used = resolve_c_source(dataset, cbar.source, names, root, kind="C-bar")
            if cbar.source == "auto" and has_released(dataset, "C-bar"):
                checks.append(("C-bar", used))
        if ev.perturbations.enabled:
            names = check_perturbation_names(ev.perturbations.names or None, "eval.perturbations.names")
            used_p = sorted({resolve_p_source(dataset, ev.perturbations.source, n, root) for n in names} - {"released"})
            if ev.perturbations.source == "auto" and download_name(dataset, "P"):
                checks.append(("P", used_p[0] if used_p else "released"))
        for kind, used in checks:
            if used != "released" and (dataset, kind, used) not in seen:
                seen.add((dataset, kind, used))
                field = {"C": "corruptions", "C-bar": "c_bar", "P": "perturbations"}[kind]
                lines.append(
                    f"warning: eval.{field}.source 'auto' for dataset "
                    f"{dataset!r}: the released {dataset}-{kind} files are not under {root}, so it falls back to "
                    f"'{used}' (our kernels, not the paper's benchmark; results are labelled source={used}). "
                    f"Download the released files with: {download_command(dataset, kind, root)}"
                )
    return lines


def warn_source_fallbacks(configs: Iterable, data_root: str | Path | None = None, stream=None) -> list[str]:
    """Print ``fallback_warnings`` to stderr (called by ``augmix-lab plan`` and ``run``); returns the lines."""
    lines = fallback_warnings(configs, data_root)
    for line in lines:
        print(line, file=stream or sys.stderr, flush=True)
    return lines
