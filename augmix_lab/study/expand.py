"""Expand a study into trials: variants × grid × sweep points × seeds, minus ``exclude``, plus ``include``.

Each trial's identity is ``TrialConfig.fingerprint(data_version)`` (training only, seed included), so identical training in
any study sharing a tracking store is done once; ``eval_key`` hashes the evaluation-only settings, so changing them
re-scores stored checkpoints instead of retraining.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from augmix_lab.config import DatasetConfig, EvalConfig, TrialConfig, field_loc, v1_path
from augmix_lab.errors import UserError
from augmix_lab.plugins import digests as plugin_digests
from augmix_lab.study.analyses import check_analyses
from augmix_lab.study.init import ROUND_AXIS, expand_rounds, resolve_inits, resolve_pretrained
from augmix_lab.study.schema import (
    TRIAL_LABEL_KEYS,
    Study,
    deep_merge,
    describe_validation_error,
    flatten,
    get_dotted,
    normalize_partial,
    set_dotted,
)
from augmix_lab.study.soups import check_soups


@dataclass(frozen=True)
class Trial:
    """One resolved unit of work. ``key`` names its training, ``eval_key`` its evaluation settings."""

    key: str
    variant: str
    seed: int
    axes: dict[str, Any]
    config: TrialConfig = field(repr=False)
    eval_key: str

    @property
    def label(self) -> str:
        return f"{self.variant}-s{self.seed}-{self.key[:8]}"


def eval_key(cfg: EvalConfig) -> str:
    """Content hash of the evaluation-only settings."""
    d = cfg.model_dump(mode="json")
    if not d.get("fourier", {}).get("enabled", True):
        d.pop("fourier")  # the default-off heat map keeps pre-existing eval keys (no needless re-evaluation)
    if not d.get("c_bar", {}).get("enabled", True):
        d.pop("c_bar")  # likewise the default-off C-bar benchmark
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


_VERSION_CACHE: dict[str, str] = {}


def dataset_version(ds: DatasetConfig) -> str:
    """The data-content identity that goes into trial keys, computed without generating or loading any data."""
    from augmix_lab.data import dataset_version as data_version

    cache_key = json.dumps({"name": ds.name, "options": ds.options}, sort_keys=True, default=str)
    if cache_key not in _VERSION_CACHE:
        _VERSION_CACHE[cache_key] = str(data_version(ds.name, **ds.options))
    return _VERSION_CACHE[cache_key]


# -------------------------------------------------------------------------------------------------- registry name checks


def method_produces_views(method: str) -> bool:
    """Whether the method yields several stochastic views of each image (needed for JSD arity > 1)."""
    from augmix_lab.training import MethodSpec

    return MethodSpec.parse(method).produces_views


def check_method(cfg: TrialConfig, where: Callable[[str], str]) -> None:
    """Method names (both registries) and every ``method_params`` entry against its own ``Params``."""
    from augmix_lab.training import MethodSpec

    try:  # the one method parser: syntax, registered augmentations and training hooks
        spec = MethodSpec.parse(cfg.method).check()
    except UserError as exc:
        raise UserError(f"{where('method')}: field 'method': {exc}") from None
    try:
        spec.parse_params(cfg.method_options())
    except UserError as exc:  # messages start with the dotted field, e.g. "method_params.augmix.width: got 0; ..."
        raise UserError(f"{where(str(exc).split(':')[0])}: {exc}") from None


def check_eval_names(cfg: TrialConfig, where: Callable[[str], str]) -> None:
    """Corruption (-C and C-bar) / perturbation names and severities (read from the corruptions registry, the same
    check as eval) and the Fourier heat map's grid on the dataset's image size."""
    from augmix_lab.analysis.fourier import fourier_grid_problem
    from augmix_lab.corruptions.generate import profile_for_name
    from augmix_lab.corruptions.registry import SEVERITIES, check_corruption_names, check_perturbation_names
    from augmix_lab.corruptions.sources import has_released
    from augmix_lab.data import DATASETS

    cbar = functools.partial(check_corruption_names, suite="c_bar", profile=profile_for_name(cfg.dataset.name))
    for dotted, check, names in (
        ("eval.corruptions.names", check_corruption_names, cfg.eval.corruptions.names),
        ("eval.c_bar.names", cbar, cfg.eval.c_bar.names),
        ("eval.perturbations.names", check_perturbation_names, cfg.eval.perturbations.names),
    ):
        try:
            check(names or None, f"field {dotted!r}")
        except UserError as e:
            raise UserError(f"{where(dotted)}: {e}") from None
    for dotted, sub, kind in (
        ("eval.corruptions.source", cfg.eval.corruptions, "C"),
        ("eval.c_bar.source", cfg.eval.c_bar, "C-bar"),
        ("eval.perturbations.source", cfg.eval.perturbations, "P"),
    ):
        if sub.enabled and sub.source == "released" and not has_released(cfg.dataset.name, kind):
            raise UserError(
                f"{where(dotted)}: field '{dotted}': 'released' does not exist for dataset "
                f"{cfg.dataset.name!r} (no released {cfg.dataset.name}-{kind}); allowed: auto, generated, "
                f"on_the_fly"
            )
    fourier = cfg.eval.fourier
    size = DATASETS.meta(cfg.dataset.name).get("image_size") if cfg.dataset.name in DATASETS else None
    problem = fourier_grid_problem(size, size, fourier.stride) if fourier.enabled and size else None
    if problem:  # the band means are computed after training: refuse the stride now
        raise UserError(f"{where('eval.fourier.stride')}: field 'eval.fourier.stride': {problem}")
    for block in ("corruptions", "c_bar"):
        for s in getattr(cfg.eval, block).severities:
            if s not in SEVERITIES:  # -C (and C-bar) benchmarks have severities 1..5 (Hendrycks & Dietterich 2019)
                raise UserError(
                    f"{where(f'eval.{block}.severities')}: field 'eval.{block}.severities': "
                    f"severity {s} out of range; allowed: 1..5"
                )


def check_model(cfg: TrialConfig, where: Callable[[str], str]) -> None:
    """The model name (registered or ``timm:<arch>``), what an evaluate-only trial scores, and a timm architecture
    that only takes one input size against the dataset's (``resize`` makes it fit)."""
    from augmix_lab.data.base import planned_image_size
    from augmix_lab.models import check_model_name
    from augmix_lab.models.timm_models import fixed_input_size, is_timm

    try:
        check_model_name(cfg.model)
    except UserError as exc:
        raise UserError(f"{where('model')}: field 'model': {exc}") from None
    if cfg.pretrained is not None and not is_timm(cfg.model):
        raise UserError(
            f"{where('pretrained')}: field 'pretrained': loads local weights of timm models "
            f"('timm:<arch>'), not of {cfg.model!r}; for a registered model use init: {{checkpoint: PATH}}"
        )
    if cfg.pretrained is not None and cfg.init.is_set():
        raise UserError(f"{where('pretrained')}: field 'pretrained': give one of pretrained or init, not both")
    if cfg.epochs == 0 and not cfg.evaluate_only:
        raise UserError(
            f"{where('epochs')}: field 'epochs': 0 scores given weights without training (evaluate-only); "
            "set init: {checkpoint: PATH} or pretrained: PATH, or train with epochs >= 1"
        )
    size = planned_image_size(cfg.dataset.name, cfg.dataset.options)
    fixed = fixed_input_size(cfg.model) if is_timm(cfg.model) and cfg.pretrained is None else None
    if fixed is not None and size is not None and (cfg.resize or size) != fixed:
        raise UserError(
            f"{where('model')}: field 'model': {cfg.model} only takes {fixed}x{fixed} inputs, dataset "
            f"{cfg.dataset.name!r} has {size}x{size} images; set resize: {fixed} (resizes every input)"
        )


