"""``model: timm:<architecture>``: any timm model, with the dataset's class count (optional extra ``[timm]``).

``pretrained: PATH`` loads local weights through timm's own local-file mechanisms, never the hub:
- a file (``.pth``/``.bin``/``.safetensors``, or an augmix-lab ``final.pt``): ``pretrained_cfg_overlay={"file": ...}``
  on the architecture's default pretrained config (timm #2338; ``url``/``hf_hub_id`` blanked so nothing else is tried);
- a folder with ``config.json`` + weights (as ``save_pretrained`` writes it): timm's ``local-dir:`` model source.
The classifier is kept when the weights have the dataset's class count, else re-initialised (timm's fine-tuning rule).
With weights, the input convention (mean/std, input size, interpolation, crop) is the pretrained config's
(``input_convention``): the trial normalises with it, logs it as params, and ``plan`` refuses an input size that
differs from the dataset's unless the trial sets ``resize`` (``resize_inputs``). timm is imported only when a
``timm:`` model is used (it takes seconds).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from augmix_lab.errors import UserError

TIMM_PREFIX = "timm:"
CONVENTION_KEYS = ("mean", "std", "input_size", "interpolation", "crop_pct")  # timm resolve_data_config's fields


def is_timm(name: str) -> bool:
    return isinstance(name, str) and name.startswith(TIMM_PREFIX)


def timm_arch(name: str) -> str:
    return name[len(TIMM_PREFIX) :].strip()


def require_timm() -> Any:
    try:
        import timm
    except ImportError:
        raise UserError(
            "timm models need the optional extra: pip install 'augmix-lab[timm]' (pins in constraints.txt)"
        ) from None
    return timm


def check_timm_model(name: str) -> None:
    """``UserError`` unless ``timm:<architecture>`` names a model timm can build (closest names suggested)."""
    timm = require_timm()
    arch = timm_arch(name)
    if not arch or not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3)
        hint = f" Did you mean {', '.join(TIMM_PREFIX + c for c in close)}?" if close else ""
        raise UserError(
            f"unknown timm architecture {arch!r}.{hint} Allowed: any name of timm.list_models() "
            f"({len(timm.list_models())} in timm {timm.__version__}), as 'timm:<name>'"
        )


def _folder_config(folder: Path) -> dict[str, Any]:
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise UserError(
            f"field 'pretrained': folder {str(folder)!r} has no config.json; allowed: a weights file, or "
            "a folder with config.json and weights (timm's local-dir layout)"
        )
    try:
        return json.loads(cfg_file.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"field 'pretrained': {cfg_file} is not valid JSON ({exc})") from None


def pretrained_config(name: str, pretrained: str | None) -> dict[str, Any]:
    """The pretrained config the weights come with: the folder's ``config.json``, else the architecture's default."""
    timm = require_timm()
    arch = timm_arch(name)
    if pretrained is not None and Path(pretrained).is_dir():
        cfg = _folder_config(Path(pretrained))
        base = cfg.get("architecture", "").split(".")[0]
        if base != arch.split(".")[0]:
            raise UserError(
                f"field 'pretrained': {pretrained} holds weights of architecture {base!r}, but the model "
                f"is {name!r}; allowed: weights of the same architecture"
            )
        return dict(cfg.get("pretrained_cfg") or {}, num_classes=cfg.get("num_classes"))
    found = timm.models.get_pretrained_cfg(arch)
    return found.to_dict() if found is not None else {}


def input_convention(name: str, pretrained: str | None) -> dict[str, Any] | None:
    """mean, std, input_size, interpolation, crop_pct of the pretrained config (None: no weights, the dataset's own)."""
    if not is_timm(name) or pretrained is None:
        return None
    cfg = pretrained_config(name, pretrained)
    out = {k: cfg.get(k) for k in CONVENTION_KEYS}
    out["mean"], out["std"] = tuple(out["mean"] or (0.485, 0.456, 0.406)), tuple(out["std"] or (0.229, 0.224, 0.225))
    out["input_size"] = tuple(out["input_size"] or (3, 224, 224))
    out["interpolation"] = out["interpolation"] or "bilinear"
    return out


def fixed_input_size(name: str) -> int | None:
    """The only input side a timm architecture accepts (ViT-style fixed patch grids), else None."""
    cfg = pretrained_config(name, None)
    return int(cfg["input_size"][-1]) if cfg.get("fixed_input_size") and cfg.get("input_size") else None


def pretrained_classes(name: str, pretrained: str | None) -> int | None:
    """How many classes the weights' classifier has (None: no weights, or no classifier found)."""
    if not is_timm(name) or pretrained is None:
        return None
    path = Path(pretrained)
    if path.is_dir():
        return _folder_config(path).get("num_classes")
    return _file_classes(path, pretrained_config(name, None).get("classifier"))


def _file_classes(path: Path, classifier: str | None) -> int | None:
    """The class count of the weights' classifier (so a head of the right size is kept), None when not found."""
    if not classifier:
        return None
    timm = require_timm()
    state = timm.models.load_state_dict(str(path))  # weights_only torch.load / safetensors (timm _helpers)
    weight = state.get(f"{classifier}.weight")
    return int(weight.shape[0]) if isinstance(weight, torch.Tensor) and weight.ndim >= 1 else None


def create_timm_model(name: str, num_classes: int, pretrained: str | None = None) -> nn.Module:
    """``timm.create_model`` for ``timm:<arch>``; ``pretrained`` a local file or folder (the hub is never used)."""
    timm = require_timm()
    check_timm_model(name)
    arch = timm_arch(name)
    if pretrained is None:
        return timm.create_model(arch, pretrained=False, num_classes=num_classes)
    path = Path(pretrained)
    if path.is_dir():
        pretrained_config(name, pretrained)  # the folder's architecture must be this one
        return timm.create_model(f"local-dir:{path}", pretrained=True, num_classes=num_classes)
    if not path.is_file():
        raise UserError(f"field 'pretrained': no such file or folder {str(path)!r}")
    cfg = pretrained_config(name, None)
    overlay: dict[str, Any] = {
        "file": str(path),
        "source": "",
        "url": "",
        "hf_hub_id": None,
    }  # only the file, never a download
    classes = _file_classes(path, cfg.get("classifier"))
    if classes is not None:
        overlay["num_classes"] = classes
    try:
        return timm.create_model(arch, pretrained=True, num_classes=num_classes, pretrained_cfg_overlay=overlay)
    except (RuntimeError, KeyError) as exc:
        detail = " ".join(str(exc).split())[:400]
        raise UserError(
            f"field 'pretrained': {path} does not fit {name!r}: {detail}; allowed: weights of the same architecture"
        ) from None


def resize_inputs(model: nn.Module, size: int, interpolation: str = "bilinear") -> nn.Module:
    """Resize every input batch to ``size``×``size`` in front of ``model`` (a forward pre-hook: the state dict keeps
    its keys, so checkpoints load either way)."""
    mode = interpolation if interpolation in ("bilinear", "bicubic", "nearest") else "bilinear"

    def hook(_module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        x = args[0]
        if x.shape[-1] == size and x.shape[-2] == size:
            return args
        kwargs = {} if mode == "nearest" else {"align_corners": False, "antialias": x.shape[-1] > size}
        return (F.interpolate(x, size=(size, size), mode=mode, **kwargs), *args[1:])

    model.register_forward_pre_hook(hook)
    return model
