"""Plugins: user code that registers methods, training hooks, models, datasets, corruptions, metrics and report
tables with the package's own decorators (``augmix_lab.api``), imported before a study is validated.

Where plugins come from:
- a study file's ``plugins:`` list: a ``.py`` file or a package folder (relative to the study file), or an importable
  module name (``my_lab.methods``);
- every installed distribution's entry points in the group ``augmix_lab.plugins`` (``name = module`` or
  ``name = module:function``; the function is called with no arguments after the import).

Each plugin has a content digest of its source files (sorted relative paths + contents; an installed distribution
adds its name and version): the study puts the digests into every trial's key, so editing a plugin makes its trials
new and reverting finds them again. Loading is idempotent per (module, digest); a changed plugin's registrations are
forgotten (``registry.forget_files``) before its new source is imported, so one process can plan an edited study.
A plugin that fails to import, registers a name twice or does not exist is a ``UserError`` (exit 2) naming it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import keyword
import re
import sys
import sysconfig
import traceback
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from augmix_lab.errors import UserError
from augmix_lab.registry import DuplicateRegistration, forget_files

ENTRY_POINT_GROUP = "augmix_lab.plugins"
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
Kind = Literal["file", "package", "module", "entry_point"]


@dataclass(frozen=True)
class Plugin:
    """One resolved plugin: what to import (``module``, from ``path`` for files and folders) and its identity."""

    name: str  # as the study wrote it, or the entry point's name
    module: str  # the import name (a file's stem, a folder's name, the module as written)
    kind: Kind
    path: str | None  # absolute: the .py file or package folder (a module's own file or folder when known)
    root: str | None  # the folder ``files`` are relative to (artifact paths)
    files: tuple[str, ...]  # absolute paths of the source files hashed
    digest: str  # sha256 over the files' relative paths and contents (+ distribution), 16 hex
    distribution: str | None = None  # "name==version" of an installed distribution
    call: str | None = None  # an entry point's ``:function`` to call after the import

    @property
    def installed(self) -> bool:
        """Code inside site-packages: installed on every node like augmix-lab itself, never shipped."""
        if self.distribution is not None or self.path is None:
            return True
        sites = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
        return any(Path(self.path).resolve().is_relative_to(Path(s).resolve()) for s in sites if s)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plugin:
        return cls(**{**d, "files": tuple(d.get("files") or ())})


# ---------------------------------------------------------------------------------------------------- digests


def _sources(path: Path) -> tuple[Path, list[Path]]:
    """(root, source files) of a .py file or a package folder: every ``*.py`` below it, caches left out."""
    if path.is_file():
        return path.parent, [path]
    files = sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    return path.parent, files


def source_digest(root: Path, files: Iterable[Path], extra: str = "") -> str:
    """sha256 over each file's path relative to ``root`` and its bytes (sorted), plus ``extra``; 16 hex."""
    h = hashlib.sha256(extra.encode())
    for f in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:16]


def _from_path(
    name: str,
    path: Path,
    kind: Kind,
    module: str | None = None,
    distribution: str | None = None,
    call: str | None = None,
) -> Plugin:
    root, files = _sources(path)
    return Plugin(
        name=name,
        module=module or (path.stem if path.is_file() else path.name),
        kind=kind,
        path=str(path),
        root=str(root),
        files=tuple(str(f) for f in files),
        digest=source_digest(root, files, distribution or ""),
        distribution=distribution,
        call=call,
    )


# ---------------------------------------------------------------------------------------------------- resolution


def _looks_like_path(entry: str) -> bool:
    return entry.endswith(".py") or "/" in entry or "\\" in entry or entry.startswith(".")


