"""``MethodSpec``: a trial's ``method`` string ("augmix", "augmix+mixup", "adversarial") parsed once, typed.

Each part is either an augmentation method (``augment.AUGMENTATIONS``) or a training-time method registered as a
training hook (``training.TRAINING_HOOKS``, e.g. ``adversarial``), which names the augmentation it trains on.
Every consumer (trainer, config, study validation, cost estimate, augmentation factory) reads this one parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from augmix_lab.errors import UserError

SEPARATOR = "+"  # "a+b" composes methods in the order written


def _registries() -> tuple[Any, Any]:
    from augmix_lab.augment.base import AUGMENTATIONS
    from augmix_lab.training import TRAINING_HOOKS  # the package import registers every hook

    return AUGMENTATIONS, TRAINING_HOOKS


@dataclass(frozen=True)
class MethodSpec:
    """The parts of a method string, stripped, in order; ``str(spec)`` gives the canonical string back."""

    parts: tuple[str, ...]

    @classmethod
    def parse(cls, method: object) -> "MethodSpec":
        """Split on ``+`` (syntax only: non-empty names, none twice); ``check()`` looks the names up."""
        if isinstance(method, MethodSpec):
            return method
        if not isinstance(method, str) or not method.strip():
            raise UserError(f"method must be a name or 'a+b', got {method!r}")
        parts = tuple(part.strip() for part in method.split(SEPARATOR))
        if any(not part for part in parts):
            raise UserError(f"method {method!r}: an empty name around '+'")
        if len(set(parts)) != len(parts):
            raise UserError(f"method {method!r}: a method appears twice")
        return cls(parts)

    def __str__(self) -> str:
        return SEPARATOR.join(self.parts)

    def __contains__(self, name: object) -> bool:
        return name in self.parts

    def unknown(self) -> list[str]:
        """Parts registered neither as augmentation methods nor as training hooks."""
        augmentations, hooks = _registries()
        return [p for p in self.parts if p not in augmentations and p not in hooks]

    def check(self) -> "MethodSpec":
        """Every part is registered; else a ``UserError`` with a suggestion and every allowed name."""
        augmentations, hooks = _registries()
        for part in self.unknown():
            close = augmentations.unknown_message(part).split(" Allowed:")[0]
            raise UserError(f"{close} Allowed: {', '.join(self.allowed())} (or a+b).")
        return self

    @staticmethod
    def allowed() -> list[str]:
        augmentations, hooks = _registries()
        return sorted(set(augmentations.names()) | set(hooks.names()))

    @property
    def hooks(self) -> tuple[str, ...]:
        """The training-time parts (registered training hooks), in order."""
        _, hooks = _registries()
        return tuple(p for p in self.parts if p in hooks)

    @property
    def augmentation(self) -> str:
        """The augmentation to build: each training hook replaced by the augmentation it trains on."""
        _, hooks = _registries()
        return SEPARATOR.join(hooks.get(p).augmentation if p in hooks else p for p in self.parts)

    @property
    def produces_views(self) -> bool:
        """Whether a part yields several stochastic views per image (needed for JSD arity > 1)."""
        augmentations, _ = _registries()
        return any(p in augmentations and augmentations.get(p).produces_views for p in self.parts)