def check_names(cfg: TrialConfig, where: Callable[[str], str]) -> None:
    """Registry names (method, model, dataset, corruptions, perturbations), method options and method/JSD
    combinations."""
    from augmix_lab.data import DATASETS, dataset_options

    check_method(cfg, where)
    check_model(cfg, where)
    for dotted, reg, value in (("dataset.name", DATASETS, cfg.dataset.name),):
        if value not in reg:
            raise UserError(f"{where(dotted)}: field '{dotted}': {reg.unknown_message(value)}")
    if cfg.dataset.options:
        allowed_options = dataset_options(cfg.dataset.name)
        for option in cfg.dataset.options:
            if option not in allowed_options:
                raise UserError(
                    f"{where('dataset.options.' + option)}: field 'dataset.options.{option}': dataset "
                    f"{cfg.dataset.name!r} has no option {option!r}; allowed: {', '.join(allowed_options) or 'none'}"
                )
    check_eval_names(cfg, where)
    check_semi_supervised(cfg, where)
    if cfg.jsd.arity > 1 and not method_produces_views(cfg.method):
        raise UserError(
            f"{where('jsd.arity')}: field 'jsd.arity': {cfg.jsd.arity} needs a view-producing method, but method "
            f"{cfg.method!r} yields one view per image; use jsd: {{arity: 1}} or a method such as augmix"
        )