def resolve_entry(entry: Any, base_dir: Path, where: str) -> Plugin:
    """A study's ``plugins:`` entry resolved (nothing imported yet); ``where`` is 'FILE:LINE: field ...'."""
    if not isinstance(entry, str) or not entry.strip():
        raise UserError(
            f"{where}: got {entry!r}; allowed: a .py file or package folder relative to the study file, "
            "or an importable module name"
        )
    entry = entry.strip()
    candidate = Path(entry).expanduser()
    candidate = (candidate if candidate.is_absolute() else base_dir / candidate).resolve()
    if _looks_like_path(entry) or candidate.exists() or candidate.with_suffix(".py").is_file():
        if not candidate.exists() and candidate.with_suffix(".py").is_file() and not _looks_like_path(entry):
            candidate = candidate.with_suffix(".py")
        return _path_plugin(entry, candidate, where)
    return _module_plugin(entry, where, base_dir)


def _path_plugin(entry: str, path: Path, where: str) -> Plugin:
    if not path.exists():
        raise UserError(
            f"{where}: plugin {entry!r}: no such file or folder {str(path)!r} (resolved relative to the "
            "study file); allowed: a .py file, a package folder with __init__.py, or a module name"
        )
    if path.is_file() and path.suffix != ".py":
        raise UserError(
            f"{where}: plugin {entry!r}: {str(path)!r} is not a .py file; allowed: a .py file or a "
            "package folder with __init__.py"
        )
    if path.is_dir() and not (path / "__init__.py").is_file():
        raise UserError(
            f"{where}: plugin {entry!r}: folder {str(path)!r} has no __init__.py; allowed: a package "
            "folder (with __init__.py) or a .py file"
        )
    module = path.stem if path.is_file() else path.name
    if not module.isidentifier() or keyword.iskeyword(module):
        raise UserError(
            f"{where}: plugin {entry!r}: {module!r} is not a valid Python module name; rename "
            f"{str(path)!r} (letters, digits, underscores)"
        )
    return _from_path(entry, path, "file" if path.is_file() else "package")


def _module_location(module: str) -> Path | None:
    """Where ``module``'s top-level package (or single-file module) lives on this node; None if not importable."""
    try:
        top = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        return None
    if top is None or top.origin in ("built-in", "frozen"):
        return None
    if top.origin is None and not top.submodule_search_locations:
        return None
    if top.submodule_search_locations:
        return Path(next(iter(top.submodule_search_locations)))
    return Path(top.origin)  # type: ignore[arg-type]


def _module_plugin(entry: str, where: str, base_dir: Path) -> Plugin:
    nowhere = f"no such file or folder {str((base_dir / entry).resolve())!r} (resolved relative to the study file)"
    if not _MODULE_NAME.match(entry):
        raise UserError(
            f"{where}: plugin {entry!r}: not a module name and {nowhere}; allowed: a .py file, a package "
            "folder or a module name"
        )
    try:
        spec = importlib.util.find_spec(entry)
    except (ImportError, ValueError) as exc:
        spec, detail = None, f" ({type(exc).__name__}: {exc})"
    else:
        detail = ""
    location = _module_location(entry) if spec is not None else None
    if location is None:
        raise UserError(f"{where}: plugin {entry!r}: no importable module of that name{detail} and {nowhere}")
    return _from_path(entry, location, "module", module=entry, distribution=_distribution_of(entry))


def _distribution_of(module: str) -> str | None:
    """ "name==version" of the installed distribution that provides ``module``'s top-level package, if any."""
    try:
        dists = importlib.metadata.packages_distributions().get(module.split(".")[0], [])
    except Exception:  # noqa: BLE001 - a broken distribution's metadata must not stop planning
        return None
    if not dists:
        return None
    try:
        return f"{dists[0]}=={importlib.metadata.version(dists[0])}"
    except importlib.metadata.PackageNotFoundError:
        return None


def entry_point_plugins() -> list[Plugin]:
    """Installed distributions' entry points in ``augmix_lab.plugins``, resolved (nothing imported yet)."""
    out = []
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)):
        head, _, tail = ep.value.partition(":")
        module, call = head.strip(), tail.strip() or None
        dist = f"{ep.dist.name}=={ep.dist.version}" if ep.dist is not None else None
        where = f"entry point {ep.name} = {ep.value} (group {ENTRY_POINT_GROUP}" + (f", {dist})" if dist else ")")
        location = _module_location(module) if _MODULE_NAME.match(module) else None
        if location is None:
            raise UserError(f"plugin {where}: no importable module {module!r}")
        out.append(_from_path(ep.name, location, "entry_point", module=module, distribution=dist, call=call))
    return out


