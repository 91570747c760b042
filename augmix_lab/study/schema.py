"""Study file schema: read a study YAML, validate it, and report bad input with file, line, field, value and what is allowed.

A study is a ``base`` partial :class:`~augmix_lab.config.TrialConfig` plus named ``variants`` (partial overrides), a
``grid`` (cartesian product over dotted paths), a ``sweep`` (one factor at a time around the base point), ``seeds`` and
``include``/``exclude`` filters. Validation resolves every trial config (``augmix_lab.study.expand``) so a bad value in any
corner of the grid is reported before anything starts.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from augmix_lab.config import StrictModel
from augmix_lab.errors import UserError
from augmix_lab.evaluation.registry import TEST_ERROR
from augmix_lab.plugins import Plugin, load_plugins
from augmix_lab.study.analyses import AnalysesSpec
from augmix_lab.study.soups import SoupsSpec

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
# Keys every row of `include`/`exclude` may use besides dotted TrialConfig paths.
TRIAL_LABEL_KEYS = ("variant",)


class TrackingSpec(StrictModel):
    uri: str | None = Field(None, description="MLflow tracking URI; None = sqlite store in the study directory")
    experiment: str | None = Field(None, description="MLflow experiment name; None = the study name")


class AshaSpec(StrictModel):
    metric: str = TEST_ERROR
    mode: Literal["min", "max"] = "min"
    grace_period: int = Field(1, ge=1, description="epochs before a trial may be stopped")
    reduction_factor: float = Field(4.0, gt=1)  # Ray Tune ASHAScheduler default


class ResourcesSpec(StrictModel):
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0, description="fractional: 0.25 packs four CIFAR trials on one GPU")
    max_concurrent_trials: int | None = Field(None, ge=1)
    address: str | None = Field(None, description="existing Ray cluster (HEAD:6379); None = local Ray")
    storage_path: str | None = Field(
        None,
        description="Ray Tune storage: a path every node shares (NFS) or a URI (s3://, gs://); None = <study dir>/ray",
    )
    retries: int = Field(1, ge=0, description="Ray re-launches of a crashed trial (divergence is never retried)")
    scheduler: Literal["none", "asha"] = "none"
    asha: AshaSpec = Field(default_factory=AshaSpec)


class StudySpec(StrictModel):
    """The top level of a study file."""

    name: str = Field(..., pattern=NAME_PATTERN)
    description: str = ""
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    base: dict[str, Any] = Field(default_factory=dict)
    variants: list[dict[str, Any]] = Field(default_factory=list)
    grid: dict[str, list[Any]] | None = None
    sweep: dict[str, list[Any]] | None = None
    seeds: int | list[int] = 1
    include: list[dict[str, Any]] = Field(default_factory=list)
    exclude: list[dict[str, Any]] = Field(default_factory=list)
    baseline: str | None = None
    output_dir: str | None = None
    soups: SoupsSpec = Field(default_factory=SoupsSpec)  # model soups (study/soups.py)
    plugins: list[str] = Field(
        default_factory=list,
        description="plugin .py files or package folders (relative to "
        "the study file) or module names, imported before validation (augmix_lab/plugins.py)",
    )
    analyses: AnalysesSpec = Field(default_factory=AnalysesSpec)  # study-level analyses (study/analyses.py)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: int | list[int]) -> int | list[int]:
        if isinstance(v, int) and v < 1:
            raise ValueError("seeds must be a positive count or a non-empty list of integers")
        if isinstance(v, list) and (not v or len(set(v)) != len(v)):
            raise ValueError("seeds list must be non-empty and without repeats")
        return v

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


@dataclass
class LineMap:
    """Dotted YAML path (tuple of keys/indices) -> 1-based line, built from ``yaml.compose`` (never executes tags)."""

    file: str
    lines: dict[tuple[Any, ...], int] = field(default_factory=dict)

    @classmethod
    def from_text(cls, file: str, text: str) -> LineMap:
        lm = cls(file)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None:
            lm._walk(root, ())
        return lm

    def _walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                self.lines[path + (key,)] = key_node.start_mark.line + 1
                self._walk(value_node, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, path + (i,))

    def line(self, *candidates: tuple[Any, ...]) -> int | None:
        """Line of the first candidate path found; falls back to the nearest recorded ancestor of the first one."""
        for path in candidates:
            if path in self.lines:
                return self.lines[path]
        for path in candidates:
            for n in range(len(path) - 1, 0, -1):
                if path[:n] in self.lines:
                    return self.lines[path[:n]]
        return None

    def where(self, *candidates: tuple[Any, ...]) -> str:
        ln = self.line(*candidates)
        return f"{self.file}:{ln}" if ln else self.file


@dataclass
class Study:
    """A validated study file: the spec, its text (hashed for the manifest) and where each setting is written."""

    spec: StudySpec
    path: Path
    text: str
    lines: LineMap
    overrides: tuple[str, ...] = ()  # `--set KEY=VALUE` arguments applied on top of the file (study/overrides.py)
    plugins: tuple[Plugin, ...] = ()  # the study's and the installed entry-point plugins, imported (plugins.py)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def hash(self) -> str:
        from augmix_lab.study.overrides import hash_suffix

        return hashlib.sha256((self.text + hash_suffix(self.overrides)).encode()).hexdigest()[:16]

    def error(self, candidates: list[tuple[Any, ...]], message: str) -> UserError:
        return UserError(f"{self.lines.where(*candidates)}: {message}")


# ---------------------------------------------------------------------------------------------------------------- helpers


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; mappings merge key by key, everything else (lists included) is replaced."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def normalize_partial(d: dict[str, Any]) -> dict[str, Any]:
    """Expand shorthands (``dataset: cifar10`` -> ``dataset: {name: cifar10}``) and dotted keys into nesting."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        if isinstance(value, dict):
            value = normalize_partial(value)
        if key == "dataset" and isinstance(value, str):
            value = {"name": value}
        parts = str(key).split(".")
        if len(parts) > 1:
            value = set_dotted({}, parts[1:], value)
        out = deep_merge(out, {parts[0]: value})
    return out