def check_semi_supervised(cfg: TrialConfig, where: Callable[[str], str]) -> None:
    """``dataset.labelled`` leaves every class a labelled image; a teacher's student and a pool-using method
    (FixMatch) have a pool; a student's method keeps its labelled and pseudo-labelled images apart (no mixup)."""
    from augmix_lab.data.labelled import quota_problem, training_labels
    from augmix_lab.training import MethodSpec

    spec = MethodSpec.parse(cfg.method)
    labelled = cfg.dataset.labelled
    for needed, dotted, why in (
        (cfg.teacher.is_set(), "teacher", "a self-training student"),
        (spec.needs_pool, "method", f"method {cfg.method!r}"),
    ):
        if needed and labelled is None:
            raise UserError(
                f"{where(dotted)}: field '{dotted}': {why} learns from the unlabelled pool; allowed: with "
                "dataset.labelled (e.g. {fraction: 0.1}), whose unlabelled rest is the pool"
            )
    if cfg.teacher.is_set() and spec.mixes_targets:
        raise UserError(
            f"{where('method')}: field 'method': {cfg.method!r} mixes images across labels, which "
            "would blend labelled and pseudo-labelled losses; allowed for a student: a method without "
            "mixup/cutmix"
        )
    if labelled is None:
        return
    dotted = "dataset.labelled." + ("fraction" if labelled.fraction is not None else "per_class")
    found = training_labels(cfg.dataset)
    problem = quota_problem(found[0], found[1], labelled) if found is not None else None
    if problem:
        raise UserError(f"{where(dotted)}: field '{dotted}': {problem}")


# ------------------------------------------------------------------------------------------------------------- expansion


@dataclass
class _Point:
    """A trial config being assembled, with where each setting came from (for error lines)."""

    variant: str
    variant_index: int | None
    seed: int
    partial: dict[str, Any]
    axes: dict[str, Any]
    axis_paths: dict[str, tuple[Any, ...]]  # dotted field -> YAML path of the value that set it

    def origin(self, study: Study, dotted: str) -> list[tuple[Any, ...]]:
        """Candidate YAML paths for a field, most specific source first."""
        loc = tuple(dotted.split("."))
        out = [
            p
            for d, p in self.axis_paths.items()
            if dotted == d or dotted.startswith(d + ".") or d.startswith(dotted + ".")
        ]
        spec = study.spec
        if self.variant_index is not None:
            override = normalize_partial({k: v for k, v in spec.variants[self.variant_index].items() if k != "name"})
            if _has_path(override, dotted):
                out.append(("variants", self.variant_index) + _yaml_loc(spec.variants[self.variant_index], loc))
        if _has_path(normalize_partial(spec.base), dotted):
            out.append(("base",) + _yaml_loc(spec.base, loc))
        if self.variant_index is not None:
            out.append(("variants", self.variant_index))
        out.append(("base",))
        return out


