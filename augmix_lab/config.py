"""The resolved configuration of one trial: the unit every other module consumes.

A study file (``augmix_lab.study``) expands into many of these; ``augmix-lab train --config`` reads one directly.
Fields marked ``evaluation`` only change how a trained model is scored, never how it is trained, so they are left
out of the training fingerprint (train once, evaluate many).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from augmix_lab.errors import UserError


class StrictModel(BaseModel):
    """Rejects unknown keys, so a typo in a study file is an error, not a silently ignored setting."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DatasetConfig(StrictModel):
    name: str = "shapes"
    root: str | None = Field(None, description="data root; default --data-root, $AUGMIX_LAB_DATA or the user cache")
    options: dict[str, Any] = Field(default_factory=dict, description="dataset-specific options, e.g. shapes n_train")
    train_subset: int | None = Field(None, ge=1, description="use only the first N training images (smoke runs)")
    test_subset: int | None = Field(None, ge=1, description="use only the first N test images (smoke runs)")
    holdout: int | None = Field(None, ge=1, description="hold out the last N training images (never trained on): "
                                "the validation split model soups choose members on")


class TrainConfig(StrictModel):
    batch_size: int = Field(128, ge=1)  # reference cifar.py --batch-size
    lr: float = Field(0.1, gt=0)  # reference cifar.py --learning-rate
    momentum: float = Field(0.9, ge=0, lt=1)  # reference cifar.py --momentum
    nesterov: bool = True  # reference cifar.py: SGD(nesterov=True)
    weight_decay: float | None = Field(None, ge=0, description="None: 5e-4, or 1e-4 with mixup (paper Sec. 4.1)")
    schedule: Literal["cosine", "step"] = "cosine"  # reference cifar.py: cosine annealing per iteration
    warmup_epochs: float = Field(0.0, ge=0, description="linear warm-up (ImageNet option)")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    amp: Literal["auto", "on", "off"] = "auto"
    channels_last: Literal["auto", "on", "off"] = "auto"
    compile: Literal["auto", "on", "off"] = Field("auto", description="torch.compile model + loss; auto: on for CUDA")
    checkpoint_every: int = Field(1, ge=1, description="epochs between resumable checkpoints")
    threads: int | None = Field(None, ge=1, description="torch CPU threads; None = trial's CPU allotment")


class AugMixConfig(StrictModel):
    width: int = Field(3, ge=1)  # reference cifar.py --mixture-width
    depth: int = Field(-1, description="chain depth 1..N, or -1 for random in 1..3 (reference --mixture-depth)")
    severity: int = Field(3, ge=1, le=10)  # reference cifar.py --aug-severity
    alpha: float = Field(1.0, gt=0)  # reference cifar.py: Dirichlet([1]*k), Beta(1, 1)
    all_ops: bool = False  # reference cifar.py --all-ops (off: colour ops overlap the -C corruptions)

    @field_validator("depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        if v == 0 or v < -1:
            raise ValueError("depth must be -1 (random in 1..3) or a positive chain length")
        return v


class JSDConfig(StrictModel):
    arity: int = Field(3, ge=1, le=4, description="1 = no JSD; n = clean + n-1 augmented views")
    weight: float = Field(12.0, ge=0)  # reference cifar.py: loss += 12 * JSD


class AdversarialConfig(StrictModel):
    epsilon: float = Field(8 / 255, ge=0, description="L-inf radius in [0,1] pixel units")
    step_size: float = Field(2 / 255, gt=0)
    iterations: int = Field(7, ge=1)


class CorruptionEvalConfig(StrictModel):
    enabled: bool = True
    source: Literal["auto", "released", "generated", "on_the_fly"] = "auto"
    names: list[str] | None = Field(None, description="None = the 15 benchmark corruptions")
    severities: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])


class PerturbationEvalConfig(StrictModel):
    enabled: bool = False
    source: Literal["auto", "released", "generated", "on_the_fly"] = "auto"
    names: list[str] | None = Field(None, description="None = the 10 test perturbations")
    max_videos: int | None = Field(None, ge=1)


class FourierEvalConfig(StrictModel):
    """Fourier heat map (Yin et al., NeurIPS 2019): error under additive noise along each Fourier basis image."""

    enabled: bool = False
    # L2 norm 4 on [0, 1] CIFAR-10 images (Yin et al. 2019, Fig. 2 caption; ImageNet uses 15.7)
    norm: float = Field(4.0, gt=0, description="L2 norm of each basis perturbation, in [0, 1] pixel units")
    stride: int = Field(1, ge=1, description="frequency grid spacing (2 = a coarse grid, a quarter of the cost)")
    n_images: int = Field(1000, ge=1, description="the first N test images")


