"""A small typed name -> object registry (lm-evaluation-harness / timm style) with helpful misses."""

from __future__ import annotations

import difflib
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, Generic, TypeVar

from augmix_lab.errors import UserError

T = TypeVar("T")
_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def registration_site(skip: int = 1) -> tuple[str, int]:
    """(file, line) of the code that registers a name: the first caller outside the package's registry functions.

    Frames inside ``augmix_lab`` that are not module level (``Registry.add``, the decorators wrapping it) are skipped,
    so a decorator in a plugin or in one of the package's modules is named where it is written.
    """
    frame: FrameType | None = sys._getframe(skip)  # noqa: SLF001 - the one cheap way to look at the caller
    while frame is not None:
        file = frame.f_code.co_filename
        inside = str(Path(file).resolve()).startswith(_PACKAGE_DIR) if not file.startswith("<") else False
        if not inside or frame.f_code.co_name == "<module>":
            return file, frame.f_lineno
        frame = frame.f_back
    return "<unknown>", 0


class DuplicateRegistration(ValueError):
    """A name registered twice in one registry; the message names both places (file:line)."""

    def __init__(self, kind: str, name: str, first: tuple[str, int] | None, again: tuple[str, int]) -> None:
        where = f" at {first[0]}:{first[1]}" if first else ""
        super().__init__(f"{kind} {name!r} is already registered{where}; registered again at {again[0]}:{again[1]}")
        self.kind, self.name, self.first, self.again = kind, name, first, again


class Registry(Generic[T]):
    """Maps names to objects; duplicate names and unknown lookups raise errors that list what exists.

    Each entry remembers where it was registered (``origin(name)``: file and line), so a name registered twice is
    an error naming both places, and a plugin's entries can be forgotten when its changed source is imported again.
    """

    instances: list[Registry[Any]] = []  # every registry, for ``forget_files`` (plugins re-imported after an edit)

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._origins: dict[str, tuple[str, int]] = {}
        self._lock = threading.Lock()
        Registry.instances.append(self)

    def register(self, name: str | None = None, **meta: Any) -> Callable[[T], T]:
        """Decorator: ``@REG.register("name", key=value)``; the name defaults to the object's ``__name__``."""

        def decorator(obj: T) -> T:
            self.add(name or getattr(obj, "__name__"), obj, **meta)  # noqa: B009 - T declares no __name__
            return obj

        return decorator

    def add(self, name: str, obj: T, **meta: Any) -> None:
        site = registration_site(2)
        with self._lock:
            if name in self._items:
                raise DuplicateRegistration(self.kind, name, self._origins.get(name), site)
            self._items[name] = obj
            self._meta[name] = dict(meta)
            self._origins[name] = site

    def origin(self, name: str) -> tuple[str, int] | None:
        """(file, line) where ``name`` was registered (None for an entry added around ``add``)."""
        return self._origins.get(name)

    def forget(self, files: set[str]) -> list[str]:
        """Drop the entries registered from ``files`` (resolved paths); returns their names."""
        with self._lock:
            gone = [n for n, (f, _) in self._origins.items() if n in self._items and _resolved(f) in files]
            for name in gone:
                self._items.pop(name, None)
                self._meta.pop(name, None)
                self._origins.pop(name, None)
        return gone

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UserError(self.unknown_message(name)) from None

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return self._meta[name]

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), list(self._items), n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return f"unknown {self.kind} {name!r}.{hint} Allowed: {', '.join(sorted(self._items))}."

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


def _resolved(file: str) -> str:
    return file if file.startswith("<") else str(Path(file).resolve())


def forget_files(files: set[str]) -> dict[str, list[str]]:
    """Drop every registry's entries registered from ``files`` (before their changed source is imported again)."""
    wanted = {_resolved(f) for f in files}
    return {reg.kind: gone for reg in Registry.instances if (gone := reg.forget(wanted))}
