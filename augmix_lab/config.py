"""The resolved configuration of one trial: the unit every other module consumes.

A study file (``augmix_lab.study``) expands into many of these; ``augmix-lab train --config`` reads one directly.
Fields marked ``evaluation`` only change how a trained model is scored, never how it is trained, so they are left
out of the training fingerprint (train once, evaluate many). Method options are not fields here: each method and
training hook owns its ``Params`` (``method_params.<name>``); old files' ``augmix:`` / ``adversarial:`` blocks go
through the one translation at the end of this module ("v1 study files"). This module imports no other package of
``augmix_lab`` but ``errors`` (docs/architecture.md "layering").
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from augmix_lab.errors import UserError


class StrictModel(BaseModel):
    """Rejects unknown keys, so a typo in a study file is an error, not a silently ignored setting."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LabelledConfig(StrictModel):
    """A class-balanced labelled subset (``fraction`` of each class, or ``per_class`` images); the rest of the training
    split becomes the unlabelled pool, whose labels training never reads (``data/labelled.py``)."""

    fraction: float | None = Field(
        None, gt=0, le=1, description="a number in (0, 1]: the share of each class kept labelled (rounded per class)"
    )
    per_class: int | None = Field(None, ge=1, description="an integer >= 1: labelled images per class")
    seed: int | None = Field(
        None, description="seed of the split; None = the trial's seed (one split per seed, as FixMatch's folds)"
    )

    @model_validator(mode="after")
    def _one_of(self) -> LabelledConfig:
        if (self.fraction is None) == (self.per_class is None):
            raise ValueError("give exactly one of fraction or per_class")
        return self


class DatasetConfig(StrictModel):
    name: str = "shapes"
    root: str | None = Field(None, description="data root; default --data-root, $AUGMIX_LAB_DATA or the user cache")
    options: dict[str, Any] = Field(default_factory=dict, description="dataset-specific options, e.g. shapes n_train")
    train_subset: int | None = Field(None, ge=1, description="use only the first N training images (smoke runs)")
    test_subset: int | None = Field(None, ge=1, description="use only the first N test images (smoke runs)")
    holdout: int | None = Field(
        None,
        ge=1,
        description="hold out the last N training images (never trained on): "
        "the validation split model soups choose members on",
    )
    labelled: LabelledConfig | None = Field(
        None,
        description="keep labels for a seeded, class-balanced subset of the "
        "training split; the rest is an unlabelled pool (self-training, FixMatch)",
    )


class TrainConfig(StrictModel):
    batch_size: int = Field(128, ge=1)  # reference cifar.py --batch-size
    lr: float = Field(0.1, gt=0)  # reference cifar.py --learning-rate
    momentum: float = Field(0.9, ge=0, lt=1)  # reference cifar.py --momentum
    nesterov: bool = True  # reference cifar.py: SGD(nesterov=True)
    weight_decay: float | None = Field(
        None, ge=0, description="None: the method's own (mixup: 1e-4, paper Sec. 4.1), else 5e-4 (reference cifar.py)"
    )
    schedule: Literal["cosine", "step"] = "cosine"  # reference cifar.py: cosine annealing per iteration
    warmup_epochs: float = Field(0.0, ge=0, description="linear warm-up (ImageNet option)")
    label_smoothing: float = Field(0.0, ge=0, lt=1)
    amp: Literal["auto", "on", "off"] = "auto"
    channels_last: Literal["auto", "on", "off"] = "auto"
    compile: Literal["auto", "on", "off"] = Field("auto", description="torch.compile model + loss; auto: on for CUDA")
    checkpoint_every: int = Field(1, ge=1, description="epochs between resumable checkpoints")
    threads: int | None = Field(None, ge=1, description="torch CPU threads; None = trial's CPU allotment")


class JSDConfig(StrictModel):
    arity: int = Field(3, ge=1, le=4, description="1 = no JSD; n = clean + n-1 augmented views")
    weight: float = Field(12.0, ge=0)  # reference cifar.py: loss += 12 * JSD


class CorruptionEvalConfig(StrictModel):
    enabled: bool = True
    source: Literal["auto", "released", "generated", "on_the_fly"] = "auto"
    names: list[str] | None = Field(None, description="None = the 15 benchmark corruptions")
    severities: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])