class EvalConfig(StrictModel):
    """Evaluation-only settings: changing them re-scores stored checkpoints and never retrains."""

    clean: bool = True
    corruptions: CorruptionEvalConfig = Field(default_factory=CorruptionEvalConfig)
    perturbations: PerturbationEvalConfig = Field(default_factory=PerturbationEvalConfig)
    fourier: FourierEvalConfig = Field(default_factory=FourierEvalConfig)
    calibration: bool = True
    batch_size: int = Field(1000, ge=1)  # reference cifar.py --eval-batch-size
    seed: int = 0


class InitConfig(StrictModel):
    """Start training from another trial's final weights (two-stage studies); model weights only, fresh optimizer."""

    from_variant: str | None = Field(None, description="a variant of the same study (matched by seed, dataset, model)")
    checkpoint: str | None = Field(None, description="a final.pt or a plain state-dict file")
    parent_key: str | None = Field(None, description="resolved by the study: the parent trial's key (do not set)")
    sha256: str | None = Field(None, description="resolved: the checkpoint file's content hash (do not set)")

    def is_set(self) -> bool:
        return self.from_variant is not None or self.checkpoint is not None

    def identity(self) -> dict[str, str] | None:
        """What the trained weights depend on: the parent trial's key, else the checkpoint's content (not its path)."""
        if not self.is_set():
            return None
        if self.parent_key is not None:
            return {"parent": self.parent_key}
        if self.from_variant is not None:
            raise UserError(f"field 'init.from_variant': {self.from_variant!r} names a variant of a study; it is only "
                            "allowed in a study file (use init.checkpoint for a single trial)")
        if self.sha256 is None:
            from augmix_lab.training.init import file_sha256

            return {"sha256": file_sha256(self.checkpoint)}  # type: ignore[arg-type]
        return {"sha256": self.sha256}


class TrialConfig(StrictModel):
    """Everything that defines one trial. ``fingerprint()`` identifies what training it needs."""

    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    model: str = "small_cnn"
    epochs: int = Field(10, ge=0)
    seed: int = 0
    method: str = Field("standard", description="augmentation method, or 'a+b' for a composition")
    augmix: AugMixConfig = Field(default_factory=AugMixConfig)
    jsd: JSDConfig = Field(default_factory=lambda: JSDConfig(arity=1))
    adversarial: AdversarialConfig = Field(default_factory=AdversarialConfig)
    method_params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per-method options")
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N")
    init: InitConfig = Field(default_factory=InitConfig)

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset_from_name(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    def effective_weight_decay(self) -> float:
        if self.train.weight_decay is not None:
            return self.train.weight_decay
        from augmix_lab.augment.spec import MethodSpec

        return 1e-4 if "mixup" in MethodSpec.parse(self.method) else 5e-4  # paper Sec. 4.1: Mixup uses 1e-4

    def training_dict(self) -> dict[str, Any]:
        """The config without evaluation-only and placement fields: what the trained weights depend on."""
        d = self.model_dump(mode="json")
        d.pop("eval")
        d.pop("device")
        d["dataset"].pop("root")
        d["train"].pop("threads")
        d["train"].pop("compile")  # same math compiled or eager: placement, like threads
        d.pop("init")
        if self.init.is_set():  # absent when unset, so trials without an init keep their keys
            d["init"] = self.init.identity()
        if d["dataset"]["holdout"] is None:
            d["dataset"].pop("holdout")  # likewise: keys of trials without a held-out split are unchanged
        return d

    def fingerprint(self, data_version: str = "") -> str:
        """Stable content hash of the training config + data version (seed included): the trial's identity."""
        payload = json.dumps({"train": self.training_dict(), "data": data_version}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_trial_config(path: str | Path) -> TrialConfig:
    """Read one trial's YAML (``augmix-lab train --config``); errors name the file and the field."""
    import yaml
    from pydantic import ValidationError

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: YAML syntax error: {exc}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of trial settings at the top level")
    try:
        return TrialConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"{path}: {format_validation_error(exc)}") from None


def format_validation_error(exc: Any) -> str:
    """One line per problem: dotted field path, what was given, what is allowed."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        given = err.get("input")
        given_s = "" if isinstance(given, dict) else f" (got {given!r})"
        parts.append(f"field '{loc}': {err['msg']}{given_s}")
    return "; ".join(parts)
