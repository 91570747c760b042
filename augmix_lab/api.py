"""The public plugin API: every decorator and base class a plugin needs, under names that stay stable.

A plugin is a module outside the package (a study's ``plugins:`` entry or an installed entry point in the group
``augmix_lab.plugins``, see ``augmix_lab/plugins.py``) that registers new entries with the same registries the
package uses for its own::

    import torch
    from pydantic import Field
    from augmix_lab import api

    class NoiseParams(api.MethodParams):
        sigma: float = Field(0.1, ge=0, description="a number >= 0")

    @api.register_method("my_noise")
    class MyNoise(api.Method):
        Params = NoiseParams
        produces_views = True                      # a view producer (can feed the JSD loss)

        def view(self, images, generator):         # uint8 N×3×H×W (already crop/flipped) -> normalized float
            x = images.float() / 255
            x = x + self.params["sigma"] * torch.randn(x.shape, generator=generator, device=generator.device)
            return api.normalize(api.to_uint8(x), self.ctx.mean, self.ctx.std)

Nothing else is needed: the study validates ``method: my_noise`` and ``method_params.my_noise.sigma`` against the
registries, the trainer builds it, the report shows it. Every name below is re-exported from the module that owns it
(one source of truth), so the package's own methods, models and tables use exactly these decorators.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from augmix_lab.augment.base import AUGMENTATIONS, AugmentedBatch, Context, Method, MethodParams
from augmix_lab.augment.functional import normalize
from augmix_lab.corruptions.registry import corruption, perturbation
from augmix_lab.data.base import DATASETS, ImageDataset
from augmix_lab.errors import UserError
from augmix_lab.evaluation.registry import register_logged_metric, register_metric
from augmix_lab.models import register_model
from augmix_lab.report.tables.core import Results, Table
from augmix_lab.report.tables.registry import register_table
from augmix_lab.training.hooks import TRAINING_HOOKS, TrainingHook

__all__ = [
    "AugmentedBatch",
    "Context",
    "ImageDataset",
    "Method",
    "MethodParams",
    "Results",
    "Table",
    "TrainingHook",
    "UserError",
    "corruption",
    "normalize",
    "perturbation",
    "register_dataset",
    "register_logged_metric",
    "register_method",
    "register_metric",
    "register_model",
    "register_table",
    "register_training_hook",
    "to_uint8",
]


def register_method(name: str) -> Callable[[type[Method]], type[Method]]:
    """Decorator on a ``Method`` subclass: the augmentation method ``name`` (usable in ``method: a+b``).

    Its options are one ``Params = MyParams`` (a ``MethodParams``: a default, constraints and a ``description`` per
    field), read as ``self.params`` / ``self.options``. A view producer sets ``produces_views = True`` and implements
    ``view(images_uint8, generator) -> normalized float``; a batch transform implements
    ``transform(views, targets, generator) -> (views, targets)``. ``self.ctx`` holds num_classes, mean, std, kind
    and image_size. Every method first gets the dataset's standard crop/flip (``augment/compose.py``).
    """
    return AUGMENTATIONS.register(name)


def register_training_hook(name: str) -> Callable[[type[TrainingHook]], type[TrainingHook]]:
    """Decorator on a ``TrainingHook`` subclass: a method that changes the training step (``training/hooks.py``):
    ``augmentation`` names the data pipeline it trains on, ``before_forward(model, views, targets, generators,
    autocast_dtype)`` may replace the views, ``cost_factor(options)`` feeds ``plan``'s estimate."""
    return TRAINING_HOOKS.register(name)


_Loader = Callable[..., ImageDataset]  # a dataset loader: f(data_root, *, option=default, ...)


def register_dataset(
    name: str,
    *,
    image_size: int,
    spec_version: str | Callable[..., str],
    description: str = "",
    download: str | None = None,
) -> Callable[[_Loader], _Loader]:
    """Decorator on a loader ``f(data_root: Path, *, option=default, ...) -> ImageDataset``: the dataset ``name``.

    Keyword-only parameters are its options (``dataset.options.<name>`` in a study, validated by name);
    ``spec_version`` (a string, or a function of the options) identifies the data without loading it (it goes into
    trial keys at plan time); ``image_size`` is the side the models see; ``download`` names an
    ``augmix-lab data download`` entry, if any.
    """

    def decorator(loader: _Loader) -> _Loader:
        DATASETS.add(
            name, loader, description=description, download=download, image_size=image_size, spec_version=spec_version
        )
        return loader

    return decorator


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] -> uint8 (rounded, clamped): the bridge back to ``normalize`` in a view producer."""
    return x.mul(255).round_().clamp_(0, 255).to(torch.uint8)