class CBarEvalConfig(CorruptionEvalConfig):
    """CIFAR-10-C-bar / ImageNet-C-bar (Mintun, Kirillov & Xie, NeurIPS 2021), scored beside -C in one evaluation."""

    enabled: bool = False
    names: list[str] | None = Field(None, description="None = the profile's 10 C-bar corruptions")


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
    c_bar: CBarEvalConfig = Field(default_factory=CBarEvalConfig)
    perturbations: PerturbationEvalConfig = Field(default_factory=PerturbationEvalConfig)
    fourier: FourierEvalConfig = Field(default_factory=FourierEvalConfig)
    calibration: bool = True
    batch_size: int = Field(1000, ge=1)  # reference cifar.py --eval-batch-size
    seed: int = 0


_SHA_CACHE: dict[tuple[str, int, int], str] = {}
_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The file's sha256 (hex); cached by (path, size, mtime) since keys are computed often."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(
            f"field 'init.checkpoint': no such file {str(p)!r}; allowed: an existing final.pt or state-dict file"
        )
    st = p.stat()
    cache_key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if cache_key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                h.update(chunk)
        _SHA_CACHE[cache_key] = h.hexdigest()
    return _SHA_CACHE[cache_key]


def tree_sha256(path: str | os.PathLike[str]) -> str:
    """A file's sha256, or a folder's: over its files' relative paths and sha256s (sorted); for pretrained weights."""
    p = Path(path).expanduser()
    if p.is_file():
        return file_sha256(p)
    if not p.is_dir():
        raise UserError(
            f"field 'pretrained': no such file or folder {str(p)!r}; allowed: a weights file or a folder "
            "with config.json and weights"
        )
    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file()):
        h.update(f.relative_to(p).as_posix().encode() + b"\0" + bytes.fromhex(file_sha256(f)))
    return h.hexdigest()


class InitConfig(StrictModel):
    """Start training from another trial's final weights (two-stage studies); model weights only, fresh optimizer."""

    from_variant: str | None = Field(None, description="a variant of the same study (matched by seed, dataset, model)")
    checkpoint: str | None = Field(None, description="a final.pt or a plain state-dict file")
    parent_key: str | None = Field(None, description="resolved by the study: the parent trial's key (do not set)")
    sha256: str | None = Field(None, description="resolved: the checkpoint file's content hash (do not set)")
    same_data: bool = Field(
        True,
        description="false: from_variant's trial may train on other data (pre-training on "
        "another labelled source; matched by seed and model only)",
    )

    def is_set(self) -> bool:
        return self.from_variant is not None or self.checkpoint is not None

    def identity(self) -> dict[str, str] | None:
        """What the trained weights depend on: the parent trial's key, else the checkpoint's content (not its path)."""
        if not self.is_set():
            return None
        if self.parent_key is not None:
            return {"parent": self.parent_key}
        if self.from_variant is not None:
            raise UserError(
                f"field 'init.from_variant': {self.from_variant!r} names a variant of a study; it is only "
                "allowed in a study file (use init.checkpoint for a single trial)"
            )
        if self.sha256 is None:
            return {"sha256": file_sha256(self.checkpoint)}  # type: ignore[arg-type]
        return {"sha256": self.sha256}