# ---------------------------------------------------------------------------------------------------- importing

_LOADED: dict[str, Plugin] = {}  # module name -> the plugin imported under it in this process


def loaded_plugins() -> dict[str, Plugin]:
    """Module name -> plugin, for the plugins this process has imported."""
    return dict(_LOADED)


def _drop_module(module: str) -> None:
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        del sys.modules[name]


def _failure(plugin: Plugin, exc: BaseException) -> UserError:
    """The one-line error of a plugin that could not be imported: the plugin, the file and line, the problem."""
    label = f"plugin {plugin.name!r} ({plugin.path or plugin.module})"
    if isinstance(exc, DuplicateRegistration):
        first = f"{exc.first[0]}:{exc.first[1]}" if exc.first else "elsewhere"
        return UserError(
            f"{label}: {exc.kind} {exc.name!r} is registered twice: first at {first}, again at "
            f"{exc.again[0]}:{exc.again[1]}; rename one of them"
        )
    if isinstance(exc, SyntaxError) and exc.filename:
        return UserError(f"{label} failed to import: {exc.filename}:{exc.lineno}: SyntaxError: {exc.msg}")
    frames = traceback.extract_tb(exc.__traceback__)
    own = set(plugin.files)
    mine = [f for f in frames if str(Path(f.filename).resolve()) in own] if own else []
    found = mine or list(frames)
    frame = found[-1] if found else None
    at = f"{frame.filename}:{frame.lineno}: " if frame is not None else ""
    return UserError(f"{label} failed to import: {at}{type(exc).__name__}: {exc}".replace("\n", " "))


def _exec(plugin: Plugin, importer: Callable[[], Any]) -> None:
    """Run ``importer``; on failure forget the plugin's partial registrations and raise the plugin's error."""
    try:
        module = importer()
        if plugin.call:
            getattr(module, plugin.call)()
    except UserError:
        forget_files(set(plugin.files))
        _drop_module(plugin.module)
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure of user code is reported as the plugin's
        if isinstance(exc, KeyboardInterrupt):
            raise
        forget_files(set(plugin.files))
        _drop_module(plugin.module)
        raise _failure(plugin, exc) from None
    _LOADED[plugin.module] = plugin


