"""The method registry ``AUGMENTATIONS`` and the base every registered augmentation method builds on.

A method class declares its options as one pydantic model (``Params``), so each method validates its own
``method_params`` entry: unknown keys and bad values raise ``UserError`` naming the field, the value and what is
allowed (each field's ``description``). View producers set ``produces_views``; batch transforms do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

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
    """What a method needs to know about the data it augments."""

    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    kind: str
    image_size: int
    augmix: Any  # AugMixConfig-like (width, depth, severity, alpha, all_ops)


class MethodParams(BaseModel):
    """Base of a method's options: strict types (2.0 is not an integer), unknown keys rejected."""

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
        where = f"method_params.{name}.{key}" if key else f"method_params.{name}"
        raise UserError(f"{where}: got {err.get('input')!r}; allowed: {allowed}") from None


class Method:
    """Base of registered methods. ``Params`` lists the accepted options with their defaults and constraints."""

    Params: ClassVar[type[MethodParams]] = MethodParams
    produces_views: ClassVar[bool] = False

    def __init__(self, name: str, params: Mapping[str, Any], ctx: Context) -> None:
        self.name = name
        self.options = validate_params(name, self.Params, params)
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
    def transform(self, views: list[Tensor], targets: Tensor, generator: torch.Generator) -> tuple[list[Tensor], Tensor]:
        raise NotImplementedError


AUGMENTATIONS: Registry[type[Method]] = Registry("augmentation method")