class TeacherConfig(StrictModel):
    """Self-training: a teacher variant labels this trial's unlabelled pool once, and this trial (the student) trains
    on its labelled images plus the kept pseudo-labels (Noisy Student, Xie et al. CVPR 2020; code
    google-research/noisystudent; Zoph et al. NeurIPS 2020). ``training/self_training.py`` implements it."""

    from_variant: str | None = Field(
        None,
        description="the teacher: a variant of the same study (matched by seed and "
        "training data; by model too when several match)",
    )
    # noisystudent main.py: soft labels = teacher probabilities ** (1 / T) renormalised (train_offline.sh: T = 1);
    # hard (--teacher_softmax_temp=-1) = one-hot of the argmax
    labels: Literal["soft", "hard"] = Field("soft", description="soft (teacher probabilities) or hard (argmax)")
    temperature: float = Field(1.0, gt=0, description="> 0: soft labels are softmax(logits / temperature)")
    # noisystudent local_scripts/imagenet/filter_unlabel.sh --min_threshold=0.3 (max teacher probability, T = 1)
    threshold: float = Field(
        0.3,
        ge=0,
        le=1,
        description="a number in [0, 1]: keep pool images whose top teacher probability is >= threshold",
    )
    # filter_unlabel.sh --num_image=130000 (ImageNet): class balancing; None keeps every image above the threshold
    per_class: int | None = Field(
        None,
        ge=1,
        description="an integer >= 1: keep the N most confident images per predicted class (None: no balancing)",
    )
    upsample: bool = Field(
        True,
        description="with per_class: repeat the images of a class with fewer than N (filter_unlabel.py --upsample=1)",
    )
    loss: Literal["ratio", "normalized"] = Field(
        "ratio",
        description="ratio: L_labelled + ratio * L_pseudo (Noisy "
        "Student); normalized: Zoph et al.'s loss normalisation",
    )
    # train_offline.sh --unlabel_ratio=3 (EfficientNet-B1..B7; 1 for B0): pseudo-labelled images per labelled one
    ratio: float = Field(3.0, gt=0, description="> 0: pseudo-labelled images per labelled image in each batch")
    alpha: float = Field(1.0, gt=0, description="> 0: weight of the pseudo-label loss under loss: normalized")
    # noisystudent: the student is noised by dropout on its final layer (paper: 0.5) besides data augmentation
    dropout: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="a number in [0, 1): dropout on the input of the student's "
        "last linear layer while it trains (0: none)",
    )
    rounds: int = Field(1, ge=1, description="an integer >= 1: each round's student is the next round's teacher")
    round: int = Field(1, ge=1, description="filled by the study: this trial's round (do not set)")
    parent_key: str | None = Field(None, description="resolved by the study: the teacher trial's key (do not set)")
    labels_file: str | None = Field(None, description="set by the driver: the stored pseudo-label set (do not set)")

    def is_set(self) -> bool:
        return self.from_variant is not None or self.parent_key is not None

    def labelling(self) -> dict[str, Any]:
        """What the pseudo-label set depends on besides the teacher and the pool (its content address)."""
        out: dict[str, Any] = {"labels": self.labels, "threshold": self.threshold, "per_class": self.per_class}
        if self.labels == "soft":
            out["temperature"] = self.temperature
        if self.per_class is not None:
            out["upsample"] = self.upsample
        return out

    def identity(self) -> dict[str, Any] | None:
        """What the student's weights depend on: the teacher's key, the labelling and the loss (not the round count,
        so adding rounds keeps the earlier rounds' keys)."""
        if not self.is_set():
            return None
        if self.parent_key is None:
            raise UserError(
                f"field 'teacher.from_variant': {self.from_variant!r} names a variant of a study; it is "
                "only allowed in a study file"
            )
        out = {"parent": self.parent_key, **self.labelling(), "loss": self.loss, "ratio": self.ratio}
        if self.loss == "normalized":
            out["alpha"] = self.alpha
        if self.dropout:  # only when set: students without it keep their keys
            out["dropout"] = self.dropout
        return out


# what the key of an evaluate-only trial holds: no seed, method or schedule (nothing is trained)
EVALUATE_ONLY_KEYS = ("dataset", "model", "epochs", "init", "pretrained", "resize", "plugins")