def set_dotted(d: dict[str, Any], parts: list[str] | str, value: Any) -> dict[str, Any]:
    parts = parts.split(".") if isinstance(parts, str) else parts
    cur = d
    for p in parts[:-1]:
        nxt = cur.get(p)
        if isinstance(nxt, str) and p == "dataset":
            nxt = {"name": nxt}
        if not isinstance(nxt, dict):
            nxt = {}
        cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value
    return d


def get_dotted(d: Any, path: str) -> Any:
    cur = d
    for p in path.split("."):
        if not isinstance(cur, dict) or p not in cur:
            raise KeyError(path)
        cur = cur[p]
    return cur


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _allowed_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The field names of the pydantic model that owns ``loc``'s last element (for 'unknown key' messages)."""
    cur: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = getattr(cur, "model_fields", None)
        if not fields or part not in fields:
            return None
        ann = fields[part].annotation
        cur = next((a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)), ann)
    fields = getattr(cur, "model_fields", None)
    return sorted(fields) if fields else None


def describe_validation_error(
    err: Mapping[str, Any], model: type[BaseModel], loc: tuple[Any, ...] | None = None
) -> str:
    """One pydantic error as 'field 'a.b': message (got X); allowed: ...'."""
    loc = tuple(err["loc"]) if loc is None else loc
    dotted = ".".join(str(p) for p in loc) or "<root>"
    if err["type"] == "extra_forbidden":
        allowed = _allowed_fields(model, tuple(err["loc"]))
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"unknown key '{dotted}'{hint}"
    given = err.get("input")
    given_s = "" if isinstance(given, (dict, list)) or err["type"] == "missing" else f" (got {given!r})"
    msg = err["msg"]
    if err["type"] == "literal_error" and err.get("ctx", {}).get("expected"):
        msg = f"must be one of {err['ctx']['expected']}"
    return f"field '{dotted}': {msg}{given_s}"


# ------------------------------------------------------------------------------------------------------------------ load


def read_study(path: str | Path, overrides: Sequence[str] = ()) -> Study:
    """Parse and validate the study file's structure (no expansion); every error is a one-line ``UserError``.

    ``overrides`` are ``--set KEY=VALUE`` strings applied to the mapping before validation (``study/overrides.py``).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such study file")
    text = path.read_text()
    try:
        lines = LineMap.from_text(str(path), text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{where}: YAML syntax error: {problem}".replace("\n", " ")) from None
    if overrides:
        from augmix_lab.study.overrides import apply_overrides

        data, lines = apply_overrides(data, overrides, str(path), lines)
    if not isinstance(data, dict):
        raise UserError(
            f"{path}: a study file must be a mapping with at least 'name' and 'base' (got {type(data).__name__})"
        )
    try:
        spec = StudySpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        # a dict[str, list] field reports loc (grid, key, ...); pydantic's union members add noise like 'int'/'list[int]'
        loc = tuple(p for p in loc if p not in ("int", "list[int]"))
        raise UserError(f"{lines.where(loc)}: {describe_validation_error(err, StudySpec, loc)}") from None
    if not re.match(NAME_PATTERN, spec.name):  # pragma: no cover - the pattern constraint already enforces it
        raise UserError(f"{lines.where(('name',))}: invalid study name {spec.name!r}")
    # imported before the trials are expanded, so validation sees the names the plugins register
    plugins = load_plugins(
        spec.plugins, path.resolve().parent, lambda i: f"{lines.where(('plugins', i))}: field 'plugins.{i}'"
    )
    return Study(spec=spec, path=path, text=text, lines=lines, overrides=tuple(overrides), plugins=tuple(plugins))
