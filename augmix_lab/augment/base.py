"""The method registry ``AUGMENTATIONS``, the ``Params`` contract every method and training hook follows, and the
syntax of method strings.

**The Params contract** (augmentation methods here, training hooks in ``training/hooks.py``, plugins alike): a class
declares its options as one pydantic model ``Params`` (a ``MethodParams`` subclass: strict types, unknown keys
rejected, frozen), each field with its default, constraints and a ``description`` saying what is allowed; the trial's
``method_params.<name>`` mapping is validated against it (``ParamsOwner.parse_params``), so a bad key or value is a
``UserError`` naming the field, the value and what is allowed — at study validation, before anything runs. A method
whose paper prescribes its own weight decay declares ``weight_decay`` (used when ``train.weight_decay`` is unset).
View producers set ``produces_views``; batch transforms do not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import Tensor

from augmix_lab.errors import UserError
from augmix_lab.registry import Registry


@dataclass
class AugmentedBatch:
    """``views``: float32 N×C×H×W normalized views (views[0] clean when there are several); ``targets``: int64
    labels (N,) or float soft targets (N, num_classes) after mixup/cutmix."""

    views: list[Tensor]
    targets: Tensor


@dataclass
class Context:
    """What a method needs to know about the data it augments (its own options come from its ``Params``)."""

    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    kind: str
    image_size: int


SEPARATOR = "+"  # "a+b" composes methods in the order written


def split_method(method: object) -> tuple[str, ...]:
    """The parts of a method string (``"augmix + mixup"`` -> ``("augmix", "mixup")``): syntax only, no registry
    lookup (``training.MethodSpec`` checks the names against both registries)."""
    if not isinstance(method, str) or not method.strip():
        raise UserError(f"method must be a name or 'a+b', got {method!r}")
    parts = tuple(part.strip() for part in method.split(SEPARATOR))
    if any(not part for part in parts):
        raise UserError(f"method {method!r}: an empty name around '+'")
    if len(set(parts)) != len(parts):
        raise UserError(f"method {method!r}: a method appears twice")
    return parts


class MethodParams(BaseModel):
    """Base of a method's (or training hook's) options: strict types (2.0 is not an integer), unknown keys rejected,
    frozen. Subclass it with one field per option: a default, constraints and a ``description`` of what is allowed."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def validate_params(name: str, model: type[MethodParams], params: Mapping[str, Any]) -> MethodParams:
    """``model.model_validate(params)`` with errors as one ``UserError`` line: field, value, what is allowed."""
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        err = exc.errors()[0]
        if err["type"] == "extra_forbidden":
            unknown = sorted(set(params) - set(model.model_fields))
            allowed = ", ".join(sorted(model.model_fields)) or "none"
            raise UserError(f"method_params.{name}: unknown key(s) {', '.join(unknown)}; allowed: {allowed}") from None
        key = ".".join(str(p) for p in err["loc"])
        field = model.model_fields.get(str(err["loc"][0])) if err["loc"] else None
        allowed = (field.description if field is not None and field.description else None) or err["msg"]
        if err["type"] == "value_error" and field is not None and field.description:  # a validator says why
            allowed = f"{allowed} ({str(err['msg']).removeprefix('Value error, ')})"
        where = f"method_params.{name}.{key}" if key else f"method_params.{name}"
        raise UserError(f"{where}: got {err.get('input')!r}; allowed: {allowed}") from None


class ParamsOwner:
    """What augmentation methods and training hooks share: their ``Params`` model and the training defaults their
    paper prescribes."""

    Params: ClassVar[type[MethodParams]] = MethodParams
    weight_decay: ClassVar[float | None] = None  # None: the trainer's default (train.weight_decay unset)

    @classmethod
    def parse_params(cls, name: str, options: Mapping[str, Any] | None) -> MethodParams:
        """``method_params.<name>`` validated against ``Params`` (``UserError`` naming field, value, allowed)."""
        if options is not None and not isinstance(options, Mapping):
            raise UserError(f"method_params.{name} must be a mapping of options, got {options!r}")
        return validate_params(name, cls.Params, options or {})


class Method(ParamsOwner):
    """Base of registered augmentation methods. ``Params`` lists the accepted options with their defaults and
    constraints; ``setup()`` prepares what depends on the data (``ctx``)."""

    produces_views: ClassVar[bool] = False
    mixes_targets: ClassVar[bool] = False  # a batch transform that mixes images across labels (soft targets)

    def __init__(self, name: str, params: Mapping[str, Any] | None, ctx: Context) -> None:
        self.name = name
        self.options = self.parse_params(name, params)
        self.params: dict[str, Any] = self.options.model_dump()
        self.ctx = ctx
        self.setup()

    def setup(self) -> None:
        """Context-dependent preparation after the options validated (e.g. build the AugMix operator)."""

    # view producers
    def view(self, images: Tensor, generator: torch.Generator) -> Tensor:  # uint8 -> normalized float
        raise NotImplementedError

    def views(self, images: Tensor, count: int, generator: torch.Generator) -> list[Tensor]:
        stacked = images.repeat(count, 1, 1, 1)  # one batched call for all views, independent draws
        return list(self.view(stacked, generator).split(images.shape[0]))

    # batch transforms
    def transform(
        self, views: list[Tensor], targets: Tensor, generator: torch.Generator
    ) -> tuple[list[Tensor], Tensor]:
        raise NotImplementedError


AUGMENTATIONS: Registry[type[Method]] = Registry("augmentation method")