def _import_from_path(plugin: Plugin) -> Any:
    path = Path(plugin.path)  # type: ignore[arg-type]
    location = path / "__init__.py" if path.is_dir() else path
    spec = importlib.util.spec_from_file_location(
        plugin.module, location, submodule_search_locations=[str(path)] if path.is_dir() else None
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {location}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[plugin.module] = module
    spec.loader.exec_module(module)
    return module


def _claim(plugin: Plugin) -> bool:
    """Whether ``plugin`` still has to be imported; a changed one's earlier registrations are forgotten first."""
    before = _LOADED.get(plugin.module)
    if before is not None and before.digest == plugin.digest:
        return False
    if before is not None:
        forget_files(set(before.files))
        _drop_module(plugin.module)
        del _LOADED[plugin.module]
    elif plugin.kind in ("file", "package") and plugin.module in sys.modules:
        other = getattr(sys.modules[plugin.module], "__file__", None)
        raise UserError(
            f"plugin {plugin.name!r} ({plugin.path}) would be imported as module {plugin.module!r}, "
            f"which is already imported from {other}; rename the plugin's file or folder"
        )
    return True


def import_plugin(plugin: Plugin) -> Plugin:
    """Import one resolved plugin in this process (idempotent for an unchanged digest)."""
    if not _claim(plugin):
        return plugin
    if plugin.kind in ("file", "package"):
        _exec(plugin, lambda: _import_from_path(plugin))
    else:
        _exec(plugin, lambda: importlib.import_module(plugin.module))
    return plugin


def load_plugins(
    entries: Iterable[Any] = (),
    base_dir: Path | str = ".",
    where: Callable[[int], str] | None = None,
    entry_points: bool = True,
) -> list[Plugin]:
    """Resolve and import a study's ``plugins:`` entries (relative to ``base_dir``) and the installed entry-point
    plugins; returns them in that order. ``where(i)`` names entry ``i`` in errors ('FILE:LINE: field ...')."""
    where = where or (lambda i: f"field 'plugins.{i}'")
    plugins = [resolve_entry(e, Path(base_dir), where(i)) for i, e in enumerate(entries)]
    if entry_points:
        plugins += entry_point_plugins()
    seen: dict[str, Plugin] = {}
    for p in plugins:
        if p.module in seen and seen[p.module].path != p.path:
            raise UserError(
                f"plugins {seen[p.module].name!r} ({seen[p.module].path}) and {p.name!r} ({p.path}) "
                f"both import as module {p.module!r}; rename one of them"
            )
        seen[p.module] = p
    for p in plugins:
        import_plugin(p)
    return plugins


def unload_plugins(plugins: Iterable[Plugin]) -> None:
    """Forget what ``plugins`` registered and drop their modules (a notebook that edits a plugin, tests)."""
    for p in plugins:
        loaded = _LOADED.pop(p.module, None)
        forget_files(set(p.files) | set(loaded.files if loaded else ()))
        _drop_module(p.module)


def digests(plugins: Iterable[Plugin]) -> dict[str, str]:
    """Module name -> digest: what a trial's key records (``TrialConfig.plugins``; the module, not the spelling)."""
    return {p.module: p.digest for p in plugins}


# ---------------------------------------------------------------------------------------------------- workers


def _current(plugin: Plugin, path: Path) -> Plugin:
    """``plugin`` as its code is at ``path`` on this node (same name, module and distribution; digest recomputed)."""
    kind = ("file" if path.is_file() else "package") if plugin.kind in ("file", "package") else plugin.kind
    return _from_path(plugin.name, path, kind, module=plugin.module, distribution=plugin.distribution, call=plugin.call)


def ensure_plugins(planned: Iterable[Plugin | dict[str, Any]]) -> dict[str, str]:
    """On a Ray worker: import the plugins the study was planned with and check their code is the same.

    The module is taken from this node's import path first (Ray's ``runtime_env`` ``py_modules`` put the driver's
    copy there), else from the path the driver saw (a shared disk, a local Ray). A digest different from the planned
    one is a ``UserError`` (the trial fails with that reason). Returns module name -> the file imported.
    """
    out = {}
    for p in (Plugin.from_dict(d) if isinstance(d, dict) else d for d in planned):
        got = _LOADED.get(p.module)
        if got is None or got.digest != p.digest:
            got = import_plugin(_locate(p))
        module = sys.modules.get(p.module)
        out[p.module] = str(getattr(module, "__file__", None) or got.path)
    return out


def _locate(p: Plugin) -> Plugin:
    """The planned plugin's code on this node: on the import path, else at the driver's path; same digest only."""
    found = []
    candidates = [
        _module_location(p.module) if _MODULE_NAME.match(p.module) else None,
        Path(p.path) if p.path else None,
    ]
    for path in candidates:
        if path is None or not path.exists():
            continue
        here = _current(p, path)
        if here.digest == p.digest:
            return here
        found.append(f"{path} (digest {here.digest})")
    raise UserError(
        f"plugin {p.name!r} (module {p.module!r}) on this worker is not the code the study was planned "
        f"with (digest {p.digest}): found {', '.join(found) or 'nothing importable'}; re-run the study "
        "so its plugins are shipped again"
    )


def runtime_env_modules(plugins: Iterable[Plugin]) -> list[str]:
    """The paths Ray's ``runtime_env={"py_modules": [...]}`` ships to every worker: the plugins not installed."""
    return sorted({p.path for p in plugins if p.path and not p.installed})