def _has_path(d: dict[str, Any], dotted: str) -> bool:
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):  # the setting itself or any mapping above it that the user wrote
        try:
            get_dotted(d, ".".join(parts[:n]))
            return True
        except KeyError:
            continue
    return False


def _yaml_loc(raw: dict[str, Any], loc: tuple[str, ...]) -> tuple[Any, ...]:
    """The path as written in YAML: a dotted key (`augmix.width: 2`) or a `dataset: name` shorthand stop early."""
    for n in range(len(loc), 0, -1):
        if ".".join(loc[:n]) in raw:
            return (".".join(loc[:n]),) + (loc[n:] if n == 1 else ())
    cur: Any = raw
    out: list[str] = []
    for p in loc:
        if not isinstance(cur, dict) or p not in cur:
            break
        out.append(p)
        cur = cur[p]
    return tuple(out)


def _check_axis_paths(study: Study, section: str, axes: dict[str, list[Any]]) -> None:
    if not axes:
        raise study.error(
            [(section,)],
            f"field '{section}': is empty; give at least one dotted path with a list of values, "
            f"e.g. {section}: {{augmix.width: [1, 3]}}, or remove it",
        )
    for path, values in axes.items():
        if not values:
            raise study.error(
                [(section, path)], f"field '{section}.{path}': empty list of values; give at least one value"
            )
        if path in ("seed", "name", "variant"):
            raise study.error([(section, path)], f"field '{section}.{path}': use 'seeds' / 'variants' instead")


def _build(study: Study, point: _Point) -> TrialConfig:
    if "plugins" in point.partial:  # the digests are the study's to fill in (from its top-level `plugins:` list)
        raise study.error(
            point.origin(study, "plugins"),
            "field 'plugins': a trial's plugin digests are filled in by "
            "the study; list plugin files at the top level ('plugins:')",
        )
    try:
        cfg = TrialConfig.model_validate(point.partial)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = field_loc(err["loc"])  # an old `augmix:` block is validated under `legacy`
        dotted = ".".join(str(p) for p in loc)
        raise study.error(point.origin(study, dotted), describe_validation_error(err, TrialConfig, loc)) from None
    check_names(cfg, lambda dotted: study.lines.where(*point.origin(study, dotted)))
    return _absolute_paths(study, cfg)


def _absolute_paths(study: Study, cfg: TrialConfig) -> TrialConfig:
    """A dataset's path options (its ``path_options``, e.g. imagefolder's ``root``) relative to the study file."""
    from pathlib import Path

    from augmix_lab.data import DATASETS

    names = DATASETS.meta(cfg.dataset.name).get("path_options", ())
    options = dict(cfg.dataset.options)
    for name in names:
        if isinstance(options.get(name), str) and not Path(options[name]).expanduser().is_absolute():
            options[name] = str((study.path.resolve().parent / Path(options[name]).expanduser()).resolve())
    if options == cfg.dataset.options:
        return cfg
    return cfg.model_copy(update={"dataset": cfg.dataset.model_copy(update={"options": options})})


def _matches(row: dict[str, Any], point: _Point, cfg_flat: dict[str, Any]) -> bool:
    for key, want in flatten(normalize_partial({k: v for k, v in row.items() if k not in TRIAL_LABEL_KEYS})).items():
        key = v1_path(key)  # `cfg_flat` is the v1 layout: method_params.augmix.width is augmix.width there
        if key not in cfg_flat or cfg_flat[key] != want:
            return False
    if "variant" in row and row["variant"] != point.variant:
        return False
    return True