class TrialConfig(StrictModel):
    """Everything that defines one trial. ``fingerprint()`` identifies what training it needs."""

    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    model: str = "small_cnn"
    norm: Literal["bn", "dubin"] = Field(
        "bn",
        description="the model's normalisation layers: bn (as registered) or "
        "dubin (AugMax's dual BN + instance norm, models/dubin.py)",
    )
    epochs: int = Field(10, ge=0)
    seed: int = 0
    method: str = Field("standard", description="augmentation method, or 'a+b' for a composition")
    jsd: JSDConfig = Field(default_factory=lambda: JSDConfig(arity=1))
    method_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per-method options: method or training-hook name -> its Params fields "
        "(e.g. method_params.augmix.width, method_params.adversarial.epsilon)",
    )
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    device: str = Field("auto", description="auto, cpu, cuda, cuda:N")
    init: InitConfig = Field(default_factory=InitConfig)
    teacher: TeacherConfig = Field(default_factory=TeacherConfig)
    pretrained: str | None = Field(
        None,
        description="timm models: local pretrained weights, a file or a folder "
        "(relative to the study file); the hub is never contacted",
    )
    pretrained_sha256: str | None = Field(None, description="resolved by the study: the weights' digest (do not set)")
    resize: int | None = Field(
        None,
        ge=1,
        description="resize every model input to N x N pixels, e.g. 224 for "
        "weights pretrained at 224 scored on 32-px images",
    )
    legacy: LegacyBlocks | None = Field(
        None,
        description="an old file's augmix: / adversarial: blocks as written (filled by the v1 translation; do not set)",
    )
    plugins: dict[str, str] = Field(
        default_factory=dict,
        description="resolved by the study: plugin module -> "
        "source digest of every plugin it imported (do not set); part of the key when any",
    )

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset_from_name(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @model_validator(mode="before")
    @classmethod
    def _translate_v1(cls, data: Any) -> Any:
        return translate_v1(data)

    @property
    def evaluate_only(self) -> bool:
        """``epochs: 0`` with weights to score (``init`` or ``pretrained``): no training, only evaluation."""
        return self.epochs == 0 and (self.init.is_set() or self.pretrained is not None)

    def method_options(self) -> dict[str, dict[str, Any]]:
        """Options per method name, as each ``Params`` reads them: ``method_params.<name>`` over the values an old
        file's v1 block gives the trial's parts that read it (``V1_READERS``). The trial's parts use theirs; an
        entry for another method is a study's shared default (validated, unused). Names without options are absent."""
        out = {name: dict(options) for name, options in self.method_params.items()}
        parts = {p.strip() for p in self.method.split("+")}  # syntax errors are reported by training.MethodSpec
        for block, readers in V1_READERS.items():
            values = getattr(self.legacy, block) if self.legacy is not None else None
            for part, names in readers.items():
                if values is not None and part in parts:
                    out[part] = {**{n: getattr(values, n) for n in names}, **out.get(part, {})}
        return out

    def v1_dict(self) -> dict[str, Any]:
        """The config in the v1 layout (``augmix`` / ``adversarial`` blocks, ``method_params`` without their knobs):
        the layout of trial keys, MLflow params and ``plan``'s columns, the same for old and new files."""
        d = self.model_dump(mode="json")
        d.pop("legacy")
        if d["norm"] == "bn":
            d.pop("norm")  # absent when default, so the keys of trials before the option are unchanged
        d.update(v1_blocks(self.method_params, self.legacy))
        if not self.teacher.is_set():
            d.pop("teacher")  # only students carry a teacher block (plan's columns, exclude rows)
        return d

    def training_dict(self) -> dict[str, Any]:
        """The config without evaluation-only and placement fields: what the trained weights depend on (v1 layout)."""
        d = self.v1_dict()
        d.pop("eval")
        d.pop("device")
        d["dataset"].pop("root")
        d["train"].pop("threads")
        d["train"].pop("compile")  # same math compiled or eager: placement, like threads
        d.pop("init")
        if self.init.is_set():  # absent when unset, so trials without an init keep their keys
            d["init"] = self.init.identity()
        d.pop("teacher", None)
        if self.teacher.is_set():  # likewise for self-training students
            d["teacher"] = self.teacher.identity()
        d.pop("pretrained"), d.pop("pretrained_sha256")
        if self.pretrained is not None:  # likewise; the weights' content, never their path
            d["pretrained"] = {"sha256": self.pretrained_sha256 or tree_sha256(self.pretrained)}
        if d["resize"] is None:
            d.pop("resize")
        if d["dataset"]["holdout"] is None:
            d["dataset"].pop("holdout")  # likewise: keys of trials without a held-out split are unchanged
        if d["dataset"]["labelled"] is None:
            d["dataset"].pop("labelled")  # and of trials that train on every label
        if not d["plugins"]:
            d.pop("plugins")  # likewise: studies without plugins keep their keys
        if self.evaluate_only:  # scored weights: the key is what they are and what they are scored on
            d = {k: d[k] for k in EVALUATE_ONLY_KEYS if k in d}
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


def field_loc(loc: tuple[Any, ...] | list[Any]) -> tuple[Any, ...]:
    """A validation error's location as the user wrote it (an old block lives under ``legacy``, written without)."""
    loc = tuple(loc)
    return loc[1:] if loc[:1] == ("legacy",) and len(loc) > 1 else loc


def format_validation_error(exc: Any) -> str:
    """One line per problem: dotted field path, what was given, what is allowed."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in field_loc(err["loc"])) or "<root>"
        given = err.get("input")
        given_s = "" if isinstance(given, dict) else f" (got {given!r})"
        parts.append(f"field '{loc}': {err['msg']}{given_s}")
    return "; ".join(parts)


# ------------------------------------------------------------------------------------------------------ v1 study files
# Before methods owned their options (issue 23) a trial config had two privileged blocks, ``augmix:`` (AugMix's knobs,
# whose ``severity`` random_autoaugment_star read too) and ``adversarial:`` (PGD). Old files keep working, and keep
# their trial keys, through this one translation:
# 1. reading (``translate_v1``): a top-level ``augmix:`` / ``adversarial:`` mapping moves, as written, under
#    ``legacy`` and is validated by its frozen v1 model; no method or hook reads ``legacy``;
# 2. using (``TrialConfig.method_options``): each part of the method gets the v1 block's values it used to read
#    (``V1_READERS``), overridden by its own ``method_params.<part>``;
# 3. keys (``v1_blocks``): trial keys and MLflow params are written in the v1 layout — ``augmix`` / ``adversarial``
#    blocks = v1 defaults ⊕ the old block ⊕ the knobs set in ``method_params.augmix`` / ``.adversarial``, and
#    ``method_params`` without those knobs — so ``augmix: {width: 1}`` and ``method_params: {augmix: {width: 1}}``
#    are the same trial, and every key computed before the translation existed is unchanged (tests/test_config.py).
# The v1 models are frozen copies of the old blocks: never change them (the methods' Params own the defaults now;
# a test checks both agree).


class V1AugMix(StrictModel):
    """The v1 ``augmix:`` block (frozen)."""

    width: int = Field(3, ge=1)  # reference cifar.py --mixture-width
    depth: int = Field(-1, description="chain depth 1..N, or -1 for random in 1..3 (reference --mixture-depth)")
    severity: int = Field(3, ge=1, le=10)  # reference cifar.py --aug-severity
    alpha: float = Field(1.0, gt=0)  # reference cifar.py: Dirichlet([1]*k), Beta(1, 1)
    all_ops: bool = False  # reference cifar.py --all-ops

    @field_validator("depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        if v == 0 or v < -1:
            raise ValueError("depth must be -1 (random in 1..3) or a positive chain length")
        return v


class V1Adversarial(StrictModel):
    """The v1 ``adversarial:`` block (frozen)."""

    epsilon: float = Field(8 / 255, ge=0, description="L-inf radius in [0,1] pixel units")
    step_size: float = Field(2 / 255, gt=0)
    iterations: int = Field(7, ge=1)


class LegacyBlocks(StrictModel):
    """An old file's blocks as written (validated); ``None`` where the file had none."""

    augmix: V1AugMix | None = None
    adversarial: V1Adversarial | None = None


V1_MODELS: dict[str, type[StrictModel]] = {"augmix": V1AugMix, "adversarial": V1Adversarial}
# v1 block -> {method part that read it: the fields it read} (what the code did before the translation)
V1_READERS: dict[str, dict[str, tuple[str, ...]]] = {
    "augmix": {"augmix": tuple(V1AugMix.model_fields), "random_autoaugment_star": ("severity",)},
    "adversarial": {"adversarial": tuple(V1Adversarial.model_fields)},
}


def translate_v1(data: Any) -> Any:
    """Step 1: a mapping's top-level ``augmix`` / ``adversarial`` blocks moved under ``legacy``."""
    if not isinstance(data, dict) or not any(block in data for block in V1_MODELS):
        return data
    data = dict(data)
    legacy = data.get("legacy") or {}
    legacy = legacy.model_dump(exclude_none=True) if isinstance(legacy, BaseModel) else dict(legacy)
    for block in V1_MODELS:
        if block in data:
            legacy[block] = data.pop(block)
    data["legacy"] = legacy
    return data


def v1_blocks(method_params: dict[str, dict[str, Any]], legacy: LegacyBlocks | None) -> dict[str, Any]:
    """Step 3: ``augmix``, ``adversarial`` and ``method_params`` of the v1 layout (JSON values)."""
    out: dict[str, Any] = {}
    rest = {name: dict(options) for name, options in method_params.items()}
    for block, model in V1_MODELS.items():  # the knobs of a block live in method_params.<block> (same name)
        old = getattr(legacy, block) if legacy is not None else None
        knobs = {k: v for k, v in rest.get(block, {}).items() if k in model.model_fields}
        try:
            out[block] = model.model_validate({**(old.model_dump() if old else {}), **knobs}).model_dump(mode="json")
        except ValidationError as exc:
            raise UserError(f"method_params.{block}: {format_validation_error(exc)}") from None
        if knobs:
            rest[block] = {k: v for k, v in rest[block].items() if k not in knobs}
            if not rest[block]:
                del rest[block]  # only knobs: the entry is the v1 block now
    out["method_params"] = rest
    return out


def v1_path(dotted: str) -> str:
    """A dotted config path in the v1 layout (``method_params.augmix.width`` -> ``augmix.width``), for matching a
    path as written against ``v1_dict()`` or MLflow params."""
    parts = dotted.split(".")
    if parts[0] == "legacy":
        return ".".join(parts[1:])
    if (
        len(parts) == 3
        and parts[0] == "method_params"
        and parts[1] in V1_MODELS
        and parts[2] in V1_MODELS[parts[1]].model_fields
    ):
        return ".".join(parts[1:])
    return dotted


TrialConfig.model_rebuild()  # LegacyBlocks is defined after TrialConfig
