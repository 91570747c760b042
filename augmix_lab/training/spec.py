"""``MethodSpec``: a trial's ``method`` string ("augmix", "augmix+mixup", "adversarial") parsed once, typed.

Each part is either an augmentation method (``augment.AUGMENTATIONS``) or a training-time method registered as a
training hook (``TRAINING_HOOKS``, e.g. ``adversarial``), which names the augmentation it trains on. Every consumer
(trainer, study validation, cost estimate, analyses) reads this one parser; the syntax itself is
``augment.split_method``. It lives in ``training`` because it needs both registries and ``training`` is the lowest
package that sees both (``augment`` never imports ``training``: docs/architecture.md "layering").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from augmix_lab.augment.base import AUGMENTATIONS, SEPARATOR, MethodParams, ParamsOwner, split_method
from augmix_lab.errors import UserError
from augmix_lab.training.hooks import TRAINING_HOOKS

DEFAULT_WEIGHT_DECAY = 5e-4  # reference cifar.py --decay 0.0005 (paper Sec. 4.1)


@dataclass(frozen=True)
class MethodSpec:
    """The parts of a method string, stripped, in order; ``str(spec)`` gives the canonical string back."""

    parts: tuple[str, ...]

    @classmethod
    def parse(cls, method: object) -> MethodSpec:
        """Split on ``+`` (syntax only: non-empty names, none twice); ``check()`` looks the names up."""
        if isinstance(method, MethodSpec):
            return method
        return cls(split_method(method))

    def __str__(self) -> str:
        return SEPARATOR.join(self.parts)

    def __contains__(self, name: object) -> bool:
        return name in self.parts

    def unknown(self) -> list[str]:
        """Parts registered neither as augmentation methods nor as training hooks."""
        return [p for p in self.parts if p not in AUGMENTATIONS and p not in TRAINING_HOOKS]

    def check(self) -> MethodSpec:
        """Every part is registered; else a ``UserError`` with a suggestion and every allowed name."""
        for part in self.unknown():
            close = AUGMENTATIONS.unknown_message(part).split(" Allowed:")[0]
            raise UserError(f"{close} Allowed: {', '.join(self.allowed())} (or a+b).")
        return self

    @staticmethod
    def allowed() -> list[str]:
        return sorted(set(AUGMENTATIONS.names()) | set(TRAINING_HOOKS.names()))

    def owner(self, part: str) -> type[ParamsOwner]:
        """The registered class of a part: its augmentation method, else its training hook."""
        return AUGMENTATIONS.get(part) if part in AUGMENTATIONS else TRAINING_HOOKS.get(part)

    @property
    def hooks(self) -> tuple[str, ...]:
        """The training-time parts (registered training hooks), in order."""
        return tuple(p for p in self.parts if p in TRAINING_HOOKS)

    @property
    def augmentation(self) -> str:
        """The augmentation to build: each training hook replaced by the augmentation it trains on."""
        return SEPARATOR.join(TRAINING_HOOKS.get(p).augmentation if p in TRAINING_HOOKS else p for p in self.parts)

    @property
    def mixes_targets(self) -> bool:
        """Whether a part mixes images across labels (mixup, cutmix): soft targets for every image."""
        return any(p in AUGMENTATIONS and AUGMENTATIONS.get(p).mixes_targets for p in self.parts)

    @property
    def needs_pool(self) -> bool:
        """Whether a training hook learns from the unlabelled pool (FixMatch): the trial needs dataset.labelled."""
        return any(TRAINING_HOOKS.get(p).needs_pool for p in self.hooks)

    @property
    def produces_views(self) -> bool:
        """Whether a part yields several stochastic views per image (needed for JSD arity > 1)."""
        return any(p in AUGMENTATIONS and AUGMENTATIONS.get(p).produces_views for p in self.parts)

    def parse_params(self, options: Mapping[str, Any]) -> dict[str, MethodParams]:
        """Every entry of ``options`` (name -> mapping, e.g. a trial's ``method_options()``) validated by its own
        ``Params``, plus the defaults of parts without options; the augmentation a hook trains on takes options too.
        Options for another registered method (a study's shared default) are validated and not used by this trial;
        an unregistered name is an error."""
        names = list(dict.fromkeys(self.check().parts + split_method(self.augmentation)))
        out = {n: self.owner(n).parse_params(n, options.get(n)) for n in names}
        for name in options:
            if name not in out:
                try:
                    other = MethodSpec.parse(name).check()
                except UserError as exc:
                    raise UserError(f"method_params.{name}: {exc}") from None
                out[name] = other.owner(name).parse_params(name, options[name])
        return out

    def weight_decay(self, configured: float | None) -> float:
        """``train.weight_decay`` when set, else the smallest a part's paper prescribes (mixup: 1e-4), else 5e-4."""
        if configured is not None:
            return configured
        declared = [self.owner(p).weight_decay for p in self.check().parts]
        return min((wd for wd in declared if wd is not None), default=DEFAULT_WEIGHT_DECAY)