def _variant_rows(study: Study) -> list[tuple[str, int | None, dict[str, Any]]]:
    """``(name, index, base merged with the variant)`` per variant (or the base alone); names checked."""
    spec = study.spec
    base = normalize_partial(spec.base)
    names: dict[str, int] = {}
    for i, v in enumerate(spec.variants):
        name = v.get("name")
        if not isinstance(name, str) or not name:
            raise study.error(
                [("variants", i)], f"field 'variants.{i}.name': every variant needs a non-empty name (got {name!r})"
            )
        if name in names:
            raise study.error(
                [("variants", i, "name")],
                f"field 'variants.{i}.name': duplicate variant name {name!r} (first used by variants.{names[name]})",
            )
        names[name] = i
    rows: list[tuple[str, int | None, dict[str, Any]]] = [
        (v["name"], i, deep_merge(base, normalize_partial({k: x for k, x in v.items() if k != "name"})))
        for i, v in enumerate(spec.variants)
    ] or [("base", None, base)]
    if spec.baseline is not None and spec.baseline not in {n for n, _, _ in rows}:
        raise study.error(
            [("baseline",)],
            f"field 'baseline': unknown variant {spec.baseline!r}; allowed: {', '.join(n for n, _, _ in rows)}",
        )
    return rows


def _axis_points(study: Study) -> tuple[list[list[tuple[str, int, Any]]], list[tuple[str, int, Any] | None]]:
    """The grid's cartesian points and the sweep's points (None = the base point), as (path, index, value)."""
    spec = study.spec
    grid_points: list[list[tuple[str, int, Any]]] = [[]]
    if spec.grid is not None:
        _check_axis_paths(study, "grid", spec.grid)
        grid_points = [
            list(combo)
            for combo in itertools.product(
                *[[(path, j, value) for j, value in enumerate(values)] for path, values in spec.grid.items()]
            )
        ]
    sweep_points: list[tuple[str, int, Any] | None] = [None]
    if spec.sweep is not None:
        _check_axis_paths(study, "sweep", spec.sweep)
        sweep_points += [(path, j, value) for path, values in spec.sweep.items() for j, value in enumerate(values)]
    return grid_points, sweep_points


def _grid_points(study: Study, rows: list[tuple[str, int | None, dict[str, Any]]]) -> list[_Point]:
    """variants × grid × sweep × seeds, in that order."""
    grid_points, sweep_points = _axis_points(study)
    points: list[_Point] = []
    for (vname, vi, vpartial), gpoint, spoint in itertools.product(rows, grid_points, sweep_points):
        partial = vpartial
        axes: dict[str, Any] = {}
        axis_paths: dict[str, tuple[Any, ...]] = {}
        for path, j, value in gpoint:
            partial = set_dotted(deep_merge(partial, {}), path, value)
            axes[path] = value
            axis_paths[path] = ("grid", path, j)
        if study.spec.sweep is not None:
            axes["sweep"] = "base" if spoint is None else spoint[0]
            if spoint is not None:
                path, j, value = spoint
                partial = set_dotted(deep_merge(partial, {}), path, value)
                axes[path] = value
                axis_paths[path] = ("sweep", path, j)
        for seed in study.spec.seed_list():
            points.append(
                _Point(vname, vi, seed, set_dotted(deep_merge(partial, {}), "seed", seed), dict(axes), axis_paths)
            )
    return points


def _include_points(study: Study, rows: list[tuple[str, int | None, dict[str, Any]]]) -> list[_Point]:
    """One point per ``include`` row × matching variant × seed."""
    points: list[_Point] = []
    for r, row in enumerate(study.spec.include):
        targets = [t for t in rows if row.get("variant") in (None, t[0])]
        if not targets:
            raise study.error(
                [("include", r, "variant")],
                f"field 'include.{r}.variant': unknown variant {row.get('variant')!r}; "
                f"allowed: {', '.join(n for n, _, _ in rows)}",
            )
        overrides = normalize_partial({k: v for k, v in row.items() if k not in TRIAL_LABEL_KEYS})
        flat = flatten(overrides)
        for vname, vi, vpartial in targets:
            for seed in study.spec.seed_list():
                partial = set_dotted(deep_merge(vpartial, overrides), "seed", seed)
                points.append(
                    _Point(vname, vi, seed, partial, dict(flat), {d: ("include", r, d.split(".")[0]) for d in flat})
                )
    return points


