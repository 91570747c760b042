"""``--set KEY=VALUE`` on ``run`` and ``plan``: dotted study keys applied to the study mapping before validation.

Keys address the study file as written: ``base.epochs=2``, ``seeds=3``, ``resources.gpus_per_trial=0.5``,
``grid.augmix.width=[1,3]`` (``grid``/``sweep`` keys are dotted TrialConfig paths), ``variants.1.jsd.arity=1`` or
``variants.augmix.jsd.weight=6`` (a variant by index or by name). Values are YAML (``yaml.safe_load``), so ``[1,3]`` is
a list and ``0.5`` a float. Validation errors about an overridden value name the override instead of a file line, the
overrides are part of the study's hash, and the driver records them on the study's parent run (tag
``TRACKING_TAGS.overrides``, ``orchestration/runner.py: override_tags``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from augmix_lab.errors import UserError
from augmix_lab.study.schema import LineMap

_AXIS_SECTIONS = ("grid", "sweep")  # their keys are whole dotted TrialConfig paths
_LIST_SECTIONS = ("variants", "include", "exclude")


@dataclass(frozen=True)
class Override:
    """One ``--set`` argument: its text, the dotted key, the YAML value."""

    text: str
    key: str
    value: Any

    @classmethod
    def parse(cls, text: str) -> Override:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key or any(not p for p in key.split(".")):
            raise UserError(
                f"--set {text}: expected KEY=VALUE with a dotted study key, e.g. --set base.epochs=2 "
                f"or --set grid.augmix.width=[1,3]"
            )
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc)
            raise UserError(f"--set {text}: value is not valid YAML: {problem}".replace("\n", " ")) from None
        return cls(text=text, key=key, value=value)


@dataclass
class OverrideLineMap(LineMap):
    """A ``LineMap`` that names the ``--set`` override, not a file line, for any setting an override wrote."""

    overrides: dict[tuple[Any, ...], str] = field(default_factory=dict)  # YAML path -> override text (last wins)

    def override_for(self, path: tuple[Any, ...]) -> str | None:
        for n in range(len(path), 0, -1):  # the setting itself, or a mapping above it that an override replaced
            if path[:n] in self.overrides:
                return self.overrides[path[:n]]
        return None

    def where(self, *candidates: tuple[Any, ...]) -> str:
        for path in candidates:
            text = self.override_for(tuple(path))
            if text is not None:
                return f"{self.file} (--set {text})"
            if path in self.lines:
                break  # the most specific source is a line of the file
        return super().where(*candidates)


def _partial_path(node: Any, parts: list[str], prefix: tuple[Any, ...]) -> tuple[Any, ...]:
    """Path of ``parts`` inside a partial TrialConfig mapping, honouring dotted keys written in the file."""
    path = prefix
    cur = node
    i = 0
    while i < len(parts):
        if not isinstance(cur, dict):
            break
        rest = parts[i:]
        dotted = next((".".join(rest[:n]) for n in range(len(rest), 1, -1) if ".".join(rest[:n]) in cur), None)
        if dotted is not None:  # the file writes `augmix.width: 3` as one key: override that key
            path += (dotted,)
            cur = cur[dotted]
            i += dotted.count(".") + 1
            continue
        path += (parts[i],)
        cur = cur.get(parts[i])
        i += 1
    return path + tuple(parts[i:])


def _list_index(data: dict[str, Any], section: str, token: str, ov: Override) -> int:
    items = data.get(section)
    if not isinstance(items, list) or not items:
        raise UserError(f"--set {ov.text}: the study has no '{section}' list to index")
    if token.lstrip("-").isdigit():
        i = int(token)
        if not -len(items) <= i < len(items):
            raise UserError(f"--set {ov.text}: {section} index {i} out of range; allowed: 0..{len(items) - 1}")
        return i % len(items)
    names = [it.get("name") if isinstance(it, dict) else None for it in items]
    if token in names:
        return names.index(token)
    allowed = ", ".join(str(n) for n in names if n) or "indices only"
    raise UserError(f"--set {ov.text}: no {section} entry named {token!r}; allowed: 0..{len(items) - 1} or {allowed}")


def yaml_path(data: dict[str, Any], ov: Override) -> tuple[Any, ...]:
    """Where the override lands in the study mapping, as a YAML path (keys and list indices)."""
    parts = ov.key.split(".")
    top = parts[0]
    if top in _AXIS_SECTIONS and len(parts) > 1:
        return (top, ".".join(parts[1:]))
    if top in _LIST_SECTIONS and len(parts) > 1:
        i = _list_index(data, top, parts[1], ov)
        return (top, i) + _partial_path(data[top][i], parts[2:], ())
    if top == "base" and len(parts) > 1:
        return ("base",) + _partial_path(data.get("base") or {}, parts[1:], ())
    return tuple(parts)


def _assign(data: dict[str, Any], path: tuple[Any, ...], value: Any, ov: Override) -> None:
    cur: Any = data
    for n, p in enumerate(path[:-1]):
        nxt = cur[p] if isinstance(cur, list) else cur.get(p)
        if nxt is None:
            nxt = {}
        elif isinstance(nxt, str) and p == "dataset":
            nxt = {"name": nxt}  # the `dataset: cifar10` shorthand
        elif not isinstance(nxt, (dict, list)):
            where = ".".join(str(x) for x in path[: n + 1])
            raise UserError(f"--set {ov.text}: '{where}' is {nxt!r}, not a mapping, so it has no key {path[n + 1]!r}")
        cur[p] = nxt
        cur = nxt
    cur[path[-1]] = copy.deepcopy(value)


def apply_overrides(
    data: Any, overrides: Sequence[str | Override], file: str, lines: LineMap
) -> tuple[dict[str, Any], OverrideLineMap]:
    """The study mapping with every override applied (in order), and a line map that names them in errors."""
    if not isinstance(data, dict):
        data = {}
    data = copy.deepcopy(data)
    lm = OverrideLineMap(file=file, lines=dict(lines.lines))
    for item in overrides:
        ov = item if isinstance(item, Override) else Override.parse(item)
        path = yaml_path(data, ov)
        _assign(data, path, ov.value, ov)
        lm.overrides = {p: t for p, t in lm.overrides.items() if p[: len(path)] != path}  # replaced wholesale
        lm.overrides[path] = ov.text
    return data, lm


def hash_suffix(overrides: Sequence[str]) -> str:
    """What the overrides add to the study text before hashing (empty without overrides: hashes stay as they were)."""
    return "".join(f"\n# --set {o}" for o in overrides)


def add_set_argument(parser: Any) -> None:
    """The repeatable ``--set KEY=VALUE`` option of ``run`` and ``plan``."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a study setting (repeatable): dotted key, YAML value, e.g. --set base.epochs=2 "
        "--set seeds=3 --set grid.augmix.width=[1,3]",
    )