def _apply_excludes(study: Study, built: list[tuple[_Point, TrialConfig]]) -> list[tuple[_Point, TrialConfig]]:
    """Drop the points every ``exclude`` row matches (paths compared in the v1 layout, ``config.v1_path``)."""
    known = flatten(TrialConfig().v1_dict())
    for r, row in enumerate(study.spec.exclude):
        for key in flatten(normalize_partial({k: v for k, v in row.items() if k not in TRIAL_LABEL_KEYS})):
            if v1_path(key) not in known and not key.startswith(
                ("method_params.", "dataset.options.", "dataset.labelled.", "teacher.")
            ):
                raise study.error(
                    [("exclude", r)],
                    f"field 'exclude.{r}': unknown setting {key!r} (use dotted TrialConfig "
                    f"paths such as dataset.name, model, method_params.augmix.width, or "
                    f"'variant')",
                )
        built = [(p, c) for p, c in built if not _matches(row, p, flatten(c.v1_dict()))]
    return built


def _keyed_trials(
    study: Study, built: list[tuple[_Point, TrialConfig]], version_of: Callable[[DatasetConfig], str]
) -> list[Trial]:
    """One ``Trial`` per distinct training; two variants resolving to the same training are an error."""
    trials: list[Trial] = []
    seen: dict[str, Trial] = {}
    for point, cfg in built:
        key = cfg.fingerprint(version_of(cfg.dataset))
        trial = Trial(
            key=key, variant=point.variant, seed=point.seed, axes=point.axes, config=cfg, eval_key=eval_key(cfg.eval)
        )
        if key in seen:
            other = seen[key]
            if other.variant == trial.variant and other.eval_key == trial.eval_key:
                continue  # e.g. a sweep value equal to the base point: one trial, counted once
            raise study.error(
                [("variants", point.variant_index) if point.variant_index is not None else ("base",)],
                f"variants {other.variant!r} and {trial.variant!r} resolve to the same training (trial {key}, seed "
                f"{trial.seed}{'' if other.eval_key == trial.eval_key else ', different eval settings'}); "
                f"make them differ or drop one",
            )
        seen[key] = trial
        trials.append(trial)
    if not trials:
        raise study.error([("exclude",), ("base",)], "the study expands to no trials (everything was excluded)")
    return trials


def expand_study(study: Study, version_of: Callable[[DatasetConfig], str] = dataset_version) -> list[Trial]:
    """All trials of a study, in a stable order (variant, grid point, sweep point, seed), then ``include`` rows,
    minus ``exclude`` rows; raises UserError on bad input."""
    rows = _variant_rows(study)
    points = _grid_points(study, rows) + _include_points(study, rows)
    built = _apply_excludes(study, [(p, _build(study, p)) for p in points])
    if study.plugins:  # every trial of a study with plugins depends on their code (a changed plugin: new trials)
        plugins = plugin_digests(study.plugins)
        built = [(p, c.model_copy(update={"plugins": plugins})) for p, c in built]
    built = expand_rounds(built, lambda p, r: dataclasses.replace(p, axes={**p.axes, ROUND_AXIS: r}))
    built = resolve_pretrained(study, built)  # timm weights: path relative to the study file, digest, input size
    built = resolve_inits(study, built, version_of)  # two-stage studies and teachers: parents' keys into children's
    trials = _keyed_trials(study, built, version_of)
    check_soups(study, trials)  # a soups section that could only fail after training fails here
    check_analyses(study, trials)  # likewise the analyses section
    return trials


def differing_params(trials: list[Trial]) -> list[str]:
    """Dotted config fields (v1 layout, like the MLflow params) whose values differ across trials (the columns worth
    showing), seed excluded."""
    flats = [flatten(t.config.v1_dict()) for t in trials]
    keys = sorted(set().union(*flats)) if flats else []
    hidden = {"seed", "pretrained_sha256"}  # the weights' digest follows their path, which is shown
    return [
        k
        for k in keys
        if k not in hidden and len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flats}) > 1
    ]
